"""scripts/cpu_cv/run_queue.sh with a stand-in python (it logs its arguments; no training): the
queue's lines in order, each fold trained with its lever's options into its own run folder,
evaluated into its own table, compared with the plain recipe's same fold where that exists; a
bad line or a failed step stops the queue, naming what."""

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "cpu_cv", "run_queue.sh")


def _stand_in(tmp_path, fail_on=""):
    """A python3 that appends its arguments to calls.log and fails when they contain `fail_on`."""
    log = tmp_path / "calls.log"
    stub = tmp_path / "python"
    stub.write_text(f"""#!/usr/bin/env bash
echo "$*" >> {log}
case "$*" in *"{fail_on or '#none#'}"*) exit 1 ;; esac
""")
    stub.chmod(0o755)
    return stub, log


def _run(tmp_path, queue_text, fail_on="", tables=(), encoders=()):
    stub, log = _stand_in(tmp_path, fail_on)
    (tmp_path / "encoders").mkdir()
    for name in encoders:  # converted full-tier encoders, e.g. lite2_imagenet.npz
        (tmp_path / "encoders" / name).write_text("")
    runs = tmp_path / "runs"
    for name in tables:  # evaluations already made (e.g. the plain recipe's fold 1)
        (runs / name).mkdir(parents=True)
    (tmp_path / "tfds").mkdir()
    (tmp_path / "enc.npz").write_text("")
    queue = tmp_path / "queue.txt"
    queue.write_text(queue_text)
    env = dict(os.environ, RUNS=str(runs), DATA_DIR=str(tmp_path / "tfds"),
               ENCODER=str(tmp_path / "enc.npz"), ENCODERS=str(tmp_path / "encoders"),
               PYTHON=str(stub), NICE="0")
    out = subprocess.run(["bash", SCRIPT, str(queue)], capture_output=True, text=True, env=env,
                         timeout=60)
    calls = log.read_text().splitlines() if log.exists() else []
    return out, calls, runs


def test_each_line_trains_evaluates_and_compares_its_fold(tmp_path):
    out, calls, runs = _run(tmp_path, "# comment\ne50 1\n\nbw1 1 --boundary-weight 1\nhc1 2 --hc-weight 1",
                            tables=("table_e50/fold1",))
    assert out.returncode == 0, out.stderr
    assert len(calls) == 7  # e50: train + evaluate; bw1: + compare; hc1 (fold 2): no baseline yet
    train, evaluate = calls[0].split(), calls[1].split()
    assert train[:3] == ["-m", "hc_tf.cli", "train"] and train[-4:] == ["--folds", "5", "--fold", "1"]
    assert f"--run-dir {runs}/fold1_e50 " in calls[0] and "--epochs 50 --batch-size 16 --val-every 5" in calls[0]
    assert evaluate[:2] == ["-m", "hc_tf.train.cross_validate"]
    assert f"--source {runs}/fold{{fold}}_e50/best.keras --only 1" in calls[1]
    assert calls[1].endswith(f"--work {runs}/table_e50")
    assert calls[2].endswith("--fold 1 --boundary-weight 1") and f"{runs}/fold1_bw1 " in calls[2]
    assert calls[4] == f"-m hc_tf.surfaces.cv_report {runs}/table_bw1 --baseline {runs}/table_e50"
    assert calls[5].endswith("--fold 2 --hc-weight 1") and "table_hc1" in calls[6]
    assert "queue done" in out.stdout


def test_the_all_data_line_trains_on_everything_and_evaluates_nothing(tmp_path):
    out, calls, runs = _run(tmp_path, "e50 all\n")
    assert out.returncode == 0, out.stderr
    assert len(calls) == 1 and f"--run-dir {runs}/all_e50 " in calls[0]
    assert calls[0].endswith("--val-every 5 --train-on-all") and "--folds" not in calls[0]


def test_a_full_tier_line_starts_from_its_own_variants_encoder(tmp_path):
    out, calls, _ = _run(tmp_path, "e50 0\nl2 0 --backbone efficientnetlite2\n",
                         encoders=("lite2_imagenet.npz",))
    assert out.returncode == 0, out.stderr
    assert f"--encoder-weights {tmp_path}/enc.npz " in calls[0]
    assert f"--encoder-weights {tmp_path}/encoders/lite2_imagenet.npz " in calls[2]
    assert calls[2].endswith("--fold 0 --backbone efficientnetlite2")
    other = tmp_path / "other"
    other.mkdir()
    out, calls, _ = _run(other, "l1 0 --backbone efficientnetlite1\n")
    assert out.returncode == 2 and not calls
    assert out.stderr.strip() == (f"error: {other}/queue.txt line 1: {other}/encoders/lite1_imagenet.npz: "
                                  "missing (docs/reproducing.md, the full tier)")


def test_a_bad_line_is_refused_naming_it_before_anything_runs_after_it(tmp_path):
    out, calls, _ = _run(tmp_path, "e50 1\nbw1 7 --boundary-weight 1\nhc1 1\n")
    assert out.returncode == 2 and "line 2: want LEVER FOLD" in out.stderr
    assert len(calls) == 2  # line 1 ran; nothing after the bad line
    other = tmp_path / "other"
    other.mkdir()
    out, calls, _ = _run(other, "e50 1 --boundary-weight 1\n")
    assert out.returncode == 2 and "line 1: e50 is the plain recipe" in out.stderr and not calls


def test_a_failed_step_stops_the_queue(tmp_path):
    out, calls, _ = _run(tmp_path, "e50 1\ne50 2\n", fail_on="--fold 1")
    assert out.returncode != 0 and len(calls) == 1 and "queue done" not in out.stdout


def test_missing_data_is_one_line(tmp_path):
    env = dict(os.environ, RUNS=str(tmp_path), DATA_DIR=str(tmp_path / "none"), PYTHON="false")
    queue = tmp_path / "q.txt"
    queue.write_text("e50 1\n")
    out = subprocess.run(["bash", SCRIPT, str(queue)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and out.stderr.strip() == (
        f"error: {tmp_path / 'none'}: missing (see docs/reproducing.md, section 6)")
