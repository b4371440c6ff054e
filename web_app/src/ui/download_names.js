// The names of saved files: neutral and unique, with no part of the image's file name (a DICOM
// file or an export is often named by the patient's ID or name, and the browser's download list,
// the Downloads folder and a mail attachment all show it). One stem per measurement,
// hc-tf-YYYYMMDD-HHMMSS-N (local time; N counts this page's measurements, so two in one second
// differ), so that one measurement's files sort together and two patients' reports are never
// "report.csv" and "report (1).csv". The files' contents still name the source file (README, Privacy).

const KINDS = { csv: 'report.csv', json: 'report.json', fhir: 'fhir.json', exams: 'exams.csv' };
let count = 0;
const pad = (v, n = 2) => String(v).padStart(n, '0');

/** A new measurement's stem, "hc-tf-20240131-142501-3" (`date`, `n`: for tests; n counts up by default). */
export function downloadStem(date = new Date(), n = ++count) {
  const day = `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}`;
  const time = `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
  return `hc-tf-${day}-${time}-${n}`;
}

/** The file of `kind` ('csv', 'json', 'fhir', 'exams') of the measurement with `stem`. */
export function downloadName(stem, kind) {
  if (!KINDS[kind]) throw new Error(`no download kind ${kind}`);
  return `${stem}.${KINDS[kind]}`;
}

/** The FHIR report of the batch's `k`-th exam (1-based), "<stem>.exam2.obgyn.fhir.json". */
export const examReportName = (stem, k) => `${stem}.exam${k}.obgyn.fhir.json`;
