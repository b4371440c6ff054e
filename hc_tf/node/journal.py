"""The spool's journal (SQLite): each received instance's state, keyed by SOP Instance UID.

States: `received` (on disk, acknowledged) -> `measured` (SRs in the spool, one delivery per
destination) -> `done` (every delivery sent, or no head found: no SR); or `dead` (can never
succeed: the reason says why). A delivery is `pending` (with its next try), `sent` or `dead`.
Every change is one committed transaction, so a SIGKILL leaves a state to resume from.

A series' OB-GYN report is a row of kind `series_report` (`building` while its file is written,
then `measured`/`done`/`dead` as an image's), delivered as an image's SRs are but only once its
images' SRs are sent to that destination. Its images keep their report records (`records`,
JSON) and the report that covered them (`report`); `series` is a hash of the study and series
UIDs, set on receipt.

A finished record is deleted once `[node] journal_keep_days` old (retention.py).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from hc_tf.node import journal_status

NAME = "journal.sqlite"
BUSY_MS = 30000  # how long a write waits for another process's lock
_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  sop_uid TEXT UNIQUE NOT NULL,
  file TEXT, sop_class TEXT, calling_aet TEXT, bytes INTEGER,
  state TEXT NOT NULL, reason TEXT, outputs TEXT,
  received_at REAL, measured_at REAL, done_at REAL, measure_ms REAL,
  measure_starts INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS deliveries (
  instance_id INTEGER NOT NULL, dest TEXT NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_try REAL NOT NULL DEFAULT 0, last_error TEXT, sent_at REAL,
  PRIMARY KEY (instance_id, dest));
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS by_state ON instances(state);
CREATE INDEX IF NOT EXISTS by_due ON deliveries(state, next_try);
"""
# Columns added since the first spools: (name, declaration), added to an older journal on open.
_ADDED = (("measure_starts", "INTEGER NOT NULL DEFAULT 0"), ("kind", "TEXT NOT NULL DEFAULT "
          "'image'"), ("series", "TEXT"), ("records", "TEXT"), ("report", "INTEGER"))
_INDEXES = """
CREATE INDEX IF NOT EXISTS by_series ON instances(series);
CREATE INDEX IF NOT EXISTS by_report ON instances(report);
CREATE INDEX IF NOT EXISTS by_waiting ON instances(series) WHERE kind = 'image' AND records IS
  NOT NULL AND report IS NULL;
"""
_WAITING, REPORT = journal_status.WAITING, journal_status.REPORT
# The SRs of the records purged (retention.py), a cursor: the SR instance numbers go on.
SRS_PURGED = "srs_purged"
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR


class Journal(journal_status.StatusQueries):
    """One connection shared by the node's threads, serialised by a lock."""

    def __init__(self, path: str, readonly: bool = False):
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self._db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_MS / 1000)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        if not readonly:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss
            # A purged record's bytes are overwritten with zeros, not left in free pages.
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
            columns = {r["name"] for r in self._db.execute("PRAGMA table_info(instances)")}
            for name, declaration in _ADDED:  # a spool made before the column existed
                if name not in columns:
                    self._db.execute(f"ALTER TABLE instances ADD COLUMN {name} {declaration}")
            self._db.executescript(_INDEXES)

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one transaction: committed when the block ends, rolled back
        when it raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _tx(self, statements: Sequence[Tuple[str, Sequence[Any]]]) -> List[sqlite3.Cursor]:
        with self.transaction() as db:
            return [db.execute(sql, args) for sql, args in statements]

    def truncate_wal(self, busy_ms: int = 1000) -> None:
        """Copies the WAL into the database and empties it (what a purge deleted is then in
        neither file); waits for another process's reader `busy_ms` at most, not the 30 s
        the node's writes wait, since the node's threads wait for the lock meanwhile."""
        with self._lock:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                self._db.execute(f"PRAGMA busy_timeout = {BUSY_MS}")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> List[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def known(self, sop_uid: str) -> bool:
        return bool(self._query("SELECT 1 FROM instances WHERE sop_uid = ?", (sop_uid,)))

    def add_received(self, sop_uid: str, file: str, sop_class: str, calling_aet: str, size: int,
                     series: Optional[str] = None) -> Optional[int]:
        """Records an instance on disk; returns its id, or None when the UID is known already."""
        try:
            cur = self._tx([("INSERT INTO instances (sop_uid, file, sop_class, calling_aet, bytes, "
                             "state, received_at, series) VALUES (?, ?, ?, ?, ?, 'received', ?, ?)",
                             (sop_uid, file, sop_class, calling_aet, size, time.time(), series))])[0]
        except sqlite3.IntegrityError:
            return None
        return cur.lastrowid

    def add_dead(self, sop_uid: str, sop_class: str, reason: str) -> None:
        """Records an instance refused on receipt (nothing spooled), unless known."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO instances (sop_uid, sop_class, state, reason, "
                             "received_at, done_at) VALUES (?, ?, 'dead', ?, ?, ?)",
                             (sop_uid, sop_class, reason, time.time(), time.time()))

    def files(self) -> set:
        """The image files still needed: to measure, or kept as dead letters."""
        return {r["file"] for r in self._query("SELECT file FROM instances WHERE file IS NOT NULL "
                                               "AND state IN ('received', 'dead')")}

    def forget_dead(self) -> List[str]:
        """Lets the dead letters' images go (their rows and reasons stay); returns the files."""
        rows = self._query("SELECT file FROM instances WHERE state = 'dead' AND file IS NOT NULL")
        self._tx([("UPDATE instances SET file = NULL WHERE state = 'dead'", ())])
        return [r["file"] for r in rows]

    def cursor(self, name: str) -> int:
        rows = self._query("SELECT value FROM cursors WHERE name = ?", (name,))
        return rows[0]["value"] if rows else 0

    def set_cursor(self, name: str, value: int) -> None:
        self._tx([("INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT(name) "
                   "DO UPDATE SET value = excluded.value", (name, value))])

    def sr_count(self) -> int:
        """SRs made so far, purged records' included (their instance numbers go on from here)."""
        rows = self._query("SELECT outputs FROM instances WHERE outputs IS NOT NULL")
        return self.cursor(SRS_PURGED) + sum(srs_in(r["outputs"]) for r in rows)

    def received(self) -> List[int]:
        """Ids waiting to be measured, oldest first."""
        return [r["id"] for r in self._query(
            "SELECT id FROM instances WHERE state = 'received' ORDER BY id")]

    def row(self, instance_id: int) -> sqlite3.Row:
        return self._query("SELECT * FROM instances WHERE id = ?", (instance_id,))[0]

    def begin_measuring(self, instance_id: int) -> None:
        """Counts a measurement begun, committed before any work: one that never ends (the
        node killed by a decoder's crash or the kernel's out-of-memory killer) stays counted."""
        self._tx([("UPDATE instances SET measure_starts = measure_starts + 1 WHERE id = ? "
                   "AND state = 'received'", (instance_id,))])

    def measuring_failed(self, instance_id: int) -> None:
        """Uncounts a measurement that ended in an error the node handles (a full disk: tried
        again), which is no crash."""
        self._tx([("UPDATE instances SET measure_starts = measure_starts - 1 WHERE id = ? "
                   "AND measure_starts > 0", (instance_id,))])

    def mark_measured(self, instance_id: int, outputs: List[str], dests: Sequence[str],
                      measure_ms: float, note: Optional[str] = None,
                      records: Optional[List[Dict[str, Any]]] = None) -> None:
        """The SRs are in the spool: one pending delivery per destination (none: done);
        `records`, the heads' report records, wait for their series' report."""
        now = time.time()
        state = "measured" if outputs and dests else "done"
        stmts = [("UPDATE instances SET state = ?, outputs = ?, measured_at = ?, measure_ms = ?, "
                  "reason = ?, done_at = ?, records = ? WHERE id = ? AND state = 'received'",
                  (state, json.dumps(outputs), now, measure_ms, note,
                   now if state == "done" else None,
                   json.dumps(records) if records else None, instance_id))]
        if outputs:
            stmts += [("INSERT OR IGNORE INTO deliveries (instance_id, dest, state) "
                       "VALUES (?, ?, 'pending')", (instance_id, d)) for d in dests]
        self._tx(stmts)

    def series_due(self, idle_since: float) -> List[str]:
        """The series to report: an image of it waits for a report, none came after
        `idle_since`, and none is still to measure; oldest first."""
        return [r["series"] for r in self._query(
            "SELECT series FROM instances WHERE kind = 'image' AND series IN (SELECT series FROM "
            f"{_WAITING}) GROUP BY series HAVING MAX(received_at) <= ? AND SUM(state = 'received') = 0 "
            "ORDER BY MIN(id)", (idle_since,))]

    def series_members(self, series: str) -> List[sqlite3.Row]:
        """A series' images with report records, in arrival order (every one: a series that
        grew after its report gets a new one covering all)."""
        return self._query("SELECT id, records, report FROM instances WHERE kind = 'image' AND "
                           "series = ? AND records IS NOT NULL ORDER BY id", (series,))

    def begin_report(self, series: str) -> int:
        """A series report's row while its file is written (`drop_building` after a crash)."""
        import uuid
        now = time.time()
        return self._tx([("INSERT INTO instances (sop_uid, kind, series, sop_class, state, "
                          "received_at) VALUES (?, ?, ?, ?, 'building', ?)",
                          (f"{REPORT}:{uuid.uuid4().hex}", REPORT, series, SR_CLASS, now))])[0] \
            .lastrowid

    def finish_report(self, report_id: int, members: Sequence[int], outputs: List[str],
                      dests: Sequence[str], reason: Optional[str]) -> None:
        """The report is in the spool (or `reason` says why there is none: dead); its images
        are covered by it, in the same transaction."""
        now = time.time()
        state = "dead" if not outputs else "measured" if dests else "done"
        stmts = [("UPDATE instances SET state = ?, outputs = ?, measured_at = ?, reason = ?, "
                  "done_at = ? WHERE id = ?", (state, json.dumps(outputs), now, reason,
                                               None if state == "measured" else now, report_id))]
        stmts += [("UPDATE instances SET report = ? WHERE id = ?", (report_id, m))
                  for m in members]
        if outputs:
            stmts += [("INSERT OR IGNORE INTO deliveries (instance_id, dest, state) "
                       "VALUES (?, ?, 'pending')", (report_id, d)) for d in dests]
        self._tx(stmts)

    def drop_building(self) -> int:
        """Forgets the reports a crash left half-written (built again); returns how many."""
        return self._tx([("DELETE FROM instances WHERE kind = ? AND state = 'building'",
                          (REPORT,))])[0].rowcount

    def forget_waiting(self) -> int:
        """Drops the records of the images waiting for their series' report ([node]
        obgyn_report turned off: none is built, none waits); returns how many."""
        return self._tx([(f"UPDATE instances SET records = NULL WHERE id IN (SELECT id FROM "
                          f"{_WAITING})", ())])[0].rowcount

    def headers_to_keep(self) -> set:
        """The images whose headers the spool keeps: measured, their series not yet reported."""
        return {r["id"] for r in self._query(
            "SELECT id FROM instances WHERE kind = 'image' AND records IS NOT NULL AND "
            "report IS NULL AND state != 'received'")}

    def mark_dead(self, instance_id: int, reason: str) -> None:
        self._tx([("UPDATE instances SET state = 'dead', reason = ?, done_at = ? WHERE id = ?",
                   (reason, time.time(), instance_id))])

    def due(self, now: float, limit: int = 32, dest: Optional[str] = None) -> List[sqlite3.Row]:
        """Pending deliveries (to `dest`, or any) whose next try has come, oldest first; a
        series report's only once its images' SRs have left for that destination."""
        return self._query("SELECT d.*, i.outputs FROM deliveries d JOIN instances i "
                           "ON i.id = d.instance_id WHERE d.state = 'pending' AND d.next_try "
                           "<= ? AND (? IS NULL OR d.dest = ?) AND NOT EXISTS (SELECT 1 FROM "
                           "instances m JOIN deliveries md ON md.instance_id = m.id WHERE "
                           "m.report = d.instance_id AND md.dest = d.dest AND md.state = "
                           "'pending') ORDER BY d.next_try, d.instance_id LIMIT ?",
                           (now, dest, dest, limit))

    def next_due(self, dest: Optional[str] = None) -> Optional[float]:
        """When the next pending delivery (to `dest`, or any) is due; None when none waits."""
        rows = self._query("SELECT MIN(next_try) AS t FROM deliveries WHERE state = 'pending' "
                           "AND (? IS NULL OR dest = ?)", (dest, dest))
        return rows[0]["t"] if rows and rows[0]["t"] is not None else None

    def pending_dests(self) -> set:
        """The destinations with a delivery pending."""
        return {r["dest"] for r in self._query(
            "SELECT DISTINCT dest FROM deliveries WHERE state = 'pending'")}

    def delivery_done(self, instance_id: int, dest: str, state: str,
                      error: Optional[str] = None) -> bool:
        """Marks a delivery sent or dead; returns True when it was the instance's last one:
        to exactly one caller, whose transaction made the instance `done` (each destination
        has its own sender thread, and two finishing an instance at once had both seen it
        done afterwards: two `done` lines, two deletions of its SRs)."""
        now = time.time()
        return self._tx([
            ("UPDATE deliveries SET state = ?, sent_at = ?, last_error = ? "
             "WHERE instance_id = ? AND dest = ?", (state, now, error, instance_id, dest)),
            ("UPDATE instances SET state = 'done', done_at = ? WHERE id = ? AND state = "
             "'measured' AND NOT EXISTS (SELECT 1 FROM deliveries WHERE instance_id = ? "
             "AND state = 'pending')", (now, instance_id, instance_id))])[1].rowcount == 1

    def delivery_counts(self, instance_id: int) -> Dict[str, int]:
        """The instance's deliveries by state: {"sent": n, "dead": m, "pending": k}."""
        counts = {"sent": 0, "dead": 0, "pending": 0}
        for r in self._query("SELECT state, COUNT(*) AS n FROM deliveries WHERE instance_id = ? "
                             "GROUP BY state", (instance_id,)):
            counts[r["state"]] = r["n"]
        return counts

    def undelivered(self, instance_id: int) -> bool:
        """Whether a delivery of the instance is dead: its SRs reached not every destination."""
        return bool(self._query("SELECT 1 FROM deliveries WHERE instance_id = ? AND state = "
                                "'dead' LIMIT 1", (instance_id,)))

    def undelivered_done(self) -> List[int]:
        """The finished instances with a dead delivery: their SRs were kept in the spool."""
        return [r["instance_id"] for r in self._query(
            "SELECT DISTINCT d.instance_id FROM deliveries d JOIN instances i ON i.id = "
            "d.instance_id WHERE d.state = 'dead' AND i.state = 'done' ORDER BY d.instance_id")]

    def refused(self) -> List[sqlite3.Row]:
        """The dead deliveries, by instance."""
        return self._query("SELECT instance_id, dest FROM deliveries WHERE state = 'dead' "
                           "ORDER BY instance_id, dest")

    def resend(self, deliveries: Sequence[Tuple[int, str]]) -> int:
        """Makes dead deliveries pending and due, their tries counted afresh (a destination
        corrected by hand: a PACS that now takes the SR); their instances are `measured`
        again, so their SRs are kept until sent. Returns how many."""
        stmts = [("UPDATE deliveries SET state = 'pending', attempts = 0, next_try = 0, "
                  "sent_at = NULL WHERE instance_id = ? AND dest = ? AND state = 'dead'",
                  (i, d)) for i, d in deliveries]
        stmts += [("UPDATE instances SET state = 'measured', done_at = NULL WHERE id = ? AND "
                   "state = 'done'", (i,)) for i in sorted({i for i, _ in deliveries})]
        return sum(c.rowcount for c in self._tx(stmts)[:len(deliveries)])

    def redirect(self, instance_ids: Sequence[int], old: str, new: str) -> int:
        """Moves the instances' dead deliveries to `old` (a destination renamed or removed:
        "no longer configured") to `new`, pending and due, their tries counted afresh; where
        the instance has a delivery to `new` already, that one stands for it (made pending
        again if dead) and the one to `old` goes. Their instances are `measured` again while a
        delivery is pending. Returns how many deliveries were queued."""
        queued: List[sqlite3.Cursor] = []
        with self.transaction() as db:
            for i in instance_ids:
                if not db.execute("SELECT 1 FROM deliveries WHERE instance_id = ? AND dest = ? "
                                  "AND state = 'dead'", (i, old)).fetchall():
                    continue
                queued.append(db.execute(
                    "UPDATE deliveries SET state = 'pending', attempts = 0, next_try = 0, "
                    "sent_at = NULL WHERE instance_id = ? AND dest = ? AND state = 'dead'",
                    (i, new)))
                db.execute("DELETE FROM deliveries WHERE instance_id = ? AND dest = ? AND "
                           "EXISTS (SELECT 1 FROM deliveries WHERE instance_id = ? AND dest = ?)",
                           (i, old, i, new))
                queued.append(db.execute(
                    "UPDATE deliveries SET dest = ?, state = 'pending', attempts = 0, "
                    "next_try = 0, sent_at = NULL WHERE instance_id = ? AND dest = ? AND "
                    "state = 'dead'", (new, i, old)))
                db.execute("UPDATE instances SET state = 'measured', done_at = NULL WHERE id = ? "
                           "AND state = 'done' AND EXISTS (SELECT 1 FROM deliveries WHERE "
                           "instance_id = ? AND state = 'pending')", (i, i))
            return sum(c.rowcount for c in queued)

    def outputs_to_keep(self) -> set:
        """The instances whose SRs the spool keeps: deliveries pending, or one refused (sent
        by hand)."""
        rows = self._query("SELECT id FROM instances WHERE state = 'measured'")
        return {r["id"] for r in rows} | set(self.undelivered_done())

    def delivery_retry(self, instance_id: int, dest: str, next_try: float, error: str) -> None:
        self._tx([("UPDATE deliveries SET attempts = attempts + 1, next_try = ?, last_error = ? "
                   "WHERE instance_id = ? AND dest = ?", (next_try, error, instance_id, dest))])

    def retry_now(self) -> int:
        """Makes every pending delivery due (at a start: the config may have been corrected,
        so the backlog need not wait out its backoff); returns how many."""
        return self._tx([("UPDATE deliveries SET next_try = 0 WHERE state = 'pending'",
                          ())])[0].rowcount

    def attempts(self, instance_id: int, dest: str) -> int:
        rows = self._query("SELECT attempts FROM deliveries WHERE instance_id = ? AND dest = ?",
                           (instance_id, dest))
        return rows[0]["attempts"] if rows else 0


def srs_in(outputs: Optional[str]) -> int:
    """The SRs among a record's `outputs` (JSON)."""
    return sum(1 for f in json.loads(outputs or "[]") if f.endswith(".sr.dcm"))
