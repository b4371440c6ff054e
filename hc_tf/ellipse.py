"""The shared measurement module: mask -> ellipse -> head circumference in mm.

Every model path (Keras, TFLite, evaluation, demo, the app's port) measures
through this module, so the full and edge models are judged by the same code.
NumPy and OpenCV only: importing TensorFlow here is a bug (a test enforces it).

Conventions: x is the image column, y the row, pixel centres at integers.
An ellipse is (cx, cy, a, b, angle) with a >= b the semi-axes in pixels and
`angle` in [0, pi) the direction of the a-axis, measured from +x towards +y.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class Ellipse:
    """An ellipse in pixel coordinates (see module docstring for conventions)."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float

    def normalized(self) -> "Ellipse":
        """Same ellipse with a >= b and angle in [0, pi)."""
        a, b, angle = self.a, self.b, self.angle
        if b > a:
            a, b, angle = b, a, angle + math.pi / 2
        return Ellipse(self.cx, self.cy, a, b, angle % math.pi)

    def perimeter(self) -> float:
        """Perimeter in pixels (Ramanujan's second approximation)."""
        return ramanujan_perimeter(self.a, self.b)

    def points(self, n: int = 360) -> np.ndarray:
        """(n, 2) points (x, y) evenly spaced in parameter along the outline."""
        t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
        c, s = math.cos(self.angle), math.sin(self.angle)
        ex, ey = self.a * np.cos(t), self.b * np.sin(t)
        return np.stack([self.cx + ex * c - ey * s, self.cy + ex * s + ey * c], axis=1)


def ramanujan_perimeter(a: float, b: float) -> float:
    """Ramanujan's second approximation of the perimeter of semi-axes a, b.

    This is the formula HC18's reference head circumferences were computed with.
    """
    h = ((a - b) / (a + b)) ** 2 if a + b > 0 else 0.0
    return math.pi * (a + b) * (1.0 + 3.0 * h / (10.0 + math.sqrt(4.0 - 3.0 * h)))


def fit_ellipse(points: np.ndarray) -> Optional[Ellipse]:
    """Direct least-squares ellipse fit (Fitzgibbon 1999, Halir & Flusser 1998).

    The points are centred and scaled first, which keeps the scatter matrices
    well conditioned for any image size.

    Args:
      points: (N, 2) array of (x, y), N >= 5.

    Returns:
      The normalized `Ellipse`, or None when the points don't determine one
      (fewer than 5, collinear, or degenerate).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) < 5 or not np.all(np.isfinite(p)):
        return None
    mean = p.mean(axis=0)
    scale = float(np.sqrt(((p - mean) ** 2).sum(axis=1).mean()))
    if scale <= 1e-12:
        return None
    x = (p[:, 0] - mean[0]) / scale
    y = (p[:, 1] - mean[1]) / scale
    d1 = np.stack([x * x, x * y, y * y], axis=1)
    d2 = np.stack([x, y, np.ones_like(x)], axis=1)
    s1, s2, s3 = d1.T @ d1, d1.T @ d2, d2.T @ d2
    try:
        t = -np.linalg.solve(s3, s2.T)
    except np.linalg.LinAlgError:
        return None
    m = s1 + s2 @ t
    m = np.array([m[2] / 2.0, -m[1], m[0] / 2.0])  # C1^-1 @ m
    with np.errstate(all="ignore"):
        evals, evecs = np.linalg.eig(m)
    evecs = np.real(evecs)
    cond = 4.0 * evecs[0] * evecs[2] - evecs[1] ** 2
    ok = np.flatnonzero(cond > 0)
    if ok.size == 0:
        return None
    a1 = evecs[:, ok[np.argmin(np.abs(np.real(evals[ok])))]]
    conic = np.concatenate([a1, t @ a1])
    return _conic_to_ellipse(conic, mean, scale)


def _conic_to_ellipse(conic: np.ndarray, mean: np.ndarray, scale: float
                      ) -> Optional[Ellipse]:
    """Converts A x^2 + B xy + C y^2 + D x + E y + F = 0 (normalized frame)."""
    a_, b_, c_, d_, e_, f_ = conic
    q = np.array([[a_, b_ / 2.0], [b_ / 2.0, c_]])
    det = np.linalg.det(q)
    if not np.isfinite(det) or det <= 0:
        return None
    center = np.linalg.solve(q, -0.5 * np.array([d_, e_]))
    f0 = f_ + 0.5 * (d_ * center[0] + e_ * center[1])
    evals, evecs = np.linalg.eigh(q)
    with np.errstate(all="ignore"):
        axes = np.sqrt(-f0 / evals)
    if not np.all(np.isfinite(axes)) or np.any(axes <= 0):
        return None
    angle = math.atan2(evecs[1, 0], evecs[0, 0])  # direction of axes[0]
    return Ellipse(cx=float(center[0] * scale + mean[0]), cy=float(center[1] * scale + mean[1]),
                   a=float(axes[0] * scale), b=float(axes[1] * scale),
                   angle=angle).normalized()


def ellipse_distance(ellipse: Ellipse, points: np.ndarray) -> np.ndarray:
    """Approximate geometric distance (pixels) of each (x, y) point to the outline.

    First-order (Sampson-like) distance: |f| / |grad f| for the ellipse's
    implicit function in its own frame; accurate near the outline.
    """
    p = np.asarray(points, dtype=np.float64)
    c, s = math.cos(ellipse.angle), math.sin(ellipse.angle)
    dx, dy = p[:, 0] - ellipse.cx, p[:, 1] - ellipse.cy
    u = (dx * c + dy * s) / ellipse.a
    v = (-dx * s + dy * c) / ellipse.b
    f = u * u + v * v - 1.0
    grad = 2.0 * np.sqrt((u / ellipse.a) ** 2 + (v / ellipse.b) ** 2)
    return np.abs(f) / np.maximum(grad, 1e-12)


def rasterize_ellipse(ellipse: Ellipse, shape: Tuple[int, int], filled: bool = True
                      ) -> np.ndarray:
    """Rasterises an ellipse to a uint8 {0,1} mask of `shape` (H, W).

    Filled: pixels whose centre lies inside. Outline: inside pixels with an
    outside 4-neighbour (a closed, 1-pixel-thin, 8-connected curve).
    Parts outside the image are simply clipped.
    """
    h, w = int(shape[0]), int(shape[1])
    ys, xs = np.mgrid[0:h, 0:w]
    c, s = math.cos(ellipse.angle), math.sin(ellipse.angle)
    dx, dy = xs - ellipse.cx, ys - ellipse.cy
    u = (dx * c + dy * s) / max(ellipse.a, 1e-12)
    v = (-dx * s + dy * c) / max(ellipse.b, 1e-12)
    inside = (u * u + v * v) <= 1.0
    if filled:
        return inside.astype(np.uint8)
    padded = np.pad(inside, 1, mode="edge")  # the image border is not an outline
    interior = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return (inside & ~interior).astype(np.uint8)


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


def _longest_circular_run(flags: np.ndarray) -> int:
    if flags.all():
        return len(flags)
    doubled = np.concatenate([flags, flags]).astype(np.int8)
    best = run = 0
    for f in doubled:
        run = run + 1 if f else 0
        best = max(best, run)
    return min(best, len(flags))
