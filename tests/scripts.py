"""Loads a repository script that is not a package module (benchmarks/, scripts/) for a test."""

import importlib.util
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Node 20 can deadlock as it exits: a background JIT compile waits for a garbage collection that
# the exiting main thread never runs (nodejs/node#54918; here 1 run in about 100 of the JS stage
# benchmark, and one CI run lost 300 s to it). V8 without background tasks cannot.
NODE_FLAGS = ("--single-threaded",)


def node_command(*args: str, skip_reason: str):
    """[node, NODE_FLAGS..., args...]; the test skips, saying `skip_reason`, without Node."""
    import pytest
    node = shutil.which("node")
    if node is None:
        pytest.skip(skip_reason)
    return [node, *NODE_FLAGS, *args]


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
    import subprocess
    path = os.path.join(str(tmp_path), "script.mjs")
    with open(path, "w", encoding="utf-8") as f:
        f.write(script)
    command = node_command(path, skip_reason="node is not installed: the web app's port is not compared")
    res = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(res.stdout)
