"""`hc-tf export`: Keras -> TFLite for the edge model, with its metadata and op report.

The TFLite model has a static (1, H, W, 1) input: a dynamic batch dimension makes
the converter add shape ops and the interpreter report wrong output shapes, and
the app runs one image at a time anyway.

Modes:
  float32  plain float model.
  float16  float16 weights (dequantized to float32 at load), float32 compute.
  dynamic  int8 weights, float activations (dynamic-range quantization).
  int8     full-integer: int8 weights (per-channel) and activations, calibrated on
           letterboxed HC18 training images; only integer builtins. The export
           fails loudly if any op would still compute in float.

Input: by default (`io_dtype="uint8"`) every mode takes the letterboxed gray
pixels as uint8, as they are: the float models cast them to float in-graph, the
int8 model's input quantization is pinned to scale 1, zero point 0. The network
rescales x / 255 itself, so there is no normalization outside the model.
Output: float32 probabilities for the float modes; for int8, a uint8 (or int8 /
float32, per `io_dtype`) probability with the sigmoid's fixed scale 1/256.

The work is split by job: `convert` (the conversion; imports TensorFlow when it
runs), `int8_bias` (int8 head bias correction), `op_report` (op report, int8 check) and
`metadata` (the model card); the last two are TF-free, as is the edge runtime
(`hc_tf.edge`). This module draws the calibration images and writes the files.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from hc_tf import defaults
from hc_tf import edge
from hc_tf.io import atomic as io_utils
from hc_tf import preprocess
from hc_tf.export.int8_bias import convert_int8_bias_corrected
from hc_tf.export.convert import check_mode
from hc_tf.export.convert import convert
from hc_tf.export.convert import load_model
from hc_tf.export.convert import model_input_hw
from hc_tf.export.metadata import metadata
from hc_tf.export.metadata import metadata_path
from hc_tf.export.metadata import TRAINING_DATA
from hc_tf.export.op_report import op_report

DEFAULT_CALIBRATION_SAMPLES = defaults.CALIBRATION_SAMPLES  # why 256: see hc_tf.defaults


def calibration_inputs(data_dir: str, input_hw: Tuple[int, int],
                       n: int = DEFAULT_CALIBRATION_SAMPLES, seed: int = 0,
                       split: str = "train") -> Tuple[np.ndarray, List[str]]:
    """(n, H, W, 1) uint8 letterboxed images drawn (seeded, no repeats) from a TFDS split,
    and their file names."""
    from hc_tf.train import data as data_lib
    samples = data_lib.load_samples(data_dir, split)
    if not samples:
        raise ValueError(f"{data_dir}: the {split} split is empty")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(samples), size=min(int(n), len(samples)), replace=False)
    chosen = [samples[i] for i in sorted(idx)]
    inputs = np.stack([preprocess.letterbox_image(s.image, input_hw)[0] for s in chosen])
    return inputs, [s.filename for s in chosen]


def export(model_path: str, out_path: str, mode: str = "int8", data_dir: Optional[str] = None,
           n_calibration: int = DEFAULT_CALIBRATION_SAMPLES, seed: int = 0,
           io_dtype: str = defaults.DEFAULT_IO_DTYPE,
           validation: Optional[Dict[str, Any]] = None,
           representative: Optional[np.ndarray] = None,
           bias_correction: bool = True,
           training_data: str = TRAINING_DATA) -> Dict[str, Any]:
    """Converts a saved Keras model and writes `out_path` (.tflite) and its metadata `<stem>.json`.

    Both files are written atomically (a temporary sibling, then rename).

    Args:
      model_path: the `.keras` model.
      out_path: the `.tflite` to write; the metadata goes to the same path with `.json` for `.tflite`.
      mode: see `hc_tf.defaults.EXPORT_MODES` (and this module's docstring).
      data_dir: prepared TFDS data dir; int8 calibration draws from its train split.
      n_calibration: calibration images (int8).
      seed: seeds the draw of calibration images.
      io_dtype: see `convert.convert`.
      validation: figures to record in the metadata.
      representative: (N, H, W, 1) uint8 calibration inputs to use instead of
        drawing them from `data_dir` (tests, custom calibration sets).
      bias_correction: int8 only: correct the head's quantization bias (see
        `int8_bias.convert_int8_bias_corrected`; needs the model's `int8_bias.HEAD_LAYER`).
      training_data: the metadata's line on the training data.

    Returns:
      The op report, plus tflite_path, metadata_path, size_bytes, size_mb, mode,
      io_dtype and calibration (count, seed) for int8.

    Raises:
      ValueError: for int8 without data_dir, a missing model, bad mode/io_dtype.
      op_report.FloatOpsError: see `convert.convert`.
    """
    check_mode(mode, io_dtype)
    if mode == "int8" and data_dir is None and representative is None:
        raise ValueError("int8 export needs --data-dir (a prepared HC18 TFDS dir) for calibration")
    model = load_model(model_path)
    calib = None
    if mode != "int8":
        representative = None
    elif representative is not None:
        calib = {"split": "given", "n": int(len(representative)), "seed": None}
    else:
        representative, names = calibration_inputs(data_dir, model_input_hw(model),
                                                   n_calibration, seed)
        calib = {"split": "train", "n": int(len(names)), "seed": int(seed),
                 "filenames_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest()}
    if mode == "int8" and bias_correction:
        tflite, calib["head_bias_correction"] = convert_int8_bias_corrected(
            model, representative, io_dtype)
    else:
        tflite = convert(model, mode, representative, io_dtype)
    from hc_tf.modeling import model as model_lib
    # Inside the graph: an app feeds one image and reads one map, as without it.
    source, extra = None, {"calibration": calib, "io_dtype": io_dtype,
                           "flip_tta_in_model": model_lib.has_flip_tta(model)}
    if isinstance(model_path, (str, os.PathLike)):
        source = os.fspath(model_path)
        extra["source_model_sha256"] = edge.sha256_file(source)
    meta = metadata(tflite, mode, source_model=source, validation=validation,
                    training_data=training_data, extra=extra)
    io_utils.atomic_write_bytes(out_path, tflite)
    meta_path = metadata_path(out_path)
    io_utils.atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    report = op_report(tflite)
    report.update(tflite_path=out_path, metadata_path=meta_path, mode=mode, io_dtype=io_dtype,
                  size_mb=len(tflite) / 1e6, calibration=calib)
    return report
