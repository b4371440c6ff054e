"""One line, no traceback: `hc-tf prepare` on a missing, empty or incomplete folder,
and commands that need the [train] extra when it is not installed (a subprocess in
which TensorFlow, Keras and TFDS can't be imported)."""

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hc_tf import cli

ROOT = os.path.join(os.path.dirname(__file__), "..")
SAMPLE_IMAGE = os.path.join(ROOT, "hc_tf", "sample_data", "test_set", "000_HC.png")

# As if `pip install hc-tf` without [train]: these imports fail.
WITHOUT_TRAIN_EXTRA = """
import sys
for name in ("tensorflow", "keras", "tensorflow_datasets", "segmentation_models"):
    sys.modules[name] = None  # `import name` now raises ModuleNotFoundError
from hc_tf import cli
cli.main(args=sys.argv[1:], prog_name="hc-tf")
"""


@pytest.mark.parametrize("make, expected", [
    (lambda d: None, "no such folder"),
    (lambda d: d.mkdir(), "empty folder"),
    (lambda d: (d.mkdir(), (d / "training_set").mkdir(), (d / "training_set" / "000_HC.png")
                .write_bytes(b"")), "missing training_set_pixel_size_and_HC.csv"),
])
def test_prepare_on_a_missing_empty_or_incomplete_folder_is_one_line(tmp_path, make, expected):
    manual = tmp_path / "hc18"
    make(manual)
    result = CliRunner().invoke(cli.main, ["prepare", "--manual-dir", str(manual),
                                           "--data-dir", str(tmp_path / "tfds")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and str(manual) in lines[0] and expected in lines[0], result.output
    assert not (tmp_path / "tfds").exists()


@pytest.mark.parametrize("args", [
    ["prepare", "--data-dir", "{tmp}/tfds"],
    ["predict", "--model", os.path.join(ROOT, "export", "hc_effunet.keras"), SAMPLE_IMAGE,
     "--pixel-size", "0.2", "--out", "{tmp}/out"],
])
def test_a_command_needing_the_train_extra_says_which_to_install(tmp_path, args):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = subprocess.run([sys.executable, "-c", WITHOUT_TRAIN_EXTRA] + argv,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert "[train] extra" in lines[0] and "pip install 'hc-tf[train]'" in lines[0]
    assert not (tmp_path / "out").exists()


def test_train_with_a_run_dir_that_is_a_file_is_refused_before_anything_loads(tmp_path):
    """It failed after the data and the model had loaded: "rdfile/config.json: cannot write"."""
    run_dir = tmp_path / "rdfile"
    run_dir.write_text("mine")
    result = CliRunner().invoke(cli.main, ["train", "--data-dir", str(tmp_path / "nowhere"),
                                           "--run-dir", str(run_dir)])
    assert result.exit_code == 2 and "is a file" in result.output, result.output
    assert run_dir.read_text() == "mine"
