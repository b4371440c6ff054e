"""benchmarks/demo_load.py calls the demo's `/measure` API as the demo defines it."""

import inspect
import os

import pytest

from tests.scripts import ROOT, load_script


class _DemoClient:
    """Answers as the served `/measure` does: the demo's own handler (`app._handle`) on the
    released model, so the benchmark reads the outputs the demo really returns, in its order."""

    def __init__(self):
        from hc_tf import inference
        from hc_tf import models
        from hc_tf.surfaces.demo import app
        runner = inference.load_runner(models.released_edge_model())
        self.handle = lambda *args: app._handle(runner, 600, *args)
        self.signature = inspect.signature(app._handle)
        self.calls, self.answers = [], []

    def predict(self, *args, api_name):
        assert api_name == "/measure"
        self.signature.bind(None, 600, *args)  # no more inputs than the handler takes
        self.calls.append(args)
        self.answers.append(self.handle(*args))
        return self.answers[-1]


def test_timed_request_reads_the_hc_the_demo_returns(tmp_path, monkeypatch):
    pytest.importorskip("gradio_client")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # the overlay the handler writes
    bench = load_script("benchmarks/demo_load.py")
    client = _DemoClient()
    path, px = bench.demo.load_examples()[0]
    took = bench._timed_request(client, path, px)
    assert took >= 0.0
    (args,) = client.calls
    assert args[1] == px and args[2] == ""  # no known GA
    (answer,) = client.answers
    assert answer[1].startswith("HC ") and " mm" in answer[1], answer  # what it checked


@pytest.mark.large
def test_the_benchmark_runs_and_leaves_nothing_in_the_temp_folder(tmp_path):
    # gradio_client leaves an empty folder in the temp folder per file it fetches, and its
    # downloads (the overlays) in <temp>/gradio: the benchmark keeps both in a folder it removes.
    import json
    import subprocess
    import sys
    pytest.importorskip("gradio_client")
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {**os.environ, "TMPDIR": str(temp)}
    env.pop("GRADIO_TEMP_DIR", None)
    run = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "demo_load.py"),
                          "--requests", "2", "--alone", "1", "--workers", "1"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["requests"] == 2 and result["loaded_p50_s"] > 0
    assert os.listdir(temp) == []
