"""hc_tf/surfaces/cv_report.py on a tiny synthetic set of fold evaluations."""

import json
import os

import numpy as np
import pytest

from hc_tf.io import tables
from hc_tf.surfaces import cv_report
from hc_tf.surfaces.evaluate import PER_IMAGE_FIELDS


def _rows(fold: int, n: int, adf: float):
    """n images of fold `fold`, one per band in turn, every ADF `adf` except a miss in fold 1."""
    refs = [100.0, 150.0, 230.0, 300.0]
    rows = []
    for i in range(n):
        ref = refs[i % 4]
        missed = fold == 1 and i == 0
        rows.append({"filename": f"{fold}{i:02d}_HC.png", "reference_hc_mm": ref,
                     "predicted_hc_mm": 0.0 if missed else ref + adf, "found": not missed,
                     "df_mm": -ref if missed else adf, "adf_mm": ref if missed else adf,
                     "dice": 0.0 if missed else 0.98, "hd_mm": None if missed else 1.0 + fold})
    return rows


def _write(work, tier, fold, rows):
    folder = os.path.join(work, f"fold{fold}", tier)
    os.makedirs(folder)
    tables.write_rows_csv(os.path.join(folder, "per_image.csv"), rows, PER_IMAGE_FIELDS)


def test_pooled_per_fold_and_band_figures_with_the_spread(tmp_path):
    work = str(tmp_path)
    by_fold = {0: _rows(0, 8, 1.0), 1: _rows(1, 8, 2.0), 2: _rows(2, 4, 3.0)}
    for k, rows in by_fold.items():
        _write(work, "int8", k, rows)
        _write(work, "keras", k, [dict(r, adf_mm=r["adf_mm"] / 2, predicted_hc_mm=(
            r["predicted_hc_mm"] - r["df_mm"] / 2 if r["found"] else 0.0)) for r in rows])
    table = cv_report.report(work)
    summary = json.load(open(os.path.join(work, "cv_summary.json")))
    int8 = summary["int8"]
    # Pooled over all 20 images: the miss counts its reference HC (100 mm), as HC18 scores it.
    expected = np.mean([1.0] * 8 + [100.0] + [2.0] * 7 + [3.0] * 4)
    assert int8["all"]["n"] == 20 and int8["all"]["adf_mm_mean"] == pytest.approx(expected)
    assert int8["all"]["not_found"] == 1 and int8["all"]["dice_mean"] == pytest.approx(19 * 0.98 / 20)
    # HD over found heads only: fold 0 -> 1, fold 1 -> 2 (7 found), fold 2 -> 3.
    assert int8["all"]["hd_mm_mean"] == pytest.approx((8 * 1 + 7 * 2 + 4 * 3) / 19)
    fold_adfs = [1.0, (100.0 + 7 * 2.0) / 8, 3.0]
    assert [int8["per_fold"][str(k)]["adf_mm_mean"] for k in range(3)] == pytest.approx(fold_adfs)
    assert int8["across_folds"]["adf_mm_mean"]["sd"] == pytest.approx(np.std(fold_adfs, ddof=1))
    assert int8["bands"][">260"]["n"] == 5 and int8["bands"][">260"]["adf_mm_mean"] == pytest.approx(
        np.mean([1.0, 1.0, 2.0, 2.0, 3.0]))
    assert int8["bands"]["<120"]["adf_mm_across_folds"]["max"] == pytest.approx((100.0 + 2.0) / 2)
    assert summary["keras"]["bands"]["120-200"]["adf_mm_mean"] == pytest.approx(np.mean(
        [0.5, 0.5, 1.0, 1.0, 1.5]))
    # The quantization gap: |dHC| = ADF / 2 per found image (0.5 x 8, 1.0 x 7, 1.5 x 4).
    gap = summary["parity_int8_vs_keras"]
    assert gap["n"] == 19 and gap["median_abs_dhc_mm"] == pytest.approx(1.0)
    assert gap["max_abs_dhc_mm"] == pytest.approx(1.5) and gap["over_1_5_mm"] == 0
    assert gap["adf_gap_mm"] == pytest.approx(expected / 2)
    assert "int8 vs Keras over 19 images: median |dHC| 1.000 mm" in table
    assert "| >260 mm (5) |" in table and "| 2 | 4 |" in table
    assert open(os.path.join(work, "cv_table.md")).read() == table


def test_an_image_in_two_folds_is_refused(tmp_path):
    rows = _rows(0, 4, 1.0)
    with pytest.raises(ValueError, match="two folds"):
        cv_report.aggregate({0: rows, 1: rows})


def test_a_folder_without_evaluations_is_one_line(tmp_path, capsys):
    assert cv_report.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no fold*" in err and len(err.splitlines()) == 1


def test_a_csv_that_is_not_an_evaluation_names_the_file(tmp_path):
    folder = tmp_path / "fold0" / "int8"
    folder.mkdir(parents=True)
    (folder / "per_image.csv").write_text("filename,hc\nx.png,1\n")
    with pytest.raises(ValueError, match="per_image.csv: not an evaluate per_image.csv"):
        cv_report.report(str(tmp_path))


def test_a_lever_is_judged_image_by_image_against_its_baseline(tmp_path, capsys):
    base, lever = str(tmp_path / "base"), str(tmp_path / "lever")
    for k in (0, 1):
        rows = _rows(k, 8, 2.0)
        _write(base, "int8", k, rows)
        # The lever halves every error over 260 mm and leaves the rest; fold 1's miss stays a miss.
        _write(lever, "int8", k, [dict(r, adf_mm=r["adf_mm"] / 2) if r["reference_hc_mm"] > 260
                                  else r for r in rows])
    _write(base, "keras", 0, _rows(0, 8, 2.0))  # a tier only the baseline has is left out
    assert cv_report.main([lever, "--baseline", base]) == 0
    out = capsys.readouterr().out
    cmp = json.load(open(os.path.join(lever, "cv_summary.json")))["against_baseline"]
    assert list(cmp) == ["int8"]
    both = cmp["int8"]
    assert both["n"] == 16 and both["folds"] == [0, 1]
    assert both["diff_mm"] == pytest.approx(-1.0 * 4 / 16)  # 4 heads over 260 mm, each -1 mm
    assert both["better"] == 4 and both["worse"] == 0
    big = both["bands"][">260"]
    assert big["diff_mm"] == pytest.approx(-1.0) and big["ci95_mm"] == pytest.approx([-1.0, -1.0])
    assert both["bands"]["<120"]["diff_mm"] == 0.0 and both["bands"]["<120"]["better"] == 0
    lo, hi = both["ci95_mm"]
    assert lo < both["diff_mm"] < hi <= 0.0  # subjects resampled: the interval has a width
    assert "| int8, >260 mm | 4 | 2.00 | 1.00 | -1.00 (-1.00 to -1.00) | 4 / 0 |" in out


def test_the_bootstrap_resamples_subjects_not_images():
    # Two subjects: one with three images all -3 mm, one with a single image at +3 mm. Drawn by
    # subject, a resample is 001 twice (-3), 002 twice (+3) or both (-1.5), each end with
    # probability 1/4, so the 95% interval is exactly -3 to +3. Drawn by image, +3 needs all four
    # draws on the one image (1/256): the upper end would stay below +3.
    diff = np.array([-3.0, -3.0, -3.0, 3.0])
    lo, hi = cv_report._boot_ci(diff, ["001", "001", "001", "002"], n_boot=400, seed=1)
    assert lo == pytest.approx(-3.0) and hi == pytest.approx(3.0)
    lo, hi = cv_report._boot_ci(diff, ["001", "002", "003", "004"], n_boot=400, seed=1)
    assert hi < 3.0


def test_a_baseline_with_other_folds_is_refused(tmp_path):
    base, lever = str(tmp_path / "base"), str(tmp_path / "lever")
    _write(base, "int8", 0, _rows(0, 4, 1.0))
    _write(lever, "int8", 1, [dict(r, filename=r["filename"].replace("1", "0", 1))
                               for r in _rows(1, 4, 1.0)])
    with pytest.raises(ValueError, match="held out by fold 1 here and fold 0 in the baseline"):
        cv_report.report(lever, base)
    _write(str(tmp_path / "other"), "int8", 2, _rows(2, 4, 1.0))
    with pytest.raises(ValueError, match="share no image"):
        cv_report.report(lever, str(tmp_path / "other"))


def test_the_signed_errors_agreement_of_two_runs(tmp_path, capsys):
    # The baseline errs by +-1 and +-3 mm in turn; the lever, a "rerun", errs the same plus
    # +-0.5 mm uncorrelated with it, so its errors share most of the baseline's.
    base, lever = str(tmp_path / "base"), str(tmp_path / "lever")
    err = np.array([1.0, -1.0, 3.0, -3.0] * 4)
    wobble = np.array([0.5, 0.5, -0.5, -0.5, -0.5, -0.5, 0.5, 0.5] * 2)
    for work, e in ((base, err), (lever, err + wobble)):
        rows = _rows(0, 16, 0.0)
        _write(work, "keras", 0, [dict(r, predicted_hc_mm=r["reference_hc_mm"] + d, df_mm=d,
                                       adf_mm=abs(d)) for r, d in zip(rows, e)])
    assert cv_report.main([lever, "--baseline", base]) == 0
    agree = json.load(open(os.path.join(lever, "cv_summary.json")))["against_baseline"]["keras"][
        "signed_error_agreement"]
    sd = np.sqrt(5.0)  # of +-1, +-3 in equal shares
    assert agree["n"] == 16 and agree["sd_mm"] == pytest.approx(sd)
    assert agree["r"] == pytest.approx(sd / np.sqrt(5.0 + 0.25))  # wobble uncorrelated with err
    assert agree["run_to_run_sd_mm"] == pytest.approx(0.5 / np.sqrt(2))
    assert agree["median_abs_mm"] == pytest.approx(2.0) and agree["median_abs_diff_mm"] == 0.5
    assert "keras: correlation of signed errors 0.98 (of their ranks" in capsys.readouterr().out
    # One image failed outright by the second model sways r but not the ranks' correlation.
    rng = np.random.default_rng(0)
    base_err = rng.normal(0.0, 2.0, 200)
    other_err = base_err + rng.normal(0.0, 0.3, 200)
    other_err[np.argmin(base_err)] = 60.0  # the most negative error becomes a huge positive
    one_failure = cv_report.error_agreement(base_err, other_err)
    assert one_failure["r"] < 0.6 and one_failure["rho"] > 0.95
    # Identical errors everywhere (no spread): no correlation is made up.
    same = cv_report.paired({0: _rows(0, 8, 2.0)}, {0: _rows(0, 8, 2.0)})
    assert "signed_error_agreement" not in same


def test_bpd_and_ofd_errors_are_pooled_when_the_evaluations_carry_them(tmp_path):
    """Folds evaluated with BPD and OFD errors get their mean |error| pooled, by band and in
    the table; an older per_image.csv without them still reads, with None."""
    work = str(tmp_path)
    for k in (0, 1):
        rows = _rows(k, 4, 1.0)
        for i, r in enumerate(rows):
            r.update(bpd_df_mm=(-0.5 if i % 2 else 0.5) * (k + 1) if r["found"] else None,
                     ofd_df_mm=1.0 * (k + 1) if r["found"] else None)
        _write(work, "int8", k, rows)
    table = cv_report.report(work)
    int8 = json.load(open(os.path.join(work, "cv_summary.json")))["int8"]
    # fold 0: |BPD| 0.5 x 4, OFD 1 x 4; fold 1: a miss, then |BPD| 1.0 x 3, OFD 2 x 3.
    assert int8["all"]["bpd_adf_mm_mean"] == pytest.approx((4 * 0.5 + 3 * 1.0) / 7)
    assert int8["all"]["ofd_adf_mm_mean"] == pytest.approx((4 * 1.0 + 3 * 2.0) / 7)
    assert int8["bands"]["<120"]["bpd_adf_mm_mean"] == pytest.approx(0.5)  # fold 1's is the miss
    assert "BPD / OFD mean |error|" in table and "int8 all 0.71 / 1.43" in table
    old = tmp_path / "old" / "fold0" / "int8"  # written before evaluate had the columns
    old.mkdir(parents=True)
    tables.write_rows_csv(str(old / "per_image.csv"), _rows(0, 4, 1.0),
                          [f for f in PER_IMAGE_FIELDS if "bpd" not in f and "ofd" not in f])
    old = str(tmp_path / "old")
    assert "BPD" not in cv_report.report(old)
    assert json.load(open(os.path.join(old, "cv_summary.json")))["int8"]["all"]["bpd_adf_mm_mean"] is None
