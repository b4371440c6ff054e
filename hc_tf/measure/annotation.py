"""Expert annotations: the ellipse an HC18 outline image draws (`fit_outline`), and an ellipse
drawn as HC18 draws its outlines (`draw_outline`, for the sample and the TFDS dummy data).

NumPy only (through the fit); the annotation is never flood-filled (see `fit_outline`).
"""

from __future__ import annotations

import math

import numpy as np

from hc_tf.measure.fit import fit_ellipse
from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.geometry import distance_to_outline
from hc_tf.measure.geometry import ellipse_distance


class AnnotationError(ValueError):
    """An annotation image is not one closed ellipse outline."""


def fit_outline(outline: np.ndarray, max_median_px: float = 1.0, max_gap_deg: float = 30.0
                ) -> Ellipse:
    """Fits the ellipse an expert drew as a thin outline (HC18 annotations).

    Never flood-fills: large heads run off the image, so the outline is open at
    the border. Instead the outline pixels are fitted and the fit is checked:
    the pixels must lie on the ellipse, and every stretch of the ellipse that is
    inside the image must carry outline pixels (no gap wider than `max_gap_deg`).

    Args:
      outline: 2-D array, non-zero on the outline.
      max_median_px: largest accepted median pixel distance to the fitted ellipse.
      max_gap_deg: largest accepted angular gap, over the in-image part of the ellipse.

    Returns:
      The fitted `Ellipse` in pixels.

    Raises:
      AnnotationError: with the reason, when the outline is empty, not an
        ellipse, or not closed.
    """
    outline = np.asarray(outline)
    if outline.ndim != 2:
        raise AnnotationError(f"expected a 2-D outline image, got shape {outline.shape}")
    pts = np.argwhere(outline > 0)[:, ::-1].astype(np.float64)
    if len(pts) < 20:
        raise AnnotationError(f"outline has only {len(pts)} pixels")
    e = fit_ellipse(pts)
    if e is None or e.b < 2.0:
        raise AnnotationError("outline pixels do not form an ellipse")
    dist = ellipse_distance(e, pts)
    if float(np.median(dist)) > max_median_px or float(np.mean(dist < 2.0)) < 0.95:
        raise AnnotationError(
            f"outline is not one ellipse (median distance {np.median(dist):.2f} px to the fit)")
    # Angular coverage in the ellipse's own frame, over the part inside the image.
    c, s = math.cos(e.angle), math.sin(e.angle)
    dx, dy = pts[:, 0] - e.cx, pts[:, 1] - e.cy
    theta = np.degrees(np.arctan2((-dx * s + dy * c) / e.b, (dx * c + dy * s) / e.a)) % 360
    bins = np.zeros(360, dtype=bool)
    bins[theta.astype(int) % 360] = True
    h, w = outline.shape
    ring = e.points(360)
    in_image = ((ring[:, 0] >= 0) & (ring[:, 0] <= w - 1)
                & (ring[:, 1] >= 0) & (ring[:, 1] <= h - 1))
    missing = in_image & ~bins
    gap = _longest_circular_run(missing)
    if gap > max_gap_deg:
        raise AnnotationError(f"outline is not closed: a {gap} degree gap inside the image")
    return e


# HC18's outlines are bands centred on the expert's ellipse, about 2.5 pixels per pixel of
# perimeter (pixel centres within ~1.25 px of the curve, mean signed distance under 0.003 px).
OUTLINE_HALF_WIDTH_PX = 1.25


def draw_outline(ellipse: Ellipse, shape) -> np.ndarray:
    """The ellipse drawn as an HC18-style annotation outline: uint8, 255 on the pixels whose
    centre is within OUTLINE_HALF_WIDTH_PX of the curve, so the outline straddles it and
    `fit_outline` gives back its HC. (`rasterize_ellipse(filled=False)`, the inside pixels with
    an outside neighbour, lies 0.45 px inside the curve: 0.4-1.6 mm of HC on the embedded
    sample.)"""
    h, w = int(shape[0]), int(shape[1])
    ys, xs = np.mgrid[0:h, 0:w]
    pts = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    # The first-order distance is within a pixel of the exact one this close to the curve.
    near = np.flatnonzero(ellipse_distance(ellipse, pts) <= OUTLINE_HALF_WIDTH_PX + 2)
    keep = near[distance_to_outline(ellipse, pts[near]) <= OUTLINE_HALF_WIDTH_PX]
    outline = np.zeros(h * w, np.uint8)
    outline[keep] = 255
    return outline.reshape(h, w)


def _longest_circular_run(flags: np.ndarray) -> int:
    """The longest run of True in a circular array (the whole length when all True)."""
    if flags.all():
        return len(flags)
    doubled = np.concatenate([flags, flags]).astype(np.int8)
    best = run = 0
    for f in doubled:
        run = run + 1 if f else 0
        best = max(best, run)
    return min(best, len(flags))

