"""The OB-GYN report (TID 5000) `hc-tf predict` writes for each DICOM exam: read back and
compared with report.json and exams.csv, and checked by dciodvfy (dicom3tools), dsrdump (dcmtk)
and PixelMed (IOD checks: it knows no TID 5000). The Debian tools' checks skip where absent."""

import json
import os
import cv2
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from hc_tf.surfaces import dicom_predict  # noqa: E402
from hc_tf.surfaces import predict as predict_lib  # noqa: E402
from tests import dicom_files  # noqa: E402
from tests import sr_validators  # noqa: E402

MODEL = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "models", "hc_effunet_int8.tflite")
HC_CODE, GA_CODE, COMMENT = "11984-2", "18185-9", "121106"  # LOINC, LOINC, DCM
PERCENTILE, Z_SCORE, MEAN = "125012", "125013", "373098007"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return dicom_files.predict_exam_inputs(tmp_path_factory.mktemp("obgyn"), MODEL)


def _exam(run, *names):
    records = [r for r in run["records"] if r["filename"] in names]
    return records, run["exams"]["; ".join(names)]


def _items(node, code=None):
    """The content items below `node`, depth first, with concept `code` (all with None)."""
    for item in node.get("ContentSequence", []):
        if code is None or (item.get("ConceptNameCodeSequence")
                            and item.ConceptNameCodeSequence[0].CodeValue == code):
            yield item
        yield from _items(item, code)


def _num(item):
    return float(item.MeasuredValueSequence[0].NumericValue)


def _offsets(item):
    return [_num(c) for c in _items(item) if c.ValueType == "NUM"
            and c.ConceptNameCodeSequence[0].CodeValue in ("371886008", "371885007")]


def _is_mean(item):
    return any(c.ConceptCodeSequence[0].CodeValue == MEAN for c in _items(item, "121401"))


def _read(run, records):
    paths = {r["dicom"].get("obgyn_sr") for r in records}
    assert len(paths) == 1 and None not in paths, records  # one report names the exam
    return pydicom.dcmread(str(run["out"] / paths.pop()))


def test_each_dicom_exam_gets_one_report_its_images_name(run):
    names = sorted({r["dicom"]["obgyn_sr"] for r in run["records"] if r["found"]})
    expected = ["sr/cine.obgyn.sr.dcm", "sr/twice1.obgyn.sr.dcm"]
    if any(r["filename"].startswith("philips") for r in run["records"]):
        expected.insert(1, "sr/philips.obgyn.sr.dcm")
    assert names == expected
    assert sorted(p.name for p in (run["out"] / "sr").glob("*.obgyn.sr.dcm")) == [
        n.split("/")[1] for n in expected]


def test_report_is_tid_5000_in_the_images_study_and_sr_series(run):
    records, _ = _exam(run, "twice1.dcm", "twice2.dcm")
    sr = _read(run, records)
    assert sr.ConceptNameCodeSequence[0].CodeValue == "125000"
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "5000"
    sections = [(i.ConceptNameCodeSequence[0].CodeValue, i.ContentTemplateSequence[0]
                 .TemplateIdentifier) for i in sr.ContentSequence if i.ValueType == "CONTAINER"]
    # TID 5000's order; the Summary by LOINC's code (DICOM retired its own, DCM 121111)
    assert sections == [("55112-7", "5002"), ("125001", "5004"), ("125002", "5005")]
    assert sr.StudyInstanceUID == records[0]["dicom"]["study_instance_uid"]
    assert sr.SeriesInstanceUID == records[0]["dicom"]["sr_series_instance_uid"]
    assert sr.SOPInstanceUID not in {r["dicom"]["sr_sop_instance_uid"] for r in records}
    evidence = {i.ReferencedSOPInstanceUID for s in sr.CurrentRequestedProcedureEvidenceSequence
                for e in s.ReferencedSeriesSequence for i in e.ReferencedSOPSequence}
    assert evidence == {r["dicom"]["sop_instance_uid"] for r in records}


def test_hc_group_holds_each_image_their_mean_and_what_exams_csv_says(run):
    records, row = _exam(run, "twice1.dcm", "twice2.dcm")
    sr = _read(run, records)
    hcs = list(_items(sr, HC_CODE))
    assert [_num(i) for i in hcs if not _is_mean(i)] == pytest.approx(
        [r["hc_mm"] for r in records], abs=1e-9)
    means = [i for i in hcs if _is_mean(i)]
    assert len(means) == 1 and _num(means[0]) == pytest.approx(float(row["hc_mean_mm"]))
    half = (float(row["hc_mean_upper_95_mm"]) - float(row["hc_mean_lower_95_mm"])) / 2
    assert _offsets(means[0]) == pytest.approx([half, half])
    for item, record in zip([i for i in hcs if not _is_mean(i)], records):
        iv = record["hc_interval"]
        assert _offsets(item) == pytest.approx([iv["upper_mm"] - record["hc_mm"],
                                               record["hc_mm"] - iv["lower_mm"]])
        image = next(_items(item, "260753009")).ReferencedSOPSequence[0]
        assert image.ReferencedSOPInstanceUID == record["dicom"]["sop_instance_uid"]
        scoord = next(_items(item, "111030"))
        assert scoord.GraphicType == "ELLIPSE"
        assert list(scoord.GraphicData) == pytest.approx(
            [v for point in record["dicom"]["ellipse_scoord"] for v in point], abs=1e-3)


def test_ga_by_each_equation_and_the_centile_are_the_exam_rows(run):
    records, row = _exam(run, "twice1.dcm", "twice2.dcm")
    sr = _read(run, records)
    group = next(g for g in _items(sr, "125005") if next(_items(g, HC_CODE), None) is not None)
    gas = {next(_items(i, "121420")).ConceptCodeSequence[0].CodeValue: _num(i)
           for i in _items(group, GA_CODE)}
    assert gas == pytest.approx({"11932-1": round(float(row["ga_hadlock_days"]), 2),
                                 "IG21ST2016HC": round(float(row["ga_intergrowth_days"]), 2)})
    hadlock, intergrowth = _items(group, GA_CODE)  # Hadlock's interval, with its 2 SD
    value = _num(hadlock)
    assert _offsets(hadlock) == pytest.approx(
        [float(row["ga_hadlock_upper_95_days"]) - value,
         value - float(row["ga_hadlock_lower_95_days"])], abs=1e-6)
    # INTERGROWTH-21st publishes no per-estimate spread: no offsets, as exams.csv has none
    assert _offsets(intergrowth) == [] and row["ga_intergrowth_lower_95_days"] == ""
    assert _num(next(_items(group, PERCENTILE))) == pytest.approx(
        float(row["hc_mean_centile"]), abs=1e-4)
    assert _num(next(_items(group, Z_SCORE))) == pytest.approx(float(row["hc_mean_z"]), abs=1e-4)
    dating = next(_items(next(_items(sr, "125008")), "11885-1"))  # by LMP, from the file
    assert _num(dating) == pytest.approx(float(row["known_ga_weeks"]) * 7, abs=0.01)


def test_axes_and_cephalic_index_are_reported_per_image_and_as_mean(run):
    records, row = _exam(run, "twice1.dcm", "twice2.dcm")
    sr = _read(run, records)
    for code, key, mean in (("11820-8", "bpd_mm", row["bpd_mean_mm"]),
                            ("11851-3", "ofd_mm", row["ofd_mean_mm"]),
                            ("11824-0", "corrected_bpd_mm", None),
                            ("11823-2", "cephalic_index", None)):
        items = list(_items(sr, code))
        values = [r["biometry"][key] for r in records]
        assert [_num(i) for i in items if not _is_mean(i)] == pytest.approx(values)
        assert [_num(i) for i in items if _is_mean(i)] == pytest.approx(
            [float(mean) if mean else sum(values) / len(values)])
    ratios = next(_items(sr, "125001"))
    assert {i.ConceptNameCodeSequence[0].CodeValue for i in _items(ratios) if i.ValueType == "NUM"
            and i.ConceptNameCodeSequence[0].CodeValue != "371886008"} >= {"11823-2"}


def _comments(sr):
    return [i.TextValue for i in _items(sr, COMMENT)]


def test_review_and_disagreement_are_the_fetus_summary_comments(run):
    records, row = _exam(run, "twice1.dcm", "twice2.dcm")
    assert _comments(_read(run, records)) == ["hc-tf review: not needed"]
    records, row = _exam(run, "cine.dcm#1", "cine.dcm#2")
    assert row["disagree"] == "True"  # the fixture's two heads: the case this test is for
    comments = _comments(_read(run, records))
    assert comments[0] == "hc-tf review: needed" and comments[-1] == row["disagree_reason"]
    flagged = [r for r in run["records"] if r["filename"].startswith("philips") and r["review"]]
    if not flagged:
        pytest.skip("pydicom's OBXXXX1A_2frame.dcm is not installed")
    records = [r for r in run["records"] if r["filename"].startswith("philips")]
    comments = _comments(_read(run, records))
    assert comments[0] == "hc-tf review: needed"
    assert [f"image {k} of {len(records)}: {reason}" for k, r in enumerate(records, 1)
            if r["review"] for reason in r["review_reasons"]] == comments[1:]


def test_an_exam_across_studies_gets_no_report_and_says_why(tmp_path):
    records = [{"filename": n, "found": True, "review": False,
                "dicom": {"sr": f"sr/{n}.sr.dcm", "study_instance_uid": s}}
               for n, s in (("a.dcm", "1.2.3"), ("b.dcm", "1.2.4"))]
    run = dicom_predict.RunContext(model=None)
    dicom_predict.write_exam_reports(str(tmp_path), records, {"a.dcm": "X", "b.dcm": "X"}, {},
                                     run)
    assert [r["dicom"]["obgyn_sr_error"] for r in records] == [
        "a.dcm (an exam of 2 images): no OB-GYN report: the exam's images are in 2 studies"] * 2
    assert not list(tmp_path.rglob("*.obgyn.sr.dcm")) and run.series == {}


def test_a_rerun_with_overwrite_replaces_the_reports(run, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    dicom_files.write_exam_inputs(inputs)
    out = tmp_path / "out"
    predict_lib.predict_files(MODEL, [str(inputs / "cine.dcm")], str(out))
    before = pydicom.dcmread(str(out / "sr" / "cine.obgyn.sr.dcm")).SOPInstanceUID
    urls = [e["fullUrl"] for e in json.loads((out / "fhir" / "cine.obgyn.fhir.json").read_text())[
        "entry"]]
    predict_lib.predict_files(MODEL, [str(inputs / "cine.dcm")], str(out),
                              overwrite=True)
    after = pydicom.dcmread(str(out / "sr" / "cine.obgyn.sr.dcm")).SOPInstanceUID
    assert after != before
    fhir_report = json.loads((out / "fhir" / "cine.obgyn.fhir.json").read_text())  # its twin
    assert fhir_report["entry"][0]["resource"]["identifier"][0]["value"] == f"urn:oid:{after}"
    assert [e["fullUrl"] for e in fhir_report["entry"]] == urls  # the same images, the same ids


def _paths(run):
    return sorted(str(p) for p in (run["out"] / "sr").glob("*.obgyn.sr.dcm"))


def test_dciodvfy_finds_no_errors(run):
    for path in _paths(run):
        assert not sr_validators.dciodvfy_errors(path), path


def test_dsrdump_reads_every_report_as_tid_5000(run):
    for path in _paths(run):
        text = sr_validators.dsrdump(path)
        assert "TID 5000 (DCMR)" in text and "TID 5008 (DCMR)" in text


def test_pixelmed_finds_a_valid_comprehensive_sr_iod(run):
    text = sr_validators.pixelmed(str(run["out"] / "sr" / "cine.obgyn.sr.dcm"))
    assert "Found ComprehensiveSR IOD" in text and "IOD validation complete" in text, text
    assert not [line for line in text.splitlines() if line.startswith("Error")], text


def test_a_cine_frame_is_referenced_by_its_number_a_single_frame_image_by_none(run):
    for names, frames in ((("cine.dcm#1", "cine.dcm#2"), [1, 2]),
                          (("twice1.dcm", "twice2.dcm"), [None, None])):
        records, _ = _exam(run, *names)
        items = [i for i in _items(_read(run, records), HC_CODE) if not _is_mean(i)]
        refs = [next(_items(i, "260753009")).ReferencedSOPSequence[0] for i in items]
        assert [int(r.ReferencedFrameNumber) if "ReferencedFrameNumber" in r else None
                for r in refs] == frames


def test_predict_says_an_exams_missing_report_once_on_stderr(capsys):
    from hc_tf import cli
    error = "a.dcm (an exam of 2 images): no OB-GYN report: the exam's images are in 2 studies"
    cli._echo_dicom_notes([{"filename": n, "dicom": {"obgyn_sr_error": error}}
                           for n in ("a.dcm", "b.dcm")])
    assert capsys.readouterr().err == error + "\n"


def test_a_typed_ga_is_the_fetus_summarys_estimated_gestational_age_not_one_by_lmp(tmp_path):
    """A typed GA from dating: LOINC 11884-4 "Gestational age Estimated", neither 11885-1 (by
    LMP) nor the HC-derived GAs' 18185-9 in the Biometry Group, so a search by code tells them
    apart."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    dicom_files.write_exam_inputs(inputs)
    out = tmp_path / "out"
    predict_lib.predict_files(MODEL, [str(inputs / "cine.dcm")], str(out),
                              ga_weeks="18+4")
    sr = pydicom.dcmread(str(out / "sr" / "cine.obgyn.sr.dcm"))
    fetus = next(_items(sr, "125008"))
    assert [(i.ConceptNameCodeSequence[0].CodeValue, i.ConceptNameCodeSequence[0].CodeMeaning,
             _num(i)) for i in _items(fetus) if i.ValueType == "NUM"] == [
        ("11884-4", "Gestational age Estimated", 130.0)]


def test_a_dicom_inputs_sr_may_not_take_an_exam_reports_name(tmp_path):
    """scan.dcm's exam writes sr/scan.obgyn.sr.dcm, the SR a DICOM scan.obgyn.dcm writes:
    refused up front, naming both; a PNG scan.obgyn.png writes no SR and passes."""
    from hc_tf.surfaces import predict_inputs
    gray = cv2.imread(dicom_files.head_png("000_HC.png"), cv2.IMREAD_GRAYSCALE)
    scan = dicom_files.save(dicom_files.dataset([gray]), str(tmp_path / "scan.dcm"))
    other = dicom_files.save(dicom_files.dataset([gray]), str(tmp_path / "scan.obgyn.dcm"))
    with pytest.raises(ValueError, match=f"{scan} and {other} "
                                         r"\(sr/scan.obgyn.sr.dcm\); rename"):
        predict_inputs.read_inputs([str(tmp_path)], None, 0.2)
    png = str(tmp_path / "scan.obgyn.png")
    cv2.imwrite(png, gray)
    predict_inputs.check_output_names([scan, png])
