"""The running node: spool + journal, measuring pool, sender and the listener, started together
and stopped on SIGTERM/SIGINT (work in flight is finished by the next start)."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import ssl
import threading
from typing import Optional

from hc_tf.node import config as config_lib
from hc_tf.node import destinations as dest_lib
from hc_tf.node import measure as measure_lib
from hc_tf.node import pull as pull_lib
from hc_tf.node import retention as retention_lib
from hc_tf.node import scp as scp_lib
from hc_tf.node import spool as spool_lib
from hc_tf.node import worker as worker_lib

LOG = logging.getLogger("hc_tf.node")
STOP_POLL_S = 0.2  # how soon a SIGTERM/SIGINT is acted on


def model_path(cfg: config_lib.NodeConfig) -> str:
    if cfg.model:
        return cfg.model
    from hc_tf import models
    return models.released_edge_model()


def _refused(key: str, value: str, err: Exception) -> config_lib.ConfigError:
    """"[node] KEY 'VALUE': why", the OS's words (strerror) where it has them."""
    return config_lib.ConfigError(f"[node] {key} {value!r}: {getattr(err, 'strerror', None) or err}")


class Node:
    """One node: `start()` listens and works in background threads, `stop()` ends them.

    Raises (from __init__ and start):
      config_lib.ConfigError: naming the key, for a file, folder or address that does not
        serve (a TLS file, the spool, the model, the port).
    """

    def __init__(self, cfg: config_lib.NodeConfig):
        self.cfg = cfg
        self.tls = tls_context(cfg)  # first: a missing file is named before any work
        try:
            self.lock: Optional[int] = spool_lib.lock(cfg.spool)  # before the spool is touched
        except (OSError, spool_lib.SpoolInUse) as err:
            raise _refused("spool", cfg.spool, err) from None
        try:
            self._setup(cfg)
        except BaseException:
            self._unlock()
            raise

    def _unlock(self) -> None:
        if self.lock is not None:
            os.close(self.lock)  # another node may take the spool now
            self.lock = None

    def _setup(self, cfg: config_lib.NodeConfig) -> None:
        from hc_tf.report import dicom_sr
        from hc_tf.surfaces.demo.pool import runner_pool
        try:
            self.spool = spool_lib.Spool(cfg.spool, cfg.spool_limit_bytes, cfg.min_free_mb)
        except (OSError, sqlite3.Error) as err:
            raise _refused("spool", cfg.spool, err) from None
        self.spool.recover(keep_headers=cfg.obgyn_report)
        self.spool.journal.retry_now()
        self.retention = retention_lib.Retention(self.spool.journal, cfg.journal_keep_days)
        self.retention.purge()  # at the start, then hourly from the sender's loop
        model = model_path(cfg)
        size = cfg.pool_size()
        try:
            self.pool = runner_pool(model, size)  # one interpreter per worker, as the demo's
        except (OSError, ValueError) as err:
            raise _refused("model", model, err) from None
        run = measure_lib.NodeRun(dicom_sr.model_info(model), cfg.ae_title,
                                  self.spool.journal.sr_count() + 1,
                                  cfg.fhir_patient_system or None, cfg.obgyn_report)
        dests = {d.name: dest_lib.make(d, cfg.ae_title) for d in cfg.destinations}
        self.measurer = worker_lib.Measurer(self.spool, self.pool, run, list(dests), size,
                                            cfg.selection)
        self.sender = worker_lib.Sender(self.spool, dests, cfg.retry_base_s, cfg.retry_max_s)
        self.measurer.on_measured = self.sender.wake
        if cfg.obgyn_report:
            from hc_tf.node import series as series_lib
            self.sender.ticks.append(series_lib.SeriesReporter(self.spool, run, list(dests),
                                                               cfg.series_idle_s).tick)
        self.sender.ticks.append(self.retention.tick)
        self.ae, self.handlers = scp_lib.make_ae(cfg, self.spool, self.measurer.queue.put)
        self.pullers = [pull_lib.make(p, self.spool, self.measurer.queue.put) for p in cfg.pulls]
        self.server = None

    def start(self) -> None:
        self.measurer.start()
        self.sender.start()
        for p in self.pullers:
            p.start()
        if self.cfg.listens:
            try:
                self.server = self.ae.start_server((self.cfg.host, self.cfg.port), block=False,
                                                   evt_handlers=self.handlers,
                                                   ssl_context=self.tls)
            except OSError as err:  # in use, or not this host's address
                raise config_lib.ConfigError(
                    f"[node] host, port {self.cfg.host}:{self.cfg.port}: "
                    f"{err.strerror or err}") from None
        LOG.info(json.dumps(self.started_line()))

    def started_line(self) -> dict:
        """What the start's log line says: `listening` with the address, or `pulling` (no port
        opened: none of the listener's fields, which had named a port nothing listened on)."""
        cfg, line = self.cfg, {"workers": self.cfg.pool_size(), "pulls": len(self.pullers)}
        if not cfg.listens:
            return {"event": "pulling", **line}
        return {"event": "listening", "ae_title": cfg.ae_title, "host": cfg.host,
                "port": cfg.port, "tls": bool(cfg.tls_cert), **line,
                "max_associations": cfg.max_associations}

    def stop(self) -> None:
        if self.server is not None:
            # pynetdicom's: aborts the associations, then closes the server. server.shutdown()
            # alone joins each association's thread, which an idle peer holds until the network
            # timeout; an aborted peer re-sends what was not acknowledged.
            self.ae.shutdown()
        for p in self.pullers:
            p.stop()
        self.measurer.stop()
        self.sender.stop()
        self._unlock()


def _ssl_reason(err: ssl.SSLError) -> str:
    return f" ({err.reason})" if err.reason else ""


def tls_context(cfg: config_lib.NodeConfig) -> Optional[ssl.SSLContext]:
    """TLS on request: the server's certificate, and client certificates when tls_ca is set.

    Raises:
      config_lib.ConfigError: naming the key and file that cannot be read or used (ssl's own
        errors name neither).
    """
    if not cfg.tls_cert:
        return None
    keys = (("tls_cert", cfg.tls_cert), ("tls_key", cfg.tls_key), ("tls_ca", cfg.tls_ca))
    for key, path in keys:
        try:
            if path:
                open(path, "rb").close()
        except OSError as err:
            raise config_lib.ConfigError(f"[node] {key} {path!r}: {err.strerror}") from None
    ctx = scp_lib.HandshakeInThread(ssl.PROTOCOL_TLS_SERVER)  # each handshake logged (scp.py)
    try:
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    except ssl.SSLError as err:
        raise config_lib.ConfigError(f"[node] tls_cert {cfg.tls_cert!r}, tls_key "
                                     f"{cfg.tls_key!r}: not a PEM certificate and its "
                                     f"matching key{_ssl_reason(err)}") from None
    if cfg.tls_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_verify_locations(cfg.tls_ca)
        except ssl.SSLError as err:
            raise config_lib.ConfigError(f"[node] tls_ca {cfg.tls_ca!r}: not PEM CA "
                                         f"certificates{_ssl_reason(err)}") from None
    return ctx


def serve(cfg: config_lib.NodeConfig, stop: Optional[threading.Event] = None) -> None:
    """Runs the node until SIGTERM/SIGINT (or `stop` is set); the log says when it stops and
    the backlog it leaves for the next start."""
    stop = stop or threading.Event()
    node = Node(cfg)
    signals: list = []

    def on_signal(signum, _frame) -> None:
        # Python runs this in the main thread, and only once that thread wakes: a SIGTERM sent
        # just after the start left stop.wait() (no timeout) asleep and the node running (3 of
        # 8 tries in a test; a signal the kernel gives another thread does not wake it). So
        # the main thread wakes every STOP_POLL_S to look, and the handler takes no lock
        # (stop.set() would wait for the one stop.wait() may hold here).
        signals.append(signal.Signals(signum).name)
    before = {}
    if threading.current_thread() is threading.main_thread():
        before = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        node.start()
        while not signals and not stop.wait(STOP_POLL_S):
            pass
        LOG.info(json.dumps({"event": "stopping", "signal": signals[0] if signals else None,
                             "backlog": node.spool.journal.status()["backlog"]}))
    finally:
        node.stop()
        for sig, handler in before.items():  # a caller's own (a test's) again
            signal.signal(sig, handler)
    LOG.info(json.dumps({"event": "stopped",
                         "backlog": node.spool.journal.status()["backlog"]}))
