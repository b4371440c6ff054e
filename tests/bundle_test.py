"""Checks android_demo_assets/ against the edge runtime (after scripts/make_bundle.py)."""

import hashlib
import json
import os

import numpy as np
import pytest

from hc_tf import edge
from hc_tf import inference
from hc_tf import measure as M
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
        prob = inference.predict_batch(runner, [inference.Sample(s["filename"], gray, 1.0)])[0].prob
        mask = np.ascontiguousarray(prob > golden["threshold"], dtype=np.uint8)
        assert hashlib.sha256(mask.tobytes()).hexdigest() == s["mask_sha256"], s["filename"]
        m, _ = inference.measure_file(runner, path, s["pixel_size_mm"])
        assert m.found == s["found"], s["filename"]
        if m.found:
            assert abs(m.hc_mm - s["hc_mm"]) <= tol, (s["filename"], m.hc_mm, s["hc_mm"])
            row = M.submission_row(s["filename"], m)
            for key, value in zip(M.SUBMISSION_HEADER[1:], row[1:]):
                assert value == pytest.approx(s["submission_row"][key], abs=1e-3), key


# --- clinical read-outs: GA, quality signals and the review flag ------------------

from hc_tf import clinical as C  # noqa: E402
from hc_tf.report import records as report  # noqa: E402

OLD_SAMPLE_FIELDS = {"filename", "pixel_size_mm", "image_hw", "image_sha256", "letterbox",
                     "found", "reason", "ellipse_px", "submission_row", "hc_mm", "mask_sha256",
                     "mask_pixels"}


@pytest.fixture(scope="module")
def meta(golden):
    with open(os.path.join(BUNDLE, golden["metadata"])) as f:
        return json.load(f)


def test_golden_keeps_its_fields_and_adds_the_clinical_ones(golden):
    """The web app reads golden.json: fields are only ever added."""
    assert golden["format"] == "hc-tf android bundle golden v1"
    assert golden["tolerance"] == {"hc_mm": 1e-3}
    for s in golden["samples"]:
        assert OLD_SAMPLE_FIELDS | {"gestational_age", "quality", "review",
                                    "review_reasons"} <= set(s), s["filename"]
        if s["found"]:
            assert set(s["gestational_age"]) == {"hadlock", "intergrowth"}


def test_runtime_reproduces_golden_ga_quality_and_flag(golden):
    runner = edge.LiteRunner(os.path.join(BUNDLE, golden["model"]))
    tol = golden["clinical_tolerance"]
    for s in golden["samples"]:
        m, _ = inference.measure_file(runner, os.path.join(BUNDLE, "samples", s["filename"]),
                                 s["pixel_size_mm"])
        assert m.review == s["review"] and m.review_reasons == s["review_reasons"], s["filename"]
        for key, value in s["quality"].items():
            got = getattr(m.quality, key)
            assert (got is None and value is None) or got == pytest.approx(value, abs=tol["quality"])
        for g in m.gestational_age():
            want = s["gestational_age"][report.GA_KEYS[g.method]]
            assert g.status.value == want["status"], (s["filename"], g.method)
            if want["ga_days"] is not None:
                assert g.ga_days == pytest.approx(want["ga_days"], abs=tol["ga_days"])
                assert C.format_ga(g.ga_days) == want["ga"]


def test_a_sample_is_flagged_clear_of_its_threshold(golden, meta):
    """At least one sample a port must flag, by a margin no rounding detail can undo."""
    limit = meta["clinical"]["review_flag"]["thresholds"]["max_uncertain_band_fraction"]
    clear = [s for s in golden["samples"]
             if s["review"] and s["quality"]["uncertain_band_fraction"] > limit + 0.02]
    assert clear, "no sample is clearly flagged"
    assert all(s["review_reasons"] == [C.REASON_UNCLEAR] for s in clear)
    assert set(golden["flagged_samples"]) == {s["filename"] for s in golden["samples"] if s["review"]}
    assert [s for s in golden["samples"] if not s["review"]], "every sample flagged"


def test_metadata_spec_is_enough_to_port_the_ga_and_the_flag(golden, meta):
    """Re-derive GA and flag from the metadata's words and numbers alone (as a port would)."""
    spec = meta["clinical"]
    assert meta["tflite_sha256"] == golden["model_sha256"]  # the export's fields are kept
    hadlock, ig = spec["ga_from_hc"]["methods"]
    assert hadlock["method"] == "hadlock_1984" and ig["method"] == "intergrowth21_hc_2016"
    for s in golden["samples"]:
        if not s["found"]:
            continue
        hc = s["hc_mm"]
        days = {"hadlock": 7 * (8.96 + 0.540 * hc / 10 + 0.0003 * (hc / 10) ** 3),
                "intergrowth": np.exp(0.05970 * np.log(hc) ** 2 + 6.409e-9 * hc ** 3 + 3.3258)}
        for key, method in (("hadlock", hadlock), ("intergrowth", ig)):
            lo, hi = method["valid_ga_days"]
            want = s["gestational_age"][key]
            inside = lo <= days[key] <= hi
            assert want["status"] == ("ok" if inside else "out_of_range"), (s["filename"], key)
            if inside:
                assert want["ga_days"] == pytest.approx(days[key], abs=1e-9)
        t = spec["review_flag"]["thresholds"]
        q = s["quality"]
        fires = {
            "fit_rms_frac": q["fit_rms_frac"] > t["max_fit_rms_frac"],
            "inlier_fraction": q["inlier_fraction"] < t["min_inlier_fraction"],
            "mask_ellipse_dice": q["mask_ellipse_dice"] < t["min_mask_ellipse_dice"],
            "uncertain_band_fraction": q["uncertain_band_fraction"] > t["max_uncertain_band_fraction"],
            "outside_fraction": q["outside_fraction"] > t["max_outside_fraction"],
            "hc_mm": not t["min_hc_mm"] <= q["hc_mm"] <= t["max_hc_mm"],
        }
        fired = [r["reason"] for r in spec["review_flag"]["signals"] if fires[r["signal"]]]
        assert fired == s["review_reasons"], s["filename"]
    assert spec["review_flag"]["thresholds"] == report.thresholds_record()
    assert spec["hc_centile"]["valid_ga_weeks"] == list(C.INTERGROWTH_HC_WEEKS)


def test_metadata_carries_the_input_limits(meta):
    """The web app reads its limits from here: they are the Python side's numbers."""
    from hc_tf import defaults
    from hc_tf.measure.pixel_size import PLAUSIBLE_PIXEL_SIZE_MM
    lim = meta["input_limits"]
    assert (lim["pixel_size_mm"]["min"], lim["pixel_size_mm"]["max"]) == PLAUSIBLE_PIXEL_SIZE_MM
    assert lim["max_input_bytes"] == defaults.MAX_INPUT_BYTES
    assert lim["max_input_pixels"] == defaults.MAX_INPUT_PIXELS
    assert lim["max_jpeg_scans"] == defaults.MAX_JPEG_SCANS
    assert lim["min_image_side"] == preprocess.MIN_IMAGE_SIDE


def test_metadata_carries_the_interval_table_biometry_and_dating(meta):
    """The app reads the whole interval table and the biometry/dating constants from here
    (written once, by scripts/make_bundle.py from hc_tf.clinical): they equal the package's."""
    from hc_tf.clinical import biometry as B
    from hc_tf.clinical import dating as D
    from hc_tf.clinical import interval_table as I
    spec = meta["clinical"]
    with open(I.TABLE_PATH) as f:
        assert spec["hc_interval"]["table"] == json.load(f)
    assert set(spec["hc_interval"]["features"]) == set(I.FEATURES)
    bio = spec["biometry"]
    c0, c1, c2 = bio["ga_from_bpd"]["coefficients"]
    for bpd in (20.0, 48.3, 91.7):
        b = bpd / 10.0
        assert c0 + c1 * b + c2 * b * b == B.hadlock_bpd_ga_weeks(bpd)
    assert bio["ga_from_bpd"]["valid_ga_weeks"] == list(B.HADLOCK_BPD_GA_WEEKS)
    assert [[r["from"], r["to"], r["plus_minus_weeks"]] for r in bio["ga_from_bpd"]["intervals_weeks"]] \
        == [list(r) for r in B.HADLOCK_BPD_2SD_WEEKS]
    assert (bio["cephalic_index_normal"], bio["corrected_bpd_ratio"]) \
        == (list(B.CEPHALIC_INDEX_NORMAL), B.CORRECTED_BPD_RATIO)
    assert (spec["dating"]["label"], spec["dating"]["note"]) == (D.DATING_LABEL, D.NOT_A_REDATING)


def test_bundle_metadata_is_what_make_bundle_writes(meta):
    """hc_effunet_int8.json = the packaged model's metadata + make_bundle's sections, no drift."""
    from tests.scripts import ROOT, load_script
    make_bundle = load_script("scripts/make_bundle.py")
    with open(os.path.join(ROOT, "hc_tf", "models", "hc_effunet_int8.json")) as f:
        exported = json.load(f)
    assert json.loads(json.dumps(make_bundle.bundle_metadata(exported))) == meta
