"""Checks android_demo_assets/ against the edge runtime (after scripts/make_bundle.py)."""

import hashlib
import json
import os

import numpy as np
import pytest

from hc_tf import edge
from hc_tf import ellipse as E
from hc_tf import preprocess

BUNDLE = os.environ.get("HC_TF_BUNDLE") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "android_demo_assets")
GOLDEN = os.path.join(BUNDLE, "golden.json")

pytestmark = pytest.mark.skipif(
    not os.path.isfile(GOLDEN),
    reason="android_demo_assets/golden.json not generated yet (run scripts/make_bundle.py)")


@pytest.fixture(scope="module")
def golden():
    with open(GOLDEN) as f:
        return json.load(f)


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_bundle_files(golden):
    model = os.path.join(BUNDLE, golden["model"])
    assert _sha(model) == golden["model_sha256"]
    with open(os.path.join(BUNDLE, golden["metadata"])) as f:
        meta = json.load(f)
    assert meta["tflite_sha256"] == golden["model_sha256"] and meta["mode"] == "int8"
    assert [meta["input"]["height"], meta["input"]["width"]] == golden["input_hw"]
    assert os.path.isfile(os.path.join(BUNDLE, "README.md"))
    assert len(golden["samples"]) >= 1


def test_runtime_reproduces_golden(golden):
    runner = edge.LiteRunner(os.path.join(BUNDLE, golden["model"]))
    assert list(runner.input_hw) == golden["input_hw"]
    tol = golden["tolerance"]["hc_mm"]
    for s in golden["samples"]:
        path = os.path.join(BUNDLE, "samples", s["filename"])
        assert _sha(path) == s["image_sha256"], s["filename"]
        gray = preprocess.read_gray_image(path)
        prob, box = edge.predict_prob(runner, gray)
        mask = np.ascontiguousarray(prob > golden["threshold"], dtype=np.uint8)
        assert hashlib.sha256(mask.tobytes()).hexdigest() == s["mask_sha256"], s["filename"]
        m, _ = edge.measure_file(runner, path, s["pixel_size_mm"])
        assert m.found == s["found"], s["filename"]
        if m.found:
            assert abs(m.hc_mm - s["hc_mm"]) <= tol, (s["filename"], m.hc_mm, s["hc_mm"])
            row = E.submission_row(s["filename"], m)
            for key, value in zip(E.SUBMISSION_HEADER[1:], row[1:]):
                assert value == pytest.approx(s["submission_row"][key], abs=1e-3), key
