"""Exams of several images: the same head measured more than once, averaged (exams.csv).

Images are grouped by an `exam` column of the --pixel-csv when it has one; else a DICOM image
by its study and series (exam `STUDY_UID/SERIES_UID`: a multi-frame file's frames, and the
files a scanner stored in one series, are one exam; the US image header carries no standard
fetus number, so a series holding two fetuses' heads is one exam, and the disagreement flag is
what shows it); else by HC18's file-name pattern (`NNN_HC`, `NNN_2HC`, `NNN_3HC` are one
subject: exam `NNN`); any other name is an exam of its own. Each of these sources has its own
name space (keys `exam:LABEL`, `dicom:STUDY/SERIES`, `hc18:NNN`, `file:STEM`), so a label `7`,
HC18's `7_HC.png` and a plain `7.png` are three exams, never averaged together. The exam id
shown is the key without its source, unless two exams would then read the same: those show the
whole key (`hc18:007`, `file:007`). An exam row holds the mean HC of the images where a head
was found, its spread (SD and range), the interval of the mean, the mean BPD and OFD, the GA of
the mean (with its 95% interval by each formula, as an image's: the mean's interval through
the formula, combined with the formula's spread: Hadlock's 2 SD; none by INTERGROWTH-21st,
which publishes no per-estimate spread), the mean's centile
when its heads share one GA from dating (with the centiles the mean's interval spans), and a
disagreement flag. The web app's port (web_app/src/core/exams.js) groups and computes the
same, checked on the cases of tests/fixtures/exams_cases.json.

Interval of the mean (the HC's, and BPD's and OFD's when every image has one): the mean of the
images' 95% half-widths. The calibration says nothing
about how errors of images of the same head correlate (the same head, often the same sweep),
so the mean is given no credit for averaging: that is the fully correlated, conservative case.
Disagreement: the images' 95% intervals share no common value (max lower > min upper), i.e. no
single true HC is consistent with every image at the interval's level.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import statistics
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from hc_tf import clinical
from hc_tf.io import file_names
from hc_tf.io import hc18_csv
from hc_tf.io import tables

EXAM_COLUMN = "exam"
EXAMS_NAME = "exams.csv"
_HC18_NAME = re.compile(r"^(\d+)_(?:[2-9])?HC$")
EXAM_FIELDS = ("exam", "images", "found", "filenames", "hc_mean_mm", "hc_sd_mm", "hc_range_mm",
               "hc_mean_lower_95_mm", "hc_mean_upper_95_mm", "bpd_mean_mm", "ofd_mean_mm",
               "ga_hadlock", "ga_hadlock_days",
               "ga_intergrowth", "ga_intergrowth_days", "disagree", "disagree_reason",
               "review_any", "bpd_mean_lower_95_mm", "bpd_mean_upper_95_mm",
               "ofd_mean_lower_95_mm", "ofd_mean_upper_95_mm", "known_ga_weeks",
               "hc_mean_centile", "hc_mean_z", "hc_mean_centile_lower_95",
               "hc_mean_centile_upper_95", "ga_hadlock_lower_95_days",
               "ga_hadlock_upper_95_days", "ga_intergrowth_lower_95_days",
               "ga_intergrowth_upper_95_days", "ga_hadlock_status", "ga_intergrowth_status")
GA_METHODS = (("hadlock", clinical.GaMethod.HADLOCK_1984),
              ("intergrowth", clinical.GaMethod.INTERGROWTH_2016))


def exam_of_name(filename: str) -> str:
    """Exam key by name: `hc18:NNN` for HC18's `NNN_HC`/`NNN_2HC`/...; else `file:STEM`, the
    source file's name without a known extension (`file_names.source_stem`: a DICOM file named
    by its UID keeps its last part, a file's frames are one exam)."""
    stem = file_names.source_stem(filename)
    m = _HC18_NAME.match(stem)
    return f"hc18:{m.group(1)}" if m else f"file:{stem}"


def read_exam_column(csv_path: Optional[str]) -> Dict[str, str]:
    """filename -> exam from the CSV's `exam` column ({} without a CSV or that column; rows
    with an empty cell fall back to the file-name pattern). The CSV was checked already."""
    if not csv_path:
        return {}
    table = hc18_csv.read_hc18_csv(csv_path, allow_implausible=True)
    col = table.column(EXAM_COLUMN)
    if col is None:
        return {}
    return {r.filename: r.fields[col].strip() for r in table.rows
            if col < len(r.fields) and r.fields[col].strip()}


def exam_of_dicom(record: Mapping[str, Any]) -> Optional[str]:
    """Exam key `dicom:STUDY_UID/SERIES_UID` of a DICOM image's record (its "dicom" UIDs);
    None for another image, or a file without a study UID."""
    uids = record.get("dicom") or {}
    study = uids.get("study_instance_uid")
    return f"dicom:{study}/{uids.get('series_instance_uid') or ''}" if study else None


def exam_key(record: Mapping[str, Any], exam_column: Mapping[str, str]) -> str:
    """The record's exam key, `SOURCE:VALUE`: its label in the exam column, else its DICOM
    study and series, else its name (`exam_of_name`)."""
    label = exam_column.get(record["filename"])
    if label:
        return f"exam:{label}"
    return exam_of_dicom(record) or exam_of_name(record["filename"])


def exam_ids(keys: Sequence[str]) -> Dict[str, str]:
    """Key -> the exam id shown: the key without its source, or the whole key where two exams'
    ids would otherwise read the same (a user could not tell their rows apart)."""
    shown = {k: k.split(":", 1)[1] for k in keys}
    while True:  # a whole key may equal another's bare id: repeat until every id is unique
        counts = collections.Counter(shown.values())
        clash = [k for k, s in shown.items() if counts[s] > 1 and s != k]
        if not clash:
            return shown
        shown.update((k, k) for k in clash)


def group_exams(records: Sequence[Mapping[str, Any]],
                exam_column: Optional[Mapping[str, str]] = None) -> Dict[str, List[Mapping]]:
    """Report records grouped by exam (the module's rule), keyed by the exam id shown
    (`exam_ids`), exams in order of first appearance."""
    groups: Dict[str, List[Mapping]] = {}
    for r in records:
        groups.setdefault(exam_key(r, exam_column or {}), []).append(r)
    ids = exam_ids(list(groups))
    return {ids[k]: members for k, members in groups.items()}


def _ga(hc_mm: float, method: clinical.GaMethod) -> Dict[str, Any]:
    """report.csv's GA columns: "20+1", its days and "ok", or no GA and "out_of_range"."""
    g = clinical.ga_from_hc(hc_mm, method)
    return {"ga": clinical.format_ga(g.ga_days) if g.ga_days is not None else None,
            "ga_days": g.ga_days, "status": g.status.value}


def _ga_intervals(mean: float, half: float) -> Dict[str, Optional[float]]:
    """The 95% interval of the GA of the mean HC by each formula, as an image's GA interval
    shows it (`intervals.ga_interval`, read by `ga_interval_bounds`); None where the formula
    does not reach or publishes no spread (INTERGROWTH-21st)."""
    from hc_tf.clinical import intervals
    iv = intervals.HcInterval(mean, 0.95, mean - half, mean + half, half, "the exam's mean")
    out = {}
    for key, method in GA_METHODS:
        bounds = ga_interval_bounds(dataclasses.asdict(intervals.ga_interval(iv, method)))
        lower, upper = bounds or (None, None)
        out.update({f"ga_{key}_lower_95_days": lower, f"ga_{key}_upper_95_days": upper})
    return out


def ga_interval_bounds(g: Mapping[str, Any]) -> Optional[Tuple[float, float]]:
    """(lower, upper) days of a GA interval's fields (`intervals.GaInterval`'s, as report.json's
    "ga_interval"[key] holds them): the HC interval through the formula combined with the
    formula's own spread (Hadlock's 2 SD). None where the formula publishes no spread
    (INTERGROWTH-21st: its measurement's part alone would leave out the equation's own, several
    times wider) or an end is beyond the formula's range: one rule for every output."""
    bounds = (g.get("combined_lower_days"), g.get("combined_upper_days"))
    return None if None in bounds else (float(bounds[0]), float(bounds[1]))


def ga_interval_method(whose: str, method: clinical.GaMethod, spread_kind: str) -> str:
    """A GA interval record's method: `whose` HC interval through the formula, combined with
    its spread (`spread_kind`, "2 SD")."""
    from hc_tf.report import records
    return (f"{whose} HC interval through {records.GA_TITLES[method]}, combined with the "
            f"formula's {spread_kind}")


def ga_interval_record(row: Mapping[str, Any], key: str) -> Optional[Dict[str, Any]]:
    """An exam row's GA interval by formula `key` ("hadlock", "intergrowth") as an interval
    record {"lower", "upper", "level", "method"} (days) for the reports; None without one."""
    lower, upper = row.get(f"ga_{key}_lower_95_days"), row.get(f"ga_{key}_upper_95_days")
    if lower is None or upper is None:
        return None
    method = dict(GA_METHODS)[key]
    spread = clinical.ga_from_hc(float(row["hc_mean_mm"]), method).uncertainty
    return {"lower": float(lower), "upper": float(upper), "level": 0.95,
            "method": ga_interval_method("the exam's mean", method, spread.kind)}


def image_ga_interval_record(g: Optional[Mapping[str, Any]],
                             key: str) -> Optional[Dict[str, Any]]:
    """An image's GA interval by formula `key` (report.json's "ga_interval"[key]) as
    `ga_interval_record` gives an exam's, by the same rule (`ga_interval_bounds`); None
    without one."""
    bounds = ga_interval_bounds(g) if g else None
    if bounds is None:
        return None
    return {"lower": bounds[0], "upper": bounds[1], "level": 0.95,
            "method": ga_interval_method("this image's", dict(GA_METHODS)[key],
                                         g["formula_kind"])}


def exam_record(exam: str, members: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """One exam's row (EXAM_FIELDS) from its images' report records."""
    found = [r for r in members if r["found"]]
    row: Dict[str, Any] = {k: None for k in EXAM_FIELDS}
    row.update(exam=exam, images=len(members), found=len(found),
               filenames="; ".join(r["filename"] for r in members),
               review_any=any(r["review"] for r in members), disagree=None,
               disagree_reason="not assessed: no head found")  # None: not assessed, not "agree"
    if not found:
        return row
    hcs = [r["hc_mm"] for r in found]
    mean = statistics.fmean(hcs)
    row.update(hc_mean_mm=mean, hc_sd_mm=statistics.stdev(hcs) if len(hcs) > 1 else None,
               hc_range_mm=max(hcs) - min(hcs))
    axes = [r["biometry"] for r in found if r.get("biometry")]
    if axes:  # the same heads' BPD and OFD (the fitted ellipses' axes), averaged alike
        row.update(bpd_mean_mm=statistics.fmean(b["bpd_mm"] for b in axes),
                   ofd_mean_mm=statistics.fmean(b["ofd_mm"] for b in axes))
    for q in ("bpd", "ofd"):  # the mean's interval as the HC's, when every image has one
        ivs = [r.get(f"{q}_interval") or {} for r in found]
        if row[f"{q}_mean_mm"] is not None and all(iv.get("half_width_mm") is not None
                                                   for iv in ivs):
            half = statistics.fmean(iv["half_width_mm"] for iv in ivs)
            row.update({f"{q}_mean_lower_95_mm": row[f"{q}_mean_mm"] - half,
                        f"{q}_mean_upper_95_mm": row[f"{q}_mean_mm"] + half})
    for key, method in GA_METHODS:
        g = _ga(mean, method)
        row[f"ga_{key}"], row[f"ga_{key}_days"], row[f"ga_{key}_status"] = \
            g["ga"], g["ga_days"], g["status"]
    dates = {r.get("known_ga_weeks") for r in found}
    ga = dates.pop() if len(dates) == 1 else None  # one GA from dating for all its heads
    if ga is not None:  # the mean's centile (none beyond the standard's weeks)
        c = clinical.hc_centile(mean, ga)
        row.update(known_ga_weeks=ga, hc_mean_centile=c.centile, hc_mean_z=c.z)
    ivs = [r["hc_interval"] for r in found]
    if any(iv.get("half_width_mm") is None for iv in ivs):  # a model without calibration
        row["disagree_reason"] = "not assessed: no calibrated HC interval"
        return row
    half = statistics.fmean(iv["half_width_mm"] for iv in ivs)
    row.update(hc_mean_lower_95_mm=mean - half, hc_mean_upper_95_mm=mean + half)
    row.update(_ga_intervals(mean, half))
    ci = ga is not None and clinical.centile_interval(mean - half, mean + half, ga, 0.95)
    if ci:  # the centiles the mean's interval spans
        row.update(hc_mean_centile_lower_95=ci.lower_centile,
                   hc_mean_centile_upper_95=ci.upper_centile)
    lo, hi = max(iv["lower_mm"] for iv in ivs), min(iv["upper_mm"] for iv in ivs)
    row.update(disagree=False, disagree_reason="")
    if lo > hi:
        row.update(disagree=True, disagree_reason=(
            f"the images' 95% intervals share no value (HC {min(hcs):.1f} to {max(hcs):.1f} mm):"
            " remeasure or check which image is off"))
    return row


def exam_records(records: Sequence[Mapping[str, Any]],
                 exam_column: Optional[Mapping[str, str]] = None) -> List[Dict[str, Any]]:
    """Every exam's row, in order of first appearance."""
    return [exam_record(k, v) for k, v in group_exams(records, exam_column).items()]


def write_exams_csv(path: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """exams.csv (None as empty, floats to 6 decimals), atomically."""
    tables.write_rows_csv(path, rows, EXAM_FIELDS, digits=6)
