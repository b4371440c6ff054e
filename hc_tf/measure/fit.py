"""Fitting ellipses to points: direct least squares, outlier rejection, geometric refinement.

NumPy only. `fit_ellipse` is the algebraic fit (Fitzgibbon / Halir & Flusser),
`robust_fit_ellipse` the one `measure` uses: rejection rounds, then
`refine_ellipse`'s Levenberg-Marquardt on orthogonal distances.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.geometry import ellipse_distance

# Outlier rejection in `robust_fit_ellipse`: rounds, and the margin in robust SDs (MADs).
OUTLIER_ROUNDS = 2
OUTLIER_MADS = 3.0


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



def robust_fit_ellipse(points: np.ndarray, floor_px: float = 1.0,
                       rounds: int = OUTLIER_ROUNDS) -> Optional[Ellipse]:
    """`fit_ellipse`, up to `rounds` refits without outlying points, then `refine_ellipse`.

    A point is an outlier when its distance to the fit exceeds
    median + max(3 * 1.4826 * MAD, floor_px): robust to a few stray points
    (a speck merged into the mask, a filled notch), while a clean outline, whose
    spread is well under `floor_px`, keeps every point.

    Args:
      points: (N, 2) (x, y).
      floor_px: smallest rejection margin above the median distance, in the
        points' units (about one pixel of the grid they came from).
      rounds: at most this many rejection rounds.

    Returns:
      The ellipse, or None when no fit exists.
    """
    pts = np.asarray(points, dtype=np.float64)
    e = fit_ellipse(pts)
    for _ in range(rounds):
        if e is None:
            return None
        d = ellipse_distance(e, pts)
        med = float(np.median(d))
        mad = float(np.median(np.abs(d - med)))
        keep = d <= med + max(OUTLIER_MADS * 1.4826 * mad, floor_px)
        if keep.all() or keep.sum() < max(5, len(pts) // 2):
            break
        pts = pts[keep]
        e = fit_ellipse(pts) or e
    return refine_ellipse(e, pts) if e is not None else None


def _foot_parameters(e: Ellipse, u: np.ndarray, v: np.ndarray, t: np.ndarray,
                     steps: int = 4) -> np.ndarray:
    """Newton steps towards each point's nearest-outline parameter t (ellipse frame u, v)."""
    a, b = e.a, e.b
    for _ in range(steps):
        ct, st = np.cos(t), np.sin(t)
        ex, ey = u - a * ct, v - b * st
        g = ex * a * st - ey * b * ct
        h = (a * st) ** 2 + (b * ct) ** 2 + ex * a * ct + ey * b * st
        # h > 0 near the outline; the clip keeps a far outlier's step bounded.
        t = t - np.clip(g / np.maximum(h, 1e-12), -0.5, 0.5)
    return t


def _geometric_residuals(e: Ellipse, p: np.ndarray, t: np.ndarray, steps: int = 1
                         ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signed orthogonal distances, their Jacobian wrt (cx, cy, a, b, angle), foot t)."""
    c, s = math.cos(e.angle), math.sin(e.angle)
    dx, dy = p[:, 0] - e.cx, p[:, 1] - e.cy
    u, v = dx * c + dy * s, -dx * s + dy * c
    t = _foot_parameters(e, u, v, t, steps)
    ct, st = np.cos(t), np.sin(t)
    nu, nv = e.b * ct, e.a * st  # outward normal at the foot, ellipse frame
    norm = np.maximum(np.hypot(nu, nv), 1e-12)
    nu, nv = nu / norm, nv / norm
    r = (u - e.a * ct) * nu + (v - e.b * st) * nv
    # d r / d param = -n . d E(t) / d param, with t held at the foot (it is stationary there).
    nx, ny = nu * c - nv * s, nu * s + nv * c  # normal in image frame
    jac = -np.stack([nx, ny, ct * nu, st * nv,
                     -e.b * st * nu + e.a * ct * nv], axis=1)  # d/dangle: rotate (a ct, b st)
    return r, jac, t


def refine_ellipse(ellipse: Ellipse, points: np.ndarray, iterations: int = 8) -> Ellipse:
    """Refines a fit by Levenberg-Marquardt on the orthogonal point-outline distances.

    The algebraic (direct least-squares) fit shrinks towards small ellipses on
    noisy partial arcs, e.g. heads running off the image; the geometric fit is the
    maximum-likelihood one under isotropic noise and removes that bias. A step is
    taken only when it lowers the squared distances, so this never gets worse.

    Args:
      ellipse: the starting fit.
      points: (N, 2) (x, y), N >= 5.
      iterations: at most this many accepted or rejected steps.

    Returns:
      The refined, normalized `Ellipse` (the input when no step helps).
    """
    p = np.asarray(points, dtype=np.float64)
    e = ellipse
    if len(p) < 5 or e.b <= 0:
        return e
    c, s = math.cos(e.angle), math.sin(e.angle)
    dx, dy = p[:, 0] - e.cx, p[:, 1] - e.cy
    t = np.arctan2((-dx * s + dy * c) / e.b, (dx * c + dy * s) / e.a)
    r, jac, t = _geometric_residuals(e, p, t, steps=3)  # later calls start from nearby feet
    cost, lam = float(r @ r), 1e-3
    for _ in range(iterations):
        jtj, jtr = jac.T @ jac, jac.T @ r
        try:
            delta = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-9), -jtr)
        except np.linalg.LinAlgError:
            break
        cand = Ellipse(float(e.cx + delta[0]), float(e.cy + delta[1]), float(e.a + delta[2]),
                       float(e.b + delta[3]), float(e.angle + delta[4]))  # floats, not np.float64
        if not (cand.a > 0 and cand.b > 0 and np.all(np.isfinite(delta))):
            lam *= 10.0
            continue
        r2, jac2, t2 = _geometric_residuals(cand, p, t)
        cost2 = float(r2 @ r2)
        if cost2 < cost:
            e, r, jac, t, lam = cand, r2, jac2, t2, lam * 0.3
            if cost - cost2 < 1e-6 * cost:  # converged: far below pixel noise
                break
            cost = cost2
        else:
            lam *= 10.0
    return e.normalized()

