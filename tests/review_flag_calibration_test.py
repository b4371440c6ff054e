"""benchmarks/review_flag_calibration.py on out-of-fold predictions (a crafted collect CSV)."""

import csv

import numpy as np

from hc_tf.surfaces import interval_predictions

from tests.scripts import load_script


def _load():
    return load_script("benchmarks/review_flag_calibration.py")


def _write_predictions(path, n=60, bad=(3, 17, 41)):
    """n heads, the `bad` ones 8 mm off with a low inlier fraction; the rest 1 mm off."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=interval_predictions.COLUMNS)
        w.writeheader()
        for i in range(n):
            w.writerow({"filename": f"{i:03d}_HC.png", "subject": f"{i:03d}",
                        "reference_hc_mm": 200.0, "predicted_hc_mm": 208.0 if i in bad else 201.0,
                        "fit_rms_frac": 0.01, "inlier_fraction": 0.5 if i in bad else 0.95 + i * 1e-4,
                        "mask_ellipse_dice": 0.99, "uncertain_band_fraction": 0.05,
                        "outside_fraction": 0.0, "soft_dice_conf": 0.97, "model_pixel_mm": 0.5})


def test_out_of_fold_rows_carry_the_error_and_signals(tmp_path):
    flag = _load()
    path = tmp_path / "oof.csv"
    _write_predictions(path)
    rows = flag.rows_from_predictions(str(path))
    assert len(rows) == 60 and all(r["found"] for r in rows)
    assert rows[3]["abs_error_mm"] == 8.0 and rows[0]["abs_error_mm"] == 1.0
    assert rows[3]["inlier_fraction"] == 0.5


def test_the_search_on_out_of_fold_rows_catches_the_crafted_errors(tmp_path):
    flag = _load()
    path = tmp_path / "oof.csv"
    _write_predictions(path)
    rows = flag.rows_from_predictions(str(path))
    rule, big = flag.search(rows)
    flagged = flag.flags_for(rows, rule)
    assert int(big.sum()) == 3
    assert int((flagged & big).sum()) == 3 and flagged.mean() <= flag.MAX_FLAGGED
    assert np.flatnonzero(flagged & big).tolist() == [3, 17, 41]


def test_the_released_model_is_refused_on_the_validation_split_it_trained_on(
        tmp_path, monkeypatch, sample_data_dir):
    """Its errors there are training errors: the flag would be calibrated on them. Refused before
    anything runs or is written; --predictions (out-of-fold) is the released model's route."""
    import sys

    import pytest

    from hc_tf import models
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["review_flag_calibration.py", "--model",
                                      models.released_edge_model(), "--data-dir",
                                      sample_data_dir, "--out", str(out)])
    with pytest.raises(SystemExit) as refused:
        _load().main()
    assert "released model trained on the validation split" in str(refused.value.code)
    assert not out.exists()
