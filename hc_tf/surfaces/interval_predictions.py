"""The predictions an interval table is fitted and checked on: `collect` runs a model over
held-out labelled images and writes one CSV row per head found (reference and measured HC, BPD
and OFD, quality signals, model pixel size); `read_predictions` reads the CSV back.

Its command line is `python -m hc_tf.surfaces.calibrate_intervals collect`; TensorFlow is
imported only to read a prepared TFDS split (the validation split, a cross-validation's folds).
"""

from __future__ import annotations

import csv
import os
import re
import sys
from typing import Dict, List, Optional

import numpy as np

from hc_tf.clinical import biometry
from hc_tf.io import file_names

SIGNAL_COLUMNS = ("fit_rms_frac", "inlier_fraction", "mask_ellipse_dice",
                  "uncertain_band_fraction", "outside_fraction")
# Not quality signals, but features a table may use (interval_table.FEATURES), fed beside them.
CONTEXT_COLUMNS = ("model_pixel_mm",)
# BPD and OFD (the fitted ellipse's axes, outer to outer) beside the HC: the reference's from the
# annotation's ellipse, as `evaluate` scores them; a table per quantity (`fit --quantity`).
AXIS_COLUMNS = ("reference_bpd_mm", "predicted_bpd_mm", "reference_ofd_mm", "predicted_ofd_mm")
COLUMNS = ("filename", "subject", "reference_hc_mm", "predicted_hc_mm") + SIGNAL_COLUMNS + (
    "soft_dice_conf",) + CONTEXT_COLUMNS + AXIS_COLUMNS


def subject_of(filename: str) -> str:
    """HC18's subject: the numeric prefix of NNN_HC / NNN_2HC; else the source file's stem (a
    DICOM file's frames one subject)."""
    m = re.match(r"^(\d+)_", os.path.basename(filename))
    return m.group(1) if m else file_names.source_stem(filename)


def soft_dice_confidence(prob: np.ndarray) -> float:
    """Soft Dice of the probability map with its own 0.5 mask: 2 sum(p h) / (sum p + sum h),
    a failure-detection confidence that costs no extra model run (1 = a crisp map)."""
    p = np.asarray(prob, np.float64)
    h = (p > 0.5).astype(np.float64)
    denom = p.sum() + h.sum()
    return float(2.0 * (p * h).sum() / denom) if denom > 0 else 0.0


CV_MODELS = {"int8": "model_int8.tflite", "keras": "model.keras"}  # cross_validate's names


# What `calibrate_intervals collect` offers instead of the released model's validation split.
COLLECT_ROUTES = ("calibrate it with --cv-work (its recipe's out-of-fold predictions), check it "
                  "on other images with --hc18-folder, or pass --model for a model trained on "
                  "the train split")


def refuse_a_model_trained_on_validation(model: str, routes: str = COLLECT_ROUTES) -> None:
    """The released model trained on all labelled images, the validation split's included: its
    errors there are training errors, and a table fitted on them would be too narrow.
    `routes`: what the caller's own command line offers instead (default: `collect`'s)."""
    from hc_tf import models
    if os.path.isfile(model) and models.is_released(model):
        raise ValueError(f"{model}: the released model trained on the validation split too, so "
                         f"its predictions there are not held out; {routes}")


def in_sample_note(model: str, hc18_folder: str) -> Optional[str]:
    """`hc-tf evaluate`'s note when the released model would be checked on images it trained on
    (HC18's own files, by their bytes: `models.training_images`), else None."""
    from hc_tf.surfaces import evaluate
    return evaluate.in_sample_note(model, hc18_folder,
                                   figures="the coverage figures `check` reports on these predictions")


def collect(model: str, data_dir: str, out_csv: str, hc18_folder: str = "", cv_work: str = "",
            cv_tier: str = "int8", folds: int = 5) -> None:
    """Runs `model` over the TFDS validation split (or, for `check` only, every labelled image
    of an HC18-layout folder; or, with `cv_work`, each fold's model over its held-out images)
    and writes one row per image.

    Raises:
      ValueError: when `cv_work` holds no fold's model of the tier, or when the validation
        split would be measured by the released model, which trained on it.
    """
    from hc_tf import inference

    if cv_work:
        from hc_tf.train import data as data_lib
        found = [(k, os.path.join(cv_work, f"fold{k}", CV_MODELS[cv_tier])) for k in range(folds)]
        found = [(k, path) for k, path in found if os.path.isfile(path)]
        if not found:
            raise ValueError(f"{cv_work}: no fold*/{CV_MODELS[cv_tier]} (run hc_tf.train.cross_validate)")
        rows = []
        for k, path in found:
            held_out = data_lib.load_fold(data_dir, folds, k, "test")
            rows += _rows(inference.load_runner(path),
                          data_lib.load_samples(data_dir, "", examples=held_out))
        print(f"out-of-fold predictions of folds {[k for k, _ in found]} of {folds}")
    else:
        if hc18_folder:
            from hc_tf.surfaces import hc18_folder as hc18_folder_lib
            samples = hc18_folder_lib.samples_from_hc18_folder(hc18_folder)
            note = in_sample_note(model, hc18_folder)
            if note:  # as `hc-tf evaluate` says it: a check there is no check
                print(note, file=sys.stderr)
        else:
            refuse_a_model_trained_on_validation(model)
            from hc_tf.train import data as data_lib
            samples = data_lib.load_samples(data_dir, "validation")
        rows = _rows(inference.load_runner(model), samples)
    os.makedirs(os.path.dirname(os.path.abspath(out_csv)), exist_ok=True)
    with open(out_csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    print(f"{len(rows)} images -> {out_csv}")


def _rows(runner, samples) -> List[Dict[str, object]]:
    """One row per labelled image whose head was found: reference, prediction, signals."""
    from hc_tf import inference

    rows = []
    for pred in inference.predict_samples(runner, samples):
        m, s = pred.measurement, pred.sample
        if not m.found or s.reference_hc_mm is None:
            print(f"{s.filename}: skipped ({m.reason or 'no reference'})", file=sys.stderr)
            continue
        q, b = m.quality, m.biometry()
        axes = {}
        if s.reference is not None:  # an HC18-layout folder's images and TFDS's alike
            ref_bpd, ref_ofd = biometry.bpd_ofd_mm(s.reference.a * s.pixel_size_mm,
                                                   s.reference.b * s.pixel_size_mm)
            axes = {"reference_bpd_mm": ref_bpd, "predicted_bpd_mm": b.bpd_mm,
                    "reference_ofd_mm": ref_ofd, "predicted_ofd_mm": b.ofd_mm}
        rows.append({"filename": s.filename, "subject": subject_of(s.filename),
                     "reference_hc_mm": s.reference_hc_mm, "predicted_hc_mm": m.hc_mm,
                     **{k: getattr(q, k) for k in SIGNAL_COLUMNS},
                     "soft_dice_conf": soft_dice_confidence(pred.prob),
                     "model_pixel_mm": m.model_pixel_mm, **axes})
    return rows


def read_predictions(path: str) -> Dict[str, np.ndarray]:
    """The collect CSV as columns (floats, except filename/subject); a column an older CSV
    lacks (e.g. model_pixel_mm, the BPD/OFD ones) reads as missing (NaN)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no rows")
    cols = {k: np.array([r[k] for r in rows]) for k in ("filename", "subject")}
    for k in COLUMNS[2:]:
        cols[k] = np.array([float(r[k]) if r.get(k) not in (None, "", "None") else np.nan
                            for r in rows])
    return cols


def row_signals(cols: Dict[str, np.ndarray], i: int) -> Dict[str, float]:
    """Row `i`'s quality signals and context features, as a table's features read them (a
    column `cols` lacks is missing: the feature's cap)."""
    return {k: cols[k][i] for k in SIGNAL_COLUMNS + CONTEXT_COLUMNS if k in cols}
