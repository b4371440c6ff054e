"""run_dir.keep_model under a kill mid-save (sweep.sh SIGKILLs a run 30 s after its stop):
best.json describes best.keras or is absent, never the previous epoch beside a new model."""

import json
import os

import pytest

from hc_tf.train import run_dir as run_dir_lib


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs."""


def _fake_save(model, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write(model)


def test_a_kill_while_the_model_is_saved_leaves_it_unlabelled_not_mislabelled(tmp_path, monkeypatch):
    run = str(tmp_path)
    monkeypatch.setattr(run_dir_lib, "save_model_atomic", _fake_save)
    run_dir_lib.keep_model("model of epoch 5", run, {"epoch": 5, "val_adf_mm": 2.0})
    with open(tmp_path / "best.json", encoding="utf-8") as f:
        assert json.load(f)["epoch"] == 5
    assert (tmp_path / "best.keras").read_text() == "model of epoch 5"
    assert run_dir_lib.best_adf(run) == 2.0

    def killed_after_the_rename(model, path):
        _fake_save(model, path)
        raise Killed

    monkeypatch.setattr(run_dir_lib, "save_model_atomic", killed_after_the_rename)
    with pytest.raises(Killed):
        run_dir_lib.keep_model("model of epoch 10", run, {"epoch": 10, "val_adf_mm": 1.9})
    assert (tmp_path / "best.keras").read_text() == "model of epoch 10"
    assert not os.path.exists(tmp_path / "best.json")  # not epoch 5's label on epoch 10's model
    assert run_dir_lib.best_adf(run) == float("inf")

    def killed_before_the_rename(model, path):
        raise Killed

    monkeypatch.setattr(run_dir_lib, "save_model_atomic", _fake_save)
    run_dir_lib.keep_model("model of epoch 15", run, {"epoch": 15, "val_adf_mm": 1.8})
    monkeypatch.setattr(run_dir_lib, "save_model_atomic", killed_before_the_rename)
    with pytest.raises(Killed):
        run_dir_lib.keep_model("model of epoch 20", run, {"epoch": 20, "val_adf_mm": 1.7})
    assert (tmp_path / "best.keras").read_text() == "model of epoch 15"
    assert not os.path.exists(tmp_path / "best.json")
    assert sorted(os.listdir(tmp_path)) == ["best.keras"]  # no temporary label left behind
