"""Quality signals of one measurement: is the fitted ellipse one a clinician can trust?

Computed from what `measure.measure` already has (the probability map, the head's mask,
its boundary points and the fitted ellipse) at no extra model run, and judged by
`clinical.review_flag`. NumPy + OpenCV only, like the rest of the measurement path.
The definitions are `clinical.QualitySignals`'s; the thresholds are calibrated on the
validation split (export/README.md, "Review flag").
"""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from hc_tf import clinical
from hc_tf import preprocess

# The outline is sampled at this many points for the band, the mask-vs-ellipse Dice and
# the share outside the image: 0.5 degree steps, sub-pixel on any HC18 head.
_OUTLINE_SAMPLES = 720
# Band around the fitted outline, in model pixels each side, where the probability should
# cross from ~0 to ~1: a sharp boundary crosses in 1-2 pixels.
_BAND_HALF_WIDTH_MODEL_PX = 3
_UNCERTAIN = (0.1, 0.9)


def _to_model(points: np.ndarray, box: Optional[preprocess.Letterbox]) -> np.ndarray:
    return box.to_model(points) if box is not None else np.asarray(points, np.float64)


def _polygon(points_model: np.ndarray) -> np.ndarray:
    # cv2 draws on a fixed-point grid: 4 fractional bits keep the polygon sub-pixel.
    return np.round(points_model * 16.0).astype(np.int32).reshape(-1, 1, 2)


def signals(prob: np.ndarray, head_mask: np.ndarray, distances: np.ndarray, e,
            box: Optional[preprocess.Letterbox], rect: Tuple[int, int, int, int],
            model_px: float, image_hw: Tuple[int, int], hc_mm: float) -> clinical.QualitySignals:
    """The quality signals of a found head.

    Args:
      prob: (H, W) float probabilities at model size.
      head_mask: (H, W) bool, the head's component with holes filled, at model size.
      distances: (N,) distances of the boundary points the fit saw to the ellipse,
        original pixels.
      e: the fitted `measure.Ellipse`, original pixels.
      box: model <-> original mapping (None: the same grid).
      rect: (x0, y0, x1, y1) inclusive, the model pixels showing the image.
      model_px: one model pixel in original pixels.
      image_hw: the original image's (height, width).
      hc_mm: the measured HC.

    Returns:
      `clinical.QualitySignals` (every field but flip_rel_diff; see its definitions):
      fit_rms_frac over all boundary points; inlier_fraction = share of points within one
      model pixel of the ellipse; Dice of head_mask and the filled ellipse at model size;
      uncertain_band_fraction = share of pixels within 3 model pixels of the outline (inside
      the image area) with probability in (0.1, 0.9); outside_fraction = share of the
      outline outside the original image.
    """
    d = np.asarray(distances, np.float64)
    mean_axis = 0.5 * (e.a + e.b)
    outline = e.points(_OUTLINE_SAMPLES)
    h, w = image_hw
    outside = ((outline[:, 0] < -0.5) | (outline[:, 0] > w - 0.5)
               | (outline[:, 1] < -0.5) | (outline[:, 1] > h - 0.5))

    shape = head_mask.shape
    poly = _polygon(_to_model(outline, box))
    filled = np.zeros(shape, np.uint8)
    cv2.fillPoly(filled, [poly], 1, lineType=cv2.LINE_8, shift=4)
    band = np.zeros(shape, np.uint8)
    cv2.polylines(band, [poly], True, 1, thickness=2 * _BAND_HALF_WIDTH_MODEL_PX + 1,
                  lineType=cv2.LINE_8, shift=4)
    in_image = np.zeros(shape, bool)
    in_image[rect[1]:rect[3] + 1, rect[0]:rect[2] + 1] = True
    band_px = (band > 0) & in_image
    unsure = (prob > _UNCERTAIN[0]) & (prob < _UNCERTAIN[1]) & band_px
    inter = float(np.count_nonzero(head_mask & (filled > 0)))
    total = float(np.count_nonzero(head_mask) + np.count_nonzero(filled))
    return clinical.QualitySignals(
        fit_rms_frac=float(np.sqrt(np.mean(d ** 2)) / mean_axis),
        inlier_fraction=float(np.mean(d <= model_px)),
        mask_ellipse_dice=(2.0 * inter / total) if total else 0.0,
        uncertain_band_fraction=(float(np.count_nonzero(unsure) / np.count_nonzero(band_px))
                                 if np.any(band_px) else 1.0),
        outside_fraction=float(np.mean(outside)),
        hc_mm=float(hc_mm))
