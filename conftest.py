"""The test tiers.

`pytest` runs the fast tier; `pytest --large` (what .ci/run runs) adds the tests marked
`large`: browsers, several processes, the TFDS command line, training in a subprocess or for
epochs, the wheel in a fresh venv. A module is large when every test in it is (LARGE_MODULES); a single
test is marked `@pytest.mark.large` where it stands. `-n 2` (pytest-xdist, README's command)
runs either tier in two worker processes, a test file to a worker (setup.cfg's addopts).
"""

import os

import pytest

LARGE_MODULES = {
    "beam_predict_test.py",     # Beam DirectRunner, 2 worker processes
    "cv_pipeline_test.py",      # pack, JAX fold training, int8 export, a killed run resumed
    "demo_test.py",             # a served Gradio app in headless Chromium
    "demo_guard_test.py",       # the demo served by a subprocess
    "distribute_test.py",       # two-replica training in subprocesses
    "jax_data_parallel_test.py",
    "node_pacs_test.py",        # Orthanc, the node and storescu as processes
    "tfds_cli_test.py",         # `tfds build` as a user runs it
    "train_backup_test.py",     # interrupted training runs in subprocesses
    "train_jax_test.py",
    "web_app_test.py",          # the built app in headless Chromium
    "web_app_ui_test.py",
    "web_app_dicom_test.py",
    "web_app_decode_cache_test.py",
    "wheel_test.py",            # python -m build + a fresh venv + pip install
}


def pytest_addoption(parser):
    parser.addoption("--large", action="store_true",
                     help="also run the tests marked large (browsers, subprocesses, the wheel)")


def pytest_collection_modifyitems(config, items):
    run_large = config.getoption("--large")
    skip = pytest.mark.skip(reason="large test: run with `pytest --large`")
    for item in items:
        if os.path.basename(str(item.fspath)) in LARGE_MODULES:
            item.add_marker(pytest.mark.large)
        if not run_large and item.get_closest_marker("large"):
            item.add_marker(skip)

