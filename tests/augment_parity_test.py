"""One augmentation: `hc_tf.train.data.augment` (TF) and the JAX trainer's NumPy/OpenCV twin
(hc_tf/train/jax_backend/augment_np.py) give the same image and mask for the same uniforms.

Tolerances: both sides warp float32 with bilinear weights and zeros outside, sampling at
integer pixel coordinates. OpenCV 5 computes the sample positions in float (measured here:
image max 0.015 gray levels, mask 1e-4); OpenCV 4.x (setup.cfg allows >= 4.9) rounds them to
1/32 px, so a sample may move up to 1/64 px per axis: at most 2 x 255 / 64 = 8 levels before
gain (<= 1.2) on a black/white step, and 2/64 on the mask's 0/1 edge, but a small fraction of
a level on average. Hence max 10 levels / 0.04 (the worst case) and mean 0.25 levels / 1e-3: a
half-pixel convention slip or a wrong range moves the mean by whole levels and the mask by 0.5.
"""

import ast
import glob
import os

import cv2
import numpy as np
import pytest
import tensorflow as tf

from hc_tf.train import data as data_lib
from hc_tf import preprocess

from hc_tf.train.jax_backend import augment_np as A  # no Keras, unlike train_jax

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HW = (224, 320)
IMAGE_MAX, IMAGE_MEAN = 10.0, 0.25   # gray levels 0..255
MASK_MAX, MASK_MEAN = 0.04, 1e-3


@pytest.fixture(scope="module")
def pair():
    """A real letterboxed sample (bundled image) and an ellipse mask (uint8 0/255)."""
    path = sorted(glob.glob(os.path.join(REPO, "android_demo_assets", "samples", "*.png")))[0]
    boxed, _ = preprocess.letterbox_image(preprocess.read_gray_image(path), HW)
    mask = np.zeros(HW, np.uint8)
    cv2.ellipse(mask, (160, 112), (80, 60), 30, 0, 360, 255, -1)
    return boxed[:, :, 0].astype(np.float32), mask


def _uniforms():
    rng = np.random.default_rng(13)
    edges = [np.zeros(9), np.full(9, 0.999), np.full(9, 0.5)]  # range ends and identity
    return [u.astype(np.float32) for u in edges + [rng.random(9) for _ in range(12)]]


@pytest.mark.parametrize("u", _uniforms())
def test_same_matrix(u):
    tf_m = data_lib._affine_matrix(tf.constant(u), HW[0], HW[1], 15.0, 0.1, 16.0).numpy()
    np.testing.assert_allclose(tf_m[:6].reshape(2, 3), A.affine_matrix(u.astype(np.float64), *HW),
                               rtol=1e-5, atol=1e-4)  # float32 vs float64
    np.testing.assert_array_equal(tf_m[6:], 0.0)


@pytest.mark.parametrize("u", _uniforms())
def test_same_image_and_mask(pair, u):
    image, mask = pair
    ti, tt = data_lib.augment_uniforms(tf.constant(image[:, :, None]),
                                       tf.constant(mask[:, :, None] / 255.0, tf.float32),
                                       tf.constant(u))
    ni, nt = A.augment_uniforms(image, mask, u.astype(np.float64))
    assert ti.shape == ni.shape and tt.shape == nt.shape
    di, dt = np.abs(ti.numpy() - ni), np.abs(tt.numpy() - nt)
    assert di.max() <= IMAGE_MAX and di.mean() <= IMAGE_MEAN, (di.max(), di.mean())
    assert dt.max() <= MASK_MAX and dt.mean() <= MASK_MEAN, (dt.max(), dt.mean())
    assert 0.0 <= nt.min() and nt.max() <= 1.0


def test_the_draws_feed_the_shared_functions(pair):
    image, mask = pair
    seed = tf.constant([3, 4], tf.int64)
    a = data_lib.augment(tf.constant(image[:, :, None]), tf.constant(mask[:, :, None] / 255.0,
                                                                      tf.float32), seed)
    b = data_lib.augment_uniforms(tf.constant(image[:, :, None]),
                                  tf.constant(mask[:, :, None] / 255.0, tf.float32),
                                  tf.random.stateless_uniform((10,), seed=seed))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    c = A.augment_np(image, mask, np.random.default_rng(7))
    d = A.augment_uniforms(image, mask, np.random.default_rng(7).random(A.N_UNIFORMS))
    for x, y in zip(c, d):
        np.testing.assert_array_equal(x, y)


def test_train_jax_uses_the_twin():
    # Read, not imported: train_jax imports Keras with the JAX backend at import time.
    with open(os.path.join(REPO, "hc_tf", "train", "jax_backend", "train_jax.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    imports = {(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
               for a in n.names}
    assert ("hc_tf.train.jax_backend.augment_np", "augment_np") in imports
    defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert not any("augment" in name for name in defined), defined
