"""`hc-tf node` against a real PACS: Debian's Orthanc on loopback, dcmtk's storescu as the scanner.

End to end (the SRs in Orthanc: right study, right instance, the same HC as `hc-tf predict`,
dciodvfy-clean) and the faults: SIGKILL mid-batch, Orthanc down while sending, a duplicate,
a non-US instance, an instance that cannot be calibrated, a calling AE not on the list, a spool
over its limit. Each test skips, naming the Debian package, where orthanc or dcmtk is absent.
"""

import csv
import json
import os
import signal
import subprocess
import time

import pytest

pytest.importorskip("pynetdicom")
pydicom = pytest.importorskip("pydicom")

from hc_tf.report import dicom_sr_read  # noqa: E402
from tests import dicom_files  # noqa: E402
from tests import node_support as ns  # noqa: E402
from tests import sr_validators  # noqa: E402

HEADS = ("000_HC.png", "019_HC.png", "105_HC.png")
STUDIES = ["1.2.826.0.1.3680043.8.498.2001", "1.2.826.0.1.3680043.8.498.2002"]


@pytest.fixture(autouse=True)
def _tools():
    ns.need("storescu", "dcmtk")
    ns.need("Orthanc", "orthanc")


@pytest.fixture
def orthanc(tmp_path):
    pacs = ns.Orthanc(str(tmp_path / "orthanc"), dicomweb=True).start()
    yield pacs
    pacs.stop()


def _dicom_dest(pacs):
    return {"kind": "dicom", "name": "pacs", "host": "127.0.0.1", "port": pacs.dicom_port,
            "ae_title": "ORTHANC"}


def _web_dest(pacs):
    return {"kind": "dicomweb", "name": "web", "url": pacs.url + "/dicom-web"}


def _srs_by_source(pacs, folder):
    """{referenced SOP Instance UID: [read_back of each SR referencing it]} from Orthanc."""
    out = {}
    for path in pacs.srs(folder):
        back = dicom_sr_read.read_back(path)
        back["path"] = path
        out.setdefault(back["referenced_sop_instance_uid"], []).append(back)
    return out


def _predict_hcs(files, out):
    """HC of each file by `hc-tf predict` (its report.json), keyed by SOP Instance UID."""
    result = subprocess.run([ns.sys.executable, "-m", "hc_tf.cli", "predict", *files, "--out",
                             str(out), "-q"], cwd=ns.REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": ns.REPO}, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.load(open(os.path.join(out, "report.json")))
    return {(r["dicom"]["sop_instance_uid"], r["frame"]): r["hc_mm"] for r in report["images"]}


def _wait_srs(pacs, n, timeout=ns.TIMEOUT_S):
    ns.wait_until(f"{n} SRs in Orthanc", lambda: pacs.count_srs() >= n, timeout)


def test_end_to_end_srs_land_in_the_right_study_with_predicts_hc(tmp_path, orthanc):
    files = ns.heads(str(tmp_path / "in"), HEADS, STUDIES)
    syntaxes = (pydicom.uid.RLELossless, pydicom.uid.JPEGLSLossless)
    for path, syntax in zip(list(files)[1:], syntaxes):
        ds = pydicom.dcmread(path)  # sent as stored: compressed syntaxes are accepted
        ds.compress(syntax, generate_instance_uid=False)
        ds.save_as(path, enforce_file_format=True)
    frames = [dicom_files.cv2.imread(dicom_files.head_png(n), 0) for n in HEADS[:2]]
    cine = dicom_files.dataset(frames, regions=[dicom_files.region(
        (0, 0, frames[0].shape[1] - 1, frames[0].shape[0] - 1),
        dicom_files.head_pixel_sizes()[HEADS[0]])])
    files[dicom_files.save(cine, str(tmp_path / "in" / "cine.dcm"))] = str(cine.SOPInstanceUID)
    node = ns.Node(str(tmp_path / "node"), [_dicom_dest(orthanc),
                                            {"kind": "folder", "name": "copy",
                                             "path": str(tmp_path / "copy")}]).start()
    try:
        echo = subprocess.run([ns.need("echoscu", "dcmtk"), "-aet", ns.SCANNER, "-aec",
                               ns.NODE_AE, "127.0.0.1", str(node.port)], capture_output=True,
                              text=True, timeout=60)
        assert echo.returncode == 0, echo.stderr
        paths = list(files)  # storescu proposes one compressed syntax per run
        for args in ([paths[0], paths[3]], ["-xr", paths[1]], ["-xt", paths[2]]):
            sent = node.storescu(args)
            assert sent.returncode == 0, sent.stderr
        _wait_srs(orthanc, 5)  # 3 single-frame heads + 2 frames
        ns.wait_until("the node's backlog to drain", lambda: node.status()["backlog"] == 0)
    finally:
        node.kill(signal.SIGTERM)
    expected = _predict_hcs(list(files), tmp_path / "predict")
    got = _srs_by_source(orthanc, str(tmp_path / "pulled"))
    studies = {uid: str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID)
               for p, uid in files.items()}
    assert set(got) == set(files.values())
    for uid, srs in got.items():
        for back in srs:
            assert back["study_instance_uid"] == studies[uid]
            frame = back["frames"][0] if back["frames"] else 1
            assert back["hc_mm"] == pytest.approx(expected[(uid, frame)], abs=1e-6)
            assert not sr_validators.dciodvfy_errors(back["path"]), back["path"]
    assert sorted(len(v) for v in got.values()) == [1, 1, 1, 2]
    assert len(os.listdir(tmp_path / "copy" / "sr")) == 5
    assert '"event": "done"' in node.log_text() and "Test^Fetus" not in node.log_text()


def test_with_obgyn_report_a_series_sent_image_by_image_gets_one_report_with_predicts_mean(
        tmp_path, orthanc):
    """A scanner sending a series' frozen frames one association each: once the series is idle,
    one OB-GYN report for it beside the images' SRs, with the mean `hc-tf predict` gives the
    series' files (one exam)."""
    files = ns.heads(str(tmp_path / "in"), HEADS[:2], series_uid=pydicom.uid.generate_uid())
    node = ns.Node(str(tmp_path / "node"), [_dicom_dest(orthanc)], obgyn_report=True,
                   series_idle_s=1.0).start()
    try:
        for path in files:  # one association each, as many scanners send
            assert node.storescu([path]).returncode == 0
        _wait_srs(orthanc, 3)  # a TID 1500 SR an image, and the series' OB-GYN report
        ns.wait_until("the node's backlog to drain", lambda: node.status()["backlog"] == 0)
        assert node.status()["series_reports"] == {"done": 1, "waiting": 0}
    finally:
        node.kill(signal.SIGTERM)
    srs = {p: pydicom.dcmread(p) for p in orthanc.srs(str(tmp_path / "pulled"))}
    reports = [p for p, sr in srs.items() if sr.ConceptNameCodeSequence[0].CodeValue == "125000"]
    assert len(srs) == 3 and len(reports) == 1
    report = srs[reports[0]]
    assert not sr_validators.dciodvfy_errors(reports[0])
    first = pydicom.dcmread(next(iter(files)), stop_before_pixels=True)
    assert report.StudyInstanceUID == first.StudyInstanceUID
    assert {sr.SeriesInstanceUID for sr in srs.values()} == {report.SeriesInstanceUID}
    evidence = report.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert {str(r.ReferencedSOPInstanceUID) for r in evidence.ReferencedSOPSequence} == set(
        files.values())
    _predict_hcs(list(files), tmp_path / "predict")
    with open(tmp_path / "predict" / "exams.csv", newline="") as f:
        (exam,) = list(csv.DictReader(f))
    means = [float(i.MeasuredValueSequence[0].NumericValue) for i in _walk(report)
             if i.get("ConceptNameCodeSequence") and i.ConceptNameCodeSequence[0].CodeValue
             == "11984-2" and any(c.get("ConceptCodeSequence") and
                                  c.ConceptCodeSequence[0].CodeValue == "373098007"
                                  for c in i.get("ContentSequence", []))]
    assert exam["found"] == "2" and means == [pytest.approx(float(exam["hc_mean_mm"]), abs=1e-6)]


def _walk(node):
    for item in node.get("ContentSequence", []):
        yield item
        yield from _walk(item)


def test_duplicate_non_us_uncalibrated_and_unknown_caller(tmp_path, orthanc):
    files = ns.heads(str(tmp_path / "in"), HEADS[:1])
    gray = dicom_files.cv2.imread(dicom_files.head_png(HEADS[1]), 0)
    nocal = dicom_files.save(dicom_files.dataset([gray]), str(tmp_path / "nocal.dcm"))
    nopix = dicom_files.dataset([gray], regions=[dicom_files.region(
        (0, 0, gray.shape[1] - 1, gray.shape[0] - 1), 0.1)])
    del nopix.PixelData  # US by its class, but not an image
    nopix = dicom_files.save(nopix, str(tmp_path / "nopix.dcm"))
    ct = dicom_files.save(dicom_files.dataset([gray], sop_class="1.2.840.10008.5.1.4.1.1.2"),
                          str(tmp_path / "ct.dcm"))
    node = ns.Node(str(tmp_path / "node"), [_web_dest(orthanc)]).start()
    try:
        bad = node.storescu(list(files), aet="INTRUDER")
        assert bad.returncode != 0 and "Calling AE Title Not Recognized" in bad.stderr
        assert node.storescu(list(files)).returncode == 0
        _wait_srs(orthanc, 1)
        again = node.storescu(list(files) + [nocal, nopix])  # the same image once more
        assert again.returncode == 0, again.stderr
        ns.wait_until("two dead letters", lambda: len(node.status()["dead_letters"]) == 2)
        refused = node.storescu([ct])  # not US: no presentation context is accepted
        assert "No presentation context" in refused.stderr or refused.returncode != 0
        status = node.status()
    finally:
        node.kill(signal.SIGTERM)
    assert orthanc.count_srs() == 1
    assert status["instances"] == {"done": 1, "dead": 2}
    log = node.log_text()
    assert '"calling_aet": "INTRUDER", "event": "rejected"' in log, log[-3000:]
    refused = [line for line in log.splitlines() if '"event": "contexts_refused"' in line]
    assert len(refused) == 1 and '"1.2.840.10008.5.1.4.1.1.2"' in refused[0]  # CT, said once
    reasons = [d["reason"] for d in status["dead_letters"]]
    assert "(0018,6011)" in reasons[0] and "Pixel Data (7FE0,0010)" in reasons[1], reasons
    assert "--pixel-size" not in reasons[0]
    assert all(str(tmp_path) not in r and "Test^Fetus" not in r for r in reasons)
    assert status["destinations"]["web"]["sent"] == 1


def test_sigkill_mid_batch_every_sr_once(tmp_path, orthanc):
    files = ns.heads(str(tmp_path / "in"), ("000_HC.png", "019_HC.png", "105_HC.png",
                                            "140_HC.png", "179_HC.png"))
    node = ns.Node(str(tmp_path / "node"), [_dicom_dest(orthanc)]).start()
    sent = node.storescu(list(files))
    node.kill(signal.SIGKILL)  # acknowledged, mostly not yet measured
    assert sent.returncode == 0, sent.stderr
    assert orthanc.count_srs() < len(files)
    node.start()
    try:
        resent = node.storescu(list(files))  # the scanner resends all: duplicates
        assert resent.returncode == 0
        _wait_srs(orthanc, len(files))
        ns.wait_until("the backlog to drain", lambda: node.status()["backlog"] == 0)
    finally:
        node.kill(signal.SIGTERM)
    got = _srs_by_source(orthanc, str(tmp_path / "pulled"))
    assert {uid: len(v) for uid, v in got.items()} == {uid: 1 for uid in files.values()}


def _failing(status, n):
    web = status["destinations"].get("web", {})
    return web.get("pending") == n and web.get("last_error")


def test_pacs_down_backlog_survives_restart_and_drains(tmp_path, orthanc):
    files = ns.heads(str(tmp_path / "in"), HEADS)
    orthanc.stop()
    node = ns.Node(str(tmp_path / "node"), [_web_dest(orthanc)]).start()
    try:
        assert node.storescu(list(files)).returncode == 0
        ns.wait_until("failed deliveries", lambda: _failing(node.status(), len(files)))
        node.kill(signal.SIGTERM)
        node.start()  # the backlog is in the journal
        status = node.status()
        assert status["destinations"]["web"]["pending"] == len(files)
        assert "last_error" in status["destinations"]["web"]
        orthanc.start()
        _wait_srs(orthanc, len(files), 60)
        ns.wait_until("the backlog to drain", lambda: node.status()["backlog"] == 0)
    finally:
        node.kill(signal.SIGTERM)
    got = _srs_by_source(orthanc, str(tmp_path / "pulled"))
    assert {uid: len(v) for uid, v in got.items()} == {uid: 1 for uid in files.values()}


def test_spool_over_its_limit_refuses_and_keeps_what_it_has(tmp_path, orthanc):
    gray = dicom_files.cv2.imread(dicom_files.head_png(HEADS[0]), 0)
    nocal = dicom_files.save(dicom_files.dataset([gray]), str(tmp_path / "nocal.dcm"))
    files = ns.heads(str(tmp_path / "in"), HEADS[1:2])
    size_mb = os.path.getsize(nocal) / 2**20
    node = ns.Node(str(tmp_path / "node"), [_dicom_dest(orthanc)],
                   spool_limit_mb=size_mb * 1.5).start()
    try:
        assert node.storescu([nocal]).returncode == 0  # kept as a dead letter
        ns.wait_until("the dead letter", lambda: node.status()["dead_letters"])
        store = node.storescu(["-v"] + list(files))  # would exceed the limit
        assert "Refused: OutOfResources" in store.stderr, store.stderr
        node.kill(signal.SIGTERM)
        node.write_config([_dicom_dest(orthanc)], spool_limit_mb=size_mb / 2)
        node.start()  # already over: associations are refused
        rejected = node.storescu(list(files))
        assert rejected.returncode != 0
        assert "Local Limit Exceeded" in rejected.stderr, rejected.stderr
        assert len(node.status()["dead_letters"]) == 1  # nothing acknowledged was lost
        node.kill(signal.SIGTERM)
        forgot = subprocess.run([ns.sys.executable, "-m", "hc_tf.cli", "node", "forget-dead",
                                 "--config", node.config], cwd=ns.REPO, capture_output=True,
                                text=True, env={**os.environ, "PYTHONPATH": ns.REPO}, timeout=60)
        assert "deleted 1 dead letter(s)" in forgot.stdout, forgot.stderr
        assert orthanc.count_srs() == 0
        node.write_config([_dicom_dest(orthanc)], spool_limit_mb=size_mb * 1.5)
        node.start()  # room again
        assert node.storescu(list(files)).returncode == 0
        _wait_srs(orthanc, 1)
        assert len(node.status()["dead_letters"]) == 1  # the reason stays
    finally:
        node.kill(signal.SIGTERM)


def test_the_log_quotes_no_uid_of_a_scanner_that_writes_non_conformant_ones(tmp_path, orthanc):
    """UIDs with a leading-zero component (older scanners write them): pynetdicom warned
    "Non-conformant 'Affected SOP Instance UID' value '<it>'" and pydicom "Invalid value for VR
    UI: '<it>'", in its threads and the sender's, a dozen lines an instance in the node's log."""
    import warnings
    ds = dicom_files.gray_dataset(HEADS[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns, quoting them, as the test sets them
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = \
            "1.2.826.0.1.3680043.8.498.0313131"
        ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.0424242"
        ds.PatientName, ds.PatientID = "Zzprivacy^Canary", "CANARY123"
        path = dicom_files.save(ds, str(tmp_path / "odd_uids.dcm"))
    node = ns.Node(str(tmp_path / "node"), [_dicom_dest(orthanc),
                                            {"kind": "folder", "path": str(tmp_path / "out")}]
                   ).start()
    try:
        sent = node.storescu([path])
        assert sent.returncode == 0, sent.stderr
        _wait_srs(orthanc, 1)
        ns.wait_until("the instance done", lambda: '"event": "done"' in node.log_text())
    finally:
        node.kill(signal.SIGTERM)
    log = node.log_text()
    for value in ("0313131", "0424242", "Canary", "CANARY"):
        assert value not in log, log[-3000:]


def test_peer_address_not_on_the_list_is_rejected(tmp_path):
    files = ns.heads(str(tmp_path / "in"), HEADS[:1])
    node = ns.Node(str(tmp_path / "node"), [{"kind": "folder", "path": str(tmp_path / "out")}],
                   allowed_hosts=["192.0.2.1"]).start()
    try:
        refused = node.storescu(list(files))
    finally:
        node.kill(signal.SIGTERM)
    assert refused.returncode != 0 and "Association Rejected" in refused.stderr
    assert not os.path.exists(tmp_path / "out")
    assert '"peer": "127.0.0.1", "reason": "peer address not allowed"' in node.log_text()


def test_a_message_over_the_input_limit_ends_the_association_unstored(tmp_path, monkeypatch):
    """pynetdicom holds a C-STORE's whole dataset in memory before the node sees it, so a peer
    could make the node hold any size. Past the input limit (HC_TF_MAX_INPUT_BYTES, here 50 kB;
    the head's file is ~109 kB) the connection is closed: nothing is stored or acknowledged, the
    log says why (no traceback), and the node goes on serving."""
    from hc_tf.io import images
    monkeypatch.setenv(images.BYTES_ENV, "50000")
    files = ns.heads(str(tmp_path / "in"), HEADS[:1])
    node = ns.Node(str(tmp_path / "node"), [{"kind": "folder", "path": str(tmp_path / "out")}]
                   ).start()
    try:
        refused = node.storescu(list(files))
        assert refused.returncode != 0, refused.stderr
        log = node.log_text()
        assert '"event": "aborted"' in log and "Traceback" not in log, log[-2000:]
        assert node.proc.poll() is None
        status = node.status()
    finally:
        node.kill(signal.SIGTERM)
    assert status["instances"] == {} and not os.listdir(os.path.join(node.spool, "in"))


def test_associations_past_max_associations_are_rejected_while_one_stores(tmp_path):
    """Each association may hold up to the input limit in memory, so `max_associations` bounds
    the node's total. With 1: while one association is open a second is rejected (A-ASSOCIATE-RJ
    transient, local limit exceeded; the log says why, no traceback), the open one still stores,
    and once it is released the next is accepted."""
    files = ns.heads(str(tmp_path / "in"), HEADS[:1])
    node = ns.Node(str(tmp_path / "node"), [{"kind": "folder", "path": str(tmp_path / "out")}],
                   max_associations=1).start()
    scu = ns.scu()
    scu.add_requested_context(dicom_files.US_IMAGE, pydicom.uid.ExplicitVRLittleEndian)

    def accepted() -> bool:
        assoc = scu.associate("127.0.0.1", node.port, ae_title=ns.NODE_AE)
        established = assoc.is_established
        if established:
            assoc.release()
        return established

    try:
        first = scu.associate("127.0.0.1", node.port, ae_title=ns.NODE_AE)
        assert first.is_established
        second = scu.associate("127.0.0.1", node.port, ae_title=ns.NODE_AE)
        assert second.is_rejected, "a second association was let in"
        rj = second.acceptor.primitive
        assert (rj.result, rj.result_source, rj.diagnostic) == (0x02, 0x03, 0x02)
        stored = first.send_c_store(pydicom.dcmread(next(iter(files))))
        assert stored.Status == 0x0000
        first.release()
        ns.wait_until("an association once the first is released", accepted, 30)
        ns.wait_until("the stored instance", lambda: node.status()["instances"], 30)
        log = node.log_text()
        assert node.proc.poll() is None
    finally:
        for assoc in scu.active_associations:  # a failed check leaves them open
            assoc.abort()
        node.kill(signal.SIGTERM)
    assert ('"calling_aet": "SCANNER1", "event": "rejected", "limit": 1, "peer": "127.0.0.1", '
            '"reason": "too many associations"') in log, log[-2000:]
    assert "Traceback" not in log, log[-2000:]


def test_connections_that_never_associate_do_not_keep_a_scanner_out(tmp_path):
    """pynetdicom counts a TCP connection from its accept: with its own limit at
    `max_associations`, two idle connections (a port scan, a load balancer's health check) kept
    every scanner out until its ACSE timeout. The node counts associations past their request."""
    import socket
    files = ns.heads(str(tmp_path / "in"), HEADS[:1])
    node = ns.Node(str(tmp_path / "node"), [{"kind": "folder", "path": str(tmp_path / "out")}],
                   max_associations=1).start()
    idle = [socket.create_connection(("127.0.0.1", node.port), timeout=10) for _ in range(3)]
    scu = ns.scu()
    scu.add_requested_context(dicom_files.US_IMAGE, pydicom.uid.ExplicitVRLittleEndian)
    try:
        time.sleep(0.5)  # the node has accepted them (each an acceptor thread of pynetdicom's)
        first = scu.associate("127.0.0.1", node.port, ae_title=ns.NODE_AE)
        assert first.is_established, "idle connections kept the scanner out"
        assert first.send_c_store(pydicom.dcmread(next(iter(files)))).Status == 0x0000
        second = scu.associate("127.0.0.1", node.port, ae_title=ns.NODE_AE)
        assert second.is_rejected  # the limit still holds for associations
        first.release()
    finally:
        for sock in idle:
            sock.close()
        for assoc in scu.active_associations:
            assoc.abort()
        node.kill(signal.SIGTERM)


def test_an_http_health_check_leaves_json_lines_only(tmp_path):
    """A load balancer's HTTP probe on the DICOM port: pynetdicom said "Unknown PDU type
    received '0x48'" (the H of HEAD) in plain text, in a log documented as JSON lines."""
    import re
    import socket
    node = ns.Node(str(tmp_path / "node"), [{"kind": "folder", "path": str(tmp_path / "out")}]
                   ).start()
    try:
        with socket.create_connection(("127.0.0.1", node.port), timeout=10) as probe:
            probe.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
            probe.recv(100)  # the node closes it
        ns.wait_until("pynetdicom's line", lambda: "0x48" in node.log_text(), 30)
    finally:
        node.kill(signal.SIGTERM)
    lines = node.log_text().splitlines()
    assert not [line for line in lines if not re.match(r"^[-0-9]+ [0-9:,]+ {.*}$", line)], lines
    said = [json.loads(line.split(" ", 2)[2]) for line in lines if "0x48" in line]
    assert said[0]["event"] == "pynetdicom" and said[0]["level"] == "ERROR", said


def test_sigterm_ends_the_node_promptly_while_a_peer_holds_an_idle_association(tmp_path):
    """Stopping the service must not wait for a scanner that keeps its association open:
    pynetdicom's server joins each association's thread, which an idle peer holds until the
    network timeout (60 s). The node aborts them (the peer sees an A-ABORT and re-sends what
    was not acknowledged) and exits."""
    node = ns.Node(str(tmp_path / "node"), [{"kind": "folder", "path": str(tmp_path / "out")}]
                   ).start()
    scu = ns.scu()
    scu.add_requested_context(dicom_files.US_IMAGE, pydicom.uid.ExplicitVRLittleEndian)
    idle = scu.associate("127.0.0.1", node.port, ae_title=ns.NODE_AE)
    try:
        assert idle.is_established
        start = time.monotonic()
        node.proc.send_signal(signal.SIGTERM)
        try:
            code = node.proc.wait(20)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, f"the node was still running {time.monotonic() - start:.0f} s " \
            "after SIGTERM"
        ns.wait_until("the peer to see its association end", lambda: not idle.is_alive(), 10)
        assert idle.is_aborted
    finally:
        for assoc in scu.active_associations:
            assoc.abort()
        node.kill(signal.SIGKILL)
    log = node.log_text()
    assert "Traceback" not in log
    assert '{"event": "stopping", "signal": "SIGTERM", "backlog": 0}' in log, log[-2000:]
    assert '{"event": "stopped", "backlog": 0}' in log, log[-2000:]


@pytest.mark.parametrize("kind", ["orthanc", "dicomweb"])
def test_pull_measures_each_new_us_instance_once(tmp_path, orthanc, kind):
    """A pulling node follows every US image the PACS gets: [node.measure_only] keeps it to
    the heads (an image whose series says abdomen is journalled, not measured)."""
    files = ns.heads(str(tmp_path / "in"), HEADS, STUDIES)
    other = ns.heads(str(tmp_path / "abdomen"), HEADS[:1], STUDIES, "Abdomen AC")
    first, last = list(files)[:2] + list(other), list(files)[2:]
    assert ns.storescu(orthanc.dicom_port, "ORTHANC", first).returncode == 0  # the scanner
    # A DICOMweb pull's window (days) must not outlast the journal's records (journal_keep_days)
    keep = {"journal_keep_days": 3651} if kind == "dicomweb" else {}
    node = ns.Node(str(tmp_path / "node"), [_dicom_dest(orthanc)], allowed_calling_aets=[], **keep)
    with open(node.config, "a") as f:
        url = orthanc.url + ("/dicom-web" if kind == "dicomweb" else "")
        f.write(f'\n[[pull]]\nkind = "{kind}"\nname = "pacs"\nurl = "{url}"\npoll_s = 0.5\n'
                + ('days = 3650\n' if kind == "dicomweb" else "")
                + '\n[node.measure_only]\nSeriesDescription = "(?i)head"\n')
    node.start()
    try:
        _wait_srs(orthanc, 2)
        assert ns.storescu(orthanc.dicom_port, "ORTHANC", last).returncode == 0
        _wait_srs(orthanc, 3)
        node.kill(signal.SIGTERM)
        node.start()  # the feed's cursor and the journal: nothing is taken twice
        time.sleep(2)
        status = node.status()
    finally:
        node.kill(signal.SIGTERM)
    assert status["instances"] == {"done": 4}
    got = _srs_by_source(orthanc, str(tmp_path / "pulled"))
    assert {uid: len(v) for uid, v in got.items()} == {uid: 1 for uid in files.values()}


@pytest.fixture
def small_fs(tmp_path):
    """A 1.5 MB tmpfs for the spool (needs root and mount; skips where not allowed)."""
    path = tmp_path / "small"
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): the full-disk case is untested")
    yield path
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_full_filesystem_refuses_and_loses_nothing_acknowledged(tmp_path, orthanc, small_fs):
    names = [f for f in sorted(os.listdir(os.path.dirname(dicom_files.head_png(HEADS[0]))))
             if f.endswith("_HC.png")][:10]
    files = ns.heads(str(tmp_path / "in"), names)
    node = ns.Node(str(tmp_path / "node"), [_dicom_dest(orthanc)], spool=str(small_fs / "spool"),
                   min_free_mb=0.3)
    node.start()
    try:
        sent = node.storescu(["-v"] + list(files))
        acked = sent.stderr.count("Received Store Response (Success)")
        assert 0 < acked < len(files), sent.stderr
        assert "Refused: OutOfResources" in sent.stderr
        _wait_srs(orthanc, acked)
        ns.wait_until("the backlog to drain", lambda: node.status()["backlog"] == 0)
        assert node.proc.poll() is None  # still serving
    finally:
        node.kill(signal.SIGTERM)
    assert orthanc.count_srs() == acked


def test_orthanc_routes_us_to_the_node_as_docs_node_md_configures(tmp_path):
    files = ns.heads(str(tmp_path / "in"), HEADS[:2])
    node_dir = tmp_path / "node"
    node = ns.Node(str(node_dir), [], allowed_calling_aets=["ORTHANC"])
    pacs = ns.Orthanc(str(tmp_path / "orthanc"), dicomweb=False, route_to=node.port).start()
    node.write_config([_dicom_dest(pacs)], allowed_calling_aets=["ORTHANC"])
    node.start()
    try:
        assert ns.storescu(pacs.dicom_port, "ORTHANC", list(files)).returncode == 0
        _wait_srs(pacs, 2)
        time.sleep(1)  # an SR routed back to the node would come back as a second one
        assert pacs.count_srs() == 2 and node.status()["instances"] == {"done": 2}
    finally:
        node.kill(signal.SIGTERM)
        pacs.stop()


def test_tls_on_request(tmp_path):
    key, cert = ns.self_signed_cert(str(tmp_path))
    files = ns.heads(str(tmp_path / "in"), HEADS[:1])
    node = ns.Node(str(tmp_path / "node"), [{"kind": "folder", "path": str(tmp_path / "out")}],
                   tls_cert=cert, tls_key=key).start()
    try:
        plain = node.storescu(list(files))
        secure = node.storescu(["+tla", "-ic"] + list(files))
        ns.wait_until("the SR in the folder", lambda: os.path.isdir(tmp_path / "out" / "sr"))
    finally:
        node.kill(signal.SIGTERM)
    assert plain.returncode != 0
    assert secure.returncode == 0, secure.stderr
    assert len(os.listdir(tmp_path / "out" / "sr")) == 1
