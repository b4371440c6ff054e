"""hc_tf/train/jax_backend/half_weights.py: a run's weights carried at float16 rebuild the same
network here (the way the released GPU-trained models came back from the device)."""

import json
import os

import numpy as np
import pytest

from hc_tf.modeling import model as model_lib
from tests.conftest import TINY_DECODER, TINY_HW

from hc_tf.train.jax_backend import half_weights


def _run_dir(tmp_path, backbone="efficientnetlite0"):
    model = model_lib.build_unet(TINY_HW, backbone, "float32", decoder_filters=TINY_DECODER)
    model.save(str(tmp_path / "best.keras"))
    config = {"backbone": backbone, "decoder_filters": ",".join(map(str, TINY_DECODER)),
              "input_hw": list(TINY_HW)}
    (tmp_path / "config.json").write_text(json.dumps(config))
    return model


@pytest.mark.parametrize("backbone", ["efficientnetlite0", "efficientnetlite2"])
def test_pack_then_rebuild_gives_the_network_within_float16_rounding(tmp_path, backbone):
    model = _run_dir(tmp_path, backbone)
    half_weights.pack(str(tmp_path), str(tmp_path / "w.npz"))
    with np.load(tmp_path / "w.npz") as f:
        assert all(f[k].dtype == np.float16 for k in f.files if k != "config")
    half_weights.rebuild(str(tmp_path / "w.npz"), str(tmp_path / "rebuilt.keras"))
    rebuilt = model_lib.load_model(str(tmp_path / "rebuilt.keras"))
    for a, b in zip(model.get_weights(), rebuilt.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    x = np.random.default_rng(0).uniform(0, 255, (1, *TINY_HW, 1)).astype(np.float32)
    assert np.abs(model.predict(x, verbose=0) - rebuilt.predict(x, verbose=0)).max() < 0.01


def test_rebuild_refuses_weights_of_another_network(tmp_path):
    _run_dir(tmp_path, "efficientnetb0")
    half_weights.pack(str(tmp_path), str(tmp_path / "w.npz"))
    with np.load(tmp_path / "w.npz") as f:
        arrays = {k: f[k] for k in f.files}
    config = json.loads(str(arrays.pop("config")))
    config["backbone"] = "efficientnetlite0"  # wrong label: SE weights have nowhere to go
    np.savez(tmp_path / "bad.npz", config=json.dumps(config), **arrays)
    with pytest.raises(ValueError, match="bad.npz: weights do not match"):
        half_weights.rebuild(str(tmp_path / "bad.npz"), str(tmp_path / "x.keras"))
    assert not os.path.exists(tmp_path / "x.keras")
