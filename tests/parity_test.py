"""Tests of hc_tf.export.parity: Keras vs TFLite through the same measurement."""

import csv
import json
import math
import os

import numpy as np
import pytest

import tiny_models as T
from hc_tf import inference
from hc_tf import measure as M
from hc_tf.export import parity

PX = 0.2


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from hc_tf.export import export_lib as lite
    out = tmp_path_factory.mktemp("parity")
    model, keras_path = T.saved_blob_model(out)
    calib, _, _ = T.synthetic_images(6, seed=11)
    paths = {}
    for mode in ("int8", "float32"):
        paths[mode] = str(out / f"blob_{mode}.tflite")
        lite.export(model, paths[mode], mode, representative=calib)
    images, _, ells = T.synthetic_images(4, hw=(192, 288), seed=12)
    samples = []
    for i, (img, (cx, cy, a, b, deg)) in enumerate(zip(images, ells)):
        ref = M.Ellipse(cx, cy, a, b, math.radians(deg)).normalized()
        samples.append(inference.Sample(filename=f"{i:03d}_HC.png", image=img[:, :, 0],
                                       pixel_size_mm=PX, reference=ref,
                                       reference_hc_mm=ref.perimeter() * PX))
    samples.append(inference.Sample(filename="blank.png", image=np.zeros((192, 288), np.uint8),
                                   pixel_size_mm=PX))
    return {"keras": keras_path, "paths": paths, "samples": samples, "dir": out}


def test_int8_parity_writes_sane_report(setup):
    out_dir = str(setup["dir"] / "int8")
    s = parity.run_parity(setup["keras"], setup["paths"]["int8"], setup["samples"], out_dir)
    assert s["n"] == 5 and s["found_full"] == 4 and s["found_edge"] == 4 and s["found_disagree"] == 0
    assert s["n_hc_compared"] == 4 and s["n_adf_paired"] == 4
    assert s["dice_edge_vs_full_mean"] > 0.97
    assert 0 <= s["abs_hc_diff_mm_median"] <= s["abs_hc_diff_mm_max"] < 1.0
    assert 0 < s["max_abs_prob_diff"] < 4 / 256
    assert s["adf_full_mm_mean"] < 3.0 and s["adf_edge_mm_mean"] < 3.0
    assert s["adf_edge_minus_full_mm"] == pytest.approx(s["adf_edge_mm_mean"] - s["adf_full_mm_mean"])
    with open(os.path.join(out_dir, "parity_summary.json")) as f:
        assert json.load(f) == json.loads(json.dumps(s))
    with open(os.path.join(out_dir, "parity_per_image.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["filename"] for r in rows] == [x.filename for x in setup["samples"]]
    for key in ("dice_edge_vs_full", "hc_full_mm", "hc_edge_mm", "abs_hc_diff_mm",
                "adf_full_mm", "adf_edge_mm", "max_abs_prob_diff"):
        assert key in rows[0] and float(rows[0][key]) >= 0
    blank = rows[-1]
    assert blank["hc_full_mm"] == "" and blank["adf_edge_mm"] == ""
    assert float(blank["dice_edge_vs_full"]) == 1.0  # both empty
    assert not any(f.startswith(".tmp_") for f in os.listdir(out_dir))


def test_float32_parity_is_exact(setup):
    s = parity.run_parity(setup["keras"], setup["paths"]["float32"], setup["samples"],
                          str(setup["dir"] / "f32"))
    assert s["abs_hc_diff_mm_max"] < 1e-3 and s["dice_edge_vs_full_min"] == 1.0
    assert s["max_abs_prob_diff"] < 1e-5


def test_input_size_mismatch(setup):
    from hc_tf import edge

    class Other:
        input_hw = (32, 32)

    with pytest.raises(ValueError, match="input sizes differ"):
        parity.compare(Other(), edge.LiteRunner(setup["paths"]["int8"]), setup["samples"])


def test_a_miss_scores_the_challenge_adf_in_parity():
    """One definition of ADF: a model that misses an image scores
    ADF = reference HC there; the means over images both models found are beside it."""
    sample = inference.Sample("b.png", np.zeros((4, 4), np.uint8), 1.0, M.Ellipse(0, 0, 1, 1, 0),
                             200.0)
    assert parity._adf(M.Measurement(False, "empty mask", None, 1.0), sample) == 200.0
    circle = M.Measurement(True, "", M.Ellipse(0, 0, 199.0 / (2 * math.pi), 199.0 / (2 * math.pi),
                                               0), 1.0)
    assert parity._adf(circle, sample) == pytest.approx(1.0)

    def row(name, adf_full, adf_edge, found_edge):
        return {"filename": name, "dice_edge_vs_full": 0.9, "abs_hc_diff_mm": None,
                "max_abs_prob_diff": 0.1, "adf_full_mm": adf_full, "adf_edge_mm": adf_edge,
                "found_full": True, "found_edge": found_edge}

    s = parity.summarize([row("a.png", 1.0, 2.0, True), row("b.png", 1.0, 200.0, False)])
    assert s["n_adf_paired"] == 2
    assert (s["adf_full_mm_mean"], s["adf_edge_mm_mean"]) == pytest.approx((1.0, 101.0))
    assert s["n_adf_both_found"] == 1
    assert (s["adf_full_found_mm_mean"], s["adf_edge_found_mm_mean"]) == pytest.approx((1.0, 2.0))


def test_cli_parity_keeps_what_out_holds_unless_overwrite(setup, tmp_path):
    from click.testing import CliRunner
    from hc_tf import cli
    sample = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "sample_data")
    out = tmp_path / "parity"

    def run(*extra):
        return CliRunner().invoke(cli.main, ["parity", "--model", setup["keras"], "--tflite",
                                             setup["paths"]["int8"], "--data-dir", sample,
                                             "--limit", "1", "--out", str(out), "-q", *extra])
    first = run()
    assert first.exit_code == 0, first.output
    summary = json.loads((out / "parity_summary.json").read_text())
    assert summary["summary_json"] == str(out / "parity_summary.json") and summary["n"] == 1
    (out / "parity_summary.json").write_text("an earlier run's figures")
    again = run()  # was rewritten in place, whatever OUT held
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert (out / "parity_summary.json").read_text() == "an earlier run's figures"
    assert run("--overwrite").exit_code == 0
    assert json.loads((out / "parity_summary.json").read_text())["n"] == 1
    (out / "notes.txt").write_text("mine")
    assert run("--overwrite").exit_code == 1 and (out / "notes.txt").read_text() == "mine"
