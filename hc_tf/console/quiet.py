"""Quiet TensorFlow's C++ start-up lines (TF-free: imports no TensorFlow).

On a CPU machine `import tensorflow` prints alarming but harmless lines: the absl
"All log messages before absl::InitializeLog()" banner, oneDNN's notice, cudart_stub's
"Could not find cuda drivers", cpu_feature_guard's instruction list, and later
cuInit's "CUDA error". `TF_CPP_MIN_LOG_LEVEL` silences what is logged after start-up,
but TensorFlow 2.21's shared libraries log the first lines while they load, before
the variable is read. So `quiet_tensorflow` also sets the variables and, around the
one import of `tensorflow`, sends file descriptor 2 to a temporary file and writes
back every line that is not such a log line (a real import error still shows).

`hc-tf` calls it unless `--verbose`; the user's own environment settings win. Likewise
`quiet_library_notices` drops Beam's import-time BigQuery notice.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import types
from typing import Any, Dict, Iterator, Optional, Sequence

from hc_tf.io import held_stderr

# Set only where the user has not: 3 leaves only FATAL (cuInit's "CUDA error" is an
# ERROR line); gRPC and glog-based libraries read their own.
# OpenCV's own warnings and errors (a PNG cut short: "readFromStreamOrBuffer PNG input buffer
# is incomplete"; a damaged GIF's "can't read data" and its assertion) come with a file hc-tf
# refuses in its own words.
QUIET_ENV: Dict[str, str] = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR",
                             "GLOG_minloglevel": "3", "OPENCV_LOG_LEVEL": "FATAL"}


class _DropMessages(logging.Filter):
    def __init__(self, fragments: Sequence[str]) -> None:
        super().__init__()
        self._fragments = tuple(fragments)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(f in message for f in self._fragments)


@contextlib.contextmanager
def dropped_log_messages(logger: str, *fragments: str) -> Iterator[None]:
    """Within the block, `logger`'s records containing any of `fragments` are dropped:
    for chatter our own calls cause and cannot avoid (the rest of the logger still shows)."""
    log_filter = _DropMessages(fragments)
    target = logging.getLogger(logger)
    target.addFilter(log_filter)
    try:
        yield
    finally:
        target.removeFilter(log_filter)


class _QuietLoader(importlib.abc.Loader):
    """Runs the wrapped loader's module with `held_stderr.filtered_stderr`."""

    def __init__(self, inner: importlib.abc.Loader, finder: "_QuietFinder") -> None:
        self._inner = inner
        self._finder = finder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        return self._inner.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # The import itself, once: the finder's job is done.
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self._finder)
        # The module keeps the real loader (resource readers, reloads).
        module.__loader__ = self._inner
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        with held_stderr.filtered_stderr():
            self._inner.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` through the other finders, with a `_QuietLoader`.

    It stays in place until the module is executed: libraries probe with
    `importlib.util.find_spec("tensorflow")` long before they import it (TFDS does).
    """

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target: Optional[types.ModuleType] = None
                  ) -> Optional[importlib.machinery.ModuleSpec]:
        if fullname != "tensorflow" or self._finding:
            return None
        self._finding = True  # the lookup below runs the finders again
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None and "tensorflow" not in sys.modules:
            spec.loader = _QuietLoader(spec.loader, self)
        return spec


def quiet_tensorflow() -> None:
    """Quiets TensorFlow's start-up lines for the rest of this process.

    Sets `QUIET_ENV` where unset and, when TensorFlow is not imported yet, filters the
    start-up lines of its import (see the module docstring). Idempotent.
    """
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())


class _BeamBigQueryNotice(logging.Filter):
    """Drops the one line apache_beam's BigQuery client logs on the root logger when
    `predict --beam` imports it ("apitools not found, and bigquery client libraries are not
    available ..."): a note for BigQuery users, noise on every run here (the [beam] extra
    installs no GCP clients). Anything else logged goes through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == "root" and record.getMessage().startswith("apitools not found"))


def quiet_library_notices() -> None:
    """Drops known import-time notices of libraries hc-tf imports (`_BeamBigQueryNotice`) for
    the rest of this process. Idempotent."""
    root = logging.getLogger()
    if not any(isinstance(f, _BeamBigQueryNotice) for f in root.filters):
        root.addFilter(_BeamBigQueryNotice())
