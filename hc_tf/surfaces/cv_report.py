"""The cross-validated figures: every fold's out-of-fold `per_image.csv` -> one table.

Each labelled image is predicted once, by the model of the fold that held it out, so the
pooled figures are over all images (896 for HC18); the spread is that of the per-fold
figures. ADF is HC18's (a head not found counts as HC 0), Dice counts a miss as 0, the
Hausdorff distance is over found heads; bands by the reference HC (`band_of`).
TF-free: `hc_tf.train.cross_validate` writes the CSVs (it needs the models), this reads them.

    python -m hc_tf.surfaces.cv_report WORK_DIR     # WORK_DIR/fold{K}/{int8,keras}/per_image.csv
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import re
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from hc_tf.io import atomic
from hc_tf.io import tables
from hc_tf.surfaces.calibrate_intervals import BAND_LABELS as BANDS, band_of

TIERS = ("int8", "keras")  # the edge model, the full tier (Keras float)
_FOLD_DIR = re.compile(r"^fold(\d+)$")


def read_rows(path: str) -> List[Dict[str, object]]:
    """An evaluate per_image.csv as rows of floats (None where empty) and a `found` flag.

    Raises:
      ValueError: naming the file, when a column the table needs is missing.
    """
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"reference_hc_mm", "adf_mm", "dice", "hd_mm", "found"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: not an evaluate per_image.csv (no {', '.join(sorted(missing))})")
        rows = list(reader)
    num = (lambda v: float(v) if v not in ("", None) else None)  # noqa: E731
    return [{"filename": r.get("filename", ""), "reference_hc_mm": num(r["reference_hc_mm"]),
             "predicted_hc_mm": num(r.get("predicted_hc_mm")),
             "adf_mm": num(r["adf_mm"]), "dice": num(r["dice"]), "hd_mm": num(r["hd_mm"]),
             "found": r["found"] == "True"} for r in rows]


def figures(rows: Sequence[Dict[str, object]]) -> Dict[str, Optional[float]]:
    """n, ADF mean/sd/median, Dice mean, HD mean (found heads), heads not found."""
    if not rows:
        return {"n": 0}
    adf = np.array([r["adf_mm"] for r in rows], float)
    hd = [r["hd_mm"] for r in rows if r["found"] and r["hd_mm"] is not None]
    return {"n": len(rows), "adf_mm_mean": float(adf.mean()), "adf_mm_std": float(adf.std()),
            "adf_mm_median": float(np.median(adf)),
            "dice_mean": float(np.mean([r["dice"] for r in rows])),
            "hd_mm_mean": float(np.mean(hd)) if hd else None,
            "not_found": int(sum(not r["found"] for r in rows))}


def spread(per_fold: Sequence[Dict[str, Optional[float]]], key: str) -> Dict[str, float]:
    """Mean, sd (ddof 1), min and max of a figure across folds."""
    vals = np.array([f[key] for f in per_fold if f.get(key) is not None], float)
    if not len(vals):
        return {}
    return {"mean": float(vals.mean()), "sd": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0,
            "min": float(vals.min()), "max": float(vals.max())}


def aggregate(rows_by_fold: Dict[int, Sequence[Dict[str, object]]]) -> Dict[str, object]:
    """Pooled, per-fold and per-band figures, each with its spread across folds.

    Raises:
      ValueError: when an image appears in two folds (then it was not out of fold).
    """
    names = [r["filename"] for rows in rows_by_fold.values() for r in rows]
    if len(names) != len(set(names)):
        raise ValueError("an image has predictions from two folds: the folds overlap")
    pooled = [r for k in sorted(rows_by_fold) for r in rows_by_fold[k]]
    per_fold = {k: figures(rows_by_fold[k]) for k in sorted(rows_by_fold)}
    out: Dict[str, object] = {
        "folds": sorted(rows_by_fold), "all": figures(pooled), "per_fold": per_fold,
        "across_folds": {key: spread(list(per_fold.values()), key)
                         for key in ("adf_mm_mean", "dice_mean", "hd_mm_mean")}, "bands": {}}
    for band in BANDS:
        in_band = {k: [r for r in rows if band_of([r["reference_hc_mm"]])[0] == band]
                   for k, rows in rows_by_fold.items()}
        fold_figs = [figures(v) for v in in_band.values() if v]
        out["bands"][band] = {**figures([r for v in in_band.values() for r in v]),
                              "adf_mm_across_folds": spread(fold_figs, "adf_mm_mean")}
    return out


def parity(full: Dict[int, Sequence[Dict[str, object]]], edge: Dict[int, Sequence[Dict[str, object]]]
           ) -> Dict[str, Optional[float]]:
    """The quantization gap over every image both tiers found: median and max |dHC|, images
    over 1.5 mm, and the ADF gap (edge - full, over all images)."""
    hc = {r["filename"]: r for rows in full.values() for r in rows}
    pairs = [(hc[r["filename"]], r) for rows in edge.values() for r in rows if r["filename"] in hc]
    diffs = np.array([abs(e["predicted_hc_mm"] - f["predicted_hc_mm"]) for f, e in pairs
                      if f["found"] and e["found"]], float)
    gap = np.mean([e["adf_mm"] - f["adf_mm"] for f, e in pairs]) if pairs else None
    return {"n": len(diffs), "median_abs_dhc_mm": float(np.median(diffs)) if len(diffs) else None,
            "max_abs_dhc_mm": float(diffs.max()) if len(diffs) else None,
            "over_1_5_mm": int((diffs > 1.5).sum()),
            "adf_gap_mm": None if gap is None else float(gap)}


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def markdown(by_tier: Dict[str, Dict[str, object]]) -> str:
    """The model card's tables: pooled and per band (ADF with its spread across folds),
    then per fold, one column group per tier."""
    tiers = [t for t in TIERS if t in by_tier] + [t for t in by_tier if t not in TIERS]
    lines = ["| images | " + " | ".join(f"{t} ADF mm (folds sd) | {t} Dice | {t} HD mm"
                                       for t in tiers) + " |",
             "|---|" + "---|---|---|" * len(tiers)]
    first = by_tier[tiers[0]]
    groups = [("all", first["all"]["n"], lambda s: (s["all"], s["across_folds"]["adf_mm_mean"]))]
    groups += [(f"{b} mm", first["bands"][b]["n"],
                lambda s, b=b: (s["bands"][b], s["bands"][b]["adf_mm_across_folds"]))
               for b in BANDS if first["bands"][b]["n"]]
    for label, n, pick in groups:
        cells = []
        for t in tiers:
            fig, sp = pick(by_tier[t])
            cells.append(f"{_fmt(fig['adf_mm_mean'])} +- {_fmt(fig['adf_mm_std'])} "
                         f"({_fmt(sp.get('sd'))}) | {_fmt(fig['dice_mean'], 4)} | "
                         f"{_fmt(fig['hd_mm_mean'])}")
        lines.append(f"| {label} ({n}) | " + " | ".join(cells) + " |")
    lines += ["", "| fold | images | " + " | ".join(f"{t} ADF mm | {t} Dice" for t in tiers) + " |",
              "|---|---|" + "---|---|" * len(tiers)]
    for k in first["folds"]:
        cells = [f"{_fmt(by_tier[t]['per_fold'][k]['adf_mm_mean'])} | "
                 f"{_fmt(by_tier[t]['per_fold'][k]['dice_mean'], 4)}" for t in tiers]
        lines.append(f"| {k} | {first['per_fold'][k]['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def collect(work_dir: str) -> Dict[str, Dict[int, List[Dict[str, object]]]]:
    """tier -> fold -> rows, from WORK_DIR/fold{K}/{tier}/per_image.csv."""
    out: Dict[str, Dict[int, List[Dict[str, object]]]] = {}
    for path in sorted(glob.glob(os.path.join(work_dir, "fold*", "*", "per_image.csv"))):
        tier_dir = os.path.dirname(path)
        match = _FOLD_DIR.match(os.path.basename(os.path.dirname(tier_dir)))
        if match:
            out.setdefault(os.path.basename(tier_dir), {})[int(match.group(1))] = read_rows(path)
    return out


def report(work_dir: str) -> str:
    """Writes cv_summary.json and cv_table.md into `work_dir`; returns the table.

    Raises:
      ValueError: when no fold's evaluation is there, or the folds overlap.
    """
    rows = collect(work_dir)
    by_tier = {t: aggregate(v) for t, v in rows.items()}
    if not by_tier:
        raise ValueError(f"{work_dir}: no fold*/<tier>/per_image.csv (run hc_tf.train.cross_validate)")
    table = markdown(by_tier)
    doc: Dict[str, object] = dict(by_tier)
    if "int8" in rows and "keras" in rows:
        gap = doc["parity_int8_vs_keras"] = parity(rows["keras"], rows["int8"])
        table += (f"\nint8 vs Keras over {gap['n']} images: median |dHC| "
                  f"{_fmt(gap['median_abs_dhc_mm'], 3)} mm, max {_fmt(gap['max_abs_dhc_mm'])} mm, "
                  f"{gap['over_1_5_mm']} over 1.5 mm, ADF gap {_fmt(gap['adf_gap_mm'], 3)} mm\n")
    tables.write_json(os.path.join(work_dir, "cv_summary.json"), doc)
    atomic.atomic_write_text(os.path.join(work_dir, "cv_table.md"), table)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", help="the folder hc_tf.train.cross_validate wrote")
    args = parser.parse_args(argv)
    try:
        print(report(args.work_dir), end="")
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
