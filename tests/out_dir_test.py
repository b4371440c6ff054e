"""Issue 24 items 5-8 and 17 (--out): predict's output folder as a user meets it, in
subprocesses with the committed edge model. Nothing the user had is lost, two runs never mix,
what the final step needs is checked before measuring, a symlinked OUT or `.` works, and the
staging of a killed run is removed by the next run."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from hc_tf.io import out_dir as out_dir_lib

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.abspath(os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.tflite"))
SAMPLE = os.path.abspath(os.path.join(ROOT, "hc_tf", "sample_data", "test_set"))
HC_TF = os.path.join(os.path.dirname(sys.executable), "hc-tf")
PREFIX = out_dir_lib.STAGING_PREFIX


def _args(*args):
    return [HC_TF, "predict", "--model", MODEL, *map(str, args)]


def _predict(*args, cwd=None):
    return subprocess.run(_args(*args), capture_output=True, text=True, timeout=300, cwd=cwd)


def _start(*args):
    return subprocess.Popen(_args(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _staging(out):
    return [n for n in os.listdir(out) if n.startswith(PREFIX)] if os.path.isdir(out) else []


def _kept(out):
    return sorted(n for n in os.listdir(out) if n.startswith(out_dir_lib.KEPT_PREFIX))


def _wait_for_staging(out, proc, timeout=120):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if _staging(out):
            return
        time.sleep(0.02)
    raise AssertionError(f"no staging in {out} (run ended: {proc.poll()})")


@pytest.fixture()
def two(tmp_path):
    d = tmp_path / "two"
    d.mkdir()
    for name in ("000_HC.png", "111_HC.png"):
        shutil.copy(os.path.join(SAMPLE, name), d / name)
    return d


@pytest.fixture()
def many(tmp_path):
    """120 images (links to the sample's 4): a run of a few seconds, long enough to meet."""
    d = tmp_path / "many"
    d.mkdir()
    names = sorted(os.listdir(SAMPLE))
    for i in range(120):
        os.symlink(os.path.join(SAMPLE, names[i % len(names)]), d / f"img{i:03d}.png")
    return d


def test_a_second_run_into_the_same_new_out_is_refused_at_once(many, two, tmp_path):
    out = tmp_path / "out"
    first = _start(many, "--pixel-size", "0.2", "--out", out)
    _wait_for_staging(out, first)
    second = _predict(two, "--pixel-size", "0.3", "--out", out)
    first_out, first_err = first.communicate(timeout=300)
    assert second.returncode == 1, second.stderr
    assert "another hc-tf run is writing there now" in second.stderr
    assert first.returncode == 0, first_err
    assert len(_rows(out / "submission.csv")) == 120 and not _staging(out)


def test_out_changed_under_the_run_is_never_replaced(many, tmp_path):
    out = tmp_path / "out"
    run = _start(many, "--pixel-size", "0.2", "--out", out)
    _wait_for_staging(out, run)
    (out / "submission.csv").write_text("another program's file\n")
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, err
    assert "changed while this run was working" in err and "nothing was replaced" in err
    assert (out / "submission.csv").read_text() == "another program's file\n"
    (kept,) = _kept(out)  # the results are kept where the message says, out of the staging prefix
    assert os.path.join(str(out), kept) in err and not _staging(out)
    assert len(_rows(out / kept / "submission.csv")) == 120
    # A later run, even with --overwrite, refuses naming them instead of deleting them.
    later = _predict(many, "--pixel-size", "0.3", "--out", out, "--overwrite")
    assert later.returncode == 1, later.stderr
    (line,) = [text for text in later.stderr.splitlines() if text.startswith("Error:")]
    assert os.path.join(str(out), kept) in line and "move them out" in line, line
    assert "removed" not in later.stderr and "Traceback" not in later.stderr
    assert _kept(out) == [kept] and len(_rows(out / kept / "submission.csv")) == 120


def test_kept_results_survive_a_later_run_that_fails(tmp_path):
    """In-process: the kept folder is not a killed run's staging, with or without --overwrite."""
    out, outputs = str(tmp_path / "out"), out_dir_lib.Outputs(frozenset({"report.csv"}))
    with pytest.raises(ValueError, match="changed while this run was working") as err:
        with out_dir_lib.staged(out, False, outputs) as staging:
            (tmp_path / "out" / "report.csv").write_text("another program's file\n")
            with open(os.path.join(staging, "report.csv"), "w") as f:
                f.write("hours of results\n")
    (kept,) = _kept(out)
    assert str(err.value).endswith(os.path.join(out, kept))
    os.remove(os.path.join(out, "report.csv"))  # the user tidies up and reruns
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=re.escape(f"holds {os.path.join(out, kept)}, the results")):
            with out_dir_lib.staged(out, overwrite, outputs):
                raise AssertionError("refused before the block")
    assert (tmp_path / "out" / kept / "report.csv").read_text() == "hours of results\n"


class _Stop(Exception):
    pass


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_while_the_outputs_are_moved_in_waits_for_them(signum, tmp_path, monkeypatch):
    """In-process: Ctrl-C or SIGTERM once the block is done (the outputs being renamed into
    OUT, the staging being removed) acted midway: OUT held this run's first outputs beside the
    last run's others (report.csv new, report.json old), and the rest of this run's went with
    the staging. They now wait for the step to end, then act as they would have."""
    out = tmp_path / "out"
    out.mkdir()
    names = ("report.csv", "report.json", "submission.csv")
    for name in names:
        (out / name).write_text("the last run's\n")
    outputs = out_dir_lib.Outputs(frozenset(names))
    real_replace, moved = os.replace, []

    def replace(src, dst):  # the stop arrives once the first output is in place
        if len(moved) == 1:
            os.kill(os.getpid(), signum)
        moved.append(dst)
        real_replace(src, dst)

    def stop(*_):
        raise _Stop

    previous = signal.signal(signum, stop)
    try:
        with pytest.raises(_Stop):
            with out_dir_lib.staged(str(out), True, outputs) as staging:
                for name in names:
                    with open(os.path.join(staging, name), "w") as f:
                        f.write("this run's\n")
                monkeypatch.setattr(out_dir_lib.os, "replace", replace)
        monkeypatch.undo()
        assert signal.getsignal(signum) is stop  # put back
    finally:
        signal.signal(signum, previous)
    assert {n: (out / n).read_text() for n in names} == {n: "this run's\n" for n in names}
    assert sorted(os.listdir(out)) == sorted(names)  # no staging left


def test_overwrite_never_deletes_nested_user_files(two, tmp_path):
    out = tmp_path / "out"
    assert _predict(two, "--pixel-size", "0.2", "--out", out).returncode == 0
    (out / "overlays" / "keep_me.txt").write_text("mine")
    (out / "overlays" / "patient_archive").mkdir()
    (out / "overlays" / "patient_archive" / "important.dcm").write_bytes(b"DICM")
    result = _predict(two, "--pixel-size", "0.3", "--out", out, "--overwrite")
    assert result.returncode == 1, result.stderr
    assert "overlays/keep_me.txt" in result.stderr and "overlays/patient_archive" in result.stderr
    assert (out / "overlays" / "keep_me.txt").read_text() == "mine"
    assert (out / "overlays" / "patient_archive" / "important.dcm").read_bytes() == b"DICM"
    assert float(_rows(out / "report.csv")[0]["pixel_size_mm"]) == 0.2  # the first run's


def test_overwrite_refuses_an_output_name_of_another_kind(two, tmp_path):
    out = tmp_path / "out"
    (out / "report.json").mkdir(parents=True)
    (out / "report.json" / "notes.txt").write_text("mine")
    result = _predict(two, "--pixel-size", "0.2", "--out", out, "--overwrite")
    assert result.returncode == 1 and "report.json/" in result.stderr, result.stderr
    assert (out / "report.json" / "notes.txt").read_text() == "mine"


def test_overwrite_replaces_the_runs_own_files_only(two, tmp_path):
    out = tmp_path / "out"
    assert _predict(two, "--pixel-size", "0.2", "--out", out).returncode == 0
    result = _predict(two, "--pixel-size", "0.3", "--out", out, "--overwrite")
    assert result.returncode == 0, result.stderr
    assert {float(r["pixel_size_mm"]) for r in _rows(out / "report.csv")} == {0.3}
    assert sorted(os.listdir(out / "overlays")) == ["000_HC.png", "111_HC.png"]
    assert not _staging(out)


def test_an_input_inside_out_is_refused_not_overwritten(two, tmp_path):
    """Measuring OUT/overlays/000_HC.png into OUT with --overwrite replaced that very file with
    its new overlay: the user's input was lost."""
    out = tmp_path / "out"
    assert _predict(two, "--pixel-size", "0.2", "--out", out).returncode == 0
    overlay = out / "overlays" / "000_HC.png"
    before = overlay.read_bytes()
    result = _predict(overlay, "--pixel-size", "0.2", "--out", out, "--overwrite")
    assert result.returncode == 1, result.stderr
    assert f"{overlay}: an input inside --out {out}" in result.stderr, result.stderr
    assert overlay.read_bytes() == before and not _staging(out)


def test_a_symlink_to_a_folder_and_dot_work_as_out(two, tmp_path):
    target = tmp_path / "volume"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    result = _predict(two, "--pixel-size", "0.2", "--out", link)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and (target / "submission.csv").is_file()
    assert sorted(n for n in os.listdir(tmp_path) if n.startswith(".")) == []
    here = tmp_path / "here"
    here.mkdir()
    result = _predict(two, "--pixel-size", "0.2", "--out", ".", cwd=here)
    assert result.returncode == 0, result.stderr
    assert (here / "submission.csv").is_file() and not _staging(here)


@pytest.mark.parametrize("kind", ["dangling", "empty", "long", "file"])
def test_an_unusable_out_fails_before_measuring(kind, two, tmp_path):
    out = {"dangling": tmp_path / "dangling", "empty": "", "long": tmp_path / ("x" * 300),
           "file": tmp_path / "a_file"}[kind]
    if kind == "dangling":
        out.symlink_to(tmp_path / "missing")
    if kind == "file":
        out.write_text("mine")
    t = time.time()
    result = _predict(two, "--pixel-size", "0.2", "--out", out)
    assert result.returncode == 1, result.stderr
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("Error:")]
    assert {"dangling": "which does not exist", "empty": "--out is empty",
            "long": "cannot create the output folder (File name too long)",
            "file": "exists and is not a folder"}[kind] in line
    assert "XNNPACK" not in result.stderr  # refused before the model was even loaded
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
    assert time.time() - t < 60


def test_a_killed_runs_staging_is_removed_by_the_next_run(many, two, tmp_path):
    out = tmp_path / "out"
    run = _start(many, "--pixel-size", "0.2", "--out", out)
    _wait_for_staging(out, run)
    time.sleep(0.5)  # some overlays written
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=60)
    (stale,) = _staging(out)
    result = _predict(two, "--pixel-size", "0.2", "--out", out)
    assert result.returncode == 0, result.stderr
    assert f"removed {os.path.join(str(out), stale)}: left by an interrupted hc-tf run" in result.stderr
    assert not _staging(out) and len(_rows(out / "submission.csv")) == 2


def test_a_run_stopped_by_sigterm_leaves_no_staging(many, tmp_path):
    """SIGTERM (systemd, docker stop, timeout) left OUT/.hc-tf-tmp-<id>/ with the SRs, FHIR
    and reports written so far (patient data) until a next run on that OUT; Ctrl-C removed it."""
    out = tmp_path / "out"
    run = _start(many, "--pixel-size", "0.2", "--out", out)
    _wait_for_staging(out, run)
    time.sleep(0.5)  # some overlays written
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode != 0, err
    assert not _staging(out), err
    assert not os.path.exists(out)  # this run created it, and left nothing in it


@pytest.fixture()
def small_mount(tmp_path):
    """A 400 kB tmpfs mounted in tmp_path (root only; skipped elsewhere)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_a_mount_point_works_as_out(two, small_mount):
    """Every Docker or Kubernetes volume is a mount point: OUT itself cannot be renamed."""
    result = _predict(two, "--pixel-size", "0.2", "--out", small_mount)
    assert result.returncode == 0, result.stderr
    assert (small_mount / "submission.csv").is_file() and not _staging(small_mount)


def test_a_full_disk_names_the_file_and_says_so(many, small_mount):
    out = small_mount / "out"
    result = _predict(many, "--pixel-size", "0.2", "--out", out)
    assert result.returncode == 1, result.stderr
    (line,) = [text for text in result.stderr.splitlines() if text.startswith("Error:")]
    assert f"Error: {out}" in line and line.endswith(": cannot write: the disk is full"), line
    assert "requested and" not in result.stderr and "Traceback" not in result.stderr
    assert not os.path.exists(out)  # created by the run, removed with its staging
