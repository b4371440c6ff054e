"""An output folder that a run fills without losing or mixing anything (predict, Beam, evaluate).

`staged(out_dir, overwrite, outputs)` is the one way a run writes its `--out`:

- Before any work: OUT is created when absent (a bad name, a dangling symlink or a read-only
  parent fails now, not after measuring), locked (a second hc-tf run on it is refused at
  once), cleared of the staging a killed run left there, and checked: empty, or with
  `overwrite` holding nothing but files of the kinds this run writes.
- The run writes into a staging folder inside OUT (`.hc-tf-tmp-<id>/`): inside, not beside,
  so a mount point (a Docker or Kubernetes volume), a symlink to a folder, `.`, or a writable
  OUT in a read-only parent all work; OUT itself is never renamed. A run that fails, or is
  stopped by Ctrl-C or SIGTERM, removes it (it holds patient data: SRs, reports); once the
  block is done, Ctrl-C and SIGTERM wait for the final step and that removal to end.
- At the end, if OUT is as it was checked, each output is moved into place with a rename; the
  files of this run's kinds that it did not rewrite go. Anything else is never touched. If
  OUT changed under the run, nothing is replaced: the staging folder is renamed
  `hc-tf-kept-<id>/` (so no later run takes it for a killed run's staging) and the error names
  it. A later run on that OUT refuses, naming it, until the user has moved it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import shutil
import signal
import stat
import sys
import uuid
from typing import Any, Callable, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple

try:
    import fcntl
except ImportError:  # pragma: no cover  # not on Windows: no lock, the change check remains
    fcntl = None  # type: ignore[assignment]

STAGING_PREFIX = ".hc-tf-tmp-"
KEPT_PREFIX = "hc-tf-kept-"  # a run's results kept because OUT changed under it: never removed


@dataclasses.dataclass(frozen=True)
class Outputs:
    """What a run writes in OUT: these files, and in each folder the files a predicate accepts
    (e.g. overlays/<image>.png of this run's images)."""

    files: FrozenSet[str]
    folders: Mapping[str, Callable[[str], bool]] = dataclasses.field(default_factory=dict)
    folder_text: Mapping[str, str] = dataclasses.field(default_factory=dict)  # for messages

    def describe(self) -> str:
        """e.g. "report.csv, submission.csv, overlays/<image>.png"."""
        parts = sorted(self.files)
        parts += [f"{name}/{self.folder_text.get(name, '*')}" for name in sorted(self.folders)]
        return ", ".join(parts)


def _is_file(path: str) -> bool:
    return stat.S_ISREG(os.lstat(path).st_mode)


def _is_dir(path: str) -> bool:
    return stat.S_ISDIR(os.lstat(path).st_mode)


def _entries(out_dir: str) -> List[str]:
    return sorted(n for n in os.listdir(out_dir) if not n.startswith(STAGING_PREFIX))


def foreign_entries(out_dir: str, outputs: Outputs) -> List[str]:
    """What OUT holds that this run would not write (paths relative to OUT): other names, an
    output name of the wrong kind (a folder named report.json), anything nested in an output
    folder but the run's own files."""
    foreign = []
    for name in _entries(out_dir):
        path = os.path.join(out_dir, name)
        if name in outputs.files and _is_file(path):
            continue
        if name in outputs.folders and _is_dir(path):
            accept = outputs.folders[name]
            foreign += [f"{name}/{n}" for n in sorted(os.listdir(path))
                        if not (accept(n) and _is_file(os.path.join(path, n)))]
            continue
        foreign.append(name + ("/" if os.path.isdir(path) else ""))
    return foreign


def _snapshot(out_dir: str, outputs: Outputs) -> List[Tuple[str, int, int, int]]:
    """(path, mode, size, mtime_ns) of OUT's entries and its output folders' files: what the
    final step compares to tell whether OUT changed under the run."""
    out = []
    for name in _entries(out_dir):
        path = os.path.join(out_dir, name)
        st = os.lstat(path)
        out.append((name, st.st_mode, st.st_size, st.st_mtime_ns))
        if name in outputs.folders and stat.S_ISDIR(st.st_mode):
            for sub in sorted(os.listdir(path)):
                s = os.lstat(os.path.join(path, sub))
                out.append((f"{name}/{sub}", s.st_mode, s.st_size, s.st_mtime_ns))
    return out


def _create(out_dir: str) -> bool:
    """Creates OUT (and its parents) when absent; True when this run created it.

    Raises:
      ValueError: one line, for an empty name, a dangling symlink, a file, or a folder that
        cannot be created (too long a name, a read-only parent, a full disk).
    """
    if not out_dir:
        raise ValueError("--out is empty: name the output folder")
    if os.path.isdir(out_dir):
        return False
    if os.path.lexists(out_dir) and os.path.islink(out_dir) and not os.path.exists(out_dir):
        raise ValueError(f"{out_dir}: a symlink to {os.readlink(out_dir)}, which does not exist; "
                         f"create that folder or choose another --out")
    if os.path.lexists(out_dir):
        raise ValueError(f"{out_dir}: exists and is not a folder; choose another --out")
    try:
        os.makedirs(out_dir)
    except OSError as err:
        raise ValueError(f"{out_dir}: cannot create the output folder "
                         f"({err.strerror or err}); choose another --out") from None
    return True


def _lock(out_dir: str) -> Optional[int]:
    """An exclusive lock on OUT for this run, or None where the filesystem has none.

    Raises:
      ValueError: when another hc-tf run holds it.
    """
    if fcntl is None:
        return None
    fd = os.open(out_dir, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise ValueError(f"{out_dir}: another hc-tf run is writing there now; wait for it "
                             f"to finish or choose another --out") from None
        return None  # no flock here (some network filesystems): the change check remains
    return fd


def remove_stale_staging(out_dir: str) -> List[str]:
    """Removes the staging folders killed runs left in OUT (call with OUT locked: no live run
    has one then); says so on stderr. Returns what was removed."""
    removed = []
    for name in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, name)
        if name.startswith(STAGING_PREFIX) and _is_dir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            print(f"removed {path}: left by an interrupted hc-tf run", file=sys.stderr)
    return removed


def _refuse_kept(out_dir: str) -> None:
    """Refuses an OUT holding an earlier run's kept results, naming them: the user was told
    they are there, so they are neither deleted nor mixed with this run's outputs."""
    kept = [n for n in _entries(out_dir) if n.startswith(KEPT_PREFIX)]
    if kept:
        raise ValueError(f"{out_dir}: holds {os.path.join(out_dir, kept[0])}, the results an earlier "
                         f"run kept because {out_dir} changed under it"
                         f"{f' (and {len(kept) - 1} more)' if len(kept) > 1 else ''}; "
                         f"move them out of {out_dir} or choose another --out")


def check_contents(out_dir: str, overwrite: bool, outputs: Outputs) -> None:
    """Refuses a non-empty OUT without `overwrite`, and with it anything this run would not write.

    Raises:
      ValueError: one line naming OUT (and what it holds that the run does not write, or the
        results an earlier run kept there).
    """
    if not _entries(out_dir):
        return
    _refuse_kept(out_dir)
    if not overwrite:
        raise ValueError(f"{out_dir}: not empty; add --overwrite to replace an earlier run's "
                         f"outputs, or choose another --out")
    foreign = foreign_entries(out_dir, outputs)
    if foreign:
        raise ValueError(f"{out_dir}: holds files that are not this run's outputs "
                         f"({', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}); "
                         f"--overwrite replaces only this run's own ({outputs.describe()}, "
                         f"for this run's inputs): move them or choose another --out")


def check_inputs_outside(out_dir: str, inputs: Sequence[str]) -> None:
    """Refuses an input inside OUT: --overwrite would replace it with this run's output of the
    same name (an overlay measured again from OUT/overlays/a.png took its place).

    Raises:
      ValueError: naming the first such input.
    """
    root = os.path.join(os.path.realpath(out_dir), "")
    inside = [p for p in inputs if os.path.realpath(p).startswith(root)]
    if inside:
        raise ValueError(f"{inside[0]}: an input inside --out {out_dir}"
                         f"{f' (and {len(inside) - 1} more)' if len(inside) > 1 else ''}, "
                         "where this run's outputs replace files; copy it out of "
                         f"{out_dir} or choose another --out")


def _make_staging(out_dir: str) -> str:
    path = os.path.join(out_dir, STAGING_PREFIX + uuid.uuid4().hex[:12])
    try:
        os.mkdir(path)
    except OSError as err:
        raise ValueError(f"{out_dir}: cannot write there ({err.strerror or err}); "
                         f"choose another --out") from None
    return path


def _keep(staging: str, out_dir: str) -> str:
    """Renames the staging folder out of the staging prefix, so that the next run's
    `remove_stale_staging` leaves it; returns where the results now are."""
    kept = os.path.join(out_dir, KEPT_PREFIX + os.path.basename(staging)[len(STAGING_PREFIX):])
    try:
        os.rename(staging, kept)
    except OSError:  # pragma: no cover  # a rename inside the folder just written to
        return staging
    return kept


def _commit(staging: str, out_dir: str, outputs: Outputs) -> None:
    """Moves the staged outputs into OUT, removing the earlier ones of the same kinds."""
    for name, accept in outputs.folders.items():
        new_dir, old_dir = os.path.join(staging, name), os.path.join(out_dir, name)
        if os.path.isdir(old_dir):  # a real folder: the check refused a symlink
            for n in os.listdir(old_dir):
                if accept(n) and _is_file(os.path.join(old_dir, n)):
                    os.remove(os.path.join(old_dir, n))
        if os.path.isdir(new_dir):
            os.makedirs(old_dir, exist_ok=True)
            for n in sorted(os.listdir(new_dir)):
                os.replace(os.path.join(new_dir, n), os.path.join(old_dir, n))
        elif os.path.isdir(old_dir) and not os.listdir(old_dir):
            os.rmdir(old_dir)
    for name in sorted(outputs.files):
        new, old = os.path.join(staging, name), os.path.join(out_dir, name)
        if os.path.exists(new):
            os.replace(new, old)
        elif os.path.lexists(old) and _is_file(old):
            os.remove(old)


@contextlib.contextmanager
def _handling(signums: Sequence[int], handler: Any) -> Iterator[None]:
    """`handler` for `signums` in the block, the previous handlers put back after; outside the
    main thread (where Python cannot set one) nothing changes."""
    try:
        previous = {s: signal.signal(s, handler) for s in signums}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:  # None: a handler set outside Python, which cannot be put back
        for s, old in previous.items():
            signal.signal(s, signal.SIG_DFL if old is None else old)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the block (main thread only), as Ctrl-C does, so the
    cleanup a block's Ctrl-C runs (of the staging folder here, the demo's uploads) runs on a
    service stop too: neither is left holding patient data."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    with _handling((signal.SIGTERM,), interrupt):
        yield


@contextlib.contextmanager
def _stops_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done (main thread only), then act as they
    would have: stopped midway, moving the outputs into OUT would leave this run's first ones
    beside the last run's others, and removing the staging would leave part of it."""
    got: List[int] = []
    try:
        with _handling((signal.SIGINT, signal.SIGTERM), lambda signum, frame: got.append(signum)):
            yield
    finally:
        for s in dict.fromkeys(got):
            signal.raise_signal(s)


@contextlib.contextmanager
def staged(out_dir: str, overwrite: bool, outputs: Outputs,
           inputs: Sequence[str] = ()) -> Iterator[str]:
    """Prepares OUT, yields a staging folder inside it, and moves its outputs into OUT when
    the block succeeds (see the module docstring).

    Args:
      out_dir: the --out folder (created when absent).
      overwrite: whether an earlier run's outputs there may be replaced.
      outputs: what this run writes.
      inputs: the files this run reads (none may lie inside OUT).

    Yields:
      The staging folder; removed if the block fails or is stopped by Ctrl-C or SIGTERM (and
      OUT too, when this run created it and it is still empty).

    Raises:
      ValueError: before the block, for an OUT that cannot be used; after it, when OUT changed
        while the run worked (nothing replaced; the message says where the results are).
    """
    out_dir = os.fspath(out_dir)
    created = _create(out_dir)
    fd, staging, done = None, None, False
    held = contextlib.ExitStack()  # from the block's end: the final step and the cleanup
    try:
        fd = _lock(out_dir)
        remove_stale_staging(out_dir)
        check_inputs_outside(out_dir, inputs)
        check_contents(out_dir, overwrite, outputs)
        before = _snapshot(out_dir, outputs)
        staging = _make_staging(out_dir)
        try:
            with sigterm_as_interrupt():
                yield staging
        except ValueError as err:  # name the file where it was to go, not the staging copy
            if staging in str(err):
                raise ValueError(str(err).replace(staging, out_dir)) from None
            raise
        finally:
            held.enter_context(_stops_held())
        if _snapshot(out_dir, outputs) != before:
            kept, staging = _keep(staging, out_dir), None  # keep this run's results: say where
            raise ValueError(f"{out_dir}: changed while this run was working (another program "
                             f"wrote there); nothing was replaced; this run's outputs are in "
                             f"{kept}")
        _commit(staging, out_dir, outputs)
        done = True
    finally:
        with held:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            if created and not done:
                with contextlib.suppress(OSError):
                    os.rmdir(out_dir)  # only when still empty: the run failed before writing
            if fd is not None:
                os.close(fd)
