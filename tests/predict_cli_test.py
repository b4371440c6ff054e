"""`hc-tf predict` as a user runs it (subprocesses, the committed edge model): every
readable image is measured, unreadable ones are named, one run's outputs are never
mixed with another's, and clashing names or CSV rows are refused by name."""

import csv
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(ROOT, "export", "hc_effunet_int8.tflite")
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
    unreadable_lines = [l for l in second.stderr.splitlines() if l.startswith("unreadable:")]
    assert len(unreadable_lines) == 2
    assert any("bad.png" in l for l in unreadable_lines) and any("empty.png" in l for l in unreadable_lines)
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
