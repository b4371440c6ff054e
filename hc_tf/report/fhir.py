"""A measured head as FHIR R4 Observations (JSON), checked by fhir.resources' R4B models.

The HC: LOINC 11984-2 (Fetal Head Circumference US), valueQuantity in mm (UCUM), derivedFrom
the source study and instance (an ImagingStudy reference naming their UIDs), the method (model
name, version, sha256) and the device. BPD (LOINC 11820-8), OFD (11851-3), the corrected BPD
(11824-0) and the cephalic index (11823-2, in %, with its normal range and the head shape as
interpretation) are Observations of their own beside it, as HL7's fetal-records guide (IBCM)
has each biometry measurement, so an EHR finds each by its code, and so is the GA the HC gives by
each equation in range (`fhir_ga`: LOINC 18185-9, in days, with its 95% interval), as the SR
has it; `head_bundle` gathers them in one Bundle (type collection), a file a system files as it
likes (the node's `fhir` destination as one transaction). R4B's Observation is R4's
(fhir.resources has no plain R4 package).

No patient data by default: a bare PatientID risks the wrong patient (an ID means nothing
without its issuer), so the subject is left to the system that files it. Given the issuer's
system (an absolute URI, `check_system`; DICOM's is `urn:oid:<OID>`), the subject is the
PatientID under it, a logical reference by identifier (`patient_subject`). IssuerOfPatientID
(0010,0021) is free text, not a URI: the system is always the one configured, never derived.

The review flag is about the measurement's quality, not the value's normality, so it is a note
("please review: <reasons>", first in `note`), never `interpretation`: an EHR shows
Observation.interpretation as the abnormal-flag column (HL7 v3 ObservationInterpretation:
High, Low, Normal, ...), where a quality remark would read as a clinical judgement of the HC.
An unflagged head has no review note (nothing is shown where nothing is to be reviewed, as the
report and the web app show nothing); status stays `preliminary` either way.

Each value's calibrated 95% interval (the HC's, BPD's, OFD's) is an uncertainty of it, so it rides on the value: the
FHIR Extensions Pack's `quantity-confidenceInterval` on valueQuantity (sub-extensions
`confidence`, percent, and `interval`, a Range in mm), its method in a note. Not a
referenceRange (that is a normal range of a population), nor `iso21090-uncertainty` (a
standard deviation, which a distribution-free conformal interval does not give).

With a GA from dating (typed, or the file's Last Menstrual Date), the HC is also read as size
for that age, on the INTERGROWTH-21st standard, as the SR's TID 311 reads it: the normal range
the centile flag uses (3rd to 97th centile at that GA) as `referenceRange` (meaning "normal"),
`interpretation` Low / Normal / High against it (the value's normality: what the column is
for), and its centile and z-score as components, coded as the SR codes them (DCM 121415,
121416).
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

from hc_tf.report import loinc

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# FHIR's rule for a DICOM UID in an Identifier (R4 ImagingStudy, Implementation Notes): system
# "urn:dicom:uid", the UID as the value prefixed with "urn:oid:".
DICOM_UID = "urn:dicom:uid"
OID = "urn:oid:"
HC_CODING = {"system": LOINC, "code": loinc.HC, "display": "Fetal Head Circumference US"}
# BPD and OFD by their LOINC codes (as the SR's CID 12005 codes them) with a plain-words text,
# no display (a display must be LOINC's own name, which this project does not ship).
AXES = (("bpd_mm", "bpd", {"coding": [{"system": LOINC, "code": loinc.BPD}],
                    "text": "Fetal head biparietal diameter (BPD), ultrasound"}),
        ("ofd_mm", "ofd", {"coding": [{"system": LOINC, "code": loinc.OFD}],
                    "text": "Fetal head occipitofrontal diameter (OFD), ultrasound"}),
        ("corrected_bpd_mm", "cbpd", {"coding": [{"system": LOINC, "code": loinc.CORRECTED_BPD}],
                                      "text": "Fetal head corrected BPD (area corrected, "
                                              "Doubilet & Greenes), ultrasound"}))
AXIS_TITLES = {"bpd": "BPD", "ofd": "OFD", "cbpd": "corrected BPD"}  # in the notes
# The cephalic index (100 BPD / OFD, in %), as the SR's CID 12004 codes it, with its normal
# range and the head shape read against it (as the report's words).
CI_CODE = {"coding": [{"system": LOINC, "code": loinc.CEPHALIC_INDEX}],
           "text": "Fetal head cephalic index (100 BPD / OFD), ultrasound"}
HEAD_SHAPES = {"dolichocephalic": ("L", "Low"), "normal": ("N", "Normal"),
               "brachycephalic": ("H", "High")}
IMAGING_CATEGORY = {"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "imaging", "display": "Imaging"}
CONFIDENCE_INTERVAL = "http://hl7.org/fhir/StructureDefinition/quantity-confidenceInterval"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
# the centile flag -> HL7 v3 ObservationInterpretation (no flag: Normal)
INTERPRETATIONS = {"below_3rd": ("L", "Low"), None: ("N", "Normal"),
                   "above_97th": ("H", "High")}
NORMAL_RANGE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                            "referencerange-meaning", "code": "normal", "display": "Normal Range"}]}
# Identifier.system is an absolute URI (R4 Identifier). FHIR's `oid` type: urn:oid: and an OID
# (no leading zeros, first arc 0-2); another URN (RFC 8141: urn:<NID>:<NSS>); or an http(s) URL.
_OID_URI = re.compile(r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+")
_URN = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:\S+")
_URL = re.compile(r"https?://[^/?#\s]+\S*")
# A TM value: HH, HHMM or HHMMSS, and a fraction of up to 6 digits after HHMMSS.
STUDY_TIME = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?")


def _quantity(value: float, unit: str = "mm") -> Dict[str, Any]:
    return {"value": float(value), "unit": unit, "system": UCUM, "code": unit}


def _mm(value: float) -> Dict[str, Any]:
    return _quantity(value, "mm")


def confidence_interval(interval: Dict[str, Any], unit: str = "mm") -> Dict[str, Any]:
    """The `quantity-confidenceInterval` extension of an interval record (report.json's
    "hc_interval": {"lower_mm", "upper_mm", "level", ...}, or the cephalic index's in %)."""
    from hc_tf.report import records
    lower, upper = records.interval_bounds(interval)
    return {"url": CONFIDENCE_INTERVAL, "extension": [
        {"url": "confidence", "valueDecimal": round(float(interval["level"]) * 100, 6)},
        {"url": "interval", "valueRange": {"low": _quantity(lower, unit),
                                           "high": _quantity(upper, unit)}}]}


def read_interval(doc: Dict[str, Any]) -> Optional[Dict[str, float]]:
    """{"level", "lower_mm", "upper_mm"} from an Observation's valueQuantity (the cephalic
    index's ends in %), or None."""
    for ext in doc.get("valueQuantity", {}).get("extension", []):
        if ext.get("url") == CONFIDENCE_INTERVAL:
            parts = {e["url"]: e for e in ext["extension"]}
            rng = parts["interval"]["valueRange"]
            return {"level": float(parts["confidence"]["valueDecimal"]) / 100,
                    "lower_mm": float(rng["low"]["value"]),
                    "upper_mm": float(rng["high"]["value"])}
    return None


def check_system(uri: Any) -> str:
    """`uri` if it can be an Identifier.system (an absolute URI, no spaces).

    Raises:
      ValueError: quoting it (configuration, not patient data) and saying what is accepted.
    """
    text = uri if isinstance(uri, str) else ""
    if text.startswith(OID):
        if not _OID_URI.fullmatch(text):
            raise ValueError(f"{uri!r}: urn:oid: takes an OID, digits and dots without leading "
                             "zeros, e.g. urn:oid:1.2.840.113619.6.1")
    elif not (_URN.fullmatch(text) or _URL.fullmatch(text)):
        raise ValueError(f"{uri!r} is not an absolute URI: give urn:oid:<OID> (DICOM's issuer "
                         "form), another urn:..., or an http(s):// URL, without spaces")
    return text


def patient_subject(system: Optional[str], patient_id: Any) -> Optional[Dict[str, Any]]:
    """Observation.subject: the patient by identifier (`system`, the ID stripped, as DICOM's LO
    pads it), or None without a system or an ID."""
    value = str(patient_id or "").strip()
    if not system or not value:
        return None
    return {"type": "Patient", "identifier": {"system": system, "value": value}}


def source_references(uids: Dict[str, str], frame: Optional[int],
                      sr_sop_instance_uid: Optional[str]) -> List[Dict[str, Any]]:
    """derivedFrom: the study and instance (and frame) measured, and the SR written beside it."""
    at = f", frame {frame}" if frame is not None else ""
    derived = [{"type": "ImagingStudy",
                "identifier": {"system": DICOM_UID,
                               "value": f"{OID}{uids['study_instance_uid']}"},
                "display": f"study {uids['study_instance_uid']}, instance "
                           f"{uids['sop_instance_uid']}{at}"},
               {"type": "Media", "identifier": {"system": DICOM_UID,
                                                "value": f"{OID}{uids['sop_instance_uid']}"},
                "display": f"source image{at}"}]
    if sr_sop_instance_uid:
        derived.append({"identifier": {"system": DICOM_UID,
                                       "value": f"{OID}{sr_sop_instance_uid}"},
                        "display": "DICOM SR (TID 1500) of this measurement"})
    return derived


def head_observation(code: Dict[str, Any], value: float, method: str, model: Any,
                     derived: List[Dict[str, Any]], notes: List[Dict[str, str]],
                     effective: Optional[str], subject: Optional[Dict[str, Any]],
                     unit: str = "mm") -> Dict[str, Any]:
    doc = {
        "resourceType": "Observation", "status": "preliminary",
        "category": [{"coding": [IMAGING_CATEGORY]}],
        "code": code, "valueQuantity": _quantity(value, unit),
        "method": {"text": method},
        "device": {"display": f"hc-tf {model.name} {model.version}"},
        "derivedFrom": derived,
    }
    if notes:
        doc["note"] = notes
    if effective:
        doc["effectiveDateTime"] = effective
    if subject:
        doc["subject"] = subject
    return doc


def with_centile(doc: Dict[str, Any], centile: Optional[Dict[str, Any]],
                 dating: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """The HC's Observation read as size for the GA from dating (report.json's "centile" and
    "dating"): its normal range, interpretation and centile components; as it is without a
    centile the standard gives (none, or a GA outside it)."""
    if not centile or centile.get("status") != "ok":
        return doc
    from hc_tf import clinical
    from hc_tf.report import dicom_sr
    low, high = (clinical.hc_at_centile(centile["ga_weeks"], c)
                 for c in (clinical.LOW_CENTILE, clinical.HIGH_CENTILE))
    dated = f" (GA from dating: {dating['source']})" if dating and dating.get("source") else ""
    doc["referenceRange"] = [{
        "low": _mm(low), "high": _mm(high), "type": NORMAL_RANGE,
        "text": f"3rd to 97th centile of the {dicom_sr.POPULATION} at {centile['ga']} "
                f"weeks{dated}"}]
    code, display = INTERPRETATIONS[centile.get("flag")]
    doc["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": code,
                                          "display": display}], "text": centile["display"]}]
    doc["component"] = [
        {"code": {"coding": [{"system": DCM, "code": name[0], "display": name[2]}]},
         "valueQuantity": _quantity(centile[key], unit)}
        for name, key, unit in ((dicom_sr.PERCENTILE_CODE, "centile", "%"),
                                (dicom_sr.Z_SCORE_CODE, "z", "1"))]
    return doc


def model_method(model: Any) -> str:
    """An Observation's method: the model that measured, by name, version and sha256."""
    return f"hc-tf model {model.name} {model.version} (sha256 {model.sha256})"


def validated(doc: Dict[str, Any]) -> Dict[str, Any]:
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.observation import Observation
    model = Bundle if doc["resourceType"] == "Bundle" else Observation
    return json.loads(model.model_validate(doc).model_dump_json(exclude_none=True))


def _observations(hc_mm: float, uids: Dict[str, str], frame: Optional[int], model: Any,
                  review: bool, reasons, effective: Optional[str],
                  sr_sop_instance_uid: Optional[str], hc_interval: Optional[Dict[str, Any]],
                  subject: Optional[Dict[str, Any]], biometry: Optional[Dict[str, Any]],
                  axis_intervals: Optional[Dict[str, Any]] = None,
                  centile: Optional[Dict[str, Any]] = None,
                  dating: Optional[Dict[str, Any]] = None,
                  gestational_age: Optional[Dict[str, Any]] = None,
                  ga_interval: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
    from hc_tf.report import fhir_ga
    derived = source_references(uids, frame, sr_sop_instance_uid)
    model_text = model_method(model)
    review_note = [{"text": "please review: " + "; ".join(reasons)}] if review else []
    # Notes in this order (fhir.js keeps it): the review flag's, then the interval's method.
    hc = head_observation({"coding": [HC_CODING]}, hc_mm, model_text, model, derived,
                          list(review_note), effective, subject)
    out = [with_centile(with_interval(hc, "HC", hc_interval), centile, dating)]
    for field, name, code in AXES:
        if biometry and biometry.get(field) is not None:
            method = f"{model_text}: {biometry['convention']}"
            doc = head_observation(code, biometry[field], method, model, derived,
                                   list(review_note), effective, subject)
            out.append(with_interval(doc, AXIS_TITLES[name], (axis_intervals or {}).get(name)))
    if biometry and biometry.get("cephalic_index") is not None:
        doc = head_observation(CI_CODE, biometry["cephalic_index"],
                               f"{model_text}: {biometry['convention']}", model, derived,
                               list(review_note), effective, subject, unit="%")
        out.append(_with_head_shape(with_interval(doc, "cephalic index",
                                                  (axis_intervals or {}).get("ci"), "%"),
                                    biometry))
    return out + fhir_ga.image_ga_observations(gestational_age, ga_interval, model, derived,
                                               review_note, effective, subject)


def _with_head_shape(doc: Dict[str, Any], biometry: Dict[str, Any]) -> Dict[str, Any]:
    """The cephalic index's Observation with its normal range (report.json's
    "cephalic_index_normal", in %) and the head shape read against it as interpretation."""
    low, high = biometry["cephalic_index_normal"]
    doc["referenceRange"] = [{"low": _quantity(low, "%"), "high": _quantity(high, "%"),
                              "type": NORMAL_RANGE,
                              "text": f"normal head shape: {biometry['cephalic_index_source']}"}]
    code, display = HEAD_SHAPES[biometry["head_shape"]]
    doc["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": code,
                                          "display": display}],
                              "text": biometry["head_shape_text"]}]
    return doc


def with_interval(doc: Dict[str, Any], name: str, interval: Optional[Dict[str, Any]],
                  unit: str = "mm") -> Dict[str, Any]:
    """The Observation with its value's calibrated interval (the extension) and the interval's
    method as its last note; as it is without one (None, or a record's {"note"})."""
    from hc_tf.report import records
    if records.interval_bounds(interval) is not None:
        doc["valueQuantity"]["extension"] = [confidence_interval(interval, unit)]
        doc.setdefault("note", []).append(
            {"text": f"{float(interval['level']) * 100:.0f}% interval of the {name} "
                     f"(measurement uncertainty, not a normal range): {interval['method']}"})
    return doc


def observation(hc_mm: float, uids: Dict[str, str], frame: Optional[int], model: Any,
                review: bool, reasons, effective: Optional[str] = None,
                sr_sop_instance_uid: Optional[str] = None,
                hc_interval: Optional[Dict[str, Any]] = None,
                subject: Optional[Dict[str, Any]] = None,
                centile: Optional[Dict[str, Any]] = None,
                dating: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The HC's Observation as a JSON-ready dict, validated by fhir.resources.

    Args:
      hc_mm: the HC.
      uids: the source's {"study_instance_uid", "sop_instance_uid", ...} (`dicom.uids`).
      frame: the 1-based frame measured, or None for a single-frame image.
      model: `dicom_sr.ModelInfo` (name, version, sha256).
      review, reasons: the review flag and its reasons: when flagged, the first note
        ("please review: <reasons joined by '; '>"); none when not.
      effective: the study's date-time (FHIR dateTime), when known.
      sr_sop_instance_uid: the SR written beside it, referenced as derivedFrom too.
      hc_interval: report.json's "hc_interval" (None: no interval is written).
      subject: `patient_subject`'s (None: no subject, the default).
      centile, dating: report.json's "centile" and "dating" (`with_centile`; None: the HC
        is not read against a GA).

    Raises:
      pydantic.ValidationError: for an Observation FHIR R4 does not accept (a bug).
    """
    return validated(_observations(hc_mm, uids, frame, model, review, reasons, effective,
                                   sr_sop_instance_uid, hc_interval, subject, None, None,
                                   centile, dating)[0])


def head_bundle(hc_mm: float, uids: Dict[str, str], frame: Optional[int], model: Any,
                review: bool, reasons, effective: Optional[str] = None,
                sr_sop_instance_uid: Optional[str] = None,
                hc_interval: Optional[Dict[str, Any]] = None,
                subject: Optional[Dict[str, Any]] = None,
                biometry: Optional[Dict[str, Any]] = None,
                axis_intervals: Optional[Dict[str, Any]] = None,
                centile: Optional[Dict[str, Any]] = None,
                dating: Optional[Dict[str, Any]] = None,
                gestational_age: Optional[Dict[str, Any]] = None,
                ga_interval: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The measured head as a FHIR Bundle (type collection) of its Observations: the HC's
    (`observation`'s), then BPD's, OFD's, the corrected BPD's and the cephalic index's
    (`_with_head_shape`) from
    report.json's "biometry" (none without it), each its own Observation with the HC's source,
    time, subject and review note (one fitted ellipse gives them all), its method naming the
    axes' convention (the record's "convention"), and its interval from `axis_intervals`
    ({"bpd": report.json's "bpd_interval", "ofd": its "ofd_interval", "cbpd": its
    "corrected_bpd_interval", "ci": its "cephalic_index_interval"}), as the HC's; then the GA
    by each equation in range of report.json's "gestational_age" with its interval from its
    "ga_interval" (`fhir_ga.image_ga_observations`; none without them). Other arguments as
    `observation`'s.

    Raises:
      pydantic.ValidationError: for a Bundle FHIR R4 does not accept (a bug).
    """
    entries = _observations(hc_mm, uids, frame, model, review, reasons, effective,
                            sr_sop_instance_uid, hc_interval, subject, biometry, axis_intervals,
                            centile, dating, gestational_age, ga_interval)
    return validated({"resourceType": "Bundle", "type": "collection",
                     "entry": [{"resource": doc} for doc in entries]})


def bundle_observations(bundle: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """{"hc" | "bpd" | "ofd" | "cbpd" | "ci" | "gahl" | "gaig": Observation} of a `head_bundle`,
    by their LOINC codes, the GA's by equation (`fhir_ga.short_name`): the names the node's
    FHIR ids end in (no underscore, which an id may not hold; short, as an id holds 64)."""
    from hc_tf.report import fhir_ga
    names = {HC_CODING["code"]: "hc", **{c["coding"][0]["code"]: name for _, name, c in AXES},
             CI_CODE["coding"][0]["code"]: "ci"}
    out = {}
    for entry in bundle.get("entry", []):
        doc = entry.get("resource", {})
        ga_name = fhir_ga.short_name(doc)  # the GA's by equation: one LOINC code for both
        if ga_name:
            out[ga_name] = doc
        for coding in doc.get("code", {}).get("coding", []):
            if coding.get("system") == LOINC and coding.get("code") in names:
                out[names[coding["code"]]] = doc
    return out


def study_datetime(ds: Any) -> Optional[str]:
    """The study's date and time as a FHIR dateTime: "2026-01-01T10:20:30+05:30" when the file
    declares its zone (TimezoneOffsetFromUTC, as dicom_sr_evidence.utc_offset accepts it) and
    has a StudyTime (TM: HH, HHMM, HHMMSS, HHMMSS.FFFFFF, its fraction kept); else the date
    alone, "2026-01-01" (a FHIR time needs a zone, which ultrasound files rarely carry); None
    without a real date (rather than an Observation that fails). The date as DICOM writes it or as some exports do
    (dicom_dating.DATE), which the SR holds as YYYYMMDD, with the source's time and zone: the
    same from the source or the SR. fhir.js studyDateTime is its port."""
    from hc_tf.io import dicom_dating
    from hc_tf.report import dicom_sr_evidence
    date = dicom_dating.dicom_date(ds.get("StudyDate", None))
    if date is None:
        return None
    zone = str(ds.get("TimezoneOffsetFromUTC", None) or "").strip()
    time = STUDY_TIME.fullmatch(str(ds.get("StudyTime", None) or "").strip())
    if dicom_sr_evidence.utc_offset(zone) is None or time is None:
        return date.isoformat()
    h, m, s = (int(g or 0) for g in time.groups()[:3])
    if h > 23 or m > 59 or s > 59:  # (a leap second's 60 too: no dateTime holds it)
        return date.isoformat()
    fraction = f".{time.group(4)}" if time.group(4) else ""  # as written: FHIR takes any digits
    return f"{date.isoformat()}T{h:02d}:{m:02d}:{s:02d}{fraction}{zone[:3]}:{zone[3:]}"
