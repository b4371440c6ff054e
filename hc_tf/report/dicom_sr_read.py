"""Reading back an SR `dicom_sr.build_sr` wrote, through highdicom: what a test, a node's
check against its PACS, or an operator compares with report.json."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from hc_tf.report.dicom_sr import (ALGORITHM_PARAMETERS, BPD_CODE, CBPD_CODE, CI_CODE, GA_CODE,
                                   HC_CODE,
                                   INTERVAL_PARAMETER, LOWER_UNCERTAINTY, OFD_CODE,
                                   PERCENTILE_CODE, POPULATION_DESCRIPTION, QUALITATIVE,
                                   REVIEW_NAME, REVIEW_REASON_NAME, UPPER_UNCERTAINTY, YES,
                                   Z_SCORE_CODE)


def _frames(value: Any) -> Optional[List[int]]:
    """ReferencedFrameNumber (IS, one value or several) as a list, None when absent."""
    if value is None:
        return None
    from pydicom.multival import MultiValue
    return [int(f) for f in (value if isinstance(value, (list, MultiValue)) else [value])]


def read_back(path: str) -> Dict[str, Any]:
    """The SR's HC, ellipse points, review flag and reasons, read through highdicom.

    Returns:
      {"hc_mm", "ellipse" ((4, 2) SCOORD points), "review", "reasons", "frames",
      "referenced_sop_instance_uid", "study_instance_uid", "ga_weeks" ({equation: weeks}),
      "hc_lower_95_mm", "hc_upper_95_mm" (HC -/+ the TID 310 uncertainties; None when absent),
      "hc_interval_method" (the HC algorithm's interval parameter, or None), "bpd_mm",
      "ofd_mm", "bpd_lower_95_mm", "bpd_upper_95_mm", "ofd_lower_95_mm", "ofd_upper_95_mm",
      "corrected_bpd_mm", "corrected_bpd_lower_95_mm", "corrected_bpd_upper_95_mm",
      "cephalic_index", "cephalic_index_lower_95", "cephalic_index_upper_95" (None when
      absent), "hc_centile", "hc_z" (the TID 311 percentile rank and z-score) and
      "hc_population" (its description), None without a centile}.
    """
    import highdicom as hd
    sr = hd.sr.srread(path)
    group = sr.content.get_planar_roi_measurement_groups()[0]
    hc = next(m for m in group.get_measurements() if m.name.value == HC_CODE[0])
    gas = {m.method.meaning: m.value for m in group.get_measurements()
           if m.name.value == GA_CODE[0]}
    evals = next(item.ContentSequence for item in sr.ContentSequence
                 if item.ConceptNameCodeSequence[0].CodeValue == QUALITATIVE[0])
    named = [(e.ConceptNameCodeSequence[0].CodeValue, e) for e in evals]
    review = next(e.ConceptCodeSequence[0].CodeValue == YES[0] for n, e in named
                  if n == REVIEW_NAME[0])
    reasons = [str(e.TextValue) for n, e in named if n == REVIEW_REASON_NAME[0]]
    region = group.roi
    image = region.ContentSequence[0].ReferencedSOPSequence[0]
    lower, upper, method = _read_interval(hc)
    axes = {m.name.value: m for m in group.get_measurements()
            if m.name.value in (BPD_CODE[0], OFD_CODE[0], CBPD_CODE[0], CI_CODE[0])}
    axis = {}
    for key, code in (("bpd", BPD_CODE[0]), ("ofd", OFD_CODE[0]),
                      ("corrected_bpd", CBPD_CODE[0])):
        m = axes.get(code)
        axis[f"{key}_mm"] = None if m is None else float(m.value)
        low, high, _ = _read_interval(m) if m is not None else (None, None, None)
        axis.update({f"{key}_lower_95_mm": low, f"{key}_upper_95_mm": high})
    ci = axes.get(CI_CODE[0])
    low, high, _ = _read_interval(ci) if ci is not None else (None, None, None)
    axis.update(cephalic_index=None if ci is None else float(ci.value),
                cephalic_index_lower_95=low, cephalic_index_upper_95=high)
    return {**axis,
            "hc_mm": float(hc.value), "ellipse": np.asarray(region.value, dtype=np.float64),
            "review": review, "reasons": reasons, "ga_weeks": gas,
            "frames": _frames(image.get("ReferencedFrameNumber")),
            "referenced_sop_instance_uid": str(image.ReferencedSOPInstanceUID),
            "study_instance_uid": str(sr.StudyInstanceUID),
            "hc_lower_95_mm": lower, "hc_upper_95_mm": upper, "hc_interval_method": method,
            **_read_population(hc)}


def _read_population(hc: Any) -> Dict[str, Any]:
    """{"hc_centile", "hc_z", "hc_population"} from the HC's TID 311 properties (Nones)."""
    out = {"hc_centile": None, "hc_z": None, "hc_population": None}
    names = {PERCENTILE_CODE[0]: "hc_centile", Z_SCORE_CODE[0]: "hc_z",
             POPULATION_DESCRIPTION[0]: "hc_population"}
    for item in hc[0].get("ContentSequence", []):
        key = names.get(item.ConceptNameCodeSequence[0].CodeValue)
        if key == "hc_population":
            out[key] = str(item.TextValue)
        elif key:
            out[key] = float(item.MeasuredValueSequence[0].NumericValue)
    return out


def _read_interval(hc: Any):
    """(lower, upper, method) of a measurement's interval (the HC's, BPD's, OFD's); Nones when
    it has none."""
    offsets, method = {}, None
    for item in hc[0].get("ContentSequence", []):  # the NUM item of the Measurement
        code = item.ConceptNameCodeSequence[0].CodeValue
        if code in (UPPER_UNCERTAINTY, LOWER_UNCERTAINTY):
            offsets[code] = float(item.MeasuredValueSequence[0].NumericValue)
        elif code == ALGORITHM_PARAMETERS and str(item.TextValue).startswith(INTERVAL_PARAMETER):
            method = str(item.TextValue)[len(INTERVAL_PARAMETER):]
    if len(offsets) != 2:
        return None, None, method
    value = float(hc.value)
    return value - offsets[LOWER_UNCERTAINTY], value + offsets[UPPER_UNCERTAINTY], method
