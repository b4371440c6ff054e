"""Parity of the edge (TFLite) model with the full (Keras) model.

Both run on the same letterboxed inputs (`hc_tf.preprocess`) and are measured by
the same code (`hc_tf.measure.measure` through `hc_tf.inference.predict_samples`),
so any difference is the network's conversion alone.

Writes `parity_per_image.csv` and `parity_summary.json` into `out_dir`.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from hc_tf.io import tables
from hc_tf import defaults
from hc_tf import inference
from hc_tf.io import atomic as io_utils
from hc_tf import measure as measure_lib
from hc_tf.console import progress

THRESHOLD = defaults.THRESHOLD
PER_IMAGE_FIELDS = ("filename", "dice_edge_vs_full", "hc_full_mm", "hc_edge_mm", "abs_hc_diff_mm",
                    "adf_full_mm", "adf_edge_mm", "max_abs_prob_diff", "found_full", "found_edge")
PER_IMAGE_NAME = "parity_per_image.csv"
SUMMARY_NAME = "parity_summary.json"
OUTPUT_NAMES = frozenset({PER_IMAGE_NAME, SUMMARY_NAME})


def _adf(m: measure_lib.Measurement, sample: inference.Sample) -> Optional[float]:
    """The challenge's ADF (a not-found image scores the reference HC); None without one."""
    if sample.reference_hc_mm is None:
        return None
    return measure_lib.challenge_difference_mm(m.hc_mm, sample.reference_hc_mm)[1]


def compare(full_runner, edge_runner, samples: Sequence[inference.Sample],
            batch_size: int = 8, show_progress: bool = False) -> List[Dict[str, Any]]:
    """Per-image rows comparing two runners (see PER_IMAGE_FIELDS).

    Args:
      full_runner: the full model's runner.
      edge_runner: the edge model's runner (same input size).
      samples: the images.
      batch_size: images per runner call.
      show_progress: a progress bar on stderr (see `hc_tf.console.progress.wanted`).

    Returns:
      One row per sample, in order.

    Raises:
      ValueError: when the two runners' input sizes differ.
    """
    if tuple(full_runner.input_hw) != tuple(edge_runner.input_hw):
        raise ValueError(f"the two models' input sizes differ: {full_runner.input_hw} (full) vs "
                         f"{edge_runner.input_hw} (edge)")
    samples = list(samples)
    rows = []
    full = inference.predict_samples(full_runner, samples, batch_size)
    edge = inference.predict_samples(edge_runner, samples, batch_size)
    for pf, pe in progress.bar(zip(full, edge), show_progress, len(samples), "parity"):
        mf, me = pf.measurement, pe.measurement
        both = mf.found and me.found
        rows.append({
            "filename": pf.sample.filename,
            "dice_edge_vs_full": measure_lib.dice(pe.prob > THRESHOLD, pf.prob > THRESHOLD),
            "hc_full_mm": mf.hc_mm, "hc_edge_mm": me.hc_mm,
            "abs_hc_diff_mm": abs(me.hc_mm - mf.hc_mm) if both else None,
            "adf_full_mm": _adf(mf, pf.sample), "adf_edge_mm": _adf(me, pe.sample),
            "max_abs_prob_diff": float(np.max(np.abs(pe.prob.astype(np.float64) -
                                                     pf.prob.astype(np.float64)))),
            "found_full": mf.found, "found_edge": me.found,
        })
    return rows


def summarize(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Summary of `compare` rows. ADF means are the challenge's (a not-found image
    scores ADF = reference HC) over the images with a reference, the same images for
    both models, so their difference is the edge model's cost; `*_found_mm_mean`
    are over the images both models found."""
    def vals(key, among=rows):
        return [float(r[key]) for r in among if r[key] is not None]

    def stat(v, fn):
        return float(fn(v)) if v else None

    hc = vals("abs_hc_diff_mm")
    paired = [r for r in rows if r["adf_full_mm"] is not None and r["adf_edge_mm"] is not None]
    adf_full, adf_edge = stat(vals("adf_full_mm", paired), np.mean), stat(vals("adf_edge_mm", paired), np.mean)
    both_found = [r for r in paired if r["found_full"] and r["found_edge"]]
    return {
        "n": len(rows),
        "found_full": sum(bool(r["found_full"]) for r in rows),
        "found_edge": sum(bool(r["found_edge"]) for r in rows),
        "found_disagree": sum(bool(r["found_full"]) != bool(r["found_edge"]) for r in rows),
        "n_hc_compared": len(hc),
        "abs_hc_diff_mm_median": stat(hc, np.median), "abs_hc_diff_mm_mean": stat(hc, np.mean),
        "abs_hc_diff_mm_max": stat(hc, np.max),
        "dice_edge_vs_full_mean": stat(vals("dice_edge_vs_full"), np.mean),
        "dice_edge_vs_full_min": stat(vals("dice_edge_vs_full"), np.min),
        "max_abs_prob_diff": stat(vals("max_abs_prob_diff"), np.max),
        "n_adf_paired": len(paired),
        "adf_full_mm_mean": adf_full, "adf_edge_mm_mean": adf_edge,
        "adf_edge_minus_full_mm": (adf_edge - adf_full) if paired else None,
        "n_adf_both_found": len(both_found),
        "adf_full_found_mm_mean": stat(vals("adf_full_mm", both_found), np.mean),
        "adf_edge_found_mm_mean": stat(vals("adf_edge_mm", both_found), np.mean),
    }


def write_per_image_csv(path: str, rows: Sequence[Dict[str, Any]]) -> None:
    tables.write_rows_csv(path, rows, PER_IMAGE_FIELDS, digits=6)


def run_parity(keras_path, tflite_path: str, samples: Sequence[inference.Sample],
               out_dir: str, num_threads: int = 2, batch_size: int = 8,
               show_progress: bool = False, report_dir: Optional[str] = None) -> Dict[str, Any]:
    """Runs the Keras and TFLite models on `samples` and writes the parity report.

    Args:
      keras_path: the `.keras` model (or a Keras model object).
      tflite_path: the `.tflite` model.
      samples: `inference.Sample`s (e.g. `hc_tf.train.data.load_samples(data_dir, "validation")`).
      out_dir: gets `parity_per_image.csv` and `parity_summary.json`.
      num_threads: TFLite interpreter threads.
      batch_size: Keras batch size.
      show_progress: a progress bar on stderr (see `hc_tf.console.progress.wanted`).
      report_dir: the folder the summary names the two outputs in (default `out_dir`): the
        final folder when `out_dir` is a staging folder moved there afterwards.

    Returns:
      The summary dict (also written), with `keras_model`, `tflite_model` and the
      two output paths added.
    """
    from hc_tf import edge
    from hc_tf.modeling import keras_runner
    edge_runner = edge.LiteRunner(tflite_path, num_threads=num_threads)
    full_runner = keras_runner.KerasRunner(keras_path, batch_size=batch_size)
    rows = compare(full_runner, edge_runner, samples, batch_size, show_progress)
    summary = summarize(rows)
    named = report_dir if report_dir is not None else out_dir
    summary.update(
        keras_model=os.fspath(keras_path) if isinstance(keras_path, (str, os.PathLike)) else None,
        tflite_model=os.fspath(tflite_path), per_image_csv=os.path.join(named, PER_IMAGE_NAME),
        summary_json=os.path.join(named, SUMMARY_NAME))
    write_per_image_csv(os.path.join(out_dir, PER_IMAGE_NAME), rows)
    io_utils.atomic_write_text(os.path.join(out_dir, SUMMARY_NAME),
                               json.dumps(summary, indent=2) + "\n")
    return summary
