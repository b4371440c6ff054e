"""HC centile and z-score for a known GA on the INTERGROWTH-21st fetal HC standard (14-40 weeks),
and the normal CDF/inverse it needs (math.erfc and bisection: no SciPy)."""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Tuple

from hc_tf.clinical.units import (GaInput, Status, check_finite, check_positive, format_centile,
                                  format_ga, format_outside, format_z, parse_ga_weeks,
                                  weeks_to_days)

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
        limit = {"below_3rd": LOW_CENTILE, "above_97th": HIGH_CENTILE}.get(self.flag)
        text = f"centile {format_centile(self.centile, limit)} (z {format_z(self.z)})"
        if self.flag == "below_3rd":
            text += ", below the 3rd centile"
        elif self.flag == "above_97th":
            text += ", above the 97th centile"
        return text


def normal_cdf(z: float) -> float:
    """Standard normal CDF as 0.5 erfc(-z/sqrt 2) (no SciPy): to ~1 ulp in both tails, where
    0.5 (1 + erf(z/sqrt 2)) cancels (-1.8% at z = -8). The app's clinical.js does the same
    with a port of the libm erfc that math.erfc calls on Linux (web_app/src/core/erf.js: equal
    but for about 1 value in 2,000, 1 ulp apart)."""
    return 0.5 * math.erfc(-float(z) / math.sqrt(2.0))


def normal_ppf(p: float) -> float:
    """Inverse standard normal CDF for p in (0, 1), by bisection on `normal_cdf` (to ~1e-12).

    Raises:
        ValueError: p not strictly between 0 and 1.
    """
    q = check_finite(p, "probability")
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
    ga = format_ga(weeks_to_days(weeks))
    if ga in (format_ga(weeks_to_days(lo)), format_ga(weeks_to_days(hi))):
        # 13.95 weeks rounds to 14+0 days, which would read as inside "14+0 to 40+0".
        ga = format_outside(weeks, lo, hi, 2)[0]
    return (f"out of range: GA {ga} weeks is outside "
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
    hc = check_positive(hc_mm, "HC (mm)")
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


@dataclasses.dataclass(frozen=True)
class CentileInterval:
    """The centiles (and z) at the two ends of an HC interval, at the same GA. The centile
    rises with the HC at a fixed GA, so this interval holds the true HC's centile exactly when
    the HC interval holds the true HC: it inherits the HC interval's level and coverage."""

    level: float
    lower_centile: float
    upper_centile: float
    z_lower: float
    z_upper: float

    def display(self) -> str:
        """e.g. "95%: 83.2 to 99.5", or "95%: <0.1" when both ends read the same."""
        lo, hi = format_centile(self.lower_centile), format_centile(self.upper_centile)
        return f"{round(self.level * 100)}%: {lo}" + ("" if lo == hi else f" to {hi}")


def centile_interval(lower_mm: float, upper_mm: float, ga: GaInput,
                     level: float) -> Optional[CentileInterval]:
    """The centile interval an HC interval (lower_mm to upper_mm, at `level`) spans at a known
    GA, by `hc_centile`'s arithmetic (an interval's lower end may be 0 mm, which an HC may
    not); None where the standard does not cover the GA."""
    weeks, inside = _ga_in_standard(ga)
    if not inside:
        return None
    mean, sd = intergrowth_hc_mean_sd(weeks)
    z_lower, z_upper = (float(lower_mm) - mean) / sd, (float(upper_mm) - mean) / sd
    return CentileInterval(level, 100.0 * normal_cdf(z_lower), 100.0 * normal_cdf(z_upper),
                           z_lower, z_upper)


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
    c = check_finite(centile, "centile")
    if not 0.0 < c < 100.0:
        raise ValueError(f"centile must be strictly between 0 and 100, got {c!r}")
    mean, sd = intergrowth_hc_mean_sd(weeks)
    return mean + normal_ppf(c / 100.0) * sd

