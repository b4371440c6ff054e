"""`[node] obgyn_report`: one OB-GYN report (TID 5000) per series, built once the series is
complete (no image of it for `series_idle_s`, every one measured), across restarts, delivered
after its images' SRs. The node's parts without a network, as tests/node_test.py."""

import json
import os
import time

import pytest

pydicom = pytest.importorskip("pydicom")

from click.testing import CliRunner  # noqa: E402

from hc_tf import cli  # noqa: E402
from hc_tf.node import config as config_lib  # noqa: E402
from hc_tf.node import journal as journal_lib  # noqa: E402
from hc_tf.node import measure as measure_lib  # noqa: E402
from hc_tf.node import series as series_lib  # noqa: E402
from hc_tf.node import spool as spool_lib  # noqa: E402
from hc_tf.node import worker as worker_lib  # noqa: E402
from tests import dicom_files  # noqa: E402
from tests import node_support  # noqa: E402
from tests import sr_validators  # noqa: E402

US = dicom_files.US_IMAGE
LATER = 3600.0  # seconds ahead: past any idle time


@pytest.fixture(scope="module")
def runner():
    from hc_tf import inference, models
    return inference.load_runner(models.released_edge_model(), num_threads=1)


@pytest.fixture(scope="module")
def model():
    from hc_tf import models
    from hc_tf.report import dicom_sr
    return dicom_sr.model_info(models.released_edge_model())


class _Node:
    """A node's spool, measurer and series reporter, without threads; a new one on the same
    spool is a restart."""

    def __init__(self, root, runner, model, obgyn_report=True):
        self.spool = spool_lib.Spool(str(root), 10**9)
        self.spool.recover()
        run = measure_lib.NodeRun(model, "HCTF", self.spool.journal.sr_count() + 1,
                                  obgyn_report=obgyn_report)
        self.measurer = worker_lib.Measurer(self.spool, runner, run, ["pacs"], 0)
        self.reporter = series_lib.SeriesReporter(self.spool, run, ["pacs"], idle_s=60.0)

    def receive(self, path):
        with open(path, "rb") as f:
            data = f.read()
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        return self.spool.store(data, uid, US, "SCAN")

    def reports(self):
        rows = self.spool.journal._query("SELECT * FROM instances WHERE kind = ? ORDER BY id",
                                         (journal_lib.REPORT,))
        return [dict(r) for r in rows]


def _heads(folder, names, series_uid=None):
    """Single-frame HC18 heads, all in one series (the scanner's frozen frames)."""
    series_uid = series_uid or pydicom.uid.generate_uid()
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name in names:
        ds = dicom_files.gray_dataset(name)
        ds.SeriesInstanceUID = series_uid
        paths.append(dicom_files.save(ds, os.path.join(folder, f"{name[:-4]}.dcm")))
    return paths


def _hcs(report):
    """The report's HC values: each image's, then their mean."""
    return [float(i.MeasuredValueSequence[0].NumericValue)
            for i in report.ContentSequence[-1].ContentSequence[0].ContentSequence
            if i.ConceptNameCodeSequence[0].CodeValue == "11984-2"]


def _srs_hc(node, ids):
    from hc_tf.report import dicom_sr_read
    out = []
    for i in ids:
        for f in measure_lib.sr_files(json.loads(node.spool.journal.row(i)["outputs"])):
            out.append(dicom_sr_read.read_back(os.path.join(node.spool.out_dir(i), f))["hc_mm"])
    return out


def _report_file(node, report):
    rel, fhir_rel = json.loads(report["outputs"])  # the SR, then its FHIR twin
    assert fhir_rel == rel.replace("sr/", "fhir/").replace(".sr.dcm", ".fhir.json")
    return pydicom.dcmread(os.path.join(node.spool.out_dir(report["id"]), rel))


def test_two_images_sent_one_by_one_get_one_report_after_the_idle_time(tmp_path, runner, model):
    node = _Node(tmp_path / "spool", runner, model)
    ids = []
    for path in _heads(str(tmp_path / "in"), ["000_HC.png", "019_HC.png"]):
        ids.append(node.receive(path))
        node.measurer.measure(ids[-1])
    assert len(os.listdir(node.spool.headers)) == 2  # the images are gone, their headers not
    assert node.reporter.report_due(time.time()) == 0  # the series may still grow
    assert node.spool.journal.status()["series_reports"] == {"waiting": 1}
    config = tmp_path / "node.toml"
    config.write_text(f'[node]\nspool = "{node.spool.root}"\nallowed_calling_aets = ["S"]\n'
                      '[[destination]]\nkind = "folder"\npath = "o"\n')
    shown = CliRunner().invoke(cli.main, ["node", "status", "--config", str(config)])
    assert "series reports: waiting 1" in shown.output, shown.output
    assert node.reporter.report_due(time.time() + LATER) == 1
    (report,) = node.reports()
    assert report["state"] == "measured" and node.reporter.report_due(time.time() + LATER) == 0
    sr = _report_file(node, report)
    each = _srs_hc(node, ids)
    assert _hcs(sr) == pytest.approx(each + [sum(each) / 2])
    assert sr.ConceptNameCodeSequence[0].CodeValue == "125000"  # OB-GYN US Procedure Report
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert len(evidence.ReferencedSOPSequence) == 2
    assert not sr_validators.dciodvfy_errors(os.path.join(
        node.spool.out_dir(report["id"]), json.loads(report["outputs"])[0]))
    assert os.listdir(node.spool.headers) == []  # no patient data kept that nothing needs
    # sent after the images' SRs, destination by destination
    journal = node.spool.journal
    assert [d["instance_id"] for d in journal.due(time.time())] == ids
    for i in ids:
        journal.delivery_done(i, "pacs", "sent")
    assert [d["instance_id"] for d in journal.due(time.time())] == [report["id"]]
    # a third image after the report: a new report covering all three, the first stays
    (late,) = _heads(str(tmp_path / "late"), ["028_HC.png"],
                     _series_of(tmp_path / "in" / "000_HC.dcm"))
    ids.append(node.receive(late))
    node.measurer.measure(ids[-1])
    assert node.reporter.report_due(time.time() + LATER) == 1
    first, second = node.reports()
    again = _report_file(node, second)
    each = _srs_hc(node, ids)
    assert _hcs(again) == pytest.approx(each + [sum(each) / 3])
    assert first["id"] == report["id"] and again.SOPInstanceUID != sr.SOPInstanceUID
    assert again.InstanceNumber > sr.InstanceNumber
    assert not sr_validators.dciodvfy_errors(os.path.join(
        node.spool.out_dir(second["id"]), json.loads(second["outputs"])[0]))
    # the first image's header went with the first report: the evidence still names it
    refs = again.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    uids = {str(pydicom.dcmread(str(p), stop_before_pixels=True).SOPInstanceUID) for p in
            _heads_in(tmp_path)}
    assert {str(r.ReferencedSOPInstanceUID) for r in refs.ReferencedSOPSequence} == uids


def _series_of(path):
    return str(pydicom.dcmread(str(path), stop_before_pixels=True).SeriesInstanceUID)


def _heads_in(tmp_path):
    return sorted(tmp_path.glob("in/*.dcm")) + sorted(tmp_path.glob("late/*.dcm"))


def test_a_cines_frames_are_one_series_and_its_records_keep_as_json(tmp_path, runner, model):
    """measure_file writes a file's SRs only; the records it returns for the series' report
    survive the journal's JSON as they are."""
    frames = [dicom_files.cv2.imread(dicom_files.head_png(n), 0) for n in ("000_HC.png",
                                                                          "019_HC.png")]
    cine = dicom_files.save(dicom_files.dataset(frames, regions=[dicom_files.region(
        (0, 0, frames[0].shape[1] - 1, frames[0].shape[0] - 1), 0.15)]),
        str(tmp_path / "a.dcm"))
    outputs, summary = measure_lib.measure_file(runner, cine, str(tmp_path / "out"),
                                                measure_lib.NodeRun(model, "HCTF",
                                                                    obgyn_report=True))
    assert outputs == ["sr/a.frame1.sr.dcm", "sr/a.frame2.sr.dcm", "fhir/a.frame1.fhir.json",
                       "fhir/a.frame2.fhir.json"]
    assert json.loads(json.dumps(summary["records"])) == summary["records"]
    node = _Node(tmp_path / "spool", runner, model)
    i = node.receive(cine)
    node.measurer.measure(i)
    assert node.reporter.report_due(time.time() + LATER) == 1
    (report,) = node.reports()
    each = _srs_hc(node, [i])
    assert _hcs(_report_file(node, report)) == pytest.approx(each + [sum(each) / 2])


def test_a_restart_between_two_images_still_gives_one_report_with_both(tmp_path, runner, model):
    first, second = _heads(str(tmp_path / "in"), ["000_HC.png", "019_HC.png"])
    node = _Node(tmp_path / "spool", runner, model)
    ids = [node.receive(first)]
    node.measurer.measure(ids[0])
    node.spool.journal.close()
    node = _Node(tmp_path / "spool", runner, model)  # a restart (the journal is all it has)
    ids.append(node.receive(second))
    node.measurer.measure(ids[1])
    node.spool.journal.begin_report(node.spool.journal.row(ids[0])["series"])  # killed building
    node.spool.journal.close()
    node = _Node(tmp_path / "spool", runner, model)
    assert node.reports() == []  # the half-built report is forgotten, and built again
    assert node.reporter.report_due(time.time() + LATER) == 1
    (report,) = node.reports()
    each = _srs_hc(node, ids)
    assert _hcs(_report_file(node, report)) == pytest.approx(each + [sum(each) / 2])
    node.spool.journal.close()
    node = _Node(tmp_path / "spool", runner, model)  # built once: not again after a restart
    assert node.reporter.report_due(time.time() + LATER) == 0 and len(node.reports()) == 1
    assert os.listdir(node.spool.headers) == []


def test_a_series_with_an_image_still_to_measure_is_not_reported(tmp_path, runner, model):
    node = _Node(tmp_path / "spool", runner, model)
    ids = [node.receive(p) for p in _heads(str(tmp_path / "in"), ["000_HC.png", "019_HC.png"])]
    node.measurer.measure(ids[0])
    assert node.reporter.report_due(time.time() + LATER) == 0 and node.reports() == []
    node.measurer.measure(ids[1])
    assert node.reporter.report_due(time.time() + LATER) == 1


def test_no_series_report_without_obgyn_report(tmp_path, runner, model):
    node = _Node(tmp_path / "spool", runner, model, obgyn_report=False)
    for path in _heads(str(tmp_path / "in"), ["000_HC.png", "019_HC.png"]):
        node.measurer.measure(node.receive(path))
    assert node.reporter.report_due(time.time() + LATER) == 0 and node.reports() == []
    assert os.listdir(node.spool.headers) == []
    # turned off while a series waits: the next start keeps none of its headers
    on = _Node(tmp_path / "on", runner, model)
    on.measurer.measure(on.receive(_heads(str(tmp_path / "b"), ["000_HC.png"])[0]))
    assert len(os.listdir(on.spool.headers)) == 1
    assert on.spool.journal.status()["series_reports"] == {"waiting": 1}
    off = spool_lib.Spool(on.spool.root, 10**9)
    off.recover(keep_headers=False)
    assert os.listdir(on.spool.headers) == []
    # and its series waits no more: nothing shows as waiting, nothing is built if turned on
    assert off.journal.status()["series_reports"] == {"waiting": 0}
    again = _Node(on.spool.root, runner, model)
    assert again.reporter.report_due(time.time() + LATER) == 0 and again.reports() == []


def test_a_full_disk_while_building_leaves_no_half_report_and_retries(tmp_path, runner, model,
                                                                      monkeypatch):
    node = _Node(tmp_path / "spool", runner, model)
    for path in _heads(str(tmp_path / "in"), ["000_HC.png", "019_HC.png"]):
        node.measurer.measure(node.receive(path))
    real = series_lib.dicom_predict.write_exam_reports

    def full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(series_lib.dicom_predict, "write_exam_reports", full)
    node.reporter.idle_s = 0
    assert node.reporter.tick() == 0 and node.reports() == []
    assert sorted(os.listdir(node.spool.outgoing)) == ["1", "2"]  # the images' SRs only
    monkeypatch.setattr(series_lib.dicom_predict, "write_exam_reports", real)
    assert node.reporter.tick() == 0  # not before the retry delay
    node.reporter._checked -= series_lib.RETRY_S + series_lib.POLL_S
    assert node.reporter.tick() == 1 and len(node.reports()) == 1


def test_the_sender_builds_a_complete_series_report_and_sends_it_last(tmp_path, runner, model):
    """The node as service.py wires it: the sender's loop ticks the reporter."""
    node = _Node(tmp_path / "spool", runner, model)
    node.reporter.idle_s = 0.2
    ids = []
    for path in _heads(str(tmp_path / "in"), ["000_HC.png", "019_HC.png"]):
        ids.append(node.receive(path))
        node.measurer.measure(ids[-1])
    sent = []

    class Dest:
        def send(self, files):
            sent.append([os.path.basename(f) for f in files])

    sender = worker_lib.Sender(node.spool, {"pacs": Dest()}, 1, 1)
    sender.ticks.append(node.reporter.tick)
    sender.start()
    try:
        t0 = time.time()
        while len(sent) < 3 and time.time() - t0 < 20:
            time.sleep(0.1)
    finally:
        sender.stop()
    assert len(sent) == 3 and sent[-1][0].endswith(".obgyn.sr.dcm"), sent
    assert node.spool.journal.status()["series_reports"] == {"done": 1, "waiting": 0}
    assert not os.path.exists(node.spool.out_dir(node.reports()[0]["id"]))


def test_a_series_report_reaches_a_fhir_server_as_one_diagnostic_report(tmp_path, runner,
                                                                        model):
    """The report's FHIR twin goes to a FHIR destination as one transaction: the
    DiagnosticReport and the exam's Observations, the HC the mean of the images' SRs."""
    node = _Node(tmp_path / "spool", runner, model)
    ids = []
    for path in _heads(str(tmp_path / "in"), ["000_HC.png", "019_HC.png"]):
        ids.append(node.receive(path))
        node.measurer.measure(ids[-1])
    node.reporter.report_due(time.time() + LATER)
    (report,) = node.reports()
    files = [os.path.join(node.spool.out_dir(report["id"]), f)
             for f in json.loads(report["outputs"])]
    server, dest, got = node_support.fhir_server([200])
    try:
        dest.send(files)
    finally:
        server.shutdown()
    ((method, _, sent),) = got
    resources = [e["resource"] for e in sent["entry"]]
    assert method == "POST" and sent["type"] == "transaction"
    assert resources[0]["resourceType"] == "DiagnosticReport"
    results = {r["reference"] for r in resources[0]["result"]}
    assert results == {f"Observation/{r['id']}" for r in resources[1:]}
    hc = next(r for r in resources[1:] if r["code"]["coding"][0]["code"] == "11984-2")
    assert hc["valueQuantity"]["value"] == pytest.approx(sum(_srs_hc(node, ids)) / 2, abs=1e-6)


@pytest.mark.parametrize("value,ok", [("0.5", True), ("0", False), ("-1", False),
                                      ('"60"', False), ("true", False), ("nan", False),
                                      ("inf", False)])
def test_series_idle_s_is_checked(tmp_path, value, ok):
    path = tmp_path / "node.toml"
    path.write_text(f'[node]\nspool = "s"\nallow_any_calling_aet = true\nobgyn_report = true\n'
                    f'series_idle_s = {value}\n[[destination]]\nkind = "folder"\npath = "o"\n')
    if ok:
        assert config_lib.load(str(path)).series_idle_s == 0.5
        return
    with pytest.raises(config_lib.ConfigError, match=r"node\.toml: \[node\] series_idle_s .*"
                       r"seconds > 0"):
        config_lib.load(str(path))
    assert config_lib.NodeConfig(spool="s").series_idle_s == 60.0


def test_a_journal_from_before_series_reports_gets_their_columns(tmp_path):
    """A spool of an older node: `status` (read-only) says so in a line; the node's start adds
    the columns, its images waiting for no report."""
    import sqlite3
    spool = tmp_path / "spool"
    spool.mkdir()
    old = sqlite3.connect(str(spool / journal_lib.NAME))
    old.executescript(journal_lib._SCHEMA)  # the columns of _ADDED came later
    old.execute("INSERT INTO instances (sop_uid, state, outputs) VALUES ('1.2.3', 'done', '[]')")
    old.commit()
    old.close()
    config = tmp_path / "node.toml"
    config.write_text(f'[node]\nspool = "{spool}"\nallowed_calling_aets = ["S"]\n'
                      '[[destination]]\nkind = "folder"\npath = "o"\n')
    shown = CliRunner().invoke(cli.main, ["node", "status", "--config", str(config)])
    assert shown.exit_code != 0 and "older hc-tf" in shown.output
    assert "Traceback" not in shown.output
    journal = journal_lib.Journal(str(spool / journal_lib.NAME))
    assert journal.row(1)["kind"] == "image" and journal.series_due(time.time()) == []
    journal.close()
    shown = CliRunner().invoke(cli.main, ["node", "status", "--config", str(config), "--json"])
    assert json.loads(shown.output)["series_reports"] == {"waiting": 0}


def test_a_report_that_cannot_be_built_is_a_dead_letter_once(tmp_path, runner, model,
                                                            monkeypatch):
    node = _Node(tmp_path / "spool", runner, model)
    for path in _heads(str(tmp_path / "in"), ["000_HC.png", "019_HC.png"]):
        node.measurer.measure(node.receive(path))

    def bug(*args):
        raise ValueError("a bug")

    monkeypatch.setattr(series_lib.dicom_predict, "write_exam_reports", bug)
    assert node.reporter.report_due(time.time() + LATER) == 1
    assert node.reporter.report_due(time.time() + LATER) == 0  # not again and again
    (report,) = node.reports()
    status = node.spool.journal.status()
    assert status["dead_letters"] == [{"id": report["id"], "sop_class": journal_lib.SR_CLASS,
                                       "reason": "internal error: ValueError",
                                       "kind": journal_lib.REPORT}]
    assert status["series_reports"] == {"dead": 1, "waiting": 0} and status["backlog"] == 2
    assert os.listdir(node.spool.headers) == [] and not os.path.exists(
        node.spool.out_dir(report["id"]))
