"""`hc-tf predict` on fixtures with known ellipses: the submission CSV's numbers are checked."""

import csv
import json
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import tiny_models as T
from hc_tf import cli
from hc_tf import measure as measure_lib
from hc_tf.clinical import interval_table

PIXEL_MM = {"000_HC.png": 0.2, "001_HC.png": 0.15}
HEADS = {"000_HC.png": measure_lib.Ellipse(95, 62, 60, 40, 0.4),
         "001_HC.png": measure_lib.Ellipse(100, 66, 50, 44, 2.0)}


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory):
    """Two 132x192 images of a bright filled ellipse (2x the blob model's 64x96 input),
    their pixel-size CSV, and the blob model (its 0.5 contour is the bright edge)."""
    d = tmp_path_factory.mktemp("predict")
    images = d / "images"
    images.mkdir()
    for name, e in HEADS.items():
        mask = measure_lib.rasterize_ellipse(e, (132, 192), filled=True)
        cv2.imwrite(str(images / name), np.where(mask > 0, 220, 20).astype(np.uint8))
    (d / "pixels.csv").write_text("filename,pixel size(mm)\r\n"
                                  + "".join(f"{n},{px}\r\n" for n, px in PIXEL_MM.items()))
    T.saved_blob_model(d)
    return d


def test_predict_writes_the_known_ellipses_in_mm(fixture_dir, tmp_path, float32_policy):
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.main, [
        "predict", "--model", str(fixture_dir / "blob.keras"), str(fixture_dir / "images"),
        "--pixel-csv", str(fixture_dir / "pixels.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 images, head found in 2" in result.output
    with open(out / "submission.csv", newline="") as f:
        rows = {r["filename"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(HEADS)
    for name, truth in HEADS.items():
        px = PIXEL_MM[name]
        got = measure_lib.ellipse_from_submission_row(rows[name], px)
        # The blob model's edge sits within a pixel of the true one (model scale 1/2).
        assert got.perimeter() * px == pytest.approx(truth.perimeter() * px, rel=0.03)
        assert abs(got.cx - truth.cx) < 1.5 and abs(got.cy - truth.cy) < 1.5
        assert measure_lib.dice(measure_lib.rasterize_ellipse(got, (132, 192)),
                                measure_lib.rasterize_ellipse(truth, (132, 192))) > 0.97
        overlay = cv2.imread(str(out / "overlays" / name))
        assert overlay.shape[:2] == (132, 192)
    # one exam per HC18 subject (000, 001), and the interval fields in report.json
    with open(out / "exams.csv", newline="") as f:
        exams = {r["exam"]: r for r in csv.DictReader(f)}
    assert set(exams) == {"000", "001"} and exams["000"]["images"] == "1"
    assert float(exams["000"]["hc_mean_mm"]) == pytest.approx(float(rows_hc(out)["000_HC.png"]))
    with open(out / "report.json") as f:
        doc = json.load(f)
    images = {r["filename"]: r for r in doc["images"]}
    # report.json holds the same exam rows as exams.csv
    assert [e["exam"] for e in doc["exams"]] == list(exams) and doc["exams"][0]["images"] == 1
    assert doc["exams"][0]["hc_mean_mm"] == pytest.approx(float(exams[doc["exams"][0]["exam"]]["hc_mean_mm"]))
    # The blob model has no calibration of its own: no borrowed interval, the reason instead.
    assert images["000_HC.png"]["hc_interval"]["note"].startswith("no calibrated HC interval for blob.keras")
    assert images["000_HC.png"]["ga_interval"] == {}
    assert images["000_HC.png"]["biometry"]["bpd_mm"] > 0
    # With a table beside the model (here the package's, copied), the interval fields are there.
    mine = tmp_path / "mine"
    mine.mkdir()
    shutil.copy(fixture_dir / "blob.keras", mine / "blob.keras")
    shutil.copy(interval_table.TABLE_PATH, mine / "blob.interval_table.json")
    result = CliRunner().invoke(cli.main, [
        "predict", "--model", str(mine / "blob.keras"), str(fixture_dir / "images"),
        "--pixel-csv", str(fixture_dir / "pixels.csv"), "--out", str(tmp_path / "out2")])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "out2" / "report.json") as f:
        images = {r["filename"]: r for r in json.load(f)["images"]}
    iv = images["000_HC.png"]["hc_interval"]
    assert iv["level"] == 0.95 and iv["lower_mm"] < images["000_HC.png"]["hc_mm"] < iv["upper_mm"]
    assert images["000_HC.png"]["ga_interval"]["hadlock"]["measurement_part"].startswith("HC 95%")


def test_predict_names_images_without_a_pixel_size(fixture_dir, tmp_path):
    csv_path = tmp_path / "partial.csv"
    csv_path.write_text("filename,pixel size(mm)\n000_HC.png,0.2\n")
    result = CliRunner().invoke(cli.main, [
        "predict", "--model", str(fixture_dir / "blob.keras"), str(fixture_dir / "images"),
        "--pixel-csv", str(csv_path), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0
    assert "partial.csv: no pixel size for 001_HC.png" in result.output
    assert "Traceback" not in result.output


def rows_hc(out):
    """filename -> hc_mm cell of report.csv."""
    with open(out / "report.csv", newline="") as f:
        return {r["filename"]: r["hc_mm"] for r in csv.DictReader(f)}
