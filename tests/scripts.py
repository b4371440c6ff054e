"""Loads a repository script that is not a package module (benchmarks/, scripts/) for a test."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(relative_path: str):
    """The module at `relative_path` (from the repository root), executed fresh."""
    name = os.path.splitext(os.path.basename(relative_path))[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def node_json(tmp_path, script: str):
    """What a Node ES module printing one JSON line outputs, parsed; the test skips without
    Node (the web app's port is then not compared)."""
    import json
    import shutil
    import subprocess
    import pytest
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the web app's port is not compared")
    path = os.path.join(str(tmp_path), "script.mjs")
    with open(path, "w", encoding="utf-8") as f:
        f.write(script)
    res = subprocess.run([node, path], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(res.stdout)
