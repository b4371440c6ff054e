"""A built wheel, installed in a fresh venv outside the checkout, measures an image with no
--model (the released int8 model is package data) and without TensorFlow."""

import csv
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE = os.path.join(REPO, "hc_tf", "sample_data", "test_set", "000_HC.png")


def _run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)
    assert out.returncode == 0, " ".join(map(str, cmd)) + "\n" + out.stdout[-3000:] + out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the fresh venv's python, a folder outside the checkout to run in)."""
    pytest.importorskip("build", reason="the `build` package comes with the [test] extra")
    work = tmp_path_factory.mktemp("wheel")
    # Through the sdist, as a release builds: a wheel built in the checkout reuses its build/lib,
    # where a module deleted since the last build would still lie and ship.
    _run([sys.executable, "-m", "build", "--outdir", str(work / "dist"), REPO])
    (wheel,) = (work / "dist").glob("hc_tf-*.whl")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "-q", str(wheel)])
    return python, work


def test_the_wheel_measures_an_image_with_no_model_option_and_no_tensorflow(installed, tmp_path):
    python, work = installed
    probe = _run([python, "-c", "import importlib.util as u, hc_tf; "
                  "print(u.find_spec('tensorflow') is None, hc_tf.__file__)"], cwd=work)
    no_tf, location = probe.stdout.split()
    assert no_tf == "True" and not location.startswith(REPO), probe.stdout
    hc_tf = os.path.join(os.path.dirname(python), "hc-tf")
    out = tmp_path / "out"
    _run([hc_tf, "predict", SAMPLE, "--pixel-size", "0.15", "--out", str(out), "-q"], cwd=work)
    with open(out / "report.csv", newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    assert row["filename"] == "000_HC.png" and row["found"] == "True", row
    assert 50 < float(row["hc_mm"]) < 400, row
