"""setup.cfg ships every package of the tree, and their data files (a wheel installs only what
it lists: tests/wheel_test.py proves a built wheel measures, this catches a new folder early)."""

import configparser
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(REPO, "setup.cfg"))
    return cfg


def test_every_hc_tf_package_is_listed():
    listed = {p.strip() for p in _setup_cfg()["options"]["packages"].split() if p.strip()}
    on_disk = {os.path.relpath(folder, REPO).replace(os.sep, ".")
               for folder, _, files in os.walk(os.path.join(REPO, "hc_tf"))
               if "__init__.py" in files and "__pycache__" not in folder}
    assert on_disk - listed == set(), "add these to [options] packages in setup.cfg"


def test_the_released_model_and_the_interval_tables_are_package_data():
    """The model and every interval table (HC, BPD, OFD, cephalic index) match a pattern the
    package data lists."""
    import fnmatch
    data = _setup_cfg()["options.package_data"]
    assert "*.tflite" in data["hc_tf.models"] and "*.json" in data["hc_tf.models"]
    patterns = [p.strip() for p in data["hc_tf.clinical"].split(",")]
    tables = [f for f in os.listdir(os.path.join(REPO, "hc_tf", "clinical")) if f.endswith(".json")]
    assert {"interval_table.json", "ci_interval_table.json"} <= set(tables)
    assert [t for t in tables if not any(fnmatch.fnmatch(t, p) for p in patterns)] == []
