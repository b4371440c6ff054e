"""Clinical read-outs of a head circumference: gestational age, growth centile, review flag.

NumPy and the standard library only (no TensorFlow, OpenCV or SciPy), so the CLI, the demo
and the app's port can all use it. Sources, ranges and check values: `docs/clinical.md`.

Units live here and nowhere else:
- HC in millimetres (float) at every entry point.
- GA in days (float) inside results; GA entered by a user in weeks (float, "exact weeks")
  or as "weeks+days" text ("27+3"); shown as "weeks+days" with days rounded to the nearest
  whole day (`format_ga`).
- Outside the range a formula or standard was derived on, a result has status
  `Status.OUT_OF_RANGE` and no number: an extrapolated GA or centile means nothing.
- Bad input (NaN, infinite, non-positive or non-numeric HC; unreadable GA, GA outside
  10-45 weeks) raises ValueError with a message that can be shown as it is.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import numbers
import re
from typing import List, Optional, Tuple, Union

import numpy as np

GaInput = Union[float, int, str]

DAYS_PER_WEEK = 7
# A GA typed by a user outside this span is a typing error, not a pregnancy (issue 14).
GA_INPUT_WEEKS = (10.0, 45.0)

HC_DECIMALS = 1        # mm, as the INTERGROWTH-21st tables print HC
Z_DECIMALS = 2
CENTILE_DECIMALS = 1


class Status(str, enum.Enum):
    """Whether a result is a number or out of the source's range (str: JSON-ready)."""

    OK = "ok"
    OUT_OF_RANGE = "out_of_range"


class GaMethod(str, enum.Enum):
    """Published formulas for GA from HC alone."""

    HADLOCK_1984 = "hadlock_1984"
    INTERGROWTH_2016 = "intergrowth21_hc_2016"


# --- units, rounding, display -------------------------------------------------------------

def weeks_to_days(weeks: float) -> float:
    """GA in weeks (float) to days (float)."""
    return float(weeks) * DAYS_PER_WEEK


def days_to_weeks(days: float) -> float:
    """GA in days (float) to weeks (float)."""
    return float(days) / DAYS_PER_WEEK


def round_ga_days(days: float) -> int:
    """Nearest whole day, halves up (Python's round() would send 189.5 to 190 but 188.5 to 188).

    Raises:
        ValueError: `days` is NaN, infinite or negative.
    """
    d = _finite(days, "GA (days)")
    if d < 0:
        raise ValueError(f"GA must not be negative, got {d!r} days")
    return int(math.floor(d + 0.5))


def format_ga(days: float) -> str:
    """GA as "weeks+days", e.g. 192.0 -> "27+3" (days rounded to the nearest whole day).

    Raises:
        ValueError: `days` is NaN, infinite or negative.
    """
    total = round_ga_days(days)
    return f"{total // DAYS_PER_WEEK}+{total % DAYS_PER_WEEK}"


def format_hc_mm(hc_mm: float) -> str:
    """HC for display, e.g. "185.3 mm"."""
    return f"{_finite(hc_mm, 'HC'):.{HC_DECIMALS}f} mm"


def format_z(z: float) -> str:
    """z-score for display with its sign, e.g. "-1.23"."""
    return f"{_finite(z, 'z-score'):+.{Z_DECIMALS}f}"


def format_centile(centile: float) -> str:
    """Centile for display; never "0.0" or "100.0", which would read as certainty."""
    c = _finite(centile, "centile")
    lo = 10.0 ** -CENTILE_DECIMALS
    if c < lo:
        return f"<{lo:.{CENTILE_DECIMALS}f}"
    if c > 100.0 - lo:
        return f">{100.0 - lo:.{CENTILE_DECIMALS}f}"
    return f"{c:.{CENTILE_DECIMALS}f}"


_WEEKS_DAYS = re.compile(r"^\s*(\d{1,2})\s*\+\s*([0-6])\s*$")


def parse_ga_weeks(value: GaInput) -> float:
    """A GA as entered (LMP or dating scan) -> weeks (float).

    Args:
        value: weeks as a number (27.5) or text ("27.5"), or "weeks+days" text ("27+3").

    Returns:
        GA in weeks.

    Raises:
        ValueError: not a number or "W+D" with D in 0..6, NaN/infinite, or outside
            10-45 weeks (`GA_INPUT_WEEKS`).
    """
    if isinstance(value, str):
        m = _WEEKS_DAYS.match(value)
        if m:
            weeks = int(m.group(1)) + int(m.group(2)) / DAYS_PER_WEEK
        else:
            try:
                weeks = float(value)
            except ValueError:
                raise ValueError(
                    f"GA {value!r} is not a number of weeks or 'weeks+days' (e.g. 27+3)") from None
    else:
        weeks = _finite(value, "GA (weeks)")
    if not math.isfinite(weeks):
        raise ValueError(f"GA must be a finite number of weeks, got {value!r}")
    lo, hi = GA_INPUT_WEEKS
    if not lo <= weeks <= hi:
        raise ValueError(f"GA {weeks:.2f} weeks is outside {lo:g}-{hi:g} weeks: check the entry")
    return weeks


# --- GA from HC ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GaUncertainty:
    """The uncertainty a source publishes for a GA it estimates.

    plus_minus_days: half-width in days, or None where the source publishes no value for
        this estimate (then `text` says what it does publish, if anything).
    kind: what the half-width is, e.g. "2 SD" or "none published".
    text: one line for a report, naming the source.
    """

    plus_minus_days: Optional[float]
    kind: str
    text: str


@dataclasses.dataclass(frozen=True)
class GaEstimate:
    """GA from one HC by one formula.

    ga_days is None unless status is OK; `message` then says why (for display as is).
    valid_hc_mm is the HC span matching the formula's GA range (inclusive).
    """

    method: GaMethod
    hc_mm: float
    status: Status
    ga_days: Optional[float]
    uncertainty: Optional[GaUncertainty]
    valid_hc_mm: Tuple[float, float]
    valid_ga_days: Tuple[float, float]
    source: str
    message: str = ""

    @property
    def ga_weeks(self) -> Optional[float]:
        """GA in weeks (float), None when out of range."""
        return None if self.ga_days is None else days_to_weeks(self.ga_days)

    def display(self) -> str:
        """e.g. "20+1 (±1.5 wk, 2 SD)", or the out-of-range message."""
        if self.ga_days is None:
            return self.message
        u = self.uncertainty
        if u is None or u.plus_minus_days is None:
            return f"{format_ga(self.ga_days)} (uncertainty: {u.kind if u else 'none published'})"
        return f"{format_ga(self.ga_days)} (±{days_to_weeks(u.plus_minus_days):.1f} wk, {u.kind})"


HADLOCK_SOURCE = ("Hadlock FP, Deter RL, Harrist RB, Park SK. Estimating fetal age: "
                  "computer-assisted analysis of multiple fetal growth parameters. "
                  "Radiology 1984;152:497-501")
INTERGROWTH_GA_SOURCE = ("Papageorghiou AT et al. Ultrasound-based gestational age estimation in "
                         "late pregnancy. Ultrasound Obstet Gynecol 2016;48:719-726 "
                         "(HC-only equation)")

# Derivation range: Hadlock's cross-sectional sample was 14 to 42 menstrual weeks (abstract).
HADLOCK_GA_WEEKS = (14.0, 42.0)
# Hadlock 1984, variability (±2 SD, weeks) of menstrual age predicted from HC alone, by 6-week
# interval of menstrual age. The 12-18 interval also covers 14-18, the part of it in range.
HADLOCK_2SD_WEEKS = ((12.0, 18.0, 1.19), (18.0, 24.0, 1.48), (24.0, 30.0, 2.06),
                     (30.0, 36.0, 2.98), (36.0, 42.0, 2.70))
# INTERGROWTH-21st HC-only dating is for an HC measured 98-181 days (14+0 to 25+6 weeks) since
# the LMP, the window of the scans it was derived on (as gigs documents ig_fet_estimate_ga).
INTERGROWTH_GA_DAYS = (98.0, 181.0)
INTERGROWTH_PI_TEXT = ("no per-estimate value published; the paper reports a 95% prediction "
                        "interval of about 6-7 days at 14 weeks and 12-14 days at 26 weeks "
                        "(Papageorghiou 2016)")


def hadlock_ga_weeks(hc_mm: float) -> float:
    """Hadlock 1984 HC formula, unchecked: GA(weeks) = 8.96 + 0.540*HC + 0.0003*HC^3, HC in cm.

    Prefer `ga_from_hc`, which enforces the range; this is the bare equation (for ports/tests).
    """
    hc_cm = float(hc_mm) / 10.0
    return 8.96 + 0.540 * hc_cm + 0.0003 * hc_cm ** 3


def intergrowth_ga_days(hc_mm: float) -> float:
    """INTERGROWTH-21st HC-only equation, unchecked: GA(days) = exp(0.05970*(ln HC)^2
    + 6.409e-9*HC^3 + 3.3258), HC in mm. Prefer `ga_from_hc`, which enforces the range."""
    h = float(hc_mm)
    return math.exp(0.05970 * math.log(h) ** 2 + 6.409e-9 * h ** 3 + 3.3258)


def _ga_days(method: GaMethod, hc_mm: float) -> float:
    if method is GaMethod.HADLOCK_1984:
        return weeks_to_days(hadlock_ga_weeks(hc_mm))
    return intergrowth_ga_days(hc_mm)


def valid_ga_days(method: GaMethod) -> Tuple[float, float]:
    if method is GaMethod.HADLOCK_1984:
        return (weeks_to_days(HADLOCK_GA_WEEKS[0]), weeks_to_days(HADLOCK_GA_WEEKS[1]))
    return INTERGROWTH_GA_DAYS


def hc_at_ga_days(method: GaMethod, ga_days: float) -> float:
    """HC (mm) giving `ga_days`, by bisection: both formulas increase with HC on 1-1000 mm."""
    lo, hi = 1.0, 1000.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _ga_days(method, mid) < ga_days:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


# HC spans equivalent to each GA range (monotone formulas): Hadlock ~89.4-357.7 mm,
# INTERGROWTH ~97.7-237.6 mm.
_VALID_HC_MM = {m: (hc_at_ga_days(m, valid_ga_days(m)[0]), hc_at_ga_days(m, valid_ga_days(m)[1]))
                for m in GaMethod}


def valid_hc_range_mm(method: GaMethod) -> Tuple[float, float]:
    """Inclusive HC span (mm) over which `method` returns a GA."""
    return _VALID_HC_MM[GaMethod(method)]


def ga_source(method: GaMethod) -> str:
    return HADLOCK_SOURCE if method is GaMethod.HADLOCK_1984 else INTERGROWTH_GA_SOURCE


def _uncertainty(method: GaMethod, ga_days: float) -> GaUncertainty:
    if method is GaMethod.INTERGROWTH_2016:
        return GaUncertainty(None, "none published per estimate", INTERGROWTH_PI_TEXT)
    weeks = days_to_weeks(ga_days)
    # First band whose upper end is above the GA; the last band also takes 42+0 itself.
    lo, hi, sd2 = next((b for b in HADLOCK_2SD_WEEKS if weeks < b[1]), HADLOCK_2SD_WEEKS[-1])
    return GaUncertainty(weeks_to_days(sd2), "2 SD",
                         f"±{sd2:.2f} weeks (2 SD) for {lo:g}-{hi:g} weeks, Hadlock 1984")


def ga_from_hc(hc_mm: float, method: Union[GaMethod, str] = GaMethod.HADLOCK_1984) -> GaEstimate:
    """GA implied by an HC, by one published formula, within that formula's range only.

    Args:
        hc_mm: head circumference in mm.
        method: a GaMethod (or its value string).

    Returns:
        GaEstimate: status OK with ga_days and the source's uncertainty, or OUT_OF_RANGE with
        ga_days None and a message naming the valid HC span.

    Raises:
        ValueError: HC not a finite positive number, or unknown method.
    """
    hc = _positive(hc_mm, "HC (mm)")
    try:
        m = GaMethod(method)
    except ValueError:
        raise ValueError(f"unknown GA method {method!r}; use one of "
                         f"{[x.value for x in GaMethod]}") from None
    lo_hc, hi_hc = _VALID_HC_MM[m]
    valid_ga = valid_ga_days(m)
    ga = _ga_days(m, hc)
    if not valid_ga[0] <= ga <= valid_ga[1]:
        return GaEstimate(
            m, hc, Status.OUT_OF_RANGE, None, None, (lo_hc, hi_hc), valid_ga, ga_source(m),
            f"out of range: HC {format_hc_mm(hc)} is outside {lo_hc:.{HC_DECIMALS}f}-"
            f"{hi_hc:.{HC_DECIMALS}f} mm, where {_short_name(m)} applies "
            f"({format_ga(valid_ga[0])} to {format_ga(valid_ga[1])} weeks)")
    return GaEstimate(m, hc, Status.OK, ga, _uncertainty(m, ga), (lo_hc, hi_hc), valid_ga,
                      ga_source(m))


def ga_from_hc_all(hc_mm: float) -> Tuple[GaEstimate, ...]:
    """`ga_from_hc` by every method, in GaMethod order (for reports that show both).

    Raises:
        ValueError: HC not a finite positive number.
    """
    return tuple(ga_from_hc(hc_mm, m) for m in GaMethod)


def _short_name(method: GaMethod) -> str:
    return "Hadlock 1984" if method is GaMethod.HADLOCK_1984 else "INTERGROWTH-21st HC-only"


# --- HC centile for a known GA ------------------------------------------------------------

INTERGROWTH_HC_SOURCE = ("Papageorghiou AT et al. International standards for fetal growth based "
                         "on serial ultrasound measurements: the Fetal Growth Longitudinal Study "
                         "of the INTERGROWTH-21st Project. Lancet 2014;384:869-879")
# The fetal HC standard covers 14+0 to 40+0 exact weeks (its published tables; gigs: 98-280 d).
INTERGROWTH_HC_WEEKS = (14.0, 40.0)
LOW_CENTILE = 3.0     # below: flagged as outside the normal range
HIGH_CENTILE = 97.0   # above: flagged as outside the normal range


def intergrowth_hc_mean_sd(ga_weeks: float) -> Tuple[float, float]:
    """INTERGROWTH-21st fetal HC standard, unchecked: (mean, SD) in mm at GA in exact weeks.

    mean = -28.2849 + 1.69267*GA^2 - 0.397485*GA^2*ln GA
    SD   = 1.98735 + 0.0136772*GA^3 - 0.00726264*GA^3*ln GA + 0.000976253*GA^3*(ln GA)^2
    Prefer `hc_centile`, which enforces the 14-40 week range.
    """
    w = float(ga_weeks)
    lw = math.log(w)
    mean = -28.2849 + 1.69267 * w ** 2 - 0.397485 * w ** 2 * lw
    sd = 1.98735 + 0.0136772 * w ** 3 - 0.00726264 * w ** 3 * lw + 0.000976253 * w ** 3 * lw ** 2
    return mean, sd


@dataclasses.dataclass(frozen=True)
class HcCentile:
    """Where an HC lies on the INTERGROWTH-21st fetal HC standard at a known GA.

    z, centile (0-100), mean_mm, sd_mm are None unless status is OK. `flag` is "below_3rd",
    "above_97th" or None; `outside_normal` is True for either.
    """

    hc_mm: float
    ga_weeks: float
    status: Status
    z: Optional[float]
    centile: Optional[float]
    mean_mm: Optional[float]
    sd_mm: Optional[float]
    flag: Optional[str]
    source: str
    message: str = ""

    @property
    def outside_normal(self) -> bool:
        """True below the 3rd or above the 97th centile."""
        return self.flag is not None

    def display(self) -> str:
        """e.g. "centile 12.3 (z -1.16)", with ", below the 3rd centile" when flagged, or the
        out-of-range message."""
        if self.status is not Status.OK:
            return self.message
        text = f"centile {format_centile(self.centile)} (z {format_z(self.z)})"
        if self.flag == "below_3rd":
            text += ", below the 3rd centile"
        elif self.flag == "above_97th":
            text += ", above the 97th centile"
        return text


def normal_cdf(z: float) -> float:
    """Standard normal CDF via math.erf (no SciPy)."""
    return 0.5 * (1.0 + math.erf(float(z) / math.sqrt(2.0)))


def normal_ppf(p: float) -> float:
    """Inverse standard normal CDF for p in (0, 1), by bisection on `normal_cdf` (to ~1e-12).

    Raises:
        ValueError: p not strictly between 0 and 1.
    """
    q = _finite(p, "probability")
    if not 0.0 < q < 1.0:
        raise ValueError(f"probability must be strictly between 0 and 1, got {q!r}")
    lo, hi = -40.0, 40.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if normal_cdf(mid) < q:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _ga_in_standard(ga: GaInput) -> Tuple[float, bool]:
    weeks = parse_ga_weeks(ga)
    lo, hi = INTERGROWTH_HC_WEEKS
    return weeks, lo <= weeks <= hi


def _standard_range_message(weeks: float) -> str:
    lo, hi = INTERGROWTH_HC_WEEKS
    return (f"out of range: GA {format_ga(weeks_to_days(weeks))} weeks is outside "
            f"{format_ga(weeks_to_days(lo))} to {format_ga(weeks_to_days(hi))} weeks, "
            f"where the INTERGROWTH-21st fetal HC standard applies")


def hc_centile(hc_mm: float, ga: GaInput) -> HcCentile:
    """z-score and centile of an HC for a known GA (INTERGROWTH-21st fetal HC standard).

    Args:
        hc_mm: head circumference in mm.
        ga: GA from the LMP or a dating scan: weeks (27.43) or "weeks+days" ("27+3").

    Returns:
        HcCentile: status OK with z, centile, mean, SD and the below-3rd/above-97th flag,
        or OUT_OF_RANGE (GA outside 14+0 to 40+0 weeks) with those None.

    Raises:
        ValueError: HC not a finite positive number; GA unreadable or outside 10-45 weeks.
    """
    hc = _positive(hc_mm, "HC (mm)")
    weeks, inside = _ga_in_standard(ga)
    if not inside:
        return HcCentile(hc, weeks, Status.OUT_OF_RANGE, None, None, None, None, None,
                         INTERGROWTH_HC_SOURCE, _standard_range_message(weeks))
    mean, sd = intergrowth_hc_mean_sd(weeks)
    z = (hc - mean) / sd
    centile = 100.0 * normal_cdf(z)
    flag = ("below_3rd" if centile < LOW_CENTILE
            else "above_97th" if centile > HIGH_CENTILE else None)
    return HcCentile(hc, weeks, Status.OK, z, centile, mean, sd, flag, INTERGROWTH_HC_SOURCE)


def hc_at_centile(ga: GaInput, centile: float) -> float:
    """HC (mm) at a centile of the INTERGROWTH-21st standard (for charts and checks).

    Args:
        ga: GA in weeks or "weeks+days", within 14+0 to 40+0 weeks.
        centile: strictly between 0 and 100.

    Returns:
        HC in mm.

    Raises:
        ValueError: GA unreadable, outside 10-45 weeks, or outside the standard's 14-40
            weeks (no extrapolated curve); centile not strictly between 0 and 100.
    """
    weeks, inside = _ga_in_standard(ga)
    if not inside:
        raise ValueError(_standard_range_message(weeks))
    c = _finite(centile, "centile")
    if not 0.0 < c < 100.0:
        raise ValueError(f"centile must be strictly between 0 and 100, got {c!r}")
    mean, sd = intergrowth_hc_mean_sd(weeks)
    return mean + normal_ppf(c / 100.0) * sd


# --- review flag on a measurement ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class QualitySignals:
    """Quality signals of one measurement, as plain numbers; None = not computed (skipped).

    The measurement module computes them (definitions it must follow):
    fit_rms_frac: RMS geometric distance of the boundary points to the fitted ellipse, divided
        by the ellipse's mean semi-axis (a + b) / 2. Ragged or non-elliptic outline -> high.
    inlier_fraction: share of boundary points the robust fit kept as inliers, 0..1.
    mask_ellipse_dice: Dice between the predicted mask and the filled fitted ellipse, 0..1.
    uncertain_band_fraction: share of pixels in a band around the fitted outline with
        probability in (0.1, 0.9), 0..1. A blurred, unclear boundary -> high.
    outside_fraction: share of the ellipse perimeter outside the image (or ultrasound fan),
        0..1. A head cut by the edge -> high.
    hc_mm: the measured HC in mm.
    flip_rel_diff: |HC - HC of the horizontally flipped image| / HC (optional second run).
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

    Calibrated for the released model on the validation split only
    (`benchmarks/review_flag_calibration.py`; figures in export/README.md, "Review flag"):
    `max_fit_rms_frac` is the threshold the search chose (flag <= 10% of images, most images
    with |HC error| > 5 mm caught); the other limits are guards against gross failures, set
    beyond every value seen on the 185 validation images (so they flag none of them): a
    cut, blurred or non-elliptic head that validation did not contain.
    """

    max_fit_rms_frac: float = 0.0162     # calibrated (validation 91st centile)
    min_inlier_fraction: float = 0.25    # guard (validation min 0.277)
    min_mask_ellipse_dice: float = 0.95  # guard (validation min 0.975)
    max_uncertain_band_fraction: float = 0.55  # guard (validation max 0.478)
    max_outside_fraction: float = 0.10   # guard (validation max 0: no head cut by the edge)
    # Loose bounds for any fetal head on 2D ultrasound (HC18 spans ~45-350 mm), not clinical
    # limits: outside them the "head" is almost surely something else.
    min_hc_mm: float = 40.0
    max_hc_mm: float = 400.0
    max_flip_rel_diff: float = 0.03


DEFAULT_REVIEW_THRESHOLDS = ReviewThresholds()

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
        x = _real(v, f.name)
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


# --- input checks -------------------------------------------------------------------------

def _real(value: object, name: str) -> float:
    """float(value) for a real number (NaN allowed); bools, strings, None, arrays rejected."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _finite(value: object, name: str) -> float:
    x = _real(value, name)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return x


def _positive(value: object, name: str) -> float:
    x = _finite(value, name)
    if x <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return x
