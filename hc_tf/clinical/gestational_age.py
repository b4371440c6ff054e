"""Gestational age from HC alone: Hadlock 1984 and INTERGROWTH-21st (2016), each only
within the GA range it was derived on (outside it: `Status.OUT_OF_RANGE`, no number)."""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Optional, Tuple, Union

from hc_tf.clinical.units import (HC_DECIMALS, Status, check_positive, days_to_weeks, format_ga,
                                  format_outside, weeks_to_days)


class GaMethod(str, enum.Enum):
    """Published formulas for GA from HC alone."""

    HADLOCK_1984 = "hadlock_1984"
    INTERGROWTH_2016 = "intergrowth21_hc_2016"


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


# The bare INTERGROWTH equation's exponent passes a float's range (exp(709.78)) near 4.8 m;
# 1000 mm keeps every HC the bisection below visits, far below that.
_EQUATION_MAX_HC_MM = 1000.0


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
    if not 0.0 < h <= _EQUATION_MAX_HC_MM:  # log needs HC > 0; exp overflows a float above
        raise ValueError(f"HC {h!r} mm is outside 0-{_EQUATION_MAX_HC_MM:g} mm, where the "
                         f"INTERGROWTH-21st equation can be evaluated")
    return math.exp(0.05970 * math.log(h) ** 2 + 6.409e-9 * h ** 3 + 3.3258)


def _ga_days(method: GaMethod, hc_mm: float) -> float:
    if method is GaMethod.HADLOCK_1984:
        return weeks_to_days(hadlock_ga_weeks(hc_mm))
    return intergrowth_ga_days(hc_mm)


def valid_ga_days(method: GaMethod) -> Tuple[float, float]:
    """GA span (days, inclusive) that `method` was derived on."""
    if method is GaMethod.HADLOCK_1984:
        return (weeks_to_days(HADLOCK_GA_WEEKS[0]), weeks_to_days(HADLOCK_GA_WEEKS[1]))
    return INTERGROWTH_GA_DAYS


def _bracket(method: GaMethod, ga_days: float) -> Tuple[float, float]:
    """(lo, hi), neighbouring HCs with GA(lo) < ga_days <= GA(hi), by bisection: both formulas
    increase with HC on 1-1000 mm."""
    lo, hi = 1.0, 1000.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if _ga_days(method, mid) < ga_days:
            lo = mid
        else:
            hi = mid
    return lo, hi


def hc_at_ga_days(method: GaMethod, ga_days: float) -> float:
    """HC (mm) giving `ga_days`, by bisection: both formulas increase with HC on 1-1000 mm."""
    lo, hi = _bracket(method, ga_days)
    return 0.5 * (lo + hi)


def _valid_hc(method: GaMethod) -> Tuple[float, float]:
    """The first and the last HC whose GA is in the formula's GA range (inclusive bounds that
    `ga_from_hc` accepts: a bisection's midpoint could lie a bit outside)."""
    lo_ga, hi_ga = valid_ga_days(method)
    below, above = _bracket(method, hi_ga)
    return _bracket(method, lo_ga)[1], above if _ga_days(method, above) <= hi_ga else below


# HC spans equivalent to each GA range (monotone formulas): Hadlock 89.37-357.66 mm,
# INTERGROWTH 97.68-237.62 mm (docs/clinical.md rounds inwards: every HC it names is in range).
_VALID_HC_MM = {m: _valid_hc(m) for m in GaMethod}


# Relative; the GA range decides at the edges. Covers the bundle metadata's 3-decimal HC bounds
# (the JS port checks against those), far inside where any formula misbehaves.
_EDGE_SLACK = 1e-3


def valid_hc_range_mm(method: GaMethod) -> Tuple[float, float]:
    """Inclusive HC span (mm) over which `method` returns a GA."""
    return _VALID_HC_MM[GaMethod(method)]


def ga_source(method: GaMethod) -> str:
    """Citation of the paper behind `method`."""
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
    hc = check_positive(hc_mm, "HC (mm)")
    try:
        m = GaMethod(method)
    except ValueError:
        raise ValueError(f"unknown GA method {method!r}; use one of "
                         f"{[x.value for x in GaMethod]}") from None
    lo_hc, hi_hc = _VALID_HC_MM[m]
    valid_ga = valid_ga_days(m)
    # The HC range first, before any formula (an HC of metres overflows INTERGROWTH's exp);
    # its bounds come from a bisection, so the GA range stays the definition at the edges.
    inside_hc = lo_hc * (1 - _EDGE_SLACK) <= hc <= hi_hc * (1 + _EDGE_SLACK)
    ga = _ga_days(m, hc) if inside_hc else math.nan
    if not valid_ga[0] <= ga <= valid_ga[1]:
        return GaEstimate(
            m, hc, Status.OUT_OF_RANGE, None, None, (lo_hc, hi_hc), valid_ga, ga_source(m),
            "out of range: HC {} mm is outside {}-{} mm".format(
                *format_outside(hc, lo_hc, hi_hc, HC_DECIMALS))
            + f", where {_short_name(m)} applies "
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

