"""DICOM inputs of `hc-tf predict`: frames as samples, the pixel size chosen after measuring,
and the SR + FHIR written beside the report (docs/dicom.md).

predict.py and the DICOM node call five things: `samples` (read), `finish` (a dual pane's
second pass on the head's pane, then calibrate a prediction), `dating` (the GA a centile is
read at), `stem` (the output name of a frame) and `write_results` (sr/<stem>.sr.dcm,
fhir/<stem>.fhir.json).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from hc_tf import inference
from hc_tf import measure as measure_lib
from hc_tf.io import atomic
from hc_tf.io import dicom
from hc_tf.io import dicom_calibration as calibration
from hc_tf.io import dicom_dating
from hc_tf.io import dicom_pixel_size
from hc_tf.io import dicom_frames
from hc_tf.io import file_names

SR_DIR = "sr"
EXAM_REPORT = ".obgyn"  # sr/<first file's stem>.obgyn.sr.dcm: an exam's OB-GYN report
FHIR_DIR = "fhir"
OUTPUT_NAMES = frozenset({SR_DIR, FHIR_DIR})


@dataclasses.dataclass
class DicomSample(inference.Sample):
    """A DICOM frame to measure, with what choosing its pixel size needs."""

    header: Any = None  # dicom.Header
    frame: int = 1
    calibration: Optional[calibration.Calibration] = None
    typed_mm: Optional[float] = None
    override: bool = False
    typed_label: str = "--pixel-size"
    allow_implausible: bool = False  # the user's --allow-any-pixel-size, checked by `finish`
    allow_implausible_pixel_size: bool = True  # the provisional size: `finish` checks the chosen


def _plausible(pixel_size_mm: float, path: str, source: str, allow: bool) -> float:
    """`pixel_size_mm` if within measure.PLAUSIBLE_PIXEL_SIZE_MM (or allowed); a file's
    calibration is checked like a typed size.

    Raises:
      ValueError: naming the file and where the size came from.
    """
    try:
        return measure_lib.check_pixel_size(pixel_size_mm, f"{path}: pixel size from {source}",
                                            allow)
    except measure_lib.ImplausiblePixelSizeError as err:
        raise measure_lib.ImplausiblePixelSizeError(
            f"{err}; pass --allow-any-pixel-size to use it") from None


def is_dicom_input(path: str) -> bool:
    """A DICOM file, by content (the DICM preamble)."""
    return dicom.is_dicom(path)


def is_dicom_path(path: str) -> bool:
    """A file predict and evaluate read as DICOM: by content, or by a .dcm/.dicom name.

    The name counts too so that a truncated file, one without the Part 10 preamble (older
    scanners) or one that cannot be opened is refused by the DICOM reader, naming it, rather
    than left out of a folder's listing without a word.
    """
    return dicom.is_dicom_name(path) or is_dicom_input(path)


def frame_count(path: str) -> int:
    """NumberOfFrames of a DICOM file from its header; 0 for a file the reader refuses (it
    writes no output)."""
    try:
        return dicom.read_header(path).frames
    except (OSError, ValueError):
        return 0


def is_multi_frame(sample: DicomSample) -> bool:
    return sample.header.frames > 1


def frame_filename(name: str, frame: int, multi: bool) -> str:
    """The name a frame's rows carry: "scan.dcm", or "scan.dcm#3" for frame 3 of several."""
    return f"{name}#{frame}" if multi else name


def csv_name(sample: inference.Sample) -> str:
    """The name --pixel-csv knows a sample by: a DICOM frame's file ("scan.dcm" for
    "scan.dcm#3": the CSV has one row per file), else the sample's own name."""
    if isinstance(sample, DicomSample):
        return os.path.basename(sample.header.path)
    return sample.filename


def stem(sample: inference.Sample) -> str:
    """The output file stem of a sample: "scan", or "scan.frame3" for frame 3 of several."""
    if isinstance(sample, DicomSample):
        base = file_names.file_stem(sample.header.path)
        return f"{base}.frame{sample.frame}" if is_multi_frame(sample) else base
    return file_names.file_stem(sample.filename)


def samples(path: str, frame: Optional[int], typed_mm: Optional[float], override: bool,
            typed_label: str = "--pixel-size", allow_implausible: bool = False,
            header: Optional[dicom.Header] = None) -> Iterator[DicomSample]:
    """The frames of one DICOM file, decoded one at a time (`header`: the file's, when the
    caller has read it already).

    Every frame's calibration is checked before any pixel is decoded, so a file the head's
    position cannot save is refused whole, in one line.

    Raises:
      dicom.DicomError: naming the file (and tag).
    """
    header = header or dicom.read_header(path)
    numbers = dicom.frame_numbers(header, frame)
    cals = calibration.read_calibrations(header, numbers)
    provisional = {n: dicom_pixel_size.provisional_pixel_size(c, typed_mm, override, typed_label)
                   for n, c in cals.items()}
    ds = dicom.read_pixels(header)
    name = os.path.basename(path)
    for n in numbers:
        gray = dicom_frames.decode_frame(header, ds, n)
        yield DicomSample(frame_filename(name, n, header.frames > 1), gray, provisional[n],
                          region=dicom_pixel_size.model_region(cals[n], header.rows, header.columns),
                          header=header, frame=n, calibration=cals[n], typed_mm=typed_mm,
                          override=override, typed_label=typed_label,
                          allow_implausible=allow_implausible)


def region_pass(runner: inference.Runner, pred: inference.Prediction) -> inference.Prediction:
    """A frame of several 2D regions (a dual pane), measured whole, then measured again on the
    region that holds its head (`dicom_pixel_size.pane_region`): the model sees that pane as it
    sees a frame's one region (docs/dicom.md). `pred` as it is for any other frame, a head not
    found, one no single pane holds, or a pane where the second pass finds none."""
    s: DicomSample = pred.sample
    m = pred.measurement
    if s.region is not None or not m.found or len(s.calibration.regions) < 2:
        return pred
    box = dicom_pixel_size.pane_region(s.calibration, m.ellipse)
    if box is None:
        return pred
    second = inference.predict_batch(runner, [dataclasses.replace(s, region=box)])[0]
    return second if second.measurement.found else pred


def finish(runner: inference.Runner, pred: inference.Prediction
           ) -> Tuple[inference.Prediction, Dict[str, Any]]:
    """Chooses the frame's pixel size by where the head is, re-measuring if it differs; a frame
    of several 2D regions is first measured again on its head's (`region_pass`).

    Returns:
      (the prediction with its final measurement, the report.json fields this adds:
      "frame", "pixel_size_source", "pixel_size_note" and "dicom" (UIDs, region, ellipse)).

    Raises:
      ValueError: naming the file and tag, for a pixel size that cannot be chosen
        (`dicom.DicomError`) or is implausible.
    """
    pred = region_pass(runner, pred)
    s: DicomSample = pred.sample
    m = pred.measurement
    try:
        choice = dicom_pixel_size.choose_pixel_size(s.calibration, m.ellipse if m.found else None,
                                                    s.typed_mm, s.override, s.typed_label)
    except dicom.DicomError as err:  # name the frame: each frame is refused on its own
        if not is_multi_frame(s):
            raise
        path = s.header.path
        raise dicom.DicomError(str(err).replace(f"{path}: ", f"{path} frame {s.frame}: ", 1)
                               ) from None
    _plausible(choice.pixel_size_mm, s.header.path, choice.source, s.allow_implausible)
    if choice.pixel_size_mm != m.pixel_size_mm:  # the head's region differs from the first
        pred = inference.remeasure(pred, choice.pixel_size_mm)
        m = pred.measurement
    refs = dicom.uids(s.header)
    fields = {"frame": s.frame, "pixel_size_source": choice.source,
              "pixel_size_note": choice.note,
              "dicom": {**refs, "frame": s.frame, "frames_in_file": s.header.frames,
                        "region": choice.region, "file_pixel_size_mm": choice.file_pixel_size_mm,
                        "model_region": (list(s.region) if s.region is not None else None),
                        "ellipse_px": (dataclasses.asdict(m.ellipse) if m.found else None)}}
    return pred, fields


def dating(sample: DicomSample, typed_ga_weeks: Optional[float], fields: Dict[str, Any],
           typed_source: str) -> Tuple[Optional[float], str]:
    """The GA from dating a frame's centile is read at, and where it came from: one typed for
    it wins (a clinician's dating), else the file's Last Menstrual Date at its StudyDate. Why the
    file's date cannot date it goes in `fields["dicom"]["dating_note"]` (`finish`'s fields),
    naming the tags, never the dates.

    Returns:
      (GA in weeks or None, its source: `typed_source` or dicom_dating.LMP_SOURCE).
    """
    file_ga, why = dicom_dating.lmp_ga_weeks(sample.header.dataset)
    if why:
        fields["dicom"]["dating_note"] = why
    if typed_ga_weeks is None and file_ga is not None:
        return file_ga, dicom_dating.LMP_SOURCE
    return typed_ga_weeks, typed_source


@dataclasses.dataclass
class RunContext:
    """What a run's SRs share: the method, one new SR series per source study, and the system
    of the patient IDs the FHIR subjects name (None: no subject)."""

    model: Any  # dicom_sr.ModelInfo
    series: Dict[str, Tuple[str, int]] = dataclasses.field(default_factory=dict)
    patient_system: Optional[str] = None

    def next_in_series(self, study_uid: str) -> Tuple[str, int]:
        """(series UID, instance number) of the next SR of `study_uid` in this run."""
        from pydicom.uid import generate_uid
        uid, count = self.series.get(study_uid, (generate_uid(), 0))
        self.series[study_uid] = (uid, count + 1)
        return uid, count + 1


def run_context(model_path: str, patient_system: Optional[str] = None) -> RunContext:
    """A run's SR context: the model's name, version and sha256 (read once)."""
    from hc_tf.report import dicom_sr
    return RunContext(dicom_sr.model_info(model_path), patient_system=patient_system)


# The tag, never the value; the SR's PatientID is empty when the file's is missing or invalid.
NO_SUBJECT = ("no FHIR subject: the file has no PatientID (0010,0020) the SR could keep as it "
              "is")


def _subject(run: RunContext, source: Any, sr: Any,
             record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The Observation's subject: the PatientID as the SR holds it, so the SR and the FHIR name
    one patient, and only when it is the source's (padding aside): one the SR had to change (a
    file's several values cut to the first) may be another patient's. Else a note in `record`."""
    from hc_tf.report import fhir
    if not run.patient_system:
        return None
    kept = sr.get("PatientID")
    same = str(kept or "").strip() == str(source.get("PatientID") or "").strip()
    subject = fhir.patient_subject(run.patient_system, kept) if same else None
    if subject is None:
        record["dicom"]["fhir_notes"] = [NO_SUBJECT]
    return subject


def write_results(folder: str, pred: inference.Prediction, record: Dict[str, Any],
                  run: RunContext) -> None:
    """Writes sr/<stem>.sr.dcm and fhir/<stem>.fhir.json for a found head, and names them (and
    the SR's UIDs) in `record["dicom"]`, with "fhir_notes" for a subject asked for and not
    written; a head not found gets neither.

    Args:
      folder: the staging folder.
      pred: a finished DICOM prediction.
      record: its report.json record (with `finish`'s fields).
      run: this run's `RunContext`.
    """
    from hc_tf.report import dicom_sr
    from hc_tf.report import dicom_sr_document
    from hc_tf.report import fhir
    m, s = pred.measurement, pred.sample
    if not m.found:
        return
    missing = dicom.missing_uids(s.header)
    if missing:
        record["dicom"]["sr_error"] = (f"{s.header.name}: no SR or FHIR: the file lacks a valid "
                                       f"{', '.join(missing)}")
        return
    frame = s.frame if is_multi_frame(s) else None
    series_uid, number = run.next_in_series(record["dicom"]["study_instance_uid"])
    notes = []
    axis_intervals = {q: record.get(f"{q}_interval") for q in ("bpd", "ofd")}
    axis_intervals.update(ci=record.get("cephalic_index_interval"),
                          cbpd=record.get("corrected_bpd_interval"))
    try:
        sr = dicom_sr.build_sr(s.header.dataset, frame, m.ellipse, m.hc_mm,
                               record["gestational_age"], m.review, m.review_reasons, run.model,
                               series_uid, number, hc_interval=record.get("hc_interval"),
                               notes=notes, biometry=record.get("biometry"),
                               axis_intervals=axis_intervals, centile=record.get("centile"),
                               dating=record.get("dating"))
    except dicom_sr_document.SRError as err:  # the measurement stays; this file has no SR
        record["dicom"]["sr_error"] = f"{s.header.name}: no SR or FHIR: {err}"
        return
    if notes:  # patient/study fields copied in DICOM's form or left out (tags, no values)
        record["dicom"]["sr_notes"] = notes
    name = stem(s)
    sr_rel = f"{SR_DIR}/{name}.sr.dcm"
    fhir_rel = f"{FHIR_DIR}/{name}.fhir.json"
    for sub in (SR_DIR, FHIR_DIR):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    dicom_sr_document.write_sr(sr, os.path.join(folder, sr_rel))
    obs = fhir.head_bundle(m.hc_mm, dicom.uids(s.header), frame, run.model, m.review,
                           m.review_reasons, fhir.study_datetime(sr),
                           str(sr.SOPInstanceUID), hc_interval=record.get("hc_interval"),
                           subject=_subject(run, s.header.dataset, sr, record),
                           biometry=record.get("biometry"), axis_intervals=axis_intervals,
                           centile=record.get("centile"), dating=record.get("dating"),
                           gestational_age=record["gestational_age"],
                           ga_interval=record.get("ga_interval"))
    _write_json(os.path.join(folder, fhir_rel), obs)
    record["dicom"].update(sr=sr_rel, fhir=fhir_rel,
                           sr_series_instance_uid=str(sr.SeriesInstanceUID),
                           sr_sop_instance_uid=str(sr.SOPInstanceUID),
                           ellipse_scoord=dicom_sr.scoord_ellipse(m.ellipse).tolist())


def _write_json(path: str, doc: Dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)


def write_exam_reports(folder: str, records: Sequence[Dict[str, Any]],
                       exam_column: Mapping[str, str], headers: Mapping[str, Any],
                       run: Optional[RunContext]) -> None:
    """Writes sr/<stem>.obgyn.sr.dcm, the OB-GYN report (TID 5000, `dicom_sr_obgyn`) of each
    exam (`exams`' grouping) whose heads have their SRs, named by its first image's file, and
    its FHIR twin fhir/<stem>.obgyn.fhir.json (`fhir_exam`); each of its images' records names
    them ("dicom": "obgyn_sr", "obgyn_fhir"), or says why there are none
    ("obgyn_sr_error", naming the exam's first image: an exam whose images are in several
    studies, or highdicom's refusal).

    Args:
      folder: the staging folder.
      records: the run's report.json records, in input order.
      exam_column: filename -> exam, from the pixel CSV's `exam` column.
      headers: filename -> the pydicom header of each record with an SR.
      run: this run's `RunContext` (None: no DICOM head, nothing to write).
    """
    if run is None:
        return
    from hc_tf.report import dicom_sr_document
    from hc_tf.report import dicom_sr_obgyn
    from hc_tf.report import exams as exams_lib
    from hc_tf.report import fhir
    from hc_tf.report import fhir_exam
    for exam, members in exams_lib.group_exams(records, exam_column).items():
        heads = [r for r in members if (r.get("dicom") or {}).get("sr")]
        studies = {r["dicom"]["study_instance_uid"] for r in heads}
        error = None
        exam_of = f"{heads[0]['filename']} (an exam of {len(heads)} images)" if heads else ""
        if len(studies) > 1:
            error = f"{exam_of}: no OB-GYN report: the exam's images are in {len(studies)} studies"
        elif heads:
            series_uid, number = run.next_in_series(studies.pop())
            try:
                exam_row = exams_lib.exam_record(exam, heads)
                sr = dicom_sr_obgyn.build_exam_sr(headers[heads[0]["filename"]], heads, exam_row,
                                                  run.model, series_uid, number)
            except dicom_sr_document.SRError as err:
                error = f"{exam_of}: no OB-GYN report: {err}"
        for r in heads:
            r["dicom"].update({"obgyn_sr_error": error} if error else {})
        if error or not heads:
            continue
        name = file_names.source_stem(heads[0]["filename"]) + EXAM_REPORT
        rel, fhir_rel = f"{SR_DIR}/{name}.sr.dcm", f"{FHIR_DIR}/{name}.fhir.json"
        dicom_sr_document.write_sr(sr, os.path.join(folder, rel))
        subject = _subject(run, headers[heads[0]["filename"]], sr, {"dicom": {}})
        _write_json(os.path.join(folder, fhir_rel), fhir_exam.exam_bundle(
            heads, exam_row, run.model, str(sr.SOPInstanceUID), fhir.study_datetime(sr), subject))
        for r in heads:
            r["dicom"].update(obgyn_sr=rel, obgyn_fhir=fhir_rel)
