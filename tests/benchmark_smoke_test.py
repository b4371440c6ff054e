"""Benchmarks that no other test runs, run once at their smallest (benchmarks/dicom_benchmark.py
had fallen behind a signature unnoticed): each still runs its real path and prints its figures.
Their speed targets are for a person to read (README), never asserted here."""

import json
import re
import subprocess
import sys

import pytest

from tests.scripts import ROOT, node_command


@pytest.mark.parametrize("syntax", ["explicit", "rle"])
def test_the_dicom_benchmark_runs_and_both_paths_agree(syntax):
    """It had fallen behind `dicom_predict.finish`'s signature (a TypeError); its two paths
    measure the same HC."""
    res = subprocess.run([sys.executable, "-m", "benchmarks.dicom_benchmark", "--images", "2",
                          "--syntax", syntax], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"2 heads (embedded sample), DICOM {syntax}" in res.stdout, res.stdout
    assert re.search(r"SR [0-9.]+; FHIR JSON [0-9.]+ more\)", res.stdout), res.stdout
    diff = float(re.search(r"largest HC difference (\S+) mm", res.stdout).group(1))
    assert diff <= 1e-9, res.stdout


def test_measure_speed_runs_and_measures_the_true_hc():
    res = subprocess.run([sys.executable, "benchmarks/measure_speed.py", "--runs", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    got = re.search(r"median ([0-9.]+) ms over \d+ runs .*HC ([0-9.]+) mm vs true ([0-9.]+) mm",
                    res.stdout)
    assert got, res.stdout + res.stderr[-2000:]
    assert abs(float(got.group(2)) - float(got.group(3))) <= 0.01, res.stdout


def test_the_apps_js_stage_benchmark_runs_every_stage():
    command = node_command("benchmarks/web_js_stages.mjs", "--n", "1",
                           skip_reason="node is not installed")
    res = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    stages = json.loads(res.stdout[res.stdout.index("{"):])["median_ms"]
    assert set(stages) >= {"letterbox", "dequantize", "measure (with quality)"}, stages
    assert all(v > 0 for v in stages.values()), stages


def test_the_kernel_spread_benchmark_runs_and_finds_the_kernels_differ(tmp_path):
    """Two bundled samples as a tiny HC18 release: XNNPACK vs the built-in kernels."""
    import shutil
    bundle = tmp_path / "hc18"
    (bundle / "test_set").mkdir(parents=True)
    with open(f"{ROOT}/android_demo_assets/golden.json") as f:
        samples = json.load(f)["samples"][:2]
    lines = ["filename,pixel size(mm)"]
    for s in samples:
        shutil.copy(f"{ROOT}/android_demo_assets/samples/{s['filename']}", bundle / "test_set")
        lines.append(f"{s['filename']},{s['pixel_size_mm']!r}")
    (bundle / "test_set_pixel_size.csv").write_text("\n".join(lines) + "\n")
    res = subprocess.run([sys.executable, "benchmarks/kernel_spread.py", "--hc18", str(bundle),
                          "--csv", str(tmp_path / "spread.csv")], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "on 2 HC18 test images" in res.stdout and "review flag changes: 0" in res.stdout
    assert "images with identical output: 0 of 2" in res.stdout, res.stdout
    dhc = float(re.search(r"\|dHC\| mm: median \S+, max (\S+)", res.stdout).group(1))
    assert 0 < dhc < 0.4, res.stdout
    assert len((tmp_path / "spread.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize("script, extra", [("ellipse_reference_check.py", []),
                                           ("edge_benchmark.py", ["--model", "m.keras"]),
                                           ("kernel_spread.py", [])])
def test_a_benchmark_without_the_hc18_folder_says_so_in_one_line(tmp_path, script, extra):
    """Their default was ../shared/hc18, absent from a clone or a worktree: a traceback."""
    res = subprocess.run([sys.executable, f"benchmarks/{script}", "--hc18", str(tmp_path)] + extra,
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert f"--hc18 {tmp_path}: not an HC18 release folder" in res.stderr
