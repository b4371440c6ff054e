"""Calibrates the review flag on the validation split and prints its figures.

Runs a model over the validation images once, keeps each measurement's quality signals
(`hc_tf.measure.quality`) and HC error, then chooses the flag's thresholds: for every signal, the
threshold at each of a few quantiles; the rule flags an image when any chosen signal is
past its threshold (`clinical.review_flag`). The search keeps the rule that catches the most
images with |HC error| > 5 mm while flagging at most 10% of images (the flag's goal), fewest
signals first on ties. Prints the rule, its catch and flag rates, and the risk-coverage
table (ADF of the unflagged images as the share flagged grows, images ranked by the
chosen rule's margin); writes the per-image CSV and the plot.

    python benchmarks/review_flag_calibration.py --model RUN/best.keras \
        --data-dir ~/hc-runs/tfds --out ~/hc-runs/review_flag

(a model trained on the train split: the released one trained on the validation split too, and
is refused there)

A model trained on every labelled image (the release after cross-validation) has no held-out
validation image: its flag is calibrated instead on the folds' out-of-fold predictions, the
CSV `hc_tf/surfaces/calibrate_intervals.py collect --cv-work` writes (heads found only):

    python benchmarks/review_flag_calibration.py --predictions ~/hc-runs/cv5/oof_predictions.csv \
        --out ~/hc-runs/review_flag
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import os
import sys

import numpy as np


from hc_tf import clinical
from hc_tf.surfaces import evaluate_summary
from hc_tf import inference

BIG_ERROR_MM = evaluate_summary.LARGE_ERROR_MM  # the errors the flag should catch
MAX_FLAGGED = 0.10
QUANTILES = (0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99)
# signal -> (ReviewThresholds field, direction: +1 flags high values, -1 low ones)
SIGNALS = {"fit_rms_frac": ("max_fit_rms_frac", +1),
           "inlier_fraction": ("min_inlier_fraction", -1),
           "mask_ellipse_dice": ("min_mask_ellipse_dice", -1),
           "uncertain_band_fraction": ("max_uncertain_band_fraction", +1),
           "outside_fraction": ("max_outside_fraction", +1)}


def collect(model: str, data_dir: str, split: str):
    """Per validation image: its signals, |HC error| (HC 0 when not found) and name."""
    from hc_tf.train import data as data_lib
    runner = inference.load_runner(model)
    rows = []
    for pred in inference.predict_samples(runner, data_lib.load_samples(data_dir, split)):
        m, ref = pred.measurement, pred.sample.reference_hc_mm
        q = dataclasses.asdict(m.quality) if m.quality else {k: np.nan for k in SIGNALS}
        rows.append({"filename": pred.sample.filename, "reference_hc_mm": ref,
                     "hc_mm": m.hc_mm,
                     "abs_error_mm": abs((m.hc_mm or 0.0) - ref), "found": m.found,
                     **{k: q[k] for k in SIGNALS}})
    return rows


def rows_from_predictions(path: str):
    """The same rows from a `calibrate_intervals collect` CSV (every head in it was found)."""
    from hc_tf.surfaces import interval_predictions
    cols = interval_predictions.read_predictions(path)
    return [{"filename": str(name), "reference_hc_mm": float(ref), "hc_mm": float(hc),
             "abs_error_mm": abs(float(hc) - float(ref)), "found": True,
             **{k: float(cols[k][i]) for k in SIGNALS}}
            for i, (name, ref, hc) in enumerate(zip(
                cols["filename"], cols["reference_hc_mm"], cols["predicted_hc_mm"]))]


def flags_for(rows, rule) -> np.ndarray:
    """Boolean per row: does `rule` ({signal: threshold}) flag it? (Not found: always.)"""
    out = np.array([not r["found"] for r in rows])
    for name, thr in rule.items():
        v = np.array([r[name] for r in rows], np.float64)
        out |= (v > thr) if SIGNALS[name][1] > 0 else (v < thr)
    return out


def search(rows):
    """The rule (<= 2 signals) with the best catch at <= MAX_FLAGGED flagged."""
    big = np.array([r["abs_error_mm"] > BIG_ERROR_MM for r in rows])
    candidates = {}
    for name, (_, sign) in SIGNALS.items():
        v = np.array([r[name] for r in rows], np.float64)
        candidates[name] = sorted({float(np.quantile(v, q if sign > 0 else 1 - q))
                                   for q in QUANTILES})
    best = None
    for k in (1, 2):
        for names in itertools.combinations(SIGNALS, k):
            for thrs in itertools.product(*(candidates[n] for n in names)):
                rule = dict(zip(names, thrs))
                f = flags_for(rows, rule)
                if f.mean() > MAX_FLAGGED:
                    continue
                caught = int((f & big).sum())
                key = (caught, -k, -f.mean())
                if best is None or key > best[0]:
                    best = (key, rule)
    return best[1], big


def risk_coverage(rows, rule):
    """Rows ranked by how far past its thresholds the rule puts them (most doubtful first)."""
    margin = np.full(len(rows), -np.inf)
    for name, thr in rule.items():
        v = np.array([r[name] for r in rows], np.float64)
        margin = np.maximum(margin, (v - thr) / max(abs(thr), 1e-9) * SIGNALS[name][1])
    margin[[not r["found"] for r in rows]] = np.inf
    order = np.argsort(-margin)
    err = np.array([r["abs_error_mm"] for r in rows])[order]
    table = []
    for share in (0.0, 0.02, 0.05, 0.10, 0.15, 0.20, 0.30):
        n = int(round(share * len(rows)))
        table.append((share, n, float(err[n:].mean())))
    return table, err


# The refusal's way out here: this script's --predictions, and the command that writes them.
PREDICTIONS_ROUTE = ("calibrate its flag with --predictions OOF.csv, its recipe's out-of-fold "
                     "predictions (python -m hc_tf.surfaces.calibrate_intervals collect --cv-work "
                     "CV_WORK --data-dir DATA_DIR --out OOF.csv writes them), or pass --model for "
                     "a model trained on the train split")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--data-dir")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--predictions", help="instead of --model/--data-dir: out-of-fold "
                        "predictions (calibrate_intervals collect --cv-work)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if not args.predictions and not (args.model and args.data_dir):
        parser.error("give --model and --data-dir, or --predictions")
    if args.model and not args.predictions and args.split == "validation":
        from hc_tf.surfaces import interval_predictions
        try:
            interval_predictions.refuse_a_model_trained_on_validation(args.model, PREDICTIONS_ROUTE)
        except ValueError as err:
            sys.exit(f"review_flag_calibration: {err}")
    os.makedirs(args.out, exist_ok=True)
    rows = (rows_from_predictions(args.predictions) if args.predictions
            else collect(args.model, args.data_dir, args.split))
    with open(os.path.join(args.out, "signals.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    rule, big = search(rows)
    flagged = flags_for(rows, rule)
    thresholds = {SIGNALS[n][0]: round(t, 4) for n, t in rule.items()}
    print(f"{len(rows)} images, {int(big.sum())} with |HC error| > {BIG_ERROR_MM:g} mm")
    print(f"rule: flag when {rule} -> ReviewThresholds({thresholds})")
    print(f"flagged {int(flagged.sum())} ({flagged.mean():.1%}), caught "
          f"{int((flagged & big).sum())} of {int(big.sum())} big errors; ADF unflagged "
          f"{np.mean([r['abs_error_mm'] for r, fl in zip(rows, flagged) if not fl]):.3f} mm, "
          f"flagged {np.mean([r['abs_error_mm'] for r, fl in zip(rows, flagged) if fl]):.3f} mm")
    shipped = np.array([r["found"] is False or clinical.review_flag(clinical.QualitySignals(
        **{k: r[k] for k in SIGNALS}, hc_mm=r["hc_mm"]))[0] for r in rows])
    print(f"shipped rule (clinical.DEFAULT_REVIEW_THRESHOLDS): flagged {int(shipped.sum())} "
          f"({shipped.mean():.1%}), caught {int((shipped & big).sum())} of {int(big.sum())}")
    table, _ = risk_coverage(rows, rule)
    print("share flagged | images | ADF of the rest (mm)")
    for share, n, adf in table:
        print(f"{share:13.0%} | {n:6d} | {adf:.3f}")
    with open(os.path.join(args.out, "rule.json"), "w") as f:
        json.dump({"rule": rule, "thresholds": thresholds, "risk_coverage": table}, f, indent=2)
    _plot(table, os.path.join(args.out, "risk_coverage.png"))


def _plot(table, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([100 * s for s, _, _ in table], [a for _, _, a in table], "o-")
    ax.set_xlabel("images flagged for review (%)")
    ax.set_ylabel("ADF of the unflagged images (mm)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
