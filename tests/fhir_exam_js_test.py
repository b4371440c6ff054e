"""An exam's FHIR DiagnosticReport with no SR beside it (the web app's case): Python's
`fhir_exam.exam_bundle(..., report_uid=None)` and its port, web_app/src/core/fhir_exam.js,
on the same hand-built report.json records (the fields the report reads, as predict and the
app write them): the same resources, values, notes, narrative and ids."""

import json
import os

import pytest

pytest.importorskip("fhir.resources")

from hc_tf.report import dicom_sr  # noqa: E402
from hc_tf.report import exams  # noqa: E402
from hc_tf.report import fhir_exam  # noqa: E402
from tests.scripts import node_json  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WEB_CORE = os.path.join(REPO, "web_app", "src", "core")
METADATA = os.path.join(REPO, "android_demo_assets", "hc_effunet_int8.json")
MODEL = dicom_sr.ModelInfo("hc_effunet_int8.tflite", "1.2 <int8>", "ab" * 32)
STUDY, SERIES = "1.2.826.0.1.3680043.10.1", "1.2.826.0.1.3680043.10.1.2"
LMP = "Last Menstrual Date (0010,21D0) at StudyDate (0008,0020), from the file"
# The HC's centile and normal range go through erf, which JavaScript lacks (clinical.js sums its
# series): they may differ in the last bits, as may the GA intervals of exams.js's own row (its
# logarithms); every other number, and every text, is equal to the bit.
REL = 1e-9
ERF_PATHS = (".component", ".referenceRange")


def _interval(value, half, unit="mm"):
    """An interval record as report.json holds it: a length's in _mm, the cephalic index's bare."""
    key = "_mm" if unit == "mm" else ""
    return {f"value{key}": value, "level": 0.95, f"lower{key}": value - half,
            f"upper{key}": value + half, f"half_width{key}": half,
            "method": f"split conformal, {unit} (test)", "display": "x"}


def _head(name, sop, hc, *, frame=1, frames=1, reasons=(), ga=None, calibrated=True):
    """A found head's report.json record (its DICOM UIDs, no SR: the app writes none)."""
    bpd, ofd = hc * 0.268, hc * 0.352
    ci = 100 * bpd / ofd
    record = {
        "filename": name, "found": True, "reason": "", "pixel_size_mm": 0.15, "hc_mm": hc,
        "hc_interval": _interval(hc, 4.1 + hc / 1000) if calibrated else {"note": "no table"},
        "biometry": {"bpd_mm": bpd, "ofd_mm": ofd, "corrected_bpd_mm": (bpd * ofd) ** 0.5 * 0.98,
                     "cephalic_index": ci, "convention": "BPD outer to outer (test)"},
        "review": bool(reasons), "review_reasons": list(reasons),
        "known_ga_weeks": ga, "dating": {"source": LMP} if ga else None,
        "dicom": {"study_instance_uid": STUDY, "series_instance_uid": SERIES,
                  "sop_instance_uid": sop, "sop_class_uid": "1.2.840.10008.5.1.4.1.1.6.1",
                  "frame": frame, "frames_in_file": frames}}
    if calibrated:
        record.update(bpd_interval=_interval(bpd, 1.3), ofd_interval=_interval(ofd, 2.2),
                      corrected_bpd_interval=_interval(record["biometry"]["corrected_bpd_mm"], 1.6),
                      cephalic_index_interval=_interval(ci, 2.5, unit="%"))
    return record


CASES = {
    "one image": [_head("single.dcm", "1.2.3.1", 175.3)],
    "two images with intervals": [_head("twice1.dcm", "1.2.3.2", 180.2),
                                  _head("twice2.dcm", "1.2.3.3", 182.9)],
    "a flagged frame, its reasons escaped": [
        _head("cine.dcm#1", "1.2.3.4", 200.4, frames=2,
              reasons=["fit residual high", 'mask "edge" <&> it\'s clipped']),
        _head("cine.dcm#2", "1.2.3.4", 201.0, frame=2, frames=2)],
    "a flag without reasons; disagreeing images": [
        _head("far1.dcm", "1.2.3.5", 150.2, reasons=[]),
        _head("far2.dcm", "1.2.3.6", 190.7)],
    "a GA from dating: the HC's centile": [
        _head("dated1.dcm", "1.2.3.7", 214.6, ga=24.5), _head("dated2.dcm", "1.2.3.8", 216.1, ga=24.5)],
    "no calibrated interval, an HC outside both GA formulas": [
        _head("small.dcm", "1.2.3.9", 60.5, calibrated=False)],
}
CASES["a flag without reasons; disagreeing images"][0]["review"] = True
EFFECTIVE, SUBJECT = "2026-01-01T10:20:30+05:30", {
    "type": "Patient", "identifier": {"system": "urn:oid:1.2.3.4", "value": "P<1>"}}


def _inputs():
    """[(case, members, exams.csv row, effective, subject)]: the last two on the first case."""
    return [(what, members, exams.exam_record(f"{STUDY}/{SERIES}", members),
             EFFECTIVE if i == 0 else None, SUBJECT if i == 0 else None)
            for i, (what, members) in enumerate(CASES.items())]


def _js_bundles(tmp_path, inputs):
    """fhir_exam.js's bundles of the inputs: with Python's exam row ("given") and with the
    row exams.js examRecord makes of the members ("own", the app's path)."""
    if not os.path.isdir(os.path.join(REPO, "web_app", "node_modules", "uuid")):
        pytest.skip("web_app/node_modules has no uuid: run `npm ci` in web_app")
    cases = [{"members": m, "exam": row, "effective": eff, "subject": sub}
             for _, m, row, eff, sub in inputs]
    model = {"name": MODEL.name, "version": MODEL.version, "sha256": MODEL.sha256}
    script = (
        "import { readFileSync } from 'node:fs';\n"
        f"import {{ examBundle }} from {json.dumps(os.path.join(WEB_CORE, 'fhir_exam.js'))};\n"
        f"import {{ examRecord }} from {json.dumps(os.path.join(WEB_CORE, 'exams.js'))};\n"
        f"const spec = JSON.parse(readFileSync({json.dumps(METADATA)}, 'utf8')).clinical;\n"
        f"const model = {json.dumps(model)};\n"
        f"const cases = {json.dumps(cases)};\n"
        "console.log(JSON.stringify(cases.map((c) => ({\n"
        "  given: examBundle(spec, c.members, c.exam, model, c.effective, c.subject),\n"
        "  own: examBundle(spec, c.members, examRecord(spec, c.exam.exam, c.members), model,\n"
        "                  c.effective, c.subject) }))));\n")
    return node_json(tmp_path, script)


def _assert_same(want, got, where="Bundle", rel=0.0):
    """Equal JSON: the same keys, lists and texts; numbers equal, to REL where they pass
    through erf (ERF_PATHS) or `rel` (bools as they are)."""
    if isinstance(want, (int, float)) and not isinstance(want, bool):
        assert isinstance(got, (int, float)) and not isinstance(got, bool), where
        tolerance = REL if any(p in where for p in ERF_PATHS) else rel
        assert got == (pytest.approx(want, rel=tolerance, abs=1e-12) if tolerance else want), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for k in want:
            _assert_same(want[k], got[k], f"{where}.{k}", rel)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (w, g) in enumerate(zip(want, got)):
            _assert_same(w, g, f"{where}[{i}]", rel)
    else:
        assert got == want, where


def test_a_report_without_an_sr_has_no_identifier_nor_sr_reference():
    """The web app's report (no OB-GYN SR, no TID 1500 SRs): a Bundle FHIR R4 accepts, with
    no identifier and nothing in derivedFrom but the study and the images measured; its ids
    those of a report of the same images with an SR (they derive from the images)."""
    from fhir.resources.R4B.bundle import Bundle
    members = CASES["two images with intervals"]
    row = exams.exam_record("x", members)
    bundle = fhir_exam.exam_bundle(members, row, MODEL, None)
    Bundle.model_validate(bundle)
    report = bundle["entry"][0]["resource"]
    assert "identifier" not in report and report["resourceType"] == "DiagnosticReport"
    for entry in bundle["entry"][1:]:
        for ref in entry["resource"]["derivedFrom"]:
            assert ref.get("type") in ("ImagingStudy", "Media") or "reference" in ref, ref
    with_sr = fhir_exam.exam_bundle(members, row, MODEL, "1.2.3.99")
    assert with_sr["entry"][0]["resource"]["identifier"][0]["value"] == "urn:oid:1.2.3.99"
    assert [e["fullUrl"] for e in with_sr["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


def test_the_web_apps_exam_report_is_pythons(tmp_path):
    """fhir_exam.js writes Python's Bundle for each case: one image; two with intervals; a
    flagged frame of a cine with reasons needing escaping; a flag without reasons and images
    that disagree; a GA from dating (the HC's centile); no interval and no GA. With the app's
    own exams.js row of the members too (its path): equal but for the last bits of numbers."""
    inputs = _inputs()
    python = [fhir_exam.exam_bundle(members, row, MODEL, None, eff, sub)
              for _, members, row, eff, sub in inputs]
    js = _js_bundles(tmp_path, inputs)
    for (what, *_), want, got in zip(inputs, python, js):
        _assert_same(want, got["given"], what)
        _assert_same(want, got["own"], f"{what} (exams.js row)", rel=REL)
    # The cases cover what they name.
    texts = [json.dumps(b) for b in python]
    assert "&lt;&amp;&gt; it&#x27;s clipped" in texts[2] and "&quot;edge&quot;" in texts[2]
    assert "image 1 of 2: flagged" in texts[3] and "share no value" in texts[3]
    assert '"component"' in texts[4] and "18185-9" in texts[4]
    assert "18185-9" not in texts[5] and "<td>none</td>" in texts[5]
    assert python[0]["entry"][0]["resource"]["subject"] == SUBJECT
