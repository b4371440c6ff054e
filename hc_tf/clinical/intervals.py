"""Calibrated intervals of a measured HC, BPD, OFD, corrected BPD and cephalic index, and the
GA intervals the HC's and the BPD's imply (NumPy + stdlib only): the calibration tables
(`hc_tf.clinical.interval_table`, which says how they are fitted) applied to one measurement, a
half-width of q * sigma around the measured value.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional, Tuple

from hc_tf.clinical.biometry import ga_from_bpd
from hc_tf.clinical.gestational_age import GaMethod, ga_from_hc
from hc_tf.clinical.interval_table import (AXIS_TABLE_PATHS, DEFAULT_LEVEL, IntervalTable,
                                           as_mapping, feature_vector, load_table)
from hc_tf.clinical.units import check_positive


@dataclasses.dataclass(frozen=True)
class HcInterval:
    """A measured HC with its calibrated interval."""

    hc_mm: float
    level: float
    lower_mm: float
    upper_mm: float
    half_width_mm: float
    method: str

    def display(self) -> str:
        """e.g. "95%: 284.6-297.2"."""
        return f"{self.level * 100:.0f}%: {self.lower_mm:.1f}-{self.upper_mm:.1f}"


def hc_interval(hc_mm: float, signals: Any = None, level: float = DEFAULT_LEVEL,
                table: Optional[IntervalTable] = None,
                model_pixel_mm: Optional[float] = None) -> HcInterval:
    """The calibrated interval of a measured HC.

    Args:
        hc_mm: the measured HC (mm).
        signals: its QualitySignals (or a mapping of them); missing ones count as difficult.
        level: 0.80, 0.90 or 0.95 (the fitted levels).
        table: the calibration table (default: the package's).
        model_pixel_mm: mm per model-input pixel (`model_pixel_mm()`; `Measurement` has it);
            None: unknown, which counts as difficult when the table uses it.

    Raises:
        ValueError: HC not finite and positive, or a level the table has not fitted.
    """
    hc = check_positive(hc_mm, "HC (mm)")
    t = table or load_table()
    half = t.half_width_mm(hc, _with_model_pixel(signals, model_pixel_mm), level)
    return HcInterval(hc, float(level), max(0.0, hc - half), hc + half, half, t.method)


def beyond_calibration(hc_mm: float, signals: Any = None, table: Optional[IntervalTable] = None,
                       model_pixel_mm: Optional[float] = None) -> str:
    """Why no calibrated interval can be given for this measurement ("" when one can): a
    weighted feature, or a domain feature such as the model pixel, above the table's calibrated
    range (`IntervalTable.beyond_calibration`). Arguments as `hc_interval`'s."""
    t = table or load_table()
    s = _with_model_pixel(signals, model_pixel_mm)
    return t.beyond_calibration(feature_vector(float(hc_mm), s, t.feature_names),
                                feature_vector(float(hc_mm), s, tuple(t.domain_caps or ())))


AXIS_NAMES = {"bpd": "BPD", "ofd": "OFD", "ci": "cephalic index",  # the tables' quantities
              "cbpd": "corrected BPD"}


@dataclasses.dataclass(frozen=True)
class AxisInterval:
    """A measured BPD, OFD or corrected BPD with its calibrated interval."""

    value_mm: float
    level: float
    lower_mm: float
    upper_mm: float
    half_width_mm: float
    method: str

    def display(self) -> str:
        """e.g. "95%: 44.6-47.2"."""
        return f"{self.level * 100:.0f}%: {self.lower_mm:.1f}-{self.upper_mm:.1f}"


def axis_interval(quantity: str, value_mm: float, hc_mm: float, signals: Any = None,
                  level: float = DEFAULT_LEVEL, model_pixel_mm: Optional[float] = None
                  ) -> AxisInterval:
    """The calibrated interval of a measured BPD, OFD or corrected BPD (`quantity` "bpd",
    "ofd" or "cbpd"), by the package's table of its errors: the difficulty and bin are the
    head's (its measured HC and signals), the interval centred on `value_mm`. Arguments as
    `hc_interval`'s.

    Raises:
        ValueError: a value not finite and positive, or a level the table has not fitted.
    """
    value = check_positive(value_mm, f"{AXIS_NAMES[quantity]} (mm)")
    half, method = _axis_half(quantity, hc_mm, signals, level, model_pixel_mm)
    return AxisInterval(value, float(level), max(0.0, value - half), value + half, half, method)


@dataclasses.dataclass(frozen=True)
class IndexInterval:
    """A measured cephalic index (100 BPD / OFD) with its calibrated interval, in index
    points."""

    value: float
    level: float
    lower: float
    upper: float
    half_width: float
    method: str

    def display(self) -> str:
        """e.g. "95%: 73.3-83.1"."""
        return f"{self.level * 100:.0f}%: {self.lower:.1f}-{self.upper:.1f}"


def cephalic_index_interval(ci: float, hc_mm: float, signals: Any = None,
                            level: float = DEFAULT_LEVEL,
                            model_pixel_mm: Optional[float] = None) -> IndexInterval:
    """The calibrated interval of a measured cephalic index, by the package's table of its
    errors (a ratio's: the two axes' errors are not independent, so it is fitted, not derived
    from theirs), at the head's HC and signals, centred on `ci`. Arguments as `hc_interval`'s.

    Raises:
        ValueError: an index not finite and positive, or a level the table has not fitted.
    """
    value = check_positive(ci, "cephalic index")
    half, method = _axis_half("ci", hc_mm, signals, level, model_pixel_mm)
    return IndexInterval(value, float(level), max(0.0, value - half), value + half, half, method)


def _axis_half(quantity: str, hc_mm: float, signals: Any, level: float,
               model_pixel_mm: Optional[float]) -> Tuple[float, str]:
    """(half-width, method) of `quantity`'s table at the head (its measured HC and signals)."""
    t = load_table(AXIS_TABLE_PATHS[quantity])
    return (t.half_width_mm(float(hc_mm), _with_model_pixel(signals, model_pixel_mm), level),
            t.method)


def _with_model_pixel(signals: Any, model_pixel_mm: Optional[float]) -> Dict[str, Any]:
    s = as_mapping(signals)
    if model_pixel_mm is not None:
        s["model_pixel_mm"] = model_pixel_mm
    return s


@dataclasses.dataclass(frozen=True)
class GaInterval:
    """The GA interval an HC interval implies by one formula, and the formula's own spread.

    measurement_*: GA (days) at the HC interval's ends (None where an end is out of the
    formula's range); formula_half_days: the formula's published half-width (None when none
    is published); combined_*: GA -/+ sqrt(measurement half^2 + formula half^2), both read
    as ~95% half-widths of independent errors (None when either part is missing).
    """

    method: str
    ga_days: Optional[float]
    measurement_lower_days: Optional[float]
    measurement_upper_days: Optional[float]
    formula_half_days: Optional[float]
    formula_kind: str
    combined_lower_days: Optional[float]
    combined_upper_days: Optional[float]
    combination: str = "root sum of squares of the two half-widths (independent errors)"


BPD_GA_METHOD = "hadlock_1984_bpd"  # GaInterval.method of the GA from BPD


def ga_interval(interval: HcInterval, method: GaMethod = GaMethod.HADLOCK_1984) -> GaInterval:
    """The GA interval implied by an HC interval, by one formula (see GaInterval)."""
    m = GaMethod(method)
    mid, lo, hi = (ga_from_hc(h, m) for h in (interval.hc_mm, interval.lower_mm or 1e-9,
                                               interval.upper_mm))
    u = mid.uncertainty
    return _combined(m.value, mid.ga_days, lo.ga_days, hi.ga_days,
                     u.plus_minus_days if u is not None else None,
                     u.kind if u is not None else "out of range")


def bpd_ga_interval(bpd_mm: float, lower_mm: float, upper_mm: float) -> GaInterval:
    """The GA interval a BPD interval (lower_mm to upper_mm around bpd_mm) implies by Hadlock
    1984's BPD formula, with that formula's 2 SD, combined as `ga_interval`'s."""
    mid, lo, hi = (ga_from_bpd(b) for b in (bpd_mm, lower_mm or 1e-9, upper_mm))
    return _combined(BPD_GA_METHOD, mid.ga_days, lo.ga_days, hi.ga_days, mid.plus_minus_days,
                     "2 SD" if mid.plus_minus_days is not None else "out of range")


def _combined(method: str, ga_days: Optional[float], lower_days: Optional[float],
              upper_days: Optional[float], formula_half_days: Optional[float],
              formula_kind: str) -> GaInterval:
    """The GaInterval of a GA, its GA at the measurement interval's ends and the formula's
    half-width: combined when all are known."""
    if ga_days is None or lower_days is None or upper_days is None or formula_half_days is None:
        return GaInterval(method, ga_days, lower_days, upper_days, formula_half_days,
                          formula_kind, None, None)
    half = math.hypot(0.5 * (upper_days - lower_days), formula_half_days)
    return GaInterval(method, ga_days, lower_days, upper_days, formula_half_days, formula_kind,
                      ga_days - half, ga_days + half)
