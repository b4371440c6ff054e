"""Shared fixtures: the embedded sample prepared as TFDS once, and tiny models.

The test tiers (`pytest` / `pytest --large`) are in the repository's root conftest.py.
"""

import os

import pytest

SAMPLE_DIR = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "sample_data")
TINY_HW = (64, 96)
TINY_DECODER = (16, 8, 8, 8, 8)


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory):
    """A TFDS data dir holding the embedded HC18 sample (val20 config)."""
    import tensorflow_datasets as tfds
    from hc_tf_datasets.hc18 import hc18_dataset_builder as hc18

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    builder = hc18.make_builder(data_dir, 0.2)
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=SAMPLE_DIR))
    return data_dir


@pytest.fixture()
def float32_policy():
    """Restores the global float32 policy after a test that changes it."""
    import keras
    yield
    keras.mixed_precision.set_global_policy("float32")
