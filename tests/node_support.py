"""Test helper for the node's tests: Orthanc on loopback, the node as a subprocess, dcmtk's
storescu as the scanner, wrapped HC18 heads (no test functions)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Callable, Dict, List, Optional

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
SCANNER = "SCANNER1"
NODE_AE = "HCTF"
TIMEOUT_S = 120
ROUTE_LUA = """function OnStoredInstance(instanceId, tags, metadata, origin)
  if tags['Modality'] == 'US' and origin['RequestOrigin'] ~= 'Lua' then
    SendToModality(instanceId, 'hctf')
  end
end
"""


def need(tool: str, package: str) -> str:
    """The Debian tool's path. pynetdicom installs apps of the same names (storescu, echoscu)
    into the venv's bin/, first on PATH once the venv is active: look past it."""
    venv_bin = os.path.realpath(os.path.join(sys.prefix, "bin"))
    search = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                             if p and os.path.realpath(p) != venv_bin)
    path = shutil.which(tool, path=search)
    if not path:
        pytest.skip(f"{tool} not installed (Debian package {package})")
    return path


def self_signed_cert(folder: str) -> tuple:
    """(key, certificate) paths of a fresh self-signed localhost certificate (openssl), for a
    node serving TLS."""
    key, cert = os.path.join(folder, "node.key"), os.path.join(folder, "node.pem")
    made = subprocess.run([need("openssl", "openssl"), "req", "-x509", "-newkey", "rsa:2048",
                           "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj",
                           "/CN=localhost"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    return key, cert


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what: str, check: Callable[[], bool], timeout: float = TIMEOUT_S) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Orthanc:
    """Debian's Orthanc with its own config, storage and loopback ports."""

    def __init__(self, folder: str, dicomweb: bool = True, route_to: Optional[int] = None):
        self.binary = need("Orthanc", "orthanc")
        os.makedirs(folder, exist_ok=True)
        if dicomweb and not os.path.isfile(DICOMWEB_PLUGIN):
            pytest.skip(f"{DICOMWEB_PLUGIN} missing (Debian package orthanc-dicomweb)")
        self.folder = folder
        self.http_port, self.dicom_port = free_port(), free_port()
        self.config = os.path.join(folder, "orthanc.json")
        cfg = {"Name": "hc-tf-test", "StorageDirectory": os.path.join(folder, "db"),
               "IndexDirectory": os.path.join(folder, "db"), "HttpPort": self.http_port,
               "DicomPort": self.dicom_port, "DicomAet": "ORTHANC",
               "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
               "Plugins": [DICOMWEB_PLUGIN] if dicomweb else [],
               "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}}
        if route_to:  # docs/node.md's routing: every US instance stored is sent to the node
            cfg["DicomModalities"] = {"hctf": [NODE_AE, "127.0.0.1", route_to]}
            cfg["LuaScripts"] = [os.path.join(folder, "route-us.lua")]
            with open(cfg["LuaScripts"][0], "w") as f:
                f.write(ROUTE_LUA)
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> "Orthanc":
        log = open(os.path.join(self.folder, "orthanc.log"), "ab")
        self.proc = subprocess.Popen([self.binary, self.config], stdout=log, stderr=log)
        wait_until("Orthanc's REST API", self._up, 30)
        return self

    def _up(self) -> bool:
        try:
            self.get("/system")
            return True
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.proc = None

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            data = r.read()
        return json.loads(data) if path != "/file" and not path.endswith("/file") else data

    def srs(self, folder: str) -> List[str]:
        """Every SR instance in Orthanc, downloaded to `folder`; returns their paths."""
        found = json.loads(_post(self.url + "/tools/find", {"Level": "Instance",
                                                            "Query": {"Modality": "SR"}}))
        os.makedirs(folder, exist_ok=True)
        paths = []
        for oid in found:
            path = os.path.join(folder, f"{oid}.dcm")
            with open(path, "wb") as f:
                f.write(self.get(f"/instances/{oid}/file"))
            paths.append(path)
        return paths

    def count_srs(self) -> int:
        return len(json.loads(_post(self.url + "/tools/find", {"Level": "Instance",
                                                               "Query": {"Modality": "SR"}})))


def _post(url: str, doc: dict) -> bytes:
    req = urllib.request.Request(url, json.dumps(doc).encode(), {"Content-Type":
                                                                 "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def _started(log: str) -> bool:
    return '"event": "listening"' in log or '"event": "pulling"' in log


class Node:
    """`hc-tf node serve` in a subprocess, with a TOML config written from `node` and `dests`."""

    def __init__(self, folder: str, dests: List[Dict], **node):
        self.folder, self.port = folder, free_port()
        os.makedirs(folder, exist_ok=True)
        self.spool = os.path.join(folder, "spool")
        self.config = os.path.join(folder, "node.toml")
        self.log = os.path.join(folder, "node.log")
        self.write_config(dests, **node)
        self.proc: Optional[subprocess.Popen] = None

    def write_config(self, dests: List[Dict], **node) -> None:
        settings = {"ae_title": NODE_AE, "port": self.port, "spool": self.spool,
                    "allowed_calling_aets": [SCANNER], "workers": 1, "retry_base_s": 0.5,
                    "retry_max_s": 2.0, **node}
        lines = ["[node]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
        for d in dests:
            lines += ["", "[[destination]]"] + [f"{k} = {json.dumps(v)}" for k, v in d.items()]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self) -> "Node":
        env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
        mark = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "hc_tf.cli", "node", "serve",
                                      "--config", self.config], stdout=log, stderr=log, env=env,
                                     cwd=REPO)
        wait_until("the node to listen",
                   lambda: _started(self.log_text()[mark:]) or self.proc.poll() is not None,
                   60)
        assert self.proc.poll() is None, self.log_text()[-2000:]
        return self

    def log_text(self) -> str:
        with open(self.log, errors="replace") as f:
            return f.read()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None

    def status(self) -> dict:
        out = subprocess.run([sys.executable, "-m", "hc_tf.cli", "node", "status", "--config",
                              self.config, "--json"], capture_output=True, text=True, cwd=REPO,
                             env={**os.environ, "PYTHONPATH": REPO}, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def storescu(self, files: List[str], aet: str = SCANNER) -> subprocess.CompletedProcess:
        return storescu(self.port, NODE_AE, files, aet)


def scu(aet: str = SCANNER):
    """A pynetdicom SCU whose waits end (pynetdicom's defaults wait forever on a DIMSE reply and
    a silent network): a stuck association fails its test instead of holding a worker."""
    from pynetdicom import AE
    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
    return ae


def storescu(port: int, called: str, files: List[str], aet: str = SCANNER
             ) -> subprocess.CompletedProcess:
    tool = need("storescu", "dcmtk")
    return subprocess.run([tool, "-aet", aet, "-aec", called, "127.0.0.1", str(port)] + files,
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def heads(folder: str, names, study_uids: Optional[List[str]] = None,
          series_description: str = "Fetal head", series_uid: Optional[str] = None
          ) -> Dict[str, str]:
    """Wrapped HC18 heads ({file: SOP Instance UID}), each in the given study (one by default)
    and a series of its own, or all in `series_uid`."""
    from tests import dicom_files
    os.makedirs(folder, exist_ok=True)
    out = {}
    for i, name in enumerate(names):
        ds = dicom_files.gray_dataset(name)
        ds.SeriesDescription = series_description
        if study_uids:
            ds.StudyInstanceUID = study_uids[i % len(study_uids)]
        if series_uid:
            ds.SeriesInstanceUID = series_uid
        path = dicom_files.save(ds, os.path.join(folder, f"{name[:-4]}.dcm"))
        out[path] = str(ds.SOPInstanceUID)
    return out


def fhir_server(answers):
    """A stub FHIR server answering `answers` in turn; it records (method, path, body)."""
    import http.server
    import threading
    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.command, self.path, json.loads(body)))
            self.send_response(answers.pop(0))
            self.end_headers()

        do_PUT = do_POST = _answer  # noqa: N815

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from hc_tf.node import config as config_lib
    from hc_tf.node import destinations as dest_lib
    dest = dest_lib.make(config_lib.Destination("fhir", "ehr", (
        ("url", f"http://127.0.0.1:{server.server_port}/r4"),)), "HCTF")
    return server, dest, got
