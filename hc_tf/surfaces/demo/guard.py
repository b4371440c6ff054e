"""What keeps the demo's server to its user: the Host header check, anti-framing headers, and a
private temporary folder for uploads and overlays, removed on exit.

- On loopback, only loopback host names are answered: a page on another site that rebinds its
  DNS name to 127.0.0.1 sends its own name as Host and gets a 400, so it cannot drive the demo.
- Every answer says it may not be framed by another site (X-Frame-Options, CSP frame-ancestors).
- Uploads and overlays go to a folder only this user can read (0700), removed when the server
  stops (Ctrl-C or SIGTERM), never to the shared /tmp/gradio. Within it they are deleted
  `retention_s` after they were written (Gradio's `delete_cache`, see `app.build_app`), and so
  is what an upload cut off midway left (`remove_dropped_uploads`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from typing import Callable, FrozenSet, Iterator, Optional

from hc_tf import defaults
from hc_tf.io import out_dir

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
FRAME_HEADERS = ((b"x-frame-options", b"SAMEORIGIN"),
                 (b"content-security-policy", b"frame-ancestors 'self'"))
OVERLAYS_FOLDER = "hc-tf-overlays"
TEMP_PREFIX = "hc-tf-demo-"
OWNER_FILE = ".hc-tf-demo-owner"  # "HOST PID" of the demo using the folder
# Gradio streams an upload into <folder>/tmpXXXXXXXX (tempfile's name) and renames it when
# complete; a client that drops midway leaves it there, tracked by nothing.
DROPPED_UPLOAD_PREFIX = "tmp"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # another host name: it may resolve to any interface


def host_name(header: str) -> str:
    """The name in a Host header, without its port ("[::1]:7860" -> "::1")."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def allowed_hosts(bind_host: str) -> Optional[FrozenSet[str]]:
    """The Host names the server answers: loopback names when bound to loopback (plus the
    bound name itself); None (any) when `--host` exposes it beyond this machine."""
    if not is_loopback(bind_host):
        return None
    return LOOPBACK_NAMES | {host_name(bind_host)}


class HostAndFrameGuard:
    """ASGI middleware: a 400 for a Host outside `allowed` (None: any), and the anti-framing
    headers on every HTTP answer."""

    def __init__(self, app: Callable, allowed: Optional[FrozenSet[str]] = None):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        name = host_name(host)
        if self.allowed is not None and not (name in self.allowed or is_loopback(name)):
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1008})
            body = b"Invalid Host header: this demo answers on loopback names only\n"
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"text/plain"),
                                    (b"content-length", str(len(body)).encode()),
                                    *FRAME_HEADERS]})
            return await send({"type": "http.response.body", "body": body})

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in FRAME_HEADERS if k not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def sweep_every_s(retention_s: int) -> int:
    """How often files older than `retention_s` are looked for: each goes within a minute
    after it is due (sooner for a short retention)."""
    return max(1, min(60, int(retention_s)))


def remove_dropped_uploads(folder: str, age_s: float) -> None:
    """Deletes the partial files of uploads cut off midway (`DROPPED_UPLOAD_PREFIX`, directly
    in `folder`) not written to for `age_s`; an upload under way writes to its file, so it
    stays."""
    now = time.time()
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if (entry.name.startswith(DROPPED_UPLOAD_PREFIX)
                        and entry.is_file(follow_symlinks=False)
                        and now - entry.stat(follow_symlinks=False).st_mtime > age_s):
                    os.unlink(entry.path)
            except FileNotFoundError:  # completed (renamed) or deleted meanwhile
                pass


# The folders this process has open: a mark with this process's PID on any other folder is
# a dead demo's that ran under the same PID (a restarted container runs as PID 1 again).
_HELD: set = set()


def _owner() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def remove_abandoned(parent: str) -> None:
    """Removes the upload folders of demos that died without cleaning up (SIGKILL, a crash):
    this user's, marked by a process of this host that no longer runs (or by this process's PID
    but not open here: a restarted container's earlier demo). A folder of a live process, of
    another host (a shared temp folder), or without the mark is left alone."""
    host = socket.gethostname()
    with contextlib.suppress(OSError), os.scandir(parent) as entries:
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIX):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False) or entry.stat(
                        follow_symlinks=False).st_uid != os.getuid():
                    continue
                with open(os.path.join(entry.path, OWNER_FILE)) as f:
                    owner_host, pid = f.read().split()
                if owner_host != host or os.path.realpath(entry.path) in _HELD or (
                        int(pid) != os.getpid() and _running(int(pid))):
                    continue
            except (OSError, ValueError):  # no mark, or going meanwhile
                continue
            shutil.rmtree(entry.path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process holds the number now
        return True
    return True


@contextlib.contextmanager
def private_temp_dir(retention_s: int = defaults.DEMO_UPLOAD_RETENTION_S) -> Iterator[str]:
    """A 0700 folder for Gradio's uploads and caches (GRADIO_TEMP_DIR points to it while the
    block runs), removed at the end; SIGTERM stops the server like Ctrl-C, so it is removed
    then too; one a killed demo left is removed at the next start (`remove_abandoned`). Made
    inside a GRADIO_TEMP_DIR the user set, else in the system temp folder.
    While it is open, uploads cut off midway are deleted `retention_s` after their last byte
    (`remove_dropped_uploads`, in a thread)."""
    parent = os.environ.get("GRADIO_TEMP_DIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    remove_abandoned(parent or tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=parent)  # mode 0700
    held = os.path.realpath(folder)
    _HELD.add(held)  # before the mark: another thread's start then never takes it for dead
    with open(os.path.join(folder, OWNER_FILE), "w") as f:
        f.write(_owner())
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = folder
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_dropped_uploads, args=(folder, retention_s, stop),
                               name="hc-tf-demo-sweeper", daemon=True)
    sweeper.start()
    try:
        with out_dir.sigterm_as_interrupt():  # Gradio then closes the server and returns
            yield folder
    finally:
        stop.set()
        sweeper.join()
        if previous is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous
        shutil.rmtree(folder, ignore_errors=True)
        _HELD.discard(held)


def _sweep_dropped_uploads(folder: str, retention_s: int, stop: threading.Event) -> None:
    while not stop.wait(sweep_every_s(retention_s)):
        with contextlib.suppress(OSError):  # the folder going at exit, say: try again later
            remove_dropped_uploads(folder, retention_s)


def overlay_file(png: bytes) -> str:
    """Writes one request's overlay to a new file of its own under the upload folder, where
    Gradio serves it as it is (Gradio's own cache names files by content, so identical
    concurrent requests rewrote one file while it was being served)."""
    from gradio import utils as gradio_utils

    folder = os.path.join(gradio_utils.get_upload_folder(), OVERLAYS_FOLDER)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    path = os.path.join(folder, f"{uuid.uuid4().hex}.png")
    with open(path, "xb") as f:
        f.write(png)
    return path
