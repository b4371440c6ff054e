"""Per-image evaluation of a model: scores, summary figures, CSV/JSON and plots.

The images go through `hc_tf.inference.predict_samples` (letterbox -> run -> measure),
so every model is judged by the same code. TF-free: a `.keras` model's runner comes
from `hc_tf.inference.load_runner`, which alone imports the TF side.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

import hc_tf
from hc_tf import clinical
from hc_tf.clinical import biometry
from hc_tf.clinical import intervals
from hc_tf.io import hc18_csv
from hc_tf import inference
from hc_tf.io import tables
from hc_tf import measure as measure_lib
from hc_tf import preprocess
from hc_tf.console import progress
from hc_tf.surfaces import evaluate_plots


PER_IMAGE_FIELDS = ("filename", "reference_hc_mm", "predicted_hc_mm", "df_mm", "adf_mm",
                    "dice", "hd_mm", "found", "reason", "review", "review_reasons",
                    "reference_trimester", "ga_error_days", "band", "hc_low_mm", "hc_high_mm",
                    "interval_covers", "reference_bpd_mm", "predicted_bpd_mm", "bpd_df_mm",
                    "reference_ofd_mm", "predicted_ofd_mm", "ofd_df_mm")
BIOMETRY = ("bpd", "ofd")

# GA error: Hadlock 1984 GA of the predicted HC minus that of the reference HC, per trimester
# of the reference GA (by the reference HC's Hadlock GA). Hadlock applies from 14+0 to 42+0
# weeks only, so a reference below 14 weeks gets no GA error (out of range, counted), and a
# prediction outside that range neither: no extrapolated number.
GA_ERROR_METHOD = clinical.GaMethod.HADLOCK_1984
TRIMESTERS = ("first", "second", "third")
TRIMESTER_WEEKS = {"first": "<14", "second": "14-28", "third": ">=28"}
_SECOND_TRIMESTER_START_WEEKS = 14.0
_THIRD_TRIMESTER_START_WEEKS = 28.0
REFERENCE_BEYOND_RANGE = "beyond_range"  # reference HC above Hadlock's 42 weeks
LARGE_ERROR_MM = 5.0  # "|HC error| > 5 mm": the errors the review flag should catch
LOA_Z = 1.96          # Bland-Altman 95% limits of agreement
BLAND_ALTMAN_NAME = "bland_altman.png"
UNREADABLE_NAME = "unreadable.csv"  # (path, error) of each image that could not be scored
OUTPUT_NAMES = frozenset({"per_image.csv", "summary.json", "evaluation.png", BLAND_ALTMAN_NAME,
                          UNREADABLE_NAME})


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


def hc_row(pred: inference.Prediction, reference_hc_mm: Optional[float]) -> Dict[str, object]:
    """The per-image row of the HC against a reference HC (None: no reference, the row has
    the measurement only): DF and ADF as the challenge scores them
    (`measure.challenge_difference_mm`: a not-found image scores ADF = reference HC), the GA
    error, the head-size band, and the measured HC's interval with whether it holds the
    reference. Dice and Hausdorff need an outline (`score`)."""
    m = pred.measurement
    row: Dict[str, object] = {"filename": pred.sample.filename, "reference_hc_mm": reference_hc_mm,
                              "predicted_hc_mm": m.hc_mm, "found": m.found, "reason": m.reason,
                              "df_mm": None, "adf_mm": None, "dice": None, "hd_mm": None,
                              # Not assessed (None) when no head was found.
                              "review": m.review if m.found else None,
                              "review_reasons": "; ".join(m.review_reasons),
                              "reference_trimester": None, "ga_error_days": None,
                              "band": None, "hc_low_mm": None, "hc_high_mm": None,
                              "interval_covers": None,
                              **{f"{kind}_{what}": None for what in BIOMETRY
                                 for kind in ("reference", "predicted")},
                              **{f"{what}_df_mm": None for what in BIOMETRY}}
    interval = m.hc_interval()  # None: no head, no calibration for the model, or beyond it
    if interval is not None:
        row.update(hc_low_mm=interval.lower_mm, hc_high_mm=interval.upper_mm)
    if reference_hc_mm is None:
        return row
    df, adf = measure_lib.challenge_difference_mm(m.hc_mm, reference_hc_mm)
    row.update(df_mm=df, adf_mm=adf, reference_trimester=reference_trimester(reference_hc_mm),
               ga_error_days=ga_error_days(m.hc_mm, reference_hc_mm),
               band=measure_lib.head_size_band(reference_hc_mm))
    if interval is not None:
        row["interval_covers"] = interval.lower_mm <= reference_hc_mm <= interval.upper_mm
    return row


def score(pred: inference.Prediction) -> Dict[str, object]:
    """The per-image row against the sample's reference ellipse: `hc_row`, the Dice and
    Hausdorff distance of the two ellipses (a not-found image: Dice 0, no Hausdorff), and
    BPD and OFD (the report's: the ellipses' axes, outer to outer) against the reference
    ellipse's."""
    s, m = pred.sample, pred.measurement
    labelled = s.reference is not None and s.reference_hc_mm is not None
    row = hc_row(pred, s.reference_hc_mm if labelled else None)
    if not labelled:
        return row
    row["reference_bpd_mm"], row["reference_ofd_mm"] = biometry.bpd_ofd_mm(
        s.reference.a * s.pixel_size_mm, s.reference.b * s.pixel_size_mm)
    if not m.found:
        row["dice"] = 0.0
        return row
    shape = s.image.shape[:2]
    measured = m.biometry()
    row.update(dice=measure_lib.dice(measure_lib.rasterize_ellipse(m.ellipse, shape),
                                     measure_lib.rasterize_ellipse(s.reference, shape)),
               hd_mm=measure_lib.hausdorff_mm(m.ellipse, s.reference, s.pixel_size_mm),
               predicted_bpd_mm=measured.bpd_mm, predicted_ofd_mm=measured.ofd_mm,
               bpd_df_mm=measured.bpd_mm - row["reference_bpd_mm"],
               ofd_df_mm=measured.ofd_mm - row["reference_ofd_mm"])
    return row


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

    return {"level": intervals.DEFAULT_LEVEL, **figures(held), "n_without": len(labelled) - len(held),
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
      found: per-image rows (`score`) with a reference and a predicted HC.

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
      labelled: per-image rows (`score`) with a reference.

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
      labelled: per-image rows (`score`) with a reference.

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



IN_SAMPLE_NOTE = ("note: the released model was trained on all 896 labelled HC18 images of its "
                  "copy (the embedded sample's, and a data dir prepared from that copy, splits "
                  "included): on those, these figures are in-sample, not its accuracy; its "
                  "recipe's out-of-fold figures are in the model card (export/README.md)")


def in_sample_note(model_path: str, data_dir: str, sha256: Optional[str] = None
                   ) -> Optional[str]:
    """IN_SAMPLE_NOTE when the released model scores images it trained on: a prepared TFDS data
    dir (HC18 is the only data its builder prepares) or the embedded sample; else None. A
    folder of other labelled images in HC18's layout is not known to be HC18's, so no note."""
    from hc_tf import models
    if is_hc18_folder(data_dir) and not (os.path.isdir(hc_tf.SAMPLE_DIR)
                                         and os.path.samefile(data_dir, hc_tf.SAMPLE_DIR)):
        return None
    return IN_SAMPLE_NOTE if models.is_released(model_path, sha256) else None


def is_hc18_folder(folder: str) -> bool:
    """True for a folder in the HC18 release layout (training_set/ + its CSV)."""
    return (os.path.isdir(os.path.join(folder, "training_set"))
            and os.path.isfile(os.path.join(folder, hc18_csv.TRAINING_CSV)))


def hc18_folder_size(folder: str) -> int:
    """How many labelled images `samples_from_hc18_folder` yields (for a progress bar).

    Raises:
      ValueError: as `hc18_csv.read_hc18_csv`, for a bad CSV.
    """
    return len(hc18_csv.read_hc18_csv(os.path.join(folder, hc18_csv.TRAINING_CSV),
                                      with_hc=True).rows)


def samples_from_hc18_folder(folder: str, unreadable: Optional[List[Tuple[str, str]]] = None
                             ) -> Iterator[inference.Sample]:
    """Labelled samples straight from HC18 files (no TensorFlow): the reference
    ellipse is fitted to each annotation outline, the reference HC is the CSV's.

    Args:
      unreadable: when given, an image or annotation that cannot be read (missing, refused by
        the reader) is appended to it as (path, error) and skipped, so one bad file does not
        stop an evaluation.

    Raises:
      ValueError: naming the file, for a bad CSV row, or an image or annotation the reader
        refuses (when `unreadable` is None).
      OSError: for a missing or unopenable image or annotation (when `unreadable` is None).
    """
    table = hc18_csv.read_hc18_csv(os.path.join(folder, hc18_csv.TRAINING_CSV), with_hc=True)
    for row in table.rows:
        path = os.path.join(folder, "training_set", row.filename)
        try:
            sample = _hc18_sample(path, row.pixel_size_mm, row.hc_mm)
        except (OSError, ValueError) as err:  # a missing image or annotation is an OSError
            if unreadable is None:
                raise
            unreadable.append((path, _file_error(err)))
            continue
        yield sample


def _file_error(err: Exception) -> str:
    """One line naming the file: "PATH: No such file or directory" for an OSError."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"{err.filename}: {err.strerror or err}"
    return str(err)


def _hc18_sample(path: str, pixel_size_mm: float, hc_mm: float) -> inference.Sample:
    image = preprocess.read_gray_image(path)
    outline_path = os.path.splitext(path)[0] + "_Annotation.png"  # HC18's rule, any extension
    outline = preprocess.read_gray_image(outline_path)
    if outline.shape[:2] != image.shape[:2]:
        # Its ellipse would be in another frame: Dice 0 and a Hausdorff distance of the offset.
        raise ValueError(f"{outline_path}: annotation is {outline.shape[1]} x {outline.shape[0]} "
                         f"pixels, its image {image.shape[1]} x {image.shape[0]}")
    try:
        reference = measure_lib.fit_outline(outline)
    except measure_lib.AnnotationError as err:
        raise ValueError(f"{outline_path}: {err}") from None
    return inference.Sample(os.path.basename(path), image, pixel_size_mm, reference, hc_mm)


def evaluate(runner: inference.Runner, samples: Iterable[inference.Sample], out_dir: str,
             show_progress: bool = False, total: Optional[int] = None,
             unreadable: Optional[List[Tuple[str, str]]] = None) -> Dict[str, object]:
    """Measures every sample; writes per_image.csv, summary.json, evaluation.png and
    bland_altman.png (and unreadable.csv when `unreadable` is given).

    Args:
      runner: the model runner.
      samples: labelled samples (any iterable; consumed once).
      out_dir: the output folder (created).
      show_progress: a progress bar on stderr (see `hc_tf.console.progress.wanted`).
      total: how many samples there are, for the bar (default: `len(samples)` if sized).
      unreadable: the list `samples` fills with the files it skipped (read after it is consumed).

    Returns:
      The summary (also written to summary.json).

    Raises:
      ValueError: when there is no sample, or for an image `measure` refuses.
    """
    os.makedirs(out_dir, exist_ok=True)
    if total is None and hasattr(samples, "__len__"):
        total = len(samples)  # type: ignore[arg-type]
    predictions = progress.bar(inference.predict_samples(runner, samples), show_progress,
                               total, "evaluate")
    rows = [score(p) for p in predictions]
    if not rows:
        raise ValueError("no images to evaluate" + (
            f" ({len(unreadable)} unreadable, the first: {unreadable[0][1]})" if unreadable else ""))
    summary = summarize(rows, getattr(runner, "interval_note", ""))
    tables.write_rows_csv(os.path.join(out_dir, "per_image.csv"), rows, PER_IMAGE_FIELDS)
    tables.write_json(os.path.join(out_dir, "summary.json"), summary)
    evaluate_plots.plot_distributions(rows, os.path.join(out_dir, "evaluation.png"))
    evaluate_plots.plot_bland_altman(rows, summary["bland_altman"],
                                     os.path.join(out_dir, BLAND_ALTMAN_NAME))
    if unreadable is not None:
        write_unreadable(out_dir, unreadable)
    return summary


def write_unreadable(out_dir: str, unreadable: Sequence[Tuple[str, str]]) -> None:
    """unreadable.csv: one row per file that could not be scored (header only when none)."""
    tables.write_rows_csv(os.path.join(out_dir, UNREADABLE_NAME),
                          [{"path": p, "error": e} for p, e in unreadable], fields=("path", "error"))
