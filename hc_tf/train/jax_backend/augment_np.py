"""NumPy/OpenCV twin of `hc_tf.train.data.augment`, for the JAX trainer (no TensorFlow, no Keras).

The random draw is split from the warp so that both sides can be fed the same uniforms:
`augment_np(image, target, rng)` draws 9 uniforms and calls `augment_uniforms`, the
counterpart of `hc_tf.train.data.augment_uniforms`; tests/augment_parity_test.py checks the two
agree for the same uniforms.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import cv2
import numpy as np

from hc_tf import defaults

MAX_ROTATION_DEG = defaults.AUG_MAX_ROTATION_DEG
MAX_SCALE = defaults.AUG_MAX_SCALE
MAX_SHIFT_PX = defaults.AUG_MAX_SHIFT_PX
N_UNIFORMS = 9  # flip x, flip y, rotation, scale, shift x, shift y, gain, gamma, offset


def affine_matrix(u: Sequence[float], h: int, w: int, max_rotation_deg: float = MAX_ROTATION_DEG,
                  max_scale: float = MAX_SCALE, max_shift_px: float = MAX_SHIFT_PX) -> np.ndarray:
    """Output->input 2x3 affine from uniforms in [0, 1), as `hc_tf.train.data._affine_matrix`."""
    flip_x, flip_y = (-1.0 if u[0] < 0.5 else 1.0), (-1.0 if u[1] < 0.5 else 1.0)
    theta = (u[2] * 2 - 1) * max_rotation_deg * math.pi / 180.0
    scale = 1.0 + (u[3] * 2 - 1) * max_scale
    tx, ty = (u[4] * 2 - 1) * max_shift_px, (u[5] * 2 - 1) * max_shift_px
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    # input = R(-theta)/scale * diag(flip) * (output - c - t) + c
    cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
    a00, a01, a10, a11 = cos * flip_x, sin * flip_y, -sin * flip_x, cos * flip_y
    ox, oy = -cx - tx, -cy - ty
    return np.array([[a00, a01, a00 * ox + a01 * oy + cx],
                     [a10, a11, a10 * ox + a11 * oy + cy]], dtype=np.float64)


def warp(image: np.ndarray, target: np.ndarray, matrix: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Bilinear warp of image and mask (both (H, W) float32) by an output->input affine,
    zeros outside; the mask clipped to [0, 1]."""
    h, w = image.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    img = cv2.warpAffine(image.astype(np.float32), matrix, (w, h), flags=flags, borderValue=0.0)
    tgt = cv2.warpAffine(target.astype(np.float32), matrix, (w, h), flags=flags, borderValue=0.0)
    return img, np.clip(tgt, 0.0, 1.0)


def adjust_intensity(image: np.ndarray, u: Sequence[float]) -> np.ndarray:
    """Gain, gamma and offset from u[6:9] (probe settings and machines vary); 0..255 kept."""
    gain = 1.0 + (u[6] * 2 - 1) * defaults.AUG_MAX_GAIN
    gamma = math.exp((u[7] * 2 - 1) * math.log(defaults.AUG_MAX_GAMMA))
    offset = (u[8] * 2 - 1) * defaults.AUG_MAX_OFFSET
    image = 255.0 * np.power(np.clip(image / 255.0, 0.0, 1.0), gamma)
    return np.clip(image * gain + offset, 0.0, 255.0)


def augment_uniforms(image: np.ndarray, target: np.ndarray,
                     u: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """The augmentation for given uniforms: h/v flips, rotation +-15 deg, scale +-10 %,
    shift +-16 px (image and mask together); gain, gamma, offset (image only).

    Args:
      image: (H, W) gray 0..255.
      target: (H, W) mask 0..255 (pack_hc18's uint8 masks).
      u: N_UNIFORMS uniforms in [0, 1).

    Returns:
      (image (H, W, 1) float 0..255, mask (H, W, 1) float32 0..1).
    """
    h, w = image.shape
    img, tgt = warp(image, target.astype(np.float32) / 255.0, affine_matrix(u, h, w))
    return adjust_intensity(img, u)[:, :, None], tgt[:, :, None]


def augment_np(image: np.ndarray, target: np.ndarray,
               rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """`augment_uniforms` with uniforms drawn from `rng` (the JAX trainer's per-image draw)."""
    return augment_uniforms(image, target, rng.random(N_UNIFORMS))
