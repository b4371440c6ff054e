"""The Keras runner (TF side): a `.keras` model behind the `hc_tf.inference.Runner` protocol."""

from __future__ import annotations

import os
import threading
from typing import Any, Tuple, Union

import numpy as np


class KerasRunner:
    """Runs a Keras model (object or `.keras` path); optional flip test-time augmentation.

    Thread-safe: `predict` may be called from several threads on one runner; the model calls
    take turns (a lock), as `hc_tf.edge.LiteRunner`'s invokes do.
    """

    def __init__(self, model: Union[Any, str, "os.PathLike[str]"], flip_tta: bool = False,
                 batch_size: int = 8):
        """Args:
          model: a Keras model, or the path of a `.keras` file (loaded with `hc_tf.modeling.model`).
          flip_tta: average each prediction with that of the horizontally flipped input.
          batch_size: images per model call.
        """
        from hc_tf.modeling import model as model_lib
        name = getattr(model, "name", None)
        if isinstance(model, (str, os.PathLike)):
            name = os.fspath(model)
            model = model_lib.load_model(name)
        if flip_tta and model_lib.has_flip_tta(model):
            raise ValueError(f"{name}: the model already averages over the mirrored image "
                             "(flip TTA inside it); drop --flip-tta")
        self.model = model
        self.flip_tta = flip_tta
        self.batch_size = batch_size
        self.input_hw: Tuple[int, int] = (int(model.input.shape[1]), int(model.input.shape[2]))
        self._lock = threading.Lock()

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """(B, H, W, 1) uint8 -> (B, H, W) float32 probabilities; safe from several threads."""
        x = np.asarray(inputs, dtype=np.float32)
        with self._lock:
            return self._predict(x)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        probs = []
        for start in range(0, len(x), self.batch_size):
            chunk = x[start:start + self.batch_size]
            p = np.asarray(self.model(chunk, training=False), dtype=np.float32)[..., 0]
            if self.flip_tta:
                flipped = np.asarray(self.model(chunk[:, :, ::-1], training=False),
                                     dtype=np.float32)[..., 0]
                p = 0.5 * (p + flipped[:, :, ::-1])
            probs.append(p)
        return np.concatenate(probs, axis=0)
