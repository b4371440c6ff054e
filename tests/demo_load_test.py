"""benchmarks/demo_load.py calls the demo's `/measure` API as the demo defines it."""

import functools
import inspect

import pytest

from tests.scripts import load_script


class _FakeClient:
    """Answers as the served `/measure` does: `_handle`'s inputs in, its seven outputs back."""

    def __init__(self):
        from hc_tf.surfaces.demo import app
        self.handler = inspect.signature(functools.partial(app._handle, None, 600))
        self.calls = []

    def predict(self, *args, api_name):
        assert api_name == "/measure"
        self.handler.bind_partial(*args)  # no more inputs than the handler takes
        self.calls.append(args)
        return (None, "HC 170.0 mm", "GA ...", "", "", "row", "0.1 s")


def test_timed_request_reads_the_seven_outputs():
    pytest.importorskip("gradio_client")
    bench = load_script("benchmarks/demo_load.py")
    client = _FakeClient()
    path, px = bench.demo.load_examples()[0]
    took = bench._timed_request(client, path, px)
    assert took >= 0.0
    (args,) = client.calls
    assert args[1] == px and args[2] == ""  # no known GA
