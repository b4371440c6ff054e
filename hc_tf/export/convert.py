"""Keras -> TFLite conversion (imports TensorFlow when it runs); modes in `hc_tf.export.export_lib`."""

from __future__ import annotations

import os
import warnings
from typing import Optional, Tuple

import numpy as np

from hc_tf import defaults
from hc_tf.console import quiet
from hc_tf.export.op_report import check_int8
from hc_tf.export.op_report import op_report

MODES = defaults.EXPORT_MODES
IO_DTYPES = defaults.IO_DTYPES


def _tf():
    import tensorflow as tf
    return tf


def load_model(model_or_path):
    """A Keras model as given, or loaded from a `.keras` path."""
    if isinstance(model_or_path, (str, os.PathLike)):
        from hc_tf.modeling import model as model_lib
        return model_lib.load_model(os.fspath(model_or_path))
    return model_or_path


def _xnnpack_friendly(model):
    """The same network with each 2x nearest UpSampling2D as depth_to_space of four
    copies: bit-identical output. Keras 3 lowers nearest upsampling to TILE + RESHAPE,
    which XNNPACK doesn't delegate (nor do some app delegates); DEPTH_TO_SPACE it does.
    On this x86 CPU the int8 B0 model ran no measurably faster for it (73-78 ms either
    way, timed alternately): kept for a graph that is delegated whole."""
    import keras
    tf = _tf()

    class NearestUpsample2x(keras.layers.Layer):
        def call(self, x):
            return tf.nn.depth_to_space(tf.concat([x, x, x, x], axis=-1), 2)

    def swap(layer):
        if (isinstance(layer, keras.layers.UpSampling2D) and tuple(layer.size) == (2, 2)
                and layer.interpolation == "nearest" and layer.data_format == "channels_last"):
            return NearestUpsample2x(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    if not any(isinstance(layer, keras.layers.UpSampling2D) for layer in _all_layers(model)):
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


def check_mode(mode: str, io_dtype: str) -> None:
    """Raises ValueError for an unknown mode or io_dtype, or int8 I/O on a float model."""
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
      mode: "float32", "float16", "dynamic" or "int8" (see `hc_tf.export.export_lib`'s docstring).
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
    check_mode(mode, io_dtype)
    if mode == "int8" and representative is None:
        raise ValueError("int8 conversion needs representative (calibration) inputs")
    tf = _tf()
    model = _xnnpack_friendly(load_model(model_or_path))
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
    from tensorflow.python.framework import convert_to_constants
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
