"""Exams of several images (hc_tf.report.exams) on crafted cases."""

import csv
import json
import os
from types import SimpleNamespace

import pytest

from hc_tf import clinical
from hc_tf.measure.geometry import Ellipse
from hc_tf.measure.result import Measurement
from hc_tf.report import exams as E
from hc_tf.report import records


def _rec(name, hc_mm=None, half=None, review=False):
    """A report record with a crafted HC and interval (found when hc_mm is given)."""
    if hc_mm is None:
        return records.image_record(name, Measurement(False, "no head", None, 0.1))
    r = {"filename": name, "found": True, "hc_mm": hc_mm, "review": review,
         "hc_interval": {"lower_mm": hc_mm - half, "upper_mm": hc_mm + half,
                         "half_width_mm": half}}
    return r


def test_hc18_names_group_by_subject_and_others_stand_alone():
    assert E.exam_of_name("010_HC.png") == "hc18:010"
    assert E.exam_of_name("/x/010_2HC.png") == "hc18:010"
    assert E.exam_of_name("010_3HC.jpg") == "hc18:010"
    assert E.exam_of_name("010_HC_Annotation.png") == "file:010_HC_Annotation"
    assert E.exam_of_name("scan.png") == "file:scan"
    recs = [_rec("010_HC.png", 200, 4), _rec("011_HC.png", 150, 4), _rec("010_2HC.png", 201, 4)]
    groups = E.group_exams(recs)
    assert list(groups) == ["010", "011"]
    assert [r["filename"] for r in groups["010"]] == ["010_HC.png", "010_2HC.png"]


def test_a_dicom_file_named_by_its_uid_is_an_exam_of_its_own():
    # Without a study UID the name decides: ".101" is the UID's last part, not an extension
    # (os.path.splitext made every instance of the series one exam); a file's frames stay one.
    uids = ["exp/1.2.840.113619.2.498.101", "exp/1.2.840.113619.2.498.102"]
    assert [E.exam_of_name(u) for u in uids] == ["file:1.2.840.113619.2.498.101",
                                                 "file:1.2.840.113619.2.498.102"]
    assert E.exam_of_name("1.2.840.113619.2.498.101#2") == "file:1.2.840.113619.2.498.101"
    assert E.exam_of_name("scan.dcm#2") == E.exam_of_name("scan.DCM") == "file:scan"
    assert E.exam_of_name("010_HC.dcm#3") == "hc18:010"
    no_study = {"study_instance_uid": "", "series_instance_uid": ""}
    recs = [dict(_rec(os.path.basename(u), 250.0, 7.0), dicom=no_study) for u in uids]
    assert list(E.group_exams(recs)) == ["1.2.840.113619.2.498.101", "1.2.840.113619.2.498.102"]


def test_exam_column_overrides_the_name_pattern():
    recs = [_rec("a.png", 200, 4), _rec("b.png", 201, 4), _rec("010_HC.png", 150, 4)]
    groups = E.group_exams(recs, {"a.png": "visit1", "b.png": "visit1"})
    assert list(groups) == ["visit1", "010"]


def test_sources_never_share_an_exam_and_clashing_ids_show_their_source():
    # a plain 000.png is not HC18's subject 000; a label "7" does not take in 7_HC.png
    recs = [_rec("000_HC.png", 180, 4), _rec("000.png", 300, 4), _rec("a.png", 200, 4),
            _rec("b.png", 202, 4), _rec("7_HC.png", 150, 4), _rec("011_HC.png", 160, 4)]
    groups = E.group_exams(recs, {"a.png": "7", "b.png": "7"})
    assert {k: [r["filename"] for r in v] for k, v in groups.items()} == {
        "hc18:000": ["000_HC.png"], "file:000": ["000.png"], "exam:7": ["a.png", "b.png"],
        "hc18:7": ["7_HC.png"], "011": ["011_HC.png"]}  # no clash: the bare id
    # a label that reads like another exam's whole key: the shown ids stay unique
    ids = E.exam_ids(["exam:hc18:7", "exam:7", "hc18:7"])
    assert ids == {"exam:hc18:7": "exam:hc18:7", "exam:7": "exam:7", "hc18:7": "hc18:7"}
    assert E.exam_ids(["exam:visit 1", "dicom:1.2/3"]) == {"exam:visit 1": "visit 1",
                                                           "dicom:1.2/3": "1.2/3"}


def test_exam_row_mean_spread_interval_and_ga():
    row = E.exam_record("010", [_rec("010_HC.png", 200.0, 4.0), _rec("010_2HC.png", 204.0, 6.0),
                                _rec("010_3HC.png")])
    assert row["images"] == 3 and row["found"] == 2
    assert row["hc_mean_mm"] == pytest.approx(202.0)
    assert row["hc_sd_mm"] == pytest.approx(2.0 * 2 ** 0.5)
    assert row["hc_range_mm"] == pytest.approx(4.0)
    # conservative interval of the mean: mean half-width (5 mm), no credit for averaging
    assert (row["hc_mean_lower_95_mm"], row["hc_mean_upper_95_mm"]) == pytest.approx((197, 207))
    assert row["ga_hadlock_days"] == pytest.approx(clinical.ga_from_hc(202.0).ga_days)
    assert row["disagree"] is False and row["disagree_reason"] == ""


def test_disagreement_flag_when_intervals_share_no_value():
    agree = E.exam_record("1", [_rec("1_HC.png", 200.0, 4.0), _rec("1_2HC.png", 207.9, 4.0)])
    assert agree["disagree"] is False           # 204 lies in both intervals
    apart = E.exam_record("1", [_rec("1_HC.png", 200.0, 4.0), _rec("1_2HC.png", 208.1, 4.0)])
    assert apart["disagree"] is True and "share no value" in apart["disagree_reason"]
    three = E.exam_record("1", [_rec("a", 200.0, 4.0), _rec("b", 203.0, 4.0),
                                _rec("c", 209.0, 4.0)])
    assert three["disagree"] is True            # a and c exclude each other


def test_exam_of_no_heads_and_review_any():
    row = E.exam_record("9", [_rec("9_HC.png"), _rec("9_2HC.png")])
    # not assessed: empty in exams.csv, not "False" (which would read as "the images agree")
    assert row["found"] == 0 and row["hc_mean_mm"] is None and row["disagree"] is None
    assert row["disagree_reason"] == "not assessed: no head found" and row["ga_hadlock"] is None
    row = E.exam_record("9", [_rec("9_HC.png", 100.0, 3.0, review=True)])
    assert row["review_any"] is True and row["hc_sd_mm"] is None


def test_exams_csv_from_real_records_and_exam_column(tmp_path):
    m = Measurement(True, "", Ellipse(400, 270, 300, 240, 0.2), 0.1)
    recs = [records.image_record("020_HC.png", m), records.image_record("020_2HC.png", m)]
    path = tmp_path / "exams.csv"
    E.write_exams_csv(str(path), E.exam_records(recs))
    rows = list(csv.DictReader(open(path)))
    assert [r["exam"] for r in rows] == ["020"] and rows[0]["images"] == "2"
    assert float(rows[0]["hc_mean_mm"]) == pytest.approx(m.hc_mm, abs=1e-5)
    pix = tmp_path / "px.csv"
    pix.write_text("filename,pixel size(mm),exam\r\n020_HC.png,0.1,A\r\n020_2HC.png,0.1,\r\n")
    assert E.read_exam_column(str(pix)) == {"020_HC.png": "A"}
    assert E.read_exam_column(None) == {}


def test_dicom_images_group_by_study_and_series():
    a = dict(_rec("a.dcm#1", 250.0, 7.0), dicom={"study_instance_uid": "1.2", "series_instance_uid": "1.2.1"})
    b = dict(_rec("b.dcm", 251.0, 7.0), dicom={"study_instance_uid": "1.2", "series_instance_uid": "1.2.1"})
    c = dict(_rec("c.dcm", 252.0, 7.0), dicom={"study_instance_uid": "1.2", "series_instance_uid": "1.2.2"})
    no_study = dict(_rec("010_HC.dcm", 200.0, 4.0), dicom={"study_instance_uid": "", "series_instance_uid": ""})
    groups = E.group_exams([a, b, c, no_study])
    assert list(groups) == ["1.2/1.2.1", "1.2/1.2.2", "010"]  # no study UID: the name's rule
    assert [r["filename"] for r in groups["1.2/1.2.1"]] == ["a.dcm#1", "b.dcm"]
    assert list(E.group_exams([a, c], {"c.dcm": "visit"})) == ["1.2/1.2.1", "visit"]  # the column wins
    # a label that reads like a series' UIDs is still a label: it does not take in the series
    assert list(E.group_exams([a, c], {"c.dcm": "1.2/1.2.1"})) == ["dicom:1.2/1.2.1", "exam:1.2/1.2.1"]


def test_the_cases_the_web_app_port_is_checked_on(tmp_path):
    # tests/fixtures/exams_cases.json: web_app/test/exams.test.js holds the JS port to the same rows.
    path = os.path.join(os.path.dirname(__file__), "fixtures", "exams_cases.json")
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    assert len(cases) >= 7
    for case in cases:
        rows = E.exam_records(case["records"], case.get("exam_column"))
        assert json.loads(json.dumps(rows)) == case["expected"], case["what"]
        E.write_exams_csv(str(tmp_path / "exams.csv"), rows)
        with open(tmp_path / "exams.csv", newline="", encoding="utf-8") as f:
            assert f.read() == case["expected_csv"], case["what"]


def test_an_exam_averages_its_heads_bpd_and_ofd():
    """The exam row's mean BPD and OFD: over the images with a head (and its biometry), as the
    HC; none without a head."""
    a = dict(_rec("010_HC.png", 200.0, 4.0), biometry={"bpd_mm": 50.0, "ofd_mm": 62.0})
    b = dict(_rec("010_2HC.png", 204.0, 4.0), biometry={"bpd_mm": 52.0, "ofd_mm": 66.0})
    missed = dict(_rec("010_3HC.png", None, None), found=False, biometry=None)
    [row] = E.exam_records([a, b, missed])
    assert (row["bpd_mean_mm"], row["ofd_mean_mm"], row["found"]) == (51.0, 64.0, 2)
    [alone] = E.exam_records([missed])
    assert alone["bpd_mean_mm"] is None and alone["ofd_mean_mm"] is None


def test_an_exams_mean_bpd_and_ofd_get_the_mean_half_width_when_every_image_has_one():
    """As the HC's: mean -/+ the mean of the images' 95% half-widths (no credit for averaging);
    none when one image has no interval (a note: beyond the calibration)."""
    def head(name, bpd, half, ofd_note=False):
        iv = {"half_width_mm": half, "lower_mm": bpd - half, "upper_mm": bpd + half}
        return dict(_rec(name, 200.0, 4.0), biometry={"bpd_mm": bpd, "ofd_mm": bpd * 1.25},
                    bpd_interval=iv, ofd_interval={"note": "beyond"} if ofd_note else
                    {"half_width_mm": 2 * half})
    [row] = E.exam_records([head("010_HC.png", 50.0, 1.0), head("010_2HC.png", 52.0, 2.0)])
    assert (row["bpd_mean_lower_95_mm"], row["bpd_mean_upper_95_mm"]) == (49.5, 52.5)
    assert (row["ofd_mean_lower_95_mm"], row["ofd_mean_upper_95_mm"]) == (60.75, 66.75)
    [row] = E.exam_records([head("010_HC.png", 50.0, 1.0), head("010_2HC.png", 52.0, 2.0, True)])
    assert row["bpd_mean_lower_95_mm"] == 49.5 and row["ofd_mean_lower_95_mm"] is None


def test_the_apps_sum_is_math_fsum_to_the_bit():
    """The app's exam means divide exams.js fsum (CPython's msum port) as statistics.fmean
    divides math.fsum: on sums a plain loop rounds otherwise (cancellation, tiny terms, HCs),
    the two agree to the bit, so an exam's mean is predict's."""
    import math
    import random
    import subprocess
    from tests.scripts import node_command
    rng = random.Random(0)
    cases = [[1e16, 1.0, -1e16], [0.1] * 10, [1.0, 2 ** -53, 2 ** -106], [1.0, 2 ** -53, -2 ** -106]]
    for _ in range(2000):
        cases.append([rng.choice([rng.uniform(50, 350), rng.uniform(-1, 1) * 10 ** rng.randint(-20, 20),
                                  2.0 ** rng.randint(-60, 60)]) for _ in range(rng.randint(1, 12))])
    assert sum(sum(c) != math.fsum(c) for c in cases) > 200  # a plain sum would not do
    exams_js = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "web_app", "src", "core", "exams.js")
    script = (f"import {{ fsum }} from {json.dumps(exams_js)};\n"
              "let s = ''; process.stdin.on('data', (d) => { s += d; });\n"
              "process.stdin.on('end', () => console.log(JSON.stringify(\n"
              "  JSON.parse(s).map((xs) => String(fsum(xs))))));\n")
    command = node_command("--input-type=module", "-e", script,
                           skip_reason="node is not installed: exams.js's fsum is not compared")
    res = subprocess.run(command, input=json.dumps(cases),
                         capture_output=True, text=True, timeout=60, check=True)
    got = [float(v) for v in json.loads(res.stdout)]
    assert got == [math.fsum(c) for c in cases]


def test_a_ga_beyond_a_formula_is_empty_with_its_status_as_in_report_csv():
    """exams.csv as report.csv: no GA text in a GA column; `ga_<formula>_status` says why."""
    [row] = E.exam_records([_rec("4_HC.png", 60.0, 2.0)])  # below both formulas' HC ranges
    assert (row["ga_hadlock"], row["ga_hadlock_days"], row["ga_hadlock_status"]) \
        == (None, None, "out_of_range")
    [row] = E.exam_records([_rec("5_HC.png", 200.0, 4.0)])
    assert row["ga_hadlock_status"] == "ok" \
        and row["ga_hadlock"] == clinical.format_ga(row["ga_hadlock_days"])


def test_a_ga_interval_only_where_the_equation_publishes_its_spread():
    """Hadlock's GA interval combines the measurement's part with its 2 SD (over a week each
    side at 19 weeks); INTERGROWTH-21st publishes no per-estimate spread, so no interval at all
    (its measurement's part alone, about 2 days, would read five times too precise), as
    report.csv's ga_intergrowth_lower/upper_days are empty: for an exam and for an image."""
    from hc_tf.clinical import intervals
    [row] = E.exam_records([_rec("050_HC.png", 180.0, 4.0), _rec("050_2HC.png", 182.0, 4.0)])
    assert row["ga_intergrowth_days"] is not None and row["ga_hadlock_days"] is not None
    assert row["ga_hadlock_lower_95_days"] < row["ga_hadlock_days"] - 7
    assert row["ga_intergrowth_lower_95_days"] is None and row["ga_intergrowth_upper_95_days"] is None
    assert E.ga_interval_record(row, "intergrowth") is None
    assert "combined with the formula's 2 SD" in E.ga_interval_record(row, "hadlock")["method"]
    iv = intervals.HcInterval(181.0, 0.95, 177.0, 185.0, 4.0, "test")
    image = {key: records.ga_interval_records(SimpleNamespace(hc_interval=lambda: iv))[key]
             for key in ("hadlock", "intergrowth")}
    assert image["intergrowth"]["measurement_lower_days"] is not None  # report.json keeps the part
    assert E.ga_interval_bounds(image["intergrowth"]) is None
    assert E.image_ga_interval_record(image["intergrowth"], "intergrowth") is None
    assert E.image_ga_interval_record(image["hadlock"], "hadlock")["lower"] == \
        image["hadlock"]["combined_lower_days"]
