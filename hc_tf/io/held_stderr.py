"""File descriptor 2 held back around a C library's call (TF-free).

C and C++ libraries write to file descriptor 2 directly, past Python's `sys.stderr`:
TensorFlow's and LiteRT's log lines, libtiff's error lines. Within `filtered_stderr` those lines
go to a temporary file; at the end the ones a caller calls noise are dropped (or handed back,
to be said in hc-tf's words) and the rest written on. Used by the command line's start-up
(`hc_tf.console.quiet`), the edge runner (LiteRT's delegate line) and the readers that call C
libraries (`tiff_check`).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from typing import Callable, Iterator, List, Optional

# absl/glog-formatted lines ("I0000 00:00:1795794265.98 31865 port.cc:153] ...") and
# the banner and continuation line that come with them at start-up.
_NOISE = re.compile(r"^([IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.-]+:\d+\]"
                    r"|WARNING: All log messages before absl::InitializeLog\(\)"
                    r"|To enable the following instructions: "
                    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$)")
# fd 2 is one per process: two threads filtering at once would restore each other's.
_FD2_LOCK = threading.RLock()


def is_noise(line: str) -> bool:
    """Whether `line` is one of TensorFlow's C++ log lines (or their banner)."""
    return bool(_NOISE.match(line))


@contextlib.contextmanager
def filtered_stderr(noise: Callable[[str], bool] = is_noise,
                    held: Optional[List[str]] = None) -> Iterator[None]:
    """Within the block, lines written to file descriptor 2 (C++ included) are held
    back; at the end those that are not `noise` are written to stderr, and those that are
    go to `held` when given (a C library's own error lines, to be said in other words)."""
    with _FD2_LOCK:
        yield from _filtered_fd2(noise, held)


def _filtered_fd2(noise: Callable[[str], bool], held: Optional[List[str]]) -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as written:
        os.dup2(written.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            written.seek(0)
            lines = written.read().decode("utf-8", "replace").splitlines(True)
            kept = [line for line in lines if not noise(line)]
            if held is not None:
                held.extend(line.rstrip("\n") for line in lines if noise(line))
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
