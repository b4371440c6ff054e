"""A series' OB-GYN report (TID 5000, `[node] obgyn_report`): its measured images as one exam,
as `hc-tf predict` reports an exam (a DICOM file's study and series, `exams`).

A scanner sends a series' images over one association or one each, and nothing says which is
the last: a series is complete when no image of it came for `series_idle_s` and none is still
to measure. Its report is then built from its images' report records (kept in the journal) and
the first image's header (kept in the spool's hdr/, the image itself being gone once measured),
and delivered as an image's SRs are, after them. A series that grows after its report gets a
new one covering all its images (a new SOP instance; the first stays where it was sent).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hc_tf.node import measure as measure_lib
from hc_tf.node import spool as spool_lib
from hc_tf.surfaces import dicom_predict

LOG = logging.getLogger("hc_tf.node")
POLL_S = 0.5  # the journal is asked for complete series at most this often
RETRY_S = 5.0  # and after a full disk or a busy journal, this much later


class _Headers(dict):
    """filename -> pydicom header, read from hdr/ when asked (a report needs its first
    image's). An image reported before has no header left: another image of the series stands
    in with its UIDs (patient and study fields are the series', the evidence names the image)."""

    def __init__(self, spool: spool_lib.Spool, members: Sequence[Any]):
        super().__init__()
        self._spool = spool
        self._ids = {}  # filename -> (instance id, record)
        for m in members:
            for r in json.loads(m["records"]):
                self._ids.setdefault(r["filename"], (m["id"], r))
        self._unreported = [m["id"] for m in members if m["report"] is None]

    def __missing__(self, filename: str) -> Any:
        instance_id, record = self._ids[filename]
        ds = self._spool.read_header(instance_id)
        if ds is None:
            ds = next((h for h in map(self._spool.read_header, self._unreported)
                       if h is not None), None)
            if ds is None:  # write_exam_reports' refusal: the report's reason
                from hc_tf.report import dicom_sr_document
                raise dicom_sr_document.SRError("the series' image headers are gone from the spool")
            ds.SOPClassUID = record["dicom"]["sop_class_uid"]
            ds.SOPInstanceUID = record["dicom"]["sop_instance_uid"]
        self[filename] = ds
        return ds


class SeriesReporter:
    """Builds the complete series' reports; `tick` is called from the sender's loop."""

    def __init__(self, spool: spool_lib.Spool, run: measure_lib.NodeRun,
                 dest_names: List[str], idle_s: float):
        self.spool, self.run, self.dest_names, self.idle_s = spool, run, dest_names, idle_s
        self._checked = 0.0

    def tick(self) -> int:
        """Reports the series complete now (at most every POLL_S); returns how many. After a
        full disk, a busy journal or a bug, the next try is RETRY_S later."""
        if time.monotonic() - self._checked < POLL_S:
            return 0
        self._checked = time.monotonic()
        try:
            return self.report_due(time.time())
        except (OSError, sqlite3.Error) as err:
            LOG.warning(json.dumps({"event": "series_report_retry", "error": type(err).__name__}))
        except Exception as err:  # noqa: BLE001  a bug must not stop the sender
            LOG.error(json.dumps({"event": "internal_error", "while": "series reports",
                                  "error": type(err).__name__}))
        self._checked += RETRY_S
        return 0

    def report_due(self, now: float) -> int:
        due = self.spool.journal.series_due(now - self.idle_s)
        for series in due:
            self.report(series)
        return len(due)

    def report(self, series: str) -> int:
        """Builds and journals one series' report; returns its row's id (dead, with the
        reason, when highdicom refused it or building it met a bug). Whatever stops it before
        the journal has it leaves neither row nor folder: it is built on a later try."""
        journal = self.spool.journal
        members = journal.series_members(series)
        ids = [m["id"] for m in members]
        report_id = journal.begin_report(series)
        try:
            outputs, reason, heads = self._build(report_id, members)
            journal.finish_report(report_id, ids, outputs, self.dest_names, reason)
        except BaseException:
            self._forget(report_id)
            raise
        for i in ids:
            self.spool.drop_header(i)
        fields: Dict[str, Any] = {"images": len(ids), "heads": heads,
                                  "srs": len(measure_lib.sr_files(outputs))}
        if reason:
            fields["reason"] = reason
        LOG.info(json.dumps({"event": "series_report", "id": report_id, **fields},
                            sort_keys=True))
        return report_id

    def _build(self, report_id: int, members: Sequence[Any]) -> Tuple[List[str], Optional[str],
                                                                      int]:
        """Writes the report and its FHIR twin into out/<report_id>/, durably; returns (its
        files, the SR first; why there is none or not all; the heads it covers)."""
        folder = self.spool.out_dir(report_id)
        os.makedirs(folder, exist_ok=True)
        records = [r for m in members for r in json.loads(m["records"])]
        heads = len(records)
        try:
            dicom_predict.write_exam_reports(folder, records, {}, _Headers(self.spool, members),
                                             self.run)
        except (OSError, sqlite3.Error):  # the disk: built again on a later tick
            raise
        except Exception as err:  # noqa: BLE001  a bug: a dead letter, not a loop
            LOG.error(json.dumps({"event": "internal_error", "id": report_id,
                                  "while": "series report", "error": type(err).__name__}))
            records = [{"dicom": {"obgyn_sr_error": f"internal error: {type(err).__name__}"}}]
        outputs = sorted({r["dicom"][k] for r in records for k in ("obgyn_sr", "obgyn_fhir")
                          if r["dicom"].get(k)}, key=lambda f: not f.endswith(".sr.dcm"))
        reason = "; ".join(sorted({r["dicom"]["obgyn_sr_error"] for r in records
                                   if r["dicom"].get("obgyn_sr_error")})) or (
            None if outputs else "no OB-GYN report written")
        self.spool.sync_outputs(report_id, outputs)
        self.spool.account(sum(os.path.getsize(os.path.join(folder, f)) for f in outputs))
        if not outputs:
            self.spool.drop_outputs(report_id)
        return outputs, reason, heads

    def _forget(self, report_id: int) -> None:
        """A report not finished (a full disk): its row and folder go, not one more a try;
        what cannot go now, the next start removes."""
        self.spool.drop_outputs(report_id)
        with contextlib.suppress(sqlite3.Error):
            self.spool.journal.drop_building()
