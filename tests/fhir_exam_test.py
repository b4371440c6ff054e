"""The FHIR DiagnosticReport `hc-tf predict` writes beside each DICOM exam's OB-GYN SR: read
back and compared with exams.csv, report.json and the SR, and parsed by fhir.resources."""

import json
import os

import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")
pytest.importorskip("fhir.resources")

from hc_tf import clinical  # noqa: E402
from hc_tf.report import fhir  # noqa: E402
from hc_tf.report import fhir_exam  # noqa: E402
from tests import dicom_files  # noqa: E402

MODEL = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "models", "hc_effunet_int8.tflite")
CODES = {"hc": "11984-2", "bpd": "11820-8", "ofd": "11851-3", "cbpd": "11824-0", "ci": "11823-2",
         "ga": "18185-9"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return dicom_files.predict_exam_inputs(tmp_path_factory.mktemp("fhir_exam"), MODEL,
                                           fhir_patient_system="urn:oid:1.2.3.4")


def _exam(run, *names):
    records = [r for r in run["records"] if r["filename"] in names]
    paths = {r["dicom"].get("obgyn_fhir") for r in records}
    assert len(paths) == 1 and None not in paths, records  # one report names the exam
    bundle = json.loads((run["out"] / paths.pop()).read_text())
    return records, run["exams"]["; ".join(names)], bundle


def _resources(bundle):
    """(the DiagnosticReport, {fullUrl: Observation})."""
    report, *rest = bundle["entry"]
    return report["resource"], {e["fullUrl"]: e["resource"] for e in rest}


def _by_code(observations, name):
    return [o for o in observations.values() if o["code"]["coding"][0]["code"] == CODES[name]]


def test_each_dicom_exam_gets_one_report_beside_its_sr(run):
    names = sorted({r["dicom"]["obgyn_fhir"] for r in run["records"] if r["found"]})
    srs = sorted({r["dicom"]["obgyn_sr"] for r in run["records"] if r["found"]})
    assert names == [n.replace("sr/", "fhir/").replace(".sr.dcm", ".fhir.json") for n in srs]
    assert len(names) >= 2


def test_report_is_an_ob_ultrasound_diagnostic_report_naming_its_sr_and_study(run):
    from fhir.resources.R4B.bundle import Bundle
    records, _, bundle = _exam(run, "twice1.dcm", "twice2.dcm")
    Bundle.model_validate(bundle)
    report, observations = _resources(bundle)
    assert report["resourceType"] == "DiagnosticReport" and report["status"] == "preliminary"
    assert report["category"][0]["coding"][0]["code"] == "OUS"
    assert [c["code"] for c in report["code"]["coding"]] == ["11525-3", "125000"]
    sr = pydicom.dcmread(str(run["out"] / records[0]["dicom"]["obgyn_sr"]))
    assert report["identifier"][0]["value"] == f"urn:oid:{sr.SOPInstanceUID}"
    assert report["imagingStudy"][0]["identifier"]["value"] == (
        f"urn:oid:{records[0]['dicom']['study_instance_uid']}")
    assert [r["reference"] for r in report["result"]] == list(observations)  # each resolves
    assert report["subject"] == {"type": "Patient", "identifier": {
        "system": "urn:oid:1.2.3.4", "value": str(sr.PatientID)}}
    assert report["conclusion"] == "hc-tf review: not needed"


def test_exam_values_are_exams_csv_means_with_their_intervals(run):
    records, row, bundle = _exam(run, "twice1.dcm", "twice2.dcm")
    _, observations = _resources(bundle)
    for name, field in (("hc", "hc"), ("bpd", "bpd"), ("ofd", "ofd")):
        (obs,) = _by_code(observations, name)
        assert obs["valueQuantity"]["value"] == pytest.approx(float(row[f"{field}_mean_mm"]))
        interval = fhir.read_interval(obs)
        assert (interval["lower_mm"], interval["upper_mm"]) == pytest.approx(
            (float(row[f"{field}_mean_lower_95_mm"]), float(row[f"{field}_mean_upper_95_mm"])))
        assert obs["note"][0]["text"].startswith("mean of the")
    (ci,) = _by_code(observations, "ci")
    assert ci["valueQuantity"]["value"] == pytest.approx(
        sum(r["biometry"]["cephalic_index"] for r in records) / 2)
    (hc,) = _by_code(observations, "hc")
    sources = {d["identifier"]["value"] for d in hc["derivedFrom"]}
    for r in records:  # every image and its TID 1500 SR
        assert {f"urn:oid:{r['dicom']['sop_instance_uid']}",
                f"urn:oid:{r['dicom']['sr_sop_instance_uid']}"} <= sources


def test_hc_is_read_against_the_exams_ga_from_dating_and_dated_by_each_equation(run):
    _, row, bundle = _exam(run, "twice1.dcm", "twice2.dcm")
    _, observations = _resources(bundle)
    (hc,) = _by_code(observations, "hc")
    centile, z = (c["valueQuantity"]["value"] for c in hc["component"])
    assert (centile, z) == pytest.approx((float(row["hc_mean_centile"]), float(row["hc_mean_z"])))
    assert hc["interpretation"][0]["coding"][0]["code"] == "N"
    assert hc["referenceRange"][0]["low"]["value"] < hc["valueQuantity"]["value"] < (
        hc["referenceRange"][0]["high"]["value"])
    hc_url = next(url for url, o in observations.items() if o is hc)
    ga = _by_code(observations, "ga")
    assert [o["valueQuantity"]["value"] for o in ga] == pytest.approx(
        [float(row["ga_hadlock_days"]), float(row["ga_intergrowth_days"])], abs=0.005)
    assert all(o["derivedFrom"] == [{"reference": hc_url}] for o in ga)
    interval = fhir.read_interval(ga[0])  # days, though the reader names its keys _mm
    assert (interval["lower_mm"], interval["upper_mm"]) == pytest.approx(
        (float(row["ga_hadlock_lower_95_days"]), float(row["ga_hadlock_upper_95_days"])))
    assert ga[0]["valueQuantity"]["extension"][0]["extension"][1]["valueRange"]["low"][
        "unit"] == "d"
    assert "combined with the formula's 2 SD" in ga[0]["note"][-1]["text"]
    # INTERGROWTH-21st publishes no per-estimate spread: no interval (exams.csv's empty too),
    # its note quoting the paper's prediction interval instead
    assert fhir.read_interval(ga[1]) is None and "extension" not in ga[1]["valueQuantity"]
    assert row["ga_intergrowth_lower_95_days"] == row["ga_intergrowth_upper_95_days"] == ""
    assert ga[1]["note"][-1]["text"] == (
        f"no 95% interval of the GA (the equation's own spread: {clinical.INTERGROWTH_PI_TEXT})")
    assert "95% interval of the GA (measurement" not in json.dumps(ga[1])


def test_values_equal_the_ob_sr_means(run):
    records, _, bundle = _exam(run, "twice1.dcm", "twice2.dcm")
    sr = pydicom.dcmread(str(run["out"] / records[0]["dicom"]["obgyn_sr"]))

    def means(node):
        for item in node.get("ContentSequence", []):
            if item.ValueType == "NUM" and any(
                    c.ConceptCodeSequence[0].CodeValue == "373098007"
                    for c in item.get("ContentSequence", []) if c.ValueType == "CODE"):
                yield (item.ConceptNameCodeSequence[0].CodeValue,
                       float(item.MeasuredValueSequence[0].NumericValue))
            yield from means(item)
    sr_means = dict(means(sr))
    _, observations = _resources(bundle)
    (hc,) = _by_code(observations, "hc")
    assert sr_means["11984-2"] == pytest.approx(hc["valueQuantity"]["value"], abs=1e-6)
    assert len(sr_means) == 5  # HC, BPD, OFD, corrected BPD, cephalic index


def test_disagreeing_images_are_said_in_the_conclusion_and_each_value(run):
    _, row, bundle = _exam(run, "cine.dcm#1", "cine.dcm#2")
    assert row["disagree"] == "True"
    report, observations = _resources(bundle)
    lines = report["conclusion"].split("\n")
    assert lines[0] == "hc-tf review: needed" and row["disagree_reason"] in lines
    for obs in observations.values():
        if "note" in obs:
            assert obs["note"][0]["text"] == "please review: " + "; ".join(lines[1:])
    assert not _by_code(observations, "ga")  # a 46-100 mm mean: outside both equations
    hc, = _by_code(observations, "hc")
    assert "component" not in hc  # no GA from dating: no centile


def test_ids_derive_from_the_exams_images_not_the_sr(run):
    """A report of the same images has the same ids whatever its SR's UID (a rerun's report
    updates the last one filed); another set of images, other ids."""
    records, row, _ = _exam(run, "twice1.dcm", "twice2.dcm")
    from hc_tf.report import dicom_sr
    model = dicom_sr.model_info(MODEL)
    heads = [r for r in run["records"] if r["filename"] in ("twice1.dcm", "twice2.dcm")]
    exam = {k: ((float(v) if v != "" else None) if k.startswith("ga_") and k.endswith("_days")
                else v) for k, v in row.items()}
    first, rerun, fewer = (fhir_exam.exam_bundle(images, exam, model, uid) for images, uid in
                           ((heads, "1.2.3"), (heads, "1.2.4"), (heads[:1], "1.2.3")))
    urls = [[e["fullUrl"] for e in b["entry"]] for b in (first, rerun, fewer)]
    assert urls[0] == urls[1] and not set(urls[0]) & set(urls[2])
    assert len(set(urls[0])) == len(urls[0])
    assert rerun["entry"][0]["resource"]["identifier"][0]["value"] == "urn:oid:1.2.4"


def test_a_report_fhir_refuses_is_not_written(run):
    """fhir.validated parses the Bundle's DiagnosticReport too: a bug cannot write a file."""
    import pydantic
    _, _, bundle = _exam(run, "twice1.dcm", "twice2.dcm")
    del bundle["entry"][0]["resource"]["status"]  # required
    with pytest.raises(pydantic.ValidationError, match="status"):
        fhir.validated(bundle)


def test_the_narrative_shows_each_value_with_its_interval_and_the_comments(run):
    """The report's XHTML text (what an EHR shows): well-formed, one row per Observation with
    the value and interval they hold, the HC's centile, the conclusion's lines; text escaped."""
    import xml.etree.ElementTree as ET
    from hc_tf import clinical
    from hc_tf.report import dicom_sr
    _, _, bundle = _exam(run, "twice1.dcm", "twice2.dcm")
    report, observations = _resources(bundle)
    assert report["text"]["status"] == "generated"
    div = ET.fromstring(report["text"]["div"])
    ns = "{http://www.w3.org/1999/xhtml}"
    assert div.tag == f"{ns}div"
    rows = [[td.text for td in tr.iter(f"{ns}td")] for tr in div.iter(f"{ns}tr")][1:]
    assert len(rows) == len(observations) == 7
    for (name, value, interval), obs in zip(rows, observations.values()):
        v, iv = obs["valueQuantity"]["value"], fhir.read_interval(obs)
        if name == "GA by INTERGROWTH-21st 2016 (HC)":  # no per-estimate spread: no interval
            assert value == f"{clinical.format_ga(v)} weeks" and interval == "none"
        elif obs["valueQuantity"]["unit"] == "d":
            assert name.startswith("GA by") and value == f"{clinical.format_ga(v)} weeks"
            assert interval == (f"{clinical.format_ga(iv['lower_mm'])} weeks to "
                                f"{clinical.format_ga(iv['upper_mm'])} weeks")
        else:
            assert name.endswith("(mean of 2 images)") and value.startswith(f"{v:.1f} ")
            assert interval.startswith(f"{iv['lower_mm']:.1f} ")
    paragraphs = [p.text for p in div.iter(f"{ns}p")]
    (hc,) = _by_code(observations, "hc")
    assert f"HC {hc['interpretation'][0]['text']}: normal range" in paragraphs[-2]
    assert paragraphs[-1] == report["conclusion"] == "hc-tf review: not needed"
    unsafe = fhir_exam.narrative([], ["<script>alert(1)</script> & more"],
                                 dicom_sr.ModelInfo("m<x>", "1", "0" * 64))
    assert "<script>" not in unsafe
    assert ET.fromstring(unsafe).findall(f"{ns}p")[-1].text == "<script>alert(1)</script> & more"
