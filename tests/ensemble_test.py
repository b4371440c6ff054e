"""hc_tf/modeling/ensemble.py: several trained models as one, averaged in logits."""

import keras
import numpy as np
import pytest

from hc_tf.modeling import ensemble
from hc_tf.modeling import model as model_lib
from tests.conftest import TINY_DECODER, TINY_HW


def _member(seed):
    keras.utils.set_random_seed(seed)
    return model_lib.build_unet(TINY_HW, decoder_filters=TINY_DECODER, precision="float32")


def _logits(model, x):
    body = keras.Model(model.inputs, model.get_layer(model_lib.HEAD_LAYER).input)
    return body.predict(x, verbose=0)


def test_the_ensemble_is_the_sigmoid_of_the_members_mean_logits_and_reloads(tmp_path):
    a, b = _member(0), _member(1)
    x = np.random.default_rng(0).uniform(0, 255, (2, *TINY_HW, 1)).astype(np.float32)
    expected = 1 / (1 + np.exp(-(_logits(a, x) + _logits(b, x)) / 2))
    assert np.abs(_logits(a, x) - _logits(b, x)).max() > 0.01  # the members do differ
    both = ensemble.average_logits([a, model_lib.with_flip_tta(b)])  # b's flip TTA taken out
    np.testing.assert_allclose(both.predict(x, verbose=0), expected, atol=1e-5)
    a.save(str(tmp_path / "a.keras"))
    b.save(str(tmp_path / "b.keras"))
    out = str(tmp_path / "full.keras")
    assert ensemble.main([str(tmp_path / "a.keras"), str(tmp_path / "b.keras"), "--out", out]) == 0
    loaded = model_lib.load_model(out)
    assert model_lib.has_flip_tta(loaded)
    np.testing.assert_allclose(model_lib.without_flip_tta(loaded).predict(x, verbose=0), expected,
                               atol=1e-5)


def test_bad_members_are_refused_in_words(tmp_path, capsys):
    a = _member(0)
    with pytest.raises(ValueError, match="at least two models"):
        ensemble.average_logits([a])
    other = model_lib.build_unet((32, 64), decoder_filters=TINY_DECODER, precision="float32")
    with pytest.raises(ValueError, match="different input sizes"):
        ensemble.average_logits([a, other])
    (tmp_path / "junk.keras").write_bytes(b"not a model")
    assert ensemble.main([str(tmp_path / "junk.keras"), str(tmp_path / "junk.keras"),
                          "--out", str(tmp_path / "x.keras")]) == 1
    assert "junk.keras: not a .keras file" in capsys.readouterr().err
    assert not (tmp_path / "x.keras").exists()
