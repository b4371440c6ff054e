"""The journal's retention ([node] journal_keep_days, hc_tf/node/retention.py): finished records
purged with their rows once old, records with work left kept however old, in one transaction,
and the option checked. Records are aged by writing their timestamps, never by sleeping."""

import json
import logging
import os
import sqlite3
import time

import pytest

pytest.importorskip("pydicom")

from click.testing import CliRunner  # noqa: E402

from hc_tf import cli  # noqa: E402
from hc_tf.node import config as config_lib  # noqa: E402
from hc_tf.node import journal as journal_lib  # noqa: E402
from hc_tf.node import retention as retention_lib  # noqa: E402
from hc_tf.node import spool as spool_lib  # noqa: E402
from tests import dicom_files  # noqa: E402

US = dicom_files.US_IMAGE
KEEP_DAYS = 30.0
OLD = (KEEP_DAYS + 1) * retention_lib.DAY_S  # seconds: past the limit
RECORDS = [{"filename": "a.dcm", "dicom": {"sop_instance_uid": "1.2.3"}}]
FOLDER = '[[destination]]\nkind = "folder"\npath = "out"\n'


def _spool(tmp_path):
    return spool_lib.Spool(str(tmp_path / "spool"), 10**6)


def _age(journal, instance_id, seconds):
    """Moves every timestamp of a record `seconds` into the past."""
    with journal.transaction() as db:
        db.execute("UPDATE instances SET received_at = received_at - :s, measured_at = "
                   "measured_at - :s, done_at = done_at - :s WHERE id = :id",
                   {"s": seconds, "id": instance_id})


def _image(spool, uid, dests=("pacs",), records=None):
    """A received instance, measured: one SR, a pending delivery to each of `dests`."""
    i = spool.store(b"x", uid, US, "SCAN")
    spool.journal.mark_measured(i, ["sr/a.sr.dcm", "fhir/a.fhir.json"], list(dests), 1.0,
                                records=records)
    return i


def _delivered(spool, uid, records=None):
    i = _image(spool, uid, records=records)
    assert spool.journal.delivery_done(i, "pacs", "sent")
    return i


def _ids(journal):
    return [r["id"] for r in journal._query("SELECT id FROM instances ORDER BY id")]


def _deliveries(journal):
    return [r["instance_id"] for r in journal._query(
        "SELECT instance_id FROM deliveries ORDER BY instance_id")]


def _purge(journal):
    return retention_lib.Retention(journal, KEEP_DAYS).purge()


def test_old_finished_records_go_with_their_deliveries_and_recent_ones_stay(tmp_path):
    spool = _spool(tmp_path)
    old, recent = _delivered(spool, "1.1"), _delivered(spool, "1.2")
    no_head = spool.store(b"x", "1.3", US, "SCAN")
    spool.journal.mark_measured(no_head, [], ["pacs"], 1.0, "no head found: no SR")  # done
    _age(spool.journal, old, OLD)
    _age(spool.journal, no_head, OLD)
    srs = spool.journal.sr_count()
    assert _purge(spool.journal) == 2
    assert _ids(spool.journal) == [recent] and _deliveries(spool.journal) == [recent]
    assert spool.journal.sr_count() == srs  # the SR instance numbers go on, not back
    assert _purge(spool.journal) == 0  # idempotent
    again = spool.store(b"x", "1.1", US, "SCAN")  # a resend of a purged instance
    assert again is not None and again > no_head  # new, measured again, its id never reused


def _received(spool):
    return spool.store(b"x", "2.1", US, "SCAN")


def _measured(spool):
    return _image(spool, "2.2")


def _dead_delivery(spool):
    i = _image(spool, "2.3")
    spool.journal.delivery_done(i, "pacs", "dead", "refused")
    assert spool.journal.row(i)["state"] == "done"
    return i


def _dead_letter(spool):
    i = spool.store(b"x", "2.4", US, "SCAN")
    spool.journal.mark_dead(i, "not DICOM")
    return i


def _waiting_for_its_report(spool):
    return _delivered(spool, "2.5", records=RECORDS)


def _report(spool, members, state):
    """A series report covering `members`: 'measured' (sending), 'sent' (done, delivered),
    'refused' (done, its delivery dead) or 'dead' (none could be built)."""
    report = spool.journal.begin_report("series")
    outputs = [] if state == "dead" else ["sr/r.obgyn.sr.dcm"]
    spool.journal.finish_report(report, members, outputs, ["pacs"], "refused" if
                                state == "dead" else None)
    if state in ("sent", "refused"):
        spool.journal.delivery_done(report, "pacs", "sent" if state == "sent" else "dead")
    return report


def _reported_by(state):
    def make(spool):
        i = _delivered(spool, "2.6", records=RECORDS)
        _report(spool, [i], state)
        return i
    return make


@pytest.mark.parametrize("make", [
    _received, _measured, _dead_delivery, _dead_letter, _waiting_for_its_report,
    _reported_by("measured"), _reported_by("refused"), _reported_by("dead"),
], ids=["received", "measured (a pending delivery)", "a dead delivery", "a dead letter",
        "records waiting for the series' report", "its report still sending",
        "its report refused", "its report dead"])
def test_a_record_with_work_left_is_kept_however_old(tmp_path, make):
    spool = _spool(tmp_path)
    i = make(spool)
    rows, deliveries = _ids(spool.journal), _deliveries(spool.journal)
    for r in rows:
        _age(spool.journal, r, 100 * OLD)
    assert _purge(spool.journal) == 0
    assert i in rows and _ids(spool.journal) == rows and _deliveries(spool.journal) == deliveries


def test_a_series_report_and_its_images_records_go_once_it_is_sent(tmp_path):
    spool = _spool(tmp_path)
    images = [_delivered(spool, "3.1", records=RECORDS), _delivered(spool, "3.2",
                                                                    records=RECORDS)]
    report = _report(spool, images, "sent")
    for r in images + [report]:
        _age(spool.journal, r, OLD)
    srs = spool.journal.sr_count()
    assert _purge(spool.journal) == 3
    assert _ids(spool.journal) == [] and _deliveries(spool.journal) == []
    assert spool.journal.sr_count() == srs == 3
    assert spool.journal.status()["series_reports"] == {"waiting": 0}


def test_a_purge_is_one_transaction(tmp_path):
    """A purge that fails midway (here: its last deletion) leaves the journal as it was."""
    spool = _spool(tmp_path)
    i = _delivered(spool, "4.1")
    _age(spool.journal, i, OLD)
    spool.journal._db.execute("CREATE TEMP TRIGGER crash BEFORE DELETE ON instances BEGIN "
                              "SELECT RAISE(ABORT, 'killed'); END")
    with pytest.raises(sqlite3.IntegrityError, match="killed"):
        retention_lib.purge(spool.journal, time.time() - KEEP_DAYS * retention_lib.DAY_S)
    assert _ids(spool.journal) == [i] and _deliveries(spool.journal) == [i]
    assert spool.journal.cursor(journal_lib.SRS_PURGED) == 0
    spool.journal._db.execute("DROP TRIGGER crash")
    assert _purge(spool.journal) == 1 and _purge(spool.journal) == 0
    assert spool.journal.cursor(journal_lib.SRS_PURGED) == 1


def test_the_purge_runs_hourly_and_logs_the_count_only(tmp_path, caplog):
    spool = _spool(tmp_path)
    clock = {"now": time.time(), "mono": 0.0}
    retention = retention_lib.Retention(spool.journal, KEEP_DAYS, now=lambda: clock["now"],
                                        monotonic=lambda: clock["mono"])
    i = _delivered(spool, "5.1.2.3.4.5")
    caplog.set_level(logging.INFO, logger="hc_tf.node")
    assert retention.tick() == 0 and _ids(spool.journal) == [i]  # the first tick purges
    clock["now"] += OLD  # the record is old now, but the hour has not passed
    assert retention.tick() == 0 and _ids(spool.journal) == [i]
    clock["mono"] += retention_lib.PURGE_EVERY_S
    assert retention.tick() == 1 and _ids(spool.journal) == []
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if "journal_purged" in r.getMessage()]
    assert lines == [{"event": "journal_purged", "records": 1}]
    assert "5.1.2.3.4.5" not in caplog.text


def test_purged_records_are_not_left_readable_in_the_files(tmp_path, monkeypatch):
    """secure_delete zeroes the deleted rows, and the WAL is emptied after a purge."""
    connect = sqlite3.connect

    def without_secure_delete(*args, **kwargs):  # as SQLite builds by default (Debian's: on)
        db = connect(*args, **kwargs)
        db.execute("PRAGMA secure_delete=OFF")
        return db

    monkeypatch.setattr(journal_lib.sqlite3, "connect", without_secure_delete)
    spool = _spool(tmp_path)
    uid = "1.2.826.0.1.3680043.99.424242"
    records = [{"filename": "a.dcm", "dicom": {"sop_instance_uid": uid, "hc_mm": 171.5}}]
    i = _delivered(spool, uid, records=records)
    report = _report(spool, [i], "sent")
    _delivered(spool, "8.1")  # recent: kept, on the same pages
    spool.journal.truncate_wal()  # as a long-running node's checkpoints would have
    for r in (i, report):
        _age(spool.journal, r, OLD)
    assert _purge(spool.journal) == 2 and len(_ids(spool.journal)) == 1
    for name in os.listdir(spool.root):
        if name.startswith(journal_lib.NAME):
            with open(os.path.join(spool.root, name), "rb") as f:
                assert uid.encode() not in f.read(), name


def test_a_node_purges_at_its_start_and_then_from_the_senders_loop(tmp_path, monkeypatch):
    from hc_tf import models
    from hc_tf.node import service
    from hc_tf.surfaces.demo import pool
    spool = _spool(tmp_path)
    i = _delivered(spool, "6.1")
    _age(spool.journal, i, OLD)
    spool.journal.close()
    monkeypatch.setattr(pool, "runner_pool", lambda model, size: object())
    cfg = config_lib.NodeConfig(spool=spool.root, allowed_calling_aets=("S",),
                                model=models.released_edge_model(), workers=1,
                                destinations=(config_lib.Destination("folder", "copy", (
                                    ("path", str(tmp_path / "out")),)),))
    node = service.Node(cfg)
    assert _ids(node.spool.journal) == []
    assert node.retention.tick in node.sender.ticks


@pytest.mark.parametrize("value", ["0", "-1", '"30"', "true", "nan", "inf"])
def test_journal_keep_days_is_checked(tmp_path, value):
    path = tmp_path / "node.toml"
    path.write_text(f'[node]\nspool = "s"\nallow_any_calling_aet = true\n'
                    f'journal_keep_days = {value}\n' + FOLDER)
    with pytest.raises(config_lib.ConfigError, match=r"node\.toml: \[node\] journal_keep_days "
                       r".*: days > 0"):
        config_lib.load(str(path))
    result = CliRunner().invoke(cli.main, ["node", "serve", "--config", str(path)])
    assert result.exit_code != 0 and "journal_keep_days" in result.output
    assert "Traceback" not in result.output


def test_journal_keep_days_defaults_to_a_month_and_outlasts_a_dicomweb_pulls_window(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text('[node]\nspool = "s"\nallow_any_calling_aet = true\njournal_keep_days = 0.5\n'
                    + FOLDER)
    assert config_lib.load(str(path)).journal_keep_days == 0.5
    assert config_lib.NodeConfig(spool="s").journal_keep_days == 30.0
    pull = '[[pull]]\nkind = "dicomweb"\nname = "pacs"\nurl = "http://p/dicom-web"\ndays = 7\n'
    path.write_text('[node]\nspool = "s"\njournal_keep_days = 7\n' + FOLDER + pull)
    with pytest.raises(config_lib.ConfigError, match=r"node\.toml: \[node\] journal_keep_days 7: "
                       r"at least 8 \(pull 'pacs' asks for the last 7 days"):
        config_lib.load(str(path))
    path.write_text('[node]\nspool = "s"\njournal_keep_days = 8\n' + FOLDER + pull)
    assert config_lib.load(str(path)).journal_keep_days == 8


def test_status_shows_the_journals_records_and_the_oldest_ones_age(tmp_path):
    spool = _spool(tmp_path)
    i = _image(spool, "7.1")
    _age(spool.journal, i, 3 * retention_lib.DAY_S)
    _delivered(spool, "7.2")
    path = tmp_path / "node.toml"
    path.write_text(f'[node]\nspool = "{spool.root}"\nallowed_calling_aets = ["S"]\n'
                    'journal_keep_days = 14\n' + FOLDER)
    shown = CliRunner().invoke(cli.main, ["node", "status", "--config", str(path)])
    assert shown.exit_code == 0, shown.output
    assert ("journal: 2 record(s), the oldest 3.0 days old; finished ones are deleted after 14 "
            "days (journal_keep_days)") in shown.output
    doc = json.loads(CliRunner().invoke(cli.main, ["node", "status", "--config", str(path),
                                                   "--json"]).output)
    assert doc["journal"]["records"] == 2
    assert doc["journal"]["oldest_age_s"] == pytest.approx(3 * retention_lib.DAY_S, abs=60)


def test_a_dead_letter_goes_once_forget_dead_has_deleted_its_image_and_it_is_old(tmp_path):
    """A dead letter stays for `status` until a person has seen to it (`forget-dead`); after
    that its record is purged like a finished one, once old, so the journal does not keep
    every dead letter's UID for as long as the spool lives."""
    spool = _spool(tmp_path)

    def dead_letter(uid):
        i = spool.store(b"x", uid, US, "SCAN")
        spool.journal.mark_dead(i, "not DICOM")
        return i
    seen, unseen_old, seen_recent = (dead_letter(uid) for uid in ("2.7", "2.8", "2.9"))
    _age(spool.journal, unseen_old, OLD)
    spool.forget_dead()  # all three images deleted
    _age(spool.journal, seen, OLD)
    with spool.journal.transaction() as db:  # the unseen one: its image never forgotten
        db.execute("UPDATE instances SET file = 'kept.dcm' WHERE id = ?", (unseen_old,))
    assert _purge(spool.journal) == 1
    assert _ids(spool.journal) == [unseen_old, seen_recent]
