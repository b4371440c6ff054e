"""`hc-tf train` as a user runs it (subprocesses): a run interrupted while its backup is
being written resumes; an unreadable backup falls back to the previous state, and a
backup with no loadable state is one line saying what to do."""

import csv
import glob
import os
import subprocess
import sys

HC_TF = os.path.join(os.path.dirname(sys.executable), "hc-tf")
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", "CI": "1"}

# The process "dies" during epoch 2's backup save: the file being written is cut
# short (as a Ctrl-C or kill mid-write leaves it) and the run stops there.
INTERRUPT_SECOND_BACKUP_SAVE = """
import sys, keras
from hc_tf import cli
saves = []
original = keras.Model.save_weights
def save_weights(self, filepath, *args, **kwargs):
    original(self, filepath, *args, **kwargs)
    saves.append(filepath)
    if len(saves) == 2:
        with open(filepath, "r+b") as f:
            f.truncate(12552)
        raise KeyboardInterrupt
keras.Model.save_weights = save_weights
cli.main(args=sys.argv[1:], prog_name="hc-tf")
"""


def _train_args(run_dir, epochs):
    return ["train", "--sample", "--run-dir", str(run_dir), "--epochs", str(epochs),
            "--steps-per-epoch", "1", "--batch-size", "2", "--input-size", "64x96", "--small"]


def _run(argv):
    return subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=600)


def _epochs_logged(run_dir):
    with open(run_dir / "log.csv", encoding="utf-8") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def _truncate(path, size=12552):
    with open(path, "r+b") as f:
        f.truncate(size)


def test_interrupted_mid_save_resumes_and_unreadable_backups_are_handled(tmp_path):
    run = tmp_path / "run"
    interrupted = _run([sys.executable, "-c", INTERRUPT_SECOND_BACKUP_SAVE] + _train_args(run, 2))
    assert interrupted.returncode != 0, interrupted.stdout + interrupted.stderr
    assert _epochs_logged(run) == [0, 1]  # epoch 2 ran; its backup never completed

    resumed = _run([HC_TF] + _train_args(run, 2))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert _epochs_logged(run) == [0, 1, 1]  # epoch 2 redone from epoch 1's state

    # A committed state that is unreadable anyway (disk full, copied badly).
    newest = max(glob.glob(str(run / "backup" / "*.weights.h5")), key=os.path.getmtime)
    _truncate(newest)
    fallback = _run([HC_TF] + _train_args(run, 3))
    assert fallback.returncode == 0, fallback.stdout[-2000:] + fallback.stderr[-2000:]
    assert "resuming from the previous state (epoch 1)" in fallback.stdout
    assert _epochs_logged(run)[-1] == 2

    for path in glob.glob(str(run / "backup" / "*.weights.h5")):
        _truncate(path)
    hopeless = _run([HC_TF] + _train_args(run, 4))
    assert hopeless.returncode == 1
    errors = [line for line in hopeless.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "training backup unreadable" in errors[0], hopeless.stderr[-2000:]
    assert "delete that folder" in errors[0] and len(errors[0]) < 800
    assert "Traceback" not in hopeless.stderr
    assert (run / "best.keras").is_file()  # nothing the user had is lost
