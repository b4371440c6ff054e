"""Short real fits on the embedded sample: the loss falls, the run dir is complete,
an interrupted run resumes where it stopped, and fine-tuning starts from given weights."""

import csv

import numpy as np
import pytest

from conftest import TINY_DECODER, TINY_HW
from hc_tf.train import fit as train_lib


def _config(data_dir, run_dir, **kw):
    settings = dict(epochs=2, batch_size=4, input_hw=TINY_HW, decoder_filters=TINY_DECODER,
                    steps_per_epoch=2, lr_schedule="constant", augmentation=False)
    settings.update(kw)
    return train_lib.TrainConfig(data_dir=data_dir, run_dir=str(run_dir), **settings)


def _epochs_logged(run_dir):
    with open(run_dir / "log.csv", encoding="utf-8") as f:
        return [(int(r["epoch"]), float(r["loss"])) for r in csv.DictReader(f)]


@pytest.mark.large  # two epochs of Keras training (~30 s on 2 cores)
def test_two_epoch_fit_lowers_the_loss_and_fills_the_run_dir(sample_data_dir, tmp_path, float32_policy):
    run = tmp_path / "run"
    best = train_lib.train(_config(sample_data_dir, run))
    (e0, loss0), (e1, loss1) = _epochs_logged(run)
    assert (e0, e1) == (0, 1) and loss1 < loss0
    assert best["epoch"] in (1, 2) and best["val_adf_mm"] >= 0
    # One ADF (the challenge's, misses scored as HC 0): the same figure as evaluate's.
    assert best["val_adf_mm"] == best["summary"]["adf_mm_mean"]
    assert "adf_found_mm_mean" in best["summary"]
    for name in ("config.json", "best.keras", "best.json", "training_curve.png"):
        assert (run / name).is_file(), name
    assert list((run / "tb").iterdir())


@pytest.mark.large  # three epochs of Keras training in two runs (~50 s)
def test_interrupted_run_resumes_at_the_next_epoch(sample_data_dir, tmp_path, monkeypatch,
                                                   float32_policy):
    import keras

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt("simulated Ctrl-C")

    run = tmp_path / "run"
    original = train_lib._callbacks
    monkeypatch.setattr(train_lib, "_callbacks", lambda *a: original(*a) + [Interrupt()])
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(_config(sample_data_dir, run))
    assert [e for e, _ in _epochs_logged(run)] == [0]
    monkeypatch.setattr(train_lib, "_callbacks", original)
    train_lib.train(_config(sample_data_dir, run))
    assert [e for e, _ in _epochs_logged(run)] == [0, 1]  # epoch 0 not redone
    train_lib.train(_config(sample_data_dir, run))  # a finished run: rerun changes nothing
    assert [e for e, _ in _epochs_logged(run)] == [0, 1]


def test_init_from_copies_weights_and_refuses_another_architecture(tmp_path, float32_policy):
    from hc_tf.modeling import model as model_lib
    source = model_lib.build_unet(TINY_HW, decoder_filters=TINY_DECODER)
    path = str(tmp_path / "source.keras")
    source.save(path)
    target = model_lib.build_unet((96, 128), decoder_filters=TINY_DECODER)  # other size: fine
    train_lib.load_initial_weights(target, path)
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = model_lib.build_unet(TINY_HW, decoder_filters=(32, 16, 8, 8, 8))
    with pytest.raises(ValueError, match="source.keras: its weights don't fit"):
        train_lib.load_initial_weights(other, path)
