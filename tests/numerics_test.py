"""Numerical edge cases where the Python measurement and its JS port must agree
(web_app/test/numerics.test.js holds the same cases for the port)."""

import numpy as np

from hc_tf import measure as M


def _tie_map():
    """64x64: an ellipse of exactly float32(0.3) around a core of 1.0."""
    yy, xx = np.mgrid[0:64, 0:64]
    p = np.zeros((64, 64), np.float32)
    p[((xx - 32) / 20) ** 2 + ((yy - 30) / 14) ** 2 <= 1] = np.float32(0.3)
    p[((xx - 32) / 14) ** 2 + ((yy - 30) / 9) ** 2 <= 1] = 1.0
    return p


def test_threshold_compares_in_float64_like_the_port():
    # float32(0.3) > 0.3 as doubles: the ring is foreground at threshold 0.3 (a float32
    # comparison, NumPy's default for a Python float, called it equal and dropped it).
    m = M.measure(_tie_map(), None, 0.1, threshold=0.3)
    assert m.found
    assert abs(m.hc_mm - 10.53064005863159) <= 1e-12
