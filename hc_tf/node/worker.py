"""The node's workers: a measuring pool (one TFLite interpreter per thread, sized to the cores)
and a sender that delivers SRs, a thread per destination, retrying one that is down with
backoff.

Both read their work from the journal, so a restart resumes where a SIGKILL left off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from hc_tf.io import dicom
from hc_tf.node import destinations as dest_lib
from hc_tf.node import measure as measure_lib
from hc_tf.node import selection as selection_lib
from hc_tf.node import spool as spool_lib

LOG = logging.getLogger("hc_tf.node")
IDLE_POLL_S = 0.5
STOP_WAIT_S = 20.0
DISK_RETRY_S = 5.0
IDLE_RELEASE_S = 2.0  # a destination's association is kept this long after the last send
# An instance whose measuring began this many times and never ended (each time the node died
# in it: a decoder's crash, an out-of-memory kill) is a dead letter instead of a third try, so
# that one bad file cannot keep the node from measuring the rest after every restart.
MAX_INTERRUPTED_MEASUREMENTS = 2


def log_instance(event: str, row: Any, level: int = logging.INFO, **fields: Any) -> None:
    """The instance's one structured (JSON) line, when it is done or dead: its id, size and
    timings (received -> measured -> sent), never patient data."""
    now = time.time()
    times = {"bytes": row["bytes"], "received_to_end_s": round(now - row["received_at"], 3)}
    if row["measured_at"]:
        times["received_to_measured_s"] = round(row["measured_at"] - row["received_at"], 3)
    if row["measure_ms"] is not None:
        times["measure_ms"] = round(row["measure_ms"], 1)
    if row["kind"] != "image":  # a series' OB-GYN report (series.py)
        times["kind"] = row["kind"]
    LOG.log(level, json.dumps({"event": event, "id": row["id"], **times, **fields},
                              sort_keys=True))


class Measurer:
    """Threads that measure received instances, one runner from the pool each."""

    def __init__(self, spool: spool_lib.Spool, pool: Any, run: measure_lib.NodeRun,
                 dest_names: List[str], threads: int,
                 selection: selection_lib.Selection = selection_lib.EVERY_IMAGE):
        self.spool, self.pool, self.run, self.dest_names = spool, pool, run, dest_names
        self.selection = selection  # [node] frames and measure_only: what is not measured
        self.queue: "queue.Queue[int]" = queue.Queue()
        self.on_measured = lambda: None
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name=f"measure{i}", daemon=True)
                         for i in range(threads)]

    def start(self) -> None:
        for instance_id in self.spool.journal.received():  # what a restart left to do
            self.queue.put(instance_id)
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Finishes the instances in hand (a SIGKILL would be resumed from the journal)."""
        self._stop.set()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                instance_id = self.queue.get(timeout=IDLE_POLL_S)
            except queue.Empty:
                continue
            try:
                self.measure(instance_id)
            except (OSError, sqlite3.Error) as err:  # a full disk: the image waits, retried
                LOG.warning(json.dumps({"event": "measure_retry", "id": instance_id,
                                        "error": type(err).__name__}))
                with contextlib.suppress(sqlite3.Error):  # not a crash: it counts no try
                    self.spool.journal.measuring_failed(instance_id)
                self._stop.wait(DISK_RETRY_S)
                self.queue.put(instance_id)
            except Exception as err:  # noqa: BLE001  a bug must not stop the pool
                LOG.error(json.dumps({"event": "internal_error", "id": instance_id, "while": "measuring",
                                      "error": type(err).__name__}))
                self.spool.journal.mark_dead(instance_id, f"internal error: {type(err).__name__}")

    def measure(self, instance_id: int) -> None:
        row = self.spool.journal.row(instance_id)
        if row["state"] != "received":
            return
        path, folder = self.spool.image_path(row["file"]), self.spool.out_dir(instance_id)
        t0 = time.perf_counter()
        try:
            if row["measure_starts"] >= MAX_INTERRUPTED_MEASUREMENTS:
                raise measure_lib.Dead(f"measuring it stopped the node {row['measure_starts']} "
                                       "times (a crash or an out-of-memory kill): set aside")
            self.spool.journal.begin_measuring(instance_id)
            if str(row["sop_class"]) not in measure_lib.US_CLASSES:
                raise measure_lib.Dead(f"SOP class {row['sop_class']} is not an ultrasound image")
            if not os.path.isfile(path):
                raise measure_lib.Dead("the spooled file is missing")
            outputs, summary = measure_lib.measure_file(self.pool, path, folder, self.run,
                                                        self.selection)
        except measure_lib.Dead as err:
            self.spool.drop_outputs(instance_id)  # the folder the reader made before refusing
            self.spool.journal.mark_dead(instance_id, str(err))
            log_instance("dead", self.spool.journal.row(instance_id), reason=str(err))
            return
        ms = (time.perf_counter() - t0) * 1e3
        self.spool.sync_outputs(instance_id, outputs)
        self.spool.account(sum(os.path.getsize(os.path.join(folder, f)) for f in outputs))
        note = ("; ".join(summary["refused"] + summary.get("sr_notes", []))
                or summary.get("skipped") or (None if outputs else "no head found: no SR"))
        records = summary.get("records") if self.run.obgyn_report else None
        if records:  # the series' report is built later, when the image is gone
            self.spool.keep_header(instance_id, dicom.read_header(path).dataset)
        self.spool.journal.mark_measured(instance_id, outputs, self.dest_names, ms, note,
                                         records)
        self.spool.drop_image(row["file"])
        self.on_measured()
        if not outputs or not self.dest_names:
            log_instance("done", self.spool.journal.row(instance_id), note=note,
                         srs=len(measure_lib.sr_files(outputs)), delivered=0, undelivered=0,
                         **_summary(summary))


def _summary(summary: Dict[str, Any]) -> Dict[str, Any]:
    return {"frames": summary["frames"], "found": summary["found"], "hc_mm": summary["hc_mm"]}


class Sender:
    """Delivers pending SRs, one thread per destination (a lane), so a destination that hangs
    (a PACS that accepts the association and never answers) or is down holds up only its own
    deliveries; a destination that fails waits base * 2^attempts (capped). Each lane sends its
    destination's deliveries in the journal's order (`Journal.due`: a series report after its
    images' SRs), and only it sends them: each delivery is sent by one thread.

    The sender's own thread calls `ticks` on each turn, the node's periodic work (build the
    complete series' reports, series.py; purge the journal's old records, retention.py), and
    dead-letters the deliveries to destinations no longer configured."""

    def __init__(self, spool: spool_lib.Spool, dests: Dict[str, Any], base_s: float,
                 max_s: float):
        self.spool, self.dests, self.base_s, self.max_s = spool, dests, base_s, max_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sender", daemon=True)
        self._wakes = {name: threading.Event() for name in dests}
        self._lanes = {name: threading.Thread(target=self._lane, args=(name,), daemon=True,
                                              name=f"send-{name}") for name in dests}
        self.down: Dict[str, float] = {}  # destination -> until when it is not tried
        self.ticks: List[Callable[[], int]] = []

    def start(self) -> None:
        self._thread.start()
        for lane in self._lanes.values():
            lane.start()

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        self._stop.set()
        self.wake()
        end = time.monotonic() + timeout
        for name, thread in [("", self._thread), *self._lanes.items()]:
            if thread.is_alive():
                thread.join(max(0.0, end - time.monotonic()))
            if name and not thread.is_alive():  # one still in a send keeps its association
                _release(self.dests[name])

    def wake(self) -> None:
        self._wake.set()
        for event in self._wakes.values():
            event.set()

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            try:
                made = sum(tick() or 0 for tick in self.ticks)
                if made:  # a series' report to deliver: its lanes need not wait for their turn
                    for event in self._wakes.values():
                        event.set()
                for name in self.spool.journal.pending_dests() - set(self.dests):
                    self.send_due(name)  # "no longer configured": dead at once
                failures = 0
            except Exception as err:  # noqa: BLE001  a busy journal, a bug: tried again later
                failures = self._internal_error(err, failures, "periodic work")
                continue
            self._wake.wait(IDLE_POLL_S)

    def _lane(self, name: str) -> None:
        wake, last_work, failures = self._wakes[name], time.monotonic(), 0
        while not self._stop.is_set():
            wake.clear()
            try:
                if self.send_due(name):
                    last_work, failures = time.monotonic(), 0
                    continue
                if time.monotonic() - last_work > IDLE_RELEASE_S:
                    _release(self.dests[name])
                # Nothing due: wait for the next try, new work (`wake`) or IDLE_POLL_S at most.
                # It had turned at once until IDLE_RELEASE_S had passed: 2 s of one core after
                # each send, 200,000 journal queries; and waited up to 5 s with a retry far off.
                nxt = self.spool.journal.next_due(name)
                failures = 0
            except Exception as err:  # noqa: BLE001  a busy journal, a bug: tried again later
                failures = self._internal_error(err, failures, "sending", name)
                continue
            ahead = None if nxt is None else nxt - time.time()
            wake.wait(IDLE_POLL_S if ahead is None or ahead <= 0 else min(ahead, IDLE_POLL_S))

    def _internal_error(self, err: Exception, failures: int, while_: str,
                        dest: Optional[str] = None) -> int:
        """An error a loop's pass did not expect ("database is locked" after its wait, a full
        disk, a bug in a destination's send): logged, and the loop waits base * 2^failures
        (capped) and goes on, so it stops no destination for good (it had ended the thread: a
        destination sent nothing more until a restart, with a traceback on stderr only).
        Returns the failures in a row."""
        line = {"event": "internal_error", "while": while_, **error_fields(err)}
        if dest is not None:
            line["dest"] = dest
        LOG.error(json.dumps(line, sort_keys=True))
        self._stop.wait(min(self.base_s * 2 ** failures, self.max_s))
        return failures + 1

    def send_due(self, dest: Optional[str] = None) -> bool:
        """Sends what is due to `dest` (every destination when None, in this thread); True when
        something was tried."""
        now, worked = time.time(), False
        for d in self.spool.journal.due(now, dest=dest):
            if self._stop.is_set():
                break
            if self.down.get(d["dest"], 0) > time.time():  # skip a destination known down
                continue
            worked = True
            self._deliver(d)
        return worked

    def _deliver(self, d: Any) -> None:
        instance_id, name = d["instance_id"], d["dest"]
        folder = self.spool.out_dir(instance_id)
        files = [os.path.join(folder, f) for f in json.loads(d["outputs"] or "[]")]
        t0 = time.perf_counter()
        try:
            dest = self.dests[name]
            dest.send(files)
        except KeyError:
            self._finish(instance_id, name, "dead", f"{name}: no longer configured")
        except dest_lib.Refused as err:
            self._finish(instance_id, name, "dead", str(err))
        except (dest_lib.Retry, OSError) as err:
            delay = min(self.base_s * 2 ** self.spool.journal.attempts(instance_id, name),
                        self.max_s)
            self.spool.journal.delivery_retry(instance_id, name, time.time() + delay, str(err))
            self.down[name] = time.time() + delay
            LOG.warning(json.dumps({"event": "retry", "id": instance_id, "dest": name,
                                    "in_s": round(delay, 1), "error": str(err)}))
        else:
            self.down.pop(name, None)
            self._finish(instance_id, name, "sent", None, (time.perf_counter() - t0) * 1e3)

    def _finish(self, instance_id: int, name: str, state: str, error: Optional[str],
                send_ms: float = 0.0) -> None:
        """Records the delivery; the instance's `done` line once its last delivery has ended,
        saying how many destinations got its SRs (`delivered`) and how many refused them or
        were no longer configured (`undelivered`: then a warning, its SRs kept)."""
        last = self.spool.journal.delivery_done(instance_id, name, state, error)
        if state == "dead":
            LOG.error(json.dumps({"event": "delivery_dead", "id": instance_id, "dest": name,
                                  "error": error}))
        if last:
            row = self.spool.journal.row(instance_id)
            counts = self.spool.journal.delivery_counts(instance_id)
            if not counts["dead"]:  # else kept for a resend by hand
                self.spool.drop_outputs(instance_id)
            log_instance("done", row, logging.WARNING if counts["dead"] else logging.INFO,
                         last_send_ms=round(send_ms, 1), delivered=counts["sent"],
                         undelivered=counts["dead"],
                         srs=len(measure_lib.sr_files(json.loads(row["outputs"] or "[]"))))


def error_fields(err: BaseException) -> Dict[str, Any]:
    """An unexpected error for a log line, without identifiers: a journal's (sqlite's own
    words: "database is locked") or the system's (an OSError's reason, not its file name) with
    its message; any other by its type and the last frames it was raised in, never its text,
    which may quote a value (a name, a UID), as the node's other lines (cli_lib.py)."""
    if isinstance(err, sqlite3.Error) or (isinstance(err, OSError) and err.strerror):
        text = err.strerror if isinstance(err, OSError) else str(err)
        return {"error": f"{type(err).__name__}: {text}"}
    return {"error": type(err).__name__,
            "where": [f"{os.path.basename(f.filename)}:{f.lineno} {f.name}"
                      for f in traceback.extract_tb(err.__traceback__)[-3:]]}


def _release(dest: Any) -> None:
    """Nothing to send now: the destination releases what it holds (an association)."""
    getattr(dest, "idle", lambda: None)()
