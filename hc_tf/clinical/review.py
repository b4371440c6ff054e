"""The review flag: whether a measurement's quality signals call for a second look, and why."""

from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Tuple

from hc_tf.clinical.units import check_real

@dataclasses.dataclass(frozen=True)
class QualitySignals:
    """Quality signals of one measurement, as plain numbers; None = not computed (skipped).

    The measurement module computes them (definitions it must follow):
    fit_rms_frac: RMS geometric distance of the boundary points to the fitted ellipse, divided
        by the ellipse's mean semi-axis (a + b) / 2. Ragged or non-elliptic outline -> high.
    inlier_fraction: share of boundary points the robust fit kept as inliers, 0..1.
    mask_ellipse_dice: Dice between the predicted mask and the filled fitted ellipse, 0..1,
        counted inside the image only (never in letterbox padding).
    uncertain_band_fraction: share of pixels in a band around the fitted outline with
        probability in (0.1, 0.9), 0..1. A blurred, unclear boundary -> high.
    outside_fraction: share of the ellipse perimeter outside the image (or ultrasound fan),
        0..1. A head cut by the edge -> high.
    hc_mm: the measured HC in mm.
    flip_rel_diff: |HC - HC of the horizontally flipped image| / HC (optional second run;
        ~0 by construction for a model with flip TTA inside, such as the released one).
    A NaN means the signal could not be computed and is itself a reason to review.
    """

    fit_rms_frac: Optional[float] = None
    inlier_fraction: Optional[float] = None
    mask_ellipse_dice: Optional[float] = None
    uncertain_band_fraction: Optional[float] = None
    outside_fraction: Optional[float] = None
    hc_mm: Optional[float] = None
    flip_rel_diff: Optional[float] = None


@dataclasses.dataclass(frozen=True)
class ReviewThresholds:
    """Limits beyond which a measurement is flagged for review.

    Calibrated for the released model (trained on every labelled image) on its recipe's
    out-of-fold predictions: each of the 896 labelled images measured by the int8 model of the
    fold that held it out (`benchmarks/review_flag_calibration.py --predictions`; figures in
    export/README.md, "Review flag"). `min_inlier_fraction` and `max_uncertain_band_fraction`
    are the pair the search chose (`CALIBRATED_SIGNALS`; flag <= 10% of images, most images
    with |HC error| > 5 mm caught); the other limits are guards against gross failures, set
    beyond every value the pair leaves unflagged (so they add no flag there): a cut, blurred
    or ragged head.
    """

    max_fit_rms_frac: float = 0.03       # guard (unflagged max 0.0256)
    min_inlier_fraction: float = 0.5608  # calibrated (out-of-fold 5th centile)
    min_mask_ellipse_dice: float = 0.98  # guard (unflagged min 0.9822)
    max_uncertain_band_fraction: float = 0.4037  # calibrated (out-of-fold 95th centile)
    max_outside_fraction: float = 0.10   # guard (out-of-fold max 0.12, on a flagged image)
    # Loose bounds for any fetal head on 2D ultrasound (HC18 spans ~45-350 mm), not clinical
    # limits: outside them the "head" is almost surely something else.
    min_hc_mm: float = 40.0
    max_hc_mm: float = 400.0
    max_flip_rel_diff: float = 0.03


DEFAULT_REVIEW_THRESHOLDS = ReviewThresholds()
# The signals whose limits the calibration chose (the rest are guards), named once here for
# the risk-coverage benchmark: (signal, ReviewThresholds field, +1 flags high values, -1 low).
CALIBRATED_SIGNALS = (("inlier_fraction", "min_inlier_fraction", -1),
                      ("uncertain_band_fraction", "max_uncertain_band_fraction", +1))

# Short reasons, fixed wording (reports, overlays, the app's port match on them).
REASON_RAGGED = "ragged outline (poor ellipse fit)"
REASON_FEW_INLIERS = "few boundary points fit the ellipse"
REASON_MASK_MISMATCH = "mask does not match its ellipse"
REASON_UNCLEAR = "boundary unclear"
REASON_CUT = "head cut by the image edge"
REASON_HC_RANGE = "HC outside the range of fetal heads"
REASON_FLIP = "HC changes when the image is flipped"
REASON_MISSING = "{} could not be computed"

_FRACTIONS = ("inlier_fraction", "mask_ellipse_dice", "uncertain_band_fraction",
              "outside_fraction")


def review_flag(signals: QualitySignals,
                thresholds: ReviewThresholds = DEFAULT_REVIEW_THRESHOLDS) -> Tuple[bool, List[str]]:
    """Whether a measurement needs a second look, and why.

    Args:
        signals: the measurement's QualitySignals (None fields are skipped).
        thresholds: limits (defaults calibrated on the validation split, see ReviewThresholds).

    Returns:
        (review, reasons): review is True iff reasons is non-empty; reasons are the REASON_*
        strings in a fixed order (field order of QualitySignals).

    Raises:
        ValueError: a signal is not a number, is infinite, is negative, or a 0..1 fraction
            exceeds 1 (a bug upstream, not a doubtful image).
    """
    if not isinstance(signals, QualitySignals):
        raise ValueError(f"signals must be a QualitySignals, got {type(signals).__name__}")
    vals = {}
    for f in dataclasses.fields(QualitySignals):
        v = getattr(signals, f.name)
        if v is None:
            continue
        x = check_real(v, f.name)
        if math.isinf(x) or x < 0:
            raise ValueError(f"quality signal {f.name} must be finite and >= 0, got {v!r}")
        if f.name in _FRACTIONS and x > 1.0:
            raise ValueError(f"quality signal {f.name} is a fraction (0..1), got {v!r}")
        vals[f.name] = x

    t = thresholds
    checks = (  # (field, is_bad(x), reason); NaN compares False, so it is handled below
        ("fit_rms_frac", lambda x: x > t.max_fit_rms_frac, REASON_RAGGED),
        ("inlier_fraction", lambda x: x < t.min_inlier_fraction, REASON_FEW_INLIERS),
        ("mask_ellipse_dice", lambda x: x < t.min_mask_ellipse_dice, REASON_MASK_MISMATCH),
        ("uncertain_band_fraction", lambda x: x > t.max_uncertain_band_fraction, REASON_UNCLEAR),
        ("outside_fraction", lambda x: x > t.max_outside_fraction, REASON_CUT),
        ("hc_mm", lambda x: not t.min_hc_mm <= x <= t.max_hc_mm, REASON_HC_RANGE),
        ("flip_rel_diff", lambda x: x > t.max_flip_rel_diff, REASON_FLIP),
    )
    reasons: List[str] = []
    for name, bad, reason in checks:
        if name not in vals:
            continue
        x = vals[name]
        if math.isnan(x):
            reasons.append(REASON_MISSING.format(name.replace("_", " ")))
        elif bad(x):
            reasons.append(reason)
    return bool(reasons), reasons

