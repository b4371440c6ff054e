"""A measured head as a DICOM Structured Report (TID 1500 Measurement Report, highdicom).

One SR per measured frame: the fetus subject context (TID 1008, its mandatory Subject ID saying
the fetus is unknown: `FETUS_SUBJECT_ID`), the skull (SCT 89546000, CID 12020) as the planar
ROI's finding type, procedure reported SCT 363679005 (CID 100), HC in mm (LOINC 11984-2), the
ellipse as SCOORD ELLIPSE on the source instance and frame, BPD, OFD, the corrected BPD and the
cephalic index, the method (model name, version, sha256) as algorithm identification, GA by each
formula with its equation (Hadlock's as CID 12013 codes it, LOINC 11932-1), and the review flag
and its reasons as qualitative evaluations; with a GA from dating, the HC's centile and z-score
(below). Same study as the source, a new series; every UID new per call but the Device Observer
UID (one per model). The patient and study fields copied from the source are made valid, and the
SR's times put in the source's time zone, by `dicom_sr_evidence` (through `dicom_sr_document`,
which builds the document).

The HC's calibrated 95% interval is a measurement uncertainty, not a normal range: it goes in
TID 310 Measurement Properties as SCT 371886008 "+, range of upper measurement uncertainty" and
371885007 "-, range of lower measurement uncertainty" (offsets from the HC, in mm), and its
method (conformal, level) is an algorithm parameter of the HC measurement (TID 4019). The
centile is a property of the HC too: TID 311 Measurement Statistical Properties, DCM 121415
"Percentile Ranking of measurement" (%) and 121416 "Z-Score of measurement", the population
described in words (standard, GA, its dating) with the standard's paper as the authority.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from hc_tf import __version__
from hc_tf import edge
from hc_tf.io import dicom
from hc_tf.report import loinc
from hc_tf.report import records
from hc_tf.report.dicom_sr_document import MANUFACTURER, SCHEME, SRError, comprehensive_sr

HC_CODE = (loinc.HC, "LN", "Fetal Head Circumference US")
GA_CODE = (loinc.GESTATIONAL_AGE, "LN", "Gestational age")
PROCEDURE_CODE = ("363679005", "SCT", "Imaging procedure")
# The planar ROI's finding type: the skull outline the HC is measured on, as DICOM's CID 12020
# Fetal Biometry Anatomic Site codes it (SCT 1279005 "Fetal head" was in no DICOM context group).
FETAL_HEAD_CODE = ("89546000", "SCT", "Skull")
# TID 1008's Subject ID (121030): it or a Fetus ID is mandatory (row 3/row 4, MC each on the
# other; highdicom writes the Subject ID). An image header does not say which fetus it shows, so
# the value says so rather than naming fetus "1": twins' SRs must not read as one fetus tracked.
FETUS_SUBJECT_ID = "unknown: the image does not say which fetus"
# TID 1500 row 12: the report's Qualitative Evaluations container (CODE and TEXT items).
QUALITATIVE = ("C0034375", "UMLS", "Qualitative Evaluations")
REVIEW_NAME = ("REVIEW", SCHEME, "Review needed")
REVIEW_REASON_NAME = ("REVIEWREASON", SCHEME, "Review reason")
# CID 12005 (Fetal Biometry Measurements), the ellipse's axes; how they were measured is said
# by hc-tf's own method concept (Hadlock's BPD is outer-to-inner, these are outer-to-outer).
BPD_CODE = (loinc.BPD, "LN", "Biparietal Diameter")
OFD_CODE = (loinc.OFD, "LN", "Occipital-Frontal Diameter")
CBPD_CODE = (loinc.CORRECTED_BPD, "LN", "BPD area corrected")  # CID 12005: Doubilet & Greenes'
CI_CODE = (loinc.CEPHALIC_INDEX, "LN", "Cephalic Index")  # CID 12004 (Fetal Biometry Ratios), in %
AXES_METHOD = ("ELLIPSEAXES", SCHEME, "Outer to outer along the fitted ellipse's axes")
YES = ("373066001", "SCT", "Yes")
NO = ("373067005", "SCT", "No")
UPPER_UNCERTAINTY = "371886008"  # SCT, TID 310 row: offset above the value
LOWER_UNCERTAINTY = "371885007"  # SCT, TID 310 row: offset below the value
# TID 311 (Measurement Statistical Properties, under TID 310), CID 227: the HC's rank on the
# fetal HC standard at the GA from dating (OB-GYN's own CID 12017 codes belong to TID 5000).
PERCENTILE_CODE = ("121415", "DCM", "Percentile Ranking of measurement")
Z_SCORE_CODE = ("121416", "DCM", "Z-Score of measurement")
PERCENT = ("%", "UCUM", "Percent")
MM = ("mm", "UCUM", "millimeter")
NO_UNITS = ("1", "UCUM", "no units")
POPULATION = "INTERGROWTH-21st fetal head circumference standard"
POPULATION_DESCRIPTION = ("121405", "DCM", "Population description")
ALGORITHM_PARAMETERS = "111002"  # DCM "Algorithm Parameters" (TID 4019)
INTERVAL_PARAMETER = "uncertainty="  # prefix of the HC algorithm's interval-method parameter
# GA's measurement method: DICOM's own code where CID 12013 (Gestational Age Equations and
# Tables) has the equation, else hc-tf's scheme.
EQUATIONS = {"hadlock": ("11932-1", "LN", "HC, Hadlock 1984"),
             "intergrowth": ("IG21ST2016HC", SCHEME, "INTERGROWTH-21st 2016 (HC)")}
# SOP classes of one frame each: a reference to them carries no frame number (dciodvfy
# refuses one), even where the file holds several frames (OBXXXX1A_2frame.dcm does).
SINGLE_FRAME_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.6",
                                  "1.2.840.10008.5.1.4.1.1.7"})

@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """The method of a measurement: the model file's name, version and sha256."""

    name: str
    version: str
    sha256: str


def model_info(model_path: str) -> ModelInfo:
    """The model's name, version (its metadata JSON's model_version, else hc-tf's) and sha256.

    The metadata is `edge.metadata_path`'s, the file `hc-tf export` writes and the runtime
    checks (`model.tflite` -> `model.json`); a `.keras` has none (`model.keras.json`), so the
    `model.json` of the `.tflite` exported beside it is not read as the `.keras`'s.
    """
    version = __version__
    sidecar = edge.metadata_path(model_path)
    if os.path.isfile(sidecar):
        try:
            with open(sidecar, encoding="utf-8") as f:
                version = str(json.load(f).get("model_version", version))
        except (OSError, ValueError, AttributeError):
            pass  # the version is descriptive; the sha256 identifies the model
    return ModelInfo(os.path.basename(model_path), version, edge.sha256_file(model_path))


def device_uid(model: ModelInfo) -> str:
    """The Device Observer UID (TID 1004) of a model: derived from its sha256, so every SR the
    same model writes names one device (a new UID per SR would make each report another
    device's)."""
    from pydicom.uid import generate_uid
    return generate_uid(entropy_srcs=["hc-tf device observer", model.sha256])


def device_observer(model: ModelInfo) -> Any:
    """The model as the SR's observer device (TID 1004)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=device_uid(model), name=model.name, manufacturer_name=MANUFACTURER,
            model_name=f"{model.name} {model.version}"))


def concept(code):
    """A (value, scheme, meaning) triple as highdicom's CodedConcept; a pydicom Code as it is."""
    import highdicom as hd
    return hd.sr.CodedConcept(*code) if isinstance(code, tuple) else code


def scoord_ellipse(ellipse: Any) -> np.ndarray:
    """(4, 2) SCOORD ELLIPSE points: major-axis ends, then minor-axis ends.

    DICOM image coordinates put the top-left pixel's corner at (0, 0), its centre at
    (0.5, 0.5); hc-tf's pixel centres are at integers, hence the +0.5.
    """
    c, s = math.cos(ellipse.angle), math.sin(ellipse.angle)
    major = np.array([c, s]) * ellipse.a
    minor = np.array([-s, c]) * ellipse.b
    centre = np.array([ellipse.cx, ellipse.cy]) + 0.5
    return np.stack([centre - major, centre + major, centre - minor, centre + minor])


def _evaluations(review: bool, reasons: Sequence[str]) -> Any:
    """The review flag (CODE: Yes/No) and each reason (TEXT, whole) in TID 1500's Qualitative
    Evaluations container (row 12), where validators expect them."""
    import highdicom as hd
    contains = hd.sr.RelationshipTypeValues.CONTAINS
    container = hd.sr.ContainerContentItem(name=concept(QUALITATIVE), relationship_type=contains)
    container.ContentSequence = (
        [hd.sr.CodeContentItem(name=concept(REVIEW_NAME), value=concept(YES if review else NO),
                               relationship_type=contains)]
        + [hd.sr.TextContentItem(name=concept(REVIEW_REASON_NAME), value=r,
                                 relationship_type=contains) for r in reasons])
    return container


def _population(centile: Optional[Dict[str, Any]], dating: Optional[Dict[str, Any]]) -> Any:
    """TID 311 Measurement Statistical Properties of the HC at the GA from dating: its
    percentile rank and z-score on the fetal HC standard (report.json's "centile"), the
    standard, GA and dating as the population description, the standard's paper as the
    authority; None without a centile."""
    if not centile or centile.get("status") != "ok" or centile.get("centile") is None:
        return None
    import highdicom as hd
    has = hd.sr.RelationshipTypeValues.HAS_PROPERTIES
    values = [hd.sr.NumContentItem(name=concept(code), value=round(float(centile[key]), 4),
                                   unit=concept(unit), relationship_type=has)
              for code, key, unit in ((PERCENTILE_CODE, "centile", PERCENT),
                                      (Z_SCORE_CODE, "z", NO_UNITS))]
    source = f", dated by {dating['source']}" if dating and dating.get("source") else ""
    props = hd.sr.MeasurementStatisticalProperties(
        values, description=f"{POPULATION} at {centile['ga']} weeks{source}",
        authority=centile["source"])
    for item in props:  # PS3.16's meaning (highdicom's code dictionary capitalises it)
        if item.ConceptNameCodeSequence[0].CodeValue == POPULATION_DESCRIPTION[0]:
            item.ConceptNameCodeSequence[0].CodeMeaning = POPULATION_DESCRIPTION[2]
    return props


def measurement_properties(value: float, interval: Optional[Dict[str, Any]],
                           population: Any = None, unit: Tuple[str, str, str] = MM) -> Any:
    """TID 310 properties: the interval as +/- offsets from the value, in the value's `unit`
    (highdicom writes them with unit "1"), and the HC's `_population`; None when there is
    neither."""
    bounds = records.interval_bounds(interval)
    if bounds is None and population is None:
        return None
    import highdicom as hd
    offsets = {}
    if bounds is not None:
        offsets = {"upper_measurement_uncertainty": bounds[1] - float(value),
                   "lower_measurement_uncertainty": float(value) - bounds[0]}
    props = hd.sr.MeasurementProperties(measurement_statistical_properties=population, **offsets)
    for item in props:
        if item.ConceptNameCodeSequence[0].CodeValue in (UPPER_UNCERTAINTY, LOWER_UNCERTAINTY):
            item.MeasuredValueSequence[0].MeasurementUnitsCodeSequence = [concept(unit)]
    return props


def interval_method_text(interval: Dict[str, Any]) -> str:
    """The interval's method and level as one algorithm parameter."""
    return (f"{INTERVAL_PARAMETER}{float(interval['level']) * 100:.0f}% interval "
            f"(measurement uncertainty, not a normal range): {interval['method']}")


def _with_interval(value: float, interval: Optional[Dict[str, Any]], algorithm: Any,
                   model: Any, population: Any = None,
                   unit: Tuple[str, str, str] = MM) -> Tuple[Any, Any]:
    """(algorithm, TID 310 properties) of a measurement: with an interval, its offsets, and its
    method named among the algorithm's parameters; without, the plain algorithm (and only the
    `population`'s properties, if any)."""
    import highdicom as hd
    props = measurement_properties(value, interval, population, unit)
    if props is None or records.interval_bounds(interval) is None:
        return algorithm, props
    return hd.sr.AlgorithmIdentification(
        name=model.name, version=model.version,
        parameters=[f"sha256={model.sha256}", interval_method_text(interval)]), props


def _measurements(hc_mm: float, ga: Dict[str, Dict[str, Any]], algorithm: Any,
                  interval: Optional[Dict[str, Any]] = None, model: Any = None,
                  biometry: Optional[Dict[str, Any]] = None,
                  axis_intervals: Optional[Dict[str, Any]] = None,
                  population: Any = None) -> List[Any]:
    import highdicom as hd
    from pydicom.sr.codedict import codes
    hc_algorithm, props = _with_interval(hc_mm, interval, algorithm, model, population)
    out = [hd.sr.Measurement(name=concept(HC_CODE), value=float(hc_mm),
                             unit=codes.UCUM.Millimeter, algorithm_id=hc_algorithm,
                             properties=props)]
    for code, field, key in ((BPD_CODE, "bpd_mm", "bpd"), (OFD_CODE, "ofd_mm", "ofd"),
                             (CBPD_CODE, "corrected_bpd_mm", "cbpd")):
        if biometry and biometry.get(field) is not None:
            value = float(biometry[field])
            axis_algorithm, props = _with_interval(value, (axis_intervals or {}).get(key),
                                                   algorithm, model)
            out.append(hd.sr.Measurement(name=concept(code), value=value,
                                         unit=codes.UCUM.Millimeter, method=concept(AXES_METHOD),
                                         algorithm_id=axis_algorithm, properties=props))
    if biometry and biometry.get("cephalic_index") is not None:  # 100 BPD / OFD, in %
        value = float(biometry["cephalic_index"])
        ci_algorithm, props = _with_interval(value, (axis_intervals or {}).get("ci"), algorithm,
                                             model, unit=PERCENT)
        out.append(hd.sr.Measurement(name=concept(CI_CODE), value=value, unit=concept(PERCENT),
                                     method=concept(AXES_METHOD), algorithm_id=ci_algorithm,
                                     properties=props))
    for key, g in ga.items():
        if g.get("status") == "ok" and g.get("ga_weeks") is not None:
            out.append(hd.sr.Measurement(
                name=concept(GA_CODE), value=round(float(g["ga_weeks"]), 4),
                unit=hd.sr.CodedConcept("wk", "UCUM", "week"), method=concept(EQUATIONS[key]),
                algorithm_id=algorithm))
    return out


def build_sr(source: Any, frame: Optional[int], ellipse: Any, hc_mm: float,
             ga: Dict[str, Dict[str, Any]], review: bool, reasons: Sequence[str],
             model: ModelInfo, series_instance_uid: Optional[str] = None,
             instance_number: int = 1, hc_interval: Optional[Dict[str, Any]] = None,
             notes: Optional[List[str]] = None, biometry: Optional[Dict[str, Any]] = None,
             axis_intervals: Optional[Dict[str, Any]] = None,
             centile: Optional[Dict[str, Any]] = None,
             dating: Optional[Dict[str, Any]] = None) -> Any:
    """The SR dataset of one measured head.

    The source's patient and study fields are copied as DICOM allows them
    (`dicom_sr_evidence.clean_evidence`): a dashed date becomes YYYYMMDD, "FEMALE" F, a
    several-valued name its first value, and a value that stays invalid is left empty; each
    change is a note naming the tag, never the value. No warning or highdicom log line is let
    out while it is built (they quote values).

    Args:
      source: the source image's pydicom Dataset (header is enough: patient, study, UIDs).
      frame: the 1-based frame measured, or None for a single-frame image.
      ellipse: the head ellipse in original pixels (`measure.Ellipse`).
      hc_mm: the HC.
      ga: report.json's "gestational_age" ({"hadlock": ga_record, ...}).
      review, reasons: the review flag and its reasons.
      model: the method.
      series_instance_uid: the SR series (one per run and study); None: a new one.
      instance_number: the SR's number in its series.
      hc_interval: report.json's "hc_interval" ({"lower_mm", "upper_mm", "level", "method"});
        None: no uncertainty is written.
      notes: a list the notes on changed patient/study fields are appended to.
      biometry: report.json's "biometry" ({"bpd_mm", "ofd_mm", "corrected_bpd_mm",
        "cephalic_index", ...}): BPD, OFD, the corrected BPD (LOINC 11824-0) and the cephalic
        index (LOINC 11823-2, in %) are written beside the HC (None: not written).
      axis_intervals: {"bpd": report.json's "bpd_interval", "ofd": its "ofd_interval",
        "cbpd": its "corrected_bpd_interval", "ci": its "cephalic_index_interval"}:
        each written as its measurement's uncertainty, as the HC's (None or a note: none).
      centile, dating: report.json's "centile" and "dating": the HC's percentile rank and
        z-score at the GA from dating, with the standard and the GA's source (`_population`;
        None, or a centile outside the standard: none written).

    Returns:
      A highdicom ComprehensiveSR (a pydicom Dataset).

    Raises:
      SRError: highdicom refused the source all the same, or knows no IOD of its SOP class;
        it names the tags whose values the refusal quoted, without the values.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.uid import generate_uid

    algorithm = hd.sr.AlgorithmIdentification(name=model.name, version=model.version,
                                              parameters=[f"sha256={model.sha256}"])
    region = ellipse_region(source.SOPClassUID, source.SOPInstanceUID, frame,
                            scoord_ellipse(ellipse))
    roi = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="fetal head"),
        referenced_region=region, finding_type=concept(FETAL_HEAD_CODE), algorithm_id=algorithm,
        measurements=_measurements(hc_mm, ga, algorithm, hc_interval, model, biometry,
                                   axis_intervals, _population(centile, dating)))
    context = hd.sr.ObservationContext(
        observer_device_context=device_observer(model),
        subject_context=hd.sr.SubjectContext(
            subject_class=codes.DCM.Fetus,
            subject_class_specific_context=hd.sr.SubjectContextFetus(subject_id=FETUS_SUBJECT_ID)))
    report = hd.sr.MeasurementReport(observation_context=context,
                                     procedure_reported=concept(PROCEDURE_CODE),
                                     imaging_measurements=[roi])
    report[0].ContentSequence.append(_evaluations(review, reasons))
    return comprehensive_sr(source, report, series_instance_uid or generate_uid(),
                            instance_number, notes)


def ellipse_region(sop_class_uid: str, sop_instance_uid: str, frame: Optional[int],
                   points: np.ndarray) -> Any:
    """The head's ellipse (`scoord_ellipse` points) on its instance, naming the 1-based `frame`
    of a multi-frame file (None: a single-frame one) unless its SOP class has one frame each."""
    import highdicom as hd
    frames = [frame] if frame is not None and str(sop_class_uid) not in SINGLE_FRAME_CLASSES \
        else None
    try:
        with dicom.quiet():  # pydicom quotes a source UID it finds invalid as the region copies it
            return hd.sr.ImageRegion(
                graphic_type=hd.sr.GraphicTypeValues.ELLIPSE, graphic_data=points,
                source_image=hd.sr.SourceImageForRegion(sop_class_uid, sop_instance_uid,
                                                        referenced_frame_numbers=frames))
    except KeyError:  # highdicom knows no IOD of the class: a private or damaged one
        raise SRError("SOPClassUID (0008,0016) is not an image class DICOM defines") from None
