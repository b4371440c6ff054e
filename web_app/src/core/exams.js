// Exams of several images (hc_tf.report.exams): the same head measured more than once,
// averaged. Grouped by an exam name given per image, else a DICOM image's study and series
// ("STUDY_UID/SERIES_UID"), else HC18's NNN_HC / NNN_2HC / NNN_3HC subject "NNN", else the
// image alone; each source its own name space (keys "exam:", "dicom:", "hc18:", "file:"), the
// id shown without it unless two exams would then read the same. Row: mean HC of the images with a head, SD and range, the interval of the mean
// (the mean 95% half-width: no credit for averaging), mean BPD and OFD, GA of the mean (and its 95% interval
// per formula, as an image's), the mean's centile
// (and the centiles its interval spans) when its heads share one GA from dating, and a disagreement flag
// when the images' intervals share no value. tests/fixtures/exams_cases.json holds both ports.
import { centileInterval, formatGa, gaFromHc, hcCentile } from './clinical.js';
import { sourceStem } from './file_names.js';
import { gaInterval } from './intervals.js';
import { csvText, fmtFixed } from './pyformat.js';

export const EXAM_FIELDS = ['exam', 'images', 'found', 'filenames', 'hc_mean_mm', 'hc_sd_mm', 'hc_range_mm',
  'hc_mean_lower_95_mm', 'hc_mean_upper_95_mm', 'bpd_mean_mm', 'ofd_mean_mm', 'ga_hadlock', 'ga_hadlock_days',
  'ga_intergrowth', 'ga_intergrowth_days', 'disagree', 'disagree_reason', 'review_any',
  'bpd_mean_lower_95_mm', 'bpd_mean_upper_95_mm', 'ofd_mean_lower_95_mm', 'ofd_mean_upper_95_mm', 'known_ga_weeks',
  'hc_mean_centile', 'hc_mean_z', 'hc_mean_centile_lower_95', 'hc_mean_centile_upper_95',
  'ga_hadlock_lower_95_days', 'ga_hadlock_upper_95_days', 'ga_intergrowth_lower_95_days', 'ga_intergrowth_upper_95_days',
  'ga_hadlock_status', 'ga_intergrowth_status'];
const HC18_NAME = /^(\d+)_(?:[2-9])?HC$/;
const GA_METHODS = [['hadlock', 'hadlock_1984'], ['intergrowth', 'intergrowth21_hc_2016']];
// records.GA_TITLES by formula key: the formula a GA interval's method names
const GA_TITLES = { hadlock: 'Hadlock 1984', intergrowth: 'INTERGROWTH-21st (HC only)' };

/** exams.exam_of_name: "hc18:NNN" for HC18's NNN_HC / NNN_2HC; else "file:" and the source file's stem (sourceStem: a file's frames one exam). */
export function examOfName(filename) {
  const stem = sourceStem(filename);
  const m = HC18_NAME.exec(stem);
  return m ? `hc18:${m[1]}` : `file:${stem}`;
}

/** exams.exam_of_dicom: "dicom:STUDY/SERIES" of a record with DICOM UIDs and a study UID; else null. */
export function examOfDicom(record) {
  const study = record.dicom?.study_instance_uid;
  return study ? `dicom:${study}/${record.dicom.series_instance_uid || ''}` : null;
}

/** exams.exam_key: "exam:LABEL" from the exam names, else examOfDicom, else examOfName. */
export function examKey(record, examColumn = {}) {
  const label = examColumn[record.filename];
  return label ? `exam:${label}` : (examOfDicom(record) ?? examOfName(record.filename));
}

/** exams.exam_ids: key -> id shown, the key without its source unless two ids would read the same. */
export function examIds(keys) {
  const shown = new Map(keys.map((k) => [k, k.slice(k.indexOf(':') + 1)]));
  for (;;) {  // a whole key may equal another's bare id: repeat until every id is unique
    const counts = new Map();
    for (const s of shown.values()) counts.set(s, (counts.get(s) ?? 0) + 1);
    const clash = [...shown].filter(([k, s]) => counts.get(s) > 1 && s !== k).map(([k]) => k);
    if (!clash.length) return shown;
    for (const k of clash) shown.set(k, k);
  }
}

/** Records grouped by exam, keyed by the id shown, in order of first appearance: Map(exam -> records). */
export function groupExams(records, examColumn = {}) {
  const groups = new Map();
  for (const r of records) {
    const key = examKey(r, examColumn);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const ids = examIds([...groups.keys()]);
  return new Map([...groups].map(([k, members]) => [ids.get(k), members]));
}

/**
 * Python's math.fsum (CPython's msum: exact partial sums, then the correctly rounded total, ties
 * to even), so statistics.fmean's mean is predict's to the bit, not only to 1e-9.
 */
export function fsum(xs) {
  const partials = [];
  for (let x of xs) {
    let i = 0;
    for (let j = 0; j < partials.length; j++) {
      let y = partials[j];
      if (Math.abs(x) < Math.abs(y)) [x, y] = [y, x];
      const hi = x + y, lo = y - (hi - x);
      if (lo) partials[i++] = lo;
      x = hi;
    }
    partials.length = i;
    partials.push(x);
  }
  let n = partials.length, hi = 0, lo = 0;
  if (n > 0) {
    hi = partials[--n];
    while (n > 0) { // sum from the top until a rounding error is made
      const x = hi, y = partials[--n];
      hi = x + y;
      lo = y - (hi - x);
      if (lo) break;
    }
    // Round half to even when the rest of the partials lie the same way as the error.
    if (n > 0 && ((lo < 0 && partials[n - 1] < 0) || (lo > 0 && partials[n - 1] > 0))) {
      const y = lo * 2, x = hi + y;
      if (y === x - hi) hi = x;
    }
  }
  return hi;
}

const mean = (xs) => fsum(xs) / xs.length; // statistics.fmean

/** statistics.stdev: the sample SD (n - 1). */
function sampleSd(xs) {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/** exams._ga_intervals: the GA of the mean's 95% interval per formula, as an image's shows it (gaIntervalBounds). */
function gaIntervals(spec, m, half) {
  const out = {};
  for (const [key, method] of GA_METHODS) {
    const g = gaInterval(spec, { hc_mm: m, lower_mm: m - half, upper_mm: m + half }, method);
    const [lower, upper] = gaIntervalBounds(g) ?? [null, null];
    Object.assign(out, { [`ga_${key}_lower_95_days`]: lower, [`ga_${key}_upper_95_days`]: upper });
  }
  return out;
}

/**
 * exams.ga_interval_bounds: [lower, upper] days of a GA interval's fields (intervals.js gaInterval's, a record's
 * ga_interval[key]): combined with the formula's own spread (Hadlock's 2 SD); null where the formula publishes no
 * spread (INTERGROWTH-21st: the measurement's part would leave out the equation's own) or an end is out of range.
 */
export function gaIntervalBounds(g) {
  const known = (x) => x !== null && x !== undefined;
  const bounds = [g.combined_lower_days, g.combined_upper_days];
  return bounds.every(known) ? bounds : null;
}

/** exams.ga_interval_method: `whose` HC interval through formula `key`, combined with its spread (`spreadKind`). */
export function gaIntervalMethod(whose, key, spreadKind) {
  return `${whose} HC interval through ${GA_TITLES[key]}, combined with the formula's ${spreadKind}`;
}

/** exams.image_ga_interval_record: an image's GA interval by formula `key` (its record's ga_interval[key]) as an interval record (days), or null. */
export function imageGaIntervalRecord(g, key) {
  const bounds = g ? gaIntervalBounds(g) : null;
  if (!bounds) return null;
  return { lower: bounds[0], upper: bounds[1], level: 0.95, method: gaIntervalMethod("this image's", key, g.formula_kind) };
}

/** exams.exam_record: one exam's row (EXAM_FIELDS) from its images' report records. */
export function examRecord(spec, exam, members) {
  const found = members.filter((r) => r.found);
  const row = Object.fromEntries(EXAM_FIELDS.map((k) => [k, null]));
  Object.assign(row, { exam, images: members.length, found: found.length,
    filenames: members.map((r) => r.filename).join('; '), review_any: members.some((r) => r.review),
    disagree: null, disagree_reason: 'not assessed: no head found' }); // null: not assessed, not "agree"
  if (!found.length) return row;
  const hcs = found.map((r) => r.hc_mm);
  const m = mean(hcs);
  Object.assign(row, { hc_mean_mm: m, hc_sd_mm: hcs.length > 1 ? sampleSd(hcs) : null,
    hc_range_mm: Math.max(...hcs) - Math.min(...hcs) });
  const axes = found.map((r) => r.biometry).filter(Boolean);
  if (axes.length) Object.assign(row, { bpd_mean_mm: mean(axes.map((b) => b.bpd_mm)), ofd_mean_mm: mean(axes.map((b) => b.ofd_mm)) });
  for (const q of ['bpd', 'ofd']) { // the mean's interval as the HC's, when every image has one
    const halves = found.map((r) => r[`${q}_interval`]?.half_width_mm);
    if (row[`${q}_mean_mm`] !== null && halves.every((h) => h !== undefined && h !== null)) {
      const half = mean(halves);
      Object.assign(row, { [`${q}_mean_lower_95_mm`]: row[`${q}_mean_mm`] - half, [`${q}_mean_upper_95_mm`]: row[`${q}_mean_mm`] + half });
    }
  }
  for (const [key, method] of GA_METHODS) {
    const g = gaFromHc(spec, m, method);
    row[`ga_${key}`] = g.ga_days === null ? null : formatGa(g.ga_days);
    row[`ga_${key}_days`] = g.ga_days;
    row[`ga_${key}_status`] = g.status;
  }
  const dates = new Set(found.map((r) => r.known_ga_weeks ?? null));
  const ga = dates.size === 1 ? [...dates][0] : null; // one GA from dating for all its heads
  if (ga !== null) { // the mean's centile (none beyond the standard's weeks)
    const c = hcCentile(spec, m, ga);
    Object.assign(row, { known_ga_weeks: ga, hc_mean_centile: c.centile, hc_mean_z: c.z });
  }
  const ivs = found.map((r) => r.hc_interval ?? {});
  if (ivs.some((iv) => iv.half_width_mm === undefined || iv.half_width_mm === null)) {
    row.disagree_reason = 'not assessed: no calibrated HC interval';
    return row;
  }
  const half = mean(ivs.map((iv) => iv.half_width_mm));
  Object.assign(row, { hc_mean_lower_95_mm: m - half, hc_mean_upper_95_mm: m + half }, gaIntervals(spec, m, half));
  const ci = ga !== null ? centileInterval(spec, m - half, m + half, ga, 0.95) : null;
  if (ci) Object.assign(row, { hc_mean_centile_lower_95: ci.lower_centile, hc_mean_centile_upper_95: ci.upper_centile });
  const lo = Math.max(...ivs.map((iv) => iv.lower_mm)), hi = Math.min(...ivs.map((iv) => iv.upper_mm));
  Object.assign(row, { disagree: false, disagree_reason: '' });
  if (lo > hi) {
    Object.assign(row, { disagree: true, disagree_reason: `the images' 95% intervals share no value (HC `
      + `${fmtFixed(Math.min(...hcs), 1)} to ${fmtFixed(Math.max(...hcs), 1)} mm): remeasure or check which image is off` });
  }
  return row;
}

/** exams.exam_records: every exam's row, in order of first appearance. */
export function examRecords(spec, records, examColumn = {}) {
  return [...groupExams(records, examColumn)].map(([exam, members]) => examRecord(spec, exam, members));
}

/** exams.csv as `hc-tf predict` writes it (the counts as ints, every other number to 6 decimals). */
export function examsCsv(rows) {
  return csvText(EXAM_FIELDS, rows, new Set(['images', 'found']));
}
