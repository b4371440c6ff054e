"""Units, rounding, display and input checks of the clinical read-outs (NumPy + stdlib).

HC is in mm everywhere; GA is in days (float) inside results, entered in weeks or "W+D" text,
shown as "W+D" with days rounded half up. Bad input raises ValueError with a message that can
be shown as it is.
"""

from __future__ import annotations

import enum
import math
import numbers
import re
from typing import Optional, Tuple, Union

import numpy as np

GaInput = Union[float, int, str]

DAYS_PER_WEEK = 7
# A GA typed by a user outside this span is a typing error, not a pregnancy.
GA_INPUT_WEEKS = (10.0, 45.0)

HC_DECIMALS = 1        # mm, as the INTERGROWTH-21st tables print HC
Z_DECIMALS = 2
CENTILE_DECIMALS = 1


class Status(str, enum.Enum):
    """Whether a result is a number or out of the source's range (str: JSON-ready)."""

    OK = "ok"
    OUT_OF_RANGE = "out_of_range"


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
    d = check_finite(days, "GA (days)")
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
    return f"{check_finite(hc_mm, 'HC'):.{HC_DECIMALS}f} mm"


def format_z(z: float) -> str:
    """z-score for display with its sign, e.g. "-1.23"."""
    return f"{check_finite(z, 'z-score'):+.{Z_DECIMALS}f}"


def format_beyond(value: float, limit: float, decimals: int) -> str:
    """A value flagged as beyond `limit`, for display next to that flag: "<74.0" or ">83.0"
    where rounding to `decimals` would print the limit itself (73.96 as "74.0" below 74), so
    the number never reads as inside the range its flag says it is outside; else rounded."""
    v = check_finite(value, "value")
    text = f"{v:.{decimals}f}"
    if v < limit <= float(text):
        return f"<{limit:.{decimals}f}"
    if v > limit >= float(text):
        return f">{limit:.{decimals}f}"
    return text


def format_outside(value: float, lo: float, hi: float, decimals: int) -> Tuple[str, str, str]:
    """(value, lo, hi) as text for "value is outside lo-hi", with a decimal more at a time
    until the value's text lies outside the bounds' text (at most 20 decimals): at `decimals`
    an HC of 357.7 mm printed as outside "89.4-357.7" (its bound 357.66)."""
    check_finite(value, "value")
    for d in range(decimals, max(decimals, 20) + 1):
        texts = tuple(f"{x:.{d}f}" for x in (value, lo, hi))
        if not float(texts[1]) <= float(texts[0]) <= float(texts[2]):
            break
    return texts


def format_centile(centile: float, flag_limit: Optional[float] = None) -> str:
    """Centile for display; never "0.0" or "100.0", which would read as certainty; one
    flagged against `flag_limit` (3 or 97) as `format_beyond`."""
    c = check_finite(centile, "centile")
    lo = 10.0 ** -CENTILE_DECIMALS
    if c < lo:
        return f"<{lo:.{CENTILE_DECIMALS}f}"
    if c > 100.0 - lo:
        return f">{100.0 - lo:.{CENTILE_DECIMALS}f}"
    if flag_limit is not None:
        return format_beyond(c, flag_limit, CENTILE_DECIMALS)
    return f"{c:.{CENTILE_DECIMALS}f}"


# The GA forms a person types: "weeks+days" or a plain decimal number of weeks, ASCII digits
# only (float() would also take "1e1", "nan", "2_7" and other scripts' digits; the web app's
# parseGaWeeks has the same two patterns). Blanks are spaces and tabs only: each language's \s
# has its own set (JavaScript's takes a BOM), and Python's $ a final newline.
_WEEKS_DAYS = re.compile(r"[ \t]*([0-9]{1,2})[ \t]*\+[ \t]*([0-6])[ \t]*\Z")
_DECIMAL = re.compile(r"[ \t]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[ \t]*\Z")


def parse_ga_weeks(value: GaInput) -> float:
    """A GA as entered (LMP or dating scan) -> weeks (float).

    Args:
        value: weeks as a number (27.5) or decimal text ("27.5"), or "weeks+days" text
            ("27+3"); no other text ("1e1", "nan", "2_7": refused).

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
        elif _DECIMAL.match(value):
            weeks = float(value)
        else:
            raise ValueError(
                f"GA {value!r} is not a number of weeks or 'weeks+days' (e.g. 27+3)")
    else:
        weeks = check_finite(value, "GA (weeks)")
    if not math.isfinite(weeks):
        raise ValueError(f"GA must be a finite number of weeks, got {value!r}")
    lo, hi = GA_INPUT_WEEKS
    if not lo <= weeks <= hi:
        raise ValueError(f"GA {weeks:.2f} weeks is outside {lo:g}-{hi:g} weeks: check the entry")
    return weeks



# --- input checks -------------------------------------------------------------------------

def check_real(value: object, name: str) -> float:
    """float(value) for a real number (NaN allowed); bools, strings, None, arrays rejected."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def check_finite(value: object, name: str) -> float:
    """`check_real`, and NaN or infinite rejected."""
    x = check_real(value, name)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return x


def check_positive(value: object, name: str) -> float:
    """`check_finite`, and zero or negative rejected."""
    x = check_finite(value, name)
    if x <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return x
