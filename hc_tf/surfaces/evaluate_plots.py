"""evaluate's figures: the Dice and ADF distributions, and the Bland-Altman plot."""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from hc_tf.io import atomic as io_utils


def plot_distributions(rows: Sequence[Dict[str, object]], out_png: str) -> None:
    """Histogram and box plot of Dice and ADF over the labelled images (challenge ADF)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dice = [float(r["dice"]) for r in rows if r.get("dice") is not None]
    adf = [float(r["adf_mm"]) for r in rows if r.get("adf_mm") is not None]
    fig, axes = plt.subplots(2, 2, figsize=(10, 6))
    for col, (vals, name) in enumerate(((dice, "Dice"), (adf, "ADF (mm)"))):
        if vals:
            axes[0, col].hist(vals, bins=30, color="tab:blue" if col == 0 else "tab:orange")
            axes[1, col].boxplot(vals, orientation="horizontal")
        axes[0, col].set_title(f"{name}: mean {np.mean(vals) if vals else float('nan'):.3f}, "
                               f"n={len(vals)}")
        axes[1, col].set_xlabel(name)
    fig.tight_layout()
    with io_utils.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def plot_bland_altman(rows: Sequence[Dict[str, object]], figures: Dict[str, object],
                      out_png: str) -> None:
    """Bland-Altman plot of predicted vs reference HC (found images): the difference against
    the pair's mean, in mm and in %, with the mean difference and 95% limits of agreement.

    Args:
      rows: per-image rows (`score`).
      figures: `bland_altman(...)` of the same rows.
      out_png: the PNG to write (atomically).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [(float(r["predicted_hc_mm"]), float(r["reference_hc_mm"])) for r in rows
             if r.get("found") and r.get("reference_hc_mm") is not None]
    flagged = [bool(r.get("review")) for r in rows
               if r.get("found") and r.get("reference_hc_mm") is not None]
    mean = np.array([0.5 * (p + q) for p, q in pairs])
    diff = np.array([p - q for p, q in pairs])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, values, unit in ((axes[0], diff, "mm"),
                             (axes[1], 100.0 * diff / np.where(mean > 0, mean, 1.0), "pct")):
        if len(values):
            ok = ~np.array(flagged, bool)
            ax.scatter(mean[ok], values[ok], s=10, alpha=0.6, label="not flagged")
            ax.scatter(mean[~ok], values[~ok], s=18, marker="x", color="tab:red",
                       label="flagged for review")
        label = "%" if unit == "pct" else "mm"
        for key, style in (("mean_diff", "-"), ("loa_low", "--"), ("loa_high", "--")):
            v = figures.get(f"{key}_{unit}")
            if v is not None:
                ax.axhline(v, color="k", linestyle=style, linewidth=1)
                ax.annotate(f"{key.replace('_', ' ')} {v:+.2f} {label}", (1.0, v),
                            xycoords=("axes fraction", "data"), ha="right", va="bottom",
                            fontsize=8)
        ax.set_xlabel("mean of predicted and reference HC (mm)")
        ax.set_ylabel(f"predicted - reference ({label})")
        if len(values):
            ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(f"Bland-Altman, n={figures.get('n', 0)} images with a head found "
                 "(limits: mean +- 1.96 SD)")
    fig.tight_layout()
    with io_utils.atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
