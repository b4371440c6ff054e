"""The GA from dating a DICOM file carries: its Last Menstrual Date (0010,21D0; Patient Study
module, filled from the worklist by scanners that have it) at its StudyDate (0008,0020).

Like the pixel size, it is read from the file rather than typed; a GA typed for the image
(`--ga-weeks`, a CSV's `ga_weeks`) still wins, being a clinician's dating (an earlier scan
corrects the LMP). A date that cannot be read, or a GA outside the 10-45 weeks a typed one may
be, gives no GA but a note saying why, never the date itself (patient data).
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Optional, Tuple

from hc_tf.clinical import units

# A DA as DICOM writes it (YYYYMMDD) or as some exports do ("2026-01-01", "2026.01.01").
DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})|([0-9]{4})[-.]([0-9]{2})[-.]([0-9]{2})")
LMP_SOURCE = "Last Menstrual Date (0010,21D0) at StudyDate (0008,0020), from the file"


def dicom_date(value: Any) -> Optional[datetime.date]:
    """A DA value as a date; None when empty or not a real date ("20261399")."""
    m = DATE.fullmatch(str(value or "").strip())
    if not m:
        return None
    y, mo, d = (int(g) for g in m.groups() if g is not None)
    try:
        return datetime.date(y, mo, d)
    except ValueError:
        return None


def lmp_ga_weeks(ds: Any) -> Tuple[Optional[float], str]:
    """(GA in exact weeks from the file's LMP at its study date, "") or (None, why not; "" when
    the file has no Last Menstrual Date)."""
    raw = ds.get("LastMenstrualDate", None)
    if raw is None or str(raw).strip() == "":
        return None, ""
    lmp, study = dicom_date(raw), dicom_date(ds.get("StudyDate", None))
    if lmp is None:
        return None, "Last Menstrual Date (0010,21D0) is not a date: no GA from dating"
    if study is None:
        return None, ("Last Menstrual Date (0010,21D0) without a StudyDate (0008,0020) to date "
                      "it at: no GA from dating")
    weeks = (study - lmp).days / 7.0
    lo, hi = units.GA_INPUT_WEEKS
    if not lo <= weeks <= hi:
        return None, (f"Last Menstrual Date (0010,21D0) gives {weeks:.1f} weeks at StudyDate "
                      f"(0008,0020), outside {lo:g}-{hi:g} weeks: no GA from dating")
    return weeks, ""
