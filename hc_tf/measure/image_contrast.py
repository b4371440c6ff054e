"""Is there an image to measure? The contrast check on the model input, before any outline.

A blank frame (all black, one gray level, a frozen screen a scanner sends) gives the model
nothing to see, yet it answers with a "head" (HC 98.6 mm on a black 400x270 image, flagged
for review but a number all the same). Such an image is refused with a reason instead. The
check reads the letterboxed model input inside its image area (never the padding), so a
port that reproduces the letterbox byte for byte reproduces the verdict: integers only.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from hc_tf import defaults
from hc_tf import preprocess
from hc_tf.measure import contour


def contrast_levels(model_input: np.ndarray, box: Optional[preprocess.Letterbox],
                    tail_percent: int = defaults.CONTRAST_TAIL_PERCENT) -> Tuple[int, int]:
    """(lo, hi): the gray levels that cut `tail_percent`% of the image area's pixels off each end.

    lo is the smallest level with more than `tail_percent`% of the pixels at or below it, hi the
    largest with more than `tail_percent`% at or above it (so lo <= hi; a few bright caliper
    marks or burnt-in text on a blank frame do not count as contrast).

    Args:
      model_input: the letterboxed uint8 input, (H, W) or (H, W, 1).
      box: its letterbox; None when the input is the image itself.
      tail_percent: the share, in percent, cut off each end (0 < tail_percent < 50).
    """
    x = contour.as_2d(model_input)
    if x.dtype != np.uint8:
        raise ValueError(f"model input must be uint8, got {x.dtype}")
    x0, y0, x1, y1 = contour.valid_rect(box, x.shape)
    counts = np.bincount(x[y0:y1 + 1, x0:x1 + 1].ravel(), minlength=256).astype(np.int64)
    n = int(counts.sum())
    at_or_below = np.cumsum(counts)
    at_or_above = np.cumsum(counts[::-1])[::-1]
    lo = int(np.argmax(100 * at_or_below > tail_percent * n))
    hi = int(np.flatnonzero(100 * at_or_above > tail_percent * n)[-1])
    return lo, hi


def too_uniform_reason(model_input: np.ndarray, box: Optional[preprocess.Letterbox],
                       min_levels: int = defaults.MIN_CONTRAST_LEVELS,
                       tail_percent: int = defaults.CONTRAST_TAIL_PERCENT) -> str:
    """Why the image has too little contrast to measure, or "" when it has enough."""
    lo, hi = contrast_levels(model_input, box, tail_percent)
    if hi - lo >= min_levels:
        return ""
    return (f"image too uniform to measure: {100 - 2 * tail_percent}% of its pixels lie in gray "
            f"levels {lo}-{hi}, a span of {hi - lo} (at least {min_levels} needed): a blank frame?")
