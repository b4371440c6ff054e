"""One image's clinical read-out as plain data: HC, GA by both formulas, centile, review flag.

The one place that turns an `measure.Measurement` (+ an optional known GA) into the records
`hc-tf predict` writes (report.csv / report.json), the demo shows and the app bundle's
golden.json holds, so every surface words and rounds them alike (`hc_tf.clinical` owns the
formulas, ranges and formatting). NumPy/standard library only: no TensorFlow, no OpenCV.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional, Sequence, Tuple

from hc_tf import clinical
from hc_tf import measure as measure_lib
from hc_tf.clinical import biometry as biometry_lib
from hc_tf.clinical import dating as dating_lib
from hc_tf.clinical import intervals as intervals_lib

# Short, stable keys for the two formulas in flat CSV columns and JSON objects.
GA_KEYS = {clinical.GaMethod.HADLOCK_1984: "hadlock",
           clinical.GaMethod.INTERGROWTH_2016: "intergrowth"}
GA_TITLES = {clinical.GaMethod.HADLOCK_1984: "Hadlock 1984",
             clinical.GaMethod.INTERGROWTH_2016: "INTERGROWTH-21st (HC only)"}
SIGNAL_FIELDS = ("fit_rms_frac", "inlier_fraction", "mask_ellipse_dice",
                 "uncertain_band_fraction", "outside_fraction")
REVIEW_SEPARATOR = "; "
DATING_SOURCE = "LMP or earlier scan, as given"  # a GA typed for the image

REPORT_FIELDS = (
    ("filename", "found", "reason", "pixel_size_mm", "hc_mm")
    + tuple(f"ga_{k}{s}" for k in GA_KEYS.values()
            for s in ("", "_days", "_status", "_uncertainty"))
    + ("known_ga", "known_ga_weeks", "hc_z", "hc_centile", "centile_status", "centile_flag",
       "review", "review_reasons")
    + SIGNAL_FIELDS
    + ("hc_lower_95_mm", "hc_upper_95_mm", "hc_interval_method")
    + tuple(f"ga_{k}_{s}_days" for k in GA_KEYS.values() for s in ("lower", "upper"))
    + ("bpd_mm", "ofd_mm", "cephalic_index", "head_shape", "corrected_bpd_mm", "ga_bpd",
       "ga_bpd_days", "ga_bpd_status", "ga_bpd_uncertainty", "dating_note")
    + tuple(f"{q}_{end}_95_mm" for q in ("bpd", "ofd") for end in ("lower", "upper"))
    + ("hc_centile_lower_95", "hc_centile_upper_95", "ga_bpd_lower_days", "ga_bpd_upper_days",
       "cephalic_index_lower_95", "cephalic_index_upper_95", "corrected_bpd_lower_95_mm",
       "corrected_bpd_upper_95_mm"))


def ga_range_text(est: clinical.GaEstimate) -> str:
    """The formula's GA range as "14+0 to 42+0 weeks"."""
    lo, hi = est.valid_ga_days
    return f"{clinical.format_ga(lo)} to {clinical.format_ga(hi)} weeks"


def ga_record(est: clinical.GaEstimate) -> Dict[str, Any]:
    """One formula's GA as JSON-ready data.

    Args:
      est: from `clinical.ga_from_hc`.

    Returns:
      {"method", "status" ("ok"/"out_of_range"), "ga" ("20+1" or None), "ga_days",
      "ga_weeks", "uncertainty" (the source's text), "uncertainty_days" (± half-width or
      None), "uncertainty_kind", "valid_ga" ("14+0 to 42+0 weeks"), "message", "source"}.
    """
    ok = est.status is clinical.Status.OK
    u = est.uncertainty
    return {"method": est.method.value, "status": est.status.value,
            "ga": clinical.format_ga(est.ga_days) if ok else None,
            "ga_days": est.ga_days, "ga_weeks": est.ga_weeks,
            "uncertainty": u.text if u else None,
            "uncertainty_days": u.plus_minus_days if u else None,
            "uncertainty_kind": u.kind if u else None,
            "valid_ga": ga_range_text(est), "message": est.message, "source": est.source}


def ga_line(est: clinical.GaEstimate) -> str:
    """One line for a person, e.g. "Hadlock 1984: 20+1 weeks (±1.5 wk, 2 SD); in range
    (14+0 to 42+0 weeks)", or "Hadlock 1984: out of range: HC ...".
    """
    title = GA_TITLES[est.method]
    if est.status is not clinical.Status.OK:
        return f"{title}: {est.message}"
    ga, _, rest = est.display().partition(" ")
    return f"{title}: {ga} weeks {rest}; in range ({ga_range_text(est)})"


def centile_record(c: clinical.HcCentile) -> Dict[str, Any]:
    """The centile of an HC at a known GA as JSON-ready data (`clinical.hc_centile`)."""
    return {"ga_weeks": c.ga_weeks, "ga": clinical.format_ga(clinical.weeks_to_days(c.ga_weeks)),
            "status": c.status.value, "z": c.z, "centile": c.centile, "mean_mm": c.mean_mm,
            "sd_mm": c.sd_mm, "flag": c.flag, "display": c.display(), "source": c.source}


def centile_interval_record(m: measure_lib.Measurement,
                            ga_weeks: float) -> Optional[Dict[str, Any]]:
    """The centiles the HC's calibrated interval spans at a GA from dating
    (`clinical.centile_interval`: the HC interval's coverage carries over); None when the HC
    has no interval or the standard does not cover the GA."""
    iv = m.hc_interval()
    ci = iv and clinical.centile_interval(iv.lower_mm, iv.upper_mm, ga_weeks, iv.level)
    return {**dataclasses.asdict(ci), "display": ci.display()} if ci else None


def review_text(m: measure_lib.Measurement) -> str:
    """"please review: <reasons>" for a flagged measurement, "" otherwise."""
    return f"please review: {REVIEW_SEPARATOR.join(m.review_reasons)}" if m.review else ""


def image_record(filename: str, m: measure_lib.Measurement,
                 known_ga_weeks: Optional[float] = None,
                 dating_source: str = DATING_SOURCE) -> Dict[str, Any]:
    """Everything one image's report holds, JSON-ready (report.json's per-image entry).

    Args:
      filename: the image's file name.
      m: its measurement.
      known_ga_weeks: the GA from an LMP or dating scan, in weeks, already checked by
        `clinical.parse_ga_weeks` (None: no centile).
      dating_source: where that GA came from (typed, or a DICOM file's LMP).

    Returns:
      {"filename", "found", "reason", "pixel_size_mm", "hc_mm", "gestational_age"
      ({"hadlock": ga_record, "intergrowth": ga_record}, {} when no head), "known_ga_weeks",
      "centile" (centile_record with its "interval", or None), "review", "review_reasons", "quality"
      (QualitySignals as a dict, or None)}.
    """
    centile, dating, bpd_iv = None, None, axis_interval_record(m, "bpd")
    if known_ga_weeks is not None:
        # Refuses an HC-derived GaEstimate: a centile is size for a GA from dating only.
        ga = dating_lib.dating_ga(known_ga_weeks, dating_source)
        known_ga_weeks = ga.weeks
        dating = {"label": dating_lib.DATING_LABEL, "display": ga.display(),
                  "source": ga.source, "note": dating_lib.NOT_A_REDATING}
        if m.found:
            centile = {**centile_record(dating_lib.size_for_dates(m.hc_mm, ga)),
                       "interval": centile_interval_record(m, ga.weeks)}
    return {"filename": filename, "found": m.found, "reason": m.reason,
            "pixel_size_mm": float(m.pixel_size_mm), "hc_mm": m.hc_mm,
            "hc_interval": interval_record(m),
            "gestational_age": {GA_KEYS[g.method]: ga_record(g) for g in m.gestational_age()},
            "ga_interval": ga_interval_records(m),
            "biometry": biometry_record(m.biometry()) if m.found else None,
            "bpd_interval": bpd_iv,
            "ofd_interval": axis_interval_record(m, "ofd"),
            "ga_bpd_interval": ga_bpd_interval_record(bpd_iv),
            "cephalic_index_interval": axis_interval_record(m, "ci"),
            "corrected_bpd_interval": axis_interval_record(m, "cbpd"),
            "known_ga_weeks": known_ga_weeks, "dating": dating, "centile": centile,
            "review": m.review, "review_reasons": list(m.review_reasons),
            "quality": _quality_dict(m.quality)}


def interval_record(m: measure_lib.Measurement) -> Optional[Dict[str, Any]]:
    """The HC's calibrated 95% interval as JSON-ready data; {"note": why} when there is none
    to give (`Measurement.no_interval_reason`); None when no head."""
    iv = m.hc_interval()
    if iv is None:
        return {"note": m.no_interval_reason} if m.found and m.no_interval_reason else None
    return {**dataclasses.asdict(iv), "display": iv.display()}


def axis_interval_record(m: measure_lib.Measurement, quantity: str) -> Optional[Dict[str, Any]]:
    """BPD's, OFD's, the corrected BPD's ("cbpd") or the cephalic index's ("ci": its fields
    unit-free, in index points) calibrated 95% interval as JSON-ready data, as
    `interval_record`'s: {"note": why} when there is none to give, None when no head."""
    iv, why = m.axis_interval(quantity)
    if iv is None:
        return {"note": why} if why else None
    return {**dataclasses.asdict(iv), "display": iv.display()}


def interval_bounds(interval: Optional[Dict[str, Any]]) -> Optional[Tuple[float, float]]:
    """(lower, upper) of an interval record: a length's (lower_mm, upper_mm) or the cephalic
    index's (lower, upper); None for none or a note."""
    if not interval:
        return None
    lower = interval.get("lower_mm", interval.get("lower"))
    upper = interval.get("upper_mm", interval.get("upper"))
    return None if lower is None or upper is None else (float(lower), float(upper))


def ga_interval_records(m: measure_lib.Measurement) -> Dict[str, Dict[str, Any]]:
    """Per formula: the GA interval the HC interval implies, the formula's own spread and
    both combined, each named ({} when no head)."""
    iv = m.hc_interval()
    if iv is None:
        return {}
    out = {}
    for method, key in GA_KEYS.items():
        g = intervals_lib.ga_interval(iv, method)
        out[key] = {**dataclasses.asdict(g),
                    "measurement_part": f"HC {iv.display()} through {GA_TITLES[method]}",
                    "formula_part": (f"{GA_TITLES[method]} {g.formula_kind}"
                                     if g.formula_half_days is not None
                                     else f"{GA_TITLES[method]}: none published per estimate"),
                    "display": _ga_interval_text(g)}
    return out


def ga_bpd_interval_record(bpd_interval: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The GA interval BPD's calibrated interval (`axis_interval_record`) implies by Hadlock
    1984's BPD formula, its 2 SD combined as the HC's; None when the BPD has no interval."""
    if not bpd_interval or bpd_interval.get("lower_mm") is None:
        return None
    g = intervals_lib.bpd_ga_interval(bpd_interval["value_mm"], bpd_interval["lower_mm"],
                                      bpd_interval["upper_mm"])
    title = "Hadlock 1984 (BPD)"
    return {**dataclasses.asdict(g),
            "measurement_part": f"BPD {bpd_interval['display']} through {title}",
            "formula_part": (f"{title} {g.formula_kind}" if g.formula_half_days is not None
                             else f"{title}: out of range"),
            "display": _ga_interval_text(g)}


# The app says it in the same words (intervals.js gaIntervalText).
BEYOND_FORMULA = "none: the measurement's interval reaches beyond the formula's range"


def _ga_interval_text(g: intervals_lib.GaInterval) -> str:
    if g.combined_lower_days is not None:
        return (f"{clinical.format_ga(g.combined_lower_days)} to "
                f"{clinical.format_ga(g.combined_upper_days)} weeks (measurement and formula)")
    if g.ga_days is not None and g.formula_half_days is None:
        # the measurement's part alone would claim a precision the dating does not have
        return "none: the formula publishes no spread"
    if g.ga_days is not None:  # the GA is in range, an end of the measurement's interval is not
        return BEYOND_FORMULA
    return "out of range"


def biometry_record(b: biometry_lib.Biometry) -> Dict[str, Any]:
    """BPD, OFD, cephalic index (with its normal range and words), corrected BPD, GA from BPD."""
    g = b.ga_bpd
    return {"bpd_mm": b.bpd_mm, "ofd_mm": b.ofd_mm, "convention": b.convention,
            "cephalic_index": b.cephalic_index,
            "cephalic_index_normal": list(biometry_lib.CEPHALIC_INDEX_NORMAL),
            "cephalic_index_source": biometry_lib.CEPHALIC_INDEX_SOURCE,
            "head_shape": b.head_shape, "head_shape_text": b.head_shape_text,
            "corrected_bpd_mm": b.corrected_bpd_mm,
            "corrected_bpd_source": biometry_lib.CORRECTED_BPD_SOURCE,
            "ga_bpd": {"status": g.status.value, "ga_days": g.ga_days,
                       "ga": clinical.format_ga(g.ga_days) if g.ga_days is not None else None,
                       "uncertainty_days": g.plus_minus_days, "uncertainty": g.uncertainty_text,
                       "message": g.message, "source": g.source}}


def _quality_dict(q: Optional[clinical.QualitySignals]) -> Optional[Dict[str, Optional[float]]]:
    """QualitySignals as a dict; a NaN (signal not computable) becomes None, since JSON has
    no NaN (the review reasons already say it could not be computed)."""
    if q is None:
        return None
    return {k: (None if v is not None and math.isnan(v) else v)
            for k, v in dataclasses.asdict(q).items()}


def csv_row(record: Dict[str, Any]) -> Dict[str, Any]:
    """`image_record` flattened to report.csv's columns (REPORT_FIELDS); None = empty cell."""
    row: Dict[str, Any] = {k: record[k] for k in
                           ("filename", "found", "reason", "pixel_size_mm", "hc_mm", "review")}
    row["review_reasons"] = REVIEW_SEPARATOR.join(record["review_reasons"])
    for key in GA_KEYS.values():
        g = record["gestational_age"].get(key)
        row[f"ga_{key}"] = g["ga"] if g else None
        row[f"ga_{key}_days"] = g["ga_days"] if g else None
        row[f"ga_{key}_status"] = g["status"] if g else None
        row[f"ga_{key}_uncertainty"] = g["uncertainty"] if g else None
    weeks = record["known_ga_weeks"]
    row["known_ga_weeks"] = weeks
    row["known_ga"] = clinical.format_ga(clinical.weeks_to_days(weeks)) if weeks is not None else None
    c = record["centile"] or {}
    ci = c.get("interval") or {}
    row.update(hc_z=c.get("z"), hc_centile=c.get("centile"), centile_status=c.get("status"),
               centile_flag=c.get("flag"), hc_centile_lower_95=ci.get("lower_centile"),
               hc_centile_upper_95=ci.get("upper_centile"))
    q = record["quality"] or {}
    row.update({k: q.get(k) for k in SIGNAL_FIELDS})
    iv = record.get("hc_interval") or {}
    row.update(hc_lower_95_mm=iv.get("lower_mm"), hc_upper_95_mm=iv.get("upper_mm"),
               hc_interval_method=iv.get("method"))
    for key in GA_KEYS.values():
        g = (record.get("ga_interval") or {}).get(key) or {}
        row[f"ga_{key}_lower_days"] = g.get("combined_lower_days")
        row[f"ga_{key}_upper_days"] = g.get("combined_upper_days")
    b = record.get("biometry") or {}
    gb = b.get("ga_bpd") or {}
    row.update({k: b.get(k) for k in ("bpd_mm", "ofd_mm", "cephalic_index", "head_shape",
                                      "corrected_bpd_mm")})
    row.update(ga_bpd=gb.get("ga"), ga_bpd_days=gb.get("ga_days"), ga_bpd_status=gb.get("status"),
               ga_bpd_uncertainty=gb.get("uncertainty"),
               dating_note=(record.get("dating") or {}).get("note"))
    gb_iv = record.get("ga_bpd_interval") or {}
    row.update(ga_bpd_lower_days=gb_iv.get("combined_lower_days"),
               ga_bpd_upper_days=gb_iv.get("combined_upper_days"))
    for q in ("bpd", "ofd"):
        iv = record.get(f"{q}_interval") or {}
        row.update({f"{q}_lower_95_mm": iv.get("lower_mm"), f"{q}_upper_95_mm": iv.get("upper_mm")})
    ci_iv = record.get("cephalic_index_interval") or {}
    row.update(cephalic_index_lower_95=ci_iv.get("lower"), cephalic_index_upper_95=ci_iv.get("upper"))
    cbpd_iv = record.get("corrected_bpd_interval") or {}
    row.update(corrected_bpd_lower_95_mm=cbpd_iv.get("lower_mm"),
               corrected_bpd_upper_95_mm=cbpd_iv.get("upper_mm"))
    return row


def thresholds_record(t: clinical.ReviewThresholds = clinical.DEFAULT_REVIEW_THRESHOLDS
                      ) -> Dict[str, float]:
    """The review thresholds in force, for the record a report carries."""
    return dataclasses.asdict(t)


def summary_counts(records: Sequence[Dict[str, Any]]) -> Dict[str, int]:
    """{"images", "found", "flagged"} over image records."""
    return {"images": len(records), "found": sum(1 for r in records if r["found"]),
            "flagged": sum(1 for r in records if r["review"])}

