"""Atomic file writing: a file is either its old self or wholly new, never half-written.

The project's one temporary-file-then-rename writer (reports, configs, CSVs, plots,
checkpoints and `.tflite` models), with the mode a plain `open(path, "w")` would give.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Iterator, Union


def new_file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0o666 less the process umask.

    `tempfile.mkstemp` creates 0o600 files, which other users cannot read; the
    atomic writers set this mode on their temporary file instead.
    """
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: Union[str, os.PathLike]) -> Iterator[str]:
    """A temporary sibling of `path` to write to; renamed over `path` on success.

    The temporary file exists (empty, mode `new_file_mode()`, same suffix as
    `path`) so writers that pick a format by extension, such as Keras and
    Matplotlib, work; on any exception it is removed and `path` is untouched.

    Args:
      path: the destination file; its folder is created.

    Yields:
      The temporary file's path.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_", suffix=os.path.basename(path))
    try:
        os.fchmod(fd, new_file_mode())
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class WriteError(OSError, ValueError):
    """A write failed; the message names the file (an OSError still, for callers that catch it)."""


def write_error(path: Union[str, os.PathLike], err: OSError) -> WriteError:
    """One line naming the file a write failed on, and saying so when the disk is full
    (a write's OSError names no file, and NumPy's says only "N requested and M written")."""
    import errno  # hc_tf.measure's import closure stays small
    if getattr(err, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return WriteError(f"{os.fspath(path)}: cannot write: the disk is full")
    return WriteError(f"{os.fspath(path)}: cannot write ({err.strerror or err})")


def write_bytes(path: Union[str, os.PathLike], data: bytes) -> None:
    """A plain write (no temporary file: for files inside a staging folder), whose error names
    the file (`write_error`)."""
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as err:
        raise write_error(path, err) from None


def atomic_write_bytes(path: Union[str, os.PathLike], data: bytes) -> None:
    """Writes a file via a synced temporary sibling and os.replace: never half-written.

    The project's one atomic writer (reports, configs, CSVs, .tflite models all go
    through it); the file gets the mode a plain write would (see `new_file_mode`).

    Args:
      path: the destination file.
      data: its whole content.
    """
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
    except OSError as err:
        raise write_error(path, err) from None


def atomic_write_text(path: Union[str, os.PathLike], text: str) -> None:
    """`atomic_write_bytes` of `text` as UTF-8, newlines written as they are."""
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_path(path: str) -> None:
    """Flushes a finished file, or a folder's entries, to disk (before a rename or an ack)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
