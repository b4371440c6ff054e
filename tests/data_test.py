"""tf.data pipeline: shapes, dtypes, letterbox agreement, aligned and seeded augmentation."""

import numpy as np
import tensorflow as tf

from hc_tf.train import data as data_lib
from hc_tf import preprocess
from tests.conftest import TINY_HW


def test_training_batches_have_model_shapes(sample_data_dir):
    examples = data_lib.load_split(sample_data_dir, "train")
    ds = data_lib.training_pipeline(examples, TINY_HW, batch_size=4, seed=1)
    image, target = next(iter(ds))
    assert image.shape == (4, *TINY_HW, 1) and image.dtype == tf.float32
    assert target.shape == (4, *TINY_HW, 1) and target.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(image)) and float(tf.reduce_max(image)) <= 255.0
    assert 0.0 <= float(tf.reduce_min(target)) and float(tf.reduce_max(target)) <= 1.0


def test_pipeline_letterbox_is_the_numpy_letterbox(sample_data_dir):
    examples = data_lib.load_split(sample_data_dir, "validation")
    ex = next(iter(examples.map(lambda e: data_lib.letterbox_example(e, TINY_HW))))
    expected, box = preprocess.letterbox_image(ex["image"].numpy(), TINY_HW)
    np.testing.assert_array_equal(ex["input"].numpy(), expected)
    np.testing.assert_allclose(ex["box"].numpy(), box.as_array())


def _synthetic_pair():
    target = np.zeros((*TINY_HW, 1), np.float32)
    yy, xx = np.mgrid[0:TINY_HW[0], 0:TINY_HW[1]]
    target[..., 0] = (((xx - 40) / 20.0) ** 2 + ((yy - 30) / 12.0) ** 2 <= 1).astype(np.float32)
    return tf.constant(target * 255.0), tf.constant(target)


def test_augmentation_moves_image_and_mask_together():
    image, target = _synthetic_pair()
    for k in range(8):
        aug_image, aug_target = data_lib.augment(image, target, tf.constant([3, k], tf.int64))
        img_fg = aug_image.numpy()[..., 0] > 100
        mask_fg = aug_target.numpy()[..., 0] > 0.5
        iou = (img_fg & mask_fg).sum() / max(1, (img_fg | mask_fg).sum())
        assert iou > 0.9, f"seed {k}: image and mask misaligned (IoU {iou:.2f})"
    moved = data_lib.augment(image, target, tf.constant([3, 0], tf.int64))[1]
    assert not np.allclose(moved.numpy(), target.numpy())  # it does augment


def test_augmentation_is_deterministic_under_a_seed(sample_data_dir):
    examples = data_lib.load_split(sample_data_dir, "train")

    def first_batch(seed):
        ds = data_lib.training_pipeline(examples, TINY_HW, batch_size=3, seed=seed)
        return next(iter(ds))[0].numpy()

    np.testing.assert_array_equal(first_batch(7), first_batch(7))
    assert not np.array_equal(first_batch(7), first_batch(8))


def test_missing_dataset_names_the_folder(tmp_path):
    import pytest
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        data_lib.load_split(str(tmp_path), "train")
