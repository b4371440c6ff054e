// The batch's exam downloads: exams.csv, and each DICOM exam's FHIR DiagnosticReport
// (core/fhir_exam.js) as `hc-tf predict` writes it beside the exam's OB-GYN SR
// (dicom_predict.write_exam_reports), one file per exam (no SR here: no identifier, no SR
// reference), named neutrally (<batch stem>.examK.obgyn.fhir.json: ui/download_names.js), not by
// the first file's stem as predict names it (a file name may hold a patient's ID).
import { MODEL_FILE } from '../core/pipeline.js';
import { examRecord, examsCsv, groupExams } from '../core/exams.js';
import { examBundle } from '../core/fhir_exam.js';
import { missingUids, studyDateTime } from '../core/fhir.js';
import { download } from './report.js';
import { downloadName, examReportName } from './download_names.js';

const $ = (id) => document.getElementById(id);

/** write_exam_reports' heads: an image with a head and the UIDs its references need (predict writes it an SR). */
const reportable = (r) => r.found && !!r.dicom && !missingUids(r.dicom).length;

/** The study's FHIR dateTime of a measured DICOM frame (fhir.study_datetime of its file), for its exam's report. */
export const studyTimeOf = (prep) => studyDateTime(prep.dicom.studyDate, prep.dicom.studyTime, prep.dicom.timezoneOffset);

/**
 * [{filename, bundle}]: each exam's report as predict writes it, from the exam's heads (its
 * images found, with their UIDs; an exam without one has none), its exams.csv row of those, and
 * the first head's study time (`studyTimes`: filename -> studyTimeOf's); no subject (the app
 * knows no patient ID system); `stem`: the batch's download stem.
 */
export function examReports(model, records, studyTimes, stem) {
  const spec = model.meta.clinical, info = { name: MODEL_FILE, version: model.meta.model_version, sha256: model.sha256 };
  return [...groupExams(records)].flatMap(([exam, members]) => {
    const heads = members.filter(reportable);
    if (!heads.length) return [];
    return [examBundle(spec, heads, examRecord(spec, exam, heads), info, studyTimes.get(heads[0].filename) ?? null)];
  }).map((bundle, i) => ({ filename: examReportName(stem, i + 1), bundle }));
}

/** The "Exam reports (FHIR)" button: shown for a trusted measurement with at least one exam report to save. */
export function showExamReportsButton(records, trusted) {
  $('batch-dl-exam-fhir').hidden = !(trusted && records?.some(reportable));
}

/** Saves each exam's report, one file each (the browser may ask once to allow several downloads). */
function saveExamReports(model, records, studyTimes, stem) {
  for (const { filename, bundle } of examReports(model, records, studyTimes, stem)) {
    download(`${JSON.stringify(bundle, null, 2)}\n`, filename, 'application/fhir+json');
  }
}

/**
 * The exams' buttons: exams.csv (the table's rows) and the exam reports, of getState()'s batch
 * with `records()` (the report's records: the GA typed in each, as predict's --ga-weeks), only
 * when the measurement is trusted.
 */
export function wireExamDownloads(getState, records) {
  $('batch-dl-exams').addEventListener('click', () => {
    const b = getState().batch;
    if (b?.exams?.length) download(examsCsv(b.exams), downloadName(b.stem, 'exams'), 'text/csv');
  });
  $('batch-dl-exam-fhir').addEventListener('click', () => {
    const { batch: b, trusted, model } = getState();
    if (trusted && b?.records) saveExamReports(model, records(), b.studyTimes, b.stem);
  });
}
