"""Per-image evaluation of a model: each image scored against its reference, the outputs written
(per_image.csv, summary.json, plots). The summary figures are `evaluate_summary`'s, the plots
`evaluate_plots`', the samples of an HC18-layout folder `hc18_folder`'s.

The images go through `hc_tf.inference.predict_samples` (letterbox -> run -> measure),
so every model is judged by the same code. TF-free: a `.keras` model's runner comes
from `hc_tf.inference.load_runner`, which alone imports the TF side.
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import hc_tf
from hc_tf.clinical import biometry
from hc_tf import inference
from hc_tf.io import tables
from hc_tf import measure as measure_lib
from hc_tf.console import progress
from hc_tf.surfaces import evaluate_plots
from hc_tf.surfaces.evaluate_summary import BIOMETRY, ga_error_days, reference_trimester, summarize
from hc_tf.surfaces.hc18_folder import is_hc18_folder


PER_IMAGE_FIELDS = ("filename", "reference_hc_mm", "predicted_hc_mm", "df_mm", "adf_mm",
                    "dice", "hd_mm", "found", "reason", "review", "review_reasons",
                    "reference_trimester", "ga_error_days", "band", "hc_low_mm", "hc_high_mm",
                    "interval_covers", "reference_bpd_mm", "predicted_bpd_mm", "bpd_df_mm",
                    "reference_ofd_mm", "predicted_ofd_mm", "ofd_df_mm")
BLAND_ALTMAN_NAME = "bland_altman.png"
UNREADABLE_NAME = "unreadable.csv"  # (path, error) of each image that could not be scored
OUTPUT_NAMES = frozenset({"per_image.csv", "summary.json", "evaluation.png", BLAND_ALTMAN_NAME,
                          UNREADABLE_NAME})


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


IN_SAMPLE_NOTE = ("note: the released model was trained on all 896 labelled HC18 images of its "
                  "copy (the embedded sample's, and a data dir prepared from that copy, splits "
                  "included): on those, these figures are in-sample, not its accuracy; its "
                  "recipe's out-of-fold figures are in the model card (export/README.md)")


def in_sample_note(model_path: str, data_dir: str, sha256: Optional[str] = None,
                   figures: str = "these figures") -> Optional[str]:
    """A note when the released model scores images it trained on, else None: IN_SAMPLE_NOTE
    for a prepared TFDS data dir (HC18 is the only data its builder prepares) or the embedded
    sample; for another folder in HC18's layout, how many of its labelled images are, byte for
    byte, ones the model trained on (`models.training_images`: the HC18 release's own files).
    `figures`: what the note says is in-sample (`calibrate_intervals collect`: the coverage
    `check` will report)."""
    from hc_tf import models
    if not models.is_released(model_path, sha256):
        return None
    if not is_hc18_folder(data_dir) or (os.path.isdir(hc_tf.SAMPLE_DIR)
                                        and os.path.samefile(data_dir, hc_tf.SAMPLE_DIR)):
        return IN_SAMPLE_NOTE.replace("these figures", figures)
    from hc_tf.io import hc18_csv
    from hc_tf.models import training_images
    try:  # the images evaluate scored: the CSV's rows that are there
        rows = hc18_csv.read_hc18_csv(os.path.join(data_dir, hc18_csv.TRAINING_CSV)).rows
    except (OSError, ValueError):
        return None
    labelled = [p for p in (os.path.join(data_dir, "training_set", r.filename) for r in rows)
                if os.path.isfile(p)]
    seen = training_images.count_trained_on(labelled)
    return (f"note: the released model was trained on {seen} of the {len(labelled)} labelled "
            f"images in {data_dir} (the same files as HC18's): on those, {figures} are "
            "in-sample, not its accuracy; its recipe's out-of-fold figures are in the model card "
            "(export/README.md)") if seen else None


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
