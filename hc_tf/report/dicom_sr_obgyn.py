"""An exam's heads as a DICOM OB-GYN Ultrasound Procedure Report (TID 5000, highdicom's content
items): the template OB reporting systems read from scanners.

One SR per DICOM exam (`exams` groups a study's series) whose heads have their TID 1500 SRs
(`dicom_sr`), in the same new series. TID 5005's Fetal Biometry section holds one TID 5008
Biometry Group per measurement (HC, BPD, OFD, corrected BPD): each image's value (TID 300)
inferred from its ellipse on its frame (TID 320), with its 95% interval as the measurement's
uncertainty (TID 310); with several images, their mean (Derivation: Mean) and the mean's
interval, as exams.csv has them. The HC group adds the GA of the (mean) HC by each equation
(Hadlock's by its CID 12013 code), with exams.csv's 95% interval of it as TID 310 offsets
(Hadlock's, with its 2 SD; none by INTERGROWTH-21st, which publishes no per-estimate spread)
and, with a GA from dating, the HC's growth percentile rank
and z-score (CID 12017) on the INTERGROWTH-21st standard. The cephalic index goes in TID
5004's Fetal Biometry Ratios, alike. The Fetus Summary (TID 5003) carries the GA from dating
(LOINC 11885-1 "by LMP" from the file's LMP, 11884-4 "Gestational age Estimated" when typed:
never the HC-derived GAs' 18185-9) and, as comments, the review flag, its reasons and the images' disagreement.

No fetus subject context (TID 1008): DICOM asks for one where a report covers several fetuses,
and an image header does not say which fetus it shows.
"""

from __future__ import annotations

import statistics
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from hc_tf.io import dicom_dating
from hc_tf.report import dicom_sr
from hc_tf.report import dicom_sr_document
from hc_tf.report import loinc
from hc_tf.report import records as records_lib
from hc_tf.report.dicom_sr import concept

DAY = ("d", "UCUM", "day")
# The Fetus Summary's GA from dating when typed: not 18185-9, the Biometry Group's HC-derived GAs'
# code (`loinc.GESTATIONAL_AGE_ESTIMATED`); one from the file's LMP is 11885-1 "by LMP".
TYPED_GA_CODE = (loinc.GESTATIONAL_AGE_ESTIMATED, "LN", "Gestational age Estimated")
# The centile's standard: CID 12015 (Fetal Growth Equations and Tables) has no INTERGROWTH-21st.
IG21_HC_TABLE = ("IG21STHCBYGA", dicom_sr_document.SCHEME, "HC by GA, INTERGROWTH-21st 2014")
# (pydicom's LOINC keyword, report field, interval field, unit): CID 12005 (Fetal Biometry
# Measurement) and CID 12004 (Fetal Biometry Ratio), as pydicom's code dictionary holds them.
MEASUREMENTS = (
    ("HeadCircumference", "hc_mm", "hc_interval", dicom_sr.MM),
    ("BiparietalDiameter", "bpd_mm", "bpd_interval", dicom_sr.MM),
    ("OccipitalFrontalDiameter", "ofd_mm", "ofd_interval", dicom_sr.MM),
    ("BPDAreaCorrected", "corrected_bpd_mm", "corrected_bpd_interval", dicom_sr.MM))
RATIO = ("CephalicIndex", "cephalic_index", "cephalic_index_interval", dicom_sr.PERCENT)


def value_of(record: Mapping[str, Any], field: str) -> Optional[float]:
    """A record's measurement: the HC at its top level, the rest in its "biometry"."""
    value = record.get(field) if field == "hc_mm" else (record.get("biometry") or {}).get(field)
    return None if value is None else float(value)


def _container(code, template: str) -> Any:
    import highdicom as hd
    return hd.sr.ContainerContentItem(name=concept(code), template_id=template,
                                      relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)


def _region(record: Mapping[str, Any]) -> Any:
    """INFERRED FROM the image's ellipse (SCOORD) SELECTED FROM its frame (TID 320)."""
    import numpy as np
    refs = record["dicom"]
    frame = int(refs["frame"]) if (refs.get("frames_in_file") or 1) > 1 else None
    region = dicom_sr.ellipse_region(refs["sop_class_uid"], refs["sop_instance_uid"], frame,
                                     np.asarray(refs["ellipse_scoord"], dtype=float))
    region.RelationshipType = "INFERRED FROM"
    return region


def _num(code, value: float, unit, interval: Optional[Dict[str, Any]] = None,
         children: Sequence[Any] = ()) -> Any:
    """A TID 300 measurement: the NUM, then `children`, then its interval as TID 310 offsets."""
    import highdicom as hd
    item = hd.sr.NumContentItem(name=concept(code), value=float(value), unit=concept(unit),
                                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
    props = dicom_sr.measurement_properties(value, interval, unit=unit)
    content = list(children) + list(props or [])
    if content:
        item.ContentSequence = content
    return item


def mean_with_interval(values: Sequence[float], intervals: Sequence[Optional[Dict[str, Any]]]
                       ) -> Tuple[float, Optional[Dict[str, Any]]]:
    """The values' mean and its interval: the mean of the images' half-widths when every image
    has one (exams' rule: no credit for averaging)."""
    mean = statistics.fmean(values)
    bounds = [records_lib.interval_bounds(iv) for iv in intervals]
    if any(b is None for b in bounds):
        return mean, None
    half = statistics.fmean((hi - lo) / 2 for lo, hi in bounds)
    return mean, {"lower": mean - half, "upper": mean + half}


def _measured(members: Sequence[Mapping[str, Any]], spec) -> List[Any]:
    """Each image's value of one measurement and, with several, their mean ([] if none has it)."""
    from pydicom.sr.codedict import codes
    import highdicom as hd
    keyword, field, interval_field, unit = spec
    code = getattr(codes.LN, keyword)
    have = [r for r in members if value_of(r, field) is not None]

    def method() -> List[Any]:  # a new item each time: one dataset is one content item
        return [hd.sr.CodeContentItem(
            name=codes.SCT.MeasurementMethod, value=concept(dicom_sr.AXES_METHOD),
            relationship_type=hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD)
        ] if field != "hc_mm" else []
    items = [_num(code, value_of(r, field), unit, r.get(interval_field), method() + [_region(r)])
             for r in have]
    if len(have) > 1:
        mean, interval = mean_with_interval([value_of(r, field) for r in have],
                                            [r.get(interval_field) for r in have])
        derivation = hd.sr.CodeContentItem(
            name=codes.DCM.Derivation, value=codes.SCT.Mean,
            relationship_type=hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD)
        items.append(_num(code, mean, unit, interval, method() + [derivation]))
    return items


def _inferred_from(name, value) -> Any:
    import highdicom as hd
    return hd.sr.CodeContentItem(name=concept(name), value=concept(value),
                                 relationship_type=hd.sr.RelationshipTypeValues.INFERRED_FROM)


def _hc_derived(exam: Mapping[str, Any]) -> List[Any]:
    """The GA of the (mean) HC by each equation, in days, with exams.csv's 95% interval of it as
    TID 310 offsets (none by INTERGROWTH-21st), and the HC's growth percentile rank and z-score
    at the GA from dating."""
    from pydicom.sr.codedict import codes
    from hc_tf.report import exams
    out = []
    for key in ("hadlock", "intergrowth"):
        days = exam.get(f"ga_{key}_days")
        if days is not None:
            out.append(_num(codes.LN.GestationalAge, round(float(days), 2), DAY,
                            exams.ga_interval_record(exam, key), children=[
                                _inferred_from(codes.DCM.Equation, dicom_sr.EQUATIONS[key])]))
    if exam.get("hc_mean_centile") is not None:
        for code, key, unit in ((codes.DCM.GrowthPercentileRank, "hc_mean_centile",
                                 dicom_sr.PERCENT),
                                (codes.DCM.GrowthZScore, "hc_mean_z", dicom_sr.NO_UNITS)):
            out.append(_num(code, round(float(exam[key]), 4), unit, children=[
                _inferred_from(codes.DCM.Equation, IG21_HC_TABLE)]))
    return out


def comments(members: Sequence[Mapping[str, Any]], exam: Mapping[str, Any]) -> List[str]:
    """The review flag and its reasons (image k of n: reason), and the images' disagreement."""
    flagged = [(i, r) for i, r in enumerate(members, 1) if r.get("review")]
    lines = [f"hc-tf review: {'needed' if flagged or exam.get('disagree') else 'not needed'}"]
    lines += [f"image {i} of {len(members)}: {reason}" for i, r in flagged
              for reason in r.get("review_reasons") or ["flagged"]]
    if exam.get("disagree"):
        lines.append(exam["disagree_reason"])
    return lines


def _summary(members: Sequence[Mapping[str, Any]], exam: Mapping[str, Any]) -> Any:
    """TID 5002's Summary holding the Fetus Summary (TID 5003): the GA from dating, comments."""
    from pydicom.sr.codedict import codes
    import highdicom as hd
    fetus = _container(codes.DCM.FetusSummary, "5003")
    content = []
    if exam.get("known_ga_weeks") is not None:
        by_lmp = (members[0].get("dating") or {}).get("source") == dicom_dating.LMP_SOURCE
        code = codes.LN.GestationalAgeByLMP if by_lmp else concept(TYPED_GA_CODE)
        content.append(_num(code, round(float(exam["known_ga_weeks"]) * 7, 2), DAY))
    content += [hd.sr.TextContentItem(name=codes.DCM.Comment, value=line,
                                      relationship_type=hd.sr.RelationshipTypeValues.CONTAINS)
                for line in comments(members, exam)]
    fetus.ContentSequence = content
    summary = _container(codes.LN.Summary, "5002")  # DCM 121111 is retired for LOINC's
    summary.ContentSequence = [fetus]
    return summary


def _sections(members: Sequence[Mapping[str, Any]], exam: Mapping[str, Any]) -> List[Any]:
    """The Summary, the Fetal Biometry Ratios (if any) and the Fetal Biometry sections."""
    from pydicom.sr.codedict import codes
    out = [_summary(members, exam)]
    ratios = _measured(members, RATIO)
    if ratios:
        section = _container(codes.DCM.FetalBiometryRatios, "5004")
        section.ContentSequence = ratios
        out.append(section)
    biometry = _container(codes.DCM.FetalBiometry, "5005")
    groups = []
    for spec in MEASUREMENTS:
        items = _measured(members, spec)
        if items:
            group = _container(codes.DCM.BiometryGroup, "5008")
            group.ContentSequence = items + (_hc_derived(exam) if spec[1] == "hc_mm" else [])
            groups.append(group)
    biometry.ContentSequence = groups
    return out + [biometry]


def _reference(record: Mapping[str, Any]) -> Any:
    """The evidence entry of an image after the first: its UIDs alone."""
    from pydicom.dataset import Dataset
    refs, ds = record["dicom"], Dataset()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = refs["study_instance_uid"], refs[
        "series_instance_uid"]
    ds.SOPClassUID, ds.SOPInstanceUID = refs["sop_class_uid"], refs["sop_instance_uid"]
    return ds


def build_exam_sr(source: Any, members: Sequence[Mapping[str, Any]], exam: Mapping[str, Any],
                  model: dicom_sr.ModelInfo, series_instance_uid: str,
                  instance_number: int) -> Any:
    """The OB-GYN SR of one exam.

    Args:
      source: the first member's pydicom header (its patient and study fields are copied, made
        valid as `dicom_sr.build_sr` makes them, which notes the changes).
      members: the exam's report.json records with a head and a TID 1500 SR ("dicom" UIDs,
        frame and "ellipse_scoord"), all of one study, in input order.
      exam: the exam's exams.csv row (`exams.exam_record`).
      model: the method (the device observer).
      series_instance_uid, instance_number: where the SR goes (the run's SR series).

    Returns:
      A highdicom ComprehensiveSR.

    Raises:
      dicom_sr_document.SRError: highdicom refused the source; it names tags, never values.
    """
    from pydicom.sr.codedict import codes
    import highdicom as hd
    root = hd.sr.ContainerContentItem(name=codes.DCM.OBGYNUltrasoundProcedureReport,
                                      template_id="5000")
    language = hd.sr.LanguageOfContentItemAndDescendants(
        language=hd.sr.CodedConcept("en-US", "RFC5646", "English (United States)"))
    context = hd.sr.ObservationContext(observer_device_context=dicom_sr.device_observer(model))
    root.ContentSequence = list(language) + list(context) + _sections(members, exam)
    return dicom_sr_document.comprehensive_sr(source, root, series_instance_uid, instance_number,
                                              references=[_reference(r) for r in members[1:]])
