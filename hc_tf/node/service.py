"""The running node: spool + journal, measuring pool, sender and the listener, started together
and stopped on SIGTERM/SIGINT (work in flight is finished by the next start)."""

from __future__ import annotations

import json
import logging
import signal
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


def model_path(cfg: config_lib.NodeConfig) -> str:
    if cfg.model:
        return cfg.model
    from hc_tf import models
    return models.released_edge_model()


class Node:
    """One node: `start()` listens and works in background threads, `stop()` ends them."""

    def __init__(self, cfg: config_lib.NodeConfig):
        from hc_tf.report import dicom_sr
        from hc_tf.surfaces.demo.pool import runner_pool
        self.cfg = cfg
        self.spool = spool_lib.Spool(cfg.spool, cfg.spool_limit_bytes, cfg.min_free_mb)
        self.spool.recover(keep_headers=cfg.obgyn_report)
        self.retention = retention_lib.Retention(self.spool.journal, cfg.journal_keep_days)
        self.retention.purge()  # at the start, then hourly from the sender's loop
        model = model_path(cfg)
        size = cfg.pool_size()
        self.pool = runner_pool(model, size)  # one interpreter per worker, as the demo's
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
            self.server = self.ae.start_server((self.cfg.host, self.cfg.port), block=False,
                                               evt_handlers=self.handlers,
                                               ssl_context=tls_context(self.cfg))
        LOG.info(json.dumps({"event": "listening" if self.cfg.listens else "pulling",
                             "ae_title": self.cfg.ae_title, "host": self.cfg.host,
                             "port": self.cfg.port, "tls": bool(self.cfg.tls_cert),
                             "workers": self.cfg.pool_size(), "pulls": len(self.pullers),
                             "max_associations": self.cfg.max_associations}))

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


def tls_context(cfg: config_lib.NodeConfig) -> Optional[ssl.SSLContext]:
    """TLS on request: the server's certificate, and client certificates when tls_ca is set."""
    if not cfg.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
    if cfg.tls_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cfg.tls_ca)
    return ctx


def serve(cfg: config_lib.NodeConfig, stop: Optional[threading.Event] = None) -> None:
    """Runs the node until SIGTERM/SIGINT (or `stop` is set)."""
    stop = stop or threading.Event()
    node = Node(cfg)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    node.start()
    try:
        stop.wait()
    finally:
        node.stop()
