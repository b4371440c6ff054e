"""The accuracy levers of `hc-tf train`: --large-head-repeat (size-weighted
sampling, hc_tf/train/sampling.py), --boundary-weight and --hc-weight, wired through the Keras trainer and
recorded in the run's config.json. The JAX trainer's twin is tested in train_jax_levers_test.py."""

import collections
import csv
import json

import numpy as np
import pytest

from conftest import TINY_DECODER, TINY_HW
from hc_tf import defaults
from hc_tf.train import run_dir as run_dir_lib
from hc_tf.train import sampling


def test_epoch_index_repeats_only_heads_over_the_threshold():
    hc = [100.0, 259.9, 260.0, 260.1, 300.0]
    np.testing.assert_array_equal(sampling.epoch_index(hc, 1), np.arange(5))
    np.testing.assert_array_equal(sampling.epoch_index(hc, 3), [0, 1, 2, 3, 3, 3, 4, 4, 4])
    assert defaults.LARGE_HEAD_MM == 260.0
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="large-head-repeat"):
            sampling.epoch_index(hc, bad)


def _train_examples(data_dir):
    from hc_tf.train import data as data_lib
    return data_lib.load_split(data_dir, "train")


def _letterboxed_key(image):
    return np.asarray(image, np.uint8).tobytes()


@pytest.mark.parametrize("repeat", [2, 3])
def test_keras_pipeline_shows_each_large_head_repeat_times_an_epoch(sample_data_dir, repeat):
    from hc_tf import preprocess
    from hc_tf.train import data as data_lib

    examples = _train_examples(sample_data_dir)
    large, small = set(), set()
    for ex in examples.as_numpy_iterator():
        key = _letterboxed_key(preprocess.letterbox_image(ex["image"], TINY_HW)[0])
        (large if ex["hc_mm"] > defaults.LARGE_HEAD_MM else small).add(key)
    assert large and small, "the sample's train split should hold heads on both sides of 260 mm"
    repeated = data_lib.repeat_large_heads(examples, repeat)
    pipeline = data_lib.training_pipeline(repeated, TINY_HW, batch_size=4, seed=0,
                                          augmentation=False)
    seen = collections.Counter(_letterboxed_key(image) for image, _ in pipeline.unbatch())
    assert {seen[k] for k in large} == {repeat}
    assert {seen[k] for k in small} == {1}
    n_epoch = len(small) + repeat * len(large)
    assert sum(seen.values()) == n_epoch == int(repeated.cardinality().numpy())


def test_keras_repeat_one_is_todays_pipeline_unchanged(sample_data_dir):
    from hc_tf.train import data as data_lib
    examples = _train_examples(sample_data_dir)
    assert data_lib.repeat_large_heads(examples, 1) is examples
    with pytest.raises(ValueError, match="large-head-repeat 0"):
        data_lib.repeat_large_heads(examples, 0)


@pytest.mark.large  # an epoch of Keras training (~30 s)
def test_keras_fit_counts_the_repeats_in_its_steps_and_records_both_levers(
        sample_data_dir, tmp_path, capsys, float32_policy):
    from hc_tf.train import fit as train_lib

    n_images = int(_train_examples(sample_data_dir).cardinality().numpy())
    n_large = sum(int(ex["hc_mm"] > defaults.LARGE_HEAD_MM)
                  for ex in _train_examples(sample_data_dir).as_numpy_iterator())
    run = tmp_path / "run"
    config = train_lib.TrainConfig(
        data_dir=sample_data_dir, run_dir=str(run), epochs=1, batch_size=2, input_hw=TINY_HW,
        decoder_filters=TINY_DECODER, lr_schedule="constant", augmentation=False,
        large_head_repeat=3, boundary_weight=1.0, hc_weight=0.5)
    train_lib.train(config)
    n_epoch = n_images + 2 * n_large
    out = capsys.readouterr().out
    assert f"{n_epoch} images an epoch ({n_images} + {n_large} heads over 260 mm x 2 more)" in out
    assert f"data: {n_epoch} train images" in out and f"{-(-n_epoch // 2)} steps/epoch" in out
    saved = json.loads((run / "config.json").read_text())
    assert saved["large_head_repeat"] == 3 and saved["boundary_weight"] == 1.0
    assert saved["hc_weight"] == 0.5


@pytest.mark.large  # two epochs of Keras training (~27 s)
def test_train_on_all_trains_on_both_splits_and_keeps_the_last_epoch(
        sample_data_dir, tmp_path, capsys, float32_policy):
    from hc_tf.train import data as data_lib
    from hc_tf.train import fit as train_lib

    n_train = int(data_lib.load_split(sample_data_dir, "train").cardinality().numpy())
    n_val = int(data_lib.load_split(sample_data_dir, "validation").cardinality().numpy())
    run = tmp_path / "run"
    config = train_lib.TrainConfig(
        data_dir=sample_data_dir, run_dir=str(run), epochs=3, batch_size=4, input_hw=TINY_HW,
        decoder_filters=TINY_DECODER, lr_schedule="constant", augmentation=False, train_on_all=True,
        val_every=2)
    best = train_lib.train(config)
    out = capsys.readouterr().out
    assert f"all data: train + validation ({n_train + n_val} images)" in out
    assert f"data: {n_train + n_val} train images, {n_val} validation images" in out
    # --val-every 2: measured at epochs 2 and 3 (the last) only; log.csv keeps the column.
    assert out.count("validation: ADF") == 2
    with open(run / "log.csv", newline="") as f:
        adfs = [float(r["val_adf_mm"]) for r in csv.DictReader(f)]
    assert np.isnan(adfs[0]) and np.isfinite(adfs[1:]).all()
    # The last epoch is kept whatever its (trained-on) validation ADF, and says so.
    assert best["epoch"] == 3 and best["final"] is True and best["train_on_all"] is True
    assert "not held out" in best["note"]
    assert json.loads((run / "config.json").read_text())["train_on_all"] is True
    with pytest.raises(ValueError, match="not with --folds"):
        train_lib.train(train_lib.TrainConfig(data_dir=sample_data_dir, run_dir=str(tmp_path / "r2"),
                                              folds=5, fold=1, train_on_all=True))


def test_the_keras_trainer_compiles_the_levers_loss_terms(float32_policy):
    from hc_tf.train import fit as train_lib
    config = train_lib.TrainConfig(data_dir="d", run_dir="r", input_hw=TINY_HW, decoder_filters=TINY_DECODER,
                                   boundary_weight=1.0, hc_weight=0.5)
    model = train_lib._build_compiled_model(config, steps=1, synchronized_bn=False)
    assert model.loss.__name__ == "bce_dice_boundary1_hc0.5_loss"


def test_a_run_from_before_the_levers_resumes_with_them_off(tmp_path):
    from hc_tf.train import fit as train_lib
    config = train_lib.TrainConfig(data_dir="d", run_dir=str(tmp_path / "run"))
    assert not run_dir_lib.prepare_run_dir(config)
    path = tmp_path / "run" / "config.json"
    old = json.loads(path.read_text())
    del old["large_head_repeat"], old["boundary_weight"], old["hc_weight"], old["train_on_all"]
    del old["val_every"]
    path.write_text(json.dumps(old))
    assert run_dir_lib.prepare_run_dir(config)  # resumes
    with pytest.raises(run_dir_lib.RunDirError, match="large_head_repeat"):
        run_dir_lib.prepare_run_dir(train_lib.TrainConfig(
            data_dir="d", run_dir=str(tmp_path / "run"), large_head_repeat=2))


@pytest.mark.parametrize("option, value", [("--large-head-repeat", "0"), ("--boundary-weight", "-1"),
                                           ("--hc-weight", "-1"), ("--val-every", "0")])
def test_train_cli_refuses_a_lever_out_of_range_in_one_line(tmp_path, option, value):
    from click.testing import CliRunner
    from hc_tf import cli
    result = CliRunner().invoke(cli.main, ["train", "--run-dir", str(tmp_path / "r"), option, value])
    assert result.exit_code == 2 and option in result.output and "Traceback" not in result.output
