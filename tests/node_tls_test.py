"""The node's listener with TLS, in this process: a scanner without TLS leaves a `rejected`
line, and a TCP connection that says nothing keeps no TLS scanner out."""

import json
import logging
import socket
import ssl
import subprocess
import time

import pytest

pytest.importorskip("pynetdicom")

from hc_tf.node import config as config_lib  # noqa: E402
from hc_tf.node import scp as scp_lib  # noqa: E402
from hc_tf.node import service  # noqa: E402
from hc_tf.node import spool as spool_lib  # noqa: E402
from tests import node_support as ns  # noqa: E402

VERIFICATION = "1.2.840.10008.1.1"


def _serve(tmp_path, tls_ca=""):
    key, cert = ns.self_signed_cert(str(tmp_path))
    cfg = config_lib.NodeConfig(spool=str(tmp_path / "spool"), ae_title="HCTF",
                                allowed_calling_aets=("US_ROOM1",), tls_cert=cert, tls_key=key,
                                tls_ca=tls_ca)
    ae, handlers = scp_lib.make_ae(cfg, spool_lib.Spool(cfg.spool, 10**9), lambda i: None)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers,
                             ssl_context=service.tls_context(cfg))
    return ae, server.server_address[1]


@pytest.fixture()
def tls_node(tmp_path):
    ae, port = _serve(tmp_path)
    yield port
    ae.shutdown()


def _ca_and_client(folder, name):
    """A CA (`<name>-ca.pem`) and a client certificate it signed (`<name>.pem`, `.key`)."""
    openssl = ns.need("openssl", "openssl")
    ca, ca_key = str(folder / f"{name}-ca.pem"), str(folder / f"{name}-ca.key")
    cert, key, csr = (str(folder / f"{name}.{ext}") for ext in ("pem", "key", "csr"))
    for args in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out",
                  ca, "-days", "1", "-subj", f"/CN={name} CA"],
                 ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj",
                  f"/CN={name} scanner"],
                 ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                  "-out", cert, "-days", "1"]):
        made = subprocess.run([openssl, *args], capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
    return ca, cert, key


def _echo(port, tls, client_cert=None):
    scu = ns.scu("US_ROOM1")
    scu.acse_timeout = scu.network_timeout = scu.connection_timeout = 5
    scu.add_requested_context(VERIFICATION)
    client = None
    if tls:
        client = ssl.create_default_context()
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
        if client_cert:
            client.load_cert_chain(*client_cert)
    t0 = time.monotonic()
    assoc = scu.associate("127.0.0.1", port, ae_title="HCTF",
                          tls_args=(client, None) if tls else None)
    ok = assoc.is_established
    if ok:
        assoc.release()
    return ok, time.monotonic() - t0


def _rejected(caplog, n=1):
    found = []
    for _ in range(100):  # the connection's thread logs after the peer has gone
        found = [json.loads(r.getMessage()) for r in caplog.records
                 if '"event": "rejected"' in r.getMessage()]
        if len(found) >= n:
            break
        time.sleep(0.05)
    return found


def test_a_scanner_without_tls_is_logged_as_rejected(tls_node, caplog):
    """It had left no line at all (pynetdicom's accept loop dropped the failed handshake)."""
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    ok, took = _echo(tls_node, tls=False)
    assert not ok and took < 5  # refused at once, not after a timeout
    found = _rejected(caplog)
    assert len(found) == 1, found
    assert found[0]["reason"].startswith("TLS handshake failed (")
    assert found[0]["peer"] == "127.0.0.1"
    assert _echo(tls_node, tls=True)[0]  # and a TLS scanner is served


def test_a_silent_connection_keeps_no_tls_scanner_out(tls_node, caplog):
    """A TCP connection that sends nothing (a port scan, a health check) had held the
    handshake in pynetdicom's accept loop, every scanner waiting behind it until it closed."""
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    with socket.create_connection(("127.0.0.1", tls_node)):
        time.sleep(0.2)
        ok, took = _echo(tls_node, tls=True)
    assert ok and took < 3, took
    assert len(_rejected(caplog)) == 1  # its handshake ended when it closed


def test_only_tls_ca_vouches_for_a_client_certificate(tmp_path, caplog, monkeypatch):
    """With tls_ca, a scanner's certificate must chain to it: one signed by another CA is
    refused, even one the system trusts (SSL_CERT_FILE stands in for the system's store: a
    context that loaded the default CAs would accept it)."""
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    ours, our_cert, our_key = _ca_and_client(tmp_path, "ours")
    system, other_cert, other_key = _ca_and_client(tmp_path, "system")
    monkeypatch.setenv("SSL_CERT_FILE", system)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    assert ssl.create_default_context().cert_store_stats()["x509_ca"] == 1  # it is the system's
    ae, port = _serve(tmp_path, tls_ca=ours)
    try:
        assert _echo(port, tls=True, client_cert=(our_cert, our_key))[0]
        assert not _echo(port, tls=True, client_cert=(other_cert, other_key))[0]
        found = _rejected(caplog)
        assert len(found) == 1 and found[0]["reason"].startswith("TLS handshake failed ("), found
        assert not _echo(port, tls=True)[0]  # and none at all
    finally:
        ae.shutdown()
