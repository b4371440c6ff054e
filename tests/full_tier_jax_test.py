"""The full-tier encoders on the GPU route, without a GPU: a Lite2 UNet started from an
encoder file with ImageNet Lite2's layers and shapes, trained by the JAX trainer, packed at
float16 there and rebuilt here (TensorFlow) to the network JAX saved.

Runs with a Python that has JAX (tests/jax_python.py), else skips.
"""

import json
import os
import subprocess

import numpy as np
import pytest

from jax_python import JAX_PYTHON, needs_jax  # beside this file
from train_jax_test import _tiny_pack, _train_jax  # beside this file

from hc_tf.modeling import lite_pytorch_weights as convert
from hc_tf.modeling import model as model_lib
from hc_tf.train.jax_backend import half_weights

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = os.path.join(HERE, "fixtures", "lite_state_dict_shapes.json")


def _lite2_encoder_file(path: str) -> None:
    """Random values with ImageNet Lite2's state-dict names and shapes (BN variances positive)."""
    with open(SHAPES) as f:
        shapes = json.load(f)["lite2"]["shapes"]
    rng = np.random.default_rng(0)
    sd = {k: (np.ones(v, np.float32) if k.endswith("running_var")
              else rng.normal(0, 0.05, v).astype(np.float32)) for k, v in shapes.items()}
    convert.save_npz(path, convert.state_dict_to_keras(sd, "lite2"),
                     {"mean_rgb": convert.MEAN_RGB, "stddev_rgb": convert.STDDEV_RGB,
                      "backbone": "efficientnetlite2"})


@pytest.mark.large
@needs_jax
def test_a_lite2_run_trains_under_jax_and_comes_back_as_the_same_network(tmp_path):
    pack, run, encoder = str(tmp_path / "pack.npz"), str(tmp_path / "run"), str(tmp_path / "lite2.npz")
    _tiny_pack(pack)
    _lite2_encoder_file(encoder)
    out = _train_jax("--data", pack, "--run-dir", run, "--train-on-all", "--epochs", "1",
                     "--val-every", "1", "--batch-size", "4", "--workers", "1",
                     "--precision", "float32", "--decoder-filters", "16,8,8,8,8",
                     "--backbone", "efficientnetlite2", "--encoder-weights", encoder)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "hc_unet_efficientnetlite2" in out.stdout
    packed = str(tmp_path / "run.npz")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": os.path.dirname(HERE)}
    done = subprocess.run([JAX_PYTHON, "-m", "hc_tf.train.jax_backend.half_weights", "pack", run, packed],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    half_weights.rebuild(packed, str(tmp_path / "rebuilt.keras"))
    rebuilt = model_lib.load_model(str(tmp_path / "rebuilt.keras"))
    trained = model_lib.load_model(os.path.join(run, "best.keras"))  # saved by Keras on JAX
    assert rebuilt.name == trained.name == "hc_unet_efficientnetlite2"
    x = np.random.default_rng(1).uniform(0, 255, (2, *rebuilt.input.shape[1:])).astype(np.float32)
    assert np.abs(trained.predict(x, verbose=0) - rebuilt.predict(x, verbose=0)).max() < 0.01
