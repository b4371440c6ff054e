"""An exam's heads as one FHIR R4 DiagnosticReport (JSON): the OB-GYN report's FHIR twin.

`hc-tf predict` writes it beside each DICOM exam's OB-GYN SR (TID 5000, `dicom_sr_obgyn`),
with the same values: a Bundle (type collection) of the DiagnosticReport and the exam's
Observations, which it lists as `result`:
- HC, BPD, OFD, corrected BPD and cephalic index of the exam, coded as the images'
  Observations (`fhir`): with several images their mean and the mean's 95% interval (exams.csv's
  rule: the mean of the images' half-widths), with one image its value and interval; derivedFrom
  the study, every image (and frame) and its TID 1500 SR. The HC's is read as size for the GA
  from dating (normal range, interpretation, centile) as an image's is, when its images share one.
- The GA of the exam's HC by each equation (`fhir_ga`: LOINC 18185-9, in days, the equation
  as method), with exams.csv's 95% interval of it (Hadlock's, with its 2 SD; none by
  INTERGROWTH-21st, which publishes no per-estimate spread: a note quoting the paper's
  prediction interval), derivedFrom the HC's Observation.

The report: status preliminary (a model's measurement, for a clinician to confirm), category
OB Ultrasound (HL7 v2 table 0074), code LOINC 11525-3 with DICOM's 125000 (the SR's root), the
OB SR's SOP Instance UID as identifier (the HL7 DICOM SR to FHIR mapping's rule: one report,
two forms; none where no SR is written beside it, as in the web app), the study as
imagingStudy, as conclusion the SR's comments: the review flag, each flagged image's reasons
and the images' disagreement, and as its narrative (`text`, what an EHR shows a reader) a
table of the Observations' values and intervals with those comments.
Its resources' ids (`urn:uuid:`) derive from the exam's images (each instance and frame), not
from the SR's new UID: a report of the same images, written again or by a rerun, has the same
ids, so filing it updates what the last one filed instead of adding a second report.
The web app's port (web_app/src/core/fhir_exam.js) writes the same Bundle without an SR.
"""

from __future__ import annotations

import html
import itertools
import uuid
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from hc_tf.report import dicom_sr_obgyn
from hc_tf.report import fhir
from hc_tf.report import fhir_ga
from hc_tf.report import records as records_lib

OB_ULTRASOUND = {"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "OUS",
                 "display": "OB Ultrasound"}
# CID 7000's LOINC document title (pydicom's code dictionary), then the SR's root concept.
REPORT_CODE = {"coding": [{"system": fhir.LOINC, "code": "11525-3",
                           "display": "Ultrasound Obstetric and Gyn Report"},
                          {"system": fhir.DCM, "code": "125000",
                           "display": "OB-GYN Ultrasound Procedure Report"}],
               "text": "OB-GYN ultrasound report: fetal head biometry (hc-tf)"}
GA_TEXT = fhir_ga.GA_TEXT
# (report field, interval field, FHIR code, interval's name in the notes, unit)
QUANTITIES = ((("hc_mm", "hc_interval", {"coding": [fhir.HC_CODING]}, "HC", "mm"),)
              + tuple((field, "corrected_bpd_interval" if name == "cbpd" else f"{name}_interval",
                       code, fhir.AXIS_TITLES[name], "mm") for field, name, code in fhir.AXES)
              + (("cephalic_index", "cephalic_index_interval", fhir.CI_CODE, "cephalic index",
                  "%"),))
MEAN_INTERVAL = ("the mean of the images' interval half-widths around the mean, no credit for "
                 "averaging (images of one head may err alike); each image's: ")


def _derived(members: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """The study once, then every image (and frame) measured and its TID 1500 SR."""
    study = members[0]["dicom"]["study_instance_uid"]
    out = [{"type": "ImagingStudy", "identifier": {"system": fhir.DICOM_UID,
                                                   "value": f"{fhir.OID}{study}"},
            "display": f"study {study}"}]
    for r in members:
        d = r["dicom"]
        frame = d.get("frame") if (d.get("frames_in_file") or 1) > 1 else None
        out += [ref for ref in fhir.source_references(d, frame, d.get("sr_sop_instance_uid"))
                if ref.get("type") != "ImagingStudy"]
    return out


def exam_value(members: Sequence[Mapping[str, Any]], field: str, interval_field: str):
    """(value, interval record or None, images) of one quantity: the mean of the images that
    have it, with exams.csv's interval of the mean, or the one image's own; None if none has it."""
    have = [r for r in members if dicom_sr_obgyn.value_of(r, field) is not None]
    if not have:
        return None
    if len(have) == 1:
        return dicom_sr_obgyn.value_of(have[0], field), have[0].get(interval_field), 1
    mean, bounds = dicom_sr_obgyn.mean_with_interval(
        [dicom_sr_obgyn.value_of(r, field) for r in have], [r.get(interval_field) for r in have])
    interval = None
    if bounds:
        first = have[0][interval_field]
        interval = {**bounds, "level": first["level"],
                    "method": MEAN_INTERVAL + str(first.get("method", ""))}
    return mean, interval, len(have)


def _observation(spec, members, model, derived, review_note, effective, subject):
    """(the Observation of one quantity of the exam, how many images it averages), or None."""
    field, interval_field, code, title, unit = spec
    got = exam_value(members, field, interval_field)
    if got is None:
        return None
    value, interval, n = got
    method = fhir.model_method(model)
    if field != "hc_mm":
        method += f": {members[0]['biometry']['convention']}"
    notes = list(review_note) + ([{"text": f"mean of the {title} of {n} images of the exam"}]
                                 if n > 1 else [])
    doc = fhir.head_observation(code, value, method, model, derived, notes, effective, subject,
                                unit=unit)
    return fhir.with_interval(doc, title, interval, unit), n


def _hc_centile(value: float, exam: Mapping[str, Any]) -> Optional[Dict[str, Any]]:
    """The exam HC's centile record at its images' one GA from dating (None without one)."""
    from hc_tf import clinical
    if exam.get("known_ga_weeks") is None:
        return None
    return records_lib.centile_record(clinical.hc_centile(value, float(exam["known_ga_weeks"])))


def _ga_observation(key: str, exam: Mapping[str, Any], hc_url: str, model, effective,
                    subject) -> Dict[str, Any]:
    """The GA of the exam's HC by one equation, in days, with its interval (none by
    INTERGROWTH-21st: a note quoting its paper's prediction interval), from the HC's."""
    from hc_tf import clinical
    from hc_tf.report import exams
    ga = records_lib.ga_record(clinical.ga_from_hc(float(exam["hc_mean_mm"]),
                                                   dict(exams.GA_METHODS)[key]))
    return fhir_ga.ga_observation(key, exam[f"ga_{key}_days"], "the exam's",
                                  exams.ga_interval_record(exam, key), model,
                                  [{"reference": hc_url}], fhir_ga.spread_note(ga), effective,
                                  subject)


def _shown(value: float, unit: str) -> str:
    from hc_tf import clinical
    return f"{clinical.format_ga(value)} weeks" if unit == "d" else f"{value:.1f} {unit}"


def narrative(rows: Sequence[Tuple[str, Mapping[str, Any]]], comments: Sequence[str],
              model: Any) -> str:
    """The report's human-readable text (FHIR narrative, XHTML), from its Observations: a
    table of each quantity with its 95% interval, the HC's centile when read against a GA from
    dating, then the comments; every text escaped."""
    cells = []
    for name, doc in rows:
        quantity, interval = doc["valueQuantity"], fhir.read_interval(doc)
        unit = quantity["unit"]
        bounds = (f"{_shown(interval['lower_mm'], unit)} to {_shown(interval['upper_mm'], unit)}"
                  if interval else "none")
        cells.append(f"<tr><td>{html.escape(name)}</td><td>{_shown(quantity['value'], unit)}"
                     f"</td><td>{html.escape(bounds)}</td></tr>")
    hc = rows[0][1] if rows else {}  # the HC first
    centile = [f"<p>HC {html.escape(i['text'])}: normal range {r['low']['value']:.1f} to "
               f"{r['high']['value']:.1f} mm, the {html.escape(r['text'])}</p>"
               for i, r in zip(hc.get("interpretation", []), hc.get("referenceRange", []))]
    notes = "".join(f"<p>{html.escape(line)}</p>" for line in comments)
    return ('<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Fetal head biometry</b> by '
            f"{html.escape(f'hc-tf {model.name} {model.version}')} (preliminary: for a "
            "clinician to review)</p><table><tr><th>Measurement</th><th>Value</th><th>95% "
            f"interval</th></tr>{''.join(cells)}</table>{''.join(centile)}{notes}</div>")


def exam_bundle(members: Sequence[Mapping[str, Any]], exam: Mapping[str, Any], model: Any,
                report_uid: Optional[str], effective: Optional[str] = None,
                subject: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The exam's DiagnosticReport and Observations as a Bundle, validated by fhir.resources.

    Args:
      members: the exam's report.json records with a head (and a TID 1500 SR, referenced
        where they name it: "sr_sop_instance_uid"), all of one study, in input order (as
        `dicom_sr_obgyn.build_exam_sr` takes them).
      exam: the exam's exams.csv row (`exams.exam_record` of `members`).
      model: `dicom_sr.ModelInfo`.
      report_uid: the exam's OB-GYN SR's SOP Instance UID (its identifier); None for a
        report with no SR beside it (the web app's): no identifier then.
      effective, subject: as the images' Observations have them (`fhir.observation`).

    Raises:
      pydantic.ValidationError: for a Bundle FHIR R4 does not accept (a bug).
    """
    images = " ".join(f"{r['dicom']['sop_instance_uid']}/{r['dicom'].get('frame') or 1}"
                      for r in members)
    ids = (f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_OID, f'hc-tf exam {images} {i}')}"
           for i in itertools.count())
    comments = dicom_sr_obgyn.comments(members, exam)
    review_note = ([{"text": "please review: " + "; ".join(comments[1:])}]
                   if comments[0].endswith(": needed") else [])
    derived = _derived(members)
    report_url, entries, rows = next(ids), [], []
    for spec in QUANTITIES:
        got = _observation(spec, members, model, derived, review_note, effective, subject)
        if got is not None:
            doc, n = got
            if spec[0] == "hc_mm":
                doc = fhir.with_centile(doc, _hc_centile(doc["valueQuantity"]["value"], exam),
                                        members[0].get("dating"))
            entries.append((next(ids), doc))
            rows.append((spec[3] + (f" (mean of {n} images)" if n > 1 else ""), doc))
    hc_url = entries[0][0]
    for key in fhir_ga.GA_KEYS:
        if exam.get(f"ga_{key}_days") is not None:
            doc = _ga_observation(key, exam, hc_url, model, effective, subject)
            entries.append((next(ids), doc))
            rows.append((f"GA by {GA_TEXT[key]}", doc))
    report = {"resourceType": "DiagnosticReport", "status": "preliminary",
              **({"identifier": [{"system": fhir.DICOM_UID, "value": f"{fhir.OID}{report_uid}"}]}
                 if report_uid else {}),
              "category": [{"coding": [OB_ULTRASOUND]}], "code": REPORT_CODE,
              "imagingStudy": [derived[0]],
              "result": [{"reference": url} for url, _ in entries],
              "conclusion": "\n".join(comments),
              "text": {"status": "generated", "div": narrative(rows, comments, model)},
              **({"effectiveDateTime": effective} if effective else {}),
              **({"subject": subject} if subject else {})}
    return fhir.validated({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": url, "resource": doc} for url, doc in [(report_url, report)] + entries]})
