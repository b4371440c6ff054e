"""Risk-coverage of the review flag and other confidence scores on validation: AURC and AUGRC.

Failure: |HC error| > 3 mm. Each score ranks the images (most confident first); keeping the
top k of n gives coverage k/n and selective risk = failures among the kept / k. AURC is the
mean selective risk over k = 1..n; AUGRC (Traub et al., "Overcoming common flaws in the
evaluation of selective classification systems", 2024) the mean of failures among the kept / n
(the joint probability of a kept failure), which does not reward ranking the easy images
first as AURC does. Lower is better for both; "optimal" ranks every failure last.

    python benchmarks/risk_coverage.py --predictions ~/hc-runs/uncertainty/val_predictions.csv \
        --plot export/risk_coverage_aurc.png --json ~/hc-runs/uncertainty/risk_coverage.json

The predictions CSV comes from `hc_tf/surfaces/calibrate_intervals.py collect` (validation, or
the out-of-fold predictions of a cross-validation with `--cv-work`).
"""

from __future__ import annotations

import argparse
import json
from typing import Dict

import numpy as np

from hc_tf import clinical
from hc_tf.clinical.review import CALIBRATED_SIGNALS
from hc_tf.surfaces import interval_predictions as cal  # the predictions CSV reader

FAILURE_MM = 3.0
RULE = {name: (field, direction)  # the shipped review rule's calibrated pair
        for name, field, direction in CALIBRATED_SIGNALS}


def flag_margin(cols: Dict[str, np.ndarray]) -> np.ndarray:
    """How far past the shipped rule's limits each image is (relative; > 0 = flagged), as
    benchmarks/review_flag_calibration.py ranks them."""
    t = clinical.DEFAULT_REVIEW_THRESHOLDS
    margin = np.full(len(cols["filename"]), -np.inf)
    for name, (field, direction) in RULE.items():
        thr = getattr(t, field)
        margin = np.maximum(margin, (cols[name] - thr) / abs(thr) * direction)
    return margin


def curves(confidence: np.ndarray, failure: np.ndarray) -> Dict[str, np.ndarray]:
    """Coverage, selective risk and generalized risk, most confident first."""
    order = np.argsort(-confidence, kind="stable")
    fails = np.cumsum(failure[order])
    k = np.arange(1, len(order) + 1)
    return {"coverage": k / len(order), "risk": fails / k, "generalized_risk": fails / len(order)}


def areas(confidence: np.ndarray, failure: np.ndarray) -> Dict[str, float]:
    c = curves(confidence, failure)
    return {"aurc": float(c["risk"].mean()), "augrc": float(c["generalized_risk"].mean())}


def scores(cols: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Confidence scores (higher = trust more), none needing an extra model run."""
    margin = flag_margin(cols)
    hc = cols["predicted_hc_mm"]
    rank = lambda v: np.argsort(np.argsort(v)) / (len(v) - 1)  # noqa: E731
    return {"review flag (shipped rule, margin)": -margin,
            "soft Dice confidence": cols["soft_dice_conf"],
            "head size (smaller = trusted)": -hc,
            "flag margin + head size (rank mean)": -(rank(margin) + rank(hc)),
            "soft Dice + head size (rank mean)": rank(cols["soft_dice_conf"]) - rank(hc)}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--predictions", required=True)
    p.add_argument("--plot")
    p.add_argument("--json")
    a = p.parse_args(argv)
    cols = cal.read_predictions(a.predictions)
    err = np.abs(cols["reference_hc_mm"] - cols["predicted_hc_mm"])
    failure = (err > FAILURE_MM).astype(float)
    n = len(err)
    out = {"n": n, "failures": int(failure.sum()), "failure_mm": FAILURE_MM, "scores": {}}
    flagged = flag_margin(cols) > 0
    out["shipped_flag"] = {"flagged": int(flagged.sum()),
                           "failures_caught": int((flagged & (failure > 0)).sum())}
    out["optimal"] = areas(-failure, failure)
    rng = np.random.default_rng(0)
    rand = [areas(rng.random(n), failure) for _ in range(200)]
    out["random_mean"] = {k: float(np.mean([r[k] for r in rand])) for k in ("aurc", "augrc")}
    print(f"n={n}, failures (|HC error| > {FAILURE_MM} mm): {int(failure.sum())}; shipped flag: "
          f"{out['shipped_flag']['flagged']} flagged, {out['shipped_flag']['failures_caught']} "
          f"failures caught")
    print(f"{'score':40s} {'AURC':>7s} {'AUGRC':>7s}")
    for name, conf in scores(cols).items():
        out["scores"][name] = areas(conf, failure)
        print(f"{name:40s} {out['scores'][name]['aurc']:7.4f} {out['scores'][name]['augrc']:7.4f}")
    for name in ("random_mean", "optimal"):
        print(f"{name:40s} {out[name]['aurc']:7.4f} {out[name]['augrc']:7.4f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    if a.plot:
        _plot(cols, failure, a.plot)


def _plot(cols, failure, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 5.4), dpi=110)
    for name, conf in scores(cols).items():
        c = curves(conf, failure)
        a = areas(conf, failure)
        ax.plot(c["coverage"], c["risk"], label=f"{name}: AURC {a['aurc']:.3f}, "
                                                f"AUGRC {a['augrc']:.3f}")
    ax.axhline(failure.mean(), color="gray", ls=":", lw=1, label="keep all")
    ax.set_xlabel("coverage (share of images kept)")
    ax.set_ylabel(f"risk: share of kept with |HC error| > {FAILURE_MM:g} mm")
    ax.set_title(f"Risk-coverage ({len(failure)} images of the predictions CSV)", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    ax.set_ylim(0, max(0.2, failure.mean() * 1.6))
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
