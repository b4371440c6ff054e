"""Damaged US images sent to `hc-tf node serve` by C-STORE (scripts/fuzz_predict.py's damage, a
fixed seed, six transfer syntaxes): every instance the node acknowledges ends measured or a dead
letter with its reason, the node stays up, and its log is its JSON lines, never a library's
traceback (pydicom's decoders logged 26 for 200 copies)."""

import io
import os
import re
import sys

import numpy as np
import pytest

from tests import dicom_files
from tests import node_support

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
import fuzz_predict  # noqa: E402

COPIES, SEED = 60, 2
# Every line JSON: the node's own, and other libraries' as {"event": "pynetdicom", ...} (cli_lib).
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} {.*}$")


def _sources():
    """One HC18 head in each transfer syntax the node takes from a scanner (uncompressed,
    deflated, RLE, JPEG Baseline, JPEG-LS, JPEG 2000)."""
    import cv2
    from pydicom import uid
    name = sorted(dicom_files.head_pixel_sizes())[0]
    out = []
    for syntax in (uid.ExplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
                   uid.RLELossless, uid.JPEGLSLossless, uid.JPEG2000Lossless):
        ds = dicom_files.gray_dataset(name)
        if syntax == uid.DeflatedExplicitVRLittleEndian:
            ds.file_meta.TransferSyntaxUID = syntax
        elif syntax != uid.ExplicitVRLittleEndian:
            ds.compress(syntax)
        out.append(ds)
    gray = cv2.imread(dicom_files.head_png(name), cv2.IMREAD_GRAYSCALE)
    h, w = gray.shape
    out.append(dicom_files.jpeg_baseline_dataset(np.dstack([gray] * 3), (0, 0, w - 1, h - 1),
                                                 dicom_files.head_pixel_sizes()[name]))
    return out


def _damaged_copies(folder):
    """COPIES damaged files, each a new SOP instance (the node takes a resent one as a duplicate)."""
    from pydicom.uid import generate_uid
    rng, sources, paths = np.random.default_rng(SEED), _sources(), []
    os.makedirs(folder)
    for k in range(COPIES):
        ds = sources[int(rng.integers(len(sources)))]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        paths.append(os.path.join(folder, f"{k:03d}.dcm"))
        with open(paths[-1], "wb") as f:
            f.write(fuzz_predict.damaged(buf.getvalue(), rng))
    return paths


def _send(port, paths):
    """Each file by pynetdicom's C-STORE as its bytes stand (not decoded first): how many the
    node acknowledged with success. A file pynetdicom cannot send is the sender's failure."""
    from pydicom import uid
    from pynetdicom import AE
    from pynetdicom.sop_class import UltrasoundImageStorage
    ae = AE(ae_title=node_support.SCANNER)
    for syntax in (uid.ExplicitVRLittleEndian, uid.DeflatedExplicitVRLittleEndian,
                   uid.RLELossless, uid.JPEGLSLossless, uid.JPEG2000Lossless,
                   uid.JPEGBaseline8Bit):
        ae.add_requested_context(UltrasoundImageStorage, syntax)
    stored, assoc = 0, None
    for path in paths:
        if assoc is None or not assoc.is_established:
            assoc = ae.associate("127.0.0.1", port, ae_title=node_support.NODE_AE)
            assert assoc.is_established, "the node refused an association"
        try:
            status = assoc.send_c_store(path)
        except Exception:  # noqa: BLE001  pynetdicom could not read or send it
            continue
        stored += bool(status) and status.Status == 0
    assoc.release()
    return stored


@pytest.mark.large
def test_damaged_images_end_measured_or_dead_and_the_log_stays_the_nodes(tmp_path):
    pytest.importorskip("pynetdicom")
    paths = _damaged_copies(str(tmp_path / "copies"))
    node = node_support.Node(str(tmp_path / "node"), [
        {"kind": "folder", "name": "archive", "path": str(tmp_path / "archive")}]).start()
    try:
        stored = _send(node.port, paths)
        node_support.wait_until("the node to settle", lambda: node.status()["backlog"] == 0)
        status = node.status()
        assert node.proc.poll() is None, node.log_text()[-2000:]
    finally:
        node.kill()
    states = status["instances"]
    assert stored > COPIES // 2 and sum(states.values()) == stored, (stored, states)
    assert set(states) <= {"done", "dead"} and states.get("done") and states.get("dead")
    assert all(d["reason"] for d in status["dead_letters"])
    strays = [line for line in node.log_text().splitlines() if not _LOG_LINE.match(line)]
    assert strays == [], strays[:10]
