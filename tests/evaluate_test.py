"""Evaluation plumbing on fixtures with known ellipses: numbers checked, not just files."""

import csv
import json

import numpy as np
import pytest

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
    summary = evaluate_lib.evaluate(OracleRunner(_oracle_masks(samples)), samples, str(tmp_path))
    assert summary["n"] == 3 and summary["not_found"] == 0
    assert summary["adf_mm_mean"] < 0.5 and summary["dice_mean"] > 0.97
    with open(tmp_path / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["filename"] for r in rows] == ["000_HC.png", "001_HC.png", "002_HC.png"]
    assert json.loads((tmp_path / "summary.json").read_text())["n"] == 3
    assert (tmp_path / "evaluation.png").stat().st_size > 1000


def _oracle_masks(samples):
    masks = []
    for s in samples:
        box = preprocess.letterbox_transform(s.image.shape, OracleRunner.input_hw)
        full = ellipse_lib.rasterize_ellipse(s.reference, s.image.shape)
        masks.append(preprocess.letterbox_mask(full, box)[:, :, 0])
    return masks


def test_a_model_that_finds_nothing_scores_the_challenge_adf(tmp_path):
    """HC18 scores a not-found image as HC 0: ADF = reference HC (issue 12, item 11)."""
    samples = _samples()
    empty = [np.zeros(OracleRunner.input_hw, np.float32)] * 3
    summary = evaluate_lib.evaluate(OracleRunner(empty), samples, str(tmp_path))
    refs = [s.reference_hc_mm for s in samples]
    assert summary["not_found"] == 3 and summary["dice_mean"] == 0.0
    assert summary["adf_mm_mean"] == pytest.approx(np.mean(refs))
    assert summary["df_mm_mean"] == pytest.approx(-np.mean(refs))
    assert summary["adf_found_mm_mean"] is None and summary["hd_mm_mean"] is None
    with open(tmp_path / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["adf_mm"]) for r in rows] == pytest.approx(refs, abs=1e-4)
    assert all(r["predicted_hc_mm"] == "" and r["found"] == "False" for r in rows)


def test_one_miss_counts_in_the_adf_and_not_in_the_adf_over_found_images(tmp_path):
    samples = _samples()
    masks = _oracle_masks(samples)
    masks[2] = np.zeros(OracleRunner.input_hw, np.float32)
    summary = evaluate_lib.evaluate(OracleRunner(masks), samples, str(tmp_path))
    rows = {r["filename"]: r for r in csv.DictReader(open(tmp_path / "per_image.csv"))}
    found_adfs = [float(rows[s.filename]["adf_mm"]) for s in samples[:2]]
    assert summary["not_found"] == 1
    assert summary["adf_found_mm_mean"] == pytest.approx(np.mean(found_adfs), abs=1e-4)
    assert summary["adf_mm_mean"] == pytest.approx(
        (sum(found_adfs) + samples[2].reference_hc_mm) / 3, abs=1e-4)
    assert summary["adf_mm_max"] == pytest.approx(samples[2].reference_hc_mm)
