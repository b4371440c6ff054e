"""The edge runtime: the LiteRT runner of a `.tflite` model and its checksum, no TensorFlow.

Needs only NumPy, OpenCV and `ai-edge-litert` (the base install): importing
TensorFlow here, even indirectly, is a bug (tests/edge_test.py enforces it).

    import os, hc_tf
    from hc_tf import edge, inference, models
    runner = edge.LiteRunner(models.released_edge_model())  # the released int8 model
    image = os.path.join(os.path.dirname(hc_tf.__file__), "sample_data", "test_set", "000_HC.png")
    m, ms = inference.measure_file(runner, image, pixel_size_mm=0.4717142809)
    print(m.hc_mm, ms)

More: docs/python_api.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from typing import Optional, Tuple

import numpy as np

from hc_tf.io import held_stderr



def _interpreter_class():
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter


# Which CPU kernels LiteRT runs the model with. "xnnpack": its default (the XNNPACK delegate),
# what every golden was made with and reproduces exactly; "builtin": its built-in optimized
# kernels without default delegates (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES), a
# different int8 arithmetic: benchmarks/kernel_spread.py measures how far it moves the HC.
KERNELS = ("xnnpack", "builtin")


def _resolver_kwargs(kernels: str) -> dict:
    if kernels not in KERNELS:
        raise ValueError(f"kernels must be one of {', '.join(KERNELS)}, got {kernels!r}")
    if kernels == "xnnpack":
        return {}  # LiteRT's default, passed as nothing
    from ai_edge_litert.interpreter import OpResolverType
    return {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}


def metadata_path(tflite_path: str) -> str:
    """`model.tflite` -> `model.json` (the metadata sits next to the model)."""
    root, ext = os.path.splitext(tflite_path)
    return (root if ext == ".tflite" else tflite_path) + ".json"


def sha256_file(path: str) -> str:
    """The hex sha256 of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_model_checksum(tflite_path: str) -> Optional[str]:
    """Refuses a `.tflite` whose bytes differ from what its metadata JSON records.

    A corrupted model can run and return plausible-looking numbers, so whenever
    the metadata (`metadata_path`) is beside the model, its `tflite_sha256` must
    match. A model without metadata, or metadata without that field, is not checked.

    Args:
      tflite_path: the model file.

    Returns:
      The model's sha256 when it was checked, else None.

    Raises:
      ValueError: naming both files, for unreadable metadata or a mismatch.
    """
    meta_path = metadata_path(tflite_path)
    if not os.path.isfile(meta_path):
        return None
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{meta_path}: the metadata beside {tflite_path} is not readable "
                         f"JSON ({err})") from None
    expected = meta.get("tflite_sha256") if isinstance(meta, dict) else None
    if not expected:
        return None
    actual = sha256_file(tflite_path)
    if actual != expected:
        raise ValueError(f"{tflite_path}: sha256 {actual[:16]}... differs from tflite_sha256 "
                         f"{str(expected)[:16]}... in {meta_path}: the model file is corrupt or "
                         "not the one its metadata describes")
    return actual


class LiteRunner:
    """Runs a `.tflite` HC model: (B, H, W, 1) uint8 letterboxed -> (B, H, W) float32 probability.

    The same interface as `hc_tf.modeling.keras_runner.KerasRunner` (`input_hw`, `predict`), so
    evaluation and parity measure both models with the same code. Batches run as
    batch-1 invokes (the model's input is static (1, H, W, 1)). The model's sha256
    is checked against its metadata JSON when that is beside it. `kernels`: see `KERNELS`.

    Thread-safe: `predict` may be called from several threads on one runner; one LiteRT
    interpreter runs one invoke at a time, so calls take turns (a lock around set_tensor,
    invoke and get_tensor). For parallel throughput, give each thread its own runner.
    """

    def __init__(self, path, num_threads: int = 2, kernels: str = "xnnpack"):
        path = os.fspath(path)
        resolver = _resolver_kwargs(kernels)
        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such TFLite model file")
        # Before the interpreter parses a possibly corrupt file; kept so nothing hashes it again.
        self.sha256: Optional[str] = check_model_checksum(path)
        try:
            # LiteRT prints an INFO line for its default XNNPACK delegate on every load.
            with held_stderr.filtered_stderr():
                self.interpreter = _interpreter_class()(model_path=path, num_threads=int(num_threads),
                                                        **resolver)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"{path}: not a loadable TFLite model ({err})") from err
        self.path, self.kernels, self.num_threads = path, kernels, int(num_threads)
        self._lock = threading.Lock()  # one invoke at a time: LiteRT's tensors are shared
        ins, outs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(f"{path}: expected 1 input and 1 output, got {len(ins)} and {len(outs)}")
        self._in, self._out = ins[0], outs[0]
        shape = tuple(int(v) for v in self._in["shape"])
        if len(shape) != 4 or shape[0] != 1 or shape[3] != 1:
            raise ValueError(f"{path}: expected a (1, H, W, 1) input, got {shape}")
        out_shape = tuple(int(v) for v in self._out["shape"])
        if out_shape not in ((1, shape[1], shape[2], 1), (1, shape[1], shape[2])):
            raise ValueError(f"{path}: output shape {out_shape} does not match input {shape}")
        self.input_hw: Tuple[int, int] = (shape[1], shape[2])
        self.input_dtype = np.dtype(self._in["dtype"])
        self.output_dtype = np.dtype(self._out["dtype"])
        self.input_scale, self.input_zero_point = self._in.get("quantization", (0.0, 0))
        self.output_scale, self.output_zero_point = self._out.get("quantization", (0.0, 0))

    def quantize_input(self, pixels: np.ndarray) -> np.ndarray:
        """(H, W, 1) uint8 pixels -> the model's input tensor (1, H, W, 1)."""
        x = np.asarray(pixels)[None]
        dt, scale, zp = self.input_dtype, float(self.input_scale), int(self.input_zero_point)
        if dt.kind == "f":
            return x.astype(dt)
        if dt == np.uint8 and zp == 0 and scale in (0.0, 1.0):
            return x.astype(np.uint8)  # the pixel as it is
        if scale == 0.0:
            scale = 1.0
        info = np.iinfo(dt)
        q = np.round(x.astype(np.float64) / scale) + zp
        return np.clip(q, info.min, info.max).astype(dt)

    def dequantize_output(self, raw: np.ndarray) -> np.ndarray:
        """The raw output tensor -> float32 probabilities (H, W)."""
        raw = np.asarray(raw).reshape(self.input_hw)
        if self.output_dtype.kind == "f":
            return raw.astype(np.float32)
        scale = float(self.output_scale) or 1.0
        return ((raw.astype(np.float32) - float(self.output_zero_point)) * scale).astype(np.float32)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(B, H, W, 1) or (B, H, W) uint8 letterboxed pixels -> (B, H, W) float32.

        Safe to call from several threads at once: the invokes take turns (see the class)."""
        x = np.asarray(inputs)
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4 or x.shape[1:] != (self.input_hw[0], self.input_hw[1], 1):
            raise ValueError(f"{self.path}: expected (B, {self.input_hw[0]}, {self.input_hw[1]}, 1) "
                             f"inputs, got {x.shape}")
        out = np.empty((x.shape[0],) + self.input_hw, dtype=np.float32)
        for i in range(x.shape[0]):
            tensor = self.quantize_input(x[i])
            with self._lock:  # unlocked, a concurrent invoke raised LiteRT's RuntimeError
                self.interpreter.set_tensor(self._in["index"], tensor)
                self.interpreter.invoke()
                raw = self.interpreter.get_tensor(self._out["index"])  # a copy
            out[i] = self.dequantize_output(raw)
        return out
