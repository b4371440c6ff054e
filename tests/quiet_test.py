"""`hc-tf` hides TensorFlow's C++ start-up lines unless `--verbose` (hc_tf.console.quiet)."""

import os
import subprocess
import sys

import pytest

import tiny_models
from hc_tf.console import quiet
from hc_tf.io import held_stderr

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# What TensorFlow 2.21 prints at start-up on a CPU machine (and cuInit's error later).
MARKERS = ("absl::InitializeLog", "cpu_feature_guard", "cudart_stub", "oneDNN", "cuInit",
           "CUDA error", "To enable the following instructions")


def _run_cli(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in quiet.QUIET_ENV}  # a clean start
    return subprocess.run([sys.executable, "-m", "hc_tf.cli"] + args, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    return tiny_models.saved_blob_model(tmp_path_factory.mktemp("quiet"))[1]


def test_export_prints_no_tensorflow_start_up_lines(saved_model, tmp_path):
    out = str(tmp_path / "m.tflite")
    r = _run_cli(["export", "--model", saved_model, "--float32", "--out", out], tmp_path)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(out)
    text = r.stdout + r.stderr
    assert not [m for m in MARKERS if m in text], text
    assert not [line for line in text.splitlines() if held_stderr.is_noise(line)], text
    assert f"{out}:" in r.stdout  # the command's own report is there
    # Nor the chatter of our own calls: segmentation-models' banner, the converter's advice.
    assert "Segmentation Models" not in text and "trackable_obj" not in text, text

    verbose = _run_cli(["--verbose", "export", "--model", saved_model, "--float32",
                        "--out", str(tmp_path / "v.tflite")], tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    if not any(held_stderr.is_noise(line) for line in verbose.stderr.splitlines()):
        pytest.skip("TensorFlow printed no start-up lines on this machine")
    assert any(m in verbose.stderr for m in MARKERS), verbose.stderr


def test_the_filter_keeps_what_is_not_a_log_line(capfd):
    with held_stderr.filtered_stderr():
        os.write(2, b"I0000 00:00:1795794265.982439   31865 port.cc:153] oneDNN custom ops\n"
                    b"WARNING: All log messages before absl::InitializeLog() is called are "
                    b"written to STDERR\n"
                    b"To enable the following instructions: AVX2 FMA, in other operations\n"
                    b"E0000 00:00:1795794271.441381   31865 cuda_platform.cc:52] failed call to "
                    b"cuInit: INTERNAL: CUDA error\n"
                    b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"


def test_quiet_keeps_the_users_own_setting(monkeypatch):
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))  # undone after the test
    for key in quiet.QUIET_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet.quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert os.environ["GRPC_VERBOSITY"] == quiet.QUIET_ENV["GRPC_VERBOSITY"]


def test_prepare_prints_no_tensorflow_start_up_lines(tmp_path):
    """TFDS probes `find_spec("tensorflow")` before it imports it: the probe must not use up
    the quiet import (it did, and `hc-tf prepare` printed the start-up lines)."""
    r = _run_cli(["prepare", "--manual-dir", os.path.join(REPO, "datasets", "hc18", "dummy_data"),
                  "--data-dir", str(tmp_path / "tfds")], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "HC18 prepared in" in r.stdout
    text = r.stdout + r.stderr
    assert not [m for m in MARKERS if m in text], text
    # again from the same folder: nothing built, said so; from another: refused, not ignored
    again = _run_cli(["prepare", "--manual-dir", os.path.join(REPO, "datasets", "hc18",
                                                              "dummy_data"),
                      "--data-dir", str(tmp_path / "tfds")], tmp_path)
    assert again.returncode == 0 and "HC18 already prepared in" in again.stdout, again.stderr
    other = _run_cli(["prepare", "--data-dir", str(tmp_path / "tfds")], tmp_path)
    assert other.returncode == 1, other.stderr
    assert "already prepared from" in other.stderr and "dummy_data" in other.stderr


def test_a_find_spec_probe_does_not_use_up_the_quiet_import():
    code = ("from hc_tf.console import quiet; quiet.quiet_tensorflow()\n"
            "import importlib.util; importlib.util.find_spec('tensorflow')\n"
            "import tensorflow\n")
    env = {k: v for k, v in os.environ.items() if k not in quiet.QUIET_ENV}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not [line for line in r.stderr.splitlines() if held_stderr.is_noise(line)], r.stderr
