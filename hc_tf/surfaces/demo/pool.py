"""Model runners for concurrent requests: a TFLite interpreter must not be invoked from two
threads at once, so each request borrows one of its own."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from typing import Callable, Iterator, Optional, Tuple

import numpy as np

from hc_tf import inference


class RunnerPool:
    """Up to `size` model runners, one per concurrent request.

    A TFLite interpreter must not be invoked from two threads at once, so each
    request borrows a runner of its own for its invoke (letterbox and ellipse fit
    run outside, in parallel). Runners are made on first need, so an idle demo
    holds one. Has the runner interface (`input_hw`, `predict`) and the loaded
    model's calibration and identity (`interval_table`, `interval_note`, `sha256`:
    without them a custom model's measurements took the released model's
    intervals), so the page's and the node's code take a pool where they take a runner.
    """

    def __init__(self, factory: Callable[[], inference.Runner], size: int):
        """Makes the first runner at once (a bad model fails here, not at a request).

        Args:
          factory: makes one runner.
          size: the most runners, hence concurrent invokes; >= 1.

        Raises:
          ValueError: for size < 1, or what `factory` raises.
        """
        if int(size) < 1:
            raise ValueError(f"a runner pool needs at least 1 runner, got {size}")
        self.size = int(size)
        self._factory = factory
        self._idle: "queue.Queue[inference.Runner]" = queue.Queue()
        self._lock = threading.Lock()
        first = factory()
        self._made = 1
        self.input_hw: Tuple[int, int] = tuple(first.input_hw)
        # Every runner loads the same model: the first one's calibration speaks for all.
        self.interval_table = getattr(first, "interval_table", None)
        self.interval_note: str = getattr(first, "interval_note", "")
        self.sha256: Optional[str] = getattr(first, "sha256", None)
        self._idle.put(first)

    @property
    def made(self) -> int:
        """How many runners exist so far."""
        return self._made

    def _acquire(self) -> inference.Runner:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            grow = self._made < self.size
            if grow:
                self._made += 1
        if not grow:
            return self._idle.get()  # all busy and the pool is full: wait for one
        try:
            return self._factory()
        except BaseException:
            with self._lock:
                self._made -= 1
            raise

    @contextlib.contextmanager
    def runner(self) -> Iterator[inference.Runner]:
        """Borrows a runner for the `with` block."""
        r = self._acquire()
        try:
            yield r
        finally:
            self._idle.put(r)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """`Runner.predict` on a borrowed runner."""
        with self.runner() as r:
            return r.predict(inputs)


def runner_pool(model_path: str, workers: int) -> RunnerPool:
    """The demo's runners: `workers` TFLite interpreters, or one Keras runner.

    Each interpreter gets cores / workers threads, so a full pool uses each core
    about once. A `.keras` model gets one runner (TensorFlow spreads one call over
    the cores itself).

    Args:
      model_path: a `.tflite` or `.keras` model.
      workers: the most concurrent measurements (TFLite).

    Returns:
      A `RunnerPool` whose runners are warmed up (one invoke each).

    Raises:
      ValueError: for a missing or unloadable model, or workers < 1.
    """
    if int(workers) < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    tflite = model_path.endswith(".tflite")
    threads = max(1, (os.cpu_count() or 1) // int(workers))

    def make() -> inference.Runner:
        runner = inference.load_runner(model_path, num_threads=threads)
        # One warm-up invoke: the first one allocates, and would show a misleading time.
        runner.predict(np.zeros((1,) + tuple(runner.input_hw) + (1,), np.uint8))
        return runner

    return RunnerPool(make, int(workers) if tflite else 1)
