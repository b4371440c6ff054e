"""The listener: a pynetdicom Storage SCP for US Image and US Multi-frame Image, and C-ECHO.

Each C-STORE is spooled (written, fsynced, journalled) before it is acknowledged. A spool over its
limit refuses new associations (A-ASSOCIATE-RJ transient, local limit exceeded) and answers a
store in flight with 0xA700 (out of resources). An association past `max_associations` is
rejected the same way (each may hold up to the input limit in memory: the total is bounded).
Calling AE titles (and optionally peer addresses) outside the allow-list are rejected.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import weakref
from typing import Callable, List

from hc_tf.node import config as config_lib
from hc_tf.node import measure as measure_lib
from hc_tf.node import spool as spool_lib

LOG = logging.getLogger("hc_tf.node")
STATUS_OK = 0x0000
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_NOT_THE_SOP_CLASS = 0xA900  # "Data Set does not match SOP Class" (PS3.4 B.2.3)
STATUS_CANNOT_UNDERSTAND = 0xC000
REJECT_FULL = (0x02, 0x03, 0x02)      # transient, provider (presentation), local limit exceeded
REJECT_HOST = (0x01, 0x01, 0x03)      # permanent, user, calling AE / peer not recognised
VERIFICATION = "1.2.840.10008.1.1"


def transfer_syntaxes() -> List[str]:
    """The syntaxes the reader decodes here: pydicom's available decoders (and plain ones)."""
    from pydicom import uid
    from pydicom.pixels import get_decoder
    plain = [uid.ExplicitVRLittleEndian, uid.ImplicitVRLittleEndian,
             uid.DeflatedExplicitVRLittleEndian]
    encoded = [uid.RLELossless, uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEGLossless,
               uid.JPEGLosslessSV1, uid.JPEGLSLossless, uid.JPEGLSNearLossless,
               uid.JPEG2000Lossless, uid.JPEG2000]
    out = list(plain)
    for syntax in encoded:
        try:
            if get_decoder(syntax).is_available:
                out.append(syntax)
        except (NotImplementedError, ValueError):
            pass
    return out


def _log(event: str, **fields) -> None:
    LOG.info(json.dumps({"event": event, **fields}, sort_keys=True))


# pynetdicom's A-ASSOCIATE-RJ (result, source, diagnostic) beyond the AE titles' (logged by name)
PYNETDICOM_REJECTS = {(0x02, 0x03, 0x02): "too many connections (pynetdicom's limit)",
                      (0x02, 0x02, 0x01): "user identity not verified"}


def requestor(assoc) -> dict:
    """Who asked, for a log line: the peer's address and the AE titles in its request (names
    of devices, never of patients)."""
    rq = assoc.requestor.primitive
    return {"peer": assoc.requestor.address,
            "calling_aet": str(getattr(rq, "calling_ae_title", "") or "").strip(),
            "called_aet": str(getattr(rq, "called_ae_title", "") or "").strip()}


def _reject(assoc, rsd) -> None:
    """Rejects as pynetdicom's own checks do (EVT_REQUESTED may send the A-ASSOCIATE-RJ)."""
    assoc.acse.send_reject(*rsd)
    assoc.kill()


TLS_HANDSHAKE_S = 10.0  # a TLS peer's handshake, at most (then it is rejected)


class HandshakeInThread(ssl.SSLContext):
    """A server's TLS context whose sockets shake hands in their connection's own thread
    (`tls_handshake`, on EVT_CONN_OPEN), not in `wrap_socket`: pynetdicom wraps each accepted
    socket in its accept loop, where the handshake waited on the peer (a TCP connection that
    sent nothing kept every scanner out, until it closed) and a failure (a scanner without TLS)
    was dropped without a word. A plain PROTOCOL_TLS_SERVER context (the options and minimum
    version ssl.create_default_context(Purpose.CLIENT_AUTH) gave before; not its SSLKEYLOGFILE,
    nor Python 3.13's VERIFY_X509_STRICT and PARTIAL_CHAIN flags). It trusts no CA until
    `tls_context` loads tls_ca, and then that only: the system's CAs vouch for no client
    certificate (nor did they before: create_default_context loads them only into a context
    that verifies by default, and a server's does not)."""

    def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, *args, **kw):
        return super().wrap_socket(sock, server_side, False, *args, **kw)


def tls_handshake(assoc) -> bool:
    """The handshake of a TLS connection (any other: True); a failure is logged as `rejected`
    with the reason and the peer's address (none of the AE titles: no request was read), and
    the connection shut, so the association ends at once."""
    sock = getattr(assoc.dul.socket, "socket", None)
    if not isinstance(sock, ssl.SSLSocket):
        return True
    before = sock.gettimeout()
    try:
        sock.settimeout(TLS_HANDSHAKE_S)
        sock.do_handshake()
        sock.settimeout(before)
        return True
    except (OSError, ValueError) as err:  # ssl.SSLError, a timeout, a reset
        why = getattr(err, "reason", None) or getattr(err, "strerror", None) or type(err).__name__
        _log("rejected", reason=f"TLS handshake failed ({why}): a peer without TLS, or its "
             "certificate refused", peer=assoc.requestor.address)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return False


PDU_SLACK = 1 << 16  # a PDU's headers beyond the dataset bytes it may carry
# The first PDU, the A-ASSOCIATE-RQ, is read before the association is counted or refused: a
# real one is a few kB (128 presentation contexts of a few transfer syntaxes, a user identity).
REQUEST_MAX_BYTES = 1 << 20


def inbound_bound(max_bytes: int) -> List[tuple]:
    """Handlers bounding what one peer can make the node hold in memory.

    pynetdicom reads a PDU of whatever length its header states, and keeps a C-STORE's command
    and dataset in memory until on_store: a PDU longer than `max_bytes` (the input limit) is
    refused before it is read, and a message whose command or dataset fragments pass it when
    the fragment arrives (so at most the limit and one PDU are held). The association request
    (the first PDU) is refused past REQUEST_MAX_BYTES, so a connection not yet counted against
    `max_associations` holds little. Refusing reads as a closed connection (pynetdicom's
    "transport closed": the association ends, nothing is stored or acknowledged); the reader
    would refuse such a file anyway (over the input limit), so nothing measurable is lost.
    """
    from pynetdicom import evt
    # association -> [command bytes, dataset bytes, over, a PDU was read]
    held = weakref.WeakKeyDictionary()

    def on_open(event) -> None:
        state = held[event.assoc] = [0, 0, not tls_handshake(event.assoc), False]
        sock = event.assoc.dul.socket
        recv = sock.recv

        def bounded_recv(nbytes: int):
            limit = max_bytes + PDU_SLACK
            if not state[3]:
                limit = min(limit, REQUEST_MAX_BYTES)
            if nbytes > limit or state[2]:
                if not state[2]:
                    state[2] = True
                    _log("aborted", limit=limit, reason="a message over the input limit"
                         if state[3] else "an association request over its limit")
                return bytearray()  # as a closed connection: pynetdicom ends the association
            return recv(nbytes)
        sock.recv = bounded_recv

    def on_pdu(event) -> None:  # on the reading thread, before the next PDU is read
        state = held.get(event.assoc)
        if state is not None:
            state[3] = True
        for item in getattr(event.pdu, "presentation_data_value_items", None) or ():
            if state is None or state[2]:
                return
            data = item.presentation_data_value or b"\0"
            part = 0 if data[0] & 1 else 1  # bit 0: command, else dataset; bit 1: last fragment
            state[part] += len(data) - 1
            if state[part] > max_bytes:
                state[2] = True
                _log("aborted", reason="a message over the input limit", limit=max_bytes)
            elif data[0] & 2:
                state[part] = 0

    return [(evt.EVT_CONN_OPEN, on_open), (evt.EVT_PDU_RECV, on_pdu)]


# TCP connections not yet associated that pynetdicom lets wait beyond `max_associations`
# before it refuses on its own (it counts every connection from its accept): each reads at
# most REQUEST_MAX_BYTES, and its ACSE timeout closes an idle one.
UNASSOCIATED_SLACK = 16


class Admitted:
    """The associations past their request, at most `limit` at once: they may hold received
    data. A TCP connection that has not asked to associate (a port scan, a load balancer's
    health check) is not one, so it cannot keep a scanner out."""

    def __init__(self, limit: int):
        self.limit = limit
        self._lock = threading.Lock()
        self._assocs: "weakref.WeakSet" = weakref.WeakSet()

    def admit(self, assoc) -> bool:
        with self._lock:  # two requests at once must not both take the last place
            live = [a for a in self._assocs if a.is_alive()
                    and not (a.is_released or a.is_aborted or a.is_rejected)]
            if len(live) >= self.limit:
                return False
            self._assocs.add(assoc)
            return True


def make_ae(cfg: config_lib.NodeConfig, spool: spool_lib.Spool,
            on_received: Callable[[int], None]):
    """The configured AE and its handlers (not yet listening)."""
    from pynetdicom import AE, evt
    ae = AE(ae_title=cfg.ae_title)
    ae.maximum_associations = cfg.max_associations + UNASSOCIATED_SLACK
    ae.network_timeout = cfg.network_timeout_s  # an idle association's end (config.py)
    admitted = Admitted(cfg.max_associations)
    ae.require_called_aet = True
    allowed = {a.strip() for a in cfg.allowed_calling_aets}  # as pynetdicom compares them
    if not cfg.allow_any_calling_aet:
        ae.require_calling_aet = list(cfg.allowed_calling_aets)
    syntaxes = transfer_syntaxes()
    for sop_class in sorted(measure_lib.US_CLASSES):
        ae.add_supported_context(sop_class, syntaxes)
    ae.add_supported_context(VERIFICATION)

    def on_requested(event) -> None:
        who = requestor(event.assoc)
        if cfg.allowed_hosts and who["peer"] not in cfg.allowed_hosts:
            _log("rejected", reason="peer address not allowed", **who)
            _reject(event.assoc, REJECT_HOST)
        elif full := spool.why_full():
            _log("rejected", reason="spool full", detail=full, **who)
            _reject(event.assoc, REJECT_FULL)
        elif not admitted.admit(event.assoc):
            _log("rejected", reason="too many associations", limit=admitted.limit, **who)
            _reject(event.assoc, REJECT_FULL)

    def on_rejected(event) -> None:  # pynetdicom's own checks: the AE titles, its own limit
        who = requestor(event.assoc)
        reasons = []
        if not cfg.allow_any_calling_aet and who["calling_aet"] not in allowed:
            reasons.append("calling AE title not allowed")
        if who["called_aet"] != cfg.ae_title.strip():
            reasons.append(f"called AE title is not this node's ({cfg.ae_title.strip()})")
        rj = event.assoc.acceptor.primitive
        _log("rejected", reason="; ".join(reasons) or PYNETDICOM_REJECTS.get(
            (rj.result, rj.result_source, rj.diagnostic), "by pynetdicom"), **who)

    said = set()  # (peer, calling AE, refused): logged once while the node runs

    def on_accepted(event) -> None:
        """The SOP classes the peer proposed and the node refused (not an ultrasound image, or
        none of its transfer syntaxes decodable here): the peer then sends none of them. Once
        per peer, AE title and classes: many scanners (dcmtk's storescu too) propose every
        storage class on every association."""
        accepted = {cx.abstract_syntax for cx in event.assoc.accepted_contexts}
        refused = {}
        for cx in event.assoc.rejected_contexts:
            if cx.abstract_syntax not in accepted:
                reason = "transfer_syntaxes" if cx.result == 0x04 else "sop_classes"
                refused.setdefault(reason, set()).add(str(cx.abstract_syntax))
        who = requestor(event.assoc)
        key = (who["peer"], who["calling_aet"], repr(sorted(refused.items())))
        if refused and key not in said:
            if len(said) > 1000:  # bounded, whatever peers propose
                said.clear()
            said.add(key)
            _log("contexts_refused", **who, **{k: sorted(v) for k, v in refused.items()})

    def on_store(event) -> int:
        req = event.request
        sop_uid, sop_class = str(req.AffectedSOPInstanceUID), str(req.AffectedSOPClassUID)
        try:
            data = event.encoded_dataset()
        except Exception:  # noqa: BLE001  malformed meta: nothing can be made of it
            return STATUS_CANNOT_UNDERSTAND
        held = spool_lib.Spool.header_uids(data)
        if held.get("SOPInstanceUID") and held["SOPInstanceUID"] != sop_uid:
            # stored under the command's UID, a second instance sent so would be taken for
            # a resend of the first: acknowledged and dropped
            _log("store_refused", reason="the data set's SOP Instance UID is not the "
                 "command's Affected SOP Instance UID")
            return STATUS_CANNOT_UNDERSTAND
        if held.get("SOPClassUID") and held["SOPClassUID"] != sop_class:
            _log("store_refused", reason="the data set's SOP Class UID is not the command's "
                 "Affected SOP Class UID")
            return STATUS_NOT_THE_SOP_CLASS
        try:
            instance_id = spool.store(data, sop_uid, sop_class, event.assoc.requestor.ae_title,
                                      held)  # its header read once
        except spool_lib.SpoolFull as err:
            _log("store_refused", reason=str(err))
            return STATUS_OUT_OF_RESOURCES
        if instance_id is None:
            _log("duplicate", bytes=len(data))
            return STATUS_OK
        LOG.debug(json.dumps({"event": "received", "id": instance_id, "bytes": len(data)}))
        on_received(instance_id)
        return STATUS_OK

    from hc_tf.io import images
    handlers = [(evt.EVT_C_STORE, on_store), (evt.EVT_REQUESTED, on_requested),
                (evt.EVT_REJECTED, on_rejected), (evt.EVT_ACCEPTED, on_accepted),
                (evt.EVT_C_ECHO, lambda event: STATUS_OK),
                *inbound_bound(images.max_input_bytes())]
    return ae, handlers
