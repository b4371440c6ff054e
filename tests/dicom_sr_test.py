"""The SR and FHIR that `hc-tf predict` writes for DICOM inputs, checked by tools nobody here
wrote: dciodvfy (dicom3tools), dsrdump (dcmtk), PixelMed's DicomSRValidator, highdicom and
fhir.resources. The Debian tools' tests skip, saying why, where they are absent."""

import dataclasses
import json
import os
import shutil

import cv2
import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("highdicom")

from hc_tf.report import dicom_sr  # noqa: E402
from hc_tf.report import dicom_sr_document  # noqa: E402
from hc_tf.report import dicom_sr_evidence  # noqa: E402
from hc_tf.report import dicom_sr_read  # noqa: E402
from hc_tf.report import fhir  # noqa: E402
from hc_tf.surfaces import predict as predict_lib  # noqa: E402
from tests import dicom_files  # noqa: E402
from tests import sr_validators  # noqa: E402
from tests.scripts import node_json  # noqa: E402

MODEL = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "models", "hc_effunet_int8.tflite")
HEADS = ("000_HC.png", "019_HC.png")
DATED_HEAD = "207_HC.png"  # within the INTERGROWTH-21st standard's weeks, unlike HEADS


def _inputs(folder):
    """A single-frame head, one dated by its Last Menstrual Date (a centile in the SR), a
    two-frame cine of two heads (US Multi-frame), and a real Philips
    two-frame file (its own patient and study modules; a US Image SOP class, so its SR names no
    frame; the model finds a flagged "head" in frame 2)."""
    from pydicom.data import get_testdata_file
    single = dicom_files.gray_dataset(HEADS[0])
    single.TimezoneOffsetFromUTC = "+0530"  # the validators see an SR that declares a zone
    dicom_files.save(single, str(folder / "single.dcm"))
    frames = [cv2.imread(dicom_files.head_png(n), cv2.IMREAD_GRAYSCALE) for n in HEADS]
    h, w = frames[0].shape
    px = dicom_files.head_pixel_sizes()[HEADS[0]]
    dicom_files.save(dicom_files.dataset(frames, regions=[
        dicom_files.region((0, 0, w - 1, h - 1), px)]), str(folder / "cine.dcm"))
    dated = dicom_files.gray_dataset(DATED_HEAD)  # 155.8 mm, its LMP 18+4 weeks before
    dated.StudyDate, dated.LastMenstrualDate = "20260601", "20260122"
    dicom_files.save(dated, str(folder / "dated.dcm"))
    philips = get_testdata_file("OBXXXX1A_2frame.dcm")  # frame 2: a flagged non-head
    if philips:
        shutil.copy(philips, folder / "philips.dcm")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicom_sr")
    inputs = root / "in"
    inputs.mkdir()
    _inputs(inputs)
    out = root / "out"
    result = predict_lib.predict_files(MODEL, [str(inputs)], str(out))
    report = json.loads((out / "report.json").read_text())
    srs = {r["filename"]: r for r in report["images"] if r.get("dicom", {}).get("sr")}
    assert len(srs) >= 3, report  # the single head and both cine frames at least
    return {"out": out, "result": result, "records": srs, "inputs": inputs}


def _sr_paths(run):
    return [str(run["out"] / r["dicom"]["sr"]) for r in run["records"].values()]


def test_sr_reads_back_as_report_json_says(run):
    if "philips.dcm#2" in run["records"]:  # the review reasons are read back, not just []
        assert run["records"]["philips.dcm#2"]["review_reasons"]
    assert any("note" not in r["bpd_interval"] for r in run["records"].values())
    for record in run["records"].values():
        back = dicom_sr_read.read_back(str(run["out"] / record["dicom"]["sr"]))
        assert back["hc_mm"] == pytest.approx(record["hc_mm"], abs=1e-9)
        # BPD and OFD beside it, as report.json gives them (the ellipse's axes, outer to outer)
        assert back["bpd_mm"] == pytest.approx(record["biometry"]["bpd_mm"], abs=1e-9)
        assert back["ofd_mm"] == pytest.approx(record["biometry"]["ofd_mm"], abs=1e-9)
        assert back["bpd_mm"] < back["ofd_mm"] < back["hc_mm"] / 2.5
        assert back["corrected_bpd_mm"] == pytest.approx(record["biometry"]["corrected_bpd_mm"], abs=1e-9)
        for axis in ("bpd", "ofd", "corrected_bpd"):  # each with its own interval (TID 310)
            iv = record[f"{axis}_interval"]
            want = (None, None) if "note" in iv else (iv["lower_mm"], iv["upper_mm"])
            got = (back[f"{axis}_lower_95_mm"], back[f"{axis}_upper_95_mm"])
            assert got == (want if "note" in iv else pytest.approx(want, abs=1e-6)), axis
        # the cephalic index (LOINC 11823-2, in %) and its interval, as report.json gives them
        assert back["cephalic_index"] == pytest.approx(record["biometry"]["cephalic_index"], abs=1e-9)
        iv = record["cephalic_index_interval"]
        got = (back["cephalic_index_lower_95"], back["cephalic_index_upper_95"])
        assert got == ((None, None) if "note" in iv else pytest.approx((iv["lower"], iv["upper"]), abs=1e-6))
        np.testing.assert_allclose(back["ellipse"], record["dicom"]["ellipse_scoord"], atol=1e-3)
        assert back["review"] == record["review"] and back["reasons"] == record["review_reasons"]
        assert back["referenced_sop_instance_uid"] == record["dicom"]["sop_instance_uid"]
        assert back["study_instance_uid"] == record["dicom"]["study_instance_uid"]
        hadlock = record["gestational_age"]["hadlock"]
        if hadlock["status"] == "ok":
            assert back["ga_weeks"]["HC, Hadlock 1984"] == pytest.approx(hadlock["ga_weeks"],
                                                                         abs=1e-4)
        iv = record["hc_interval"]  # TID 310 uncertainty: HC -/+ offsets, as report.json says
        if "note" in iv:  # beyond the calibrated range (the flagged Philips frames): none
            assert iv["note"].startswith("no calibrated interval")
            assert back["hc_lower_95_mm"] is None and back["hc_upper_95_mm"] is None
            continue
        assert iv["lower_mm"] < record["hc_mm"] < iv["upper_mm"]
        assert back["hc_lower_95_mm"] == pytest.approx(iv["lower_mm"], abs=1e-6)
        assert back["hc_upper_95_mm"] == pytest.approx(iv["upper_mm"], abs=1e-6)
        assert iv["method"] in back["hc_interval_method"] and "95%" in back["hc_interval_method"]
        _check_centile(back, record)
        multi_class = record["dicom"]["sop_class_uid"] not in dicom_sr.SINGLE_FRAME_CLASSES
        frame = record["dicom"]["frame"] if record["dicom"]["frames_in_file"] > 1 else None
        assert back["frames"] == ([frame] if frame and multi_class else None)


def _check_centile(back, record):
    """The SR's TID 311 percentile rank and z-score are report.json's centile at the GA from
    dating, the population named with that GA and its source; none without a centile."""
    from hc_tf.io import dicom_dating
    c = record["centile"]
    if not c or c["status"] != "ok":
        assert (back["hc_centile"], back["hc_z"], back["hc_population"]) == (None,) * 3
        return
    assert back["hc_centile"] == pytest.approx(c["centile"], abs=1e-4)
    assert back["hc_z"] == pytest.approx(c["z"], abs=1e-4)
    assert back["hc_population"] == (f"{dicom_sr.POPULATION} at {c['ga']} weeks, dated by "
                                     f"{dicom_dating.LMP_SOURCE}")


def test_a_dated_head_carries_its_centile_in_the_sr(run):
    """The dated head's SR holds its centile (_check_centile, above); the others, whose heads
    are below the standard's weeks or undated, hold none."""
    dated = run["records"]["dated.dcm"]
    assert dated["centile"]["status"] == "ok" and 10 < dated["centile"]["centile"] < 90
    assert dicom_sr_read.read_back(str(run["out"] / dated["dicom"]["sr"]))["hc_centile"] > 0
    others = [r for n, r in run["records"].items() if n != "dated.dcm"]
    assert others and not any(r["centile"] for r in others)


def test_scoord_ellipse_is_the_measured_ellipse():
    from hc_tf.measure import Ellipse
    pts = dicom_sr.scoord_ellipse(Ellipse(100.0, 50.0, 30.0, 20.0, 0.0))
    np.testing.assert_allclose(pts, [[70.5, 50.5], [130.5, 50.5], [100.5, 30.5], [100.5, 70.5]])


def test_new_series_same_study_unique_uids(run):
    sr_uids, series = set(), {}
    for record in run["records"].values():
        ds = pydicom.dcmread(str(run["out"] / record["dicom"]["sr"]))
        assert ds.StudyInstanceUID == record["dicom"]["study_instance_uid"]
        assert ds.SeriesInstanceUID != record["dicom"]["series_instance_uid"]
        assert ds.SOPInstanceUID == record["dicom"]["sr_sop_instance_uid"]
        sr_uids.add(ds.SOPInstanceUID)
        series.setdefault(ds.StudyInstanceUID, set()).add(ds.SeriesInstanceUID)
        assert "PatientName" in ds  # the SR belongs to the source's patient
    assert len(sr_uids) == len(run["records"])
    assert all(len(s) == 1 for s in series.values())  # one new SR series per study and run


def test_uids_are_new_in_every_run(run, tmp_path):
    again = predict_lib.predict_files(MODEL, [str(run["inputs"] / "single.dcm")],
                                      str(tmp_path / "o"))
    [record] = again.records
    first = run["records"]["single.dcm"]["dicom"]
    assert record["dicom"]["sr_sop_instance_uid"] != first["sr_sop_instance_uid"]


def test_no_patient_data_in_report_json_or_names(run):
    text = (run["out"] / "report.json").read_text()
    for value in ("Test^Fetus", "T1\""):
        assert value not in text
    assert not any("Test" in n for n in os.listdir(run["out"] / "sr"))


def test_dciodvfy_finds_no_errors(run):
    for path in _sr_paths(run):
        errors = sr_validators.dciodvfy_errors(path)
        assert not errors, (path, errors)


def test_dsrdump_reads_every_sr_as_tid_1500(run):
    for path in _sr_paths(run):
        text = sr_validators.dsrdump(path)
        assert "TID 1500" in text and "Fetal Head Circumference US" in text


def test_pixelmed_sr_validator_passes(run):
    # The JVM takes seconds per file: one of each kind (the flagged one has reason TEXT items).
    kind = "philips.dcm#2" if "philips.dcm#2" in run["records"] else "single.dcm"
    for record in (run["records"][kind], run["records"]["cine.dcm#2"],
                   run["records"]["dated.dcm"]):  # the last: a centile (TID 311)
        text = sr_validators.pixelmed(str(run["out"] / record["dicom"]["sr"]))
        assert "Found Root Template TID_1500" in text and "IOD validation complete" in text, text
        problems = [line for line in text.splitlines() if line.startswith(("Error", "Warning"))]
        known = [line for line in problems if _pixelmed_tid300_false_positive(line)]
        # the uncertainty items are there where there is an interval (and only they are excused)
        assert bool(known) == ("note" not in record["hc_interval"]), text
        assert not [line for line in problems if line not in known], text


def _pixelmed_tid300_false_positive(line):
    """PixelMed (Debian's 2022 jar) matches TID 300 rows 9/10 and TID 1419 rows 13/14 (INFERRED
    FROM NUM, any concept) against every NUM child of a measurement and then faults the
    relationship, so the TID 310 uncertainty NUMs (HAS PROPERTIES, CID 225, which its own TID
    310 row 5 accepts) and the HC's TID 311 percentile rank and z-score (HAS PROPERTIES, CID
    227) are reported. Only those lines, for those codes, on the HC, BPD, OFD, corrected BPD and
    cephalic index (each with its interval; the centile on the HC only), are excused."""
    child = line.rstrip().split("/")[-1]
    uncertainty = child.startswith(tuple(f"NUM ({c},SCT," for c in (dicom_sr.UPPER_UNCERTAINTY,
                                                                     dicom_sr.LOWER_UNCERTAINTY)))
    centile = child.startswith(tuple(f"NUM ({c[0]},DCM," for c in (dicom_sr.PERCENTILE_CODE,
                                                                    dicom_sr.Z_SCORE_CODE)))
    hc = f"NUM ({dicom_sr.HC_CODE[0]},LN,\"{dicom_sr.HC_CODE[2]}\")/NUM" in line
    axes = (dicom_sr.BPD_CODE, dicom_sr.OFD_CODE, dicom_sr.CBPD_CODE, dicom_sr.CI_CODE)
    return (line.startswith("Error: Template ")
            and "Incorrect relationship - expected INFERRED FROM - found HAS PROPERTIES" in line
            and ((uncertainty and (hc or any(f"NUM ({code[0]},LN,\"{code[2]}\")/NUM" in line
                                             for code in axes)))
                 or (centile and hc)))


def test_fhir_observation_is_valid_r4_and_matches_the_report(run):
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.observation import Observation
    ga_seen = set()
    for record in run["records"].values():
        bundle = json.loads((run["out"] / record["dicom"]["fhir"]).read_text())
        assert Bundle.model_validate(bundle).type == "collection"
        found = fhir.bundle_observations(bundle)
        in_range = [name for key, name in (("hadlock", "gahl"), ("intergrowth", "gaig"))
                    if record["gestational_age"][key]["status"] == "ok"]
        assert list(found) == ["hc", "bpd", "ofd", "cbpd", "ci"] + in_range
        assert len(bundle["entry"]) == len(found)
        _check_fhir_cephalic_index(found, record)
        ga_seen |= _check_fhir_ga(found, record)
        doc = found["hc"]
        obs = Observation.model_validate(doc)
        # BPD and OFD: their own Observations, the report's values in mm, the HC's source, time
        # and review note, the axes' convention in the method, each its report's interval.
        for name, field in (("bpd", "bpd"), ("ofd", "ofd"), ("cbpd", "corrected_bpd")):
            axis, iv = found[name], record[f"{field}_interval"]
            quantity = {k: v for k, v in axis["valueQuantity"].items() if k != "extension"}
            assert quantity == {"value": pytest.approx(record["biometry"][f"{field}_mm"], abs=1e-9),
                                "unit": "mm", "system": "http://unitsofmeasure.org", "code": "mm"}
            assert axis["derivedFrom"] == doc["derivedFrom"] and "subject" not in axis
            assert axis.get("effectiveDateTime") == doc.get("effectiveDateTime")
            assert axis["method"]["text"] == (doc["method"]["text"] + ": "
                                              + record["biometry"]["convention"])
            review = ["please review: " + "; ".join(record["review_reasons"])]
            notes = [n["text"] for n in axis.get("note", [])]
            if "note" in iv:  # beyond its calibration: no interval
                assert fhir.read_interval(axis) is None and notes == (review if record["review"] else [])
                continue
            assert fhir.read_interval(axis) == pytest.approx(
                {k: iv[k] for k in ("level", "lower_mm", "upper_mm")}, abs=1e-9)
            assert notes == (review if record["review"] else []) + [
                f"95% interval of the {fhir.AXIS_TITLES[name]} (measurement uncertainty, not a "
                f"normal range): {iv['method']}"]
        assert obs.code.coding[0].system == "http://loinc.org"
        assert obs.code.coding[0].code == "11984-2"
        assert (obs.valueQuantity.code, obs.valueQuantity.system) == ("mm",
                                                                     "http://unitsofmeasure.org")
        assert float(obs.valueQuantity.value) == pytest.approx(record["hc_mm"], abs=1e-9)
        refs = json.dumps(doc["derivedFrom"])
        assert record["dicom"]["study_instance_uid"] in refs
        assert record["dicom"]["sop_instance_uid"] in refs
        assert record["dicom"]["sr_sop_instance_uid"] in refs
        assert "sha256" in obs.method.text and obs.device.display.startswith("hc-tf")
        assert "subject" not in doc  # no --fhir-patient-system: no patient in the FHIR
        # The review flag is a note, first, and never an interpretation (an EHR's abnormal-flag
        # column: High/Low/Normal, which only a centile at a GA from dating fills); an
        # unflagged head has no review note.
        notes = [n["text"] for n in doc.get("note", [])]
        review = ["please review: " + "; ".join(record["review_reasons"])] if record["review"] else []
        assert [n for n in notes if "review" in n] == review and notes[:len(review)] == review
        # The interval rides on the value (quantity-confidenceInterval), not as a normal range:
        # a referenceRange is the standard's, at a GA from dating only.
        _check_fhir_centile(doc, record)
        if "note" in record["hc_interval"]:  # beyond the calibrated range: no interval at all
            assert "extension" not in doc["valueQuantity"] and fhir.read_interval(doc) is None
            assert notes == review
            continue
        [ext] = doc["valueQuantity"]["extension"]
        assert ext["url"] == "http://hl7.org/fhir/StructureDefinition/quantity-confidenceInterval"
        iv = fhir.read_interval(doc)
        assert iv == pytest.approx({"level": record["hc_interval"]["level"],
                                    "lower_mm": record["hc_interval"]["lower_mm"],
                                    "upper_mm": record["hc_interval"]["upper_mm"]}, abs=1e-9)
        assert len(notes) == len(review) + 1 and record["hc_interval"]["method"] in notes[-1]
    # each GA case met: combined with Hadlock's 2 SD, INTERGROWTH-21st's none (no per-estimate
    # spread published: a note instead), and an equation whose range the HC is outside
    assert {"combined", "no spread", "out of range"} <= ga_seen, ga_seen


def _check_fhir_ga(found, record):
    """The GA by each equation in range (report.json's "gestational_age"), as the SR has it: its
    days (to 2 decimals) with report.json's "ga_interval" by exams.csv's rule (combined with the
    equation's spread, the note saying so; none by INTERGROWTH-21st, a note quoting its paper's
    prediction interval instead), the HC's
    source, time and review note, the equation in its code's text and method; no Observation for
    an equation out of range. Returns the cases met."""
    seen, hc = set(), found["hc"]
    review = ["please review: " + "; ".join(record["review_reasons"])] if record["review"] else []
    for key, name, title in (("hadlock", "gahl", "Hadlock 1984 (HC)"),
                             ("intergrowth", "gaig", "INTERGROWTH-21st 2016 (HC)")):
        ga = record["gestational_age"][key]
        if ga["status"] != "ok":
            assert name not in found
            seen.add("out of range")
            continue
        doc = found[name]
        assert doc["code"] == {"coding": [{"system": "http://loinc.org", "code": "18185-9"}],
                               "text": f"Gestational age by fetal head circumference, {title}"}
        assert doc["method"]["text"] == f"{title} from this image's HC"
        quantity = {k: v for k, v in doc["valueQuantity"].items() if k != "extension"}
        assert quantity == {"value": round(ga["ga_days"], 2), "unit": "d",
                            "system": "http://unitsofmeasure.org", "code": "d"}
        assert doc["derivedFrom"] == hc["derivedFrom"] and doc["status"] == "preliminary"
        assert doc.get("effectiveDateTime") == hc.get("effectiveDateTime")
        notes = [n["text"] for n in doc.get("note", [])]
        g = record["ga_interval"].get(key) or {}
        if key == "intergrowth":  # no per-estimate spread: no interval, the paper's text
            assert fhir.read_interval(doc) is None and notes[:-1] == review
            assert notes[-1] == f"no 95% interval of the GA (the equation's own spread: " \
                                f"{ga['uncertainty']})"
            seen.add("no spread")
            continue
        ends = [g.get(f"combined_{end}_days") for end in ("lower", "upper")]
        if None in ends:  # an end beyond the equation's range, or no HC interval: none
            assert fhir.read_interval(doc) is None and notes == review
            continue
        seen.add("combined")
        assert fhir.read_interval(doc) == pytest.approx(
            {"level": 0.95, "lower_mm": ends[0], "upper_mm": ends[1]}, abs=1e-9)
        assert notes[:-1] == review and "combined with the formula's 2 SD" in notes[-1]
        assert "this image's HC" in notes[-1]
    return seen


def _check_fhir_cephalic_index(found, record):
    """The cephalic index's Observation: the report's index in % with its interval, beside the
    HC's source and review note, its normal range and the head shape as interpretation."""
    doc, b, iv = found["ci"], record["biometry"], record["cephalic_index_interval"]
    assert doc["code"]["coding"][0]["code"] == "11823-2"
    assert doc["valueQuantity"]["value"] == pytest.approx(b["cephalic_index"], abs=1e-9)
    assert doc["valueQuantity"]["code"] == "%" and doc["derivedFrom"] == found["hc"]["derivedFrom"]
    want = None if "note" in iv else pytest.approx(
        {"level": iv["level"], "lower_mm": iv["lower"], "upper_mm": iv["upper"]}, abs=1e-9)
    assert fhir.read_interval(doc) == want
    [rng] = doc["referenceRange"]
    assert [rng["low"]["value"], rng["high"]["value"]] == b["cephalic_index_normal"]
    [interp] = doc["interpretation"]
    assert interp["coding"][0]["code"] == {"dolichocephalic": "L", "normal": "N",
                                           "brachycephalic": "H"}[b["head_shape"]]
    assert interp["text"] == b["head_shape_text"]
    review = [n["text"] for n in doc.get("note", []) if n["text"].startswith("please review")]
    assert review == (["please review: " + "; ".join(record["review_reasons"])] if record["review"] else [])


def _check_fhir_centile(doc, record):
    """The HC Observation of a head with a centile: the standard's 3rd-97th centile HCs at its
    GA as the normal range, interpretation by the centile flag, centile and z as components
    (the SR's codes); none of them without one."""
    from hc_tf import clinical
    c = record["centile"]
    if not c or c["status"] != "ok":
        assert not {"referenceRange", "interpretation", "component"} & set(doc)
        return
    [rng] = doc["referenceRange"]
    assert (rng["low"]["value"], rng["high"]["value"]) == pytest.approx(
        (clinical.hc_at_centile(c["ga_weeks"], 3), clinical.hc_at_centile(c["ga_weeks"], 97)))
    assert rng["low"]["value"] < record["hc_mm"] < rng["high"]["value"]  # the dated head: normal
    assert rng["type"]["coding"][0]["code"] == "normal" and f"at {c['ga']} weeks" in rng["text"]
    [interp] = doc["interpretation"]
    assert interp["coding"][0]["code"] == "N" and interp["text"] == c["display"]
    parts = {p["code"]["coding"][0]["code"]: p["valueQuantity"] for p in doc["component"]}
    assert parts[dicom_sr.PERCENTILE_CODE[0]]["value"] == pytest.approx(c["centile"])
    assert parts[dicom_sr.Z_SCORE_CODE[0]]["value"] == pytest.approx(c["z"])
    assert parts[dicom_sr.PERCENTILE_CODE[0]]["code"] == "%"


@pytest.mark.parametrize("hc_mm,code", [(130.0, "L"), (155.8, "N"), (185.0, "H")])
def test_the_fhir_interpretation_is_the_centile_flag_read_by_hl7s_codes(hc_mm, code):
    """Below the 3rd centile Low, above the 97th High, between Normal: the flag the report
    shows, at the same GA; the normal range the same at every HC."""
    from hc_tf import clinical
    from hc_tf.report import records
    c = records.centile_record(clinical.hc_centile(hc_mm, 18.5))
    assert c["flag"] == {"L": "below_3rd", "N": None, "H": "above_97th"}[code]
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    uids = {"study_instance_uid": "1.2.3", "sop_instance_uid": "1.2.3.4"}
    obs = fhir.observation(hc_mm, uids, None, model, False, [], centile=c,
                           dating={"source": "LMP or earlier scan, as given"})
    assert obs["interpretation"][0]["coding"][0]["code"] == code
    assert obs["referenceRange"][0]["low"]["value"] == pytest.approx(
        clinical.hc_at_centile(18.5, 3.0))
    assert obs["referenceRange"][0]["text"].endswith(
        "at 18+4 weeks (GA from dating: LMP or earlier scan, as given)")


def test_no_interval_no_uncertainty_items(tmp_path):
    """Without an interval the SR and the Observation carry none (and read back None)."""
    from hc_tf.measure import Ellipse
    src = dicom_files.gray_dataset(HEADS[0])
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    args = (src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {}, False, [], model)
    for interval in (None, {"lower_mm": 170.1, "upper_mm": 181.0, "level": 0.95,
                            "method": "test conformal"}):
        path = str(tmp_path / "x.sr.dcm")
        dicom_sr_document.write_sr(dicom_sr.build_sr(*args, hc_interval=interval), path)
        back = dicom_sr_read.read_back(path)
        if interval is None:
            assert back["hc_lower_95_mm"] is None and back["hc_interval_method"] is None
        else:  # asymmetric on purpose: each offset goes to its own side
            assert back["hc_lower_95_mm"] == pytest.approx(170.1, abs=1e-9)
            assert back["hc_upper_95_mm"] == pytest.approx(181.0, abs=1e-9)
            assert back["hc_interval_method"].endswith("test conformal")
        uids = {"study_instance_uid": "1.2.3", "sop_instance_uid": "1.2.3.4"}
        obs = fhir.observation(175.3, uids, None, model, False, [], hc_interval=interval)
        assert fhir.read_interval(obs) == (None if interval is None else pytest.approx(
            {"level": 0.95, "lower_mm": 170.1, "upper_mm": 181.0}))


def _odd_patient(name="JANE DOE"):
    """A head whose patient and study fields are as real exports have them, not as DICOM says."""
    import warnings
    ds = dicom_files.gray_dataset(HEADS[0])
    with warnings.catch_warnings():  # pydicom warns (quoting them) as the test sets them
        warnings.simplefilter("ignore")
        ds.PatientName = name
        ds.PatientBirthDate = "1980-01-01"
        ds.PatientSex = "FEMALE"
        ds.StudyDate = "2026-01-01"
        ds.StudyTime = "25:99:00"
        ds.ReferringPhysicianName = "DOE^JOHN\\ROE^RICHARD"
        ds.PatientID = "SECRET-ID-42"
    return ds


VALUES = ("JANE", "1980", "FEMALE", "2026-01-01", "25:99", "ROE", "SECRET-ID-42")


def test_patient_fields_real_exports_have_become_valid_dicom_and_nothing_quotes_them(
        tmp_path, capfd, caplog):
    """A name without '^' (highdicom warns quoting it), a dashed date or "FEMALE" (highdicom
    raises quoting it), several names, an impossible time: the SR holds them in DICOM's form or
    leaves them empty; the notes name the tags; no warning, log line or output has a value."""
    import logging
    import warnings
    from hc_tf.io import dicom as dicom_io
    from hc_tf.measure import Ellipse
    path = dicom_files.save(_odd_patient(), str(tmp_path / "odd.dcm"))
    capfd.readouterr()
    caplog.clear()  # the test's own setting of the fields above (pydicom logs them)
    caplog.set_level(logging.DEBUG)
    header = dicom_io.read_header(path)
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sr = dicom_sr.build_sr(header.dataset, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0),
                               175.3, {}, False, [], model, notes=notes)
    out = str(tmp_path / "odd.sr.dcm")
    dicom_sr_document.write_sr(sr, out)
    back = pydicom.dcmread(out)
    assert str(back.PatientName) == "JANE DOE"  # valid DICOM (one component): kept as it is
    assert (back.PatientBirthDate, back.PatientSex, back.StudyDate) == ("19800101", "F",
                                                                        "20260101")
    assert not back.StudyTime and str(back.ReferringPhysicianName) == "DOE^JOHN"
    assert str(header.dataset.PatientBirthDate) == "1980-01-01"  # the source is not changed
    text = "\n".join(notes)
    for tag in ("(0010,0030)", "(0010,0040)", "(0008,0020)", "(0008,0030)", "(0008,0090)"):
        assert tag in text, text
    said = (text + capfd.readouterr().err + caplog.text
            + "".join(str(w.message) for w in caught))
    assert not [v for v in VALUES if v in said], said
    assert dicom_sr_read.read_back(out)["hc_mm"] == pytest.approx(175.3)


def _sr_times(sr):
    """The SR's own date-times: creation, content, and highdicom's contribution."""
    import datetime
    own = [sr.InstanceCreationDate + sr.InstanceCreationTime, sr.ContentDate + sr.ContentTime]
    own += [item.ContributionDateTime for item in sr.ContributingEquipmentSequence
            if "ContributionDateTime" in item]
    return [datetime.datetime.strptime(str(t), "%Y%m%d%H%M%S.%f") for t in own]


@pytest.mark.parametrize("offset", ["+0530", "-0800", "+1400", "+0000"])
def test_sr_declares_the_source_zone_and_writes_its_own_times_in_it(tmp_path, offset):
    """TimezoneOffsetFromUTC covers every time of an instance, the study's (copied) and the
    SR's own: both are in the source's zone, whatever this computer's is."""
    import datetime
    from hc_tf.measure import Ellipse
    src = dicom_files.gray_dataset(HEADS[0])
    src.TimezoneOffsetFromUTC = offset
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    path = str(tmp_path / "zone.sr.dcm")
    sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {}, False, [],
                           model)
    dicom_sr_document.write_sr(sr, path)
    back = pydicom.dcmread(path)
    assert back.TimezoneOffsetFromUTC == offset
    zone = dicom_sr_evidence.utc_offset(offset)
    now = datetime.datetime.now(datetime.timezone.utc)
    for t in _sr_times(back):
        assert abs((t.replace(tzinfo=zone) - now).total_seconds()) < 120, (t, offset)


@pytest.mark.parametrize("offset", ["+5:30", "+2500", "-1300", "+0160", "GMT", "-0000"])
def test_an_invalid_source_zone_is_left_out_and_named_not_quoted(tmp_path, offset):
    from hc_tf.measure import Ellipse
    src = dicom_files.gray_dataset(HEADS[0])
    src.TimezoneOffsetFromUTC = offset
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    notes = []
    sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {}, False,
                           [], model, notes=notes)
    assert "TimezoneOffsetFromUTC" not in sr
    assert [n for n in notes if "(0008,0201)" in n and offset not in n], notes


def test_a_source_without_a_zone_gives_an_sr_without_one():
    from hc_tf.measure import Ellipse
    src = dicom_files.gray_dataset(HEADS[0])
    assert "TimezoneOffsetFromUTC" not in src
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    notes = []
    sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {}, False,
                           [], model, notes=notes)
    assert "TimezoneOffsetFromUTC" not in sr and not notes


def test_invalid_uids_are_not_quoted_reading_the_file_or_building_the_sr(tmp_path, capfd,
                                                                          caplog):
    """pydicom warns and logs "Invalid value for VR UI: '<the UID>'" as it reads a UID with a
    leading-zero component (older scanners write them), and again as highdicom copies it into
    the SR: the study's UID reached stderr (the node's log, predict's console); the image's
    own UID did too, as highdicom referenced it in the SR's region."""
    import logging
    import warnings
    from hc_tf.io import dicom as dicom_io
    from hc_tf.measure import Ellipse
    ds = dicom_files.gray_dataset(HEADS[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns, quoting it, as the test sets it
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.0424242"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = \
            "1.2.826.0.1.3680043.8.498.0313131"
        path = dicom_files.save(ds, str(tmp_path / "uid.dcm"))
    capfd.readouterr()
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        header = dicom_io.read_header(path)
        sr = dicom_sr.build_sr(header.dataset, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0),
                               175.3, {}, False, [], dicom_sr.ModelInfo("m.tflite", "1", "0" * 64))
    assert str(sr.StudyInstanceUID) == "1.2.826.0.1.3680043.8.498.0424242"  # the same study
    said = capfd.readouterr().err + caplog.text + "".join(str(w.message) for w in caught)
    assert "0424242" not in said and "0313131" not in said, said


def test_an_sr_highdicom_still_refuses_names_the_tag_not_the_value(monkeypatch):
    import highdicom as hd
    from hc_tf.measure import Ellipse

    def refuse(*args, **kwargs):
        raise ValueError("Unable to convert 'SECRET-ID-42' to 'LO' object")
    monkeypatch.setattr(hd.sr, "ComprehensiveSR", refuse)
    with pytest.raises(dicom_sr_document.SRError) as err:
        dicom_sr.build_sr(_odd_patient(), None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3,
                          {}, False, [], dicom_sr.ModelInfo("m.tflite", "1", "0" * 64))
    assert "PatientID (0010,0020)" in str(err.value) and "SECRET" not in str(err.value)


def test_fhir_names_dicom_uids_as_fhir_says_system_dicom_value_oid():
    """FHIR R4 (ImagingStudy, Implementation Notes): a DICOM UID in an Identifier has system
    "urn:dicom:uid" and the value "urn:oid:<uid>"; hc-tf wrote "urn:dicom:uid:<uid>", which a
    server searching identifier=urn:dicom:uid|urn:oid:<uid> does not find."""
    uids = {"study_instance_uid": "1.2.3", "sop_instance_uid": "1.2.3.4"}
    obs = fhir.observation(175.3, uids, None, dicom_sr.ModelInfo("m.tflite", "1", "0" * 64),
                           False, [], sr_sop_instance_uid="1.2.3.5")
    assert [d["identifier"] for d in obs["derivedFrom"]] == [
        {"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}
        for uid in ("1.2.3", "1.2.3.4", "1.2.3.5")]


def _device_observer_uid(sr):
    return next(str(item.UID) for item in sr.ContentSequence
                if item.ConceptNameCodeSequence[0].CodeValue == "121012")


def test_device_observer_uid_names_the_model_not_the_report():
    """TID 1004's Device Observer UID identifies the device: every SR of one model (by its
    sha256) names the same UID, in every run, so a PACS or reporting system can tell which
    reports one algorithm made; another model has another."""
    from hc_tf.measure import Ellipse
    src = dicom_files.gray_dataset(HEADS[0])
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    args = (src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {}, False, [])
    one, two = (dicom_sr.build_sr(*args, model) for _ in range(2))
    assert one.SOPInstanceUID != two.SOPInstanceUID
    assert _device_observer_uid(one) == _device_observer_uid(two)
    other = dicom_sr.build_sr(*args, dicom_sr.ModelInfo("m.tflite", "1", "1" * 64))
    assert _device_observer_uid(other) != _device_observer_uid(one)


def test_hadlock_ga_names_dicom_s_own_equation_code(tmp_path):
    """GA by Hadlock 1984's HC formula is coded as DICOM codes it (CID 12013 Gestational Age
    Equations and Tables: LOINC 11932-1 "HC, Hadlock 1984"), so an OB reporting system knows
    it; INTERGROWTH-21st, which CID 12013 lacks, keeps hc-tf's own scheme."""
    import highdicom as hd
    from hc_tf.measure import Ellipse
    src = dicom_files.gray_dataset(HEADS[0])
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    ga = {"hadlock": {"status": "ok", "ga_weeks": 20.5},
          "intergrowth": {"status": "ok", "ga_weeks": 20.25}}
    path = str(tmp_path / "ga.sr.dcm")
    sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, ga, False, [],
                           model)
    dicom_sr_document.write_sr(sr, path)
    group = hd.sr.srread(path).content.get_planar_roi_measurement_groups()[0]
    methods = {(m.method.value, m.method.scheme_designator): m.value
               for m in group.get_measurements() if m.name.value == "18185-9"}
    assert methods == {("11932-1", "LN"): 20.5, ("IG21ST2016HC", "99HCTF"): 20.25}
    assert dicom_sr_read.read_back(path)["ga_weeks"] == {"HC, Hadlock 1984": 20.5,
                                                    "INTERGROWTH-21st 2016 (HC)": 20.25}


def test_the_fetus_is_unknown_and_the_finding_is_dicoms_skull(tmp_path):
    """TID 1008 needs a Subject ID (or a Fetus ID): the SR's says the fetus is unknown, as an
    image header does not say which fetus (twins split by an exam column must not both read as
    fetus "1"); the planar ROI's finding type is SCT 89546000 "Skull", as DICOM's CID 12020
    Fetal Biometry Anatomic Site lists it (SCT 1279005 was in no DICOM context group)."""
    import highdicom as hd
    from pydicom.sr import _cid_dict
    from hc_tf.measure import Ellipse
    src = dicom_files.gray_dataset(HEADS[0])
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    path = str(tmp_path / "fetus.sr.dcm")
    sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {}, False,
                           [], model)
    dicom_sr_document.write_sr(sr, path)
    doc = hd.sr.srread(path)

    def items(node):
        for item in node.get("ContentSequence", []):
            yield item
            yield from items(item)
    ids = [i.TextValue for i in items(doc)
           if i.ConceptNameCodeSequence[0].CodeValue == "121030"]  # Subject ID
    assert ids == ["unknown: the image does not say which fetus"]
    group = doc.content.get_planar_roi_measurement_groups()[0]
    assert (group.finding_type.value, group.finding_type.scheme_designator,
            group.finding_type.meaning) == ("89546000", "SCT", "Skull")
    assert "Skull" in _cid_dict.cid_concepts[12020]["SCT"]


STUDY_DATES = ("20260101", "20260101 ", "2026-01-01", "2026.01.01", "2026-01.01", "2024-02-29",
               "2026-02-29", "20261399", "2026-1-1", "2026/01/01", "202601011", "")
WEB_FHIR = os.path.join(os.path.dirname(__file__), "..", "web_app", "src", "core", "fhir.js")


def test_observation_date_is_the_same_from_the_source_the_sr_and_the_web_app(tmp_path):
    """effectiveDateTime is the study's date however it is reached: predict takes it from the
    SR (which holds a dashed "2026-01-01" as 20260101), the web app (fhir.js studyDate) and the
    parity test from the source header; a date the SR holds is the Observation's in all three."""
    import warnings
    from hc_tf.io import dicom as dicom_io
    from hc_tf.measure import Ellipse
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    python = {}
    for i, value in enumerate(STUDY_DATES):
        ds = dicom_files.gray_dataset(HEADS[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.StudyDate = value
        # as predict reads it (pydicom strips a DA's padding)
        src = dicom_io.read_header(dicom_files.save(ds, str(tmp_path / f"{i}.dcm"))).dataset
        sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {},
                               False, [], model)
        python[value] = fhir.study_datetime(src)
        assert python[value] == fhir.study_datetime(sr), value
    assert python["2026-01-01"] == python["2026.01.01"] == python["20260101 "] == "2026-01-01"
    assert python["2026-02-29"] is None and python["2024-02-29"] == "2024-02-29"
    script = (f"import {{ studyDate }} from {json.dumps(os.path.abspath(WEB_FHIR))};\n"
              f"const v = {json.dumps(list(STUDY_DATES))};\n"
              "console.log(JSON.stringify(v.map((d) => studyDate(d))));\n")
    assert dict(zip(STUDY_DATES, node_json(tmp_path, script))) == python


STUDY_TIMES = [("102030", "+0530"), ("102030.123456", "-0800"), ("10", "+0000"), ("1020", "+1400"),
               ("102030", ""), ("", "+0100"), ("102030", "-0000"), ("102030", "+1401"),
               ("102030", "+0160"), ("2500", "+0100"), ("102060", "+0100"), ("10:20:30", "+0100"),
               ("1020301", "+0100"), ("102030", "+5:30")]


def test_observation_time_is_the_studys_in_its_zone_from_the_source_the_sr_and_the_web_app(
        tmp_path):
    """effectiveDateTime carries StudyTime, its fraction as written, with the file's
    TimezoneOffsetFromUTC when both are valid ("2026-01-01T10:20:30+05:30"), else the date
    alone: the same from the source, the SR (which copies the time and declares the zone) and
    the web app (fhir.js studyDateTime)."""
    import warnings
    from hc_tf.io import dicom as dicom_io
    from hc_tf.measure import Ellipse
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    python = []
    for i, (time, zone) in enumerate(STUDY_TIMES):
        ds = dicom_files.gray_dataset(HEADS[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.StudyDate, ds.StudyTime, ds.TimezoneOffsetFromUTC = "20260101", time, zone
        src = dicom_io.read_header(dicom_files.save(ds, str(tmp_path / f"{i}.dcm"))).dataset
        sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {},
                               False, [], model)
        python.append(fhir.study_datetime(src))
        assert python[-1] == fhir.study_datetime(sr), (time, zone)
    assert python[:4] == ["2026-01-01T10:20:30+05:30", "2026-01-01T10:20:30.123456-08:00",
                          "2026-01-01T10:00:00+00:00", "2026-01-01T10:20:00+14:00"]
    assert python[4:] == ["2026-01-01"] * (len(STUDY_TIMES) - 4)
    for value in python[:2]:  # FHIR R4 takes it, the fraction too (validated)
        obs = fhir.observation(175.3, {"study_instance_uid": "1.2.3",
                                       "sop_instance_uid": "1.2.3.4"},
                               None, model, False, [], value)
        assert obs["effectiveDateTime"] == value
    script = (f"import {{ studyDateTime }} from {json.dumps(os.path.abspath(WEB_FHIR))};\n"
              f"const v = {json.dumps(STUDY_TIMES)};\n"
              "console.log(JSON.stringify(v.map(([t, z]) => studyDateTime('20260101', t, z))));\n")
    assert node_json(tmp_path, script) == python


def test_review_flag_is_the_first_note_never_an_interpretation_in_python_and_the_web_app(tmp_path):
    """Observation.interpretation is the abnormal-flag column of an EHR (HL7 v3
    ObservationInterpretation: High, Low, Normal): hc-tf wrote "no review flag" and "please
    review: ..." there, a remark on the measurement's quality read as a judgement of the HC. The
    flag is the first note now (the interval's method after it), none when not flagged, and
    fhir.js writes the same notes in the same order."""
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    uids = {"study_instance_uid": "1.2.3", "sop_instance_uid": "1.2.3.4"}
    interval = {"lower_mm": 170.1, "upper_mm": 181.0, "level": 0.95, "method": "test conformal"}
    method = "95% interval of the HC (measurement uncertainty, not a normal range): test conformal"
    cases = [(review, reasons, iv) for review, reasons in ((False, []), (True, ["a", "b c"]))
             for iv in (None, interval)]
    biometry = {"bpd_mm": 45.25, "ofd_mm": 60.5, "convention": "outer to outer (test)"}
    python = []
    for review, reasons, iv in cases:
        obs = fhir.observation(175.3, uids, None, model, review, reasons, hc_interval=iv)
        assert "interpretation" not in obs and obs["status"] == "preliminary"
        want = (["please review: a; b c"] if review else []) + ([method] if iv else [])
        assert [n["text"] for n in obs.get("note", [])] == want
        assert ("note" in obs) == bool(want)  # no empty note list
        bundle = fhir.head_bundle(175.3, uids, 2, model, review, reasons, "2026-01-01",
                                  hc_interval=iv, biometry=biometry)
        axes = fhir.bundle_observations(bundle)
        assert [n["text"] for n in axes["bpd"].get("note", [])] == want[:int(review)]
        python.append([obs, bundle])
    script = (f"import {{ observation, headBundle }} from {json.dumps(os.path.abspath(WEB_FHIR))};\n"
              f"const cases = {json.dumps(cases)};\n"
              f"const model = {json.dumps(dataclasses.asdict(model))};\n"
              f"const uids = {json.dumps(uids)};\n"
              f"const biometry = {json.dumps(biometry)};\n"
              "console.log(JSON.stringify(cases.map(([review, reasons, iv]) => [\n"
              "  observation(175.3, uids, null, model, review, reasons, null, iv),\n"
              "  headBundle(175.3, uids, 2, model, review, reasons, '2026-01-01', iv, biometry)])));\n")
    assert node_json(tmp_path, script) == python


def _ga_fields(hc_mm, interval):
    """report.json's "gestational_age" and "ga_interval" of an HC with `interval` (an
    interval record, or None: no interval) as records.image_record gives them."""
    from types import SimpleNamespace
    from hc_tf import clinical
    from hc_tf.clinical import intervals
    from hc_tf.report import records
    iv = interval and intervals.HcInterval(
        hc_mm, interval["level"], interval["lower_mm"], interval["upper_mm"],
        (interval["upper_mm"] - interval["lower_mm"]) / 2, interval["method"])
    return ({records.GA_KEYS[g.method]: records.ga_record(g) for g in clinical.ga_from_hc_all(hc_mm)},
            records.ga_interval_records(SimpleNamespace(hc_interval=lambda: iv)))


def test_the_ga_observations_are_the_same_in_python_and_the_web_app(tmp_path):
    """fhir.js headBundle writes an image's GA Observations as head_bundle does: one per equation
    in range, after the cephalic index, each with its interval (Hadlock's combined with its 2 SD;
    none by INTERGROWTH-21st, a note instead) or none without an HC interval, the review
    note first; an HC beyond INTERGROWTH-21st's range has Hadlock's alone."""
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    uids = {"study_instance_uid": "1.2.3", "sop_instance_uid": "1.2.3.4"}
    biometry = {"bpd_mm": 45.25, "ofd_mm": 60.5, "convention": "outer to outer (test)"}

    def interval(lower, upper):
        return {"lower_mm": lower, "upper_mm": upper, "level": 0.95, "method": "test conformal"}
    cases = [(175.3, interval(170.1, 181.0), False), (175.3, None, True),
             (260.0, interval(253.0, 267.0), False)]
    python, names = [], []
    for hc_mm, iv, review in cases:
        ga, ga_interval = _ga_fields(hc_mm, iv)
        bundle = fhir.head_bundle(hc_mm, uids, 2, model, review, ["a"] if review else [],
                                  "2026-01-01", hc_interval=iv, biometry=biometry,
                                  gestational_age=ga, ga_interval=ga_interval)
        found = fhir.bundle_observations(bundle)
        names.append([n for n in found if n.startswith("ga")])
        assert [n for n in found][-len(names[-1]):] == names[-1]  # after the others
        assert [fhir.read_interval(found[n]) is not None for n in names[-1]] == [
            iv is not None and n == "gahl" for n in names[-1]]
        python.append([hc_mm, iv, review, ga, ga_interval, bundle])
    assert names == [["gahl", "gaig"], ["gahl", "gaig"], ["gahl"]]
    script = (f"import {{ headBundle }} from {json.dumps(os.path.abspath(WEB_FHIR))};\n"
              f"const cases = {json.dumps([c[:5] for c in python])};\n"
              f"const model = {json.dumps(dataclasses.asdict(model))};\n"
              f"const uids = {json.dumps(uids)};\n"
              f"const biometry = {json.dumps(biometry)};\n"
              "console.log(JSON.stringify(cases.map(([hc, iv, review, ga, gaIv]) => headBundle(\n"
              "  hc, uids, 2, model, review, review ? ['a'] : [], '2026-01-01', iv, biometry, {},\n"
              "  null, null, ga, gaIv))));\n")
    assert node_json(tmp_path, script) == [c[5] for c in python]


@pytest.mark.parametrize("uri, good", [
    ("urn:oid:1.2.840.113619.6.1", True), ("urn:oid:2.16.840.1", True),
    ("https://hospital.example/patient-ids", True), ("http://h.example/mrn", True),
    ("urn:uuid:8c7b3f2e-1d2a-4b5c-9e8f-0a1b2c3d4e5f", True),
    ("urn:oid:1.2.03", False), ("urn:oid:3.1", False), ("urn:oid:1", False),
    ("urn:oid:", False), ("1.2.840.113619", False), ("HOSPITAL A", False),
    ("https://h.example/mrn ids", False), ("https://", False), ("ftp://h.example/x", False),
    ("urn:", False), ("", False), ("urn:x", False)])
def test_a_patient_system_is_an_absolute_uri(uri, good):
    """Identifier.system is an absolute URI: DICOM's issuer is an OID (urn:oid:<OID>), or any
    other URN or an http(s) URL; free text (IssuerOfPatientID's kind) is refused, naming it."""
    if good:
        assert fhir.check_system(uri) == uri
    else:
        with pytest.raises(ValueError, match="absolute URI|OID") as err:
            fhir.check_system(uri)
        assert repr(uri) in str(err.value)


def test_subject_is_a_logical_reference_by_identifier_only_with_a_system_and_an_id():
    """A PatientID means nothing without its issuer: the subject is written only when a system
    is given and the ID is not blank; without either, the Observation is as before (no
    subject)."""
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    uids = {"study_instance_uid": "1.2.3", "sop_instance_uid": "1.2.3.4"}
    plain = fhir.observation(175.3, uids, None, model, False, [])
    system = "urn:oid:1.2.840.113619.6.1"
    subject = fhir.patient_subject(system, " PID-7 ")
    assert subject == {"type": "Patient", "identifier": {"system": system, "value": "PID-7"}}
    obs = fhir.observation(175.3, uids, None, model, False, [], subject=subject)
    assert obs["subject"] == subject  # validated as R4 by observation() itself
    assert {k: v for k, v in obs.items() if k != "subject"} == plain and "subject" not in plain
    for given, patient_id in ((None, "PID-7"), ("", "PID-7"), (system, "  "), (system, None)):
        assert fhir.patient_subject(given, patient_id) is None


@pytest.mark.parametrize("vr_field, value, kept", [
    ("PatientID", "PID\x017", False), ("PatientID", "PID\n7", False),
    ("PatientID", "PID\t7", False), ("StudyDescription", "FETAL\x00HEAD", False),
    ("PatientID", "PID 7", True), ("PatientComments", "line one\r\nline two\tthree", True)])
def test_control_characters_a_text_vr_forbids_leave_the_field_empty(vr_field, value, kept):
    """pydicom checks an LO's length, not its characters: a PatientID holding a control
    character (LO allows none but ESC) was copied into the SR, which dciodvfy refuses ("Character
    invalid for this VR"), and named the FHIR subject with it, which FHIR's string refuses too.
    Such a field is left empty with a note by tag; LT/ST/UT keep CR, LF, FF, TAB and ESC."""
    from hc_tf.measure import Ellipse
    from hc_tf.surfaces import dicom_predict
    src = dicom_files.gray_dataset(HEADS[0])
    setattr(src, vr_field, value)
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    notes = []
    sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {}, False,
                           [], model, notes=notes)
    if kept:
        assert sr.get(vr_field) == value and not notes, notes
        return
    assert not sr.get(vr_field)
    assert [n for n in notes if vr_field in n and value not in n], notes
    record = {"dicom": {}}
    run = dicom_predict.RunContext(model, patient_system="urn:oid:1.2.840.113619.6.1")
    if vr_field == "PatientID":
        assert dicom_predict._subject(run, src, sr, record) is None
        assert record["dicom"]["fhir_notes"] == [dicom_predict.NO_SUBJECT]


@pytest.mark.parametrize("patient_id, value", [
    ("PID-1\\PID-2", None), ("  PID-1 ", "PID-1"), ("PID-1", "PID-1")])
def test_the_fhir_subject_is_the_files_patient_id_as_it_is_or_none(patient_id, value):
    """A PatientID of several values (a backslash in the file; LO has one) is cut to its first
    in the SR, with a note: another ID, perhaps another patient's, so the Observation names
    no subject (and says so by tag) rather than the cut one; padding is not a change."""
    from hc_tf.measure import Ellipse
    from hc_tf.surfaces import dicom_predict
    src = dicom_files.gray_dataset(HEADS[0])
    src.PatientID = patient_id
    model = dicom_sr.ModelInfo("m.tflite", "1", "0" * 64)
    sr = dicom_sr.build_sr(src, None, Ellipse(100.0, 50.0, 30.0, 20.0, 0.0), 175.3, {}, False,
                           [], model)
    run = dicom_predict.RunContext(model, patient_system="urn:oid:1.2.840.113619.6.1")
    record = {"dicom": {}}
    subject = dicom_predict._subject(run, src, sr, record)
    if value is None:
        assert subject is None and record["dicom"]["fhir_notes"] == [dicom_predict.NO_SUBJECT]
        assert "PID" not in dicom_predict.NO_SUBJECT
    else:
        assert subject["identifier"]["value"] == value and "fhir_notes" not in record["dicom"]
