"""Fits and checks an interval table on collected predictions (`interval_predictions`): the
candidate difficulty models (CANDIDATES, BANDED), normalized split-conformal quantiles (crepes;
Mondrian: per head-size bin) and their coverage, cross-fitted over examination folds (HC18's file prefix).

Its command line is `python -m hc_tf.surfaces.calibrate_intervals fit|check`; fitting needs the
`[calibrate]` extra, checking does not.
"""

from __future__ import annotations

import json
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from hc_tf.clinical import biometry
from hc_tf.clinical import interval_table
from hc_tf.clinical import intervals
from hc_tf.measure import metrics
from hc_tf.surfaces.interval_predictions import read_predictions, row_signals

QUANTITIES = ("hc", "bpd", "ofd", "ci", "cbpd")
# the cephalic index and the corrected BPD are no columns of their own: computed from BPD and
# OFD (clinical.biometry's definitions), of the reference and of the prediction
DERIVED = {"ci": biometry.cephalic_index, "cbpd": biometry.corrected_bpd_mm}
NAMES = {"hc": "HC", **intervals.AXIS_NAMES}
LEVELS = (0.80, 0.90, 0.95)
BANDS_MM = metrics.HEAD_SIZE_BANDS_MM  # head-size bands: <120, 120-200, 200-260, >260 mm
BAND_LABELS = metrics.HEAD_SIZE_BAND_LABELS
FOLDS = 5
SEED = 0


def features(cols: Dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """The difficulty features the table names, (n, k), via the package's own definition."""
    signals = [row_signals(cols, i) for i in range(len(cols["filename"]))]
    return np.array([interval_table.feature_vector(h, s, names)
                     for h, s in zip(cols["predicted_hc_mm"], signals)])


def residuals(cols: Dict[str, np.ndarray], quantity: str = "hc") -> np.ndarray:
    """Reference minus prediction of the quantity ("hc", "bpd", "ofd", "cbpd" in mm, or "ci",
    the cephalic index in index points), per row.

    Raises:
      ValueError: when the CSV has none of that quantity (an older collect).
    """
    columns = ("bpd", "ofd") if quantity in DERIVED else (quantity,)
    wanted = [f"{who}_{q}_mm" for q in columns for who in ("reference", "predicted")]
    if any(cols.get(c) is None or not np.isfinite(cols[c]).all() for c in wanted):
        raise ValueError(f"the predictions lack {' / '.join(wanted)} on some rows: collect "
                         "them again")
    if quantity in DERIVED:
        of = {who: np.array([DERIVED[quantity](b, o) for b, o in
                             zip(cols[f"{who}_bpd_mm"], cols[f"{who}_ofd_mm"])])
              for who in ("reference", "predicted")}
        return of["reference"] - of["predicted"]
    return cols[f"reference_{quantity}_mm"] - cols[f"predicted_{quantity}_mm"]


def fit_table(cols: Dict[str, np.ndarray], idx: np.ndarray, names: Sequence[str],
              method: str, bin_edges_mm: Optional[Sequence[float]] = None,
              quantity: str = "hc", small_bins_ok: bool = False) -> interval_table.IntervalTable:
    """Difficulty model (non-negative least squares of |residual| on the features) and the
    conformal quantiles (crepes, normalized) fitted on the rows `idx`; with `bin_edges_mm`,
    Mondrian: one set of quantiles per bin of the measured HC (crepes `bins`).

    A bin with fewer rows than `min_bin_rows` of the highest level is refused (ValueError, by
    `refuse_small_bins`): crepes would give it an infinite quantile (an empty bin: 0, a
    zero-width interval). `small_bins_ok` lets the cross-fit through, whose report counts
    such rows uncovered (`report`).

    Half the rows fit the difficulty and the other half the quantiles would waste a small
    split; instead the difficulty is fitted on all of `idx` by a 2-parameter-ish linear model
    (few degrees of freedom, so the conformal scores on the same rows stay near-exchangeable
    with new ones) -- the cross-fitted report below is what checks that honestly.
    """
    from crepes import ConformalRegressor
    from scipy.optimize import nnls

    rows = {k: v[idx] for k, v in cols.items()}
    x = features(rows, names)
    caps = np.nanmax(np.where(np.isfinite(x), x, -np.inf), axis=0)
    floors = np.maximum(np.nanmin(np.where(np.isfinite(x), x, np.inf), axis=0), 0.0)
    x = np.clip(np.where(np.isnan(x), caps, x), floors, caps)
    resid = residuals(cols, quantity)[idx]  # the features and bins stay the measured HC's
    coef, _ = nnls(x, np.abs(resid))
    table = interval_table.IntervalTable(method=method, feature_names=tuple(names),
                                         coefficients=tuple(float(c) for c in coef),
                                         min_sigma_mm=interval_table.MIN_SIGMA_MM, quantiles={},
                                         n_calibration=int(len(idx)),
                                         feature_caps=tuple(float(c) for c in caps),
                                         feature_floors=tuple(float(c) for c in floors),
                                         domain_caps=domain_caps(rows),
                                         source="hc_tf/surfaces/calibrate_intervals.py (crepes "
                                                "ConformalRegressor, normalized)")
    sigmas = np.array([table.sigma_from_features(r) for r in x])
    if bin_edges_mm is None:
        cr = ConformalRegressor().fit(resid, sigmas=sigmas)
        return interval_table.IntervalTable(**{**table.__dict__, "quantiles": _score_quantiles(cr)})
    edges = tuple(float(e) for e in bin_edges_mm)
    bins = np.array([interval_table.bin_of(edges, h) for h in cols["predicted_hc_mm"][idx]])
    if not small_bins_ok:
        refuse_small_bins(bins, edges)
    cr = ConformalRegressor().fit(resid, sigmas=sigmas, bins=bins)
    per_bin = tuple(_score_quantiles(cr, b) for b in range(len(edges) + 1))
    # `quantiles` (the levels a table offers) holds the pooled ones, for reference only.
    pooled = _score_quantiles(ConformalRegressor().fit(resid, sigmas=sigmas))
    return interval_table.IntervalTable(**{**table.__dict__, "quantiles": pooled,
                                           "bin_edges_mm": edges, "bin_quantiles": per_bin})


def min_bin_rows(level: float) -> int:
    """The fewest calibration rows for which crepes gives a finite quantile at `level`: the
    smallest n with int((1 - level) (n + 1)) >= 1, in crepes' own float arithmetic
    (ceil(1 / (1 - level)) - 1 in exact arithmetic: 19 at 95%; the floats make it 10 at 90%
    and 5 at 80%)."""
    n = 1
    while int((1.0 - level) * (n + 1)) < 1:
        n += 1
    return n


def refuse_small_bins(bins: np.ndarray, edges: Sequence[float]) -> None:
    """Raises ValueError naming each head-size bin with fewer rows than `min_bin_rows` of the
    highest fitted level, its count and the minimum."""
    need = max(min_bin_rows(lv) for lv in LEVELS)
    lows, highs = (None,) + tuple(edges), tuple(edges) + (None,)
    short = []
    for b, (lo, hi) in enumerate(zip(lows, highs)):
        n = int(np.sum(bins == b))
        if n < need:
            span = (f"HC < {hi:g} mm" if lo is None else f"HC >= {lo:g} mm" if hi is None
                    else f"{lo:g} <= HC < {hi:g} mm")
            short.append(f"bin {b} ({span}): {n} rows")
    if short:
        raise ValueError(
            f"a Mondrian (by HC band) table needs at least {need} calibration rows in every "
            f"head-size bin for a finite {max(LEVELS):.0%} quantile (crepes gives an empty bin a "
            f"zero-width interval and a smaller one an infinite one); " + "; ".join(short) +
            ": choose a candidate not by HC band (--choose), or collect more predictions "
            "(e.g. cross-validation's out-of-fold ones, --cv-work)")


def domain_caps(rows: Dict[str, np.ndarray]) -> Optional[Dict[str, float]]:
    """The largest value of each domain feature (`interval_table.DOMAIN_FEATURES`) these rows
    hold; None when they hold none (predictions collected without the pixel size)."""
    x = features(rows, interval_table.DOMAIN_FEATURES)
    caps = {n: float(np.max(x[:, i][np.isfinite(x[:, i])]))
            for i, n in enumerate(interval_table.DOMAIN_FEATURES) if np.isfinite(x[:, i]).any()}
    return caps or None


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
                          quantity, small_bins_ok=True)
        for i in np.flatnonzero(folds == k):
            sig = row_signals(cols, i)
            for lv in LEVELS:
                half[lv][i] = table.half_width_mm(cols["predicted_hc_mm"][i], sig, lv)
    return half


def band_of(hc_mm: np.ndarray) -> List[str]:
    """Head-size band by the reference HC."""
    return [metrics.head_size_band(h) for h in hc_mm]


def clopper_pearson(covered: int, n: int, confidence: float = 0.95) -> Tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval of a binomial proportion, covered of n:
    the p whose binomial tails P(X >= covered) and P(X <= covered) are (1 - confidence) / 2,
    found by bisection on the exact tail sums (NumPy alone: `check` needs no SciPy); (0, 1)
    for n = 0."""
    if n <= 0:
        return 0.0, 1.0
    alpha = (1.0 - confidence) / 2.0
    k = np.arange(n + 1)
    log_comb = np.array([math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
                         for i in k])

    def pmf(p: float) -> np.ndarray:  # P(X = k) for every k, 0 < p < 1
        return np.exp(log_comb + k * np.log(p) + (n - k) * np.log1p(-p))

    def solve(tail, increasing: bool) -> float:  # the p in (0, 1) where tail(p) = alpha
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2.0
            if (tail(mid) < alpha) == increasing:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2.0

    lower = 0.0 if covered == 0 else solve(lambda p: float(pmf(p)[covered:].sum()), True)
    upper = 1.0 if covered == n else solve(lambda p: float(pmf(p)[:covered + 1].sum()), False)
    return lower, upper


def _coverage(cover: np.ndarray) -> Dict[str, object]:
    """Coverage of a boolean array with its exact 95% interval."""
    lo, hi = clopper_pearson(int(cover.sum()), int(len(cover)))
    return {"coverage": float(cover.mean()), "coverage_ci95": [lo, hi]}


def _json_safe(value):
    """`value` with each infinite or NaN float as None (a half-width a too-small bin left
    infinite): JSON has no Infinity, and strict readers refuse the token Python writes."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _p90(half: np.ndarray) -> float:
    """The 90th percentile of half-widths, inf (not NaN) where it falls among infinite ones."""
    with np.errstate(invalid="ignore"):
        p = float(np.percentile(half, 90))
    return math.inf if math.isnan(p) and np.isinf(half).any() else p


def report(cols: Dict[str, np.ndarray], half: Dict[float, np.ndarray],
           quantity: str = "hc") -> Dict[str, object]:
    """Coverage (with its Clopper-Pearson 95% interval) and widths per level, and per head-size
    band (of the reference HC) at every level, of the quantity's errors. A row without a finite,
    positive half-width (a Mondrian bin too small for the level: infinite; an empty one: zero
    width) counts as not covered, and is counted (`n_no_interval`)."""
    err = np.abs(residuals(cols, quantity))
    bands = np.array(band_of(cols["reference_hc_mm"]))
    out: Dict[str, object] = {"n": int(len(err)), "levels": {}}
    for lv in LEVELS:
        usable = np.isfinite(half[lv]) & (half[lv] > 0)
        cover = usable & (err <= half[lv])
        per_band = {b: {"n": int((bands == b).sum()), **_coverage(cover[bands == b]),
                        "median_half_width_mm": float(np.median(half[lv][bands == b])),
                        "n_no_interval": int((~usable[bands == b]).sum())}
                    for b in BAND_LABELS if (bands == b).any()}
        out["levels"][f"{lv:.2f}"] = {
            **_coverage(cover),
            "median_half_width_mm": float(np.median(half[lv])),
            "p90_half_width_mm": _p90(half[lv]), "bands": per_band,
            "n_no_interval": int((~usable).sum())}
    return out


def print_report(name: str, rep: Dict[str, object],
                 how: str = f"cross-fitted over {FOLDS} examination folds") -> None:
    print(f"\n== {name} (n={rep['n']}, {how})")
    for lv, r in rep["levels"].items():
        bands = "  ".join(f"{b}: {v['coverage']:.3f} (n={v['n']}, med {v['median_half_width_mm']:.2f}"
                          f", 95% CI {v['coverage_ci95'][0]:.3f}-{v['coverage_ci95'][1]:.3f})"
                          for b, v in r["bands"].items())
        none = (f" | {r['n_no_interval']} rows without a finite, non-zero interval (a head-size "
                "bin too small for this level), counted uncovered" if r["n_no_interval"] else "")
        print(f"  {lv}: coverage {r['coverage']:.3f}, median half-width "
              f"{r['median_half_width_mm']:.2f} mm, p90 {r['p90_half_width_mm']:.2f} mm | {bands}"
              f"{none}")


_QUALITY = interval_table.QUALITY_FEATURES
CANDIDATES = {  # name -> difficulty features (interval_table.FEATURES); the first is a baseline
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
# `fit`'s choice by rule, as the released tables were chosen: at every fitted level, every
# head-size band covered at least that level less BAND_SLACK (cross-fitted: 0.93 at 95%), then
# the smallest median half-width at 95%. Every level, not 95% alone: a table offers them all
# (`--level`), and on 546 images an unbanded BPD candidate covered its bands >= 0.935 at 95%
# but 120-200 mm heads 0.759 at 80%.
RULE = "rule"
BAND_SLACK = 0.02


def by_rule(reports: Dict[str, Dict[str, object]]) -> str:
    """The candidate RULE picks from `fit`'s cross-fitted reports.

    Raises:
      ValueError: no candidate covers every band at every level.
    """
    def covers(rep) -> bool:  # (1e-9: 0.95 - 0.02 is a hair under 0.93 in floats)
        return all(b["coverage"] >= float(level) - BAND_SLACK - 1e-9
                   for level, r in rep["levels"].items() for b in r["bands"].values())

    covering = [name for name, rep in reports.items() if covers(rep)]
    if not covering:
        raise ValueError(f"no candidate covers every head-size band within {BAND_SLACK} of every "
                         "level: choose one by name (--choose)")
    return min(covering, key=lambda name: reports[name]["levels"]["0.95"]["median_half_width_mm"])


def fit(predictions: str, table_path: str, report_path: str, choose: str,
        fitted_on: str = "val20 validation", quantity: str = "hc") -> None:
    """Cross-fitted report of every candidate; the chosen one (by name, or RULE's) fitted on
    all rows -> table (of the HC's errors, or BPD's, OFD's or the cephalic index's:
    `quantity`)."""
    cols = read_predictions(predictions)
    reports = {}
    edges = {name: BANDS_MM if name in BANDED else None for name in ALL_CANDIDATES}
    if edges.get(choose):  # refused before the cross-fit, not after it
        refuse_small_bins(np.array([interval_table.bin_of(BANDS_MM, h)
                                    for h in cols["predicted_hc_mm"]]), BANDS_MM)
    for name, names in ALL_CANDIDATES.items():
        reports[name] = report(cols, cross_fit(cols, names, name, edges[name], quantity),
                               quantity)
        print_report(f"{NAMES[quantity]}: {name}", reports[name])
    if choose == RULE:
        choose = by_rule(reports)
    kind = "normalized Mondrian split-conformal" if edges[choose] else "normalized split-conformal"
    of = "" if quantity == "hc" else f" of the {NAMES[quantity]}"
    table = fit_table(cols, np.arange(len(cols["filename"])), ALL_CANDIDATES[choose],
                      f"crepes {kind}{of} ({choose}), fitted on {fitted_on}", edges[choose],
                      quantity)
    interval_table.write_table(table, table_path)
    with open(report_path, "w") as f:
        json.dump(_json_safe({"quantity": quantity, "chosen": choose, "folds": FOLDS,
                              "seed": SEED, "reports": reports, "table": table.to_dict()}),
                  f, indent=1, allow_nan=False)
    print(f"\nchosen: {choose} -> {table_path}; report -> {report_path}")


def check(predictions: str, table_path: str, quantity: str = "hc") -> Dict[str, object]:
    """Coverage of the package's table (the HC's, or BPD's or OFD's: `quantity`), as it is (no
    refit), on another labelled set."""
    cols = read_predictions(predictions)
    table = interval_table.load_table(table_path)
    half = {lv: np.array([table.half_width_mm(h, row_signals(cols, i), lv)
                          for i, h in enumerate(cols["predicted_hc_mm"])]) for lv in LEVELS}
    rep = report(cols, half, quantity)
    print_report(f"table {table_path} applied as is to {predictions}", rep, "no refit")
    return rep
