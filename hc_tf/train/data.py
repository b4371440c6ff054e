"""TFDS HC18 splits -> batched tf.data pipelines for training and evaluation.

Letterboxing is delegated to `hc_tf.preprocess` (through `tf.numpy_function`),
so the Keras and edge paths share one definition of the model input.
Augmentation moves image and mask together with one affine transform, and is
deterministic under a seed (stateless random ops keyed by seed and position).
"""

from __future__ import annotations

import math
import os
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from hc_tf import defaults
from hc_tf import preprocess
from hc_tf.train import sampling

AUTOTUNE = tf.data.AUTOTUNE


def load_split(data_dir: str, split: str, validation_fraction: float = defaults.VALIDATION_FRACTION) -> tf.data.Dataset:
    """Loads a prepared HC18 split ("train", "validation", "test") from a TFDS data dir.

    The dataset built with `prepare --skip-invalid` is found too.

    Raises:
      FileNotFoundError: when `data_dir` holds no prepared HC18 of that validation
        fraction (the message names the configs present).
    """
    from hc_tf_datasets.hc18 import prepared

    builder = prepared.load_prepared(data_dir, validation_fraction)
    return builder.as_dataset(split=split, shuffle_files=False)


def _letterbox_np(image: np.ndarray, mask: np.ndarray, hw: np.ndarray):
    dst = (int(hw[0]), int(hw[1]))
    boxed, box = preprocess.letterbox_image(image, dst)
    return boxed, preprocess.letterbox_mask(mask, box), box.as_array()


def letterbox_example(example: Dict[str, tf.Tensor], input_hw: Tuple[int, int]) -> Dict[str, tf.Tensor]:
    """Adds `input` (H, W, 1) uint8, `target` (H, W, 1) float32 and `box` (4,) to an example.

    `box` is [scale_x, scale_y, offset_x, offset_y] of `preprocess.Letterbox`.
    """
    h, w = input_hw
    image, target, box = tf.numpy_function(
        _letterbox_np, [example["image"], example["mask"], tf.constant([h, w])],
        [tf.uint8, tf.float32, tf.float32], stateful=False)
    out = dict(example)
    out["input"] = tf.ensure_shape(image, (h, w, 1))
    out["target"] = tf.ensure_shape(target, (h, w, 1))
    out["box"] = tf.ensure_shape(box, (4,))
    return out


def _affine_matrix(u: tf.Tensor, h: int, w: int, max_rotation_deg: float,
                   max_scale: float, max_shift_px: float) -> tf.Tensor:
    """Output->input projective transform (8 params) from 7 uniforms in [0, 1)."""
    flip_x = tf.where(u[0] < 0.5, -1.0, 1.0)
    flip_y = tf.where(u[1] < 0.5, -1.0, 1.0)
    theta = (u[2] * 2.0 - 1.0) * max_rotation_deg * math.pi / 180.0
    scale = 1.0 + (u[3] * 2.0 - 1.0) * max_scale
    tx = (u[4] * 2.0 - 1.0) * max_shift_px
    ty = (u[5] * 2.0 - 1.0) * max_shift_px
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    # input = R(-theta)/scale * diag(flip) * (output - c - t) + c
    cos, sin = tf.cos(theta) / scale, tf.sin(theta) / scale
    a00, a01 = cos * flip_x, sin * flip_y
    a10, a11 = -sin * flip_x, cos * flip_y
    ox, oy = -cx - tx, -cy - ty
    return tf.stack([a00, a01, a00 * ox + a01 * oy + cx,
                     a10, a11, a10 * ox + a11 * oy + cy, 0.0, 0.0])


def augment_uniforms(image: tf.Tensor, target: tf.Tensor, u: tf.Tensor,
                     max_rotation_deg: float = defaults.AUG_MAX_ROTATION_DEG,
                     max_scale: float = defaults.AUG_MAX_SCALE,
                     max_shift_px: float = defaults.AUG_MAX_SHIFT_PX) -> Tuple[tf.Tensor, tf.Tensor]:
    """`augment` for given uniforms (the draw split off, so that the JAX trainer's NumPy/OpenCV
    twin, hc_tf/train/jax_backend/augment_np.py, can be checked against it on the same uniforms).

    Args:
      image: (H, W, 1) float32 gray values in [0, 255].
      target: (H, W, 1) float32 mask in [0, 1].
      u: float32 (>= 9,) uniforms in [0, 1): flip x, flip y, rotation, scale, shift x,
        shift y, gain, gamma, offset.

    Returns:
      (image, target) of the same shapes and dtypes.
    """
    h, w = image.shape[0], image.shape[1]
    matrix = _affine_matrix(u, h, w, max_rotation_deg, max_scale, max_shift_px)
    both = tf.concat([image, target], axis=-1)[None]
    moved = tf.raw_ops.ImageProjectiveTransformV3(
        images=both, transforms=matrix[None], output_shape=tf.constant([h, w]),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT")[0]
    # Bilinear resampling can overshoot by an ulp; BCE wants targets in [0, 1].
    image, target = moved[:, :, :1], tf.clip_by_value(moved[:, :, 1:], 0.0, 1.0)
    # Gain, gamma and offset, as probe settings and machines vary.
    gain = 1.0 + (u[6] * 2.0 - 1.0) * defaults.AUG_MAX_GAIN
    gamma = tf.exp((u[7] * 2.0 - 1.0) * math.log(defaults.AUG_MAX_GAMMA))
    offset = (u[8] * 2.0 - 1.0) * defaults.AUG_MAX_OFFSET
    image = 255.0 * tf.pow(tf.clip_by_value(image / 255.0, 0.0, 1.0), gamma)
    image = tf.clip_by_value(image * gain + offset, 0.0, 255.0)
    return image, target


def augment(image: tf.Tensor, target: tf.Tensor, seed: tf.Tensor,
            max_rotation_deg: float = defaults.AUG_MAX_ROTATION_DEG,
            max_scale: float = defaults.AUG_MAX_SCALE,
            max_shift_px: float = defaults.AUG_MAX_SHIFT_PX) -> Tuple[tf.Tensor, tf.Tensor]:
    """Augments a letterboxed pair; geometry is shared, intensity touches the image only.

    Args:
      image: (H, W, 1) float32 gray values in [0, 255].
      target: (H, W, 1) float32 mask in [0, 1].
      seed: int64 shape (2,) stateless seed: the same seed gives the same result.

    Returns:
      (image, target) of the same shapes and dtypes.
    """
    # 10 drawn, 9 used: kept at 10 so that a seed gives the augmentation it always gave.
    u = tf.random.stateless_uniform((10,), seed=seed)
    return augment_uniforms(image, target, u, max_rotation_deg, max_scale, max_shift_px)


def repeat_large_heads(examples: tf.data.Dataset, repeat: int,
                       threshold_mm: float = defaults.LARGE_HEAD_MM) -> tf.data.Dataset:
    """`examples` with every head over `threshold_mm` (reference HC) `repeat` times, in place
    (`hc_tf.train.sampling`; `training_pipeline`'s shuffle mixes them). Repeat 1 returns
    `examples` itself. Otherwise one pass reads the HCs, so that the result's cardinality is
    the epoch's size (the step count and the schedule follow it).

    Raises:
      ValueError: for a repeat below 1.
    """
    sampling.check_repeat(repeat)
    if repeat == 1:
        return examples
    hcs = list(examples.map(lambda ex: ex["hc_mm"]).as_numpy_iterator())
    n_epoch = int(sampling.copies(hcs, repeat, threshold_mm).sum())

    def copies(ex):
        n = tf.where(ex["hc_mm"] > threshold_mm, tf.constant(repeat, tf.int64),
                     tf.constant(1, tf.int64))
        return tf.data.Dataset.from_tensors(ex).repeat(n)

    return examples.flat_map(copies).apply(tf.data.experimental.assert_cardinality(n_epoch))


def training_pipeline(examples: tf.data.Dataset, input_hw: Tuple[int, int], batch_size: int,
                      seed: int = 0, augmentation: bool = True,
                      cache_dir: Optional[str] = None,
                      drop_remainder: bool = False) -> tf.data.Dataset:
    """Labelled examples -> shuffled, augmented batches of (image, target).

    Args:
      examples: TFDS HC18 examples (train split).
      input_hw: model input (height, width).
      batch_size: images per batch.
      seed: seeds shuffling and augmentation.
      augmentation: off gives the letterboxed pairs as they are.
      cache_dir: cache letterboxed examples in this folder (None: in memory).
      drop_remainder: drop a last partial batch (distributed training: every replica
        then gets a full share of every step).

    Returns:
      A dataset of (float32 (B, H, W, 1) gray 0..255, float32 (B, H, W, 1) mask).
    """
    ds = examples.map(lambda ex: letterbox_example(ex, input_hw), num_parallel_calls=AUTOTUNE)
    ds = ds.map(lambda ex: (ex["input"], ex["target"]), num_parallel_calls=AUTOTUNE)
    ds = ds.cache(os.path.join(cache_dir, "train") if cache_dir else "")
    ds = ds.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    if augmentation:
        # Seeds keyed by (epoch-independent) position after the seeded shuffle:
        # reproducible run to run, different per epoch since the order changes.
        ds = ds.enumerate().map(
            lambda i, pair: augment(tf.cast(pair[0], tf.float32), pair[1],
                                    tf.stack([tf.constant(seed, tf.int64), i])),
            num_parallel_calls=AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(lambda img, tgt: (tf.cast(img, tf.float32), tgt))
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def fold_of_images(data_dir: str, n_folds: int,
                   validation_fraction: float = defaults.VALIDATION_FRACTION) -> Dict[str, int]:
    """filename -> cross-validation fold of every labelled image (both splits; pixels unread)."""
    import tensorflow_datasets as tfds
    from hc_tf_datasets.hc18 import folds as folds_lib
    from hc_tf_datasets.hc18 import prepared

    builder = prepared.load_prepared(data_dir, validation_fraction)
    skip = {"image": tfds.decode.SkipDecoding(), "mask": tfds.decode.SkipDecoding()}
    names, hcs = [], []
    for split in ("train", "validation"):
        for ex in tfds.as_numpy(builder.as_dataset(split=split, decoders=skip)):
            names.append(ex["filename"].decode())
            hcs.append(float(ex["hc_mm"]))
    return folds_lib.folds_by_filename(names, hcs, n_folds)


def load_fold(data_dir: str, n_folds: int, fold: int, part: str,
              validation_fraction: float = defaults.VALIDATION_FRACTION) -> tf.data.Dataset:
    """One part of a cross-validation fold from both labelled splits: "test" is fold `fold`'s
    images, "train" every other fold's (for fold 0 exactly the validation / train splits).

    Raises:
      ValueError: for a fold outside 0..n_folds-1 or another part.
    """
    if not 0 <= fold < n_folds or part not in ("train", "test"):
        raise ValueError(f"fold {fold} of {n_folds}, part {part!r}: need 0 <= fold < folds "
                         "and part train or test")
    by_name = fold_of_images(data_dir, n_folds, validation_fraction)
    keep = sorted(n for n, k in by_name.items() if (k == fold) == (part == "test"))
    wanted = tf.constant(keep)
    both = (load_split(data_dir, "train", validation_fraction)
            .concatenate(load_split(data_dir, "validation", validation_fraction)))
    chosen = both.filter(lambda ex: tf.reduce_any(tf.equal(ex["filename"], wanted)))
    return chosen.apply(tf.data.experimental.assert_cardinality(len(keep)))


def load_samples(data_dir: str, split: str, validation_fraction: float = defaults.VALIDATION_FRACTION,
                 examples: Optional[tf.data.Dataset] = None) -> list:
    """A split (or the given `examples`, e.g. a fold's test part) as a list of
    `inference.Sample` (NumPy), for measurement-based evaluation."""
    import tensorflow_datasets as tfds
    from hc_tf import measure as measure_lib
    from hc_tf.inference import Sample

    samples = []
    if examples is None:
        examples = load_split(data_dir, split, validation_fraction)
    for ex in tfds.as_numpy(examples):
        labelled = bool(ex["has_label"])
        e = ex["ellipse"]
        samples.append(Sample(
            filename=ex["filename"].decode(), image=ex["image"][:, :, 0],
            pixel_size_mm=float(ex["pixel_size_mm"]),
            reference=(measure_lib.Ellipse(*(float(e[k]) for k in ("cx", "cy", "a", "b", "angle")))
                       if labelled else None),
            reference_hc_mm=float(ex["hc_mm"]) if labelled else None))
    return samples
