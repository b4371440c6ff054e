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


class _FailsOnce:
    """A destination whose send raises an error nobody expected, once, then works."""

    def __init__(self, error):
        self.error, self.calls = error, 0

    def send(self, files):
        self.calls += 1
        if self.calls == 1:
            raise self.error


def _wait_for(condition, timeout=10.0):
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        time.sleep(0.05)
    return condition()


def test_an_unexpected_error_in_a_send_stops_its_destination_for_no_longer_than_a_backoff(
        tmp_path, caplog):
    """A destination's send that raised something other than Retry, Refused or OSError (a
    bug; a journal "database is locked" after its wait) had ended its thread: that destination
    got nothing more until a restart, with no JSON line (a traceback on stderr only)."""
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    i = _with_srs(spool, "1.2.840.99.3", ["pacs"])
    pacs = _FailsOnce(RuntimeError("unexpected in 1.2.840.99.3"))
    sender = worker_lib.Sender(spool, {"pacs": pacs}, 0.05, 0.05)
    sender.start()
    try:
        assert _wait_for(lambda: spool.journal.row(i)["state"] == "done")
    finally:
        sender.stop(5)
    assert pacs.calls == 2  # the failed send, then the retry that delivered it
    assert spool.journal.status()["destinations"]["pacs"] == {"pending": 0, "sent": 1,
                                                              "dead": 0}
    errors = _lines(caplog, "internal_error")
    assert [level for level, _ in errors] == [logging.ERROR]
    line = errors[0][1]
    assert line["where"][-1].startswith("node_sender_test.py:")  # where it was raised
    assert {k: v for k, v in line.items() if k != "where"} == {
        "event": "internal_error", "while": "sending", "dest": "pacs",
        "error": "RuntimeError"}  # never its text (a UID here), no instance id


def test_a_busy_journal_stops_neither_a_lane_nor_the_periodic_work(tmp_path, caplog,
                                                                    monkeypatch):
    """sqlite3.OperationalError ("database is locked" after its wait) from the journal's
    due/next_due, or in the sender's own pass, had ended the thread: the destination, or the
    series reports and the journal's purge, stopped for good while the node looked healthy."""
    import sqlite3
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    i = _with_srs(spool, "1.2.3", ["pacs"])
    journal, real_due = spool.journal, spool.journal.due
    locked = {"due": 1}

    def due(*args, **kw):
        if locked["due"]:
            locked["due"] -= 1
            raise sqlite3.OperationalError("database is locked")
        return real_due(*args, **kw)

    monkeypatch.setattr(journal, "due", due)
    ticks = []

    def tick():
        ticks.append(1)
        if len(ticks) == 1:
            raise sqlite3.OperationalError("database is locked")
        return 0

    pacs = _Dest()
    sender = worker_lib.Sender(spool, {"pacs": pacs}, 0.05, 0.05)
    sender.ticks.append(tick)
    sender.start()
    try:
        assert _wait_for(lambda: spool.journal.row(i)["state"] == "done" and len(ticks) > 2)
    finally:
        sender.stop(5)
    assert pacs.calls == 1
    errors = sorted((line["while"], line.get("dest", "")) for _, line in
                    _lines(caplog, "internal_error"))
    assert errors == [("periodic work", ""), ("sending", "pacs")]
    assert all(line["error"] == "OperationalError: database is locked"
               for _, line in _lines(caplog, "internal_error"))


def _config(tmp_path, spool, names):
    path = tmp_path / "node.toml"
    path.write_text(f'[node]\nspool = "{spool.root}"\nallowed_calling_aets = ["S"]\n' + "".join(
        f'[[destination]]\nname = "{n}"\nkind = "folder"\npath = "{tmp_path / n}"\n'
        for n in names))
    return str(path)


def test_a_renamed_destinations_stranded_deliveries_go_to_its_new_name(tmp_path):
    """A destination renamed in the config (pacs -> pacs2): its waiting deliveries had died
    "no longer configured", `resend --dest pacs` failed ("not a destination") and a plain
    resend queued 0. `resend --from pacs --dest pacs2` sends them to pacs2; one pacs2 already
    has stands for its pacs delivery (no second SR), one it refused is queued again."""
    from click.testing import CliRunner

    from hc_tf import cli
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    waiting = _with_srs(spool, "1.2.3", ["pacs"])
    also_new = _with_srs(spool, "1.2.4", ["pacs", "pacs2"])
    refused_new = _with_srs(spool, "1.2.5", ["pacs", "pacs2"])
    dests = {"pacs2": _Dest()}
    sender = worker_lib.Sender(spool, dests, 1, 1)
    spool.journal.delivery_done(refused_new, "pacs2", "dead", "pacs2: C-STORE status 0xC000")
    sender.send_due()  # the node restarted with the renamed destination
    assert {(u["id"], u["dest"]) for u in spool.journal.status()["undelivered"]} == {
        (waiting, "pacs"), (also_new, "pacs"), (refused_new, "pacs"), (refused_new, "pacs2")}
    path = _config(tmp_path, spool, ["pacs2"])
    run = CliRunner().invoke
    old = run(cli.main, ["node", "resend", "--config", path, "--dest", "pacs"])
    assert old.exit_code == 2 and "--from pacs --dest NEW" in old.output, old.output
    plain = run(cli.main, ["node", "resend", "--config", path])
    assert plain.exit_code == 0, plain.output
    assert "queued 1 refused delivery again" in plain.output  # pacs2's own refusal
    assert "3 refused deliveries to 'pacs', no longer a destination" in plain.output
    assert "--from pacs --dest NEW" in plain.output
    alone = run(cli.main, ["node", "resend", "--config", path, "--from", "pacs"])
    assert alone.exit_code == 2 and "--from OLD needs --dest NEW" in alone.output
    moved = run(cli.main, ["node", "resend", "--config", path, "--from", "pacs", "--dest",
                           "pacs2"])
    assert moved.exit_code == 0, moved.output
    assert "queued 1 refused delivery again" in moved.output, moved.output  # `waiting`; pacs2 stands for the others
    assert "no longer a destination" not in moved.output
    assert not os.path.isdir(spool.out_dir(also_new))  # pacs2 has it: nothing left to send
    assert spool.journal.row(also_new)["state"] == "done"
    assert spool.journal.status()["undelivered"] == []
    dests["pacs2"].calls = 0
    sender.send_due()
    assert dests["pacs2"].calls == 2
    for i in (waiting, also_new, refused_new):
        assert spool.journal.row(i)["state"] == "done"
        assert {r["dest"] for r in spool.journal._query(
            "SELECT dest FROM deliveries WHERE instance_id = ?", (i,))} == {"pacs2"}
    assert spool.journal.status()["destinations"]["pacs2"] == {"pending": 0, "sent": 3,
                                                               "dead": 0}


def test_resend_from_refuses_a_configured_or_unknown_old_destination(tmp_path):
    """`resend --from OLD` never checked OLD: a mistyped one printed "queued 0", and one still
    configured had its refused deliveries moved to NEW (--from is for a destination renamed or
    removed)."""
    from click.testing import CliRunner

    from hc_tf import cli
    spool = spool_lib.Spool(str(tmp_path / "spool"), 10**6)
    path = _config(tmp_path, spool, ["pacs2", "web"])
    run = CliRunner().invoke
    empty = run(cli.main, ["node", "resend", "--config", path, "--from", "pacs", "--dest",
                           "pacs2"])
    assert empty.exit_code == 1 and "no refused deliveries to 'pacs'" in empty.output
    assert "none are held" in empty.output, empty.output
    gone = _with_srs(spool, "1.2.3", ["pacs"])
    web = _with_srs(spool, "1.2.4", ["web"])
    spool.journal.delivery_done(gone, "pacs", "dead", "pacs: no longer configured")
    spool.journal.delivery_done(web, "web", "dead", "web: C-STORE status 0xC000")
    still = run(cli.main, ["node", "resend", "--config", path, "--from", "web", "--dest",
                           "pacs2"])
    assert still.exit_code == 2 and "'web' is still a destination" in still.output
    assert "resend --dest web" in still.output, still.output
    typo = run(cli.main, ["node", "resend", "--config", path, "--from", "pacz", "--dest",
                          "pacs2"])
    assert typo.exit_code == 1 and "no refused deliveries to 'pacz'" in typo.output
    assert "those held are to 'pacs' (1), 'web' (1)" in typo.output, typo.output
    assert "1.2.3" not in typo.output and "queued" not in typo.output
    assert {(u["id"], u["dest"]) for u in spool.journal.status()["undelivered"]} == {
        (gone, "pacs"), (web, "web")}  # nothing moved
    moved = run(cli.main, ["node", "resend", "--config", path, "--from", "pacs", "--dest",
                           "pacs2"])
    assert moved.exit_code == 0 and "queued 1 refused delivery again" in moved.output
