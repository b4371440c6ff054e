"""`tfds build datasets/hc18` (the command every TFDS user knows) works from the [train] install."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tfds_build_of_the_dummy_data(tmp_path):
    tfds = shutil.which("tfds", path=os.path.dirname(sys.executable)) or shutil.which("tfds")
    if tfds is None:
        pytest.skip("the tfds command is not installed (pip install -e '.[train]')")
    temp = tmp_path / "temp"
    temp.mkdir()
    result = subprocess.run(
        [tfds, "build", os.path.join(ROOT, "datasets", "hc18"), "--config", "val20",
         "--manual_dir", os.path.join(ROOT, "datasets", "hc18", "dummy_data"),
         "--data_dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
        env=dict(os.environ, TMPDIR=str(temp)))
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(temp) == []  # TFDS's lookup of its GCS bucket left an empty folder
    built = tmp_path / "hc18" / "val20" / "1.0.0"
    for split in ("train", "validation", "test"):
        assert list(built.glob(f"hc18-{split}.tfrecord-*")), sorted(os.listdir(built))
