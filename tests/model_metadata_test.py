"""The packaged model's metadata (hc_tf/models/hc_effunet_int8.json) against what
hc_tf.export.metadata writes today: its code-derived sections may not drift (TF-free)."""

import copy
import json
import os
import re

import numpy as np
import pytest

from hc_tf import preprocess
from hc_tf.export import metadata as M

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(REPO, "hc_tf", "models", "hc_effunet_int8.tflite")


@pytest.fixture(scope="module")
def packaged():
    with open(MODEL, "rb") as f:
        data = f.read()
    with open(M.metadata_path(MODEL), encoding="utf-8") as f:
        return json.load(f), data


def test_the_packaged_metadata_is_what_today_s_code_writes(packaged):
    """Fails when metadata.py changes a section and the packaged JSON is not refreshed
    (python -m hc_tf.export.metadata hc_tf/models/hc_effunet_int8.tflite)."""
    meta, data = packaged
    fresh = M.refresh(meta, data)
    for key in M.CODE_DERIVED:
        assert meta.get(key) == fresh[key], f"{key}: stale; run python -m hc_tf.export.metadata {MODEL}"
    assert meta == fresh


def test_refresh_rewrites_the_code_sections_and_keeps_the_recorded_facts(packaged):
    meta, data = packaged
    stale = copy.deepcopy(meta)
    stale["preprocessing"]["decode"] = "0.299 R + 0.587 G + 0.114 B"
    del stale["input_limits"]["contrast"], stale["licence"]
    stale["validation"]["file"] = "/root/hc-runs/cv5/cv_summary.json"
    stale["created_utc"] = "2000-01-01T00:00:00Z"
    out = M.refresh(stale, data)
    assert out["preprocessing"] == meta["preprocessing"] and out["licence"] == meta["licence"]
    assert out["input_limits"] == M.input_limits()
    assert out["validation"]["file"] == "cv_summary.json"
    for key in ("created_utc", "tflite_sha256", "calibration", "source_model_sha256", "model_version"):
        assert out[key] == stale[key], key
    assert out["validation"]["cross_validated"] == meta["validation"]["cross_validated"]
    with pytest.raises(ValueError, match="is not the metadata's tflite_sha256"):
        M.refresh(meta, data[:-1] + b"x")


def test_the_packaged_metadata_records_no_build_machine_path(packaged):
    meta, _ = packaged
    assert meta["validation"]["file"] == os.path.basename(meta["validation"]["file"])
    assert "/root" not in json.dumps(meta) and "hc-runs" not in json.dumps(meta)


def test_the_decode_rule_as_written_is_the_reference(packaged):
    """The metadata's gray rule, parsed from its words, gives preprocess's gray levels."""
    meta, _ = packaged
    text = meta["preprocessing"]["decode"]
    r, g, b, bias, shift = map(int, re.search(
        r"\((\d+) R \+ (\d+) G \+ (\d+) B \+ (\d+)\) >> (\d+)", text).groups())
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = rgb.astype(np.int64)
    ours = (r * x[..., 0] + g * x[..., 1] + b * x[..., 2] + bias) >> shift
    np.testing.assert_array_equal(ours, preprocess.to_gray_uint8(rgb))


def test_runtime_requirements_and_licence(packaged):
    meta, _ = packaged
    req = meta["runtime_requirements"]
    assert req["min_runtime_version"] == "2.5.0" and req["signature_defs"] == []
    assert "Interpreter API" in req["api"]
    assert "Apache-2.0" in meta["licence"]["model"] and "CC BY 4.0" in meta["licence"]["training_data"]
    assert os.path.isfile(os.path.join(REPO, "LICENSE"))
