"""Quality signals of one measurement: is the fitted ellipse one a clinician can trust?

Computed from what `measure.measure` already has (the probability map, the head's mask,
its boundary points and the fitted ellipse) at no extra model run, and judged by
`clinical.review_flag`. NumPy only, like the rest of the measurement path.
The definitions are `clinical.QualitySignals`'s; the thresholds are calibrated on the
validation split (export/README.md, "Review flag").

The filled ellipse and the band around its outline are defined pixel by pixel with plain
float64 arithmetic (no rasterizer), so that a port computes the same pixels: see
`ellipse_on_model_grid` and android_demo_assets/README.md, "GA and the review flag".
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from hc_tf import clinical
from hc_tf import preprocess

# The outline is sampled at this many points for the share outside the image: 0.5 degree
# steps, sub-pixel on any HC18 head.
_OUTLINE_SAMPLES = 720
# Band around the fitted outline where the probability should cross from ~0 to ~1 (a sharp
# boundary crosses in 1-2 pixels): model-pixel centres within this distance of the outline.
# 4.5, not 3: the cv2.polylines band this replaced ("thickness 7") reached pixel centres
# 4.5-4.9 model px from the outline; at 4.5 the signal keeps its scale (the bundled samples
# move by <= 0.005) and so its guard keeps its calibration, where 3 would raise it by ~0.15.
BAND_HALF_WIDTH_MODEL_PX = 4.5
_UNCERTAIN = (0.1, 0.9)
_MIN_GRADIENT = 1e-12  # as geometry.ellipse_distance: the centre is "far" from the outline


def ellipse_on_model_grid(e, box: Optional[preprocess.Letterbox], shape: Tuple[int, int]
                          ) -> Tuple[np.ndarray, np.ndarray]:
    """The fitted ellipse's implicit function and first-order distance at each model pixel.

    Each model-pixel centre (column j, row i) is mapped to original pixels as
    `Letterbox.to_original` does, x = (j - offset_x + 0.5) / scale_x - 0.5 (likewise y; no
    box: x = j, y = i, scales 1), then, with c = cos(angle), s = sin(angle):
    u = (dx c + dy s) / a, v = (-dx s + dy c) / b (dx = x - cx, dy = y - cy),
    f = u u + v v - 1 (inside: f <= 0), and its gradient in model pixels
    gx = 2 (u/a c - v/b s) / scale_x, gy = 2 (u/a s + v/b c) / scale_y;
    distance d = |f| / max(sqrt(gx gx + gy gy), 1e-12), in model pixels (first order, as
    `geometry.ellipse_distance`). Every step is one IEEE float64 operation in this order.

    Args:
      e: the fitted `measure.Ellipse`, original pixels.
      box: model <-> original mapping (None: the same grid).
      shape: (H, W) of the model grid.

    Returns:
      (f, d): (H, W) float64 arrays.
    """
    h, w = shape
    cols, rows = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    scale_x = scale_y = 1.0
    if box is not None:
        scale_x, scale_y = box.scale_x, box.scale_y
        cols = (cols - box.offset_x + 0.5) / scale_x - 0.5
        rows = (rows - box.offset_y + 0.5) / scale_y - 0.5
    c, s = math.cos(e.angle), math.sin(e.angle)
    dx, dy = (cols - e.cx)[None, :], (rows - e.cy)[:, None]
    # The formulas above, step by step in place (the same operations in the same order, so
    # the same bits): a fresh (H, W) temporary per step made this 1.4x slower.
    u = dx * c + dy * s
    u /= e.a
    v = -dx * s + dy * c
    v /= e.b
    f = u * u
    tmp = v * v
    f += tmp
    f -= 1.0
    u /= e.a  # u/a from here on
    v /= e.b  # v/b
    gx = u * c
    gx -= np.multiply(v, s, out=tmp)
    gx *= 2.0
    gx /= scale_x
    gy = u * s
    gy += np.multiply(v, c, out=tmp)
    gy *= 2.0
    gy /= scale_y
    gx *= gx
    gy *= gy
    gx += gy
    gradient = np.maximum(np.sqrt(gx, out=gx), _MIN_GRADIENT, out=gx)
    d = np.abs(f)
    d /= gradient
    return f, d


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
      model pixel of the ellipse; mask_ellipse_dice = Dice of head_mask and the model pixels
      whose centre is inside the ellipse, both counted inside the image area (`rect`) only,
      never in the letterbox padding; uncertain_band_fraction = share of the model pixels inside the
      image area whose centre is within 4.5 model pixels of the outline
      (`ellipse_on_model_grid`) with probability in (0.1, 0.9); outside_fraction = share of
      the outline outside the original image.
    """
    d = np.asarray(distances, np.float64)
    mean_axis = 0.5 * (e.a + e.b)
    outline = e.points(_OUTLINE_SAMPLES)
    h, w = image_hw
    outside = ((outline[:, 0] < -0.5) | (outline[:, 0] > w - 0.5)
               | (outline[:, 1] < -0.5) | (outline[:, 1] > h - 0.5))

    f, dist = ellipse_on_model_grid(e, box, head_mask.shape)
    filled = f <= 0.0
    window = (slice(rect[1], rect[3] + 1), slice(rect[0], rect[2] + 1))  # the image area
    band = dist[window] <= BAND_HALF_WIDTH_MODEL_PX
    p = prob[window]
    unsure = (p > _UNCERTAIN[0]) & (p < _UNCERTAIN[1]) & band
    # Dice inside the image area only, as the band: past an image edge that is padded, the
    # filled ellipse of a cut head runs on into the letterbox padding, where the mask is always
    # 0, so counting the whole grid made the same cut head's Dice depend on which edges the
    # letterbox pads (e.g. 0.9995 in a wide image, 0.856 in a tall one).
    hm, fl = head_mask[window], filled[window]
    inter = float(np.count_nonzero(hm & fl))
    total = float(np.count_nonzero(hm) + np.count_nonzero(fl))
    n_band = np.count_nonzero(band)
    return clinical.QualitySignals(
        fit_rms_frac=float(np.sqrt(np.mean(d ** 2)) / mean_axis),
        inlier_fraction=float(np.mean(d <= model_px)),
        mask_ellipse_dice=(2.0 * inter / total) if total else 0.0,
        uncertain_band_fraction=float(np.count_nonzero(unsure) / n_band) if n_band else 1.0,
        outside_fraction=float(np.mean(outside)),
        hc_mm=float(hc_mm))
