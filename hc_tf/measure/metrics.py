"""Metrics: Dice, Hausdorff distance of ellipse outlines, HC18's DF/ADF, and the head-size
bands every accuracy and coverage table is split by."""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.geometry import distance_to_outline
from hc_tf.measure.pixel_size import positive_pixel_size

# Bands by the reference HC (mm): the model card's, evaluate's, cv_report's and the interval
# calibration's tables. Large heads err most in mm (~1% of HC), so one mean hides them.
HEAD_SIZE_BANDS_MM = (120.0, 200.0, 260.0)
HEAD_SIZE_BAND_LABELS = ("<120", "120-200", "200-260", ">260")


def head_size_band(hc_mm: float) -> str:
    """The band of an HC: "<120", "120-200", "200-260" or ">260" (an edge opens the band
    above it: 260.0 is ">260", as the interval calibration has always counted it)."""
    return HEAD_SIZE_BAND_LABELS[sum(edge <= float(hc_mm) for edge in HEAD_SIZE_BANDS_MM)]


def dice(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    """Dice overlap of two masks (non-zero = foreground); both empty -> 1.0.

    Raises:
      ValueError: when the shapes differ.
    """
    a, b = np.asarray(mask_a) != 0, np.asarray(mask_b) != 0
    if a.shape != b.shape:
        raise ValueError(f"dice: mask shapes differ, {a.shape} vs {b.shape}")
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total



def hausdorff_mm(pred: Ellipse, ref: Ellipse, pixel_size_mm: float, n: int = 720) -> float:
    """Symmetric Hausdorff distance between two ellipse outlines, in mm.

    Each outline is sampled at `n` points evenly spaced in parameter, and each
    sample's exact distance to the other (continuous) outline is taken, so the
    only approximation is the sup over `n` samples.

    Raises:
      ValueError: for a bad pixel size or n < 8.
    """
    px = positive_pixel_size(pixel_size_mm)
    if int(n) < 8:
        raise ValueError(f"hausdorff_mm needs n >= 8 samples, got {n}")
    d_pr = distance_to_outline(ref, pred.points(int(n)), n_init=int(n))
    d_rp = distance_to_outline(pred, ref.points(int(n)), n_init=int(n))
    return float(max(d_pr.max(), d_rp.max())) * px


def hc_difference_mm(pred_hc: float, ref_hc: float) -> Tuple[float, float]:
    """HC18's difference (DF = pred - ref) and absolute difference (ADF), in mm.

    Raises:
      ValueError: when either value is missing or not finite.
    """
    try:
        p, r = float(pred_hc), float(ref_hc)
    except (TypeError, ValueError):
        raise ValueError(f"HC values must be numbers, got {pred_hc!r}, {ref_hc!r}") from None
    if not (math.isfinite(p) and math.isfinite(r)):
        raise ValueError(f"HC values must be finite, got {pred_hc!r}, {ref_hc!r}")
    return p - r, abs(p - r)


def challenge_difference_mm(pred_hc: Optional[float], ref_hc: float) -> Tuple[float, float]:
    """HC18's DF and ADF under the challenge's rule for a miss, the project's one ADF.

    A not-found image (`pred_hc` None) counts as a predicted HC of 0 mm, as its
    all-zero submission row is scored: DF = -reference, ADF = reference. So a
    model cannot look better by finding fewer heads.

    Args:
      pred_hc: the predicted HC in mm, or None when no head was found.
      ref_hc: the reference HC in mm.

    Returns:
      (DF, ADF) in mm.

    Raises:
      ValueError: when a value is not a finite number.
    """
    return hc_difference_mm(0.0 if pred_hc is None else pred_hc, ref_hc)

