"""From a probability map to the head's sub-pixel outline points, in model pixels.

The input checks and encodings a map may come in, the letterbox's valid area, the
largest component with its holes filled, and the iso-contour crossings. OpenCV's
connected components and NumPy only.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Tuple

import cv2
import numpy as np

from hc_tf import preprocess

# Slightly out-of-range float probabilities (e.g. 1 + 1e-7 after averaging) are
# clipped; anything beyond this is a caller bug such as a 0..255-scaled map.
_PROB_SLACK = 0.01


def as_2d(prob: Any) -> np.ndarray:
    """(H, W) or (H, W, 1) numeric array -> (H, W) view. Raises ValueError otherwise."""
    p = np.asarray(prob)
    if p.dtype.kind not in "biuf":
        raise ValueError(f"prob must be a numeric or boolean array, got dtype {p.dtype}")
    if p.ndim == 3 and p.shape[2] == 1:
        p = p[:, :, 0]
    if p.ndim != 2:
        raise ValueError(f"prob must be (H, W) or (H, W, 1), got shape {p.shape}")
    if min(p.shape) < 3:
        raise ValueError(f"prob must be at least 3x3 pixels, got shape {p.shape}")
    return p


def to_probability(p: np.ndarray) -> Tuple[Optional[np.ndarray], str]:
    """2-D array of any accepted encoding -> (float32 in [0, 1], "") or (None, reason).

    bool and integer {0, 1} masks are used as they are; other integer arrays up to
    255 are 8-bit masks or quantised probabilities and are divided by 255.
    """
    if p.dtype.kind == "b":
        return p.astype(np.float32), ""
    if p.dtype.kind in "iu":
        lo, hi = int(p.min()), int(p.max())
        if lo < 0 or hi > 255:
            return None, f"mask values out of range [{lo}, {hi}]: expected 0/1, 0/255 or 0..255"
        scale = 1.0 if hi <= 1 else 1.0 / 255.0
        return p.astype(np.float32) * np.float32(scale), ""
    q = p.astype(np.float32, copy=False)
    lo, hi = float(np.min(q)), float(np.max(q))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None, "probability map contains NaN or infinite values"
    if lo < -_PROB_SLACK or hi > 1.0 + _PROB_SLACK:
        return None, (f"probabilities out of range [{lo:.3g}, {hi:.3g}]: expected 0..1 "
                      "(a 0..255-scaled map must be passed as uint8)")
    return np.clip(q, 0.0, 1.0), ""


def valid_rect(box: Optional[preprocess.Letterbox], hw: Tuple[int, int]
                ) -> Tuple[int, int, int, int]:
    """(x0, y0, x1, y1), inclusive: the model pixels that show the image, not padding."""
    h, w = hw
    if box is None:
        return 0, 0, w - 1, h - 1
    if (box.dst_height, box.dst_width) != (h, w):
        raise ValueError(f"prob is {h}x{w} but the letterbox maps a "
                         f"{box.dst_height}x{box.dst_width} model input")
    x0, y0 = int(box.offset_x), int(box.offset_y)
    nw = int(round(box.scale_x * box.src_width))
    nh = int(round(box.scale_y * box.src_height))
    return x0, y0, min(w - 1, x0 + nw - 1), min(h - 1, y0 + nh - 1)


def largest_component(fg: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(mask of the largest 8-connected component, its stats row); empty -> area 0."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.view(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(fg), np.zeros(5, dtype=np.int32)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == k, stats[k]


def fill_holes(comp: np.ndarray) -> np.ndarray:
    """Fills background enclosed by `comp`: a hole's rim is not the skull outline.

    `comp` is padded with a background ring, so everything connected to the
    ring (including pockets open to the array's edge) stays background.
    """
    ring = np.pad(comp, 1).view(np.uint8) ^ 1
    _, labels = cv2.connectedComponents(ring, connectivity=4)
    return (labels != labels[0, 0])[1:-1, 1:-1]


def _crossings(prob: np.ndarray, inside: np.ndarray, threshold: float, axis: int
               ) -> np.ndarray:
    """Sub-pixel points where the iso-contour crosses edges between neighbours along `axis`.

    Linear interpolation of `prob` between the inside and the outside pixel
    centre (marching squares' edge step); for a 0/1 mask it is the midpoint.
    """
    if axis == 1:
        a_in, b_in, pa, pb = inside[:, :-1], inside[:, 1:], prob[:, :-1], prob[:, 1:]
    else:
        a_in, b_in, pa, pb = inside[:-1], inside[1:], prob[:-1], prob[1:]
    rows, cols = np.nonzero(a_in != b_in)
    first_inside = a_in[rows, cols]
    va, vb = pa[rows, cols], pb[rows, cols]
    p_in = np.where(first_inside, va, vb).astype(np.float64)
    p_out = np.where(first_inside, vb, va).astype(np.float64)
    denom = p_in - p_out
    # Filled holes can make an "inside" pixel fall below the threshold; use the midpoint there.
    frac = np.where(denom > 1e-6, (p_in - threshold) / np.where(denom > 1e-6, denom, 1.0), 0.5)
    frac = np.clip(frac, 0.0, 1.0)
    step = np.where(first_inside, frac, 1.0 - frac)  # distance from the first pixel
    if axis == 1:
        return np.stack([cols + step, rows.astype(np.float64)], axis=1)
    return np.stack([cols.astype(np.float64), rows + step], axis=1)


def boundary_points(prob: np.ndarray, inside: np.ndarray, threshold: float,
                    rect: Tuple[int, int, int, int]) -> np.ndarray:
    """The `threshold` iso-contour of `prob` around `inside`, as (N, 2) model (x, y).

    Only edges between two pixels of `rect` count: where the head runs off the
    image, its mask ends at the image edge, which is not the head's outline.

    Args:
      prob: (H, W) float probabilities in [0, 1].
      inside: (H, W) bool, the region whose outline is wanted (prob > threshold
        on it, except in filled holes).
      threshold: the iso-level.
      rect: (x0, y0, x1, y1) inclusive, the model pixels showing the image.

    Returns:
      (N, 2) float64 points (x, y) in model pixels.
    """
    x0, y0, x1, y1 = rect
    # A region wholly right of or below the image area gives x1 or y1 < 0: an empty window
    # (no outline inside the image), never Python's count-from-the-end slice.
    window = (slice(y0, max(y1 + 1, 0)), slice(x0, max(x1 + 1, 0)))
    p, m = prob[window], inside[window]
    pts = np.concatenate([_crossings(p, m, threshold, 1), _crossings(p, m, threshold, 0)])
    return pts + np.array([x0, y0], dtype=np.float64)

