"""Issue 24 items 13, 14 and 17 (--host ""): `hc-tf demo` as a user runs it (a subprocess).

Identical concurrent requests each get an overlay file of their own; uploads and overlays live
in a private (0700) folder that is removed when the server stops, and each of them (and what an
upload cut off midway left) is deleted once it is older than the retention; on loopback only loopback
Host names are answered (DNS rebinding), and every answer forbids framing by other sites.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import pytest

pytest.importorskip("gradio", reason="the demo's server tests need gradio (pip install -e '.[demo]')")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HC_TF = os.path.join(os.path.dirname(sys.executable), "hc-tf")
SAMPLE = os.path.join(REPO, "hc_tf", "sample_data", "test_set", "000_HC.png")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def demo(tmp_path):
    """`hc-tf demo` on a free port with its own TMPDIR: yields (url, port, tmpdir, process)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    env.update(TMPDIR=str(tmp), PYTHONPATH=REPO, GRADIO_ANALYTICS_ENABLED="False")
    log = open(tmp_path / "demo.log", "w")
    proc = subprocess.Popen([HC_TF, "demo", "--port", str(port), "--workers", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        assert proc.poll() is None, (tmp_path / "demo.log").read_text()
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            assert time.time() < deadline, (tmp_path / "demo.log").read_text()
            time.sleep(0.3)
    try:
        yield url, port, tmp, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.close()


def _get(port, host):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("GET", "/", skip_host=True)
    conn.putheader("Host", host)
    conn.endheaders()
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def test_demo_answers_loopback_hosts_only_and_forbids_framing(demo):
    _, port, _, _ = demo
    for host in ("evil.example", f"evil.example:{port}", "rebind.attacker.test"):
        assert _get(port, host).status == 400, host
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        resp = _get(port, host)
        assert resp.status == 200, host
        assert resp.getheader("X-Frame-Options") == "SAMEORIGIN"
        assert "frame-ancestors 'self'" in resp.getheader("Content-Security-Policy")


def test_identical_concurrent_requests_and_a_private_temp_folder(demo, own_temp_folder):
    from gradio_client import Client, handle_file
    url, _, tmp, proc = demo
    (private,) = [p for p in tmp.iterdir() if p.name.startswith("hc-tf-demo-")]
    assert private.stat().st_mode & 0o777 == 0o700

    client = Client(url, verbose=False, download_files=str(own_temp_folder))

    def measure(_):
        overlay, hc, *_ = client.predict(handle_file(SAMPLE), 0.15, "", api_name="/measure")
        return overlay, hc

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(measure, range(16)))
    assert len({hc for _, hc in results}) == 1 and results[0][1].startswith("HC ")
    for overlay, _ in results:
        assert cv2.imread(overlay) is not None  # each served whole
    served = os.listdir(private / "hc-tf-overlays")
    assert len(served) == 16  # one file per request, none rewritten under another

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert not private.exists()  # uploads and overlays removed on exit


def test_empty_host_is_refused():
    result = subprocess.run([HC_TF, "demo", "--host", ""], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "--host" in result.stderr and "empty" in result.stderr


def _files(folder):
    """The files Gradio keeps in the folder (not the demo's own owner mark)."""
    from hc_tf.surfaces.demo import guard
    return {os.path.join(root, f) for root, _, names in os.walk(folder) for f in names
            if f != guard.OWNER_FILE}


def test_a_killed_demos_upload_folder_goes_at_the_next_start(tmp_path, monkeypatch):
    # SIGKILL (or a crash) runs no cleanup: the folder kept every scan sent to that demo.
    from hc_tf.surfaces.demo import guard
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    host = socket.gethostname()
    marks = {"killed": f"{host} {dead.stdout.strip()}", "running": f"{host} {live.pid}",
             "other-host": f"not-{host} {dead.stdout.strip()}", "unmarked": None}
    for name, mark in marks.items():
        folder = tmp_path / (guard.TEMP_PREFIX + name)
        folder.mkdir()
        (folder / "000_HC.png").write_bytes(b"a scan")
        if mark:
            (folder / guard.OWNER_FILE).write_text(mark)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    try:
        with guard.private_temp_dir() as mine:
            left = sorted(p.name for p in tmp_path.iterdir())
            assert (tmp_path / os.path.basename(mine) / guard.OWNER_FILE).read_text() \
                == f"{host} {os.getpid()}"
    finally:
        live.kill()
        live.wait()
    assert left == sorted([os.path.basename(mine)] + [guard.TEMP_PREFIX + n for n in
                                                       ("other-host", "running", "unmarked")])


def test_a_killed_demo_of_this_pid_is_abandoned_but_a_folder_this_demo_holds_is_not(tmp_path,
                                                                                     monkeypatch):
    # A container restarted after an OOM kill runs the new demo under the same host name and
    # the same PID (1, say) as the dead one, whose folder (on a volume, or kept by `docker
    # restart`) bears that mark: it was taken for a live demo's and kept every scan forever.
    from hc_tf.surfaces.demo import guard
    old = tmp_path / (guard.TEMP_PREFIX + "before-the-restart")
    old.mkdir()
    (old / "000_HC.png").write_bytes(b"a scan")
    (old / guard.OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    with guard.private_temp_dir() as outer:
        assert not old.exists()
        with guard.private_temp_dir() as inner:  # this process's own open folder stays
            assert os.path.isdir(outer) and os.path.isdir(inner)
        assert os.path.isdir(outer)
    assert not os.path.exists(outer)


def test_uploads_overlays_and_dropped_uploads_are_deleted_after_the_retention(tmp_path, monkeypatch):
    # They stayed until the server stopped: a demo left running kept every scan sent to it
    # (under its own file name), every overlay, and what a dropped upload had written.
    from gradio_client import Client, handle_file

    from hc_tf import edge
    from hc_tf.surfaces import demo
    from hc_tf.surfaces.demo import guard

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    examples = demo.load_examples()
    # 4 s: long enough that the upload and overlay are still there when predict returns on a
    # loaded machine (1 s lost that race under a full test run), short enough to wait out.
    with guard.private_temp_dir(retention_s=4) as folder:
        app = demo.build_app(edge.LiteRunner(demo.DEFAULT_MODEL), examples, retention_s=4)
        url = demo.launch(app, port=_free_port(), block=False,
                          allowed_paths=sorted({os.path.dirname(p) for p, _ in examples}))
        try:
            kept = _files(folder)  # the examples, cached at start: the page needs them
            assert len(kept) == len(examples)
            dropped = os.path.join(folder, "tmpx1y2z3ab")  # Gradio's file for an upload cut off
            with open(dropped, "wb") as f:
                f.write(b"\x89PNG\r\n\x1a\n the first bytes of a scan")
            client = Client(url, verbose=False, download_files=False)
            overlay, hc, *_ = client.predict(handle_file(SAMPLE), 0.15, "", api_name="/measure")
            assert hc.startswith("HC ")
            sent = _files(folder) - kept
            assert any(p.endswith("000_HC.png") for p in sent) and overlay["path"] in sent
            deadline = time.time() + 30
            while _files(folder) != kept and time.time() < deadline:
                time.sleep(0.5)
            assert _files(folder) == kept  # upload, overlay and the dropped upload gone
        finally:
            app.close()
