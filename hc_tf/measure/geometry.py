"""Ellipse geometry: the `Ellipse` type, its perimeter, distances and raster.

Conventions: x is the image column, y the row, pixel centres at integers.
An ellipse is (cx, cy, a, b, angle) with a >= b the semi-axes in pixels and
`angle` in [0, pi) the direction of the a-axis, measured from +x towards +y.
NumPy only: an app ports this module as it is.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Tuple

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
        return Ellipse(self.cx, self.cy, a, b, wrap_pi(angle))

    def perimeter(self) -> float:
        """Perimeter in pixels (Ramanujan's second approximation)."""
        return ramanujan_perimeter(self.a, self.b)

    def points(self, n: int = 360) -> np.ndarray:
        """(n, 2) points (x, y) evenly spaced in parameter along the outline."""
        t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
        c, s = math.cos(self.angle), math.sin(self.angle)
        ex, ey = self.a * np.cos(t), self.b * np.sin(t)
        return np.stack([self.cx + ex * c - ey * s, self.cy + ex * s + ey * c], axis=1)


def wrap_pi(angle: float) -> float:
    """`angle` mod pi in [0, pi).

    Args:
      angle: radians.

    Returns:
      The angle in [0, pi); `%` alone can return pi itself for a tiny negative.
    """
    r = float(angle) % math.pi
    return 0.0 if r >= math.pi else r


def is_real(value) -> bool:
    """A real number (int, float, a NumPy number), not a bool, a string or None: what the
    measurement's numeric arguments may be, as the app checks them."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def real_number(value, name: str) -> float:
    """float(value) for a real number (`is_real`).

    Raises:
      ValueError: naming `name`, for anything else.
    """
    if not is_real(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def ramanujan_perimeter(a: float, b: float) -> float:
    """Ramanujan's second approximation of the perimeter of semi-axes a, b.

    This is the formula HC18's reference head circumferences were computed with.

    Raises:
      ValueError: a or b not a finite number >= 0.
    """
    for name, v in (("a", a), ("b", b)):
        if not (is_real(v) and 0.0 <= v < math.inf):
            raise ValueError(f"semi-axis {name} must be a finite number >= 0, got {v!r}")
    a, b = float(a), float(b)
    h = ((a - b) / (a + b)) ** 2 if a + b > 0 else 0.0
    return math.pi * (a + b) * (1.0 + 3.0 * h / (10.0 + math.sqrt(4.0 - 3.0 * h)))



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



def distance_to_outline(ellipse: Ellipse, points: np.ndarray, n_init: int = 720) -> np.ndarray:
    """Euclidean distance (pixels) of each (x, y) point to the ellipse outline.

    The nearest of `n_init` outline samples, refined by Newton steps on the
    outline parameter; the refinement is kept only where it is closer, so the
    result is never worse than dense sampling and typically exact to ~1e-9 px.

    Args:
      ellipse: the outline.
      points: (N, 2) (x, y).
      n_init: outline samples for the initial guess.

    Returns:
      (N,) distances.
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    c, s = math.cos(ellipse.angle), math.sin(ellipse.angle)
    dx, dy = p[:, 0] - ellipse.cx, p[:, 1] - ellipse.cy
    u, v = dx * c + dy * s, -dx * s + dy * c  # ellipse frame
    a, b = ellipse.a, ellipse.b
    t0 = np.linspace(0.0, 2.0 * math.pi, n_init, endpoint=False)
    coarse = (u[:, None] - a * np.cos(t0)) ** 2 + (v[:, None] - b * np.sin(t0)) ** 2
    best = np.argmin(coarse, axis=1)
    d_coarse = np.sqrt(coarse[np.arange(len(p)), best])
    t = t0[best]
    step_max = 2.0 * math.pi / n_init
    for _ in range(6):
        ct, st = np.cos(t), np.sin(t)
        ex, ey = u - a * ct, v - b * st  # point minus outline point
        g = ex * a * st - ey * b * ct  # d/dt of |P - E(t)|^2 / 2
        h = (a * st) ** 2 + (b * ct) ** 2 + ex * a * ct + ey * b * st
        t = t - np.clip(g / np.where(np.abs(h) > 1e-12, h, 1e-12), -step_max, step_max)
    d_newton = np.hypot(u - a * np.cos(t), v - b * np.sin(t))
    return np.minimum(d_coarse, d_newton)

