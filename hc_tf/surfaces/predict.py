"""`hc-tf predict`: image files -> HC18 submission CSV, a clinical report (HC, GA by
both formulas, optional centile, review flag and quality signals; CSV and JSON), the exams
(images of one head averaged), overlay PNGs and a list of the images that could not be read.

No TensorFlow on a `.tflite` model: the runner comes from `inference.load_runner`.
One run's outputs are staged inside `--out` and moved into place when complete
(`hc_tf.io.out_dir`), so `--out` never mixes two runs; a non-empty `--out` is
replaced only with `overwrite`, and only when it holds nothing but files of the
kinds this run writes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import cv2

from hc_tf.io import tables
from hc_tf import clinical
from hc_tf.io import atomic
from hc_tf.io import dicom
from hc_tf.io import file_names
from hc_tf.io import out_dir as out_dir_lib
from hc_tf import inference
from hc_tf import measure as measure_lib
from hc_tf import preprocess
from hc_tf.surfaces import dicom_predict
from hc_tf.console import progress
from hc_tf.report import exams as exams_lib
from hc_tf.report import records as report_lib
from hc_tf.surfaces import predict_inputs

SUBMISSION_NAME = "submission.csv"
UNREADABLE_NAME = "unreadable.csv"
OVERLAYS_NAME = "overlays"
REPORT_CSV_NAME = "report.csv"
REPORT_JSON_NAME = "report.json"
OUTPUT_NAMES = frozenset({SUBMISSION_NAME, UNREADABLE_NAME, OVERLAYS_NAME, REPORT_CSV_NAME,
                          REPORT_JSON_NAME, exams_lib.EXAMS_NAME})
REPORT_FORMAT = "hc-tf predict report v1"
UNREADABLE_FIELDS = ("path", "error")


@dataclasses.dataclass
class PredictResult:
    """What one run measured, and what it could not read."""

    measurements: List[measure_lib.Measurement]
    unreadable: List[Tuple[str, str]]  # (path, error naming the path)
    records: List[Dict[str, object]] = dataclasses.field(default_factory=list)  # report.json's
    notes: List[str] = dataclasses.field(default_factory=list)  # about the inputs (`Inputs.notes`)

    @property
    def flagged(self) -> int:
        """How many measurements are flagged for review."""
        return sum(1 for m in self.measurements if m.review)


def _read_samples(paths: Sequence[str], sizes: Dict[str, float], pixel_size_mm: Optional[float],
                  unreadable: List[Tuple[str, str]], show_progress: bool = False,
                  frame: Optional[int] = None, override_dicom_calibration: bool = False,
                  allow_implausible_pixel_size: bool = False) -> Iterator[inference.Sample]:
    """Samples of the readable images; each unreadable one is appended to `unreadable`.

    The progress bar counts paths as they are read, unreadable ones included, so it
    ends at the number of inputs (it runs at most one batch ahead of the measuring).
    """
    first_of: Dict[str, str] = {}  # SOP Instance UID -> the input that had it first
    for path in progress.bar(paths, show_progress, desc="predict"):
        name = os.path.basename(path)
        if dicom_predict.is_dicom_path(path):  # its frames; a refusal is one line, as below
            try:
                header = dicom.read_header(path)
                uid = dicom.uids(header)["sop_instance_uid"]
                if uid and first_of.setdefault(uid, path) != path:  # one image, two files:
                    raise ValueError(f"the same DICOM image as {first_of[uid]} (the same "  # once
                                     f"SOPInstanceUID (0008,0018)); measured once, as that file")
                yield from dicom_predict.samples(
                    path, frame, sizes.get(name, pixel_size_mm), override_dicom_calibration,
                    "--pixel-csv's row" if name in sizes else "--pixel-size",
                    allow_implausible_pixel_size, header=header)
            except (OSError, ValueError) as err:
                unreadable.append((path, unreadable_reason(path, err)))
            continue
        try:
            image = preprocess.read_gray_image(path)
        except (OSError, ValueError) as err:
            unreadable.append((path, unreadable_reason(path, err)))
            continue
        yield inference.Sample(name, image, sizes.get(name, pixel_size_mm),
                               allow_implausible_pixel_size=allow_implausible_pixel_size)


def unreadable_reason(path: str, err: Exception) -> str:
    """An error's message, prefixed with `path` unless it names it already."""
    message = str(err)
    return message if path in message else f"{path}: {message}"


def image_rows(filename: str, m: measure_lib.Measurement, known_ga_weeks: Optional[float],
               dating_source: str = report_lib.DATING_SOURCE
               ) -> Tuple[List[Any], Dict[str, Any]]:
    """One measured image's submission.csv row and report record (`report.image_record`).

    Args:
      filename: the image's file name.
      m: its measurement.
      known_ga_weeks: its known GA in weeks, or None.
      dating_source: where that GA came from, for the report.

    Returns:
      (submission row, report record): what predict and its Beam mode both write.
    """
    return (measure_lib.submission_row(filename, m),
            report_lib.image_record(filename, m, known_ga_weeks, dating_source))


def _overlay_png(sample: inference.Sample, m: measure_lib.Measurement, filename: str, path: str) -> None:
    """Writes the overlay (ellipse, HC, GA, REVIEW mark when flagged, the DICOM region the model
    saw) of one image."""
    ok, png = cv2.imencode(".png", measure_lib.draw_overlay(sample.image, m, region=sample.region))
    if not ok:
        raise ValueError(f"{filename}: its overlay could not be encoded")
    atomic.write_bytes(path, png.tobytes())  # a full disk: one line naming the file


def _write_report(folder: str, records: List[Dict[str, object]],
                  unreadable: List[Tuple[str, str]], model_path: str,
                  exams: List[Dict[str, Any]]) -> None:
    """report.csv (one flat row per measured image) and report.json (the same, nested, with
    the formulas' sources, the review thresholds, the exam rows and the unreadable images)."""
    tables.write_rows_csv(os.path.join(folder, REPORT_CSV_NAME),
                          [report_lib.csv_row(r) for r in records],
                          fields=report_lib.REPORT_FIELDS, digits=6)
    doc = {"format": REPORT_FORMAT, "model": os.path.basename(model_path),
           "ga_methods": {report_lib.GA_KEYS[m]: {"method": m.value,
                                                  "title": report_lib.GA_TITLES[m],
                                                  "source": s}
                          for m, s in ((clinical.GaMethod.HADLOCK_1984, clinical.HADLOCK_SOURCE),
                                       (clinical.GaMethod.INTERGROWTH_2016,
                                        clinical.INTERGROWTH_GA_SOURCE))},
           "centile_source": clinical.INTERGROWTH_HC_SOURCE,
           "review_thresholds": report_lib.thresholds_record(),
           "counts": {**report_lib.summary_counts(records), "unreadable": len(unreadable)},
           "images": records,
           "exams": exams,
           "unreadable": [dict(zip(UNREADABLE_FIELDS, u)) for u in unreadable]}
    tables.write_json(os.path.join(folder, REPORT_JSON_NAME), doc)


def _write_outputs(runner: inference.Runner, samples: Iterator[inference.Sample],
                   unreadable: List[Tuple[str, str]], folder: str, model_path: str,
                   known_ga: Callable[[str], Optional[float]], exam_column: Mapping[str, str],
                   patient_system: Optional[str] = None, overlays: bool = True
                   ) -> Tuple[List[measure_lib.Measurement], List[Dict[str, object]]]:
    """Measures the samples; writes submission.csv, report.csv/.json, exams.csv, overlays/
    (unless `overlays` is False) and unreadable.csv in `folder`.

    Args:
      runner: the model runner.
      samples: the readable images (reading fills `unreadable`).
      unreadable: (path, error) of the images that could not be read.
      folder: the staging folder.
      model_path: recorded in report.json.
      known_ga: filename -> known GA in weeks, or None.
      exam_column: file name -> exam, from the pixel CSV's `exam` column (`exams_lib`); a
        DICOM file's label is its frames'.
      patient_system: the FHIR subjects' patient identifier system (None: no subject).
      overlays: write overlays/<image>.png.

    Returns:
      (measurements, report records), in input order.
    """
    overlay_dir = os.path.join(folder, OVERLAYS_NAME)
    if overlays:
        os.makedirs(overlay_dir, exist_ok=True)
    rows, measurements, records = [], [], []
    exams_of: Dict[str, str] = {}  # record filename -> exam label: a frame's is its file's
    sr_run = None  # the SRs' method and series, made at the first DICOM
    headers: Dict[str, Any] = {}  # record filename -> DICOM header, for the exams' reports
    for pred in inference.predict_samples(runner, samples):
        extra = {}
        if isinstance(pred.sample, dicom_predict.DicomSample):  # pixel size by the head's region
            try:
                pred, extra = dicom_predict.finish(runner, pred)
            except ValueError as err:
                unreadable.append((pred.sample.header.path, str(err)))
                continue
        m, name = pred.measurement, pred.sample.filename
        measurements.append(m)
        csv_name = dicom_predict.csv_name(pred.sample)
        ga, source = known_ga(csv_name), report_lib.DATING_SOURCE
        if extra:  # a DICOM frame: the file's own dating, used when no GA is typed for it
            ga, source = dicom_predict.dating(pred.sample, ga, extra, source)
        row, record = image_rows(name, m, ga, source)
        if csv_name in exam_column:
            exams_of[name] = exam_column[csv_name]
        record.update(extra)
        rows.append(row)
        records.append(record)
        if extra:
            sr_run = sr_run or dicom_predict.run_context(model_path, patient_system)
            dicom_predict.write_results(folder, pred, record, sr_run)
            headers[name] = pred.sample.header.dataset
        if overlays:
            _overlay_png(pred.sample, m, name,
                         os.path.join(overlay_dir, dicom_predict.stem(pred.sample) + ".png"))
    dicom_predict.write_exam_reports(folder, records, exams_of, headers, sr_run)
    # Written after measuring: `unreadable` is filled while the samples are read.
    write_tables(folder, rows, records, unreadable, model_path, exam_column=exams_of)
    return measurements, records


def write_tables(folder: str, rows: Sequence[Sequence[Any]], records: List[Dict[str, Any]],
                 unreadable: List[Tuple[str, str]], model_path: str,
                 unreadable_name: str = UNREADABLE_NAME,
                 exam_column: Optional[Mapping[str, str]] = None) -> None:
    """Writes submission.csv, report.csv, report.json, exams.csv and the unreadable list in
    `folder`.

    Args:
      folder: the staging folder.
      rows: submission rows, in output order (`image_rows`).
      records: report records, in the same order.
      unreadable: (path, error) of the images that could not be measured.
      model_path: recorded in report.json.
      unreadable_name: the unreadable list's file name (Beam mode: its dead letters).
      exam_column: filename -> exam, from the pixel CSV's `exam` column (`exams_lib`).
    """
    exams = exams_lib.exam_records(records, exam_column)
    measure_lib.write_submission_csv(os.path.join(folder, SUBMISSION_NAME), rows)
    _write_report(folder, records, unreadable, model_path, exams)
    exams_lib.write_exams_csv(os.path.join(folder, exams_lib.EXAMS_NAME), exams)
    tables.write_rows_csv(os.path.join(folder, unreadable_name),
                          [dict(zip(UNREADABLE_FIELDS, u)) for u in unreadable],
                          fields=UNREADABLE_FIELDS)


def outputs_of(paths: Sequence[str]) -> out_dir_lib.Outputs:
    """What a run on `paths` writes in --out (all that `overwrite` may ever replace): the
    tables, overlays/<image>.png of these images, and for DICOM inputs sr/<image>.sr.dcm,
    sr/<image>.obgyn.sr.dcm, fhir/<image>.fhir.json and fhir/<image>.obgyn.fhir.json (a
    multi-frame file's as <image>.frameN.*)."""
    stems = frozenset(file_names.file_stem(p) for p in paths)

    def of_these_images(suffix: str):
        def accepts(name: str) -> bool:
            if not name.endswith(suffix):
                return False
            base = name[:-len(suffix)]
            exam = dicom_predict.EXAM_REPORT  # an exam's report: <first file's stem>.obgyn
            base = base[:-len(exam)] if base.endswith(exam) else base
            return base in stems or base.rsplit(".frame", 1)[0] in stems
        return accepts

    folders = {OVERLAYS_NAME: of_these_images(".png"),
               dicom_predict.SR_DIR: of_these_images(".sr.dcm"),
               dicom_predict.FHIR_DIR: of_these_images(".fhir.json")}
    return out_dir_lib.Outputs(OUTPUT_NAMES - {OVERLAYS_NAME}, folders,
                               {OVERLAYS_NAME: "<image>.png", dicom_predict.SR_DIR: "<image>.sr.dcm",
                                dicom_predict.FHIR_DIR: "<image>.fhir.json"})


class NothingMeasuredError(ValueError):
    """No input could be read or measured: each is in `unreadable` with why, nothing written."""

    def __init__(self, unreadable: List[Tuple[str, str]], notes: Sequence[str] = ()):
        super().__init__(f"no image could be measured ({len(unreadable)} unreadable, each "
                         "named above); nothing was written")
        self.unreadable, self.notes = unreadable, list(notes)


def predict_files(model_path: str, inputs: Sequence[str], out_dir: str,
                  pixel_csv: Optional[str] = None, pixel_size_mm: Optional[float] = None,
                  flip_tta: bool = False, overwrite: bool = False,
                  allow_implausible_pixel_size: bool = False,
                  ga_weeks: Optional[str] = None, show_progress: bool = False,
                  frame: Optional[int] = None, override_dicom_calibration: bool = False,
                  fhir_patient_system: Optional[str] = None,
                  overlays: bool = True) -> PredictResult:
    """Measures every readable image; writes `submission.csv`, `report.csv`, `report.json`,
    `exams.csv`, `overlays/<name>.png` (unless `overlays` is False) and `unreadable.csv` (path,
    error) into `out_dir`, all from this run.

    Args:
      model_path: a `.keras` or `.tflite` model.
      inputs: image files and folders.
      out_dir: the output folder (created, or replaced with `overwrite`).
      pixel_csv: HC18-style CSV of pixel sizes (exclusive with `pixel_size_mm`).
      pixel_size_mm: one pixel size for every image.
      flip_tta: average with the flipped input (.keras only).
      overwrite: replace an earlier run's outputs in `out_dir`.
      allow_implausible_pixel_size: accept pixel sizes outside the plausible range.
      ga_weeks: one known GA for every image ("27.4" or "27+3"), for the HC centile; the
        alternative is a `ga_weeks` column in `pixel_csv` (not both).
      show_progress: a progress bar on stderr (see `hc_tf.console.progress.wanted`).
      frame: the 1-based frame of each DICOM file to measure (None: every frame).
      override_dicom_calibration: use the typed pixel size on DICOM inputs whose own
        calibration differs or is refused (docs/dicom.md).
      fhir_patient_system: the issuer of the DICOM inputs' PatientIDs, an absolute URI: each
        FHIR Observation's subject is the PatientID under it (None: no subject).
      overlays: write the overlay PNGs (False: none, and with `overwrite` an earlier run's
        overlays of these images go, as every earlier output of this run's kinds does).

    Returns:
      The measurements of the readable images, their report records, and the unreadable
      ones with why.

    Raises:
      ValueError: before anything is written, for missing or implausible pixel sizes (named),
        a GA that is not a number or outside 10-45 weeks (named by option or file and row),
        both --ga-weeks and a GA column, duplicate names or CSV rows, a bad model or a
        `out_dir` that can't be used, a patient system that is not an absolute URI.
      NothingMeasuredError: after reading, when no input could be read or measured.
    """
    if fhir_patient_system is not None:
        from hc_tf.report import fhir
        fhir.check_system(fhir_patient_system)
    job = predict_inputs.read_inputs(inputs, pixel_csv, pixel_size_mm, allow_implausible_pixel_size,
                                     ga_weeks, frame=frame)
    unreadable: List[Tuple[str, str]] = list(job.refused)
    read = [*job.paths, *([pixel_csv] if pixel_csv else [])]
    with out_dir_lib.staged(out_dir, overwrite, outputs_of(job.paths), read) as staging:
        runner = inference.load_runner(model_path, flip_tta=flip_tta)
        measurements, records = _write_outputs(
            runner, _read_samples(job.paths, job.sizes, pixel_size_mm, unreadable, show_progress,
                                  frame, override_dicom_calibration, allow_implausible_pixel_size),
            unreadable, staging, model_path, job.known_ga, exams_lib.read_exam_column(pixel_csv),
            fhir_patient_system, overlays)
        if not records:  # every input refused: an error, OUT left as it was
            raise NothingMeasuredError(unreadable, job.notes)
    return PredictResult(measurements, unreadable, records, job.notes)
