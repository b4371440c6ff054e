"""hc-tf used as a Python library: the runners, arrays and files, errors and pixel sizes, each
as `hc-tf predict` has them (the reviewer's findings). No TensorFlow: the released model."""

import os
import threading

import numpy as np
import pytest

from hc_tf import edge
from hc_tf import inference
from hc_tf import models

SAMPLES = os.path.join(os.path.dirname(__file__), "..", "hc_tf", "sample_data", "test_set")


@pytest.fixture(scope="module")
def runner():
    return inference.load_runner(models.released_edge_model(), num_threads=1)


def test_one_lite_runner_is_safe_from_several_threads(runner):
    """Unlocked, concurrent predicts on one LiteRunner raised LiteRT's RuntimeError ("There is
    at least 1 reference to internal data in the interpreter ...")."""
    assert isinstance(runner, edge.LiteRunner)
    x = np.random.default_rng(0).integers(0, 256, (2,) + runner.input_hw + (1,), np.uint8)
    want = runner.predict(x)
    errors, barrier = [], threading.Barrier(4)

    def work():
        try:
            barrier.wait()
            for _ in range(5):
                np.testing.assert_array_equal(runner.predict(x), want)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(repr(err))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
