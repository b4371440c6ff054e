"""One spooled instance -> its SRs (and FHIR Observations), by `hc-tf predict`'s own steps.

The same functions `predict` calls (dicom_predict.samples/finish/dating/write_results,
predict.image_rows): a node and `hc-tf predict` on the same file give the same HC, and the same
centile where the file's Last Menstrual Date dates it (a node has no typed GA). What can never
succeed (the reader's refusals, no calibration, no SR possible) raises `Dead` with its reason.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import threading
from typing import Any, Dict, List, Optional, Tuple

from hc_tf import inference
from hc_tf.io import dicom
from hc_tf.node import selection as selection_lib
from hc_tf.surfaces import dicom_predict

SINGLE_FRAME_CLASSES = {"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.6"}
MULTI_FRAME_CLASSES = {"1.2.840.10008.5.1.4.1.1.3.1", "1.2.840.10008.5.1.4.1.1.3"}
US_CLASSES = SINGLE_FRAME_CLASSES | MULTI_FRAME_CLASSES


class Dead(Exception):
    """An instance that can never be measured; str() is the reason (no patient data)."""


class NodeRun(dicom_predict.RunContext):
    """SR series: one per study and node, the same across restarts (derived, not random);
    instance numbers go on from the journal's count, so a restart does not repeat them. With
    `obgyn_report`, each series' measured images get their OB-GYN report too (series.py)."""

    def __init__(self, model: Any, node_ae: str, first_number: int = 1,
                 patient_system: Optional[str] = None, obgyn_report: bool = False):
        super().__init__(model, patient_system=patient_system)
        self.node_ae = node_ae
        self.obgyn_report = obgyn_report
        self._numbers = itertools.count(first_number)
        self._lock = threading.Lock()

    def next_in_series(self, study_uid: str) -> Tuple[str, int]:
        from pydicom.uid import generate_uid
        with self._lock:
            number = next(self._numbers)
        return generate_uid(entropy_srcs=["hc-tf node SR series", self.node_ae, study_uid]), number


# predict's hints name its command-line options, which a node has not
_CLI_HINT = re.compile(r"; (give|pass) --[a-z-]+[^;]*")


def _reason(path: str, err: Exception) -> str:
    """The error without the spool path (the instance is named by its id in the journal) and
    without predict's option hints."""
    return _CLI_HINT.sub("", str(err).replace(f"{path}: ", "").replace(path, "the instance"))


def measure_file(runner: inference.Runner, path: str, folder: str, run: NodeRun,
                 select: selection_lib.Selection = selection_lib.EVERY_IMAGE,
                 ) -> Tuple[List[str], Dict[str, Any]]:
    """Measures every frame of `path`, writing sr/ and fhir/ under `folder` (emptied first),
    unless `select` ([node] frames and measure_only) leaves the file out.

    Returns:
      (the written files relative to `folder`, SRs first; a summary: frames, found, hc_mm,
      refused frames' reasons, sr_notes: the source's patient/study fields the SRs hold in
      DICOM's form or leave out, by tag, a FHIR subject asked for and not written, and why
      the file's Last Menstrual Date dates no centile; "records": the report records (JSON) of
      the frames with an SR, for the series' OB-GYN report; "skipped": why the file was not
      measured, when it was not).

    Raises:
      Dead: the file cannot be read or calibrated, or no frame could be measured and some
        were refused.
    """
    shutil.rmtree(folder, ignore_errors=True)  # a re-measure after a crash starts clean
    os.makedirs(folder)
    try:
        header = dicom.read_header(path)
        skipped = select.why_not(header)
        if skipped:
            return [], {"frames": header.frames, "found": 0, "hc_mm": [], "refused": [],
                        "sr_notes": [], "skipped": skipped}
        preds = list(inference.predict_samples(runner, dicom_predict.samples(
            path, None, None, False, header=header)))
    except ValueError as err:  # dicom.DicomError and the calibration refusals
        raise Dead(_reason(path, err)) from None
    from hc_tf.surfaces import predict as predict_lib
    files, refused, hcs, notes, records = [], [], [], [], []
    for pred in preds:
        try:
            pred, extra = dicom_predict.finish(runner, pred)
        except ValueError as err:
            refused.append(_reason(path, err))
            continue
        ga, source = dicom_predict.dating(pred.sample, None, extra, "")  # the file's LMP
        _, record = predict_lib.image_rows(pred.sample.filename, pred.measurement, ga, source)
        record.update(extra)
        dicom_predict.write_results(folder, pred, record, run)
        d = record["dicom"]
        file_notes = d.get("sr_notes", []) + d.get("fhir_notes", []) + (
            [d["dating_note"]] if d.get("dating_note") else [])
        for note in file_notes:  # the same for every frame
            if note not in notes:
                notes.append(note)
        if d.get("sr_error"):
            refused.append(_reason(path, ValueError(d["sr_error"])))
        elif pred.measurement.found:
            files += [d["sr"], d["fhir"]]
            hcs.append(round(float(pred.measurement.hc_mm), 2))
            records.append(record)
    if refused and not files:
        raise Dead("; ".join(refused))
    summary = {"frames": len(preds), "found": len(hcs), "hc_mm": hcs, "refused": refused,
               "sr_notes": notes, "records": records}
    return sorted(files, key=lambda f: not f.endswith(".sr.dcm")), summary


def sr_files(outputs: List[str]) -> List[str]:
    return [f for f in outputs if f.endswith(".sr.dcm")]
