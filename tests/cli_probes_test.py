"""Issue 24 items 12 and 17: small probes of the CLI as a user runs it. A Beam option typo is
an error (Beam only warned and ran locally); `--pixel-csv /dev/zero` is one line (not a
MemoryError); evaluate refuses a non-empty --out as predict does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hc_tf import cli
from tests.conftest import memory_capped

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.abspath(os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.tflite"))
SAMPLE = os.path.abspath(os.path.join(ROOT, "hc_tf", "sample_data"))
HC_TF = os.path.join(os.path.dirname(sys.executable), "hc-tf")


def _run(*args):
    # Before the fix, /dev/zero was read until MemoryError: keep that bounded.
    return subprocess.run(memory_capped([HC_TF, *args]), capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("typo, hint", [("--runnr=FlinkRunner", "did you mean --runner?"),
                                        ("--direct_num_workerz=2", "did you mean --direct_num_workers?")])
def test_a_beam_option_typo_is_an_error(typo, hint, tmp_path):
    pytest.importorskip("apache_beam")
    result = CliRunner().invoke(cli.main, [
        "predict", "--model", MODEL, "--beam", typo, os.path.join(SAMPLE, "test_set"),
        "--pixel-size", "0.2", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert f"Beam pipeline options: unknown option {typo.split('=')[0]}; {hint}" in result.output
    assert not (tmp_path / "o").exists()


def test_pixel_csv_that_is_a_device_is_one_line(tmp_path):
    result = _run("predict", "--model", MODEL, os.path.join(SAMPLE, "test_set"),
                  "--pixel-csv", "/dev/zero", "--out", tmp_path / "o")
    assert result.returncode == 1, result.stderr
    assert "Error: /dev/zero: not a regular file (a device)" in result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr


def test_evaluate_refuses_a_non_empty_out_as_predict_does(tmp_path):
    out = tmp_path / "e"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    args = ("evaluate", "--model", MODEL, "--data-dir", SAMPLE, "--out", out)
    refused = _run(*args)
    assert refused.returncode == 1 and "not empty; add --overwrite" in refused.stderr, refused.stderr
    assert sorted(os.listdir(out)) == ["notes.txt"]
    still = _run(*args, "--overwrite")  # never deletes what evaluate does not write
    assert still.returncode == 1 and "notes.txt" in still.stderr
    os.remove(out / "notes.txt")
    first = _run(*args)
    assert first.returncode == 0
    # The released model trained on the sample: its figures there are not its accuracy.
    assert "in-sample, not its accuracy" in first.stderr, first.stderr
    again = _run(*args, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert sorted(os.listdir(out)) == ["bland_altman.png", "evaluation.png", "per_image.csv",
                                       "summary.json", "unreadable.csv"]


def test_evaluate_reads_through_the_bounded_reader(tmp_path):
    """evaluate decoded decompression bombs: now the pixel limit applies (one line, exit 1)."""
    env = {**os.environ, "HC_TF_MAX_INPUT_PIXELS": "1000"}
    result = subprocess.run([HC_TF, "evaluate", "--model", MODEL, "--data-dir", SAMPLE, "--out",
                             str(tmp_path / "e")], capture_output=True, text=True, timeout=300,
                            env=env)
    assert result.returncode == 1, result.stderr
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("Error:")]
    assert "image too large (" in line and "at most 1,000 pixels" in line
    assert not (tmp_path / "e").exists()
