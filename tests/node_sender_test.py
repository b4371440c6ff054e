"""The node's sender without a network: what its `done` line says of each instance's
deliveries, a destination that hangs holding up no other, and one `done` per instance."""

import json
import logging
import os
import threading
import time

import pytest

pytest.importorskip("pydicom")

from hc_tf.node import config as config_lib  # noqa: E402
from hc_tf.node import destinations as dest_lib  # noqa: E402
from hc_tf.node import spool as spool_lib  # noqa: E402
from hc_tf.node import worker as worker_lib  # noqa: E402
from tests import dicom_files  # noqa: E402

US = dicom_files.US_IMAGE


class _Dest:
    def __init__(self, error=None):
        self.error, self.calls = error, 0

    def send(self, files):
        self.calls += 1
        if self.error:
            raise self.error


class _Hangs:
    """A PACS that accepts the association and never answers, until `release`."""

    def __init__(self):
        self.entered, self.release = threading.Event(), threading.Event()

    def send(self, files):
        self.entered.set()
        self.release.wait(30)
        raise dest_lib.Retry("hangs: no C-STORE response")


def _with_srs(spool, uid, dests):
    i = spool.store(b"x", uid, US, "SCAN")
    sr = os.path.join(spool.out_dir(i), "sr", f"{i}.sr.dcm")
    os.makedirs(os.path.dirname(sr))
    with open(sr, "wb") as f:
        f.write(b"sr")
    spool.journal.mark_measured(i, [f"sr/{i}.sr.dcm"], dests, 1.0)
    return i


def _lines(caplog, event):
    return [(r.levelno, json.loads(r.getMessage())) for r in caplog.records
            if r.name == "hc_tf.node" and r.getMessage().startswith("{")
            and json.loads(r.getMessage())["event"] == event]


def test_the_done_line_says_how_many_deliveries_were_sent_and_how_many_died(tmp_path, caplog):
    """It had said `{"event": "done", ..., "srs": 1}` at INFO for an image whose SR a PACS
    refused (0xC000) or whose destination was gone: as if delivered."""
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    good = _with_srs(spool, "1.2.3", ["pacs"])
    refused = _with_srs(spool, "1.2.4", ["pacs", "web", "gone"])
    dests = {"pacs": _Dest(), "web": _Dest(dest_lib.Refused("web: C-STORE status 0xC000"))}
    worker_lib.Sender(spool, dests, 1, 1).send_due()
    done = {line["id"]: (level, line) for level, line in _lines(caplog, "done")}
    level, line = done[good]
    assert level == logging.INFO and (line["delivered"], line["undelivered"]) == (1, 0)
    assert line["srs"] == 1 and "last_send_ms" in line and "received_to_end_s" in line
    level, line = done[refused]
    assert level == logging.WARNING and (line["delivered"], line["undelivered"]) == (1, 2)
    assert line["srs"] == 1  # the fields monitors read are all still there
    dead = sorted(line["dest"] for _, line in _lines(caplog, "delivery_dead"))
    assert dead == ["gone", "web"]
    assert os.path.isdir(spool.out_dir(refused))  # kept for a resend
    assert not os.path.isdir(spool.out_dir(good))


def test_the_last_delivery_is_reported_done_once(tmp_path):
    """Two destinations' threads finishing an instance at once: only the one whose
    transaction made it done is told so (each had read the state after both commits: two
    `done` lines, the SRs deleted twice)."""
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    i = _with_srs(spool, "1.2.3", ["pacs", "web"])
    assert not spool.journal.delivery_done(i, "pacs", "sent")
    assert spool.journal.delivery_done(i, "web", "sent")
    assert not spool.journal.delivery_done(i, "pacs", "sent")  # read after the other's commit
    assert spool.journal.delivery_counts(i) == {"sent": 2, "dead": 0, "pending": 0}


def test_a_destination_that_hangs_holds_up_no_other(tmp_path):
    """A PACS that accepts the association and never answers: a folder destination gets each
    SR at once (it had waited for the hung one's timeout and retries, one sender loop serving
    every destination), the hung one's deliveries wait for it, in order, each sent once."""
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    first = _with_srs(spool, "1.2.3", ["pacs"])
    second = _with_srs(spool, "1.2.4", ["pacs", "archive"])
    hangs = _Hangs()
    folder = dest_lib.Folder(config_lib.Destination("folder", "archive",
                                                    (("path", str(tmp_path / "archive")),)))
    sender = worker_lib.Sender(spool, {"pacs": hangs, "archive": folder}, 60, 60)
    sender.start()
    try:
        assert hangs.entered.wait(10)
        copied = tmp_path / "archive" / "sr" / f"{second}.sr.dcm"
        end = time.monotonic() + 5
        while not copied.exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert copied.exists(), "the folder waited for the hung PACS"
        status = spool.journal.status()["destinations"]
        assert status["archive"] == {"pending": 0, "sent": 1, "dead": 0}
        assert status["pacs"]["pending"] == 2
        assert spool.journal.row(first)["state"] == "measured"
    finally:
        hangs.release.set()
        sender.stop(5)
    assert spool.journal.attempts(first, "pacs") == 1  # retried later, with backoff
    assert spool.journal.attempts(second, "pacs") == 0  # after the first, not beside it


def test_deliveries_to_a_destination_no_longer_configured_die_while_others_send(tmp_path):
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    i = _with_srs(spool, "1.2.3", ["old", "pacs"])
    sender = worker_lib.Sender(spool, {"pacs": _Dest()}, 1, 1)
    sender.start()
    try:
        end = time.monotonic() + 10
        while spool.journal.row(i)["state"] != "done" and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        sender.stop(5)
    assert spool.journal.status()["undelivered"] == [
        {"id": i, "dest": "old", "error": "old: no longer configured"}]
