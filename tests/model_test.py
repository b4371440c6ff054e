"""The EfficientNet-UNet on tiny configs: shapes, dtypes, precision policy, and the
segmentation-models guard (build, save, reload, convert) that fails loudly if a
Keras upgrade breaks the unmaintained library."""

import numpy as np
import pytest
import tensorflow as tf

from hc_tf.modeling import model as model_lib
from tests.conftest import TINY_DECODER, TINY_HW


@pytest.mark.parametrize("backbone", model_lib.BACKBONES)
def test_each_backbone_builds_with_float32_probability_output(backbone):
    model = model_lib.build_unet((32, 64), backbone, "float32", decoder_filters=TINY_DECODER)
    assert tuple(model.input.shape) == (None, 32, 64, 1)
    out = model(np.full((2, 32, 64, 1), 128.0, np.float32), training=False)
    assert out.shape == (2, 32, 64, 1) and out.dtype == tf.float32
    assert np.all((out.numpy() >= 0) & (out.numpy() <= 1))
    assert backbone in model_lib.summary_line(model)


def test_segmentation_models_guard_build_save_reload_convert(tmp_path):
    """If this fails after a dependency upgrade: segmentation-models 1.0.1 no longer
    works with this Keras. Pin Keras back or replace hc_tf/modeling/model.py's encoder."""
    model = model_lib.build_unet(TINY_HW, "efficientnetb0", "float32", decoder_filters=TINY_DECODER)
    x = np.random.default_rng(0).uniform(0, 255, (2, *TINY_HW, 1)).astype(np.float32)
    path = str(tmp_path / "tiny.keras")
    model.save(path)
    reloaded = model_lib.load_model(path)
    np.testing.assert_array_equal(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))
    fn = tf.function(lambda t: reloaded(t, training=False),
                     input_signature=[tf.TensorSpec((1, *TINY_HW, 1), tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], reloaded)
    assert len(converter.convert()) > 10_000


def test_lite_encoder_has_relu6_and_no_squeeze_excitation_and_reloads(tmp_path):
    import keras
    model = model_lib.build_unet((32, 64), "efficientnetlite0", "float32",
                                 decoder_filters=TINY_DECODER)
    encoder = [layer for layer in model.get_layer(index=3).layers]
    activations = {getattr(layer.activation, "__name__", "") for layer in encoder
                   if isinstance(layer, keras.layers.Activation)}
    assert "relu6" in activations and "swish" not in activations
    assert not [layer.name for layer in encoder if "_se_" in layer.name]
    b0 = model_lib.build_unet((32, 64), "efficientnetb0", "float32", decoder_filters=TINY_DECODER)
    assert model.count_params() < b0.count_params()  # the SE convolutions are gone
    path = str(tmp_path / "lite.keras")
    model.save(path)
    x = np.random.default_rng(0).uniform(0, 255, (1, 32, 64, 1)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0),
                                  model_lib.load_model(path).predict(x, verbose=0))


@pytest.mark.large  # a full-size network in float16 / bfloat16 on the CPU (~30 s each)
@pytest.mark.parametrize("policy,compute", [("mixed_float16", "float16"),
                                            ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_computes_low_and_outputs_float32(policy, compute, float32_policy):
    import keras
    from hc_tf.train import losses
    model = model_lib.build_unet((32, 32), "efficientnetb0", policy, decoder_filters=TINY_DECODER)
    convs = [layer for layer in model.get_layer(index=3).layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == compute for layer in convs)
    assert all(layer.variable_dtype == "float32" for layer in convs)  # master weights stay float32
    assert model.output.dtype == "float32"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=losses.bce_dice_loss)
    if policy == "mixed_float16":  # Keras wraps the optimizer for loss scaling
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype(np.float32)
    y = (x > 128).astype(np.float32)
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)


def test_auto_precision_is_float32_on_cpu():
    if tf.config.list_physical_devices("GPU"):
        assert model_lib.resolve_precision("auto") == "mixed_float16"
    else:
        assert model_lib.resolve_precision("auto") == "float32"
    with pytest.raises(ValueError, match="precision"):
        model_lib.resolve_precision("float8")


@pytest.mark.parametrize("size", [(224, 300), (0, 320), (100, 100)])
def test_input_sizes_the_unet_cannot_take_are_refused(size):
    with pytest.raises(ValueError, match="multiple of 32"):
        model_lib.check_input_size(size)


def test_load_model_names_bad_files(tmp_path):
    with pytest.raises(ValueError, match="no such model"):
        model_lib.load_model(str(tmp_path / "missing.keras"))
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.keras") as err:
        model_lib.load_model(str(bad))
    # Keras says "File not found" of a file that is there: not said on
    assert "not a .keras file (not a zip archive)" in str(err.value)
    assert "not found" not in str(err.value), err.value


def test_cli_backbones_and_defaults_are_the_models():
    # the CLI lists them itself: importing model_lib would import Keras
    from hc_tf.console import model_commands, text
    options = {p.name: p for p in model_commands.train.params}
    assert tuple(options["backbone"].type.choices) == model_lib.BACKBONES
    assert options["backbone"].default == model_lib.DEFAULT_BACKBONE
    assert text.parse_filters(options["decoder_filters"].default) == model_lib.DEFAULT_DECODER_FILTERS


def _logit(p):
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def test_flip_tta_averages_the_logits_of_the_image_and_its_mirror(tmp_path):
    model = model_lib.build_unet(TINY_HW, "efficientnetlite0", "float32",
                                 decoder_filters=TINY_DECODER)
    x = np.random.default_rng(0).uniform(0, 255, (2, *TINY_HW, 1)).astype(np.float32)
    tta = model_lib.with_flip_tta(model)
    assert model_lib.has_flip_tta(tta) and not model_lib.has_flip_tta(model)
    plain, mirrored = model.predict(x, verbose=0), model.predict(x[:, :, ::-1], verbose=0)
    expected = 0.5 * (_logit(plain) + _logit(mirrored[:, :, ::-1]))
    out = tta.predict(x, verbose=0)
    assert out.shape == plain.shape and out.dtype == np.float32
    np.testing.assert_allclose(_logit(out), expected, atol=2e-4)
    # Exactly mirror-equivariant, which the single pass is not.
    np.testing.assert_allclose(tta.predict(x[:, :, ::-1], verbose=0)[:, :, ::-1], out, atol=1e-6)
    assert np.abs(mirrored[:, :, ::-1] - plain).max() > 1e-3
    # Same weights in the same order (fine-tuning, half_weights and bias correction
    # rely on it); the file reloads as it was; the single pass comes back out.
    assert all(a is b for a, b in zip(model.weights, tta.weights))
    path = str(tmp_path / "tta.keras")
    tta.save(path)
    reloaded = model_lib.load_model(path)
    assert model_lib.has_flip_tta(reloaded)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), out)
    np.testing.assert_array_equal(model_lib.without_flip_tta(reloaded).predict(x, verbose=0), plain)
    assert model_lib.without_flip_tta(model) is model
    with pytest.raises(ValueError, match="already averages"):
        model_lib.with_flip_tta(reloaded)


def test_flip_tta_needs_the_sigmoid_head():
    import keras
    gray = keras.Input((*TINY_HW, 1))
    headless = keras.Model(gray, keras.layers.Conv2D(1, 3, padding="same")(gray))
    with pytest.raises(ValueError, match="head_probability"):
        model_lib.with_flip_tta(headless)
