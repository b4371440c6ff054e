"""Evaluation plumbing on fixtures with known ellipses: numbers checked, not just files."""

import csv
import json
import os

import numpy as np
import pytest

from hc_tf.surfaces import evaluate as evaluate_lib
from hc_tf.surfaces import evaluate_summary
from hc_tf.surfaces import hc18_folder
from hc_tf import inference
from hc_tf import measure as measure_lib
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
        e = measure_lib.Ellipse(200 + 5 * k, 130, 90 - 10 * k, 70 - 10 * k, 0.3 * k)
        image = (measure_lib.rasterize_ellipse(e, shape, filled=False) * 200).astype(np.uint8)
        out.append(inference.Sample(f"{k:03d}_HC.png", image, 0.2, e, e.perimeter() * 0.2))
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
        full = measure_lib.rasterize_ellipse(s.reference, s.image.shape)
        masks.append(preprocess.letterbox_mask(full, box)[:, :, 0])
    return masks


def test_a_model_that_finds_nothing_scores_the_challenge_adf(tmp_path):
    """HC18 scores a not-found image as HC 0: ADF = reference HC."""
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


# --- Bland-Altman, GA error per trimester, review-flag figures ---------------------

from hc_tf import clinical as C  # noqa: E402


def _row(ref, pred, review=False, reasons=""):
    """A per-image row as `score` makes it (found when pred is not None)."""
    found = pred is not None
    df, adf = measure_lib.challenge_difference_mm(pred, ref)
    return {"filename": f"{ref}.png", "reference_hc_mm": ref, "predicted_hc_mm": pred,
            "found": found, "df_mm": df, "adf_mm": adf, "dice": None, "hd_mm": None,
            "review": review if found else None, "review_reasons": reasons,
            "reference_trimester": evaluate_summary.reference_trimester(ref),
            "ga_error_days": evaluate_summary.ga_error_days(pred, ref)}


def test_bland_altman_mean_difference_and_limits_in_mm_and_percent():
    rows = [_row(100.0, 101.0), _row(100.0, 99.0), _row(200.0, 203.0), _row(200.0, 197.0),
            _row(150.0, None)]  # a miss has no pair: left out
    ba = evaluate_summary.bland_altman([r for r in rows if r["found"]])
    sd = np.sqrt((1 + 1 + 9 + 9) / 3)  # sample SD of [1, -1, 3, -3]
    assert ba["n"] == 4 and ba["mean_diff_mm"] == pytest.approx(0.0)
    assert ba["sd_diff_mm"] == pytest.approx(sd)
    assert (ba["loa_low_mm"], ba["loa_high_mm"]) == pytest.approx((-1.96 * sd, 1.96 * sd))
    pct = [100 * 1 / 100.5, -100 * 1 / 99.5, 100 * 3 / 201.5, -100 * 3 / 198.5]
    assert ba["mean_diff_pct"] == pytest.approx(np.mean(pct))
    assert ba["loa_high_pct"] == pytest.approx(np.mean(pct) + 1.96 * np.std(pct, ddof=1))
    assert evaluate_summary.bland_altman([])["mean_diff_mm"] is None


def _hadlock_days(hc_mm):
    cm = hc_mm / 10
    return 7 * (8.96 + 0.540 * cm + 0.0003 * cm ** 3)  # Hadlock 1984, by hand


def test_ga_error_per_trimester_with_out_of_range_handled_explicitly():
    rows = [_row(80.0, 82.0),                       # first: below Hadlock's range
            _row(175.0, 178.0), _row(180.0, 176.0),  # second
            _row(92.0, 85.0),                        # second, prediction below range
            _row(300.0, 306.0), _row(320.0, 318.0),  # third
            _row(310.0, None),                       # third, not found
            _row(365.0, 360.0)]                      # reference beyond 42 weeks
    assert [r["reference_trimester"] for r in rows] == [
        "first", "second", "second", "second", "third", "third", "third", "beyond_range"]
    ga = evaluate_summary.ga_error_by_trimester(rows)
    t1, t2, t3 = (ga["trimesters"][k] for k in ("first", "second", "third"))
    assert t1["n"] == 1 and t1["n_used"] == 0 and t1["mean_days"] is None and t1["note"]
    second = [_hadlock_days(178) - _hadlock_days(175), _hadlock_days(176) - _hadlock_days(180)]
    assert t2["n"] == 3 and t2["n_used"] == 2 and t2["prediction_out_of_range"] == 1
    assert t2["mean_days"] == pytest.approx(np.mean(second))
    assert t2["sd_days"] == pytest.approx(np.std(second, ddof=1))
    third = [_hadlock_days(306) - _hadlock_days(300), _hadlock_days(318) - _hadlock_days(320)]
    assert t3["n"] == 3 and t3["not_found"] == 1 and t3["n_used"] == 2
    assert t3["mean_days"] == pytest.approx(np.mean(third))
    assert ga["reference_beyond_range"] == 1 and ga["method"] == "hadlock_1984"
    # 28 weeks is the boundary: the HC whose Hadlock GA is exactly 28+0 is third trimester.
    hc28 = C.hc_at_ga_days(C.GaMethod.HADLOCK_1984, 28 * 7)
    assert evaluate_summary.reference_trimester(hc28 + 1e-6) == "third"
    assert evaluate_summary.reference_trimester(hc28 - 1e-3) == "second"


def test_review_figures_share_flagged_large_errors_caught_and_adf_unflagged():
    rows = [_row(200.0, 201.0), _row(200.0, 206.0, True, C.REASON_RAGGED),
            _row(200.0, 193.0), _row(200.0, 200.5, True, f"{C.REASON_RAGGED}; {C.REASON_CUT}"),
            _row(200.0, None)]  # a miss: not assessed
    f = evaluate_summary.review_figures(rows)
    assert (f["n_found"], f["n_flagged"], f["share_flagged"]) == (4, 2, 0.5)
    assert (f["n_large_error"], f["n_large_error_caught"]) == (2, 1)
    assert f["share_large_error_caught"] == 0.5
    assert f["adf_unflagged_mm_mean"] == pytest.approx((1 + 7) / 2)
    assert f["adf_flagged_mm_mean"] == pytest.approx((6 + 0.5) / 2)
    assert f["reasons"] == {C.REASON_RAGGED: 2, C.REASON_CUT: 1}


def test_evaluate_writes_bland_altman_and_the_new_figures(tmp_path):
    samples = _samples()
    summary = evaluate_lib.evaluate(OracleRunner(_oracle_masks(samples)), samples, str(tmp_path))
    ba = summary["bland_altman"]
    assert ba["n"] == 3 and abs(ba["mean_diff_mm"]) < 0.5 and abs(ba["mean_diff_pct"]) < 0.7
    assert (tmp_path / "bland_altman.png").stat().st_size > 5000
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["bland_altman"]["loa_high_mm"] == pytest.approx(ba["loa_high_mm"])
    assert set(saved["ga_error_days"]["trimesters"]) == {"first", "second", "third"}
    assert saved["review_flag"]["n_found"] == 3
    rows = list(csv.DictReader(open(tmp_path / "per_image.csv")))
    assert {"review", "review_reasons", "reference_trimester", "ga_error_days"} <= set(rows[0])
    for r, s in zip(rows, samples):
        assert r["review"] in ("True", "False")
        assert r["reference_trimester"] == evaluate_summary.reference_trimester(s.reference_hc_mm)


def test_the_released_model_on_images_it_trained_on_gets_the_in_sample_note(tmp_path):
    """The embedded sample and a prepared TFDS dir (HC18's only builder) are training images of
    the released model: its figures there are not its accuracy, and evaluate says so. Labelled
    images elsewhere in HC18's layout (a copy, someone's own) and other models get no note."""
    import shutil

    import hc_tf
    from hc_tf import models
    released = models.released_edge_model()
    copy = tmp_path / "mine"
    shutil.copytree(hc_tf.SAMPLE_DIR, copy)
    tfds_dir = tmp_path / "tfds"
    tfds_dir.mkdir()
    assert evaluate_lib.in_sample_note(released, hc_tf.SAMPLE_DIR) == evaluate_lib.IN_SAMPLE_NOTE
    assert evaluate_lib.in_sample_note(released, str(tfds_dir)) == evaluate_lib.IN_SAMPLE_NOTE
    assert evaluate_lib.in_sample_note(released, str(copy)) is None
    assert evaluate_lib.in_sample_note(released, str(tfds_dir), sha256="0" * 64) is None


def test_an_hc18_folder_holding_files_the_released_model_trained_on_gets_a_counted_note(
        tmp_path, monkeypatch):
    """The HC18 release's own files are known by their bytes (the shipped digests): a folder in
    HC18's layout holding some of them is in-sample for those, and evaluate counts them."""
    import shutil

    import hc_tf
    from hc_tf import models
    from hc_tf.models import training_images
    released = models.released_edge_model()
    copy = tmp_path / "hc18"
    shutil.copytree(hc_tf.SAMPLE_DIR, copy)
    labelled = sorted(p for p in (copy / "training_set").glob("*.png")
                      if not p.name.endswith("_Annotation.png"))
    trained = {training_images.digest(str(p)) for p in labelled[:3]}
    monkeypatch.setattr(training_images, "released_digests", lambda: frozenset(trained))
    note = evaluate_lib.in_sample_note(released, str(copy))
    assert note.startswith(f"note: the released model was trained on 3 of the {len(labelled)} "
                           f"labelled images in {copy} (the same files as HC18's)")
    assert evaluate_lib.in_sample_note(released, str(copy), sha256="0" * 64) is None


def test_the_shipped_training_image_digests_belong_to_the_shipped_model():
    """A release that changes the model must list its own training images (else no note)."""
    from hc_tf.models import training_images
    assert training_images.released_digests() is not None
    path = os.path.join(os.path.dirname(training_images.__file__), training_images.FILE_NAME)
    images = json.load(open(path, encoding="utf-8"))["images"]
    assert len(images) == 895 and len(set(images)) == 895  # HC18's 896, two files alike
    assert all(len(d) == training_images.DIGITS and int(d, 16) >= 0 for d in images)


# --- by head size, and the HC interval's coverage on the images evaluated -----------------

def _with_interval(row, low, high):
    covers = None if low is None else low <= row["reference_hc_mm"] <= high
    return {**row, "hc_low_mm": low, "hc_high_mm": high, "interval_covers": covers,
            "band": measure_lib.head_size_band(row["reference_hc_mm"])}


def test_head_size_bands_are_the_model_cards():
    assert [measure_lib.head_size_band(h) for h in (44.3, 119.9, 120.0, 199.9, 200.0, 260.0,
                                                   260.1, 346.4)] == [
        "<120", "<120", "120-200", "120-200", "200-260", ">260", ">260", ">260"]


def test_summary_gives_the_adf_per_band_and_the_intervals_coverage_on_these_images():
    """The card says the interval's coverage on other data is unknown until measured there:
    evaluate measures it on the images given, overall and per head-size band."""
    rows = [_with_interval(_row(100.0, 101.0), 98.0, 104.0),    # covered
            _with_interval(_row(110.0, 104.0), 101.0, 107.0),   # missed
            _with_interval(_row(300.0, 303.0), 296.0, 310.0),   # covered
            _with_interval(_row(150.0, 151.0), None, None),     # no interval: left out
            _with_interval(_row(300.0, None), None, None)]      # no head: left out
    s = evaluate_summary.summarize(rows)
    assert s["bands"]["<120"] == {"n": 2, "not_found": 0, "adf_mm_mean": pytest.approx(3.5),
                                  "dice_mean": None}
    assert s["bands"][">260"]["n"] == 2 and s["bands"][">260"]["not_found"] == 1
    assert "200-260" not in s["bands"]
    iv = s["hc_interval"]
    assert (iv["n"], iv["n_without"]) == (3, 2)
    assert iv["coverage"] == pytest.approx(2 / 3)
    assert iv["median_half_width_mm"] == pytest.approx(3.0)
    assert iv["bands"]["<120"] == {"n": 2, "coverage": 0.5, "median_half_width_mm": 3.0}
    assert iv["bands"][">260"] == {"n": 1, "coverage": 1.0, "median_half_width_mm": 7.0}


def test_per_image_rows_carry_the_interval_or_say_why_not(tmp_path):
    """A model without an interval calibration (`inference.interval_table_for`'s note): its
    rows have no bounds, the summary no coverage, and says why."""
    samples = _samples()
    runner = OracleRunner(_oracle_masks(samples))
    runner.interval_note = "no calibrated HC interval for x.tflite: fit one"
    summary = evaluate_lib.evaluate(runner, samples, str(tmp_path))
    rows = list(csv.DictReader(open(tmp_path / "per_image.csv")))
    assert {"hc_low_mm", "hc_high_mm", "interval_covers", "band"} <= set(rows[0])
    assert all(r["hc_low_mm"] == "" and r["interval_covers"] == "" for r in rows)
    assert summary["hc_interval"]["n"] == 0 and summary["hc_interval"]["coverage"] is None
    assert summary["hc_interval"]["n_without"] == 3
    assert summary["hc_interval"]["note"] == runner.interval_note


def test_the_released_model_gets_its_interval_and_a_coverage(tmp_path):
    import hc_tf
    from hc_tf import models
    runner = inference.load_runner(models.released_edge_model())
    samples = list(hc18_folder.samples_from_hc18_folder(hc_tf.SAMPLE_DIR))[:4]
    summary = evaluate_lib.evaluate(runner, samples, str(tmp_path))
    rows = list(csv.DictReader(open(tmp_path / "per_image.csv")))
    for r in rows:
        low, high, ref = float(r["hc_low_mm"]), float(r["hc_high_mm"]), float(r["reference_hc_mm"])
        assert low < float(r["predicted_hc_mm"]) < high
        assert r["interval_covers"] == str(low <= ref <= high)
    assert summary["hc_interval"]["n"] == 4 and summary["hc_interval"]["level"] == 0.95


def _scaled_masks(samples, scale):
    """A model whose heads are the references with both axes times `scale`."""
    masks = []
    for s in samples:
        e = s.reference
        box = preprocess.letterbox_transform(s.image.shape, OracleRunner.input_hw)
        full = measure_lib.rasterize_ellipse(
            measure_lib.Ellipse(e.cx, e.cy, e.a * scale, e.b * scale, e.angle), s.image.shape)
        masks.append(preprocess.letterbox_mask(full, box)[:, :, 0])
    return masks


def test_bpd_and_ofd_are_scored_against_the_reference_ellipses_axes(tmp_path):
    """BPD and OFD (the minor and major axes, outer to outer, as reported) against the reference
    ellipse's: heads 10% too large measure BPD and OFD 10% too large, whichever semi-axis is
    the longer; a head not found has its reference but no error, and is left out."""
    samples = _samples()
    e = samples[2].reference  # its semi-axes given shorter first: BPD is still the minor axis
    samples[2] = inference.Sample("002_HC.png", samples[2].image, 0.2,
                                  measure_lib.Ellipse(e.cx, e.cy, e.b, e.a, e.angle + np.pi / 2),
                                  samples[2].reference_hc_mm)
    masks = _scaled_masks(samples, 1.1)
    masks[1] = np.zeros(OracleRunner.input_hw, np.float32)
    summary = evaluate_lib.evaluate(OracleRunner(masks), samples, str(tmp_path))
    with open(tmp_path / "per_image.csv") as f:
        rows = list(csv.DictReader(f))
    for row, (a, b) in zip(rows, [(90, 70), (80, 60), (70, 50)]):
        assert float(row["reference_bpd_mm"]) == pytest.approx(2 * b * 0.2)
        assert float(row["reference_ofd_mm"]) == pytest.approx(2 * a * 0.2)
    found = [rows[0], rows[2]]
    for row in found:
        assert float(row["bpd_df_mm"]) == pytest.approx(0.1 * float(row["reference_bpd_mm"]), abs=0.4)
        assert float(row["ofd_df_mm"]) == pytest.approx(0.1 * float(row["reference_ofd_mm"]), abs=0.4)
        assert float(row["predicted_bpd_mm"]) - float(row["reference_bpd_mm"]) == \
            pytest.approx(float(row["bpd_df_mm"]), abs=1e-3)  # the CSV's rounding
    assert rows[1]["predicted_bpd_mm"] == "" and rows[1]["bpd_df_mm"] == ""
    bio = summary["biometry"]
    assert bio["bpd"]["n"] == bio["ofd"]["n"] == 2
    assert bio["bpd"]["adf_mm_mean"] == pytest.approx(
        np.mean([abs(float(r["bpd_df_mm"])) for r in found]), abs=1e-3)
    assert bio["ofd"]["df_mm_mean"] == pytest.approx(
        np.mean([float(r["ofd_df_mm"]) for r in found]), abs=1e-3)
    assert bio["ofd"]["df_mm_mean"] > 2.0  # OFD 28-36 mm, 10% too long
