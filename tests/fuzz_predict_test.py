"""Damaged DICOM and PNG files through `hc-tf predict` (scripts/fuzz_predict.py, fixed seeds):
each ends as a report row or a named refusal in unreadable.csv, the run as exit 0 or 3 (1 when
every copy is refused, each named on stderr). The DICOM seed's 500 copies hold the one the
campaign found a bug with (a SOP class DICOM does not define stopped the whole batch)."""

import csv
import json
import os
import sys

import pytest
from click.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
import fuzz_predict  # noqa: E402

from hc_tf import cli  # noqa: E402

MODEL = os.path.join(os.path.dirname(__file__), "..", "android_demo_assets",
                     "hc_effunet_int8.tflite")


@pytest.mark.large
@pytest.mark.parametrize("kind,count,seed", [("dicom", 500, 1), ("png", 60, 0)])
def test_damaged_files_are_measured_or_refused_by_name_never_a_traceback(tmp_path, kind, count,
                                                                         seed):
    if kind == "dicom" and not fuzz_predict.sources("dicom"):
        pytest.skip("pydicom's test files are missing")
    inputs = fuzz_predict.write_copies(str(tmp_path / "in"), kind, count, seed)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli.main, ["predict", "--model", MODEL, str(tmp_path / "in"),
                                           "--out", str(out), "-q"]
                                + (["--pixel-size", "0.1"] if kind == "png" else []))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    names = {os.path.basename(p) for p in inputs}
    if result.exit_code == 1:  # every copy refused: each named on stderr, nothing written
        assert result.output.rstrip().endswith("nothing was written") and not out.exists()
        said = {line.split(": ", 1)[1].split(":")[0] for line in result.output.splitlines()
                if line.startswith("unreadable: ")}
        assert {os.path.basename(p) for p in said} == names
        return
    assert result.exit_code in (0, 3), result.output
    rows = {r["filename"].split("#")[0]
            for r in json.loads((out / "report.json").read_text())["images"]}
    refused = set()
    if (out / "unreadable.csv").is_file():
        with open(out / "unreadable.csv", newline="", encoding="utf-8") as f:
            refused = {os.path.basename(r["path"]) for r in csv.DictReader(f)}
        assert refused, "an unreadable.csv with no row"
    assert names == rows | refused  # (a cine can have frames measured and frames refused)
    assert refused and (rows or kind == "png")  # a damaged PNG's damage is in its image data
