"""The summary figures of an evaluation (summary.json) over its per-image rows (`evaluate.score`):
the challenge's ADF and DF, Dice and Hausdorff, per head-size band, the HC interval's coverage,
Bland-Altman agreement, the GA error per trimester (defined here, per image as well), the review
flag's sorting, and BPD and OFD.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from hc_tf import clinical
from hc_tf import measure as measure_lib
from hc_tf.clinical import interval_table

BIOMETRY = ("bpd", "ofd")

# GA error: Hadlock 1984 GA of the predicted HC minus that of the reference HC, per trimester
# of the reference GA (by the reference HC's Hadlock GA). Hadlock applies from 14+0 to 42+0
# weeks only, so a reference below 14 weeks gets no GA error (out of range, counted), and a
# prediction outside that range neither: no extrapolated number.
GA_ERROR_METHOD = clinical.GaMethod.HADLOCK_1984
TRIMESTERS = ("first", "second", "third")
TRIMESTER_WEEKS = {"first": "<14", "second": "14-28", "third": ">=28"}
_THIRD_TRIMESTER_START_WEEKS = 28.0
REFERENCE_BEYOND_RANGE = "beyond_range"  # reference HC above Hadlock's 42 weeks
LARGE_ERROR_MM = 5.0  # "|HC error| > 5 mm": the errors the review flag should catch
LOA_Z = 1.96          # Bland-Altman 95% limits of agreement


def reference_trimester(ref_hc_mm: float) -> str:
    """The trimester of a reference HC by its Hadlock 1984 GA: "first" (<14 weeks, below
    Hadlock's range), "second" (14 to <28), "third" (28 to 42), or REFERENCE_BEYOND_RANGE.

    Raises:
      ValueError: for an HC that is not a finite positive number.
    """
    est = clinical.ga_from_hc(ref_hc_mm, GA_ERROR_METHOD)
    if est.ga_days is None:
        # Out of range: the formula increases with HC, so the side says which end.
        return "first" if ref_hc_mm < est.valid_hc_mm[0] else REFERENCE_BEYOND_RANGE
    return "second" if est.ga_weeks < _THIRD_TRIMESTER_START_WEEKS else "third"


def ga_error_days(pred_hc_mm: Optional[float], ref_hc_mm: float) -> Optional[float]:
    """Hadlock GA (days) of the predicted HC minus that of the reference; None when no head
    was found or either HC is outside Hadlock's 14-42 week range."""
    if pred_hc_mm is None:
        return None
    pred = clinical.ga_from_hc(pred_hc_mm, GA_ERROR_METHOD)
    ref = clinical.ga_from_hc(ref_hc_mm, GA_ERROR_METHOD)
    if pred.ga_days is None or ref.ga_days is None:
        return None
    return pred.ga_days - ref.ga_days


def summarize(rows: Sequence[Dict[str, object]], interval_note: str = "") -> Dict[str, object]:
    """Summary figures over labelled rows.

    ADF and DF are the challenge's (a not-found image scores ADF = reference
    HC); `adf_found_mm_*` are over the found images only, for reading a model's
    accuracy apart from its misses. Dice counts a not-found image as 0;
    Hausdorff is over found images. `bands`, `hc_interval`, `bland_altman`,
    `ga_error_days` and `review_flag` are nested (see their functions). `interval_note`: why
    the model has no HC interval (the runner's), said in `hc_interval`.
    """
    labelled = [r for r in rows if r["reference_hc_mm"] is not None]
    found = [r for r in labelled if r["found"]]

    def stat(key, fn, among=labelled):
        vals = [float(r[key]) for r in among if r[key] is not None]
        return float(fn(vals)) if vals else None

    return {
        "n": len(labelled), "not_found": len(labelled) - len(found),
        "dice_mean": stat("dice", np.mean), "dice_median": stat("dice", np.median),
        "adf_mm_mean": stat("adf_mm", np.mean), "adf_mm_std": stat("adf_mm", np.std),
        "adf_mm_median": stat("adf_mm", np.median), "adf_mm_max": stat("adf_mm", np.max),
        "df_mm_mean": stat("df_mm", np.mean), "df_mm_std": stat("df_mm", np.std),
        "adf_found_mm_mean": stat("adf_mm", np.mean, found),
        "adf_found_mm_median": stat("adf_mm", np.median, found),
        "hd_mm_mean": stat("hd_mm", np.mean, found), "hd_mm_std": stat("hd_mm", np.std, found),
        "bands": by_band(labelled),
        "hc_interval": interval_figures(labelled, interval_note),
        "bland_altman": bland_altman(found),
        "ga_error_days": ga_error_by_trimester(labelled),
        "review_flag": review_figures(labelled),
        "biometry": biometry_figures(found),
    }


def _band_groups(rows: Sequence[Dict[str, object]]) -> List[Tuple[str, List[Dict[str, object]]]]:
    """(band, its rows) for the head-size bands of the reference HC that have rows, in order."""
    groups: Dict[str, List[Dict[str, object]]] = {}
    for r in rows:
        groups.setdefault(measure_lib.head_size_band(float(r["reference_hc_mm"])), []).append(r)
    return [(band, groups[band]) for band in measure_lib.HEAD_SIZE_BAND_LABELS if band in groups]


def by_band(labelled: Sequence[Dict[str, object]]) -> Dict[str, Dict[str, object]]:
    """Per head-size band of the reference HC (`measure.head_size_band`), the bands that have
    images: n, not found, the challenge's ADF mean and the Dice mean (None when not scored)."""
    out: Dict[str, Dict[str, object]] = {}
    for band, rows in _band_groups(labelled):
        dice = [float(r["dice"]) for r in rows if r.get("dice") is not None]
        out[band] = {"n": len(rows), "not_found": sum(1 for r in rows if not r["found"]),
                     "adf_mm_mean": float(np.mean([float(r["adf_mm"]) for r in rows])),
                     "dice_mean": float(np.mean(dice)) if dice else None}
    return out


def biometry_figures(found: Sequence[Dict[str, object]]) -> Dict[str, object]:
    """BPD and OFD against the reference ellipse's axes over the found images with one: the
    absolute error (mean, median, max), the mean signed error and its SD, and the ADF per
    head-size band of the reference HC; None figures without images."""
    def figures(rows, what):
        df = np.array([float(r[f"{what}_df_mm"]) for r in rows if r.get(f"{what}_df_mm") is not None])
        if not len(df):
            return {"n": 0, "adf_mm_mean": None, "adf_mm_median": None, "adf_mm_max": None,
                    "df_mm_mean": None, "df_mm_sd": None}
        return {"n": len(df), "adf_mm_mean": float(np.abs(df).mean()),
                "adf_mm_median": float(np.median(np.abs(df))), "adf_mm_max": float(np.abs(df).max()),
                **{f"df_mm_{k}": v for k, v in _mean_sd(df).items()}}

    return {**{what: {**figures(found, what),
                      "bands": {band: figures(rows, what)["adf_mm_mean"]
                                for band, rows in _band_groups(found)}} for what in BIOMETRY},
            "definition": "predicted - reference over images with a head found: BPD and OFD "
                          "the minor and major axes of the fitted and of the reference "
                          "ellipse (HC18's expert outline), outer to outer; SD with n - 1; "
                          "bands: ADF mean by the reference HC"}


def interval_figures(labelled: Sequence[Dict[str, object]], note: str = "") -> Dict[str, object]:
    """How often the 95% HC interval holds the reference on these images, overall and per
    head-size band, with the median half-width: the calibration checked on the data at hand
    (it was fitted on HC18's out-of-fold errors). Images without an interval (no head found,
    no calibration for the model, or beyond it) are counted apart (`n_without`); `note`, when
    given, says why the model has none."""
    held = [r for r in labelled if r.get("interval_covers") is not None]

    def figures(rows):
        # The upper end is HC + half-width exactly (the lower one is clipped at 0).
        half = [float(r["hc_high_mm"]) - float(r["predicted_hc_mm"]) for r in rows]
        return {"n": len(rows),
                "coverage": float(np.mean([bool(r["interval_covers"]) for r in rows])) if rows else None,
                "median_half_width_mm": float(np.median(half)) if rows else None}

    return {"level": interval_table.DEFAULT_LEVEL, **figures(held), "n_without": len(labelled) - len(held),
            "bands": {band: figures(rows) for band, rows in _band_groups(held)},
            "definition": "share of images whose reference HC lies within the measured HC's "
                          "interval (ends included); bands by the reference HC",
            **({"note": note} if note else {})}


def _mean_sd(values: Sequence[float]) -> Dict[str, Optional[float]]:
    """{"mean", "sd"} with the sample SD (n - 1); None where undefined (n < 1, n < 2)."""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()) if len(v) else None,
            "sd": float(v.std(ddof=1)) if len(v) > 1 else None}


def _agreement(diffs: Sequence[float], unit: str) -> Dict[str, Optional[float]]:
    """Mean difference, its SD and the 95% limits of agreement (mean +- 1.96 SD)."""
    ms = _mean_sd(diffs)
    mean, sd = ms["mean"], ms["sd"]
    lo = hi = None
    if mean is not None and sd is not None:
        lo, hi = mean - LOA_Z * sd, mean + LOA_Z * sd
    return {f"mean_diff_{unit}": mean, f"sd_diff_{unit}": sd,
            f"loa_low_{unit}": lo, f"loa_high_{unit}": hi}


def bland_altman(found: Sequence[Dict[str, object]]) -> Dict[str, object]:
    """Bland-Altman agreement of predicted vs reference HC over images with a head found.

    Difference = predicted - reference; in % of the pair's mean HC ((pred + ref) / 2), the
    usual Bland-Altman percentage. 95% limits of agreement = mean +- 1.96 SD (sample SD).

    Args:
      found: per-image rows (`evaluate.score`) with a reference and a predicted HC.

    Returns:
      {"n", "mean_diff_mm", "sd_diff_mm", "loa_low_mm", "loa_high_mm", the same with
      "_pct", "definition"}; None figures when there are too few images.
    """
    pairs = [(float(r["predicted_hc_mm"]), float(r["reference_hc_mm"])) for r in found
             if r.get("predicted_hc_mm") is not None and r.get("reference_hc_mm") is not None]
    diff = [p - q for p, q in pairs]
    pct = [100.0 * (p - q) / (0.5 * (p + q)) for p, q in pairs]
    return {"n": len(pairs), **_agreement(diff, "mm"), **_agreement(pct, "pct"),
            "definition": "predicted - reference HC over images with a head found; % of "
                          "(predicted + reference) / 2; limits = mean +- 1.96 SD (n - 1)"}


def ga_error_by_trimester(labelled: Sequence[Dict[str, object]]) -> Dict[str, object]:
    """The GA error (days) the HC error implies, mean and SD per trimester of the reference.

    Args:
      labelled: per-image rows (`evaluate.score`) with a reference.

    Returns:
      {"method", "definition", "trimesters": {name: {"reference_ga_weeks", "n" (images with
      a reference in it), "n_used", "not_found", "prediction_out_of_range", "mean_days",
      "sd_days", "note"}}, "reference_beyond_range"}. The first trimester is below Hadlock's
      range: its images are counted, never given a number.
    """
    out: Dict[str, Dict[str, object]] = {}
    for name in TRIMESTERS:
        rows = [r for r in labelled if r.get("reference_trimester") == name]
        used = [float(r["ga_error_days"]) for r in rows if r.get("ga_error_days") is not None]
        not_found = sum(1 for r in rows if not r["found"])
        ms = _mean_sd(used)
        note = ""
        if name == "first":
            note = ("reference HC below Hadlock 1984's range (14+0 to 42+0 weeks): no GA error "
                    "computed")
        out[name] = {"reference_ga_weeks": TRIMESTER_WEEKS[name], "n": len(rows),
                     "n_used": len(used), "not_found": not_found,
                     "prediction_out_of_range": len(rows) - len(used) - not_found
                     if name != "first" else 0,
                     "mean_days": ms["mean"], "sd_days": ms["sd"], "note": note}
    beyond = sum(1 for r in labelled if r.get("reference_trimester") == REFERENCE_BEYOND_RANGE)
    return {"method": GA_ERROR_METHOD.value,
            "definition": "Hadlock 1984 GA of the predicted HC minus GA of the reference HC, "
                          "days; trimester by the reference HC's Hadlock GA (<14, 14-28, "
                          ">=28 weeks); SD with n - 1",
            "trimesters": out, "reference_beyond_range": beyond}


def review_figures(labelled: Sequence[Dict[str, object]]) -> Dict[str, object]:
    """How the review flag sorts the found images: share flagged, large errors caught, ADF of
    the unflagged (one point of the risk-coverage curve) and of the flagged.

    Args:
      labelled: per-image rows (`evaluate.score`) with a reference.

    Returns:
      {"n_found", "n_flagged", "share_flagged", "n_large_error", "n_large_error_caught",
      "share_large_error_caught", "large_error_mm", "adf_unflagged_mm_mean",
      "adf_flagged_mm_mean", "reasons" (reason -> images)}; a not-found image is not
      assessed (it has no measurement to review) and is left out.
    """
    found = [r for r in labelled if r["found"]]
    flagged = [r for r in found if r.get("review")]
    unflagged = [r for r in found if not r.get("review")]
    large = [r for r in found if float(r["adf_mm"]) > LARGE_ERROR_MM]
    caught = [r for r in large if r.get("review")]
    reasons: Dict[str, int] = {}
    for r in flagged:
        for reason in str(r.get("review_reasons") or "").split("; "):
            if reason:
                reasons[reason] = reasons.get(reason, 0) + 1

    def adf(rows):
        return float(np.mean([float(r["adf_mm"]) for r in rows])) if rows else None

    return {"n_found": len(found), "n_flagged": len(flagged),
            "share_flagged": len(flagged) / len(found) if found else None,
            "large_error_mm": LARGE_ERROR_MM, "n_large_error": len(large),
            "n_large_error_caught": len(caught),
            "share_large_error_caught": len(caught) / len(large) if large else None,
            "adf_unflagged_mm_mean": adf(unflagged), "adf_flagged_mm_mean": adf(flagged),
            "reasons": reasons}
