"""Regenerates android_demo_assets/: the int8 model, its metadata, samples, goldens.

    python scripts/make_bundle.py --tflite hc_tf/models/hc_effunet_int8.tflite \
        [--hc18 ../shared/hc18] [--out android_demo_assets] [--samples 000_HC.png ...]

Copies the int8 .tflite and its .json (hc_tf.export.export_lib.export writes both) as
hc_effunet_int8.tflite / hc_effunet_int8.json, adding a "clinical" section to the
copy (the GA formulas and the review-flag rule, enough to port: `clinical_spec`),
copies 5 HC18 test images into samples/ (213_HC.png is one the int8 model flags
for review), runs the edge runtime (hc_tf.edge.LiteRunner through hc_tf.inference)
on each and writes golden.json: what an app port must reproduce, with each sample's
GA, quality signals and review flag. README.md in the bundle is kept (it documents
these fixed names). tests/bundle_test.py re-runs the runtime against golden.json.
No TensorFlow needed.
"""

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import sys

import numpy as np


from hc_tf import __version__
from hc_tf import clinical
from hc_tf.clinical import biometry as biometry_lib
from hc_tf.clinical import dating as dating_lib
from hc_tf.clinical import interval_table as interval_table_lib
from hc_tf.clinical import intervals as intervals_lib
from hc_tf.clinical import review as review_lib
from hc_tf import defaults
from hc_tf import edge
from hc_tf.io import dicom_dating
from hc_tf.io import hc18_csv
from hc_tf import inference
from hc_tf.io import atomic as io_utils
from hc_tf import measure as measure_lib
from hc_tf import preprocess
from hc_tf.measure import quality
from hc_tf.report import records as report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL_NAME = "hc_effunet_int8.tflite"
META_NAME = "hc_effunet_int8.json"
# 213_HC.png: the committed int8 model flags it for review (boundary unclear: its uncertain
# band share ~0.457 against the 0.4037 limit), clear of the limit so a port flags it too.
DEFAULT_SAMPLES = ("000_HC.png", "001_HC.png", "002_HC.png", "003_HC.png", "213_HC.png")
# Quality signals are pixel counts and float64 arithmetic a port repeats step by step
# (web_app's port matches to ~1e-14); a pixel count can differ only on an exact tie.
QUALITY_TOLERANCE = 1e-9
ATTRIBUTION = ("HC18 grand challenge test images: T. L. A. van den Heuvel, D. de Bruijn, "
               "C. L. de Korte, B. van Ginneken, 'Automated measurement of fetal head "
               "circumference using 2D ultrasound images', Zenodo, doi:10.5281/zenodo.1322001, "
               "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). Unmodified copies.")


sha256_file = edge.sha256_file

# hc_tf.clinical.units.format_centile / format_beyond / format_z, in words.
CENTILE_DISPLAY = (
    "one decimal (Python's '.1f' of the float64 centile), with three exceptions in this order: "
    "below 0.1 -> '<0.1', above 99.9 -> '>99.9' (never '0.0' or '100.0'); a flagged centile whose "
    "one-decimal text would not lie beyond its limit shows the limit instead: below_3rd '<3.0' "
    "(2.96 would print '3.0'), above_97th '>97.0' (97.04 would print '97.0'); the flag is taken "
    "on the unrounded centile. Line: 'centile <c> (z <z>)' with z signed, 2 decimals ('+1.75'), "
    "then ', below the 3rd centile' / ', above the 97th centile' when flagged. Its interval: "
    "'95%: <lower> to <upper>' by the same rule without the flag limits, once ('95%: <0.1') "
    "when both ends read the same")

# The fitted ellipse at each model pixel (hc_tf.measure.quality.ellipse_on_model_grid), in words.
GRID_F = ("for the model pixel in column j, row i: x = (j - offset_x + 0.5) / scale_x - 0.5, "
          "y = (i - offset_y + 0.5) / scale_y - 0.5 (no letterbox: x = j, y = i, scales 1); "
          "dx = x - cx, dy = y - cy, c = cos(angle), s = sin(angle); u = (dx c + dy s) / a, "
          "v = (-dx s + dy c) / b; f = u u + v v - 1; gx = 2 (u/a c - v/b s) / scale_x, "
          "gy = 2 (u/a s + v/b c) / scale_y; d = |f| / max(sqrt(gx gx + gy gy), 1e-12) "
          "(model pixels); each step one float64 operation, in this order")


def mask_sha256(prob):
    """sha256 of (prob > 0.5) as uint8 0/1, model size, row-major (H * W bytes)."""
    mask = np.ascontiguousarray(prob > defaults.THRESHOLD, dtype=np.uint8)
    return hashlib.sha256(mask.tobytes()).hexdigest()


def golden_entry(runner, image_path, filename, pixel_size_mm):
    """What the runtime gives for one image: the measurement and the mask checksum."""
    gray = preprocess.read_gray_image(image_path)
    pred = inference.predict_batch(runner, [inference.Sample(filename, gray, pixel_size_mm)])[0]
    prob, box, m = pred.prob, pred.box, pred.measurement
    row = measure_lib.submission_row(filename, m)
    return {
        "filename": filename, "pixel_size_mm": pixel_size_mm,
        "image_hw": list(gray.shape), "image_sha256": sha256_file(image_path),
        "letterbox": {k: float(v) if isinstance(v, float) else v
                      for k, v in dataclasses.asdict(box).items()},
        "found": m.found, "reason": m.reason,
        "ellipse_px": dataclasses.asdict(m.ellipse) if m.found else None,
        "submission_row": dict(zip(measure_lib.SUBMISSION_HEADER, row)),
        "hc_mm": m.hc_mm,
        "mask_sha256": mask_sha256(prob), "mask_pixels": int((prob > defaults.THRESHOLD).sum()),
        # Added with the clinical fields (after every field above, which stay as they were).
        "gestational_age": report.image_record(filename, m)["gestational_age"],
        "quality": report.image_record(filename, m)["quality"],
        "review": m.review, "review_reasons": list(m.review_reasons),
    }


def ga_method_spec(method):
    """One GA formula, precisely enough to port: equation, units, range, uncertainty."""
    lo_hc, hi_hc = clinical.valid_hc_range_mm(method)
    lo_d, hi_d = clinical.valid_ga_days(method)
    if method is clinical.GaMethod.HADLOCK_1984:
        equation = "GA_weeks = 8.96 + 0.540 * HC_cm + 0.0003 * HC_cm^3; HC_cm = HC_mm / 10"
        output = "GA in weeks by the equation; as GA in days (every result): GA_days = GA_weeks * 7"
        uncertainty = {"kind": "2 SD, weeks, by GA interval (first interval whose upper end "
                               "is above the GA; 42+0 itself takes the last)",
                       "intervals_weeks": [{"from": lo, "to": hi, "plus_minus_weeks": sd2}
                                           for lo, hi, sd2 in clinical.HADLOCK_2SD_WEEKS]}
    else:
        equation = ("GA_days = exp(0.05970 * ln(HC_mm)^2 + 6.409e-9 * HC_mm^3 + 3.3258)")
        output = "GA in days by the equation (weeks = days / 7)"
        uncertainty = {"kind": "none published per estimate",
                       "text": clinical.INTERGROWTH_PI_TEXT}
    return {"method": method.value, "title": report.GA_TITLES[method], "equation": equation,
            "input": "HC in mm (the measured HC)", "output": output,
            "valid_ga_days": [lo_d, hi_d],
            "valid_hc_mm": [round(lo_hc, 3), round(hi_hc, 3)],
            "out_of_range": "outside valid_ga_days (inclusive): status out_of_range, no number",
            "uncertainty": uncertainty, "source": clinical.ga_source(method)}


def clinical_spec():
    """The "clinical" section of the bundle's metadata: GA formulas, display, centile, and the
    review flag (signal definitions, thresholds, reasons), from hc_tf.clinical."""
    t = clinical.DEFAULT_REVIEW_THRESHOLDS
    rules = [
        ("fit_rms_frac", "> max_fit_rms_frac", t.max_fit_rms_frac, clinical.REASON_RAGGED,
         "RMS over all boundary points (the 0.5 iso-contour points the fit saw, original "
         "pixels) of their distance to the fitted ellipse, divided by the mean semi-axis "
         "(a + b) / 2; distance = first-order |f| / |grad f| with f = u^2 + v^2 - 1, "
         # The golden metadata names the module as it was (byte-identical goldens):
         # today hc_tf.measure.geometry.ellipse_distance.
         "u = x'/a, v = y'/b in the ellipse's frame (hc_tf.measure.ellipse_distance)"),
        ("inlier_fraction", "< min_inlier_fraction", t.min_inlier_fraction,
         clinical.REASON_FEW_INLIERS,
         "share of the boundary points whose distance (as for fit_rms_frac) is <= one model "
         "pixel, i.e. 1 / min(scale_x, scale_y) original pixels"),
        ("mask_ellipse_dice", "< min_mask_ellipse_dice", t.min_mask_ellipse_dice,
         clinical.REASON_MASK_MISMATCH,
         "Dice 2 |M & E| / (|M| + |E|) (0 if both are empty) of the head mask M (largest "
         "component of p > 0.5, holes filled; model size) and the filled ellipse E = the "
         "model pixels with f <= 0, both counted inside the letterboxed image area (the "
         f"valid rect) only, never in the padding; {GRID_F}"),
        ("uncertain_band_fraction", "> max_uncertain_band_fraction",
         t.max_uncertain_band_fraction, clinical.REASON_UNCLEAR,
         "share of the band's model pixels whose probability is strictly between 0.1 and 0.9 "
         "(1.0 if the band is empty); band = the model pixels inside the letterboxed image "
         f"area (the valid rect) with d <= {quality.BAND_HALF_WIDTH_MODEL_PX:g}; f and d as "
         "for mask_ellipse_dice"),
        ("outside_fraction", "> max_outside_fraction", t.max_outside_fraction,
         clinical.REASON_CUT,
         "share of 720 outline points (evenly spaced in the ellipse parameter) outside the "
         "original image, i.e. x < -0.5, x > W - 0.5, y < -0.5 or y > H - 0.5"),
        ("hc_mm", "outside [min_hc_mm, max_hc_mm]", [t.min_hc_mm, t.max_hc_mm],
         clinical.REASON_HC_RANGE, "the measured HC in mm"),
    ]
    return {
        "implementation": "hc_tf/clinical/, hc_tf/measure/quality.py (reference)",
        "ga_from_hc": {"methods": [ga_method_spec(m) for m in clinical.GaMethod],
                       "display": "weeks+days: total = floor(GA_days + 0.5) (halves up); "
                                  "W = total div 7, D = total mod 7; shown as 'W+D'"},
        "hc_centile": {
            "standard": "INTERGROWTH-21st fetal HC",
            "mean_mm": "-28.2849 + 1.69267 * GA^2 - 0.397485 * GA^2 * ln(GA)",
            "sd_mm": "1.98735 + 0.0136772 * GA^3 - 0.00726264 * GA^3 * ln(GA) "
                     "+ 0.000976253 * GA^3 * ln(GA)^2",
            "ga": "known GA in exact weeks (from LMP or a dating scan), not the GA from HC",
            "z": "(HC_mm - mean_mm) / sd_mm", "centile": "100 * Phi(z)",
            "valid_ga_weeks": list(clinical.INTERGROWTH_HC_WEEKS),
            "flags": {"below_3rd": f"centile < {clinical.LOW_CENTILE:g}",
                      "above_97th": f"centile > {clinical.HIGH_CENTILE:g}"},
            "display": CENTILE_DISPLAY,
            "ga_input_weeks": list(clinical.GA_INPUT_WEEKS),
            "ga_input": "weeks (27.4) or 'W+D' with D in 0..6 (27+3); outside ga_input_weeks "
                        "is an entry error", "source": clinical.INTERGROWTH_HC_SOURCE},
        "review_flag": {
            "rule": "review = any rule below fires (a signal that is NaN also fires, reason "
                    "'<signal name with spaces> could not be computed'); reasons in this order",
            "computed_on": "found heads only; the optional flip_rel_diff signal is off on "
                           "the edge (it needs a second model run)",
            "thresholds": dataclasses.asdict(t),
            "signals": [{"signal": name, "fires_when": rule, "threshold": value,
                         "reason": reason, "definition": definition}
                        for name, rule, value, reason, definition in rules],
            "calibration": " and ".join(field for _, field, _ in review_lib.CALIBRATED_SIGNALS)
                           + " chosen on the recipe's out-of-fold predictions (all labelled "
                             "images, each by the fold model that held it out); the other "
                             "limits are guards beyond every value that rule leaves unflagged "
                             "(export/README.md, 'Review flag')"},
    }


def interval_spec():
    """The "hc_interval" section: the whole calibration table (hc_tf/clinical/interval_table.json,
    as `interval_table.load_table` reads it) and how it is applied (hc_tf.clinical.intervals)."""
    return {
        "implementation": "hc_tf/clinical/interval_table.py, intervals.py (reference)",
        "table": interval_table_lib.load_table().to_dict(),
        "default_level": interval_table_lib.DEFAULT_LEVEL,
        "features": {"one": "1", "hc_mm": "HC_mm / 100", "hc_mm_sq_100": "(HC_mm / 100)^2",
                     "hc_over_160mm": "max(0, HC_mm - 160) / 100",
                     "hc_over_200mm": "max(0, HC_mm - 200) / 100",
                     "fit_rms_frac": "fit_rms_frac",
                     "one_minus_inlier_fraction": "1 - inlier_fraction",
                     "one_minus_mask_ellipse_dice": "1 - mask_ellipse_dice",
                     "uncertain_band_fraction": "uncertain_band_fraction",
                     "model_pixel_mm": "pixel_size_mm * (1 / min(letterbox scale_x, scale_y)): "
                                       "mm per model-input pixel, the product in float64"},
        "sigma_mm": "max(min_sigma_mm, sum_i coefficients[i] * clip(feature_i, "
                    "feature_floors[i] (0 when the table has none), feature_caps[i])); a missing "
                    "(None/NaN) signal counts as its cap",
        "interval": "half = q * sigma, q = quantiles['%.2f' % level], or in a Mondrian table "
                    "(bin_edges_mm present) bin_quantiles[i]['%.2f' % level] with i the number "
                    "of edges <= HC (bin i: edges[i-1] <= HC < edges[i]); lower = max(0, HC - "
                    "half), upper = HC + half; display '95%: <lower .1f>-<upper .1f>'",
        "ga_interval": "per formula: GA at HC, at max(lower, 1e-9) and at upper; measurement "
                       "half = (GA(upper) - GA(lower)) / 2; combined = GA -/+ hypot(measurement "
                       "half, the formula's published half-width); none when an end is out of "
                       "range or the formula publishes no half-width",
        "combination": intervals_lib.GaInterval.combination,
        # BPD's, OFD's and the cephalic index's own tables (their errors), applied at the head's
        # HC and signals.
        "axis_tables": {q: interval_table_lib.load_table(path).to_dict()
                        for q, path in interval_table_lib.AXIS_TABLE_PATHS.items()},
        "axis_interval": "BPD, OFD, the corrected BPD (cbpd) and the cephalic index (ci, in index "
                         "points): half = q * sigma "
                         "by axis_tables[quantity] as above, at the head's HC and signals (bin "
                         "and features); lower = max(0, value - half), upper = value + half; "
                         "the released model's only (a model with another table gets none)",
    }


def biometry_spec():
    """The "biometry" and "dating" sections (hc_tf.clinical.biometry, hc_tf.clinical.dating)."""
    b = biometry_lib
    return {
        "biometry": {
            "implementation": "hc_tf/clinical/biometry.py (reference)",
            "convention": b.BPD_CONVENTION,
            "bpd_ofd": "BPD = 2 * min(a_mm, b_mm), OFD = 2 * max(a_mm, b_mm) (semi-axes in mm)",
            "cephalic_index": "100 * BPD / OFD",
            "cephalic_index_normal": list(b.CEPHALIC_INDEX_NORMAL),
            "cephalic_index_source": b.CEPHALIC_INDEX_SOURCE,
            "corrected_bpd": "sqrt(BPD * OFD / corrected_bpd_ratio)",
            "corrected_bpd_ratio": b.CORRECTED_BPD_RATIO,
            "corrected_bpd_source": b.CORRECTED_BPD_SOURCE,
            "ga_from_bpd": {"equation": "GA_weeks = 9.54 + 1.482 * BPD_cm + 0.1676 * BPD_cm^2",
                            "coefficients": [9.54, 1.482, 0.1676],
                            "valid_ga_weeks": list(b.HADLOCK_BPD_GA_WEEKS),
                            "intervals_weeks": [{"from": lo, "to": hi, "plus_minus_weeks": sd2}
                                                for lo, hi, sd2 in b.HADLOCK_BPD_2SD_WEEKS],
                            "source": b.HADLOCK_BPD_SOURCE,
                            "interval_method": intervals_lib.BPD_GA_METHOD}},
        "dating": {"implementation": "hc_tf/clinical/dating.py (reference)",
                   "label": dating_lib.DATING_LABEL, "note": dating_lib.NOT_A_REDATING,
                   "refusal": dating_lib.REFUSAL, "source": report.DATING_SOURCE,
                   "file_source": dicom_dating.LMP_SOURCE},
    }


def bundle_metadata(meta):
    """The exported metadata (its fields unchanged, the input limits the web app reads among
    them: tests/model_metadata_test.py keeps the packaged JSON current) plus "clinical"."""
    return {**meta, "clinical": {**clinical_spec(), "hc_interval": interval_spec(), **biometry_spec()}}


def runtime_record(runner):
    """Which runtime and kernels made the goldens: they hold exactly on these (README.md,
    'Conformance')."""
    from importlib import metadata
    return {"ai_edge_litert": metadata.version("ai-edge-litert"),
            "kernels": "LiteRT's default CPU path: the XNNPACK delegate (ai_edge_litert.interpreter."
                       "Interpreter with its default op resolver; hc_tf.edge kernels='xnnpack')",
            "num_threads": runner.num_threads, "machine": platform.machine(),
            "other_kernels": "mask_sha256 and the tolerances hold on this path: LiteRT's built-in "
                             "kernels give other uint8 outputs (measured on x86: README.md, "
                             "'Conformance'); a phone's ARM kernels and GPU or NNAPI delegates "
                             "were not measured"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tflite", required=True, help="the int8 .tflite (its .json alongside)")
    p.add_argument("--hc18", default=os.path.join(REPO, "..", "shared", "hc18"),
                   help="HC18 release folder (test_set/, test_set_pixel_size.csv)")
    p.add_argument("--out", default=os.path.join(REPO, "android_demo_assets"))
    p.add_argument("--samples", nargs="+", default=list(DEFAULT_SAMPLES))
    p.add_argument("--num-threads", type=int, default=2)
    args = p.parse_args(argv)

    meta_src = edge.metadata_path(args.tflite)
    for path in (args.tflite, meta_src):
        if not os.path.isfile(path):
            p.error(f"{path}: not found (run hc-tf export --model M.keras --int8 --data-dir DIR first)")
    with open(meta_src) as f:
        meta = json.load(f)
    if meta.get("mode") != "int8":
        p.error(f"{meta_src}: mode is {meta.get('mode')!r}; the bundle ships the int8 model")
    sizes = hc18_csv.read_hc18_csv(os.path.join(args.hc18, hc18_csv.TEST_CSV)).pixel_sizes()

    os.makedirs(os.path.join(args.out, "samples"), exist_ok=True)
    model_dst = os.path.join(args.out, MODEL_NAME)
    shutil.copyfile(args.tflite, model_dst)
    # The metadata as exported, plus the clinical section and today's input limits.
    io_utils.atomic_write_text(os.path.join(args.out, META_NAME),
                               json.dumps(bundle_metadata(meta), indent=2) + "\n")
    runner = edge.LiteRunner(model_dst, num_threads=args.num_threads)
    entries = []
    for name in args.samples:
        if name not in sizes:
            p.error(f"{name}: not in test_set_pixel_size.csv")
        dst = os.path.join(args.out, "samples", name)
        shutil.copyfile(os.path.join(args.hc18, "test_set", name), dst)
        entries.append(golden_entry(runner, dst, name, sizes[name]))
        e = entries[-1]
        print(f"{name}: HC {e['hc_mm']:.2f} mm"
              f"{'; review: ' + '; '.join(e['review_reasons']) if e['review'] else ''}"
              if e["found"] else f"{name}: not found ({e['reason']})")
    golden = {
        "format": "hc-tf android bundle golden v1",
        "hc_tf_version": __version__,
        "model": MODEL_NAME, "model_sha256": sha256_file(model_dst), "metadata": META_NAME,
        "input_hw": list(runner.input_hw), "threshold": defaults.THRESHOLD,
        "mask_checksum": "sha256 of (probability > 0.5) as uint8 0/1 bytes, model input size, "
                         "row-major (H*W bytes); for the uint8 output: q > 128",
        # hc_mm kept as it was (a pass mark); ellipse_px and submission_row added: a faithful port
        # reaches 1e-6 on the same uint8 output (README.md, 'Conformance').
        "tolerance": {"hc_mm": 1e-3, "ellipse_px": 1e-6, "submission_row": 1e-6},
        "attribution": ATTRIBUTION,
        "samples": entries,
        # Added with the clinical fields; the formulas and the flag rule are in the metadata's "clinical".
        "clinical_tolerance": {"ga_days": 1e-3, "quality": QUALITY_TOLERANCE},
        "flagged_samples": [e["filename"] for e in entries if e["review"]],
        "runtime": runtime_record(runner),
    }
    io_utils.atomic_write_text(os.path.join(args.out, "golden.json"),
                               json.dumps(golden, indent=2) + "\n")
    print(f"bundle written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
