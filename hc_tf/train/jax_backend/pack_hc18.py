"""Packs the prepared HC18 splits, letterboxed, into one .npz for `train_jax.py`.

The borrowed GPU machine has JAX but no TensorFlow, so it can't read TFDS:
this runs here (TensorFlow side) and writes what training needs, already
letterboxed by `hc_tf.preprocess` (the one definition of the model input). Images are
stored WebP-lossless (`encode_images`; decoded bit-exact by `decode_images`): 0.65x the
size of deflate, which lets two input sizes and the encoder weights fit the 64 MiB a
device call carries.

    python -m hc_tf.train.jax_backend.pack_hc18 --data-dir ~/hc-runs/tfds --out .gpu/hc18_224x320.npz

Every labelled image's cross-validation fold travels too (`{split}_fold`, `n_folds`;
`hc_tf_datasets.hc18.folds`), so one pack serves `train_jax.py --folds N --fold K` for every K.
"""

from __future__ import annotations

import argparse
import os

import cv2
import numpy as np

from hc_tf import defaults
from hc_tf.io import atomic as io_utils
from hc_tf import preprocess


def encode_images(images: np.ndarray) -> dict:
    """(N, H, W) uint8 -> {"webp": all bytes, "offsets": N + 1 ends, "shape"} (lossless)."""
    blobs = []
    for image in images:
        ok, buf = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])  # 101: lossless
        if not ok:
            raise RuntimeError("OpenCV could not encode WebP")
        blobs.append(buf.ravel())
    return {"webp": np.concatenate(blobs),
            "offsets": np.cumsum([0] + [len(b) for b in blobs]),
            "shape": np.asarray(images.shape)}


def decode_images(webp: np.ndarray, offsets: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Inverse of `encode_images`.

    Raises:
      ValueError: when an image does not decode to the stored shape.
    """
    out = np.empty(tuple(shape), np.uint8)
    for i in range(len(out)):
        image = cv2.imdecode(webp[offsets[i]:offsets[i + 1]], cv2.IMREAD_GRAYSCALE)
        if image is None or image.shape != out.shape[1:]:
            raise ValueError(f"packed image {i} does not decode to {tuple(shape[1:])}")
        out[i] = image
    return out


def load_packed(path: str, limit: int = 0) -> dict:
    """The arrays `main` wrote, images decoded; `limit` keeps the first N of each split."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    for split in ("train", "validation"):
        key = f"{split}_x"
        if f"{key}_webp" in arrays:
            arrays[key] = decode_images(arrays.pop(f"{key}_webp"), arrays.pop(f"{key}_offsets"),
                                        arrays.pop(f"{key}_shape"))
    return {k: v[:limit] if limit and v.ndim else v for k, v in arrays.items()}  # n_folds: a scalar


def pack_split(data_dir: str, split: str, input_hw, validation_fraction: float):
    """Letterboxed inputs (N, H, W) uint8, soft masks as uint8 0..255, and the
    per-image facts measurement needs (box, pixel size, reference HC, name)."""
    import tensorflow_datasets as tfds
    from hc_tf.train import data as data_lib

    xs, ys, boxes, px, hc, names = [], [], [], [], [], []
    for ex in tfds.as_numpy(data_lib.load_split(data_dir, split, validation_fraction)):
        if not ex["has_label"]:
            continue
        image, box = preprocess.letterbox_image(ex["image"], input_hw)
        target = preprocess.letterbox_mask(ex["mask"], box)
        xs.append(image[:, :, 0])
        ys.append(np.round(target[:, :, 0] * 255.0).astype(np.uint8))
        boxes.append([box.scale_x, box.scale_y, box.offset_x, box.offset_y,
                      box.src_width, box.src_height])
        px.append(float(ex["pixel_size_mm"]))
        hc.append(float(ex["hc_mm"]))
        names.append(ex["filename"].decode())
    images = encode_images(np.stack(xs))
    return {**{f"{split}_x_{k}": v for k, v in images.items()}, f"{split}_y": np.stack(ys),
            f"{split}_box": np.asarray(boxes, np.float64), f"{split}_px": np.asarray(px),
            f"{split}_hc": np.asarray(hc), f"{split}_names": np.asarray(names)}


def fold_arrays(arrays: dict, n_folds: int) -> dict:
    """`{split}_fold` of every packed image (fold 0 = the validation split) and `n_folds`."""
    from hc_tf_datasets.hc18 import folds as folds_lib

    names = [str(n) for split in ("train", "validation") for n in arrays[f"{split}_names"]]
    hcs = [float(h) for split in ("train", "validation") for h in arrays[f"{split}_hc"]]
    by_name = folds_lib.folds_by_filename(names, hcs, n_folds)
    out = {f"{split}_fold": np.asarray([by_name[str(n)] for n in arrays[f"{split}_names"]], np.int8)
           for split in ("train", "validation")}
    return {**out, "n_folds": np.asarray(n_folds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="TFDS data dir from `hc-tf prepare`")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--input-size", default="224x320", help="HxW")
    parser.add_argument("--validation-fraction", type=float, default=defaults.VALIDATION_FRACTION)
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds stored")
    args = parser.parse_args()
    hw = tuple(int(v) for v in args.input_size.lower().split("x"))
    arrays = {}
    for split in ("train", "validation"):
        arrays.update(pack_split(args.data_dir, split, hw, args.validation_fraction))
        print(f"{split}: {len(arrays[f'{split}_px'])} images")
    arrays.update(fold_arrays(arrays, args.folds))
    print(f"folds: {np.bincount(np.concatenate([arrays['train_fold'], arrays['validation_fold']]))} images")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with io_utils.atomic_path(args.out) as tmp:  # `tmp` ends in the name, so in .npz
        np.savez_compressed(tmp, **arrays)
    print(f"wrote {args.out}: {os.path.getsize(args.out) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
