"""The journal's retention (`[node] journal_keep_days`): storage limitation for the records of
finished instances.

A record is purged, with its deliveries, once it is `done`, last changed more than the limit
ago, and has no work left:
  - no delivery pending (the sender's) or dead (its SRs wait in out/ to be sent by hand;
    `forget-dead` deletes those files, the record stays for `status`);
  - an image with report records ([node] obgyn_report) only once its series' report covers it
    and that report is itself finished (sent everywhere): until then the report, or a new one
    after a resend, needs the records.
A dead letter goes as well once `forget-dead` has deleted its image (a person has seen to it)
and it died more than the limit ago. Every other record stays however old: `received` and
`measured` ones (work in hand), dead letters not yet seen to (for a person to read in
`status`), a series report being built or sent.

A purged instance is unknown again: a resend of it is measured and delivered again (docs/node.md
says what a PACS and a FHIR server then see). The SRs it had are counted on (`SRS_PURGED`), so
the SR instance numbers do not repeat. The file keeps its size (the freed pages hold the next
records; no VACUUM: an existing file gets `auto_vacuum` only by one, a rewrite of it all), and
the purged rows are overwritten with zeros (`secure_delete`) and the WAL emptied after a purge,
so the journal's files do not keep what was deleted readable.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from typing import Callable

from hc_tf.node import journal as journal_lib

LOG = logging.getLogger("hc_tf.node")
DAY_S = 86400.0
PURGE_EVERY_S = 3600.0  # while the node runs; and once at its start

# A record with a delivery not sent: pending (the sender's work) or dead (kept for a person).
_UNSENT = ("EXISTS (SELECT 1 FROM deliveries d WHERE d.instance_id = {row}.id "
           "AND d.state != 'sent')")
# A series report not finished: being built, sending, dead, or with a delivery not sent.
_REPORT_UNFINISHED = ("EXISTS (SELECT 1 FROM instances r WHERE r.id = i.report AND "
                      "(r.state != 'done' OR " + _UNSENT.format(row="r") + "))")
_PURGEABLE = (
    "SELECT i.id FROM instances i WHERE COALESCE(i.done_at, i.measured_at, i.received_at) "
    "< :cutoff AND NOT " + _UNSENT.format(row="i") + " AND ("
    # finished; report records (an image's, obgyn_report) go only with a finished report
    # covering them
    "(i.state = 'done' AND (i.records IS NULL OR (i.report IS NOT NULL AND NOT "
    + _REPORT_UNFINISHED + "))) "
    # or a dead letter a person has seen to (`forget-dead` deleted its image)
    "OR (i.state = 'dead' AND i.kind = 'image' AND i.file IS NULL))")


def purge(journal: journal_lib.Journal, cutoff: float) -> int:
    """Deletes the finished records last changed before `cutoff` (a time.time()) and their
    deliveries, in one transaction; returns how many records."""
    with journal.transaction() as db:
        db.execute("CREATE TEMP TABLE IF NOT EXISTS purging (id INTEGER PRIMARY KEY)")
        db.execute("DELETE FROM purging")
        db.execute(f"INSERT INTO purging {_PURGEABLE}", {"cutoff": cutoff})
        srs = sum(journal_lib.srs_in(r["outputs"]) for r in db.execute(
            "SELECT outputs FROM instances WHERE id IN (SELECT id FROM purging)"))
        db.execute("DELETE FROM deliveries WHERE instance_id IN (SELECT id FROM purging)")
        count = db.execute("DELETE FROM instances WHERE id IN (SELECT id FROM purging)").rowcount
        db.execute("INSERT INTO cursors (name, value) VALUES (?, ?) ON CONFLICT(name) DO "
                   "UPDATE SET value = value + excluded.value", (journal_lib.SRS_PURGED, srs))
        db.execute("DELETE FROM purging")
    return count


class Retention:
    """Purges the journal at the node's start (`purge`) and then every `every_s` (`tick`,
    called on each turn of the sender's loop); `now` and `monotonic` are the clocks."""

    def __init__(self, journal: journal_lib.Journal, keep_days: float,
                 every_s: float = PURGE_EVERY_S, now: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic):
        self.journal, self.keep_s, self.every_s = journal, keep_days * DAY_S, every_s
        self._now, self._monotonic = now, monotonic
        self._last = None

    def tick(self) -> int:
        """Purges when `every_s` has passed since the last purge; returns how many records."""
        if self._last is not None and self._monotonic() - self._last < self.every_s:
            return 0
        return self.purge()

    def purge(self) -> int:
        """Purges now; returns how many records. A full disk or a busy journal: none, tried
        again at the next period (the records stay a little longer; nothing is lost)."""
        self._last = self._monotonic()
        try:
            count = purge(self.journal, self._now() - self.keep_s)
        except (OSError, sqlite3.Error) as err:
            LOG.warning(json.dumps({"event": "journal_purge_retry", "error": type(err).__name__}))
            return 0
        except Exception as err:  # noqa: BLE001  a bug must not stop the sender
            LOG.error(json.dumps({"event": "internal_error", "while": "journal purge",
                                  "error": type(err).__name__}))
            return 0
        if count:  # the count only: no UID, no patient data
            LOG.info(json.dumps({"event": "journal_purged", "records": count}))
            with contextlib.suppress(sqlite3.Error):  # a reader in the way: the next purge's
                self.journal.truncate_wal()
        return count
