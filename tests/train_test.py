"""Training run directory rules and the training loss (no long fits here)."""

import json

import numpy as np
import pytest

from hc_tf.train import fit as train_lib
from hc_tf.train import losses
from hc_tf.train import run_dir as run_dir_lib


def _config(tmp_path, **kw):
    return train_lib.TrainConfig(data_dir=str(tmp_path / "data"), run_dir=str(tmp_path / "run"), **kw)


def test_run_dir_of_another_run_is_refused_and_left_untouched(tmp_path):
    assert run_dir_lib.prepare_run_dir(_config(tmp_path)) is False
    before = (tmp_path / "run" / "config.json").read_text()
    with pytest.raises(run_dir_lib.RunDirError, match="learning_rate"):
        run_dir_lib.prepare_run_dir(_config(tmp_path, learning_rate=0.5))
    assert (tmp_path / "run" / "config.json").read_text() == before
    # Same run with more epochs resumes.
    assert run_dir_lib.prepare_run_dir(_config(tmp_path, epochs=99)) is True
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 99


def test_non_empty_dir_without_config_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "precious.txt").write_text("keep me")
    with pytest.raises(run_dir_lib.RunDirError, match="not empty"):
        run_dir_lib.prepare_run_dir(_config(tmp_path))
    assert (tmp_path / "run" / "precious.txt").read_text() == "keep me"


def test_bce_dice_loss_is_low_for_the_target_and_high_for_its_inverse():
    y = np.zeros((1, 8, 8, 1), np.float32)
    y[:, 2:6, 2:6] = 1.0
    good = float(np.mean(losses.bce_dice_loss(y, np.clip(y, 0.01, 0.99))))
    bad = float(np.mean(losses.bce_dice_loss(y, np.clip(1 - y, 0.01, 0.99))))
    assert good < 0.1 < 1.5 < bad


def test_bce_dice_loss_is_per_image_and_its_batch_mean_is_the_old_scalar():
    # Per image so that Keras scales it for tf.distribute replicas (a scalar loss skips that).
    rng = np.random.default_rng(0)
    y = (rng.random((3, 8, 8, 1)) > 0.5).astype(np.float32)
    p = rng.uniform(0.05, 0.95, (3, 8, 8, 1)).astype(np.float32)
    per_image = np.asarray(losses.bce_dice_loss(y, p))
    assert per_image.shape == (3,)
    eps = 1e-7
    bce = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))
    dice = np.mean((2 * (y * p).sum((1, 2, 3)) + 1) / (y.sum((1, 2, 3)) + p.sum((1, 2, 3)) + 1))
    np.testing.assert_allclose(per_image.mean(), bce + 1 - dice, rtol=1e-4)


def test_boundary_bce_weighs_the_outline_band_only():
    y = np.zeros((1, 16, 16, 1), np.float32)
    y[:, 4:12, 4:12] = 1.0
    p = np.clip(y, 0.01, 0.99)
    far = p.copy()
    far[:, 0, 0] = 0.99  # a wrong corner pixel, far from the outline
    near = p.copy()
    near[:, 4, 8] = 0.01  # a wrong pixel on the outline
    base = float(losses.boundary_bce(y, p)[0])
    assert float(losses.boundary_bce(y, far)[0]) == pytest.approx(base, abs=1e-6)
    assert float(losses.boundary_bce(y, near)[0]) > base + 0.03  # 4.6 nats over 128 band px
    # The combined loss: weights 0 is the plain loss; a weight adds that much of its term.
    assert losses.training_loss(0.0, 0.0) is losses.bce_dice_loss
    plain = np.asarray(losses.bce_dice_loss(y, near))
    np.testing.assert_allclose(np.asarray(losses.training_loss(2.0)(y, near)),
                               plain + 2.0 * np.asarray(losses.boundary_bce(y, near)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(losses.training_loss(2.0, 0.5)(y, near)),
                               plain + 2.0 * np.asarray(losses.boundary_bce(y, near))
                               + 0.5 * np.asarray(losses.hc_log_error(y, near)), rtol=1e-6)


def _filled_ellipse(h, w, cx, cy, a, b, angle):
    import cv2
    mask = np.zeros((h * 8, w * 8), np.uint8)  # drawn at 8x, then averaged: a soft edge
    cv2.ellipse(mask, ((cx * 8 + 3.5, cy * 8 + 3.5), (2 * a * 8, 2 * b * 8), np.degrees(angle)), 1, -1)
    return mask.reshape(h, 8, w, 8).mean(axis=(1, 3)).astype(np.float32)[None, :, :, None]


# HC18's smallest heads span ~30 model pixels across (HC ~50 mm at 0.1 mm/px, letterbox 1/2.5).
@pytest.mark.parametrize("a, b, angle", [(40.0, 30.0, 0.0), (90.0, 70.0, 0.6), (25.0, 18.0, 1.3),
                                         (60.0, 60.0, 0.0)])
def test_moment_ellipse_perimeter_is_the_ellipse_perimeter(a, b, angle):
    from hc_tf.measure.geometry import ramanujan_perimeter
    mask = _filled_ellipse(224, 320, 160.0, 112.0, a, b, angle)
    got = float(np.asarray(losses.moment_ellipse_perimeter(mask))[0])
    assert got == pytest.approx(ramanujan_perimeter(a, b), rel=0.003)


def test_hc_log_error_is_the_relative_hc_error_and_has_a_gradient():
    import tensorflow as tf
    from hc_tf.measure.geometry import ramanujan_perimeter
    ref = _filled_ellipse(224, 320, 160.0, 112.0, 80.0, 60.0, 0.3)
    same_size = _filled_ellipse(224, 320, 150.0, 120.0, 80.0, 60.0, 0.9)  # moved and turned
    bigger = _filled_ellipse(224, 320, 160.0, 112.0, 80.0 * 1.02, 60.0 * 1.02, 0.3)
    assert float(np.asarray(losses.hc_log_error(ref, same_size))[0]) < 0.002
    assert float(np.asarray(losses.hc_log_error(ref, bigger))[0]) == pytest.approx(np.log(1.02), abs=0.003)
    # The outline one pixel further out all round: the relative HC error, in a single term.
    grown = _filled_ellipse(224, 320, 160.0, 112.0, 81.0, 61.0, 0.3)
    expected = np.log(ramanujan_perimeter(81.0, 61.0) / ramanujan_perimeter(80.0, 60.0))
    assert float(np.asarray(losses.hc_log_error(ref, grown))[0]) == pytest.approx(expected, abs=0.001)
    soft = tf.Variable(np.clip(bigger, 0.05, 0.95))
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(losses.hc_log_error(ref, soft))
    grad = tape.gradient(value, soft).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).max() > 0


def test_a_mixed_precision_model_is_saved_as_float32(tmp_path, float32_policy):
    """A GPU run trains in mixed precision; its best.keras must run in float32 on CPU
    and in the TFLite export, with the trained (float32 master) weights unchanged."""
    import keras
    from hc_tf.modeling import model as model_lib
    from tests.conftest import TINY_DECODER, TINY_HW
    mixed = model_lib.build_unet(TINY_HW, "efficientnetb0", "mixed_bfloat16",
                                 decoder_filters=TINY_DECODER)
    path = str(tmp_path / "best.keras")
    run_dir_lib.save_model_atomic(mixed, path)
    keras.mixed_precision.set_global_policy("float32")  # as in a new process
    saved = model_lib.load_model(path)
    policies = {layer.dtype_policy.name for layer in saved.get_layer(index=3).layers}
    assert policies == {"float32"}, policies
    for a, b in zip(mixed.get_weights(), saved.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).uniform(0, 255, (2, *TINY_HW, 1)).astype(np.float32)
    p_saved = saved.predict(x, verbose=0)
    assert p_saved.dtype == np.float32
    np.testing.assert_allclose(p_saved, mixed.predict(x, verbose=0), atol=0.05)


@pytest.mark.parametrize("value", ["128,64,32", "128,64,x,16,16", "128,64,32,16,0"])
def test_train_cli_names_a_bad_decoder_width_list(tmp_path, value):
    from click.testing import CliRunner
    from hc_tf import cli
    result = CliRunner().invoke(cli.main, ["train", "--data-dir", str(tmp_path), "--run-dir",
                                           str(tmp_path / "run"), "--decoder-filters", value])
    assert result.exit_code != 0 and "five positive widths" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("start", [[], ["--encoder-weights", "w.npz"], ["--init-from", "m.keras"]])
def test_train_cli_defaults_to_the_release_recipe_and_says_when_the_encoder_starts_random(
        tmp_path, monkeypatch, start):
    """`hc-tf train` alone trains the recipe's 50-epoch cosine at batch 16; with no start
    weights it says that the encoder starts from random weights (the recipe's is ImageNet)."""
    from click.testing import CliRunner

    from hc_tf import cli
    from hc_tf.train import fit
    configs = []
    monkeypatch.setattr(fit, "train", lambda config: configs.append(config) or {"epoch": 50})
    result = CliRunner().invoke(
        cli.main, ["train", "--data-dir", str(tmp_path), "--run-dir", str(tmp_path / "run"), *start])
    assert result.exit_code == 0, result.output
    [config] = configs
    assert (config.epochs, config.batch_size, config.learning_rate, config.lr_schedule) == \
        (50, 16, 1e-3, "cosine")
    said = "note: the encoder starts from random weights; the released recipe starts from ImageNet"
    assert (said in result.stderr) == (start == [])


def test_a_fixed_schedule_keeps_every_validated_epoch_and_a_chosen_one_only_improvements():
    from hc_tf.train import validation
    # Last epoch kept (a fold, or validation trained on): every epoch replaces the model, so a
    # run stopped early still leaves its latest one; the last epoch's is the one at the end.
    assert validation.keeps(9.0, 1.0, last_epoch=False, trained_on_validation=True)
    assert validation.keeps(9.0, 1.0, last_epoch=True, trained_on_validation=True)
    # Best by validation: only a lower ADF.
    assert not validation.keeps(9.0, 1.0, last_epoch=True, trained_on_validation=False)
    assert validation.keeps(0.5, 1.0, last_epoch=False, trained_on_validation=False)
