"""Fits the HC interval table (`hc_tf/clinical/interval_table.json`) on held-out predictions.

Two steps (the first needs the prepared TFDS data and the model; the second only its CSV):

    # 1. a model's predictions on the validation split, which it must not have trained on (a
    #    model of `hc-tf train`; not the released one, trained on all), with the quality
    #    signals (TF for TFDS reading)
    python -m hc_tf.surfaces.calibrate_intervals collect --model RUN/best_int8.tflite \
        --data-dir ~/hc-runs/tfds --out RUN/val_predictions.csv
    # 2. fit: normalized conformal regression (crepes) with a difficulty from the model-pixel
    #    size, head size and quality signals (CANDIDATES); cross-fitted report by subject folds;
    #    the chosen one (--choose; BANDED candidates are Mondrian: quantiles per head-size bin)
    #    fitted on all of it, written beside the model (MODEL.interval_table.json), where every
    #    path that loads that model finds it (--table has no default: the package's table,
    #    hc_tf/clinical/interval_table.json, is the released model's own)
    python -m hc_tf.surfaces.calibrate_intervals fit --predictions RUN/val_predictions.csv \
        --table RUN/best_int8.interval_table.json --fitted-on "validation split" \
        --report RUN/calibration.json

After cross-validation (`hc_tf.train.cross_validate`), every labelled image has an out-of-fold
prediction: collected from each fold's model on its own held-out images, they calibrate the
all-data model's table on 896 images instead of 185 (cross-conformal, as CV+ does); this is
how the released model's table is made (`scripts/release_model.sh`):

    python -m hc_tf.surfaces.calibrate_intervals collect --cv-work ~/hc-runs/cv5 \
        --data-dir ~/hc-runs/tfds --out ~/hc-runs/cv5/oof_predictions.csv
    python -m hc_tf.surfaces.calibrate_intervals fit --predictions ~/hc-runs/cv5/oof_predictions.csv \
        --table hc_tf/clinical/interval_table.json \
        --fitted-on "out-of-fold predictions of 5 folds" --report ...

The same predictions carry BPD and OFD (the fitted ellipse's axes) and the annotation
ellipse's: `fit --quantity bpd` (or `ofd`) fits a table of their errors, with the HC's
difficulty features and head-size bins.

On other labelled images (an independent check; the table is applied as it is, never refitted):

    python -m hc_tf.surfaces.calibrate_intervals collect --hc18-folder FOLDER --out other.csv
    python -m hc_tf.surfaces.calibrate_intervals check --predictions other.csv [--quantity bpd]

Needs the `[calibrate]` extra (crepes, scikit-learn). The package applies the table with
NumPy alone (`hc_tf.clinical.intervals`), so nothing here is needed at run time.
Only the validation split (or the folds' held-out parts) is used: other labelled images
stay for an independent check.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from hc_tf.clinical import biometry
from hc_tf.clinical import intervals
from hc_tf.io import file_names
from hc_tf.measure import metrics

SIGNAL_COLUMNS = ("fit_rms_frac", "inlier_fraction", "mask_ellipse_dice",
                  "uncertain_band_fraction", "outside_fraction")
# Not quality signals, but features a table may use (intervals.FEATURES), fed beside them.
CONTEXT_COLUMNS = ("model_pixel_mm",)
# BPD and OFD (the fitted ellipse's axes, outer to outer) beside the HC: the reference's from the
# annotation's ellipse, as `evaluate` scores them; a table per quantity (`fit --quantity`).
AXIS_COLUMNS = ("reference_bpd_mm", "predicted_bpd_mm", "reference_ofd_mm", "predicted_ofd_mm")
COLUMNS = ("filename", "subject", "reference_hc_mm", "predicted_hc_mm") + SIGNAL_COLUMNS + (
    "soft_dice_conf",) + CONTEXT_COLUMNS + AXIS_COLUMNS
QUANTITIES = ("hc", "bpd", "ofd")
LEVELS = (0.80, 0.90, 0.95)
BANDS_MM = metrics.HEAD_SIZE_BANDS_MM  # head-size bands: <120, 120-200, 200-260, >260 mm
BAND_LABELS = metrics.HEAD_SIZE_BAND_LABELS
FOLDS = 5
SEED = 0


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


def refuse_a_model_trained_on_validation(model: str) -> None:
    """The released model trained on all labelled images, the validation split's included: its
    errors there are training errors, and a table fitted on them would be too narrow."""
    from hc_tf import models
    if os.path.isfile(model) and models.is_released(model):
        raise ValueError(f"{model}: the released model trained on the validation split too, so "
                         "its predictions there are not held out; calibrate it with --cv-work "
                         "(its recipe's out-of-fold predictions), check it on other images with "
                         "--hc18-folder, or pass --model for a model trained on the train split")


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
            from hc_tf.surfaces import evaluate
            samples = evaluate.samples_from_hc18_folder(hc18_folder)
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


def features(cols: Dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """The difficulty features the table names, (n, k), via the package's own definition."""
    signals = [row_signals(cols, i) for i in range(len(cols["filename"]))]
    return np.array([intervals.feature_vector(h, s, names)
                     for h, s in zip(cols["predicted_hc_mm"], signals)])


def residuals(cols: Dict[str, np.ndarray], quantity: str = "hc") -> np.ndarray:
    """Reference minus prediction of the quantity ("hc", "bpd" or "ofd"), per row.

    Raises:
      ValueError: when the CSV has none of that quantity (an older collect).
    """
    ref, pred = cols.get(f"reference_{quantity}_mm"), cols.get(f"predicted_{quantity}_mm")
    if ref is None or pred is None or not np.isfinite(ref - pred).all():
        raise ValueError(f"the predictions lack reference_{quantity}_mm / predicted_{quantity}_mm"
                         " on some rows: collect them again")
    return ref - pred


def fit_table(cols: Dict[str, np.ndarray], idx: np.ndarray, names: Sequence[str],
              method: str, bin_edges_mm: Optional[Sequence[float]] = None,
              quantity: str = "hc") -> intervals.IntervalTable:
    """Difficulty model (non-negative least squares of |residual| on the features) and the
    conformal quantiles (crepes, normalized) fitted on the rows `idx`; with `bin_edges_mm`,
    Mondrian: one set of quantiles per bin of the measured HC (crepes `bins`).

    Half the rows fit the difficulty and the other half the quantiles would waste a small
    split; instead the difficulty is fitted on all of `idx` by a 2-parameter-ish linear model
    (few degrees of freedom, so the conformal scores on the same rows stay near-exchangeable
    with new ones) -- the cross-fitted report below is what checks that honestly.
    """
    from crepes import ConformalRegressor
    from scipy.optimize import nnls

    x = features({k: v[idx] for k, v in cols.items()}, names)
    caps = np.nanmax(np.where(np.isfinite(x), x, -np.inf), axis=0)
    floors = np.maximum(np.nanmin(np.where(np.isfinite(x), x, np.inf), axis=0), 0.0)
    x = np.clip(np.where(np.isnan(x), caps, x), floors, caps)
    resid = residuals(cols, quantity)[idx]  # the features and bins stay the measured HC's
    coef, _ = nnls(x, np.abs(resid))
    table = intervals.IntervalTable(method=method, feature_names=tuple(names),
                                    coefficients=tuple(float(c) for c in coef),
                                    min_sigma_mm=intervals.MIN_SIGMA_MM, quantiles={},
                                    n_calibration=int(len(idx)),
                                    feature_caps=tuple(float(c) for c in caps),
                                    feature_floors=tuple(float(c) for c in floors),
                                    source="hc_tf/surfaces/calibrate_intervals.py (crepes "
                                           "ConformalRegressor, normalized)")
    sigmas = np.array([table.sigma_from_features(r) for r in x])
    if bin_edges_mm is None:
        cr = ConformalRegressor().fit(resid, sigmas=sigmas)
        return intervals.IntervalTable(**{**table.__dict__, "quantiles": _score_quantiles(cr)})
    edges = tuple(float(e) for e in bin_edges_mm)
    bins = np.array([intervals.bin_of(edges, h) for h in cols["predicted_hc_mm"][idx]])
    cr = ConformalRegressor().fit(resid, sigmas=sigmas, bins=bins)
    per_bin = tuple(_score_quantiles(cr, b) for b in range(len(edges) + 1))
    # `quantiles` (the levels a table offers) holds the pooled ones, for reference only.
    pooled = _score_quantiles(ConformalRegressor().fit(resid, sigmas=sigmas))
    return intervals.IntervalTable(**{**table.__dict__, "quantiles": pooled,
                                      "bin_edges_mm": edges, "bin_quantiles": per_bin})


def _score_quantiles(cr, bin_index: Optional[int] = None) -> Dict[str, float]:
    """The conformal quantile of |error| / sigma per level (y_hat 0, sigma 1: the upper end);
    of one Mondrian bin when `bin_index` is given (inf where the bin is too small for it)."""
    bins = None if bin_index is None else np.array([bin_index])
    return {f"{level:.2f}": float(cr.predict_int(y_hat=np.zeros(1), sigmas=np.ones(1), bins=bins,
                                                 confidence=level)[0, 1])
            for level in LEVELS}


def subject_folds(subjects: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number per row, whole subjects to one fold (NNN_HC and NNN_2HC together)."""
    uniq = np.unique(subjects)
    order = np.random.default_rng(seed).permutation(len(uniq))
    fold_of = {s: i % k for i, s in zip(range(len(uniq)), uniq[order])}
    return np.array([fold_of[s] for s in subjects])


def cross_fit(cols: Dict[str, np.ndarray], names: Sequence[str], method: str,
              bin_edges_mm: Optional[Sequence[float]] = None,
              quantity: str = "hc") -> Dict[str, np.ndarray]:
    """Half-widths per level for every row from a table fitted on the other folds."""
    folds = subject_folds(cols["subject"], FOLDS, SEED)
    half = {lv: np.zeros(len(folds)) for lv in LEVELS}
    for k in range(FOLDS):
        table = fit_table(cols, np.flatnonzero(folds != k), names, method, bin_edges_mm,
                          quantity)
        for i in np.flatnonzero(folds == k):
            sig = row_signals(cols, i)
            for lv in LEVELS:
                half[lv][i] = table.half_width_mm(cols["predicted_hc_mm"][i], sig, lv)
    return half


def band_of(hc_mm: np.ndarray) -> List[str]:
    """Head-size band by the reference HC."""
    return [metrics.head_size_band(h) for h in hc_mm]


def report(cols: Dict[str, np.ndarray], half: Dict[float, np.ndarray],
           quantity: str = "hc") -> Dict[str, object]:
    """Coverage and widths per level, and per head-size band (of the reference HC) at every
    level, of the quantity's errors."""
    err = np.abs(residuals(cols, quantity))
    bands = np.array(band_of(cols["reference_hc_mm"]))
    out: Dict[str, object] = {"n": int(len(err)), "levels": {}}
    for lv in LEVELS:
        cover = err <= half[lv]
        per_band = {b: {"n": int((bands == b).sum()),
                        "coverage": float(cover[bands == b].mean()),
                        "median_half_width_mm": float(np.median(half[lv][bands == b]))}
                    for b in BAND_LABELS if (bands == b).any()}
        out["levels"][f"{lv:.2f}"] = {
            "coverage": float(cover.mean()),
            "median_half_width_mm": float(np.median(half[lv])),
            "p90_half_width_mm": float(np.percentile(half[lv], 90)), "bands": per_band}
    return out


def print_report(name: str, rep: Dict[str, object],
                 how: str = f"cross-fitted over {FOLDS} subject folds") -> None:
    print(f"\n== {name} (n={rep['n']}, {how})")
    for lv, r in rep["levels"].items():
        bands = "  ".join(f"{b}: {v['coverage']:.3f} (n={v['n']}, med {v['median_half_width_mm']:.2f})"
                          for b, v in r["bands"].items())
        print(f"  {lv}: coverage {r['coverage']:.3f}, median half-width "
              f"{r['median_half_width_mm']:.2f} mm, p90 {r['p90_half_width_mm']:.2f} mm | {bands}")


_QUALITY = ("fit_rms_frac", "one_minus_inlier_fraction", "one_minus_mask_ellipse_dice",
            "uncertain_band_fraction")
CANDIDATES = {  # name -> difficulty features (intervals.FEATURES); the first is a baseline
    "standard (constant)": ("one",),
    "normalized: HC": ("one", "hc_mm"),
    "normalized: HC past 160 mm": ("one", "hc_over_160mm"),
    "normalized: HC + quality": ("one", "hc_mm") + _QUALITY,
    "normalized: HC past 160 mm + quality": ("one", "hc_over_160mm") + _QUALITY,
    # The model's error is roughly constant in model-input pixels: their size in mm.
    "normalized: model pixel": ("model_pixel_mm",),
    "normalized: model pixel + constant": ("one", "model_pixel_mm"),
    "normalized: model pixel + HC past 160 mm": ("one", "model_pixel_mm", "hc_over_160mm"),
    "normalized: model pixel + quality": ("one", "model_pixel_mm") + _QUALITY,
}
# Mondrian candidates: the same difficulty, quantiles per head-size bin of the measured HC
# (the report's bands, by the reference HC, are what they should cover).
BANDED = {"standard, by HC band": ("one",),
          "normalized: model pixel, by HC band": ("model_pixel_mm",),
          "normalized: model pixel + quality, by HC band": ("one", "model_pixel_mm") + _QUALITY}
ALL_CANDIDATES = {**CANDIDATES, **BANDED}


def fit(predictions: str, table_path: str, report_path: str, choose: str,
        fitted_on: str = "val20 validation", quantity: str = "hc") -> None:
    """Cross-fitted report of every candidate; the chosen one fitted on all rows -> table (of
    the HC's errors, or BPD's or OFD's: `quantity`)."""
    cols = read_predictions(predictions)
    reports = {}
    edges = {name: BANDS_MM if name in BANDED else None for name in ALL_CANDIDATES}
    for name, names in ALL_CANDIDATES.items():
        reports[name] = report(cols, cross_fit(cols, names, name, edges[name], quantity),
                               quantity)
        print_report(f"{quantity.upper()}: {name}", reports[name])
    kind = "normalized Mondrian split-conformal" if edges[choose] else "normalized split-conformal"
    of = "" if quantity == "hc" else f" of the {quantity.upper()}"
    table = fit_table(cols, np.arange(len(cols["filename"])), ALL_CANDIDATES[choose],
                      f"crepes {kind}{of} ({choose}), fitted on {fitted_on}", edges[choose],
                      quantity)
    intervals.write_table(table, table_path)
    with open(report_path, "w") as f:
        json.dump({"quantity": quantity, "chosen": choose, "folds": FOLDS, "seed": SEED,
                   "reports": reports, "table": table.to_dict()}, f, indent=1)
    print(f"\nchosen: {choose} -> {table_path}; report -> {report_path}")


def check(predictions: str, table_path: str, quantity: str = "hc") -> Dict[str, object]:
    """Coverage of the package's table (the HC's, or BPD's or OFD's: `quantity`), as it is (no
    refit), on another labelled set."""
    cols = read_predictions(predictions)
    table = intervals.load_table(table_path)
    half = {lv: np.array([table.half_width_mm(h, row_signals(cols, i), lv)
                          for i, h in enumerate(cols["predicted_hc_mm"])]) for lv in LEVELS}
    rep = report(cols, half, quantity)
    print_report(f"table {table_path} applied as is to {predictions}", rep, "no refit")
    return rep


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--model", default="hc_tf/models/hc_effunet_int8.tflite",
                   help="default: the released model (--hc18-folder only; see --cv-work)")
    c.add_argument("--data-dir", help="prepared TFDS data: its validation split")
    c.add_argument("--hc18-folder", default="",
                   help="instead: an HC18-layout folder (for `check` on other labelled images)")
    c.add_argument("--cv-work", default="",
                   help="instead: a cross_validate work dir: each fold's model on its held-out images")
    c.add_argument("--cv-tier", default="int8", choices=sorted(CV_MODELS))
    c.add_argument("--folds", type=int, default=5)
    c.add_argument("--out", required=True)
    k = sub.add_parser("check", help="coverage of the table as it is on another labelled set")
    k.add_argument("--predictions", required=True)
    k.add_argument("--table", default=None, help="default: the package's table of --quantity")
    k.add_argument("--quantity", default="hc", choices=QUANTITIES)
    f = sub.add_parser("fit")
    f.add_argument("--predictions", required=True)
    # No default: the package's table belongs to the released model only (a slip would replace it).
    f.add_argument("--table", required=True, help="the table to write: MODEL.interval_table.json "
                   "beside your model, or the package's (hc_tf/clinical/interval_table.json)")
    f.add_argument("--report", required=True)
    f.add_argument("--choose", default="normalized: model pixel + quality, by HC band",
                   choices=sorted(ALL_CANDIDATES), help="default: the released table's")
    f.add_argument("--fitted-on", default="val20 validation", help="said in the table's method")
    f.add_argument("--quantity", default="hc", choices=QUANTITIES,
                   help="whose errors: the HC's, or BPD's or OFD's (the head ellipse's axes)")
    a = p.parse_args(argv)
    if a.cmd == "collect":
        if not (a.data_dir or a.hc18_folder) or (a.cv_work and not a.data_dir):
            p.error("collect needs --data-dir (with or without --cv-work) or --hc18-folder")
        try:
            collect(a.model, a.data_dir, a.out, a.hc18_folder, a.cv_work, a.cv_tier, a.folds)
        except ValueError as err:
            sys.exit(f"calibrate_intervals: {err}")
    elif a.cmd == "check":
        table = a.table or (intervals.TABLE_PATH if a.quantity == "hc"
                            else intervals.AXIS_TABLE_PATHS[a.quantity])
        try:
            check(a.predictions, table, a.quantity)
        except ValueError as err:
            sys.exit(f"calibrate_intervals: {a.predictions}: {err}")
    else:
        try:
            fit(a.predictions, a.table, a.report, a.choose, a.fitted_on, a.quantity)
        except ValueError as err:
            sys.exit(f"calibrate_intervals: {a.predictions}: {err}")


if __name__ == "__main__":
    main()
