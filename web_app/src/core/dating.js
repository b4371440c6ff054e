// A GA from dating (LMP or an earlier scan), worded as hc_tf/clinical/dating.py (the
// definition) words it; label, note and source from the bundle metadata's clinical.dating.

import { formatGa, weeksToDays } from './clinical.js';
import { studyDate } from './fhir.js';
import { fmtFixed, fmtG } from './pyformat.js';

/** dating.DatingGa.display: "GA from dating: 27+3 (LMP or earlier scan, as given)". */
export function datingDisplay(spec, weeks, source = spec.dating.source) {
  return `${spec.dating.label}: ${formatGa(weeksToDays(weeks))} (${source})`;
}

/** records.image_record's "dating": {label, display, source, note} (source: typed, or the file's). */
export function datingRecord(spec, weeks, source = spec.dating.source) {
  const d = spec.dating;
  return { label: d.label, display: datingDisplay(spec, weeks, source), source, note: d.note };
}

/**
 * dicom_dating.lmp_ga_weeks: a DICOM file's Last Menstrual Date at its StudyDate as {weeks} in
 * exact weeks, or {weeks: null, note} saying why not (note '' when the file has none).
 */
export function lmpGaWeeks(spec, lmpText, studyText) {
  if (String(lmpText ?? '').trim() === '') return { weeks: null, note: '' };
  const lmp = studyDate(lmpText), study = studyDate(studyText); // the same date rule as StudyDate's
  if (lmp === null) return { weeks: null, note: 'Last Menstrual Date (0010,21D0) is not a date: no GA from dating' };
  if (study === null) {
    return { weeks: null, note: 'Last Menstrual Date (0010,21D0) without a StudyDate (0008,0020) to date it at: no GA from dating' };
  }
  const weeks = (Date.parse(study) - Date.parse(lmp)) / 86_400_000 / 7.0; // ISO dates: UTC midnights, whole days
  const [lo, hi] = spec.hc_centile.ga_input_weeks;
  if (!(lo <= weeks && weeks <= hi)) {
    return { weeks: null, note: `Last Menstrual Date (0010,21D0) gives ${fmtFixed(weeks, 1)} weeks at StudyDate `
      + `(0008,0020), outside ${fmtG(lo)}-${fmtG(hi)} weeks: no GA from dating` };
  }
  return { weeks, note: '' };
}
