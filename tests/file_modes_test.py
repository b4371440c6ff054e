"""Files written atomically get the mode a plain write gives them.

`tempfile.mkstemp` creates 0600 files; renamed into place, they left
`submission.csv`, `summary.json`, `best.keras`, the exported `.tflite` ...
unreadable to other users, while plainly written overlays were 0644.
"""

import os
import stat

import numpy as np
import pytest

import tiny_models as T
from hc_tf.io import tables
from hc_tf.surfaces import evaluate_plots
from hc_tf.surfaces import evaluate as evaluate_lib
from hc_tf.io import atomic as io_utils
from hc_tf import measure as M


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    """Runs the test under this umask; returns the mode a plain write gives."""
    old = os.umask(request.param)
    yield 0o666 & ~request.param
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_reports_get_the_plain_write_mode(umask, tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert _mode(plain) == umask
    m = M.measure(np.zeros((32, 32)), None, 0.1)
    M.write_submission_csv(tmp_path / "submission.csv", [M.submission_row("a.png", m)])
    rows = [{"filename": "a.png", "reference_hc_mm": 100.0, "predicted_hc_mm": None,
             "df_mm": -100.0, "adf_mm": 100.0, "dice": 0.0, "hd_mm": None, "found": False,
             "reason": "empty"}]
    tables.write_rows_csv(str(tmp_path / "per_image.csv"), rows, evaluate_lib.PER_IMAGE_FIELDS)
    tables.write_json(str(tmp_path / "summary.json"), {"n": 1})
    evaluate_plots.plot_distributions(rows, str(tmp_path / "evaluation.png"))
    io_utils.atomic_write_bytes(tmp_path / "model.tflite", b"\0" * 16)
    for name in ("submission.csv", "per_image.csv", "summary.json", "evaluation.png",
                 "model.tflite"):
        assert _mode(tmp_path / name) == umask, name
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["plain.txt", "submission.csv", "per_image.csv", "summary.json", "evaluation.png",
         "model.tflite"])  # no temporary file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with io_utils.atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["summary.json"]


def test_best_keras_and_exported_tflite_get_the_plain_write_mode(umask, tmp_path,
                                                                 float32_policy):
    from hc_tf.export import export_lib as lite
    from hc_tf.train import run_dir as run_dir_lib

    model = T.blob_model()
    run_dir_lib.save_model_atomic(model, str(tmp_path / "best.keras"))
    assert _mode(tmp_path / "best.keras") == umask
    report = lite.export(model, str(tmp_path / "blob.tflite"), "float32")
    assert _mode(report["tflite_path"]) == umask
    assert _mode(report["metadata_path"]) == umask
