"""The cross-validated figures: every fold's out-of-fold `per_image.csv` -> one table.

Each labelled image is predicted once, by the model of the fold that held it out, so the
pooled figures are over all images (896 for HC18); the spread is that of the per-fold
figures. ADF is HC18's (a head not found counts as HC 0), Dice counts a miss as 0, the
Hausdorff distance is over found heads; bands by the reference HC (`band_of`).
TF-free: `hc_tf.train.cross_validate` writes the CSVs (it needs the models), this reads them.

    python -m hc_tf.surfaces.cv_report WORK_DIR     # WORK_DIR/fold{K}/{int8,keras}/per_image.csv
    python -m hc_tf.surfaces.cv_report LEVER_WORK --baseline BASE_WORK   # a lever, paired

A lever is judged against its baseline image by image (`paired`): the same images, held out by
the same fold in both, so the difference is free of which images a fold happened to hold.
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
from hc_tf.surfaces.interval_fitting import BAND_LABELS as BANDS, band_of
from hc_tf.surfaces.interval_predictions import subject_of

TIERS = ("int8", "keras")  # the edge model, the full tier (Keras float)
BIOMETRY_ERRORS = ("bpd_df_mm", "ofd_df_mm")
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
             "found": r["found"] == "True",
             # BPD and OFD errors (evaluate's, against the reference ellipse's axes): an
             # older per_image.csv has none
             **{key: num(r.get(key)) for key in BIOMETRY_ERRORS}} for r in rows]


def figures(rows: Sequence[Dict[str, object]]) -> Dict[str, Optional[float]]:
    """n, ADF mean/sd/median, Dice mean, HD mean (found heads), heads not found, and the BPD
    and OFD mean |error| (found heads with one; None without)."""
    if not rows:
        return {"n": 0}
    adf = np.array([r["adf_mm"] for r in rows], float)
    hd = [r["hd_mm"] for r in rows if r["found"] and r["hd_mm"] is not None]

    def mean_abs(key):
        errors = [abs(r[key]) for r in rows if r.get(key) is not None]
        return float(np.mean(errors)) if errors else None

    return {"n": len(rows), "adf_mm_mean": float(adf.mean()), "adf_mm_std": float(adf.std()),
            "adf_mm_median": float(np.median(adf)),
            "dice_mean": float(np.mean([r["dice"] for r in rows])),
            "hd_mm_mean": float(np.mean(hd)) if hd else None,
            "not_found": int(sum(not r["found"] for r in rows)),
            "bpd_adf_mm_mean": mean_abs("bpd_df_mm"), "ofd_adf_mm_mean": mean_abs("ofd_df_mm")}


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


def _fold_of(rows_by_fold: Dict[int, Sequence[Dict[str, object]]]) -> Dict[str, tuple]:
    """filename -> (fold, row)."""
    return {r["filename"]: (k, r) for k, rows in rows_by_fold.items() for r in rows}


def _boot_ci(diff: np.ndarray, subjects: Sequence[str], n_boot: int, seed: int) -> List[float]:
    """95% percentile interval of the mean difference, resampling subjects (HC18's images of
    one head, NNN_HC and NNN_2HC, are not independent), each subject's images together."""
    groups: Dict[str, List[int]] = {}
    for i, subject in enumerate(subjects):
        groups.setdefault(subject, []).append(i)
    members = list(groups.values())
    sums = np.array([diff[m].sum() for m in members])
    counts = np.array([len(m) for m in members], float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(members), size=(n_boot, len(members)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def error_agreement(base_err: np.ndarray, other_err: np.ndarray) -> Dict[str, float]:
    """How much two models' signed HC errors on the same images share: their correlation (r;
    and rho, of the ranks, which one image that a model fails outright cannot sway), the SD of
    the baseline's error and of the run-to-run part (SD of the difference / sqrt 2: what
    averaging the two could remove at most), and the median |error| and |difference|."""
    base_err, other_err = np.asarray(base_err, float), np.asarray(other_err, float)
    diff = other_err - base_err
    rank = lambda x: np.argsort(np.argsort(x))  # noqa: E731  (continuous errors: no ties)
    return {"n": int(len(diff)), "r": float(np.corrcoef(base_err, other_err)[0, 1]),
            "rho": float(np.corrcoef(rank(base_err), rank(other_err))[0, 1]),
            "sd_mm": float(base_err.std()), "run_to_run_sd_mm": float(diff.std() / np.sqrt(2)),
            "median_abs_mm": float(np.median(np.abs(base_err))),
            "median_abs_diff_mm": float(np.median(np.abs(diff)))}


def agreement_line(agree: Dict[str, float]) -> str:
    """`error_agreement` in one line of words."""
    return (f"correlation of signed errors {agree['r']:.2f} (of their ranks {agree['rho']:.2f}) "
            f"over {agree['n']} images; SD of the error {agree['sd_mm']:.2f} mm, of its "
            f"run-to-run part {agree['run_to_run_sd_mm']:.2f} mm; median |error| "
            f"{agree['median_abs_mm']:.2f} mm, median |difference| {agree['median_abs_diff_mm']:.2f} mm")


def paired(lever: Dict[int, Sequence[Dict[str, object]]], base: Dict[int, Sequence[Dict[str, object]]],
           n_boot: int = 2000, seed: int = 0) -> Dict[str, object]:
    """The lever's ADF minus the baseline's over the images both measured: the mean difference
    with its 95% bootstrap interval (by examination), images better and worse, overall and per band;
    where both rows carry the predicted HC, how much the two models' signed errors agree over
    the heads both found (`error_agreement`: a lever that changed nothing agrees like a rerun).

    Raises:
      ValueError: when no image is in both, or an image was held out by different folds.
    """
    mine, theirs = _fold_of(lever), _fold_of(base)
    common = sorted(set(mine) & set(theirs))
    if not common:
        raise ValueError("the lever and the baseline share no image: nothing to compare")
    moved = [f for f in common if mine[f][0] != theirs[f][0]]
    if moved:
        raise ValueError(f"{moved[0]}: held out by fold {mine[moved[0]][0]} here and fold "
                         f"{theirs[moved[0]][0]} in the baseline; not the same folds")
    ref = np.array([theirs[f][1]["reference_hc_mm"] for f in common], float)
    a = np.array([mine[f][1]["adf_mm"] for f in common], float)
    b = np.array([theirs[f][1]["adf_mm"] for f in common], float)
    subjects = [subject_of(f) for f in common]
    bands = np.array(band_of(ref))

    def summary(sel: np.ndarray) -> Dict[str, object]:
        d = a[sel] - b[sel]
        return {"n": int(sel.sum()), "adf_mm": float(a[sel].mean()), "baseline_adf_mm": float(b[sel].mean()),
                "diff_mm": float(d.mean()),
                "ci95_mm": _boot_ci(d, [s for s, k in zip(subjects, sel) if k], n_boot, seed),
                "better": int((d < 0).sum()), "worse": int((d > 0).sum())}

    out = summary(np.ones(len(common), bool))
    out["folds"] = sorted({mine[f][0] for f in common})
    both_found = [f for f in common if all(
        rows[f][1].get("found") and rows[f][1].get("predicted_hc_mm") is not None
        for rows in (mine, theirs))]
    lever_err, base_err = ([rows[f][1]["predicted_hc_mm"] - rows[f][1]["reference_hc_mm"]
                            for f in both_found] for rows in (mine, theirs))
    if len(both_found) > 2 and np.std(lever_err) > 0 and np.std(base_err) > 0:  # else no r
        out["signed_error_agreement"] = error_agreement(base_err, lever_err)
    out["bands"] = {band: summary(bands == band) for band in BANDS if (bands == band).any()}
    return out


def paired_markdown(by_tier: Dict[str, Dict[str, object]]) -> str:
    """One row per tier and band: baseline and lever ADF, the difference and its interval."""
    lines = ["| tier | images | baseline ADF mm | this ADF mm | difference mm (95% CI, by examination) "
             "| better / worse |", "|---|---|---|---|---|---|"]
    for tier, cmp in by_tier.items():
        for label, fig in [("all", cmp)] + [(f"{b} mm", f) for b, f in cmp["bands"].items()]:
            lo, hi = fig["ci95_mm"]
            lines.append(f"| {tier}, {label} | {fig['n']} | {fig['baseline_adf_mm']:.2f} | "
                         f"{fig['adf_mm']:.2f} | {fig['diff_mm']:+.2f} ({lo:+.2f} to {hi:+.2f}) | "
                         f"{fig['better']} / {fig['worse']} |")
    agreement = [f"{tier}: " + agreement_line(cmp["signed_error_agreement"])
                 for tier, cmp in by_tier.items() if "signed_error_agreement" in cmp]
    if agreement:
        lines += [""] + agreement
    return "\n".join(lines) + "\n"


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
    if first["all"]["bpd_adf_mm_mean"] is not None:
        lines += ["", "BPD / OFD mean |error| (mm; found heads, against the reference ellipse's "
                  "axes), pooled and by band: " + "; ".join(
                      f"{t} " + ", ".join(f"{label} {_fmt(fig['bpd_adf_mm_mean'])} / "
                                          f"{_fmt(fig['ofd_adf_mm_mean'])}"
                                          for label, fig in [("all", by_tier[t]["all"])] + [
                                              (f"{b} mm", by_tier[t]["bands"][b]) for b in BANDS
                                              if by_tier[t]["bands"][b]["n"]])
                      for t in tiers)]
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


def report(work_dir: str, baseline: Optional[str] = None) -> str:
    """Writes cv_summary.json and cv_table.md into `work_dir`; returns the table. With a
    baseline work dir, adds the paired comparison (`paired`) for each tier both have.

    Raises:
      ValueError: when no fold's evaluation is there, the folds overlap, or the baseline
        shares no image or tier.
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
    if baseline is not None:
        base_rows = collect(baseline)
        tiers = [t for t in rows if t in base_rows]
        if not tiers:
            raise ValueError(f"{baseline}: no tier evaluated in both (this: {', '.join(rows)})")
        cmp = doc["against_baseline"] = {t: paired(rows[t], base_rows[t]) for t in tiers}
        table += (f"\nAgainst the baseline {baseline} (lever - baseline, image by image; "
                  "negative is better):\n\n" + paired_markdown(cmp))
    tables.write_json(os.path.join(work_dir, "cv_summary.json"), doc)
    atomic.atomic_write_text(os.path.join(work_dir, "cv_table.md"), table)
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work_dir", help="the folder hc_tf.train.cross_validate wrote")
    parser.add_argument("--baseline", default=None,
                        help="another such folder (the recipe without the lever): paired differences")
    args = parser.parse_args(argv)
    try:
        print(report(args.work_dir, args.baseline), end="")
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
