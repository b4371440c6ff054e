"""The spool on disk: received images under `in/`, SRs under `out/<id>/`, the headers (no
pixels) a series' OB-GYN report still needs under `hdr/<id>.dcm`, the journal beside.

Images are named by a hash of their SOP Instance UID, SR folders by the journal's counter (never
by patient data). An image is written, fsynced and renamed into place before the journal records
it, and the journal commits before the C-STORE is acknowledged: an image the scanner saw
acknowledged is on disk and in the journal; one it did not is sent again and overwrites its file.
The size is tracked so a full spool is refused, not filled. Folders 0700, files 0600 (patient
data); a node locks its spool (`lock`) before touching it.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import shutil
import sqlite3
import threading
import time
from typing import Any, List, Optional, Sequence, Tuple

from hc_tf.io import atomic
from hc_tf.node import journal as journal_lib

RECOUNT_S = 30.0  # the size is counted from the files again this often
DEFAULT_MIN_FREE_MB = 64.0  # the filesystem's own floor, whatever the limit says


def short_hash(text: str) -> str:
    """What the node names a UID by in file names, the journal and FHIR ids: 40 hex digits of
    its SHA-256 (a UID can be traced to a patient; its hash cannot be read back)."""
    return hashlib.sha256(text.encode()).hexdigest()[:40]


LOCK_NAME = "node.lock"


class SpoolInUse(Exception):
    """Another node runs on this spool."""


def lock(root: str) -> int:
    """Takes the spool for this process (an exclusive flock on <root>/node.lock, released when
    the returned descriptor is closed or the process ends); returns the descriptor. Taken
    before anything else: a second node had recovered the spool (deleting what it did not
    know of the first's work) and purged its journal before failing to bind the port.

    Raises:
      SpoolInUse: naming the pid of the node that holds it.
      OSError: the folder or its lock file cannot be made.
    """
    import fcntl
    os.makedirs(root, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(root, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise SpoolInUse(f"in use by another hc-tf node (pid {holder}): one node per "
                         "spool") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


class SpoolFull(Exception):
    """No room for an instance: the node answers 'out of resources'."""


def _tree_bytes(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


class Spool:
    """The spool folder of one node (one node per spool: `lock`). It holds patient data: its
    folders are 0700 and its files 0600, whatever the umask, a spool made before included."""

    def __init__(self, root: str, limit_bytes: int, min_free_mb: float = DEFAULT_MIN_FREE_MB):
        self.root = os.path.abspath(root)
        self.limit_bytes = int(limit_bytes)
        self.min_free_bytes = int(min_free_mb * 1024 * 1024)
        self.incoming = os.path.join(self.root, "in")
        self.outgoing = os.path.join(self.root, "out")
        self.headers = os.path.join(self.root, "hdr")
        for d in (self.root, self.incoming, self.outgoing, self.headers):
            os.makedirs(d, mode=0o700, exist_ok=True)
            os.chmod(d, 0o700)  # makedirs leaves a folder made before as it was
        journal = os.path.join(self.root, journal_lib.NAME)
        os.close(os.open(journal, os.O_WRONLY | os.O_CREAT, 0o600))  # SQLite's WAL gets its mode
        for path in (journal, journal + "-wal", journal + "-shm"):
            if os.path.exists(path):
                os.chmod(path, 0o600)
        self.journal = journal_lib.Journal(journal)
        self._lock = threading.Lock()
        self._tmp = itertools.count()
        self._used = self._count()
        self._counted = time.monotonic()

    def _count(self) -> int:
        return sum(_tree_bytes(d) for d in (self.incoming, self.outgoing, self.headers))

    @property
    def used_bytes(self) -> int:
        return self._used

    def full(self, extra: int = 0) -> bool:
        """Over the limit (with `extra` more bytes), or the filesystem nearly full."""
        return self.why_full(extra) is not None

    def why_full(self, extra: int = 0) -> Optional[str]:
        """Which limit `extra` more bytes would pass, in words (the config key's), or None:
        the spool's size (`spool_limit_mb`) or the filesystem's free space (`min_free_mb`)."""
        if time.monotonic() - self._counted > RECOUNT_S:  # files purged from outside
            with self._lock:
                self._used = self._count()
                self._counted = time.monotonic()
        try:
            free = shutil.disk_usage(self.root).free
        except OSError as err:
            return f"the spool's filesystem cannot be read: {err.strerror or err}"
        if self._used + extra > self.limit_bytes:
            return (f"spool {self._used} bytes + {extra}, over its limit of {self.limit_bytes} "
                    "(spool_limit_mb)")
        if free - extra < self.min_free_bytes:
            return (f"free disk {free} bytes - {extra}, below the {self.min_free_bytes} kept "
                    "free (min_free_mb)")
        return None

    @staticmethod
    def image_name(sop_uid: str) -> str:
        return short_hash(sop_uid) + ".dcm"

    @staticmethod
    def header_uids(data: bytes) -> dict:
        """The instance's SOP Instance, SOP Class, Study and Series UIDs as its data set holds
        them ("" for one absent); {} when the header cannot be read (the reader refuses such a
        file later)."""
        import pydicom
        names = ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True,
                                 specific_tags=list(names))
            return {n: str(ds.get(n) or "") for n in names}
        except Exception:  # noqa: BLE001  whatever a malformed file raises
            return {}

    @staticmethod
    def series_key(uids: dict) -> Optional[str]:
        """A hash of the instance's study and series UIDs (`header_uids`': `exams`' DICOM exam,
        never a UID in the journal); None when they cannot be read."""
        study = uids.get("StudyInstanceUID")
        return short_hash(f"{study}/{uids['SeriesInstanceUID']}") if study else None

    def image_path(self, name: str) -> str:
        return os.path.join(self.incoming, name)

    def out_dir(self, instance_id: int) -> str:
        return os.path.join(self.outgoing, str(instance_id))

    def store(self, data: bytes, sop_uid: str, sop_class: str, calling_aet: str,
              uids: Optional[dict] = None) -> Optional[int]:
        """Writes one received instance durably and records it; None for a known SOP UID.
        `uids`: its `header_uids` when the caller has read them (read here otherwise).

        Raises:
          SpoolFull: over the limit, or the disk refused the write (nothing is recorded).
        """
        if self.journal.known(sop_uid):
            return None
        why = self.why_full(len(data))
        if why:
            raise SpoolFull(why)
        tmp = os.path.join(self.incoming, f".tmp{os.getpid()}-{next(self._tmp)}")
        try:
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as err:
            _remove(tmp)
            raise SpoolFull(f"writing to the spool failed: {err.strerror}") from None
        name = self.image_name(sop_uid)
        with self._lock:
            self._used += len(data) - _size(self.image_path(name))
            os.replace(tmp, self.image_path(name))
        try:
            atomic.fsync_path(self.incoming)
            return self.journal.add_received(sop_uid, name, sop_class, calling_aet, len(data),
                                             self.series_key(self.header_uids(data) if uids is None
                                                             else uids))
        except (OSError, sqlite3.Error) as err:  # a full disk: the journal cannot grow
            self.drop_image(name)
            raise SpoolFull(f"recording in the journal failed: {err}") from None

    def drop_image(self, name: str) -> None:
        with self._lock:
            self._used -= _remove(self.image_path(name))

    def sync_outputs(self, instance_id: int, outputs: List[str]) -> None:
        """Flushes an instance's SRs and the folders naming them to disk: the journal then says
        measured and the image goes, so a power loss must not find them unwritten."""
        folder = self.out_dir(instance_id)
        for rel in outputs:
            os.chmod(os.path.join(folder, rel), 0o600)  # written with the umask's mode
            atomic.fsync_path(os.path.join(folder, rel))
        dirs = {os.path.dirname(os.path.join(folder, r)) for r in outputs} | {folder}
        for d in sorted(dirs, reverse=True) + [self.outgoing]:  # deepest first
            if os.path.isdir(d):
                os.chmod(d, 0o700)
                atomic.fsync_path(d)

    def header_path(self, instance_id: int) -> str:
        return os.path.join(self.headers, f"{instance_id}.dcm")

    def keep_header(self, instance_id: int, dataset: Any) -> None:
        """Writes an image's header without its pixels, durably, for its series' report (the
        image itself goes once measured)."""
        ds = dataset.copy()
        for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
            if keyword in ds:
                del ds[keyword]
        path = self.header_path(instance_id)
        with atomic.atomic_path(path) as tmp:
            os.chmod(tmp, 0o600)
            ds.save_as(tmp)
        atomic.fsync_path(path)
        atomic.fsync_path(self.headers)
        self.account(_size(path))

    def read_header(self, instance_id: int) -> Optional[Any]:
        """A kept header, or None when it is gone (its series was reported before)."""
        import pydicom
        path = self.header_path(instance_id)
        return pydicom.dcmread(path) if os.path.isfile(path) else None

    def drop_header(self, instance_id: int) -> None:
        with self._lock:
            self._used -= _remove(self.header_path(instance_id))

    def drop_outputs(self, instance_id: int) -> None:
        self._drop_folder(self.out_dir(instance_id))

    def _drop_folder(self, folder: str) -> None:
        if not os.path.isdir(folder):  # a stray file
            self.account(-_remove(folder))
            return
        size = _tree_bytes(folder)
        shutil.rmtree(folder, ignore_errors=True)
        self.account(-size)

    def account(self, nbytes: int) -> None:
        with self._lock:
            self._used += nbytes

    def forget_dead(self) -> int:
        """Deletes the dead letters' images and the SRs kept for dead deliveries (the journal
        keeps their reasons); returns how many."""
        names = self.journal.forget_dead()
        for name in names:
            self.drop_image(name)
        kept = [i for i in self.journal.undelivered_done() if os.path.isdir(self.out_dir(i))]
        for instance_id in kept:
            self.drop_outputs(instance_id)
        return len(names) + len(kept)

    def resend_refused(self, dests: Sequence[str]) -> Tuple[int, int]:
        """Queues the refused deliveries to `dests` again where their SRs are still kept;
        returns (queued, not queued: their SRs deleted by `forget_dead`)."""
        refused = [(r["instance_id"], r["dest"]) for r in self.journal.refused()
                   if r["dest"] in dests]
        kept = [(i, d) for i, d in refused if os.path.isdir(self.out_dir(i))]
        return self.journal.resend(kept), len(refused) - len(kept)

    def redirect_refused(self, old: str, new: str) -> Tuple[int, int]:
        """Queues the refused deliveries to `old` (a destination renamed or removed) for `new`
        where their SRs are still kept; returns (queued, not queued: their SRs deleted by
        `forget_dead`). An instance `new` has had its SRs from already keeps them no longer."""
        refused = sorted({r["instance_id"] for r in self.journal.refused() if r["dest"] == old})
        kept = [i for i in refused if os.path.isdir(self.out_dir(i))]
        queued = self.journal.redirect(kept, old, new)
        needed = self.journal.outputs_to_keep()
        for i in kept:
            if i not in needed:  # delivered to `new` before: nothing left to send
                self.drop_outputs(i)
        return queued, len(refused) - len(kept)

    def recover(self, keep_headers: bool = True) -> None:
        """After a crash: removes the images the journal never recorded (never acknowledged),
        and the SR folders nothing will send (they hold patient data): those of an instance
        delivered everywhere (a kill before its folder went), dead, not yet measured (a part
        written by an interrupted measurement: it is measured again), or unknown; and the
        headers no series report needs (none without `keep_headers`: no [node] obgyn_report,
        whose waiting series then wait no more), and a half-built report (built again)."""
        self.journal.drop_building()
        if not keep_headers:
            self.journal.forget_waiting()
        known = self.journal.files()
        for name in os.listdir(self.incoming):
            if name.startswith(".tmp") or name not in known:
                with self._lock:
                    self._used -= _remove(os.path.join(self.incoming, name))
        keep = {str(i) for i in self.journal.outputs_to_keep()}
        for name in os.listdir(self.outgoing):
            if name not in keep:
                self._drop_folder(os.path.join(self.outgoing, name))
        keep = {f"{i}.dcm" for i in self.journal.headers_to_keep()} if keep_headers else set()
        for name in os.listdir(self.headers):
            if name not in keep:
                with self._lock:
                    self._used -= _remove(os.path.join(self.headers, name))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _remove(path: str) -> int:
    try:
        size = os.path.getsize(path)
        os.remove(path)
        return size
    except OSError:
        return 0
