"""Shared fixtures: the embedded sample prepared as TFDS once, and tiny models.

The test tiers (`pytest` / `pytest --large`) are in the repository's root conftest.py.
"""

import os
import sys
import tempfile

import pytest

SAMPLE_DIR = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "sample_data")
TINY_HW = (64, 96)
TINY_DECODER = (16, 8, 8, 8, 8)
# Sets the address-space cap in the child after exec. A preexec_fn would run between fork and
# exec, where the fork handlers of gRPC threads this process holds (Beam's tests start them)
# can abort the child: seen once as a SIGABRT of `hc-tf predict` before it ran.
_CAPPED = ("import os, resource, sys; n = int(sys.argv[1]); "
           "resource.setrlimit(resource.RLIMIT_AS, (n, n)); os.execv(sys.argv[2], sys.argv[2:])")


def memory_capped(argv, limit_bytes=8 << 30):
    """`argv` (an executable's path first) as a command run with its memory capped."""
    return [sys.executable, "-c", _CAPPED, str(limit_bytes), *map(str, argv)]


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory):
    """A TFDS data dir holding the embedded HC18 sample (val20 config)."""
    import tensorflow_datasets as tfds
    from hc_tf_datasets.hc18 import prepared

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    builder = prepared.make_builder(data_dir, 0.2)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=SAMPLE_DIR))
    return data_dir


@pytest.fixture()
def float32_policy():
    """Restores the global float32 policy after a test that changes it."""
    import keras
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture()
def own_temp_folder(tmp_path, monkeypatch):
    """The test's own folder as this process's temp folder: gradio_client leaves an empty
    folder there per file it fetches, and the demo's handlers, called without `hc-tf demo`'s
    private folder, write into Gradio's default one under it."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
