"""The shared calibration goldens (tests/fixtures/dicom_calibration/): the committed files are
what tests/dicom_goldens.py writes, and the Python rules give each case's expected outcome."""

import json
import os

import pytest

pydicom = pytest.importorskip("pydicom")

from hc_tf.io import dicom  # noqa: E402
from hc_tf.io import dicom_calibration as cal  # noqa: E402
from hc_tf.io import dicom_pixel_size as pix  # noqa: E402
from hc_tf.measure import Ellipse  # noqa: E402
from tests import dicom_goldens  # noqa: E402

with open(os.path.join(dicom_goldens.FOLDER, "cases.json"), encoding="utf-8") as _f:
    _GOLDEN = json.load(_f)
CASES = _GOLDEN["cases"]


def test_cases_json_is_what_the_generator_says():
    assert CASES == json.loads(json.dumps(dicom_goldens.cases()))
    assert _GOLDEN["model_regions"] == dicom_goldens.MODEL_REGIONS


@pytest.mark.parametrize("name", sorted(dicom_goldens.MODEL_REGIONS))
def test_model_region(name):
    header = dicom.read_header(os.path.join(dicom_goldens.FOLDER, name))
    box = pix.model_region(cal.read_calibration(header, 1), header.rows, header.columns)
    assert (list(box) if box else None) == dicom_goldens.MODEL_REGIONS[name]


def test_committed_files_are_what_the_generator_writes(tmp_path):
    dicom_goldens.write(str(tmp_path))
    for name in sorted(n for n in os.listdir(tmp_path) if n.endswith(".dcm")):
        fresh = pydicom.dcmread(str(tmp_path / name))
        committed = pydicom.dcmread(os.path.join(dicom_goldens.FOLDER, name))
        assert fresh == committed, name


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['file']}@{c['head']['cx']},"
                                                      f"{c['head']['cy']}/{c['typed_mm']}")
def test_golden_case(case):
    path = os.path.join(dicom_goldens.FOLDER, case["file"])
    expect = case["expect"]
    try:
        c = cal.read_calibration(dicom.read_header(path), 1)
        choice = pix.choose_pixel_size(c, Ellipse(**case["head"]), case["typed_mm"],
                                       case["override"])
    except dicom.DicomError as err:
        assert "refusal" in expect, f"refused: {err}"
        assert expect["refusal"] in str(err) and case["file"] in str(err)
        return
    assert "refusal" not in expect, f"expected a refusal, got {choice}"
    assert choice.pixel_size_mm == pytest.approx(expect["pixel_size_mm"], rel=1e-9)
    assert (choice.source, choice.region) == (expect["source"], expect["region"])
