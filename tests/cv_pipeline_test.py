"""The cross-validation chain on the CPU, tiny: the embedded sample prepared, packed with its
folds, one fold trained by the JAX trainer (1 epoch, tiny decoder), its weights carried at
float16, rebuilt, flip TTA added, exported int8, its held-out images evaluated, aggregated;
and `hc-tf train --folds` killed mid-run resumes and keeps the last epoch.

Large (subprocesses, a JAX compile). The JAX part runs with a Python that has JAX
(tests/jax_python.py: $HC_TF_JAX_PYTHON), else skips.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jax_python import JAX_PYTHON, needs_jax  # beside this file

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "CI": "1"}
HC_TF = [sys.executable, "-m", "hc_tf.cli"]
TINY = ["--input-size", "64x96", "--small", "--batch-size", "2", "--steps-per-epoch", "1"]


def _run(argv, python=sys.executable, **env):
    return subprocess.run([python, *argv], capture_output=True, text=True, timeout=900,
                          env={**ENV, **env}, cwd=REPO)


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory):
    from hc_tf import SAMPLE_DIR
    from hc_tf.console import tfds_build
    data = str(tmp_path_factory.mktemp("cv") / "tfds")
    tfds_build.ensure_prepared(SAMPLE_DIR, data, 0.2)
    return data


@needs_jax
def test_one_fold_from_pack_to_the_cross_validated_table(sample_data, tmp_path):
    from hc_tf.train import data as data_lib
    from hc_tf.train import cross_validate
    from hc_tf.train.jax_backend import pack_hc18

    pack, run, work = str(tmp_path / "pack.npz"), str(tmp_path / "run"), str(tmp_path / "cv")
    out = _run(["-m", "hc_tf.train.jax_backend.pack_hc18", "--data-dir", sample_data,
                "--out", pack, "--input-size", "64x96"])
    assert out.returncode == 0, out.stderr[-3000:]
    folds = data_lib.fold_of_images(sample_data, 5)
    packed = pack_hc18.load_packed(pack)
    for split in ("train", "validation"):  # every image's fold travels; fold 0 = validation
        assert [folds[str(n)] for n in packed[f"{split}_names"]] == list(packed[f"{split}_fold"])
    assert set(packed["validation_fold"]) == {0} and 0 not in set(packed["train_fold"])

    out = _run(["-m", "hc_tf.train.jax_backend.train_jax", "--data", pack, "--run-dir", run,
                "--folds", "5", "--fold", "1", "--epochs", "1", "--val-every", "1",
                "--batch-size", "4", "--workers", "1", "--precision", "float32",
                "--decoder-filters", "16,8,8,8,8"], JAX_PYTHON, KERAS_BACKEND="jax",
               JAX_PLATFORMS="cpu")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    held_out = sorted(n for n, k in folds.items() if k == 1)
    assert f"{len(folds) - len(held_out)} training images (folds other than 1 of 5), " \
           f"{len(held_out)} validation images" in out.stdout
    best = json.load(open(os.path.join(run, "best.json")))
    assert best["epoch"] == 1 and best["fold"] == 1 and best["final"] is True
    assert "never used to choose" in best["note"]

    out = _run(["-m", "hc_tf.train.jax_backend.half_weights", "pack", run,
                str(tmp_path / "w_f1.npz")], JAX_PYTHON, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    assert out.returncode == 0, out.stderr[-3000:]

    argv = ["--source", str(tmp_path / "w_f{fold}.npz"), "--data-dir", sample_data,
            "--work", work, "--only", "1"]
    assert cross_validate.main(argv) == 0
    assert os.path.isfile(os.path.join(work, "fold1", "model_int8.tflite"))
    for tier in ("keras", "int8"):
        with open(os.path.join(work, "fold1", tier, "per_image.csv")) as f:
            assert sorted(r["filename"] for r in csv.DictReader(f)) == held_out
    summary = json.load(open(os.path.join(work, "cv_summary.json")))
    assert summary["int8"]["all"]["n"] == summary["keras"]["all"]["n"] == len(held_out)
    assert "parity_int8_vs_keras" in summary
    meta = json.load(open(os.path.join(work, "fold1", "model_int8.json")))
    assert meta["flip_tta_in_model"] is True and meta["calibration"]["split"] == "given"
    # Rerun: every step is there already, so nothing is redone (resumable).
    stamp = os.path.getmtime(os.path.join(work, "fold1", "model_int8.tflite"))
    assert cross_validate.main(argv) == 0
    assert os.path.getmtime(os.path.join(work, "fold1", "model_int8.tflite")) == stamp


def _epochs_logged(run):
    path = os.path.join(run, "log.csv")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def test_a_killed_fold_run_resumes_and_keeps_its_last_epoch(sample_data, tmp_path):
    run = str(tmp_path / "fold2")
    argv = ["-m", "hc_tf.cli", "train", "--data-dir", sample_data, "--run-dir", run,
            "--epochs", "3", "--folds", "5", "--fold", "2", *TINY]
    proc = subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV, cwd=REPO)
    deadline = time.time() + 600
    while not _epochs_logged(run) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # as a machine reboot or `kill -9` leaves it
    proc.wait()
    done = _epochs_logged(run)
    assert done and done[-1] < 2, proc.stdout.read()[-2000:]

    out = _run(argv)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "resuming" in out.stdout and "fold 2 of 5: the last of 3 epochs is kept" in out.stdout
    assert _epochs_logged(run)[-1] == 2
    best = json.load(open(os.path.join(run, "best.json")))
    assert best["epoch"] == 3 and best["fold"] == 2 and best["folds"] == 5 and best["final"] is True
    config = json.load(open(os.path.join(run, "config.json")))
    assert (config["folds"], config["fold"]) == (5, 2)


def test_a_fold_out_of_range_is_one_line(tmp_path):
    out = _run(["-m", "hc_tf.cli", "train", "--data-dir", str(tmp_path), "--run-dir",
                str(tmp_path / "r"), "--folds", "5", "--fold", "5"])
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "--folds 5 --fold 5: need at least 2 folds and 0 <= fold < folds" in out.stderr
    assert np.sum([line.startswith("Error") for line in out.stderr.splitlines()]) == 1
