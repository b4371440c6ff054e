"""Evaluation plumbing on fixtures with known ellipses: numbers checked, not just files."""

import csv
import json

import numpy as np

from hc_tf import ellipse as ellipse_lib
from hc_tf import evaluate as evaluate_lib
from hc_tf import preprocess


class OracleRunner:
    """Returns the letterboxed reference mask: a perfect model, so ADF ~ 0 and Dice ~ 1."""

    input_hw = (96, 128)

    def __init__(self, masks):
        self.masks = iter(masks)

    def predict(self, inputs):
        return np.stack([next(self.masks) for _ in range(len(inputs))])


def _samples():
    out = []
    for k in range(3):
        shape = (270, 400)
        e = ellipse_lib.Ellipse(200 + 5 * k, 130, 90 - 10 * k, 70 - 10 * k, 0.3 * k)
        image = (ellipse_lib.rasterize_ellipse(e, shape, filled=False) * 200).astype(np.uint8)
        out.append(evaluate_lib.Sample(f"{k:03d}_HC.png", image, 0.2, e, e.perimeter() * 0.2))
    return out


def test_evaluate_with_a_perfect_model_scores_near_zero_adf(tmp_path):
    samples = _samples()
    masks = []
    for s in samples:
        box = preprocess.letterbox_transform(s.image.shape, OracleRunner.input_hw)
        full = ellipse_lib.rasterize_ellipse(s.reference, s.image.shape)
        masks.append(preprocess.letterbox_mask(full, box)[:, :, 0])
    summary = evaluate_lib.evaluate(OracleRunner(masks), samples, str(tmp_path))
    assert summary["n"] == 3 and summary["not_found"] == 0
    assert summary["adf_mm_mean"] < 0.5 and summary["dice_mean"] > 0.97
    with open(tmp_path / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["filename"] for r in rows] == ["000_HC.png", "001_HC.png", "002_HC.png"]
    assert json.loads((tmp_path / "summary.json").read_text())["n"] == 3
    assert (tmp_path / "evaluation.png").stat().st_size > 1000


def test_a_model_that_finds_nothing_is_reported_not_found(tmp_path):
    samples = _samples()
    empty = [np.zeros(OracleRunner.input_hw, np.float32)] * 3
    summary = evaluate_lib.evaluate(OracleRunner(empty), samples, str(tmp_path))
    assert summary["not_found"] == 3 and summary["dice_mean"] == 0.0
    assert summary["adf_mm_mean"] is None
