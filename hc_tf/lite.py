"""Keras -> TFLite conversion for the edge model, with an op report and metadata.

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

This module imports TensorFlow; the edge runtime (`hc_tf.edge`) does not.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from hc_tf import __version__
from hc_tf import defaults
from hc_tf import edge
from hc_tf import io_utils
from hc_tf import preprocess
from hc_tf import quiet

MODES = defaults.EXPORT_MODES
IO_DTYPES = defaults.IO_DTYPES
THRESHOLD = defaults.THRESHOLD

# Ops allowed to touch float tensors in an int8 model: the input QUANTIZE
# (float32 in -> int8 out) and the output DEQUANTIZE (int8 in -> float32 out),
# present only with float32 I/O.
_FLOAT_KINDS = ("float32", "float16", "float64", "bfloat16")


class FloatOpsError(RuntimeError):
    """A full-integer (int8) TFLite model still computes some op in float."""


def _tf():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf


def _load(model_or_path):
    if isinstance(model_or_path, (str, os.PathLike)):
        from hc_tf import model as model_lib  # pylint: disable=g-import-not-at-top
        return model_lib.load_model(os.fspath(model_or_path))
    return model_or_path


def _xnnpack_friendly(model):
    """The same network with each 2x nearest UpSampling2D as depth_to_space of four
    copies: bit-identical output. Keras 3 lowers nearest upsampling to TILE + RESHAPE,
    which XNNPACK doesn't delegate (nor do some app delegates); DEPTH_TO_SPACE it does.
    On this x86 CPU the int8 B0 model ran no measurably faster for it (73-78 ms either
    way, timed alternately): kept for a graph that is delegated whole."""
    import keras  # pylint: disable=g-import-not-at-top
    tf = _tf()

    class NearestUpsample2x(keras.layers.Layer):
        def call(self, x):
            return tf.nn.depth_to_space(tf.concat([x, x, x, x], axis=-1), 2)

    def swap(layer):
        if (isinstance(layer, keras.layers.UpSampling2D) and tuple(layer.size) == (2, 2)
                and layer.interpolation == "nearest" and layer.data_format == "channels_last"):
            return NearestUpsample2x(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    if not any(isinstance(l, keras.layers.UpSampling2D) for l in _all_layers(model)):
        return model
    clone = keras.models.clone_model(model, clone_function=swap, recursive=True)
    clone.set_weights(model.get_weights())
    return clone


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def model_input_hw(model) -> Tuple[int, int]:
    """(H, W) of a Keras model's (B, H, W, 1) input."""
    shape = tuple(model.input.shape)
    if len(shape) != 4 or shape[3] != 1 or shape[1] is None or shape[2] is None:
        raise ValueError(f"expected a (B, H, W, 1) input with static H, W; got {shape}")
    return int(shape[1]), int(shape[2])


def _check_mode(mode: str, io_dtype: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if io_dtype not in IO_DTYPES:
        raise ValueError(f"io_dtype must be one of {IO_DTYPES}, got {io_dtype!r}")
    if mode != "int8" and io_dtype == "int8":
        raise ValueError(f"io_dtype 'int8' needs mode 'int8' (a float model takes uint8 "
                         f"or float32 pixels), got mode {mode!r}")


def _representative_gen(representative: np.ndarray, hw: Tuple[int, int]):
    """Yields float32 raw 0..255 batches of one, exactly what the runtime feeds.

    The first sample gets one 0 pixel and one 255 pixel in its top-left corner,
    so that the calibrated input range is exactly [0, 255] (uint8 input scale 1,
    zero point 0: the pixel goes in as it is) whatever the images' own range.
    """
    rep = np.asarray(representative)
    if rep.ndim == 3:
        rep = rep[..., None]
    if rep.ndim != 4 or rep.shape[1:] != (hw[0], hw[1], 1) or len(rep) == 0:
        raise ValueError(f"representative must be (N, {hw[0]}, {hw[1]}, 1) letterboxed "
                         f"inputs with N >= 1, got shape {rep.shape}")
    if rep.dtype != np.uint8:
        raise ValueError(f"representative must be uint8 letterboxed pixels, got {rep.dtype}")

    def gen():
        for i, x in enumerate(rep):
            x = x.astype(np.float32)[None]
            if i == 0:
                x[0, 0, 0, 0], x[0, 0, 1, 0] = 0.0, 255.0
            yield [x]
    return gen


def convert(model_or_path, mode: str = "float32", representative: Optional[np.ndarray] = None,
            io_dtype: str = defaults.DEFAULT_IO_DTYPE) -> bytes:
    """Converts the Keras model (object or `.keras` path) to a TFLite flatbuffer.

    Args:
      model_or_path: a Keras model (B, H, W, 1) gray 0..255 -> (B, H, W, 1)
        probability, or the path of a saved one.
      mode: "float32", "float16", "dynamic" or "int8" (see module docstring).
      representative: (N, H, W, 1) uint8 letterboxed inputs for int8 calibration
        (required for int8, ignored otherwise).
      io_dtype: the input type ("uint8": raw pixels; "float32": raw pixels as
        float). For int8 it also sets the output type ("int8" allowed there).

    Returns:
      The .tflite bytes.

    Raises:
      ValueError: for an unknown mode/io_dtype, or int8 without representative data.
      FloatOpsError: when an int8 model would compute any op in float, or its uint8
        input is not the pixel as it is (scale 1, zero point 0).
    """
    _check_mode(mode, io_dtype)
    if mode == "int8" and representative is None:
        raise ValueError("int8 conversion needs representative (calibration) inputs")
    tf = _tf()
    model = _xnnpack_friendly(_load(model_or_path))
    h, w = model_input_hw(model)
    # Float modes may take uint8 and cast in-graph (one CAST op); int8 takes float
    # and lets the converter put the quantization at the edge.
    in_dtype = tf.uint8 if (mode != "int8" and io_dtype == "uint8") else tf.float32

    @tf.function(input_signature=[tf.TensorSpec((1, h, w, 1), in_dtype, name="gray")])
    def serve(gray):
        x = tf.cast(gray, tf.float32)
        prob = model(x, training=False)
        return {"probability": tf.cast(prob, tf.float32)}

    # Freeze the weights into constants: left as resource variables they become
    # VAR_HANDLE / READ_VARIABLE ops (BatchNorm unfolded, calibration fails).
    from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-import-not-at-top
    frozen = convert_to_constants.convert_variables_to_constants_v2(serve.get_concrete_function())
    # The concrete-function path is deliberate (frozen constants); the converter's
    # advice to pass a trackable object instead would change the conversion path.
    with quiet.dropped_log_messages("absl", "Please consider providing the trackable_obj"):
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative_gen(representative, (h, w))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = {"uint8": tf.uint8, "int8": tf.int8, "float32": tf.float32}[io_dtype]
        converter.inference_input_type = io
        converter.inference_output_type = io
    with warnings.catch_warnings():
        # Harmless with calibration: the input's range comes from the representative data.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        tflite = converter.convert()
    if mode == "int8":
        check_int8(op_report(tflite), io_dtype)
    return tflite


def check_int8(report: Dict[str, Any], io_dtype: str = defaults.DEFAULT_IO_DTYPE) -> None:
    """Raises FloatOpsError unless `report` (from `op_report`) is a true integer model.

    Float tensors may appear only at a float32 I/O edge (input QUANTIZE, output
    DEQUANTIZE); with uint8 I/O the input quantization must be scale 1, zero point 0.
    """
    if report["float_ops"]:
        listed = "; ".join(f"{o['op']} (#{o['index']}) on {', '.join(o['float_tensors'])}"
                           for o in report["float_ops"][:10])
        more = f" ... ({len(report['float_ops'])} ops in all)" if len(report["float_ops"]) > 10 else ""
        raise FloatOpsError(f"int8 export computes in float: {listed}{more}")
    inp = report["input"]
    if io_dtype != "float32" and inp["dtype"] != io_dtype:
        raise FloatOpsError(f"int8 export: input is {inp['dtype']}, expected {io_dtype}")
    if io_dtype == "uint8" and (abs(inp["scale"] - 1.0) > 1e-6 or inp["zero_point"] != 0):
        raise FloatOpsError(
            f"int8 export: uint8 input quantization is scale {inp['scale']}, zero point "
            f"{inp['zero_point']}; expected 1, 0 (the raw pixel)")


# ----------------------------------------------------------------------------
# Op report.
# ----------------------------------------------------------------------------

def _interpreter(tflite_bytes: bytes):
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
    return Interpreter(model_content=bytes(tflite_bytes))


def _dtype_name(dtype) -> str:
    return np.dtype(dtype).name


def _quant(detail: Dict[str, Any]) -> Dict[str, Any]:
    scale, zp = detail.get("quantization", (0.0, 0))
    return {"name": detail["name"], "shape": [int(v) for v in detail["shape"]],
            "dtype": _dtype_name(detail["dtype"]), "scale": float(scale), "zero_point": int(zp)}


def op_report(tflite_bytes: bytes) -> Dict[str, Any]:
    """What a TFLite model runs: op counts, float tensors, ops that compute in float.

    Returns:
      A dict with
        ops: {op name: count};
        n_ops: total op count;
        float_tensors: [{"name", "dtype"}] of every float (32/16-bit) tensor;
        float_ops: [{"index", "op", "float_tensors"}] of ops touching a float
          tensor, other than an input QUANTIZE (float in, integer out) and an
          output DEQUANTIZE (integer in, float out) — empty for a true int8 model;
        input / output: name, shape, dtype, scale, zero_point;
        size_bytes.
    """
    interp = _interpreter(tflite_bytes)
    tensors = {int(t["index"]): t for t in interp.get_tensor_details()}

    def is_float(i: int) -> bool:
        t = tensors.get(int(i))
        return t is not None and _dtype_name(t["dtype"]) in _FLOAT_KINDS

    ops: Dict[str, int] = {}
    float_ops: List[Dict[str, Any]] = []
    for op in interp._get_ops_details():  # pylint: disable=protected-access
        name = op["op_name"]
        ops[name] = ops.get(name, 0) + 1
        ins = [int(i) for i in op["inputs"] if int(i) >= 0]
        outs = [int(i) for i in op["outputs"] if int(i) >= 0]
        touched = [i for i in ins + outs if is_float(i)]
        if not touched:
            continue
        if name == "QUANTIZE" and all(not is_float(i) for i in outs):
            continue  # float input -> integer: the model's input edge
        if name == "DEQUANTIZE" and all(not is_float(i) for i in ins):
            # integer -> float: fine only as the model output (checked below).
            out_ids = {int(d["index"]) for d in interp.get_output_details()}
            if set(outs) <= out_ids:
                continue
        float_ops.append({"index": int(op["index"]), "op": name,
                          "float_tensors": [f"{tensors[i]['name']}:{_dtype_name(tensors[i]['dtype'])}"
                                            for i in touched]})
    float_tensors = [{"name": t["name"], "dtype": _dtype_name(t["dtype"])}
                     for t in tensors.values() if _dtype_name(t["dtype"]) in _FLOAT_KINDS]
    return {"ops": dict(sorted(ops.items())), "n_ops": int(sum(ops.values())),
            "float_tensors": float_tensors, "float_ops": float_ops,
            "input": _quant(interp.get_input_details()[0]),
            "output": _quant(interp.get_output_details()[0]),
            "size_bytes": len(tflite_bytes)}


# ----------------------------------------------------------------------------
# Metadata.
# ----------------------------------------------------------------------------

TRAINING_DATA = ("HC18 grand challenge training set (van den Heuvel et al. 2018, "
                 "doi:10.5281/zenodo.1322001, CC BY 4.0), subject-level train/validation split")


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
    if out["dtype"] in _FLOAT_KINDS:
        out_rule = "probability = output (float32)"
        q_threshold = None
    else:
        out_rule = (f"probability = (q - {out['zero_point']}) * {out['scale']:.10g}")
        # prob > 0.5  <=>  q > zp + 0.5 / scale
        q_threshold = out["zero_point"] + THRESHOLD / out["scale"] if out["scale"] else None
    if inp["dtype"] in _FLOAT_KINDS:
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
                      "robust direct least-squares ellipse fit (Fitzgibbon), outliers dropped",
                      "HC = Ramanujan II perimeter of the ellipse (pixels) x pixel size (mm)"],
            "reference_implementation": "hc_tf.ellipse.measure",
        },
        "training_data": training_data,
        "validation": validation,
        "ops": rep["ops"],
    }
    if extra:
        meta.update(extra)
    return meta


# ----------------------------------------------------------------------------
# Export.
# ----------------------------------------------------------------------------

metadata_path = edge.metadata_path  # `model.tflite` -> `model.json`, checked by the runtime


DEFAULT_CALIBRATION_SAMPLES = defaults.CALIBRATION_SAMPLES  # why 256: see hc_tf.defaults


HEAD_LAYER = "head_probability"  # hc_tf.model's sigmoid head
BIAS_CORRECTION_IMAGES = 64


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-4, 1.0 - 1e-4)
    return np.log(p / (1.0 - p))


def head_logit_gap(model, tflite_bytes: bytes, inputs: np.ndarray,
                   band: Tuple[float, float] = (0.1, 0.9)) -> Optional[float]:
    """Mean logit of the Keras model minus that of the TFLite model, over the pixels
    where the Keras probability is in `band`: the boundary zone, where a systematic
    gap moves every measured outline (a gap > 0: the edge model's heads are smaller).

    Returns:
      The gap, or None when no pixel is in the band.
    """
    x = np.asarray(inputs)
    full = np.asarray(model.predict(x.astype(np.float32), verbose=0), np.float32)[..., 0]
    fd, path = tempfile.mkstemp(suffix=".tflite")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(tflite_bytes)
        lite = edge.LiteRunner(path).predict(x)
    finally:
        os.unlink(path)
    zone = (full > band[0]) & (full < band[1])
    if not zone.any():
        return None
    return float(np.mean(_logit(full[zone]) - _logit(lite[zone])))


def shift_head_logits(model, shift: float):
    """The model with `shift` added to the logits entering its sigmoid head.

    Raises:
      ValueError: when the model has no `HEAD_LAYER`.
    """
    import keras  # pylint: disable=g-import-not-at-top
    if HEAD_LAYER not in [layer.name for layer in model.layers]:
        raise ValueError(f"head bias correction needs the model's {HEAD_LAYER!r} sigmoid layer "
                         f"(hc_tf.model's head); {model.name} has none: export without it")
    head = model.get_layer(HEAD_LAYER)
    logits = keras.Model(model.inputs, head.input)
    gray = keras.Input(tuple(model.input.shape[1:]), name="gray")
    z = keras.layers.Rescaling(1.0, offset=float(shift), name="head_bias_correction")(logits(gray))
    prob = keras.layers.Activation("sigmoid", dtype="float32", name=HEAD_LAYER)(z)
    return keras.Model(gray, prob, name=model.name)


def convert_int8_bias_corrected(model, representative: np.ndarray, io_dtype: str = defaults.DEFAULT_IO_DTYPE
                                ) -> Tuple[bytes, Dict[str, Any]]:
    """int8 conversion with empirical bias correction of the head (Nagel et al. 2019).

    Quantization error is not zero-mean: the int8 model's logits can sit below
    the float model's all along the outline, shrinking every measured head (on
    the B0 model, 0.23 logit: HC -0.4 mm typical, -2 mm on large heads). The
    mean gap on the first `BIAS_CORRECTION_IMAGES` calibration images (training
    images) is added to the head's logits and the model converted again.

    Returns:
      (tflite bytes, {"logit_gap_before", "logit_gap_after", "images"}).
    """
    tflite = convert(model, "int8", representative, io_dtype)
    probe = np.asarray(representative)[:BIAS_CORRECTION_IMAGES]
    before = head_logit_gap(model, tflite, probe)
    info = {"images": int(len(probe)), "logit_gap_before": before, "logit_gap_after": before}
    if before is None or abs(before) < 1e-3:
        return tflite, info
    tflite = convert(shift_head_logits(model, before), "int8", representative, io_dtype)
    info["logit_gap_after"] = head_logit_gap(model, tflite, probe)
    return tflite, info


def calibration_inputs(data_dir: str, input_hw: Tuple[int, int],
                       n: int = DEFAULT_CALIBRATION_SAMPLES, seed: int = 0,
                       split: str = "train") -> Tuple[np.ndarray, List[str]]:
    """(n, H, W, 1) uint8 letterboxed images drawn (seeded, no repeats) from a TFDS split,
    and their file names."""
    from hc_tf import data as data_lib  # pylint: disable=g-import-not-at-top
    samples = data_lib.load_samples(data_dir, split)
    if not samples:
        raise ValueError(f"{data_dir}: the {split} split is empty")
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(samples), size=min(int(n), len(samples)), replace=False)
    chosen = [samples[i] for i in sorted(idx)]
    inputs = np.stack([preprocess.letterbox_image(s.image, input_hw)[0] for s in chosen])
    return inputs, [s.filename for s in chosen]


def export(model_path: str, out_path: str, mode: str = "int8", data_dir: Optional[str] = None,
           n_calibration: int = DEFAULT_CALIBRATION_SAMPLES, seed: int = 0, io_dtype: str = defaults.DEFAULT_IO_DTYPE,
           validation: Optional[Dict[str, Any]] = None,
           representative: Optional[np.ndarray] = None,
           bias_correction: bool = True) -> Dict[str, Any]:
    """Converts a saved Keras model and writes `out_path` (.tflite) and its metadata `<stem>.json`.

    Both files are written atomically (a temporary sibling, then rename).

    Args:
      model_path: the `.keras` model.
      out_path: the `.tflite` to write; the metadata goes to the same path with `.json` for `.tflite`.
      mode: see `MODES`.
      data_dir: prepared TFDS data dir; int8 calibration draws from its train split.
      n_calibration: calibration images (int8).
      seed: seeds the draw of calibration images.
      io_dtype: see `convert`.
      validation: figures to record in the metadata.
      representative: (N, H, W, 1) uint8 calibration inputs to use instead of
        drawing them from `data_dir` (tests, custom calibration sets).
      bias_correction: int8 only: correct the head's quantization bias (see
        `convert_int8_bias_corrected`; needs the model's `HEAD_LAYER`).

    Returns:
      The op report, plus tflite_path, metadata_path, size_bytes, size_mb, mode,
      io_dtype and calibration (count, seed) for int8.

    Raises:
      ValueError: for int8 without data_dir, a missing model, bad mode/io_dtype.
      FloatOpsError: see `convert`.
    """
    _check_mode(mode, io_dtype)
    if mode == "int8" and data_dir is None and representative is None:
        raise ValueError("int8 export needs --data-dir (a prepared HC18 TFDS dir) for calibration")
    model = _load(model_path)
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
    source, extra = None, {"calibration": calib, "io_dtype": io_dtype}
    if isinstance(model_path, (str, os.PathLike)):
        source = os.fspath(model_path)
        with open(source, "rb") as f:
            extra["source_model_sha256"] = hashlib.sha256(f.read()).hexdigest()
    meta = metadata(tflite, mode, source_model=source, validation=validation, extra=extra)
    io_utils.atomic_write_bytes(out_path, tflite)
    meta_path = metadata_path(out_path)
    io_utils.atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
    report = op_report(tflite)
    report.update(tflite_path=out_path, metadata_path=meta_path, mode=mode, io_dtype=io_dtype,
                  size_mb=len(tflite) / 1e6, calibration=calib)
    return report
