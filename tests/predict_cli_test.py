"""`hc-tf predict` as a user runs it (subprocesses, the committed edge model): every
readable image is measured, unreadable ones are named, one run's outputs are never
mixed with another's, and clashing names or CSV rows are refused by name."""

import csv
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.tflite")
SAMPLE_TEST_SET = os.path.join(ROOT, "hc_tf", "sample_data", "test_set")
HC_TF = os.path.join(os.path.dirname(sys.executable), "hc-tf")
GOOD = ["000_HC.png", "111_HC.png"]


@pytest.fixture()
def images(tmp_path):
    """Two real ultrasound images (the embedded sample's test set) in a folder."""
    folder = tmp_path / "images"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(os.path.join(SAMPLE_TEST_SET, name), folder / name)
    return folder


def _predict(*args):
    return subprocess.run([HC_TF, "predict", "--model", MODEL, *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _snapshot(folder):
    """{relative path: bytes} of every file under `folder`."""
    out = {}
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def test_unreadable_images_are_named_and_a_rerun_never_mixes_runs(images, tmp_path):
    out = tmp_path / "out"
    first = _predict(images, "--pixel-size", "0.3", "--out", out)
    assert first.returncode == 0, first.stderr
    assert [r["filename"] for r in _rows(out / "submission.csv")] == GOOD
    assert _rows(out / "unreadable.csv") == []
    before = _snapshot(out)

    (images / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    (images / "empty.png").write_bytes(b"")
    refused = _predict(images, "--pixel-size", "0.2", "--out", out)
    assert refused.returncode == 1
    assert "not empty; add --overwrite" in refused.stderr and "Traceback" not in refused.stderr
    assert _snapshot(out) == before  # the first run's outputs are untouched

    second = _predict(images, "--pixel-size", "0.2", "--out", out, "--overwrite")
    assert second.returncode == 3, second.stderr
    unreadable_lines = [text for text in second.stderr.splitlines() if text.startswith("unreadable:")]
    assert len(unreadable_lines) == 2
    assert any("bad.png" in text for text in unreadable_lines) and any("empty.png" in text for text in unreadable_lines)
    assert "2 images" in second.stdout and "2 unreadable" in second.stdout
    listed = _rows(out / "unreadable.csv")
    assert sorted(os.path.basename(r["path"]) for r in listed) == ["bad.png", "empty.png"]
    assert all(r["error"] for r in listed)
    # Every output is the second run's: 0.2 mm rows, overlays of the measured images only.
    rows = {r["filename"]: r for r in _rows(out / "submission.csv")}
    assert sorted(rows) == GOOD
    for old in _rows_from_bytes(before["submission.csv"]):
        new = rows[old["filename"]]
        assert float(new["semi_axes_a_mm"]) == pytest.approx(float(old["semi_axes_a_mm"]) * 0.2 / 0.3)
    assert sorted(os.listdir(out / "overlays")) == GOOD
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out.")]  # no staging left


def test_no_overlays_writes_the_same_tables_without_them_and_replaces_earlier_ones(images, tmp_path):
    with_them, without = tmp_path / "with", tmp_path / "without"
    assert _predict(images, "--pixel-size", "0.3", "--out", with_them).returncode == 0
    run = _predict(images, "--pixel-size", "0.3", "--out", without, "--no-overlays")
    assert run.returncode == 0, run.stderr
    assert "/overlays/" not in run.stdout and run.stdout.rstrip().endswith("exams.csv")
    assert sorted(os.listdir(without)) == sorted(n for n in os.listdir(with_them) if n != "overlays")
    for name in ("submission.csv", "report.csv", "exams.csv"):
        assert _rows(without / name) == _rows(with_them / name), name
    # Over a run that wrote them, --overwrite --no-overlays leaves none of that run's behind.
    again = _predict(images, "--pixel-size", "0.3", "--out", with_them, "--overwrite", "--no-overlays")
    assert again.returncode == 0, again.stderr
    assert not (with_them / "overlays").exists()


def test_a_folder_file_without_extension_that_is_not_dicom_is_named_not_passed_over(images, tmp_path):
    """Scanners name DICOM files IM0001: one that is not DICOM by content (no preamble, or
    damaged) was left out of the folder without a word. Named files of other kinds (notes.txt)
    and hidden ones are still passed over."""
    (images / "IM0002").write_bytes(b"\0" * 64 + b"not a DICOM file")
    (images / "notes.txt").write_text("scan notes")
    (images / ".DS_Store").write_bytes(b"\0" * 10)
    out = tmp_path / "out"
    result = _predict(images, "--pixel-size", "0.3", "--out", out)
    assert result.returncode == 3, result.stderr
    assert [r["filename"] for r in _rows(out / "submission.csv")] == GOOD
    listed = _rows(out / "unreadable.csv")
    assert [os.path.basename(r["path"]) for r in listed] == ["IM0002"]
    assert "not DICOM by content" in listed[0]["error"] and "named .dcm" in listed[0]["error"]
    assert "IM0002" in result.stderr and "1 unreadable" in result.stdout


def test_overwrite_never_deletes_files_predict_did_not_write(images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = _predict(images, "--pixel-size", "0.3", "--out", out, "--overwrite")
    assert result.returncode == 1
    assert "notes.txt" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(out) == ["notes.txt"]


def test_same_file_name_in_two_folders_is_refused_by_name(images, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(images / GOOD[0], other / GOOD[0])
    result = _predict(images, other, "--pixel-size", "0.3", "--out", tmp_path / "out")
    assert result.returncode == 1
    assert str(images / GOOD[0]) in result.stderr and str(other / GOOD[0]) in result.stderr
    assert not (tmp_path / "out").exists()


def test_duplicate_pixel_csv_row_is_refused_by_name(images, tmp_path):
    pixels = tmp_path / "pixels.csv"
    pixels.write_text("filename,pixel size(mm)\n000_HC.png,0.2\n111_HC.png,0.15\n000_HC.png,0.3\n")
    result = _predict(images, "--pixel-csv", pixels, "--out", tmp_path / "out")
    assert result.returncode == 1
    assert "pixels.csv rows 2 and 4: 000_HC.png is listed twice" in result.stderr
    assert not (tmp_path / "out").exists()


def _rows_from_bytes(data):
    return list(csv.DictReader(data.decode("utf-8").splitlines()))


# --- the clinical report: report.csv / report.json, GA, centile, review ----------

import json  # noqa: E402

import cv2  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from hc_tf import cli  # noqa: E402
from hc_tf import clinical as C  # noqa: E402
from hc_tf.surfaces import predict as predict_lib  # noqa: E402

BUNDLE = os.path.join(ROOT, "android_demo_assets")
CLEAN, FLAGGED = "000_HC.png", "213_HC.png"  # 213: flagged by the committed model (bundle)


@pytest.fixture(scope="module")
def bundle_images(tmp_path_factory):
    """A clean and a flagged HC18 test image with their pixel sizes (from golden.json)."""
    with open(os.path.join(BUNDLE, "golden.json"), encoding="utf-8") as f:
        golden = {s["filename"]: s for s in json.load(f)["samples"]}
    folder = tmp_path_factory.mktemp("bundle_images")
    for name in (CLEAN, FLAGGED):
        shutil.copy(os.path.join(BUNDLE, "samples", name), folder / name)
    return folder, {n: golden[n] for n in (CLEAN, FLAGGED)}


def _invoke(*args):
    return CliRunner().invoke(cli.main, ["predict", "--model", MODEL, *map(str, args)])


def _pixel_csv(path, golden, ga=None, header="filename,pixel size(mm),ga_weeks"):
    lines = [header] + [f"{n},{g['pixel_size_mm']}" + (f",{ga[n]}" if ga else "")
                        for n, g in golden.items()]
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def test_report_has_hc_ga_review_and_quality_beside_an_unchanged_submission(bundle_images,
                                                                            tmp_path):
    folder, golden = bundle_images
    out = tmp_path / "out"
    res = _invoke(folder, "--pixel-csv", _pixel_csv(tmp_path / "px.csv", golden,
                                                   header="filename,pixel size(mm)"),
                  "--out", out)
    assert res.exit_code == 0, res.output
    assert "1 flagged for review" in res.output and "report.json" in res.output
    assert f"{out}/exams.csv" in res.output  # every file written is named
    assert set(os.listdir(out)) == predict_lib.OUTPUT_NAMES
    with open(out / "submission.csv", newline="") as f:
        assert next(csv.reader(f)) == ["filename", "center_x_mm", "center_y_mm",
                                       "semi_axes_a_mm", "semi_axes_b_mm", "angle_rad"]
    rows = {r["filename"]: r for r in _rows(out / "report.csv")}
    doc = json.loads((out / "report.json").read_text())
    images = {r["filename"]: r for r in doc["images"]}
    assert doc["review_thresholds"]["max_fit_rms_frac"] == C.DEFAULT_REVIEW_THRESHOLDS.max_fit_rms_frac
    assert doc["counts"] == {"images": 2, "found": 2, "flagged": 1, "unreadable": 0}
    for name, g in golden.items():
        row, rec = rows[name], images[name]
        assert float(row["hc_mm"]) == pytest.approx(g["hc_mm"], abs=1e-3)
        assert row["review"] == str(g["review"]) and rec["review"] == g["review"]
        assert row["review_reasons"] == "; ".join(g["review_reasons"])
        assert rec["review_reasons"] == g["review_reasons"]
        for key in ("hadlock", "intergrowth"):
            want = g["gestational_age"][key]
            assert row[f"ga_{key}_status"] == want["status"]
            assert row[f"ga_{key}"] == (want["ga"] or "")
            assert rec["gestational_age"][key]["ga"] == want["ga"]
            assert row[f"ga_{key}_uncertainty"] == (want["uncertainty"] or "")
        assert float(row["fit_rms_frac"]) == pytest.approx(g["quality"]["fit_rms_frac"], abs=1e-5)
        assert rec["quality"]["mask_ellipse_dice"] == pytest.approx(
            g["quality"]["mask_ellipse_dice"], abs=1e-6)
        assert row["hc_centile"] == "" and rec["centile"] is None  # no GA given
    assert rows[FLAGGED]["review"] == "True" and rows[CLEAN]["review"] == "False"
    assert rows[CLEAN]["ga_intergrowth_status"] == "out_of_range"  # 295 mm: past 25+6 weeks
    # The flagged overlay is marked: a red frame round the image.
    marked = cv2.imread(str(out / "overlays" / FLAGGED))
    clean = cv2.imread(str(out / "overlays" / CLEAN))
    red = lambda img: (img[..., 2] > 200) & (img[..., 1] < 60) & (img[..., 0] < 60)  # noqa: E731
    assert red(marked[:3]).mean() > 0.9 and red(marked[-3:]).mean() > 0.9
    assert not red(clean[-3:]).any()


@pytest.mark.parametrize("ga", ["27+3", str(27 + 3 / 7)])
def test_ga_weeks_adds_centile_and_z(bundle_images, tmp_path, ga):
    folder, golden = bundle_images
    res = _invoke(folder / FLAGGED, "--pixel-size", golden[FLAGGED]["pixel_size_mm"],
                  "--ga-weeks", ga, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    (row,) = _rows(tmp_path / "out" / "report.csv")
    want = C.hc_centile(float(row["hc_mm"]), "27+3")
    assert row["known_ga"] == "27+3" and float(row["known_ga_weeks"]) == pytest.approx(27 + 3 / 7)
    assert float(row["hc_z"]) == pytest.approx(want.z, abs=1e-5)
    assert float(row["hc_centile"]) == pytest.approx(want.centile, abs=1e-5)
    assert row["centile_status"] == "ok" and row["centile_flag"] == (want.flag or "")


def test_ga_column_in_the_pixel_csv_gives_each_image_its_centile(bundle_images, tmp_path):
    folder, golden = bundle_images
    csv_path = _pixel_csv(tmp_path / "px.csv", golden, ga={CLEAN: "33+0", FLAGGED: ""})
    res = _invoke(folder, "--pixel-csv", csv_path, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    rows = {r["filename"]: r for r in _rows(tmp_path / "out" / "report.csv")}
    assert rows[CLEAN]["known_ga"] == "33+0"
    assert float(rows[CLEAN]["hc_z"]) == pytest.approx(
        C.hc_centile(float(rows[CLEAN]["hc_mm"]), 33.0).z, abs=1e-5)
    assert rows[FLAGGED]["known_ga"] == "" and rows[FLAGGED]["hc_z"] == ""  # empty cell: none
    # HC18's training CSV has the reference HC third: not a GA (only a `ga_weeks` header is).
    hc18_like = _pixel_csv(tmp_path / "hc18.csv", golden, ga={CLEAN: "295.5", FLAGGED: "174"},
                           header="filename,pixel size(mm),head circumference (mm)")
    res = _invoke(folder, "--pixel-csv", hc18_like, "--out", tmp_path / "out2")
    assert res.exit_code == 0, res.output
    assert all(r["known_ga"] == "" for r in _rows(tmp_path / "out2" / "report.csv"))


@pytest.mark.parametrize("cell, message", [
    ("abc", "px.csv row 3 (213_HC.png): GA 'abc' is not a number of weeks or 'weeks+days'"),
    ("50", "px.csv row 3 (213_HC.png): GA 50.00 weeks is outside 10-45 weeks"),
    ("27+8", "px.csv row 3 (213_HC.png): GA '27+8' is not a number")])
def test_bad_ga_in_the_csv_is_one_line_naming_file_and_row(bundle_images, tmp_path, cell,
                                                           message):
    folder, golden = bundle_images
    csv_path = _pixel_csv(tmp_path / "px.csv", golden, ga={CLEAN: "30", FLAGGED: cell})
    res = _invoke(folder, "--pixel-csv", csv_path, "--out", tmp_path / "out")
    assert res.exit_code == 1 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("ga, message", [("9.5", "--ga-weeks: GA 9.50 weeks is outside 10-45"),
                                         ("twenty", "--ga-weeks: GA 'twenty' is not a number")])
def test_bad_ga_weeks_is_one_line(bundle_images, tmp_path, ga, message):
    folder, _ = bundle_images
    res = _invoke(folder, "--pixel-size", "0.2", "--ga-weeks", ga, "--out", tmp_path / "out")
    assert res.exit_code == 1 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_ga_weeks_and_a_ga_column_together_are_refused(bundle_images, tmp_path):
    folder, golden = bundle_images
    csv_path = _pixel_csv(tmp_path / "px.csv", golden, ga={CLEAN: "30", FLAGGED: "20"})
    res = _invoke(folder, "--pixel-csv", csv_path, "--ga-weeks", "30", "--out", tmp_path / "out")
    assert res.exit_code == 1 and "give --ga-weeks or a ga_weeks column" in res.output
    assert not (tmp_path / "out").exists()


def test_report_lists_unreadable_images_and_overwrite_replaces_a_report(bundle_images, tmp_path):
    folder, _ = bundle_images
    images = tmp_path / "images"
    shutil.copytree(folder, images)
    out = tmp_path / "out"
    assert _invoke(images, "--pixel-size", "0.15", "--out", out).exit_code == 0
    (images / "bad.png").write_bytes(b"not a png")
    res = _invoke(images, "--pixel-size", "0.2", "--out", out, "--overwrite")
    assert res.exit_code == 3, res.output
    doc = json.loads((out / "report.json").read_text())
    assert [os.path.basename(u["path"]) for u in doc["unreadable"]] == ["bad.png"]
    assert doc["counts"]["unreadable"] == 1 and len(doc["images"]) == 2
    assert all(r["pixel_size_mm"] == 0.2 for r in doc["images"])  # this run's, not the first


NO_TF = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
            raise ImportError(f"blocked import of {name}")
        return None
sys.meta_path.insert(0, Block())
from hc_tf import cli
import hc_tf.surfaces.demo, hc_tf.report.records
try:
    cli.main(sys.argv[1:], prog_name="hc-tf")
finally:
    assert not any(m.split(".")[0] in ("tensorflow", "keras") for m in sys.modules)
"""


def test_predict_report_and_evaluate_figures_need_no_tensorflow(bundle_images, tmp_path):
    """The .tflite path of predict (with --ga-weeks) and evaluate runs with TensorFlow blocked."""
    folder, _ = bundle_images
    run = lambda *a: subprocess.run([sys.executable, "-c", NO_TF, *map(str, a)], cwd=ROOT,  # noqa
                                    capture_output=True, text=True, timeout=300)
    r = run("predict", "--model", MODEL, folder, "--pixel-size", "0.15", "--ga-weeks", "20+3",
            "--out", tmp_path / "p")
    assert r.returncode == 0 and "blocked import" not in r.stderr, r.stderr
    assert all(row["known_ga"] == "20+3" for row in _rows(tmp_path / "p" / "report.csv"))
    data = tmp_path / "hc18"
    (data / "training_set").mkdir(parents=True)
    src = os.path.join(ROOT, "hc_tf", "sample_data")
    with open(os.path.join(src, "training_set_pixel_size_and_HC.csv")) as f:
        lines = f.read().splitlines()[:4]  # header + 3 images: enough for the figures
    (data / "training_set_pixel_size_and_HC.csv").write_text("\n".join(lines) + "\n")
    for line in lines[1:]:
        name = line.split(",")[0]
        for n in (name, name.replace(".png", "_Annotation.png")):
            shutil.copy(os.path.join(src, "training_set", n), data / "training_set" / n)
    r = run("evaluate", "--model", MODEL, "--data-dir", data, "--out", tmp_path / "e")
    assert r.returncode == 0 and "Bland-Altman" in r.stdout, r.stdout + r.stderr
    assert (tmp_path / "e" / "bland_altman.png").is_file()
    assert re.search(r"ADF by head size: .*; 95% HC interval: covers [01]\.\d\d of 3 images", r.stdout)
    assert re.search(r"BPD \(ellipse axis\): mean \|error\| \d+\.\d\d mm, mean error -?\d+\.\d\d mm; "
                     r"OFD \(ellipse axis\): mean \|error\| \d+\.\d\d mm", r.stdout), r.stdout
