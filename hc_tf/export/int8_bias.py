"""int8 head bias correction (Nagel et al. 2019): measure the edge model's mean logit
gap to the Keras model on calibration images and shift the head's logits by it."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Dict, Optional, Tuple

import numpy as np

from hc_tf import defaults
from hc_tf import edge
from hc_tf.export.convert import convert

HEAD_LAYER = "head_probability"  # hc_tf.modeling.model.HEAD_LAYER (not imported: that imports Keras)
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
    import keras
    from hc_tf.modeling import model as model_lib
    if model_lib.has_flip_tta(model):
        # Shift each pass's logits before the average: there the shift folds into the
        # last convolution's int32 bias; added after it, an int8 ADD rounds a shift
        # under one output step (~0.2 logit) away.
        return model_lib.with_flip_tta(
            shift_head_logits(model_lib.without_flip_tta(model), shift))
    if HEAD_LAYER not in [layer.name for layer in model.layers]:
        raise ValueError(f"head bias correction needs the model's {HEAD_LAYER!r} sigmoid layer "
                         f"(hc_tf.modeling.model's head); {model.name} has none: export without it")
    head = model.get_layer(HEAD_LAYER)
    logits = keras.Model(model.inputs, head.input)
    gray = keras.Input(tuple(model.input.shape[1:]), name="gray")
    z = keras.layers.Rescaling(1.0, offset=float(shift), name="head_bias_correction")(logits(gray))
    prob = keras.layers.Activation("sigmoid", dtype="float32", name=HEAD_LAYER)(z)
    return keras.Model(gray, prob, name=model.name)


def convert_int8_bias_corrected(model, representative: np.ndarray,
                                io_dtype: str = defaults.DEFAULT_IO_DTYPE
                                ) -> Tuple[bytes, Dict[str, Any]]:
    """int8 conversion with empirical bias correction of the head (Nagel et al. 2019).

    Quantization error is not zero-mean: the int8 model's logits can sit below
    the float model's all along the outline, shrinking every measured head (on
    the B0 model, 0.23 logit: HC -0.4 mm typical, -2 mm on large heads). The
    mean gap on the first `BIAS_CORRECTION_IMAGES` calibration images (training
    images) is added to the head's logits and the model converted again. The shifted
    model is kept only if its gap is smaller: converting again re-rounds every tensor,
    and a gap already under one int8 logit step can come back larger (flip-TTA release:
    -0.055 -> +0.069).

    Returns:
      (tflite bytes, {"logit_gap_before", "logit_gap_after", "images", "applied",
      "logit_gap_shifted"}): `logit_gap_after` is that of the model returned,
      `logit_gap_shifted` that of the shifted conversion, kept or not.
    """
    tflite = convert(model, "int8", representative, io_dtype)
    probe = np.asarray(representative)[:BIAS_CORRECTION_IMAGES]
    before = head_logit_gap(model, tflite, probe)
    info = {"images": int(len(probe)), "logit_gap_before": before, "logit_gap_after": before,
            "applied": False, "logit_gap_shifted": None}
    if before is None or abs(before) < 1e-3:
        return tflite, info
    shifted = convert(shift_head_logits(model, before), "int8", representative, io_dtype)
    after = head_logit_gap(model, shifted, probe)
    info["logit_gap_shifted"] = after
    if after is None or abs(after) >= abs(before):
        return tflite, info
    info.update(applied=True, logit_gap_after=after)
    return shifted, info
