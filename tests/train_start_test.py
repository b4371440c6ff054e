"""Issue 24 items 9 and 17 (train): a failed training start writes nothing, so the corrected
command is never refused as "another run"; a config.json that is not a JSON object is refused
in one line."""


import pytest

from hc_tf import defaults
from hc_tf.train import fit as train_lib
from hc_tf.train import run_dir as run_dir_lib


def _config(tmp_path, **kw):
    return train_lib.TrainConfig(data_dir=str(tmp_path / "data"), run_dir=str(tmp_path / "run"),
                                 epochs=1, input_hw=(64, 96),
                                 decoder_filters=defaults.SMALL_DECODER_FILTERS, **kw)


@pytest.fixture()
def no_data(monkeypatch):
    """Four fake training examples and no validation split: enough to reach the model build."""
    tf = pytest.importorskip("tensorflow")
    from hc_tf.train import data as data_lib
    monkeypatch.setattr(data_lib, "load_split", lambda *a, **k: tf.data.Dataset.range(4))
    monkeypatch.setattr(data_lib, "load_samples", lambda *a, **k: [])


def test_missing_start_files_are_refused_before_anything(tmp_path):
    for option, key in (("--encoder-weights", "encoder_weights"), ("--init-from", "init_from")):
        config = _config(tmp_path, **{key: str(tmp_path / "missing.file")})
        with pytest.raises(ValueError, match=f"{option} .*missing.file: no such file"):
            train_lib.train(config)
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key", ["encoder_weights", "init_from"])
def test_a_bad_start_file_leaves_no_config_to_block_the_rerun(tmp_path, no_data, key):
    bad = tmp_path / ("bad.npz" if key == "encoder_weights" else "bad.keras")
    bad.write_bytes(b"not weights at all")
    with pytest.raises((ValueError, OSError)):
        train_lib.train(_config(tmp_path, **{key: str(bad)}))
    assert not (tmp_path / "run" / "config.json").exists()
    # The corrected command starts a new run there, not "holds another run".
    assert run_dir_lib.prepare_run_dir(_config(tmp_path)) is False


@pytest.mark.parametrize("text", ["[1, 2]", "\"a string\"", "{not json"])
def test_a_config_that_is_not_a_json_object_is_refused_in_one_line(tmp_path, text):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text(text)
    with pytest.raises(run_dir_lib.RunDirError, match="config.json: not an hc-tf config"):
        run_dir_lib.prepare_run_dir(_config(tmp_path))
    assert (tmp_path / "run" / "config.json").read_text() == text
