"""`hc-tf predict --beam`: on the DirectRunner, in process and with two worker
processes, it writes exactly the rows `hc-tf predict` writes; bad files become dead letters;
what Beam mode cannot run is refused in one line."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

pytest.importorskip("apache_beam")

import hc_tf.surfaces  # noqa: E402
from hc_tf.surfaces import beam_predict  # noqa: E402
from hc_tf import cli  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.tflite")
SAMPLE = os.path.join(ROOT, "hc_tf", "sample_data")
BAD = {"bad.png": b"\x89PNG\r\n\x1a\ngarbage", "empty.png": b""}
IN_PROCESS = ["--runner=DirectRunner", "--direct_num_workers=1"]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The embedded sample's test images, two bad files, and a pixel CSV naming them all."""
    folder = tmp_path_factory.mktemp("beam") / "images"
    shutil.copytree(os.path.join(SAMPLE, "test_set"), folder)
    for name, data in BAD.items():
        (folder / name).write_bytes(data)
    with open(os.path.join(SAMPLE, "test_set_pixel_size.csv"), encoding="utf-8") as f:
        text = f.read()
    pixels = folder.parent / "pixels.csv"
    pixels.write_text(text + "".join(f"{n},0.2\r\n" for n in BAD), encoding="utf-8")
    return folder, pixels


@pytest.fixture(scope="module")
def predicted(sample, tmp_path_factory):
    """`hc-tf predict` (no Beam) on the sample: the outputs to match."""
    folder, pixels = sample
    out = tmp_path_factory.mktemp("plain") / "out"
    result = _invoke(folder, "--pixel-csv", pixels, "--out", out)
    assert result.exit_code == 3, result.output
    return out


def _invoke(*args):
    return CliRunner().invoke(cli.main, ["predict", "--model", MODEL, *map(str, args)])


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _assert_same_outputs(beam_out, plain_out):
    for name in ("submission.csv", "report.csv", "exams.csv"):
        assert _read(beam_out / name) == _read(plain_out / name), name
    assert (json.loads((beam_out / "report.json").read_text())
            == json.loads((plain_out / "report.json").read_text()))
    # The dead letters are predict's unreadable list, under Beam's name.
    assert _read(beam_out / "dead_letter.csv") == _read(plain_out / "unreadable.csv")


def test_direct_runner_writes_predicts_rows_and_dead_letters(sample, predicted, tmp_path):
    folder, pixels = sample
    out = tmp_path / "out"
    result = _invoke("--beam", folder, "--pixel-csv", pixels, "--out", out, *IN_PROCESS)
    assert result.exit_code == 3, result.output
    assert "4 images, head found in 4" in result.output and "2 unreadable" in result.output
    _assert_same_outputs(out, predicted)
    dead = {os.path.basename(r["path"]): r["error"] for r in _rows(out / "dead_letter.csv")}
    assert set(dead) == set(BAD) and "bad.png: not a readable image file" in dead["bad.png"]
    assert dead["empty.png"].endswith("empty.png: empty file")
    assert sorted(os.listdir(out)) == sorted(beam_predict.OUTPUT_NAMES)
    assert [n for n in os.listdir(out / "shards") if n.startswith("measured-")]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out.")]  # no staging left


def test_two_worker_processes_give_the_same_rows(sample, predicted, tmp_path):
    folder, pixels = sample
    out = tmp_path / "out"
    result = _invoke("--beam", folder, "--pixel-csv", pixels, "--out", out,
                     "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    assert result.exit_code == 3, result.output
    _assert_same_outputs(out, predicted)


def test_globs_and_a_rerun_with_overwrite(sample, tmp_path):
    folder, _ = sample
    out = tmp_path / "out"
    args = ["--beam", os.path.join(folder, "[01]*_HC.png"), "--pixel-size", "0.2", "--out", out,
            *IN_PROCESS]
    assert _invoke(*args).exit_code == 0
    assert [r["filename"] for r in _rows(out / "submission.csv")] == ["000_HC.png", "111_HC.png"]
    refused = _invoke(*args)
    assert refused.exit_code == 1 and "add --overwrite" in refused.output
    assert _invoke(*args, "--overwrite").exit_code == 0
    assert _rows(out / "dead_letter.csv") == []


def test_no_temp_folder_is_left_behind(sample, tmp_path):
    # Beam's runner leaves its job server's and its staging folders in the system temp
    # folder; a whole process, exit included, is what has to leave nothing.
    folder, pixels = sample
    temp = tmp_path / "temp"
    temp.mkdir()
    run = subprocess.run([sys.executable, "-m", "hc_tf.cli", "predict", "--model", MODEL,
                          "--beam", str(folder), "--pixel-csv", str(pixels),
                          "--out", str(tmp_path / "out"), *IN_PROCESS],
                         env=dict(os.environ, TMPDIR=str(temp)), capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 3, run.stderr[-2000:]
    assert os.listdir(temp) == []
    assert "apitools" not in run.stderr  # apache_beam's BigQuery notice, noise here


@pytest.mark.parametrize("args, message", [
    (["--model", os.path.join(ROOT, "export", "hc_effunet.keras")],
     "--beam runs the edge runtime: give a .tflite model"),
    (["--direct_num_workers", "2"], "2: no such file or folder; write Beam pipeline options as "
                                    "--direct_num_workers=2"),
    (["nothing*.png"], "no such file or folder"),
    (["--direct_num_workers=two"],
     "Beam pipeline options: argument --direct_num_workers: invalid int value: 'two'"),
    (["--runner=NoSuchRunner"], "the Beam pipeline failed: ValueError: Unexpected pipeline runner"),
])
def test_what_beam_mode_cannot_run_is_one_line(sample, tmp_path, args, message):
    folder, _ = sample
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, "--beam", str(folder),
                                           "--pixel-size", "0.2", "--out", str(tmp_path / "o"),
                                           *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_pipeline_options_without_beam_are_unknown_options(sample, tmp_path):
    folder, _ = sample
    result = _invoke(folder, "--pixel-size", "0.2", "--out", tmp_path / "o", "--runner=X")
    assert result.exit_code == 2 and "No such option '--runner'" in result.output


def test_without_apache_beam_the_error_names_the_extra(sample, tmp_path, monkeypatch):
    folder, _ = sample
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # import apache_beam now fails
    monkeypatch.delitem(sys.modules, "hc_tf.surfaces.beam_predict")
    monkeypatch.delattr(hc_tf.surfaces, "beam_predict")
    result = _invoke("--beam", folder, "--pixel-size", "0.2", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "pip install 'hc-tf[beam]'" in result.output, result.output
    assert "Traceback" not in result.output


def test_one_bad_file_never_raises_from_the_dofn(tmp_path):
    fn = beam_predict.MeasureFn(MODEL)
    fn.setup()
    task = beam_predict.ImageTask(7, str(tmp_path / "missing.png"), 0.2, None)
    (out,) = list(fn.process(task))
    assert out.tag == beam_predict.DEAD_LETTER
    assert out.value["index"] == 7 and "missing.png" in out.value["error"]


def test_a_worker_measures_an_allowed_pixel_size_and_refuses_another():
    """The pixel size is checked where the image is measured (inference.predict_batch): a task
    carries --allow-any-pixel-size to the worker, so an allowed 3 mm pixel is still measured."""
    from hc_tf import inference
    runner = inference.load_runner(MODEL)
    path = os.path.join(SAMPLE, "test_set", "000_HC.png")
    out = beam_predict.measure_task(runner, beam_predict.ImageTask(0, path, 3.0, None, True))
    assert out["index"] == 0 and out["record"]["pixel_size_mm"] == 3.0
    with pytest.raises(ValueError, match="pixel size 3.0 "):
        beam_predict.measure_task(runner, beam_predict.ImageTask(0, path, 3.0, None))
