"""Where SRs go: a DICOM AE (C-STORE SCU), a DICOMweb server (STOW-RS) or a folder; the FHIR
Observations to a folder or a FHIR server.

`send(files)` takes an instance's outputs (absolute paths: SRs, then FHIR JSON); it raises
`Retry` when the destination may take them later (down, busy, out of resources, or its URL or
credentials wrong in the config) and `Refused` when it never will (the node then dead-letters
that delivery). Sending the same SR twice is harmless: the SOP Instance UID is the same, and a
PACS keeps one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from typing import Any, Dict, List, Optional

from hc_tf.io import atomic
from hc_tf.node import config as config_lib

CONNECT_TIMEOUT_S = 10
RETRY_STATUSES = range(0xA700, 0xA800)  # out of resources
# Comprehensive SR (what dicom_sr.build_sr writes), Enhanced SR, Comprehensive 3D SR
SR_CLASSES = ("1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.88.22",
              "1.2.840.10008.5.1.4.1.1.88.34")


class Retry(Exception):
    """The destination may accept later."""


class Refused(Exception):
    """The destination will never accept this."""


# HTTP statuses that say the destination is wrong (its URL, the credentials, a proxy's), not the
# SR: retried with backoff as a server that is down, so a corrected config and a restart
# deliver the backlog (they had dead-lettered every delivery until then, for good).
WRONG_DESTINATION = {401: "unauthorised: the credentials?", 403: "forbidden: the credentials?",
                     404: "not found: the url?", 405: "method not allowed: the url?",
                     407: "proxy authentication required: the proxy's credentials?"}


def http_failure(text: str, code: int) -> Exception:
    """`Retry` or `Refused` for a failed HTTP request (`text` says which request): down or busy
    (5xx, 408, 429) and a wrong destination (WRONG_DESTINATION) are retried, the other 4xx
    refused (the request itself cannot succeed)."""
    if code in WRONG_DESTINATION:
        return Retry(f"{text} HTTP {code} ({WRONG_DESTINATION[code]} retried until fixed)")
    if code in (408, 429) or code >= 500:
        return Retry(f"{text} HTTP {code}")
    return Refused(f"{text} HTTP {code}")


def _sr_paths(files: List[str]) -> List[str]:
    return [f for f in files if f.endswith(".sr.dcm")]


class DicomAE:
    """C-STORE to a PACS's AE; one association is kept open while there is work (`idle()`
    releases it), so a backlog does not pay for an association per SR."""

    def __init__(self, dest: config_lib.Destination, calling_ae: str):
        self.name = dest.name
        self.host, self.port = str(dest.get("host")), int(dest.get("port"))
        self.called_ae, self.calling_ae = str(dest.get("ae_title")), calling_ae
        self._assoc = None

    def _association(self):
        from pynetdicom import AE
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
        if self._assoc is not None and self._assoc.is_established:
            return self._assoc
        ae = AE(ae_title=self.calling_ae)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = CONNECT_TIMEOUT_S
        ae.connection_timeout = CONNECT_TIMEOUT_S
        for uid in SR_CLASSES:
            ae.add_requested_context(uid, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        assoc = ae.associate(self.host, self.port, ae_title=self.called_ae)
        if not assoc.is_established:
            why = "failed"
            if assoc.is_rejected:  # pynetdicom logs it over three lines: the reason in one
                why = f"rejected: {getattr(assoc.acceptor.primitive, 'reason_str', '?')}"
            raise Retry(f"{self.name}: association with {self.called_ae}@{self.host}:{self.port} "
                        f"{why}")
        self._assoc = assoc
        return assoc

    def idle(self) -> None:
        if self._assoc is not None:
            if self._assoc.is_established:
                self._assoc.release()
            self._assoc = None

    def send(self, files: List[str]) -> None:
        from pydicom import dcmread
        datasets = [dcmread(p) for p in _sr_paths(files)]
        assoc = self._association()
        for ds in datasets:
            try:
                status = assoc.send_c_store(ds)
            except (RuntimeError, ValueError) as err:  # aborted, or no accepted context
                self.idle()
                raise Retry(f"{self.name}: C-STORE: {err}") from None
            code = getattr(status, "Status", None)
            if code is None:
                self.idle()  # no response: the association is gone
                raise Retry(f"{self.name}: no C-STORE response")
            if code in RETRY_STATUSES:
                raise Retry(f"{self.name}: C-STORE status 0x{code:04X}")
            if code != 0x0000 and not 0xB000 <= code <= 0xBFFF:  # warnings are stored
                raise Refused(f"{self.name}: C-STORE status 0x{code:04X}")


class DicomWeb:
    """STOW-RS to a DICOMweb server (dicomweb-client)."""

    def __init__(self, dest: config_lib.Destination):
        self.name, self.url = dest.name, str(dest.get("url"))

    def send(self, files: List[str]) -> None:
        import requests
        from dicomweb_client.api import DICOMwebClient
        from pydicom import dcmread
        datasets = [dcmread(p) for p in _sr_paths(files)]
        answers: List[Any] = []  # the HTTP response itself (its status; a body it did not parse)
        client = DICOMwebClient(url=self.url, callback=lambda r, *a, **k: answers.append(r))
        client.set_http_retry_params(retry=False)  # its own waits (30 s) block the sender: ours
        try:
            response = client.store_instances(datasets)
        except requests.exceptions.HTTPError as err:
            code = err.response.status_code if err.response is not None else 0
            if code == 409 and err.response.content:  # none stored: the body may say why
                self._check(_json_dataset(err.response), err.response,
                            [str(ds.SOPInstanceUID) for ds in datasets])
            raise http_failure(f"{self.name}: STOW-RS", code) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            raise Retry(f"{self.name}: STOW-RS: {type(err).__name__}") from None
        self._check(response, answers[-1] if answers else None,
                    [str(ds.SOPInstanceUID) for ds in datasets])

    def _check(self, response: Any, http: Any, sent: List[str]) -> None:
        """Raises unless the Store Instances Response says every instance sent was stored.

        PS3.18 10.5.3: 200 all stored; 202 some failed (or stored with warnings), listed in
        Failed SOP Sequence (0008,1198) with a Failure Reason (0008,1197), the stored ones in
        Referenced SOP Sequence (0008,1199). A failure reason is classed as a C-STORE status
        is (0xA7xx out of resources: Retry; others: Refused). An instance the response does
        not show stored, or a 202 whose body cannot be read, is a Retry: resending the same
        SOP Instance UID is harmless, dropping an SR the server did not store is not.
        """
        code = getattr(http, "status_code", 200)
        if not len(response) and http is not None and http.content:
            response = _json_dataset(http)  # dicomweb-client matches the content type exactly
        failed = list(response.get("FailedSOPSequence") or [])
        if failed:
            reasons = sorted({int(item.get("FailureReason", 0) or 0) for item in failed})
            text = (f"{self.name}: STOW-RS HTTP {code}: {len(failed)} of {len(sent)} instances "
                    f"failed, FailureReason {', '.join(f'0x{r:04X}' for r in reasons)}")
            if all(r in RETRY_STATUSES for r in reasons):
                raise Retry(text)
            raise Refused(text)
        stored = {str(item.get("ReferencedSOPInstanceUID", ""))
                  for item in response.get("ReferencedSOPSequence") or []}
        if stored and set(sent) - stored:
            raise Retry(f"{self.name}: STOW-RS HTTP {code}: {len(set(sent) - stored)} of "
                        f"{len(sent)} instances not listed as stored")
        if code == 202 and not stored:
            raise Retry(f"{self.name}: STOW-RS HTTP 202 (some instances failed) without a "
                        f"readable response: not known to be stored")


def _json_dataset(http: Any) -> Any:
    """The response body as a pydicom Dataset when it is DICOM JSON (any content type
    parameters), else an empty one."""
    from pydicom.dataset import Dataset
    if "json" not in http.headers.get("Content-Type", ""):
        return Dataset()
    try:
        return Dataset.from_json(http.json())
    except (ValueError, TypeError, KeyError, AttributeError):
        return Dataset()


class Folder:
    """Copies the SRs (and FHIR Observations) into the folder's sr/ (fhir/), named as in the
    spool (a hash of the source's SOP Instance UID: no patient data in names)."""

    def __init__(self, dest: config_lib.Destination):
        self.name, self.path = dest.name, str(dest.get("path"))

    def send(self, files: List[str]) -> None:
        try:
            for f in files:
                sub = os.path.join(self.path, os.path.basename(os.path.dirname(f)))
                os.makedirs(sub, exist_ok=True)
                with atomic.atomic_path(os.path.join(sub, os.path.basename(f))) as tmp:
                    shutil.copyfile(f, tmp)
        except OSError as err:
            raise Retry(f"{self.name}: {err.strerror}") from None


class Fhir:
    """The FHIR Observations to a FHIR R4 server. A head's file (`fhir.head_bundle`'s collection:
    HC, BPD, OFD, ..., the GAs) goes as one transaction (POST <url>: all its Observations filed
    or none), each entry a PUT Observation/<id>, the id derived from the source instance (and frame) and the
    quantity, so a resend updates rather than adds; an exam's report (`fhir_exam`'s collection,
    whose entries refer to each other by `urn:uuid:` fullUrls derived from its images) likewise, each
    resource PUT as <type>/hctf-<its uuid> and the references rewritten to those; a lone
    Observation (a file spooled by a version before the Bundle) as PUT Observation/<id>."""

    def __init__(self, dest: config_lib.Destination):
        self.name, self.url = dest.name, str(dest.get("url")).rstrip("/")

    def send(self, files: List[str]) -> None:
        for path in (f for f in files if f.endswith(".fhir.json")):
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            # The spool names an image by its UID's hash, so the file's name is head_id's.
            self.send_doc(doc, "hctf-" + os.path.basename(path)[:-len(".fhir.json")])

    def send_doc(self, doc: Dict[str, Any], base_id: Optional[str] = None) -> None:
        """One file's content; `base_id` names a head's Observations (`head_id`'s when None;
        a linked bundle's ids come from its own uuids)."""
        if doc.get("resourceType") == "Bundle" and _linked(doc):
            self._request("post", self.url, self.linked_transaction(doc))
            return
        base_id = base_id or head_id(doc)
        if doc.get("resourceType") == "Bundle":
            self._request("post", self.url, self.transaction(doc, base_id))
        else:
            doc["id"] = base_id
            self._request("put", f"{self.url}/Observation/{base_id}", doc)

    def transaction(self, bundle: Dict[str, Any], base_id: str) -> Dict[str, Any]:
        """The head's collection as a transaction: the HC's id `base_id` (as a lone
        Observation had it), each other's `base_id`.<its `fhir.bundle_observations` name>
        (.bpd, .ofd, .cbpd, .ci, and the GA's by equation .gahl and .gaig)."""
        from hc_tf.report import fhir
        entries = []
        for name, doc in fhir.bundle_observations(bundle).items():
            doc = dict(doc, id=base_id if name == "hc" else f"{base_id}.{name}")
            entries.append({"fullUrl": f"{self.url}/Observation/{doc['id']}", "resource": doc,
                            "request": {"method": "PUT", "url": f"Observation/{doc['id']}"}})
        if not entries:  # nothing to file: not a head's bundle (a file hc-tf did not write)
            raise Refused(f"{self.name}: no Observation of a head's in the Bundle")
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    def linked_transaction(self, bundle: Dict[str, Any]) -> Dict[str, Any]:
        """A collection whose entries link by `urn:uuid:` fullUrls as a transaction of PUTs, each
        id hctf-<uuid> (a resend updates), every reference to an entry made <type>/<id>."""
        where = {e["fullUrl"]: f"{e['resource']['resourceType']}/hctf-{e['fullUrl'][9:]}"
                 for e in bundle["entry"]}

        def resolve(node: Any) -> Any:
            if isinstance(node, dict):
                if node.get("reference") in where:
                    return {**node, "reference": where[node["reference"]]}
                return {k: resolve(v) for k, v in node.items()}
            return [resolve(v) for v in node] if isinstance(node, list) else node
        entries = [{"fullUrl": f"{self.url}/{where[e['fullUrl']]}",
                    "resource": dict(resolve(e["resource"]),
                                     id=where[e["fullUrl"]].split("/", 1)[1]),
                    "request": {"method": "PUT", "url": where[e["fullUrl"]]}}
                   for e in bundle["entry"]]
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    def _request(self, method: str, url: str, doc: Dict[str, Any]) -> None:
        import requests
        try:
            r = requests.request(method, url, json=doc, timeout=30,
                                 headers={"Content-Type": "application/fhir+json"})
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            raise Retry(f"{self.name}: FHIR: {type(err).__name__}") from None
        if r.status_code >= 400:
            raise http_failure(f"{self.name}: FHIR", r.status_code)


def head_id(doc: Dict[str, Any]) -> str:
    """The id of a head's HC Observation (a `head_bundle` or a lone Observation):
    hctf-<short_hash of its image's SOP Instance UID>, .frame<k> added for a frame of several,
    as the node's spool names the image, so a head filed by the node and by `send-fhir` gets one
    id whatever its file was called.

    Raises:
      Refused: for a document with no source image in its HC's derivedFrom.
    """
    from hc_tf.node import spool
    from hc_tf.report import fhir
    obs = fhir.bundle_observations(doc).get("hc", {}) if doc.get("resourceType") == "Bundle" \
        else doc
    for ref in obs.get("derivedFrom") or []:
        uid = str((ref.get("identifier") or {}).get("value", ""))
        if ref.get("type") == "Media" and uid.startswith(fhir.OID):
            frame = re.search(r", frame ([0-9]+)$", str(ref.get("display", "")))
            return (f"hctf-{spool.short_hash(uid[len(fhir.OID):])}"
                    + (f".frame{frame.group(1)}" if frame else ""))
    raise Refused("no source image (a Media reference) in the HC Observation's derivedFrom: "
                  "not a head's FHIR file hc-tf wrote")


def _linked(bundle: Dict[str, Any]) -> bool:
    """Whether every entry has a `urn:uuid:` fullUrl (an exam's report; a head's has none)."""
    entries = bundle.get("entry") or []
    return bool(entries) and all(str(e.get("fullUrl", "")).startswith("urn:uuid:")
                                 for e in entries)


def make(dest: config_lib.Destination, calling_ae: str):
    if dest.kind == "dicom":
        return DicomAE(dest, calling_ae)
    if dest.kind == "dicomweb":
        return DicomWeb(dest)
    if dest.kind == "fhir":
        return Fhir(dest)
    return Folder(dest)
