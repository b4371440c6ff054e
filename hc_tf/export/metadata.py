"""The model card written next to the `.tflite`: I/O contract, pre- and postprocessing,
provenance. TF-free (reads the converted model through `op_report.op_report`)."""

from __future__ import annotations

import datetime
import hashlib
import os
from typing import Any, Dict, Optional

import numpy as np

from hc_tf import __version__
from hc_tf import defaults
from hc_tf import edge
from hc_tf import preprocess
from hc_tf.measure.pixel_size import PLAUSIBLE_PIXEL_SIZE_MM
from hc_tf.export.op_report import FLOAT_KINDS
from hc_tf.export.op_report import op_report

THRESHOLD = defaults.THRESHOLD
metadata_path = edge.metadata_path  # `model.tflite` -> `model.json`, checked by the runtime

TRAINING_DATA = ("HC18 grand challenge training set (van den Heuvel et al. 2018, "
                 "doi:10.5281/zenodo.1322001, CC BY 4.0), subject-level train/validation split")
TRAINING_DATA_ALL = ("HC18 grand challenge training set (van den Heuvel et al. 2018, "
                     "doi:10.5281/zenodo.1322001, CC BY 4.0), all labelled images (train + "
                     "validation), after 5-fold cross-validation by subject fixed the recipe")


def input_limits() -> Dict[str, Any]:
    """What every reader accepts, for ports (the web app) to read instead of copying the numbers."""
    lo, hi = PLAUSIBLE_PIXEL_SIZE_MM
    return {"pixel_size_mm": {"min": lo, "max": hi,
                              "syntax": "a decimal number as Python's float() reads it "
                                        "(no hex, no decimal comma), finite, positive"},
            "max_input_bytes": defaults.MAX_INPUT_BYTES,
            "max_input_pixels": defaults.MAX_INPUT_PIXELS,
            "max_jpeg_scans": defaults.MAX_JPEG_SCANS,
            "min_image_side": preprocess.MIN_IMAGE_SIDE,
            "contrast": {"min_levels": defaults.MIN_CONTRAST_LEVELS,
                         "tail_percent": defaults.CONTRAST_TAIL_PERCENT,
                         "rule": "over the letterboxed model input's image area (the valid rect, "
                                 "not the padding), n pixels: lo = the smallest gray level with "
                                 "100 * (pixels <= lo) > tail_percent * n, hi = the largest with "
                                 "100 * (pixels >= hi) > tail_percent * n; hi - lo < min_levels: "
                                 "not measured (hc_tf.measure.image_contrast)"},
            "alpha": "ignored: gray from R, G, B as stored (cv2 BGRA2GRAY), never premultiplied"}


def metadata(tflite_bytes: bytes, mode: str, source_model: Optional[str] = None,
             validation: Optional[Dict[str, Any]] = None,
             training_data: str = TRAINING_DATA,
             extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The model card an app needs next to the .tflite: I/O contract and provenance.

    Args:
      tflite_bytes: the converted model.
      mode: its conversion mode.
      source_model: path of the Keras model it came from.
      validation: validation figures (e.g. ADF mm, Dice) to record, as given.
      training_data: a line on the training data.
      extra: more fields to merge in (e.g. calibration info).
    """
    rep = op_report(tflite_bytes)
    inp, out = rep["input"], rep["output"]
    h, w = inp["shape"][1], inp["shape"][2]
    if out["dtype"] in FLOAT_KINDS:
        out_rule = "probability = output (float32)"
        q_threshold = None
    else:
        out_rule = (f"probability = (q - {out['zero_point']}) * {out['scale']:.10g}")
        # prob > 0.5  <=>  q > zp + 0.5 / scale
        q_threshold = out["zero_point"] + THRESHOLD / out["scale"] if out["scale"] else None
    if inp["dtype"] in FLOAT_KINDS:
        in_rule = "feed the letterboxed gray pixel value as float32 (0..255), unscaled"
    elif inp["dtype"] == "uint8" and (inp["scale"] in (0.0, 1.0)) and inp["zero_point"] == 0:
        in_rule = "feed the letterboxed gray pixel (uint8) as it is"
    else:
        in_rule = (f"q = clamp(round(pixel / {inp['scale']:.10g}) + {inp['zero_point']}, "
                   f"{np.iinfo(np.dtype(inp['dtype'])).min}, {np.iinfo(np.dtype(inp['dtype'])).max})")
    meta = {
        "format": "hc-tf edge model metadata v1",
        "model_version": __version__,
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": mode,
        "source_model": os.path.basename(source_model) if source_model else None,
        "tflite_sha256": hashlib.sha256(bytes(tflite_bytes)).hexdigest(),
        "tflite_size_bytes": len(tflite_bytes),
        "input": {"name": inp["name"], "shape": inp["shape"], "height": h, "width": w,
                  "layout": "NHWC, batch 1, 1 channel (gray)", "dtype": inp["dtype"],
                  "scale": inp["scale"], "zero_point": inp["zero_point"], "rule": in_rule},
        "output": {"name": out["name"], "shape": out["shape"], "dtype": out["dtype"],
                   "scale": out["scale"], "zero_point": out["zero_point"],
                   "meaning": "per-pixel probability that the pixel is inside the fetal head, "
                              "at model-input size (letterboxed frame)",
                   "dequantize": out_rule, "threshold": THRESHOLD,
                   "quantized_threshold_exclusive": q_threshold},
        "preprocessing": {
            "decode": "decode the image to 8-bit grayscale (RGB -> gray with "
                      "0.299 R + 0.587 G + 0.114 B, OpenCV's rule)",
            "letterbox": {
                "rule": "scale to fit, keep aspect ratio: s = min(W / w0, H / h0); "
                        "new size nw = min(W, max(1, round(w0 * s))), nh = min(H, max(1, round(h0 * s))); "
                        "centred: offset_x = floor((W - nw) / 2), offset_y = floor((H - nh) / 2); "
                        "pad value 0 (black)",
                "interpolation": "cv2.INTER_AREA when shrinking (nw <= w0), else cv2.INTER_LINEAR",
                "pad_value": preprocess.PAD_VALUE,
                "scale_x": "nw / w0", "scale_y": "nh / h0",
                "original_to_model": "x_model = (x + 0.5) * scale_x - 0.5 + offset_x; "
                                     "y_model = (y + 0.5) * scale_y - 0.5 + offset_y",
                "model_to_original": "x = (x_model - offset_x + 0.5) / scale_x - 0.5; "
                                     "y = (y_model - offset_y + 0.5) / scale_y - 0.5",
                "coordinates": "x is the column, y the row, pixel centres at integers",
            },
            "normalization": "none outside the model: the model rescales gray / 255 "
                             "internally; feed raw gray pixels",
        },
        "postprocessing": {
            "threshold": THRESHOLD,
            "steps": [f"probability > {THRESHOLD:g}, keep the largest 8-connected component, fill holes",
                      f"sub-pixel {THRESHOLD:g} iso-contour of the probability on that component",
                      "map contour points to original pixels (model_to_original)",
                      "robust direct least-squares ellipse fit (Fitzgibbon), up to 2 rounds "
                      "dropping points beyond median + max(3 x 1.4826 MAD, 1 model pixel)",
                      "geometric refinement (Levenberg-Marquardt on orthogonal distances)",
                      "reject: fewer than 20 contour points, minor semi-axis < 2 model pixels, "
                      "aspect > 5:1, major semi-axis > 2x the image's larger side",
                      "HC = Ramanujan II perimeter of the ellipse (pixels) x pixel size (mm)"],
            "reference_implementation": "hc_tf.measure.measure",
            "contract": "android_demo_assets/README.md, 'Contract' (exact, with every rule)",
        },
        "training_data": training_data,
        "validation": validation,
        "ops": rep["ops"],
        "input_limits": input_limits(),
    }
    if extra:
        meta.update(extra)
    return meta
