"""What the benchmarks say beside their figures: the released model scoring images it trained on
(large_heads, as `hc-tf evaluate` says it), and the refusal's way out named for each command."""

import sys

import pytest

from hc_tf import models
from hc_tf.surfaces import evaluate as evaluate_lib
from hc_tf.surfaces import interval_predictions

from tests.scripts import load_script


def test_large_heads_says_the_released_model_is_in_sample(sample_data_dir, capsys):
    """Its default model trained on the validation split it scores: the figures are in-sample."""
    module = load_script("benchmarks/large_heads.py")
    assert module.main(["--data-dir", sample_data_dir]) == 0
    captured = capsys.readouterr()
    assert "band      n  ADF" in captured.out
    assert evaluate_lib.IN_SAMPLE_NOTE in captured.err


def test_each_command_names_its_own_way_out_of_the_refusal():
    """review_flag_calibration has no --cv-work or --hc18-folder: it names --predictions and the
    command that writes them; calibrate_intervals collect keeps its own options."""
    released = models.released_edge_model()
    with pytest.raises(ValueError) as collect:
        interval_predictions.refuse_a_model_trained_on_validation(released)
    assert "--cv-work" in str(collect.value) and "--hc18-folder" in str(collect.value)

    script = load_script("benchmarks/review_flag_calibration.py")
    with pytest.raises(ValueError) as flag:
        interval_predictions.refuse_a_model_trained_on_validation(released, script.PREDICTIONS_ROUTE)
    message = str(flag.value)
    assert "--predictions OOF.csv" in message and "--hc18-folder" not in message
    assert "python -m hc_tf.surfaces.calibrate_intervals collect --cv-work" in message


@pytest.mark.parametrize("script", ["dicom_benchmark", "node_load"])
def test_a_benchmark_that_needs_the_tests_says_how_to_run_it(tmp_path, script):
    """Run as a file from elsewhere, `tests` is not importable: one line naming `python -m`, not
    a ModuleNotFoundError's traceback."""
    import os
    import subprocess

    from tests.scripts import ROOT
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", f"{script}.py"), "--help"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if res.returncode == 0:  # hc_tf's install put the repository root on the path: nothing to say
        pytest.skip("tests importable from this install")
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert f"python -m benchmarks.{script}" in res.stderr
