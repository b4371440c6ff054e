"""benchmarks/dicom_benchmark.py runs on the embedded sample as predict's DICOM path runs (it
had fallen behind `dicom_predict.finish`'s signature and stopped with a TypeError), and its
two paths measure the same HC."""

import re
import subprocess
import sys

import pytest

from tests.scripts import ROOT


@pytest.mark.parametrize("syntax", ["explicit", "rle"])
def test_the_dicom_benchmark_runs_and_both_paths_agree(syntax):
    res = subprocess.run([sys.executable, "-m", "benchmarks.dicom_benchmark", "--images", "2",
                          "--syntax", syntax], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"2 heads (embedded sample), DICOM {syntax}" in res.stdout, res.stdout
    assert re.search(r"SR [0-9.]+; FHIR JSON [0-9.]+ more\)", res.stdout), res.stdout
    diff = float(re.search(r"largest HC difference (\S+) mm", res.stdout).group(1))
    assert diff <= 1e-9, res.stdout
