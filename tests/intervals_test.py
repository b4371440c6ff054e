"""Calibrated HC intervals (hc_tf.clinical.intervals, interval_table) and their fitting
(hc_tf.surfaces.calibrate_intervals, interval_predictions, interval_fitting)."""

import dataclasses
import json
import math
import os
import re

import numpy as np
import pytest

from hc_tf import clinical
from hc_tf.clinical import interval_table
from hc_tf.clinical import intervals

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script():
    from hc_tf.surfaces import calibrate_intervals
    return calibrate_intervals


def _fitting():
    from hc_tf.surfaces import interval_fitting
    return interval_fitting


def _predictions():
    from hc_tf.surfaces import interval_predictions
    return interval_predictions


def _synthetic(n, rng):
    """Heteroscedastic problem with known noise: error SD grows past 160 mm."""
    hc = rng.uniform(60.0, 340.0, n)
    sd = 0.8 + 1.5 * np.maximum(0.0, hc - 160.0) / 100.0
    ref = hc + rng.normal(0.0, sd)
    return hc, ref, sd


def _cols(hc, ref):
    n = len(hc)
    cols = {"filename": np.array([f"{i:03d}_HC.png" for i in range(n)]),
            "subject": np.array([f"{i:03d}" for i in range(n)]),
            "reference_hc_mm": ref, "predicted_hc_mm": hc}
    for k in ("fit_rms_frac", "uncertain_band_fraction", "outside_fraction"):
        cols[k] = np.full(n, 0.01)
    cols["inlier_fraction"] = np.full(n, 0.9)
    cols["mask_ellipse_dice"] = np.full(n, 0.99)
    return cols


def test_subject_of_keeps_a_uid_named_file_whole():
    ci = _predictions()
    assert ci.subject_of("a/010_2HC.png") == "010"
    assert ci.subject_of("scan.png") == "scan"
    assert ci.subject_of("1.2.840.113619.2.498.101") != ci.subject_of("1.2.840.113619.2.498.102")
    # A DICOM file's frames are one subject, as they are one exam (exams.exam_of_name).
    assert ci.subject_of("scan.dcm#3") == ci.subject_of("scan.dcm#1") == "scan"
    assert ci.subject_of("1.2.840.113619.2.498.101#2") == "1.2.840.113619.2.498.101"


def test_conformal_table_covers_a_synthetic_problem_with_known_noise():
    pytest.importorskip("crepes")
    pytest.importorskip("scipy")
    fitting = _fitting()
    rng = np.random.default_rng(0)
    hc, ref, _ = _synthetic(400, rng)
    table = fitting.fit_table(_cols(hc, ref), np.arange(400), ("one", "hc_over_160mm"), "test")
    # fresh data from the same problem: coverage near nominal, overall and for large heads
    hc2, ref2, sd2 = _synthetic(20000, rng)
    for level in (0.80, 0.90, 0.95):
        half = np.array([table.half_width_mm(h, None, level) for h in hc2])
        cover = np.abs(ref2 - hc2) <= half
        assert cover.mean() == pytest.approx(level, abs=0.03), level
        assert cover[hc2 > 260].mean() == pytest.approx(level, abs=0.05), level
    # the difficulty follows the known noise: a 300 mm head gets a wider interval
    assert table.half_width_mm(300.0, None) > 1.8 * table.half_width_mm(100.0, None)


def test_a_bpd_table_is_fitted_on_the_bpds_errors_binned_by_the_measured_hc():
    """`fit --quantity bpd`: the BPD's residuals, whatever the HC's (exact here), with the HC's
    features and bins; a CSV without BPD columns is refused in words."""
    pytest.importorskip("crepes")
    fitting = _fitting()
    rng = np.random.default_rng(2)
    hc, _, _ = _synthetic(600, rng)
    cols = _cols(hc, hc.copy())  # the HC without error
    bpd = hc / 3.4
    cols["predicted_bpd_mm"] = bpd
    cols["reference_bpd_mm"] = bpd + rng.normal(0.0, np.where(hc > 260, 1.5, 0.5))
    table = fitting.fit_table(cols, np.arange(600), ("one",), "test", fitting.BANDS_MM, "bpd")
    assert table.half_width_mm(300.0, None) > 2 * table.half_width_mm(150.0, None)
    assert table.half_width_mm(150.0, None) == pytest.approx(1.96 * 0.5, rel=0.3)
    rep = fitting.report(cols, fitting.cross_fit(cols, ("one",), "test", fitting.BANDS_MM, "bpd"), "bpd")
    assert 0.9 <= rep["levels"]["0.95"]["coverage"] <= 0.99
    with pytest.raises(ValueError, match="reference_ofd_mm"):
        fitting.fit_table(cols, np.arange(600), ("one",), "test", None, "ofd")


def test_the_cephalic_index_table_is_fitted_on_the_ratios_errors():
    """`fit --quantity ci`: the residual is the reference's 100 BPD / OFD minus the
    prediction's (no column of its own), with the HC's features and bins; a CSV without the
    axes is refused naming them."""
    pytest.importorskip("crepes")
    fitting = _fitting()
    rng = np.random.default_rng(3)
    hc, _, _ = _synthetic(600, rng)
    cols = _cols(hc, hc.copy())
    cols["predicted_bpd_mm"], cols["predicted_ofd_mm"] = hc / 3.4, hc / 2.6
    cols["reference_bpd_mm"] = cols["predicted_bpd_mm"] * (1 + rng.normal(0.0, 0.02, 600))
    cols["reference_ofd_mm"] = cols["predicted_ofd_mm"].copy()
    want = 100 * cols["reference_bpd_mm"] / cols["reference_ofd_mm"] - 100 * 2.6 / 3.4
    np.testing.assert_allclose(fitting.residuals(cols, "ci"), want)
    table = fitting.fit_table(cols, np.arange(600), ("one",), "test", None, "ci")
    # |error| of a 2% BPD error on an index of 76.5: 95% within about 1.96 x 1.53 points
    assert table.half_width_mm(150.0, None) == pytest.approx(1.96 * 0.02 * 100 * 2.6 / 3.4, rel=0.2)
    # the corrected BPD likewise: sqrt(BPD x OFD / 1.265) of each
    np.testing.assert_allclose(fitting.residuals(cols, "cbpd"), np.sqrt(
        cols["reference_bpd_mm"] * cols["reference_ofd_mm"] / 1.265) - np.sqrt(
        cols["predicted_bpd_mm"] * cols["predicted_ofd_mm"] / 1.265))
    del cols["reference_ofd_mm"]
    with pytest.raises(ValueError, match="reference_ofd_mm"):
        fitting.residuals(cols, "ci")


def test_the_rule_picks_the_narrowest_candidate_covering_every_band_at_every_level():
    """`--choose rule`: candidates with a band under a level less 0.02 (0.93 at 95%, 0.78 at
    80%) are out, then the smallest median half-width at 95%; none covering is refused in
    words."""
    fitting = _fitting()

    def rep(median, *bands, at80=(0.80, 0.80)):
        return {"levels": {
            "0.95": {"median_half_width_mm": median, "bands": {
                str(i): {"coverage": c} for i, c in enumerate(bands)}},
            "0.80": {"median_half_width_mm": median / 2, "bands": {
                str(i): {"coverage": c} for i, c in enumerate(at80)}}}}

    reports = {"narrow, a band short": rep(1.0, 0.95, 0.92), "wide": rep(3.0, 0.96, 0.97),
               "middle": rep(2.0, 0.93, 0.99),
               "narrower, short at 80%": rep(1.5, 0.95, 0.95, at80=(0.85, 0.759))}
    assert fitting.by_rule(reports) == "middle"
    reports["narrower, short at 80%"] = rep(1.5, 0.95, 0.95, at80=(0.85, 0.78))
    assert fitting.by_rule(reports) == "narrower, short at 80%"
    with pytest.raises(ValueError, match="choose one by name"):
        fitting.by_rule({"short": rep(1.0, 0.5)})


def test_cross_fit_report_has_every_level_and_band():
    pytest.importorskip("crepes")
    fitting = _fitting()
    rng = np.random.default_rng(1)
    hc, ref, _ = _synthetic(300, rng)
    cols = _cols(hc, ref)
    rep = fitting.report(cols, fitting.cross_fit(cols, ("one", "hc_over_160mm"), "test"))
    assert set(rep["levels"]) == {"0.80", "0.90", "0.95"}
    r95 = rep["levels"]["0.95"]
    assert set(r95["bands"]) == {"<120", "120-200", "200-260", ">260"}
    assert 0.9 <= r95["coverage"] <= 0.99


def test_package_table_loads_and_applies_by_hand_arithmetic():
    t = interval_table.load_table()
    assert t.n_calibration == 896 and set(t.quantiles) == {"0.80", "0.90", "0.95"}
    raw = json.load(open(interval_table.TABLE_PATH))
    hc, mpx = 290.9, 0.5  # a model pixel of 0.5 mm: inside the calibration range
    q95 = raw["quantiles"]["0.95"]
    if "bin_edges_mm" in raw:  # Mondrian: the quantile of the measured HC's bin
        q95 = raw["bin_quantiles"][sum(hc >= e for e in raw["bin_edges_mm"])]["0.95"]
    signals = {"fit_rms_frac": 0.012, "inlier_fraction": 0.9, "mask_ellipse_dice": 0.992,
               "uncertain_band_fraction": 0.3, "outside_fraction": 0.0}  # a typical head
    x = [interval_table.FEATURES[n](hc, {**signals, "model_pixel_mm": mpx}) for n in raw["feature_names"]]
    floors = raw.get("feature_floors") or [0.0] * len(x)
    x = [min(max(v, lo), c) for v, lo, c in zip(x, floors, raw["feature_caps"])]
    sigma = max(raw["min_sigma_mm"], sum(c * v for c, v in zip(raw["coefficients"], x)))
    iv = intervals.hc_interval(hc, signals, model_pixel_mm=mpx)
    assert iv.half_width_mm == pytest.approx(q95 * sigma, rel=1e-12)
    assert iv.lower_mm == pytest.approx(hc - iv.half_width_mm)
    assert iv.display() == f"95%: {hc - iv.half_width_mm:.1f}-{hc + iv.half_width_mm:.1f}"
    # wider at higher levels
    assert (intervals.hc_interval(hc, signals, 0.80, model_pixel_mm=mpx).half_width_mm
            < intervals.hc_interval(hc, signals, 0.90, model_pixel_mm=mpx).half_width_mm
            < iv.half_width_mm)


def test_mondrian_table_covers_each_head_size_bin_where_one_quantile_does_not():
    """Noise that jumps between bins and that no feature sees (difficulty constant): one pooled
    quantile under-covers the noisy bin and over-covers the quiet one; per-bin quantiles fix it."""
    pytest.importorskip("crepes")
    fitting = _fitting()
    rng = np.random.default_rng(3)

    def draw(n):
        hc = rng.uniform(60.0, 340.0, n)
        sd = np.where(hc < 120.0, 0.7, np.where(hc >= 260.0, 3.0, 1.5))
        return hc, hc + rng.normal(0.0, sd)

    hc, ref = draw(1500)
    edges = fitting.BANDS_MM
    pooled = fitting.fit_table(_cols(hc, ref), np.arange(1500), ("one",), "pooled")
    banded = fitting.fit_table(_cols(hc, ref), np.arange(1500), ("one",), "banded", edges)
    assert banded.bin_edges_mm == edges and len(banded.bin_quantiles) == len(edges) + 1
    hc2, ref2 = draw(40000)
    for table, ok in ((pooled, False), (banded, True)):
        half = np.array([table.half_width_mm(h, None) for h in hc2])
        cover = np.abs(ref2 - hc2) <= half
        per_bin = [cover[(hc2 >= lo) & (hc2 < hi)].mean()
                   for lo, hi in zip((0.0,) + edges, edges + (1e9,))]
        assert all(abs(c - 0.95) < 0.02 for c in per_bin) == ok, (table.method, per_bin)
    # the JSON round trip keeps the bins; the bin of an HC on an edge is the upper one
    again = interval_table.table_from_dict(json.loads(json.dumps(banded.to_dict())))
    assert again == banded
    assert again.quantile(0.95, 200.0) == banded.bin_quantiles[2]["0.95"]
    assert again.quantile(0.95, 199.99) == banded.bin_quantiles[1]["0.95"]
    with pytest.raises(ValueError, match="needs the measured HC"):
        again.quantile(0.95)


def test_a_mondrian_table_with_inconsistent_bins_is_refused_in_words():
    d = interval_table.load_table().to_dict()
    d.update(bin_edges_mm=[120.0, 200.0], bin_quantiles=[{"0.95": 2.0}] * 3)
    with pytest.raises(ValueError, match="t.json: Mondrian bins need ascending edges"):
        interval_table.table_from_dict(d, "t.json")
    d.update(bin_edges_mm=[200.0, 120.0],
             bin_quantiles=[{"0.80": 1.0, "0.90": 1.5, "0.95": 2.0}] * 3)
    with pytest.raises(ValueError, match="Mondrian bins"):
        interval_table.table_from_dict(d, "t.json")


def test_missing_signal_counts_as_the_cap_and_unknown_level_is_refused():
    t = interval_table.IntervalTable("t", ("one", "fit_rms_frac"), (1.0, 10.0), 0.2,
                                     {"0.95": 2.0}, 10, (1.0, 0.05))
    assert t.sigma_mm(150.0, {"fit_rms_frac": 0.01}) == pytest.approx(1.1)
    assert t.sigma_mm(150.0, {"fit_rms_frac": None}) == pytest.approx(1.5)  # the cap
    assert t.sigma_mm(150.0, {"fit_rms_frac": float("nan")}) == pytest.approx(1.5)
    assert t.sigma_mm(150.0, clinical.QualitySignals(fit_rms_frac=0.9)) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="no interval fitted at level 0.5"):
        t.half_width_mm(150.0, {}, 0.5)


def test_bad_table_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="t.json: not an"):
        interval_table.load_table(str(bad))
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="t.json: cannot read"):
        interval_table.load_table(str(bad))


def _bad_tables():
    good = interval_table.load_table().to_dict()
    nan = float("nan")
    return {
        "a list": ([1, 2, 3], "a JSON list, not an"),
        "a key missing": ({k: v for k, v in good.items() if k != "min_sigma_mm"},
                          "missing min_sigma_mm"),
        "no 0.95 level": ({**good, "quantiles": {"0.80": 1.5}, "bin_quantiles": [{"0.80": 1.5}] * 4},
                          r"quantiles has no level 0.95 \(has \['0.80'\]\)"),
        "a NaN coefficient": ({**good, "coefficients": [nan] * 6}, r"coefficients\[0\] is nan"),
        "a NaN quantile": ({**good, "quantiles": {**good["quantiles"], "0.95": nan}},
                           r"quantiles\['0.95'\] is nan, not a finite positive number"),
        "a text cap": ({**good, "feature_caps": ["1"] * 6}, r"feature_caps\[0\] is '1'"),
        "a NaN bin quantile": ({**good, "bin_quantiles": [{**q, "0.95": nan}
                                                          for q in good["bin_quantiles"]]},
                               r"bin_quantiles\[0\]\['0.95'\] is nan"),
        "a bin that is not an object": ({**good, "bin_quantiles": [1.0] * 4},
                                        r"bin_quantiles\[0\] is float"),
        "a zero sigma floor": ({**good, "min_sigma_mm": 0}, "min_sigma_mm is 0, not a finite positive"),
        "names not a list": ({**good, "feature_names": "one"}, "feature_names is not a list"),
    }


@pytest.mark.parametrize("case", sorted(_bad_tables()))
def test_a_bad_table_beside_a_model_is_one_value_error_naming_the_file(case, tmp_path):
    """Not a KeyError or AttributeError traceback (through `hc-tf predict` too), not a table
    that fails later without the file, not a NaN that silently gives the narrowest interval."""
    from hc_tf import inference

    body, problem = _bad_tables()[case]
    model = tmp_path / "mine.tflite"
    model.write_bytes(b"x")
    table = tmp_path / "mine.interval_table.json"
    table.write_text(json.dumps(body))
    with pytest.raises(ValueError, match=f"^{re.escape(str(table))}: {problem}"):
        inference.interval_table_for(str(model))


def test_an_undecodable_table_names_the_file(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ValueError, match=f"^{re.escape(str(bad))}: cannot read the interval table"):
        interval_table.load_table(str(bad))


def test_ga_interval_combines_measurement_and_formula_spread():
    typical = {"fit_rms_frac": 0.012, "inlier_fraction": 0.9, "mask_ellipse_dice": 0.992,
               "uncertain_band_fraction": 0.3}
    iv = intervals.hc_interval(250.0, typical, model_pixel_mm=0.4)
    g = intervals.ga_interval(iv, clinical.GaMethod.HADLOCK_1984)
    lo = clinical.ga_from_hc(iv.lower_mm).ga_days
    hi = clinical.ga_from_hc(iv.upper_mm).ga_days
    f_half = clinical.ga_from_hc(250.0).uncertainty.plus_minus_days
    assert g.measurement_lower_days == pytest.approx(lo)
    assert g.formula_half_days == pytest.approx(f_half)
    half = math.hypot((hi - lo) / 2, f_half)
    assert g.combined_upper_days - g.ga_days == pytest.approx(half)
    assert g.combined_lower_days < lo and g.combined_upper_days > hi
    # INTERGROWTH publishes no per-estimate spread: no combined interval, only the measurement's
    gi = intervals.ga_interval(intervals.hc_interval(180.0, None), "intergrowth21_hc_2016")
    assert gi.formula_half_days is None and gi.combined_lower_days is None
    assert gi.measurement_lower_days is not None
    # ... which is shown as no interval: alone it claimed a precision the dating has not
    # (about +-2 days beside Hadlock's +-10)
    from hc_tf.report import records
    assert records._ga_interval_text(gi) == "none: the formula publishes no spread"
    assert records._ga_interval_text(g).endswith("weeks (measurement and formula)")
    # A GA in range whose HC interval reaches past the formula's span has no interval: said so,
    # not "out of range" beside a GA shown in range
    past = intervals.ga_interval(intervals.hc_interval(352.0, {"model_pixel_mm": 0.6}),
                                 clinical.GaMethod.HADLOCK_1984)
    assert past.ga_days is not None and past.measurement_upper_days is None
    assert records._ga_interval_text(past) == records.BEYOND_FORMULA


def test_check_applies_the_package_table_without_refitting(tmp_path, capsys):
    fitting, predictions = _fitting(), _predictions()
    rng = np.random.default_rng(2)
    hc, ref, _ = _synthetic(50, rng)
    cols = _cols(hc, ref)
    path = tmp_path / "p.csv"
    with open(path, "w") as f:
        f.write(",".join(predictions.COLUMNS) + "\n")
        for i in range(50):
            f.write(",".join(str(cols[k][i]) if k in cols else "" for k in predictions.COLUMNS) + "\n")
    rep = fitting.check(str(path), interval_table.TABLE_PATH)
    t = interval_table.load_table()
    half = np.array([t.half_width_mm(h, {k: cols[k][i] for k in predictions.SIGNAL_COLUMNS})
                     for i, h in enumerate(hc)])
    assert rep["levels"]["0.95"]["coverage"] == pytest.approx(np.mean(np.abs(ref - hc) <= half))
    assert "no refit" in capsys.readouterr().out


def test_feature_floors_clip_and_a_table_without_them_still_loads():
    t = interval_table.IntervalTable("t", ("model_pixel_mm",), (4.0,), 0.2, {"0.95": 2.0}, 10,
                                     (0.8,), feature_floors=(0.15,))
    assert t.sigma_mm(150.0, {"model_pixel_mm": 0.5}) == pytest.approx(2.0)
    assert t.sigma_mm(150.0, {"model_pixel_mm": 0.05}) == pytest.approx(0.6)  # the floor 0.15
    assert t.sigma_mm(150.0, {"model_pixel_mm": 3.0}) == pytest.approx(3.2)  # the cap 0.8
    assert t.sigma_mm(150.0, {}) == pytest.approx(3.2)  # unknown: the cap
    assert interval_table.table_from_dict(t.to_dict()) == t
    # the table before floors and model pixels (the first fit) loads and applies as before
    old = {"format": interval_table.TABLE_FORMAT, "method": "m", "feature_names": ["one", "hc_over_160mm"],
           "coefficients": [1.45, 0.5726], "feature_caps": [1.0, 1.7243], "min_sigma_mm": 0.2,
           "n_calibration": 185, "quantiles": {"0.95": 2.862}, "source": ""}
    t_old = interval_table.table_from_dict(old)
    assert t_old.feature_floors is None and "feature_floors" not in t_old.to_dict()
    assert t_old.sigma_mm(260.0, {}) == pytest.approx(1.45 + 0.5726 * 1.0)
    with pytest.raises(ValueError, match="differ in length"):
        interval_table.table_from_dict({**old, "feature_floors": [0.0]})


def test_model_pixel_mm_is_pixel_size_times_letterbox_ratio_and_feeds_the_interval():
    from hc_tf import measure as M
    from hc_tf import preprocess
    box = preprocess.letterbox_transform((600, 1000), (224, 320))  # not HC18's 800x540
    prob = np.zeros((224, 320), np.float32)
    yy, xx = np.mgrid[0:224, 0:320]
    prob[((xx - 160) / 90.0) ** 2 + ((yy - 112) / 70.0) ** 2 <= 1.0] = 1.0
    m = M.measure(prob, box, 0.12)
    assert m.found
    assert m.original_px_per_model_px == 1.0 / min(box.scale_x, box.scale_y)
    assert m.model_pixel_mm == 0.12 * (1.0 / min(box.scale_x, box.scale_y))
    assert m.to_dict()["model_pixel_mm"] == m.model_pixel_mm
    want = intervals.hc_interval(m.hc_mm, m.quality, model_pixel_mm=m.model_pixel_mm)
    assert m.hc_interval() == want
    t = interval_table.load_table()
    if "model_pixel_mm" in t.feature_names:  # the package's table uses it: unknown is wider
        assert intervals.hc_interval(m.hc_mm, m.quality).half_width_mm > want.half_width_mm
    # a measurement made without its letterbox known has no model pixel size
    bare = M.Measurement(found=True, reason="", ellipse=m.ellipse, pixel_size_mm=0.12)
    assert bare.model_pixel_mm is None


def test_conformal_table_on_model_pixel_covers_noise_constant_in_model_pixels():
    """Known noise: SD 2 model pixels (in mm: 2 x the model-pixel size); the table on
    `model_pixel_mm` alone covers at each level, in the finest and the coarsest quarter."""
    pytest.importorskip("crepes")
    pytest.importorskip("scipy")
    fitting = _fitting()
    rng = np.random.default_rng(3)

    def draw(n):
        mpx = rng.uniform(0.14, 0.8, n)
        hc = rng.uniform(60.0, 340.0, n)
        return hc, hc + rng.normal(0.0, 2.0 * mpx), mpx

    hc, ref, mpx = draw(400)
    cols = {**_cols(hc, ref), "model_pixel_mm": mpx}
    table = fitting.fit_table(cols, np.arange(400), ("model_pixel_mm",), "test")
    hc2, ref2, mpx2 = draw(20000)
    for level in (0.80, 0.90, 0.95):
        half = np.array([table.half_width_mm(h, {"model_pixel_mm": v}, level)
                         for h, v in zip(hc2, mpx2)])
        cover = np.abs(ref2 - hc2) <= half
        assert cover.mean() == pytest.approx(level, abs=0.03), level
        for quarter in (mpx2 < 0.305, mpx2 > 0.635):
            assert cover[quarter].mean() == pytest.approx(level, abs=0.04), level
    assert table.half_width_mm(200.0, {"model_pixel_mm": 0.7}) > 3.0 * table.half_width_mm(
        200.0, {"model_pixel_mm": 0.2})


def test_collect_over_cv_folds_predicts_each_image_with_its_own_folds_model(sample_data_dir, tmp_path):
    # Folds 1 and 3 "trained" (the released model stands in for both): their held-out images
    # come back once each, measured by that fold's model; the other folds' images do not.
    import shutil

    from hc_tf import models
    from hc_tf.train import data as data_lib

    fitting, predictions = _fitting(), _predictions()
    work = tmp_path / "cv"
    for k in (1, 3):
        (work / f"fold{k}").mkdir(parents=True)
        shutil.copy(models.released_edge_model(), work / f"fold{k}" / "model_int8.tflite")
    out = str(tmp_path / "oof.csv")
    predictions.collect("", sample_data_dir, out, cv_work=str(work))
    cols = predictions.read_predictions(out)
    folds = data_lib.fold_of_images(sample_data_dir, 5)
    held_out = sorted(n for n, k in folds.items() if k in (1, 3))
    assert sorted(cols["filename"]) == held_out
    assert np.all(np.isfinite(cols["model_pixel_mm"]))
    # BPD and OFD against the annotation ellipse's axes: each head's, the OFD the longer.
    for axis in ("bpd", "ofd"):
        assert np.all(np.abs(fitting.residuals(cols, axis)) < 10.0), axis
    assert np.all(cols["reference_ofd_mm"] > cols["reference_bpd_mm"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty: no fold\\*/model.keras"):
        predictions.collect("", sample_data_dir, out, cv_work=str(empty), cv_tier="keras")


def test_an_interval_belongs_to_the_model_it_was_calibrated_on(tmp_path):
    # The package's table: the released int8 model and the .keras it came from (by sha256, as
    # released); any other model gets no interval but a reason, unless a table lies beside it.
    import shutil

    from hc_tf import inference
    from hc_tf import models

    assert inference.interval_table_for(models.released_edge_model()) == (None, "")
    runner = inference.load_runner(models.released_edge_model())  # hashed once, at its check
    assert runner.sha256 in models.released_sha256s()
    assert (runner.interval_table, runner.interval_note) == (None, "")
    keras_path = os.path.join(ROOT, "export", "hc_effunet.keras")
    assert inference.interval_table_for(keras_path) == (None, "")
    table, note = inference.interval_table_for(keras_path, flip_tta=True)
    assert table is None and "with --flip-tta" in note
    other = tmp_path / "mine.tflite"
    other.write_bytes(open(models.released_edge_model(), "rb").read() + b"\0")
    table, note = inference.interval_table_for(str(other))
    assert table is None
    assert note.startswith("no calibrated HC interval for mine.tflite") and "mine.interval_table.json" in note
    shutil.copy(interval_table.TABLE_PATH, tmp_path / "mine.interval_table.json")
    table, note = inference.interval_table_for(str(other))
    assert note == "" and table == interval_table.load_table(interval_table.TABLE_PATH)
    (tmp_path / "mine.interval_table.json").write_text("{}")
    with pytest.raises(ValueError, match="mine.interval_table.json"):
        inference.interval_table_for(str(other))


def test_a_measurement_without_calibration_says_so_everywhere_instead_of_a_number():
    from hc_tf.measure import overlay
    from hc_tf.measure.geometry import Ellipse
    from hc_tf.measure.result import Measurement
    from hc_tf.report import exams, records

    note = "no calibrated HC interval for mine.tflite: ..."
    m = Measurement(True, "", Ellipse(400.0, 270.0, 200.0, 150.0, 0.3), 0.2, interval_note=note)
    assert m.hc_interval() is None and m.to_dict()["interval_note"] == note
    rec = records.image_record("x.png", m)
    assert rec["hc_interval"] == {"note": note} and rec["ga_interval"] == {}
    row = records.csv_row(rec)
    assert row["hc_lower_95_mm"] is None and row["hc_interval_method"] is None
    assert "no calibrated interval" in overlay.overlay_lines(m)[0][0]
    exam = exams.exam_record("001", [rec, rec])
    assert exam["hc_mean_mm"] == pytest.approx(m.hc_mm) and exam["hc_mean_lower_95_mm"] is None
    assert exam["disagree"] is None and exam["disagree_reason"].startswith("not assessed")
    calibrated = Measurement(True, "", Ellipse(400.0, 270.0, 200.0, 150.0, 0.3), 0.2)
    assert calibrated.hc_interval() is not None  # the package's table, as before


def test_bpd_and_ofd_intervals_are_the_released_models_by_their_own_tables():
    """BPD's, OFD's and the corrected BPD's intervals: their own tables' half-widths at the
    head's HC and signals, centred on the value, by hand arithmetic, and report.csv's ends; a
    model with its own HC table (or none) gets none
    but a note, and a head beyond a table's calibration a note naming the feature."""
    from hc_tf.measure.geometry import Ellipse
    from hc_tf.measure.result import Measurement
    from hc_tf.report import records

    quality = clinical.QualitySignals(fit_rms_frac=0.01, inlier_fraction=0.98,
                                      mask_ellipse_dice=0.99, uncertain_band_fraction=0.3)
    m = Measurement(True, "", Ellipse(400.0, 270.0, 200.0, 150.0, 0.3), 0.2, quality,
                    original_px_per_model_px=2.5)
    rec = records.image_record("x.png", m)
    row = records.csv_row(rec)
    for q, name in (("bpd", "bpd"), ("ofd", "ofd"), ("cbpd", "corrected_bpd")):
        t = interval_table.load_table(interval_table.AXIS_TABLE_PATHS[q])
        x = interval_table.feature_vector(m.hc_mm, {**dataclasses.asdict(quality),
                                                    "model_pixel_mm": 0.5}, t.feature_names)
        half = t.quantile(0.95, m.hc_mm) * t.sigma_from_features(x)
        value = rec["biometry"][f"{name}_mm"]
        iv = rec[f"{name}_interval"]
        assert (iv["lower_mm"], iv["upper_mm"]) == pytest.approx((value - half, value + half))
        assert iv["display"] == f"95%: {value - half:.1f}-{value + half:.1f}" and iv["method"] == t.method
        assert (row[f"{name}_lower_95_mm"], row[f"{name}_upper_95_mm"]) == (iv["lower_mm"], iv["upper_mm"])
    assert rec["biometry"]["corrected_bpd_mm"] == pytest.approx((300.0 * 400.0 / 1.265) ** 0.5 * 0.2)
    assert "corrected BPD" in rec["corrected_bpd_interval"]["method"]
    other = Measurement(True, "", m.ellipse, 0.2, quality, 2.5, interval_table=interval_table.load_table())
    assert records.image_record("x.png", other)["bpd_interval"] == {
        "note": "no calibrated BPD interval: the package's is calibrated on the released model's errors"}
    coarse = Measurement(True, "", m.ellipse, 0.2, quality, 100.0)  # a 20 mm model pixel
    assert records.image_record("x.png", coarse)["ofd_interval"]["note"].startswith(
        "no calibrated interval: model_pixel_mm 20.000 is above the calibrated range")
    assert records.image_record("x.png", Measurement(False, "no head", None, 0.2))["bpd_interval"] is None


def test_the_cephalic_index_has_its_own_interval_in_index_points():
    """The cephalic index's interval: its own table's half-width at the head's HC and signals,
    centred on the index (fields without "_mm": index points), by hand arithmetic; report.csv's
    two ends; a note beyond its calibration or with a model's own table; none without a head."""
    from hc_tf.measure.geometry import Ellipse
    from hc_tf.measure.result import Measurement
    from hc_tf.report import records

    quality = clinical.QualitySignals(fit_rms_frac=0.01, inlier_fraction=0.98,
                                      mask_ellipse_dice=0.99, uncertain_band_fraction=0.3)
    m = Measurement(True, "", Ellipse(400.0, 270.0, 200.0, 150.0, 0.3), 0.2, quality,
                    original_px_per_model_px=2.5)
    rec = records.image_record("x.png", m)
    t = interval_table.load_table(interval_table.AXIS_TABLE_PATHS["ci"])
    x = interval_table.feature_vector(m.hc_mm, {**dataclasses.asdict(quality),
                                                "model_pixel_mm": 0.5}, t.feature_names)
    half = t.quantile(0.95, m.hc_mm) * t.sigma_from_features(x)
    ci = rec["biometry"]["cephalic_index"]
    assert ci == pytest.approx(75.0)  # 100 x 150 / 200
    iv = rec["cephalic_index_interval"]
    assert list(iv) == ["value", "level", "lower", "upper", "half_width", "method", "display"]
    assert (iv["value"], iv["lower"], iv["upper"]) == pytest.approx((ci, ci - half, ci + half))
    assert iv["display"] == f"95%: {ci - half:.1f}-{ci + half:.1f}" and "cephalic index" in iv["method"]
    row = records.csv_row(rec)
    assert (row["cephalic_index_lower_95"], row["cephalic_index_upper_95"]) == (iv["lower"], iv["upper"])
    other = Measurement(True, "", m.ellipse, 0.2, quality, 2.5, interval_table=interval_table.load_table())
    assert records.image_record("x.png", other)["cephalic_index_interval"] == {
        "note": "no calibrated cephalic index interval: the package's is calibrated on the "
                "released model's errors"}
    coarse = Measurement(True, "", m.ellipse, 0.2, quality, 100.0)
    assert records.image_record("x.png", coarse)["cephalic_index_interval"]["note"].startswith(
        "no calibrated interval: model_pixel_mm 20.000 is above the calibrated range")
    none = records.image_record("x.png", Measurement(False, "no head", None, 0.2))
    assert none["cephalic_index_interval"] is None
    assert records.csv_row(none)["cephalic_index_lower_95"] is None


def test_a_centile_carries_the_centiles_of_its_hc_intervals_ends():
    """report.json's centile gets the interval the HC's calibrated interval spans at the GA
    from dating, report.csv its two ends; none where the HC has no interval."""
    from hc_tf.measure.geometry import Ellipse
    from hc_tf.measure.result import Measurement
    from hc_tf.report import records

    quality = clinical.QualitySignals(fit_rms_frac=0.01, inlier_fraction=0.98,
                                      mask_ellipse_dice=0.99, uncertain_band_fraction=0.3)
    m = Measurement(True, "", Ellipse(400.0, 270.0, 200.0, 150.0, 0.3), 0.2, quality,
                    original_px_per_model_px=2.5)  # HC 221 mm
    rec = records.image_record("x.png", m, known_ga_weeks=24.0)
    iv, c = rec["hc_interval"], rec["centile"]
    lo, hi = clinical.hc_centile(iv["lower_mm"], 24.0), clinical.hc_centile(iv["upper_mm"], 24.0)
    assert c["interval"] == {"level": 0.95, "lower_centile": lo.centile, "upper_centile": hi.centile,
                             "z_lower": lo.z, "z_upper": hi.z,
                             "display": f"95%: {lo.centile:.1f} to {hi.centile:.1f}"}
    assert lo.centile < c["centile"] < hi.centile
    row = records.csv_row(rec)
    assert (row["hc_centile_lower_95"], row["hc_centile_upper_95"]) == (lo.centile, hi.centile)
    assert set(row) == set(records.REPORT_FIELDS)
    uncalibrated = Measurement(True, "", m.ellipse, 0.2, quality, 2.5, interval_note="no table")
    assert records.image_record("x.png", uncalibrated, 24.0)["centile"]["interval"] is None
    assert records.image_record("x.png", m, 41.0)["centile"]["interval"] is None


def test_the_ga_from_bpd_carries_its_bpd_intervals_spread_and_the_formulas():
    """GA from BPD, as GA from HC: its GA at the BPD interval's ends (Hadlock 1984, BPD) and the
    formula's 2 SD, combined by root sum of squares; report.json ga_bpd_interval, report.csv its
    two ends; none when the BPD has no interval or an end is beyond the formula's range."""
    from hc_tf.clinical import biometry
    from hc_tf.measure.geometry import Ellipse
    from hc_tf.measure.result import Measurement
    from hc_tf.report import records

    g = intervals.bpd_ga_interval(80.0, 78.3, 81.7)
    mid, lo, hi = (biometry.ga_from_bpd(b) for b in (80.0, 78.3, 81.7))
    half = math.hypot((hi.ga_days - lo.ga_days) / 2, mid.plus_minus_days)
    assert (g.method, g.measurement_lower_days, g.measurement_upper_days, g.formula_kind) == (
        "hadlock_1984_bpd", lo.ga_days, hi.ga_days, "2 SD")
    assert (g.combined_lower_days, g.combined_upper_days) == (mid.ga_days - half, mid.ga_days + half)
    edge = intervals.bpd_ga_interval(20.0, 18.0, 22.0)  # below 14 weeks at its lower end
    assert edge.combined_lower_days is None and edge.measurement_lower_days is None
    quality = clinical.QualitySignals(fit_rms_frac=0.01, inlier_fraction=0.98,
                                      mask_ellipse_dice=0.99, uncertain_band_fraction=0.3)
    m = Measurement(True, "", Ellipse(400.0, 270.0, 200.0, 150.0, 0.3), 0.2, quality,
                    original_px_per_model_px=2.5)
    rec = records.image_record("x.png", m)
    b = rec["bpd_interval"]
    want = intervals.bpd_ga_interval(b["value_mm"], b["lower_mm"], b["upper_mm"])
    got = rec["ga_bpd_interval"]
    assert got["combined_lower_days"] == want.combined_lower_days and got["formula_kind"] == "2 SD"
    assert got["measurement_part"] == f"BPD {b['display']} through Hadlock 1984 (BPD)"
    assert got["display"].endswith("weeks (measurement and formula)")
    row = records.csv_row(rec)
    assert (row["ga_bpd_lower_days"], row["ga_bpd_upper_days"]) == (want.combined_lower_days,
                                                                    want.combined_upper_days)
    other = Measurement(True, "", m.ellipse, 0.2, quality, 2.5,
                        interval_table=interval_table.load_table())
    assert records.image_record("x.png", other)["ga_bpd_interval"] is None  # no BPD interval


def test_a_note_just_past_the_cap_reads_two_different_numbers():
    """3 of HC18's test images read "model_pixel_mm 0.871 is above the calibrated range (up to
    0.871)": the note now takes the decimals it needs to tell the two apart."""
    t = interval_table.load_table(interval_table.AXIS_TABLE_PATHS["bpd"])
    cap = t.domain_caps["model_pixel_mm"]
    note = intervals.beyond_calibration(150.0, {}, t, model_pixel_mm=cap + 2e-5)
    got = re.search(r"model_pixel_mm (\S+) is above the calibrated range \(up to (\S+)\)", note)
    assert got and got.group(1) != got.group(2) and len(got.group(1)) == len(got.group(2)) > 5, note
    note = intervals.beyond_calibration(150.0, {}, t, model_pixel_mm=cap * 2)
    assert f"{cap * 2:.3f} is above the calibrated range (up to {cap:.3f})" in note


@pytest.mark.parametrize("quantity", sorted(interval_table.AXIS_TABLE_PATHS))
def test_every_axis_table_bounds_its_signals_whether_or_not_it_weighs_them(quantity):
    """Refitted on 546 images, the BPD's, the cephalic index's and the corrected BPD's tables
    chose difficulties without the model pixel or the quality signals, and an image drawn twice
    as coarse as any calibration image, or fitted worse, got a 95% interval nothing measured:
    each table now keeps the largest model pixel and signals its calibration saw (`domain_caps`,
    of the collected rows) and gives a note beyond them, as the HC's does for those it weighs."""
    t = interval_table.load_table(interval_table.AXIS_TABLE_PATHS[quantity])
    cap = t.domain_caps["model_pixel_mm"]
    assert 0.3 < cap < 2.0, cap
    quality = {"fit_rms_frac": 0.01, "inlier_fraction": 0.98, "mask_ellipse_dice": 0.99,
               "uncertain_band_fraction": 0.3}
    assert intervals.beyond_calibration(180.0, quality, t, model_pixel_mm=cap * 0.99) == ""
    # said once, also where the table weighs the model pixel too (OFD's)
    assert intervals.beyond_calibration(180.0, quality, t, model_pixel_mm=cap * 1.5) == (
        f"no calibrated interval: model_pixel_mm {cap * 1.5:.3f} is above the calibrated range "
        f"(up to {cap:.3f})")
    # and a fit worse than any calibration image's, whether or not the difficulty weighs it
    worse = intervals.beyond_calibration(180.0, {**quality, "mask_ellipse_dice": 0.5}, t,
                                         model_pixel_mm=cap * 0.99)
    assert worse.startswith("no calibrated interval: one_minus_mask_ellipse_dice 0.500 is above")


def test_a_signal_the_hc_table_lists_but_does_not_weigh_still_bounds_it():
    """The HC table lists every quality signal and weighs some (fit_rms_frac and the uncertain
    band at 0): one above the largest its 896 calibration images showed gives a note too, as
    the axis tables' `domain_caps` do."""
    t = interval_table.load_table()
    unweighted = [n for n, c in zip(t.feature_names, t.coefficients)
                  if c == 0.0 and n in interval_table.DOMAIN_FEATURES]
    if not unweighted:
        pytest.skip("the package's HC table weighs every signal it lists")
    quality = {"fit_rms_frac": 0.01, "inlier_fraction": 0.98, "mask_ellipse_dice": 0.99,
               "uncertain_band_fraction": 0.3}
    assert intervals.beyond_calibration(180.0, quality, t, model_pixel_mm=0.5) == ""
    raw = [n for n in unweighted if n in quality]  # not a one_minus_* feature
    assert raw, unweighted
    for name in raw:
        cap = t.feature_caps[t.feature_names.index(name)]
        beyond = {**quality, name: (cap + 1.0) / 2}  # past the cap, still a fraction
        note = intervals.beyond_calibration(180.0, beyond, t, model_pixel_mm=0.5)
        assert note.startswith(f"no calibrated interval: {name} "), (name, note)


def test_domain_caps_are_the_largest_model_pixel_fitted_on_and_checked_when_read():
    """fit_table records the largest model pixel (and signal) of the rows it fits (a missing
    one is no value); a table file whose domain_caps names another feature or holds no number
    is refused in words."""
    from hc_tf.surfaces import interval_fitting

    rows = {"filename": np.array(["a", "b", "c"]), "predicted_hc_mm": np.full(3, 150.0),
            "model_pixel_mm": np.array([0.2, 0.6, np.nan])}
    caps = interval_fitting.domain_caps(rows)
    assert caps == {"model_pixel_mm": 0.6}
    assert interval_fitting.domain_caps({**rows, "model_pixel_mm": np.full(3, np.nan)}) is None
    d = interval_table.load_table(interval_table.AXIS_TABLE_PATHS["ci"]).to_dict()
    for bad, words in (({"skull_mm": 1.0}, "not an object of model_pixel_mm"),
                       ({"model_pixel_mm": "wide"}, "domain_caps['model_pixel_mm'] is 'wide'")):
        with pytest.raises(ValueError, match=re.escape(words)):
            interval_table.table_from_dict({**d, "domain_caps": bad}, "t.json")
    old = dict(d)
    del old["domain_caps"]  # an older table: read, bounded by the caps of the features it lists
    assert interval_table.table_from_dict(old).to_dict() == old


def test_an_image_beyond_the_calibrated_range_gets_a_note_not_a_capped_interval():
    """A model pixel coarser than any calibration image's (e.g. a 1024-wide frame at 0.3 mm)
    was capped to the largest seen, giving an interval whose coverage nothing measured, without
    a word: now no interval, and the note says which feature and the range, everywhere a record
    goes. Just inside the range the interval is given as before."""
    from hc_tf.measure.geometry import Ellipse
    from hc_tf.measure.result import Measurement
    from hc_tf.report import records

    t = interval_table.load_table()
    if "model_pixel_mm" not in t.feature_names:
        pytest.skip("the package's table does not use the model pixel")
    cap = t.feature_caps[t.feature_names.index("model_pixel_mm")]
    quality = clinical.QualitySignals(fit_rms_frac=0.01, inlier_fraction=0.98,
                                      mask_ellipse_dice=0.99, uncertain_band_fraction=0.3)

    def head(model_px_mm):
        return Measurement(True, "", Ellipse(400.0, 270.0, 200.0, 150.0, 0.3), 0.3, quality,
                           original_px_per_model_px=model_px_mm / 0.3)

    inside, beyond = head(cap * 0.99), head(cap * 1.05)
    assert inside.hc_interval() is not None and inside.no_interval_reason == ""
    assert beyond.hc_interval() is None
    note = (f"no calibrated interval: model_pixel_mm {cap * 1.05:.3f} is above the calibrated "
            f"range (up to {cap:.3f})")
    assert beyond.no_interval_reason == note and beyond.to_dict()["interval_note"] == note
    rec = records.image_record("x.png", beyond)
    assert rec["hc_interval"] == {"note": note} and rec["ga_interval"] == {}
    assert records.csv_row(rec)["hc_lower_95_mm"] is None
    # the arithmetic alone still caps (the table's definition); the refusal is the measurement's
    assert intervals.beyond_calibration(beyond.hc_mm, quality, model_pixel_mm=cap * 1.05) == note
    # a quality signal beyond its range counts too; both named, in the table's order
    worse = dict(dataclasses.asdict(quality), mask_ellipse_dice=0.5)
    two = intervals.beyond_calibration(250.0, worse, model_pixel_mm=cap * 1.05)
    assert two.startswith(note + "; one_minus_mask_ellipse_dice 0.500 is above"), two


def test_the_released_model_is_not_calibrated_on_the_validation_split_it_trained_on(
        sample_data_dir, tmp_path):
    """The released model trained on every labelled image: `collect` on the validation split
    with it (the --model default) is refused before anything runs, and `fit` writes only a
    table it is told to, never the package's by default."""
    from hc_tf import models
    predictions, script = _predictions(), _script()
    out = tmp_path / "val.csv"
    with pytest.raises(ValueError, match="released model trained on the validation split"):
        predictions.collect(models.released_edge_model(), sample_data_dir, str(out))
    assert not out.exists()
    with pytest.raises(SystemExit) as usage:
        script.main(["fit", "--predictions", str(out), "--report", str(tmp_path / "r.json")])
    assert usage.value.code == 2


def test_the_docs_claim_no_default_table_for_fit():
    """fit's --table is required (9417cfb): the module's usage and the model card, written while
    it defaulted to the package's table, said it still did."""
    import os
    import re
    script = _script()
    with pytest.raises(SystemExit):
        script.main(["fit", "--predictions", "p.csv", "--report", "r.json"])
    card = open(os.path.join(os.path.dirname(__file__), "..", "export", "README.md"),
                encoding="utf-8").read()
    for name, text in (("calibrate_intervals", script.__doc__), ("export/README.md", card)):
        flat = re.sub(r"\s+", " ", text)
        assert not re.search(r"default `?--table`?", flat), name


def _banded_cols(per_bin, rng):
    """Predictions with `per_bin` rows in each head-size bin (<120, 120-200, 200-260, >260)."""
    spans = ((60.0, 119.0), (121.0, 199.0), (201.0, 259.0), (261.0, 340.0))
    hc = np.concatenate([rng.uniform(lo, hi, n) for (lo, hi), n in zip(spans, per_bin)])
    return _cols(hc, hc + rng.normal(0.0, 1.5, len(hc)))


@pytest.mark.parametrize("per_bin, short", [((35, 104, 17, 29), r"bin 2 \(200 <= HC < 260 mm\): 17 rows"),
                                            ((35, 104, 0, 29), r"bin 2 \(200 <= HC < 260 mm\): 0 rows")])
def test_a_mondrian_bin_too_small_for_95_percent_is_refused_at_fit_time(per_bin, short, tmp_path):
    """A validation-sized set (bins 35/104/17/29): crepes gives the 17-row bin an infinite 95%
    quantile (an empty bin: 0, zero-width intervals); `fit` refuses it, naming the bin, its
    count and the minimum, before writing a table a model would refuse only when loaded."""
    pytest.importorskip("crepes")
    fitting, predictions = _fitting(), _predictions()
    assert [fitting.min_bin_rows(lv) for lv in (0.80, 0.90, 0.95)] == [5, 10, 19]
    cols = _banded_cols(per_bin, np.random.default_rng(5))
    name = "standard, by HC band"
    with pytest.raises(ValueError, match=short + ".*at least 19|at least 19.*" + short):
        fitting.fit_table(cols, np.arange(sum(per_bin)), ("one",), name, fitting.BANDS_MM)
    path, table = tmp_path / "p.csv", tmp_path / "t.json"
    with open(path, "w") as f:
        f.write(",".join(predictions.COLUMNS) + "\n")
        for i in range(sum(per_bin)):
            f.write(",".join(str(cols[k][i]) if k in cols else "" for k in predictions.COLUMNS)
                    + "\n")
    with pytest.raises(SystemExit, match="--choose"):
        _script().main(["fit", "--predictions", str(path), "--table", str(table), "--report",
                        str(tmp_path / "r.json"), "--choose", name])
    assert not table.exists()


def test_the_cross_fit_report_counts_an_infinite_or_zero_width_interval_uncovered():
    """A cross-fit whose training folds leave a bin under 19 rows gives its rows an infinite 95%
    half-width (was: counted covered); an empty bin a zero one. Both count uncovered, and how
    many is said."""
    fitting = _fitting()
    rng = np.random.default_rng(6)
    hc, ref, _ = _synthetic(40, rng)
    cols = _cols(hc, ref)
    half = {lv: np.full(40, 100.0) for lv in fitting.LEVELS}
    half[0.95][:10] = np.inf
    half[0.95][10:15] = 0.0
    rep = fitting.report(cols, half)
    assert rep["levels"]["0.95"]["coverage"] == pytest.approx(25 / 40)
    assert rep["levels"]["0.95"]["n_no_interval"] == 15
    assert rep["levels"]["0.80"]["coverage"] == 1.0 and rep["levels"]["0.80"]["n_no_interval"] == 0
    # ... and the report file stays JSON: an infinite width is written null, not Infinity
    half[0.95][:] = np.inf
    safe = fitting._json_safe(fitting.report(cols, half))
    assert safe["levels"]["0.95"]["p90_half_width_mm"] is None
    json.loads(json.dumps(safe, allow_nan=False))


def test_band_coverage_carries_its_clopper_pearson_interval(capsys):
    """Each band's coverage is printed and reported with its exact binomial 95% interval (the
    card's 200-260 mm band, 65 of 67: 0.896-0.996), appended after the figures that were there."""
    fitting = _fitting()
    stats = pytest.importorskip("scipy.stats")
    for x, n in ((65, 67), (850, 896), (0, 12), (12, 12), (3, 7)):
        want = (stats.beta.ppf(0.025, x, n - x + 1) if x else 0.0,
                stats.beta.ppf(0.975, x + 1, n - x) if x < n else 1.0)
        assert fitting.clopper_pearson(x, n) == pytest.approx(want, abs=1e-9)
    rng = np.random.default_rng(7)
    hc, ref, _ = _synthetic(60, rng)
    cols = _cols(hc, ref)
    half = {lv: np.where(np.arange(60) % 10 == 0, 0.0, 100.0) for lv in fitting.LEVELS}
    rep = fitting.report(cols, half)
    fitting.print_report("t", rep)
    out = capsys.readouterr().out
    for b, v in rep["levels"]["0.95"]["bands"].items():
        covered = round(v["coverage"] * v["n"])
        assert v["coverage_ci95"] == pytest.approx(list(fitting.clopper_pearson(covered, v["n"])))
        lo, hi = v["coverage_ci95"]
        assert (f"{b}: {v['coverage']:.3f} (n={v['n']}, med {v['median_half_width_mm']:.2f}, "
                f"95% CI {lo:.3f}-{hi:.3f})") in out
    assert "rows without a finite, non-zero interval" in out


def test_collect_from_an_hc18_folder_with_the_released_model_notes_in_sample_images(
        tmp_path, monkeypatch, capsys):
    """`collect --hc18-folder` with the released model on HC18's own files says, as `hc-tf
    evaluate` does, how many it trained on: a `check` of those is in-sample."""
    import shutil

    import hc_tf
    from hc_tf import models
    from hc_tf.models import training_images
    predictions = _predictions()
    copy = tmp_path / "hc18"
    shutil.copytree(hc_tf.SAMPLE_DIR, copy)
    labelled = sorted(p for p in (copy / "training_set").glob("*.png")
                      if not p.name.endswith("_Annotation.png"))
    trained = {training_images.digest(str(p)) for p in labelled[:2]}
    monkeypatch.setattr(training_images, "released_digests", lambda: frozenset(trained))
    monkeypatch.setattr(predictions, "_rows", lambda runner, samples: [])
    from hc_tf import inference
    monkeypatch.setattr(inference, "load_runner", lambda path: None)
    predictions.collect(models.released_edge_model(), "", str(tmp_path / "o.csv"),
                        hc18_folder=str(copy))
    err = capsys.readouterr().err
    assert (f"trained on 2 of the {len(labelled)} labelled images in {copy}" in err
            and "the coverage figures `check` reports on these predictions are in-sample" in err)
    monkeypatch.setattr(training_images, "released_digests", lambda: frozenset())
    predictions.collect(models.released_edge_model(), "", str(tmp_path / "o.csv"),
                        hc18_folder=str(copy))
    assert "in-sample" not in capsys.readouterr().err
