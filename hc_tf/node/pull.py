"""The pull pattern: a PACS that does not push. The node follows Orthanc's `/changes` feed
(`OrthancChanges`), or asks any DICOMweb PACS for its US instances by QIDO-RS and fetches the
new ones by WADO-RS (`DicomWebQuery`), and spools each new US instance once (the journal's SOP
UID key; the feed's cursor is journalled too, so a restart neither misses nor repeats one). The
SRs the node sends back to that PACS are skipped as not ultrasound.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Callable

from hc_tf.io import images
from hc_tf.node import config as config_lib
from hc_tf.node import measure as measure_lib
from hc_tf.node import spool as spool_lib

LOG = logging.getLogger("hc_tf.node")
PAGE = 100
TIMEOUT_S = 30
MAX_WAIT_S = 60.0
MULTIPART_SLACK = 64 * 1024  # a WADO-RS body's multipart framing, beyond the instance itself
WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _gone(err: Exception) -> bool:
    """An HTTP 404: the instance was deleted since the feed or the query listed it."""
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None) == 404


class OrthancChanges:
    """Polls `<url>/changes` and spools each new US instance (`run` in a thread)."""

    def __init__(self, source: config_lib.Destination, spool: spool_lib.Spool,
                 on_received: Callable[[int], None]):
        import requests
        self.name, self.url = source.name, str(source.get("url")).rstrip("/")
        self.poll_s = float(source.get("poll_s", 2.0))
        self.spool, self.on_received = spool, on_received
        self.http = requests.Session()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name=f"pull-{self.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        wait = self.poll_s
        while not self._stop.is_set():
            try:
                more = self.poll_once()
                wait = 0 if more else self.poll_s
            except (OSError, ValueError, spool_lib.SpoolFull) as err:  # requests' are OSErrors
                wait = min(max(wait, self.poll_s) * 2, MAX_WAIT_S)
                LOG.warning(json.dumps({"event": "pull_retry", "source": self.name,
                                        "in_s": wait, "error": type(err).__name__}))
            self._stop.wait(wait)

    def _get(self, path: str):
        r = self.http.get(self.url + path, timeout=TIMEOUT_S)
        r.raise_for_status()
        return r

    def poll_once(self) -> bool:
        """Spools the new US instances of one page of changes; True when more are waiting."""
        key = f"pull:{self.name}"
        since = int(self.spool.journal.cursor(key))
        page = self._get(f"/changes?since={since}&limit={PAGE}").json()
        for change in page.get("Changes", []):
            if change.get("ChangeType") == "NewInstance":
                try:
                    self._take(str(change["ID"]))
                except OSError as err:  # requests' HTTPError is one
                    if not _gone(err):
                        raise  # down or failing: run() waits, and polls from this change again
                    # deleted since (recycled, or removed by a user): the feed goes on past it
                    # The change's number only: Orthanc's id of an instance is a hash of its
                    # patient ID and UIDs, derived from identifiers.
                    LOG.warning(json.dumps({"event": "pull_gone", "source": self.name,
                                            "seq": int(change["Seq"])}))
            self.spool.journal.set_cursor(key, int(change["Seq"]))  # after it is spooled
        if not page.get("Changes"):
            self.spool.journal.set_cursor(key, int(page.get("Last", since)))
        return not page.get("Done", True)

    def _take(self, oid: str) -> None:
        tags = self._get(f"/instances/{oid}/simplified-tags").json()
        sop_class, sop_uid = str(tags.get("SOPClassUID", "")), str(tags.get("SOPInstanceUID", ""))
        if sop_class not in measure_lib.US_CLASSES or not sop_uid:
            return
        if self.spool.journal.known(sop_uid):
            return
        size, limit = int(self._get(f"/instances/{oid}").json().get("FileSize", 0)), \
            images.max_input_bytes()  # HC_TF_MAX_INPUT_BYTES, as the reader
        if size > limit:  # bounded before it is fetched
            self.spool.journal.add_dead(sop_uid, sop_class, f"{size} bytes, over the "
                                        f"{limit}-byte input limit")
            return
        instance_id = self.spool.store(self._get(f"/instances/{oid}/file").content, sop_uid,
                                       sop_class, f"pull:{self.name}")
        if instance_id is not None:
            self.on_received(instance_id)


class DicomWebQuery(OrthancChanges):
    """QIDO-RS for the US instances of the last `days` days (StudyDate), WADO-RS for each
    instance the journal does not know yet. A PACS without a change feed: each poll asks again,
    so the window is kept short."""

    def __init__(self, source: config_lib.Destination, spool: spool_lib.Spool,
                 on_received: Callable[[int], None]):
        super().__init__(source, spool, on_received)
        from dicomweb_client.api import DICOMwebClient
        self.days = int(source.get("days", 2))
        self.client = DICOMwebClient(url=self.url)
        self.client.set_http_retry_params(retry=False)

    def poll_once(self) -> bool:
        import datetime
        first = (datetime.date.today() - datetime.timedelta(days=self.days)).strftime("%Y%m%d")
        found = self.client.search_for_instances(
            search_filters={"Modality": "US", "StudyDate": f"{first}-"},
            fields=["SOPClassUID"], get_remaining=True)
        for item in found:
            uid = {k: (v.get("Value") or [""])[0] for k, v in item.items()}
            sop_class, sop_uid = str(uid.get("00080016", "")), str(uid.get("00080018", ""))
            if sop_class not in measure_lib.US_CLASSES or not sop_uid or \
                    self.spool.journal.known(sop_uid):
                continue
            try:
                data = self._retrieve(uid["0020000D"], uid["0020000E"], sop_uid)
            except OSError as err:
                if not _gone(err):
                    raise
                LOG.warning(json.dumps({"event": "pull_gone", "source": self.name}))
                continue  # deleted since the query: the next query no longer lists it
            if isinstance(data, str):  # over the limit: refused before it was all read
                self.spool.journal.add_dead(sop_uid, sop_class, data)
                continue
            instance_id = self.spool.store(data, sop_uid, sop_class, f"pull:{self.name}")
            if instance_id is not None:
                self.on_received(instance_id)
        return False

    def _retrieve(self, study: str, series: str, sop: str):
        """The instance's file as the PACS sends it (WADO-RS), read no further than the input
        byte limit; over it, the reason (a str). dicomweb-client's retrieve_instance reads the
        whole body and parses it with pydicom, with no bound: the reader checks the file later,
        under its limits, as it does a C-STORE's."""
        limit = images.max_input_bytes()
        over = f"over the {limit}-byte input limit"
        url = f"{self.url}/studies/{study}/series/{series}/instances/{sop}"
        with self.http.get(url, headers={"Accept": WADO_ACCEPT}, stream=True,
                           timeout=TIMEOUT_S) as r:
            r.raise_for_status()
            declared = int(r.headers.get("Content-Length") or 0)
            if declared > limit + MULTIPART_SLACK:
                return f"{declared} bytes, {over}"
            body = bytearray()
            for chunk in r.iter_content(1 << 20):
                body += chunk
                if len(body) > limit + MULTIPART_SLACK:
                    return f"more than {limit} bytes, {over}"
            data = _first_part(bytes(body), r.headers.get("Content-Type", ""))
        if len(data) > limit:
            return f"{len(data)} bytes, {over}"
        return data


def _first_part(body: bytes, content_type: str) -> bytes:
    """The first part of a multipart/related body (WADO-RS), or the body when it is not
    multipart (a server answering application/dicom)."""
    import re
    m = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    if not content_type.lower().startswith("multipart/") or not m:
        return body
    marker = b"--" + m.group(1).strip().encode("ascii", "replace")
    start = body.find(marker)
    head_end = body.find(b"\r\n\r\n", start)
    if start < 0 or head_end < 0:
        return b""  # no part: the reader refuses it as not DICOM, naming no value
    end = body.find(b"\r\n" + marker, head_end + 4)
    return body[head_end + 4:end if end >= 0 else len(body)]


def make(source: config_lib.Destination, spool: spool_lib.Spool,
         on_received: Callable[[int], None]) -> OrthancChanges:
    kind = DicomWebQuery if source.kind == "dicomweb" else OrthancChanges
    return kind(source, spool, on_received)
