"""Measuring a probability map: model-size map -> head ellipse in original pixels -> HC.

`measure` is the one measurement every model path, the goldens and the app's port
go through: threshold, largest component, sub-pixel contour (`contour`), robust
fit (`fit`), then the shape checks below and the quality signals (`hc_tf.measure.quality`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

import cv2
import numpy as np

from hc_tf import defaults
from hc_tf import preprocess
from hc_tf.measure import quality
from hc_tf.measure import contour
from hc_tf.measure.fit import robust_fit_ellipse
from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.geometry import ellipse_distance
from hc_tf.measure.geometry import real_number
from hc_tf.measure.pixel_size import positive_pixel_size
from hc_tf.measure.result import Measurement
from hc_tf.measure.result import not_found

# No head is thinner than 2 model pixels or more elongated than 5:1 (HC18 heads
# are at most about 1.7:1); such fits come from lines and stray blobs.
_MIN_SEMI_AXIS_MODEL_PX = 2.0
_MAX_ASPECT = 5.0
# A fitted ellipse much larger than the image is an extrapolation from a short
# arc, not a measurement.
_MAX_AXIS_IMAGE_RATIO = 2.0
_MIN_BOUNDARY_POINTS = 20


def measure(prob: np.ndarray, box: Optional[preprocess.Letterbox], pixel_size_mm: float,
            threshold: float = defaults.THRESHOLD,
            min_area_px: int = defaults.MIN_AREA_PX) -> Measurement:
    """Measures the head in a model's probability map, in original-image pixels and mm.

    Threshold, keep the largest connected component (holes filled), take its
    sub-pixel `threshold` iso-contour, map it to original pixels with `box`,
    then fit an ellipse robustly (see `robust_fit_ellipse`).

    Args:
      prob: (H, W) or (H, W, 1) at model-input size: float probabilities in
        [0, 1] (within 0.01 is clipped), or a bool / integer 0-1 / 0-255 mask.
      box: maps model pixels to original pixels; None when they are the same.
      pixel_size_mm: the original image's pixel size, finite and > 0.
      threshold: foreground iso-level, in (0, 1).
      min_area_px: smallest head, in model pixels.

    Returns:
      A `Measurement`: found, or not found with a reason (empty or full mask,
      speck, line, NaN or out-of-range values, fit failure). Never NaN.

    Raises:
      ValueError: for a wrong shape or dtype, a pixel size that is not finite
        and positive, a threshold that is not a number in (0, 1), a `min_area_px`
        that is not a finite number >= 0, or
        a `box` whose model size differs from `prob`'s.
    """
    px = positive_pixel_size(pixel_size_mm)
    p2 = contour.as_2d(prob)
    if not 0.0 < real_number(threshold, "threshold") < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    if not 0.0 <= real_number(min_area_px, "min_area_px") < math.inf:
        raise ValueError(f"min_area_px must be a finite number >= 0, got {min_area_px!r}")
    rect = contour.valid_rect(box, p2.shape)
    p, reason = contour.to_probability(p2)
    if p is None:
        return not_found(reason, px)
    # In float64, as the port compares: against a Python float NumPy would compare in
    # float32 (NEP 50; NumPy 1.x even against an np.float64 scalar), and a pixel equal to
    # float32(0.3) > 0.3 would fall outside.
    comp, stats = contour.largest_component(p.astype(np.float64) > float(threshold))
    area = int(stats[cv2.CC_STAT_AREA])
    if area == 0:
        return not_found(f"empty mask: no pixel above {threshold:g}", px)
    if area < max(int(min_area_px), 1):
        return not_found(f"largest region is a speck ({area} px < {min_area_px} px)", px)
    left, top = int(stats[cv2.CC_STAT_LEFT]), int(stats[cv2.CC_STAT_TOP])
    right = left + int(stats[cv2.CC_STAT_WIDTH]) - 1
    bottom = top + int(stats[cv2.CC_STAT_HEIGHT]) - 1
    if left <= rect[0] and top <= rect[1] and right >= rect[2] and bottom >= rect[3]:
        return not_found("mask covers the whole image: no head outline", px)
    # Work on the component's box (plus a 1 px margin for its outer edges): faster.
    y_lo, x_lo = max(top - 1, 0), max(left - 1, 0)
    crop = (slice(y_lo, bottom + 2), slice(x_lo, right + 2))
    crop_rect = (max(rect[0] - x_lo, 0), max(rect[1] - y_lo, 0), rect[2] - x_lo, rect[3] - y_lo)
    head = np.zeros(p.shape, bool)
    head[crop] = contour.fill_holes(comp[crop])
    pts = contour.boundary_points(p[crop], head[crop], float(threshold), crop_rect)
    pts += np.array([x_lo, y_lo], dtype=np.float64)
    if len(pts) < _MIN_BOUNDARY_POINTS:
        return not_found(f"head outline inside the image too short ({len(pts)} points)", px)
    model_px = 1.0  # one model pixel, in original pixels
    if box is not None:
        pts = box.to_original(pts)
        model_px = 1.0 / min(box.scale_x, box.scale_y)
    e = robust_fit_ellipse(pts, floor_px=model_px)
    m = _checked(e, model_px, box, p2.shape, px)
    if not m.found:
        return m
    image_hw = (box.src_height, box.src_width) if box is not None else p2.shape
    signals = quality.signals(p, head, ellipse_distance(e, pts), e, box, rect, model_px,
                              image_hw, m.hc_mm)
    return dataclasses.replace(m, quality=signals)


def _checked(e: Optional[Ellipse], model_px: float, box: Optional[preprocess.Letterbox],
             hw: Tuple[int, int], px: float) -> Measurement:
    """Turns a fit into a Measurement, rejecting lines, needles and runaway fits."""
    if e is None or not all(math.isfinite(v) for v in dataclasses.astuple(e)):
        return not_found("the outline does not fit an ellipse", px)
    if e.b < _MIN_SEMI_AXIS_MODEL_PX * model_px:
        return not_found(f"region is a line, not a head (minor semi-axis "
                          f"{e.b / model_px:.1f} model px)", px)
    if e.a > _MAX_ASPECT * e.b:
        return not_found(f"region is too elongated for a head ({e.a / e.b:.1f}:1)", px)
    size = max(box.src_width, box.src_height) if box is not None else max(hw)
    if e.a > _MAX_AXIS_IMAGE_RATIO * size:
        return not_found("ellipse fit ran away (a partial outline far larger than the image)", px)
    return Measurement(found=True, reason="", ellipse=e, pixel_size_mm=px,
                       original_px_per_model_px=model_px)

