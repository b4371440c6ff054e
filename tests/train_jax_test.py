"""hc_tf/train/jax_backend/train_jax.py end to end on a tiny packed set (`--train-on-all`).

Runs with a Python that has JAX (tests/jax_python.py), else skips.
"""

import json
import os
import subprocess

import numpy as np

from jax_python import JAX_PYTHON, needs_jax  # beside this file
from tiny_models import TINY_HW, synthetic_images  # beside this file


from hc_tf.train.jax_backend import pack_hc18

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _tiny_pack(path: str, n_train: int = 8, n_val: int = 4) -> None:
    """A pack_hc18-style .npz: letterbox = identity, 0.2 mm pixels, HC from each ellipse."""
    h, w = TINY_HW
    arrays = {}
    for split, n, seed in (("train", n_train, 0), ("validation", n_val, 1)):
        images, masks, ellipses = synthetic_images(n, seed=seed)
        hc = [np.pi * (3 * (a + b) - np.sqrt((3 * a + b) * (a + 3 * b))) * 0.2
              for _, _, a, b, _ in ellipses]
        arrays.update({f"{split}_x_{k}": v for k, v in pack_hc18.encode_images(images[..., 0]).items()})
        arrays.update({f"{split}_y": masks * 255, f"{split}_box": np.tile([1.0, 1.0, 0, 0, w, h], (n, 1)),
                       f"{split}_px": np.full(n, 0.2), f"{split}_hc": np.asarray(hc),
                       f"{split}_names": np.asarray([f"{split}{i}_HC.png" for i in range(n)])})
    np.savez_compressed(path, **arrays)


def _train_jax(*args):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.path.dirname(HERE)}
    return subprocess.run([JAX_PYTHON, "-m", "hc_tf.train.jax_backend.train_jax", *args],
                          capture_output=True, text=True, env=env, timeout=600)


@needs_jax
def test_train_on_all_trains_on_both_splits_and_keeps_the_last_epoch(tmp_path):
    # With the boundary and HC loss terms too: the levers' flags, compiled under JAX.
    pack, run = str(tmp_path / "pack.npz"), str(tmp_path / "run")
    _tiny_pack(pack)
    out = _train_jax("--data", pack, "--run-dir", run, "--train-on-all", "--epochs", "2",
                     "--val-every", "1", "--batch-size", "4", "--workers", "1",
                     "--precision", "float32", "--decoder-filters", "16,8,8,8,8",
                     "--boundary-weight", "1", "--hc-weight", "1")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "12 training images (train + validation), 4 validation images" in out.stdout
    best = json.load(open(os.path.join(run, "best.json")))
    assert best["epoch"] == 2 and best["train_on_all"] is True and "not held out" in best["note"]
    assert os.path.exists(os.path.join(run, "best.keras"))
    config = json.load(open(os.path.join(run, "config.json")))
    assert config["boundary_weight"] == 1.0 and config["hc_weight"] == 1.0


@needs_jax
def test_train_on_all_refuses_a_schedule_not_fixed_in_epochs(tmp_path):
    out = _train_jax("--data", str(tmp_path / "unused.npz"), "--run-dir", str(tmp_path / "run"),
                     "--train-on-all")
    assert out.returncode == 2 and "--train-on-all needs a fixed --epochs" in out.stderr
