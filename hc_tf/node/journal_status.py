"""The journal's report of itself (`hc-tf node status`, its `--json` the health check):
counts by state, dead letters, refused deliveries, each destination's backlog, the records
kept. A mixin of `journal.Journal`, read-only."""

from __future__ import annotations

import time
from typing import Any, Dict

# The images waiting for their series' report, by the index of them alone (a journal keeps
# every image for `journal_keep_days`; these are a few).
WAITING = ("instances INDEXED BY by_waiting WHERE kind = 'image' AND records IS NOT NULL AND "
           "report IS NULL")
REPORT = "series_report"  # a series' OB-GYN report's row kind


class StatusQueries:
    """`status()` over the journal's `_query`."""

    def status(self) -> Dict[str, Any]:
        """Counts by state, dead letters (id, reason), each destination's backlog, and the
        journal's records and the oldest one's age."""
        states = {r["state"]: r["n"] for r in self._query(
            "SELECT state, COUNT(*) AS n FROM instances WHERE kind = 'image' GROUP BY state")}
        reports = {r["state"]: r["n"] for r in self._query(
            "SELECT state, COUNT(*) AS n FROM instances WHERE kind = ? GROUP BY state", (REPORT,))}
        reports["waiting"] = self._query(
            f"SELECT COUNT(DISTINCT series) AS n FROM {WAITING}")[0]["n"]
        dead = [{"id": r["id"], "sop_class": r["sop_class"], "reason": r["reason"],
                 "kind": r["kind"]}
                for r in self._query("SELECT id, sop_class, reason, kind FROM instances "
                                     "WHERE state = 'dead' ORDER BY id")]
        undelivered = [{"id": r["instance_id"], "dest": r["dest"], "error": r["last_error"]}
                       for r in self._query("SELECT instance_id, dest, last_error FROM deliveries "
                                            "WHERE state = 'dead' ORDER BY instance_id, dest")]
        dests = {}
        for r in self._query("SELECT dest, state, COUNT(*) AS n, MAX(attempts) AS tries, "
                             "MIN(next_try) AS next_try FROM deliveries GROUP BY dest, state"):
            d = dests.setdefault(r["dest"], {"pending": 0, "sent": 0, "dead": 0})
            d[r["state"]] = r["n"]
            if r["state"] == "pending":
                d.update(max_attempts=r["tries"], next_try_in_s=max(0.0, r["next_try"] - time.time()))
        for r in self._query("SELECT dest, last_error FROM deliveries WHERE last_error IS NOT NULL "
                             "AND state != 'sent' ORDER BY rowid DESC"):
            dests.get(r["dest"], {}).setdefault("last_error", r["last_error"])
        return {"instances": states, "backlog": states.get("received", 0) +
                states.get("measured", 0) + reports.get("measured", 0), "dead_letters": dead,
                "series_reports": reports, "undelivered": undelivered,
                "destinations": dests, "journal": self._size()}

    def _size(self) -> Dict[str, Any]:
        """The records kept (images and reports, any state) and the oldest one's age."""
        row = self._query("SELECT COUNT(*) AS n, MIN(COALESCE(received_at, done_at)) AS first "
                          "FROM instances")[0]
        age = None if row["first"] is None else max(0.0, time.time() - row["first"])
        return {"records": row["n"], "oldest_age_s": age}

