// One image's read-out as hc_tf.report.records has it (image_record, csv_row, REPORT_FIELDS),
// and the downloads: report.csv as `hc-tf predict` writes it, report.json.
import { hcCentile, centileInterval, parseGaWeeks, formatGa, weeksToDays, GA_KEYS as KEY_OF_METHOD } from '../core/clinical.js';
import { csvText } from '../core/pyformat.js';
import { hcInterval, axisInterval, cephalicIndexInterval, bpdGaIntervalRecord, gaIntervalRecords, measurementSignals } from '../core/intervals.js';
import { biometryRecord } from '../core/biometry.js';
import { datingRecord } from '../core/dating.js';
import { examRecords } from '../core/exams.js';

const GA_KEYS = ['hadlock', 'intergrowth'];
const SIGNALS = ['fit_rms_frac', 'inlier_fraction', 'mask_ellipse_dice', 'uncertain_band_fraction', 'outside_fraction'];
export const REPORT_FIELDS = ['filename', 'found', 'reason', 'pixel_size_mm', 'hc_mm',
  ...GA_KEYS.flatMap((k) => ['', '_days', '_status', '_uncertainty'].map((s) => `ga_${k}${s}`)),
  'known_ga', 'known_ga_weeks', 'hc_z', 'hc_centile', 'centile_status', 'centile_flag',
  'review', 'review_reasons', ...SIGNALS, 'hc_lower_95_mm', 'hc_upper_95_mm', 'hc_interval_method',
  ...GA_KEYS.flatMap((k) => [`ga_${k}_lower_days`, `ga_${k}_upper_days`]),
  'bpd_mm', 'ofd_mm', 'cephalic_index', 'head_shape', 'corrected_bpd_mm', 'ga_bpd', 'ga_bpd_days',
  'ga_bpd_status', 'ga_bpd_uncertainty', 'dating_note',
  ...['bpd', 'ofd'].flatMap((q) => [`${q}_lower_95_mm`, `${q}_upper_95_mm`]),
  'hc_centile_lower_95', 'hc_centile_upper_95', 'ga_bpd_lower_days', 'ga_bpd_upper_days',
  'cephalic_index_lower_95', 'cephalic_index_upper_95', 'corrected_bpd_lower_95_mm', 'corrected_bpd_upper_95_mm'];

/**
 * image_record's centile at a GA typed, with the centiles the HC's interval `iv` spans
 * (records.centile_interval_record; null when `iv` is a note). Throws on a bad GA entry.
 */
export function centileRecord(spec, hcMm, iv, knownGa) {
  const c = hcCentile(spec, hcMm, knownGa);
  return { ...c, interval: iv?.lower_mm === undefined ? null
    : centileInterval(spec, iv.lower_mm, iv.upper_mm, c.ga_weeks, iv.level) };
}

/**
 * image_record's known_ga_weeks, dating and centile for a GA typed (knownGa: the text, '' for
 * none), else the DICOM file's own (fileWeeks: dicom_dating.lmp_ga_weeks's, null for none).
 */
function knownGaFields(spec, found, hcMm, iv, knownGa, fileWeeks = null) {
  const fromFile = !knownGa && fileWeeks !== null;
  const weeks = knownGa ? parseGaWeeks(spec, knownGa) : fileWeeks;
  const source = fromFile ? spec.dating.file_source : spec.dating.source;
  return { known_ga_weeks: weeks, dating: weeks === null ? null : datingRecord(spec, weeks, source),
    centile: weeks !== null && found ? centileRecord(spec, hcMm, iv, knownGa || weeks) : null };
}

/**
 * A record with another known GA (as predict's --ga-weeks gives every image); its other fields
 * as they were. None typed: the record as made (a DICOM file's own dating, or none).
 */
export const withKnownGa = (spec, rec, knownGa) => (knownGa ? { ...rec,
  ...knownGaFields(spec, rec.found, rec.hc_mm, rec.hc_interval, knownGa) } : rec);

/** records.image_record for a measurement (knownGa: the typed text, '' for none). */
export function imageRecord(spec, filename, r, knownGa = '') {
  const iv = r.found ? hcInterval(spec, r.hc_mm, measurementSignals(r)) : null;
  const { known_ga_weeks: weeks, dating, centile } = knownGaFields(spec, r.found, r.hc_mm, iv, knownGa, r.file_ga_weeks ?? null);
  // QualitySignals' last field, flip_rel_diff, needs a second (flipped) run: predict leaves it
  // null on the int8 model, so it is null here too rather than missing.
  const signals = r.quality && { ...r.quality, flip_rel_diff: r.quality.flip_rel_diff ?? null };
  const q = signals && Object.fromEntries(Object.entries(signals).map(([k, v]) => [k, Number.isNaN(v) ? null : v]));
  return { filename, found: r.found, reason: r.reason, pixel_size_mm: r.pixel_size_mm, hc_mm: r.hc_mm,
    hc_interval: iv, gestational_age: r.gestational_age, ga_interval: iv ? gaIntervalRecords(spec, iv) : {},
    ...headBiometry(spec, r),
    known_ga_weeks: weeks, dating, centile, review: r.review,
    review_reasons: [...r.review_reasons], quality: q, mask_sha256: r.mask_sha256, ...(r.dicom_fields ?? {}) };
}

/**
 * records.image_record's biometry, BPD's and OFD's intervals (records.axis_interval_record), the
 * GA interval BPD's implies (records.ga_bpd_interval_record), the cephalic index's and the corrected
 * BPD's intervals: {biometry, bpd_interval, ofd_interval, ga_bpd_interval, cephalic_index_interval,
 * corrected_bpd_interval}, each null when no head.
 */
export function headBiometry(spec, r) {
  if (!r.found) {
    return { biometry: null, bpd_interval: null, ofd_interval: null, ga_bpd_interval: null, cephalic_index_interval: null,
      corrected_bpd_interval: null };
  }
  const biometry = biometryRecord(spec, r.ellipse.a * r.pixel_size_mm, r.ellipse.b * r.pixel_size_mm);
  const signals = measurementSignals(r);
  const [bpd, ofd] = ['bpd', 'ofd'].map((q) => axisInterval(spec, q, biometry[`${q}_mm`], r.hc_mm, signals));
  return { biometry, bpd_interval: bpd, ofd_interval: ofd, ga_bpd_interval: bpdGaIntervalRecord(spec, bpd),
    cephalic_index_interval: cephalicIndexInterval(spec, biometry.cephalic_index, r.hc_mm, signals),
    corrected_bpd_interval: axisInterval(spec, 'cbpd', biometry.corrected_bpd_mm, r.hc_mm, signals) };
}

/** records.csv_row: the record flattened to REPORT_FIELDS (null = empty cell). */
export function csvRow(rec) {
  const row = { filename: rec.filename, found: rec.found, reason: rec.reason, pixel_size_mm: rec.pixel_size_mm,
    hc_mm: rec.hc_mm, review: rec.review, review_reasons: rec.review_reasons.join('; ') };
  for (const k of GA_KEYS) {
    const g = rec.gestational_age[k];
    Object.assign(row, { [`ga_${k}`]: g?.ga ?? null, [`ga_${k}_days`]: g?.ga_days ?? null,
      [`ga_${k}_status`]: g?.status ?? null, [`ga_${k}_uncertainty`]: g?.uncertainty ?? null });
  }
  row.known_ga_weeks = rec.known_ga_weeks;
  row.known_ga = rec.known_ga_weeks === null ? null : formatGa(weeksToDays(rec.known_ga_weeks));
  const c = rec.centile ?? {}, ci = c.interval ?? {};
  Object.assign(row, { hc_z: c.z ?? null, hc_centile: c.centile ?? null, centile_status: c.status ?? null, centile_flag: c.flag ?? null,
    hc_centile_lower_95: ci.lower_centile ?? null, hc_centile_upper_95: ci.upper_centile ?? null });
  for (const k of SIGNALS) row[k] = rec.quality?.[k] ?? null;
  const iv = rec.hc_interval ?? {};
  Object.assign(row, { hc_lower_95_mm: iv.lower_mm ?? null, hc_upper_95_mm: iv.upper_mm ?? null, hc_interval_method: iv.method ?? null });
  for (const k of GA_KEYS) {
    const g = rec.ga_interval?.[k] ?? {};
    Object.assign(row, { [`ga_${k}_lower_days`]: g.combined_lower_days ?? null, [`ga_${k}_upper_days`]: g.combined_upper_days ?? null });
  }
  const b = rec.biometry ?? {}, gb = b.ga_bpd ?? {};
  for (const k of ['bpd_mm', 'ofd_mm', 'cephalic_index', 'head_shape', 'corrected_bpd_mm']) row[k] = b[k] ?? null;
  Object.assign(row, { ga_bpd: gb.ga ?? null, ga_bpd_days: gb.ga_days ?? null, ga_bpd_status: gb.status ?? null,
    ga_bpd_uncertainty: gb.uncertainty ?? null, dating_note: rec.dating?.note ?? null });
  const gbIv = rec.ga_bpd_interval ?? {};
  Object.assign(row, { ga_bpd_lower_days: gbIv.combined_lower_days ?? null, ga_bpd_upper_days: gbIv.combined_upper_days ?? null });
  for (const q of ['bpd', 'ofd']) {
    const a = rec[`${q}_interval`] ?? {};
    Object.assign(row, { [`${q}_lower_95_mm`]: a.lower_mm ?? null, [`${q}_upper_95_mm`]: a.upper_mm ?? null });
  }
  const ciIv = rec.cephalic_index_interval ?? {};
  Object.assign(row, { cephalic_index_lower_95: ciIv.lower ?? null, cephalic_index_upper_95: ciIv.upper ?? null });
  const cbpdIv = rec.corrected_bpd_interval ?? {};
  Object.assign(row, { corrected_bpd_lower_95_mm: cbpdIv.lower_mm ?? null, corrected_bpd_upper_95_mm: cbpdIv.upper_mm ?? null });
  return row;
}

export function reportCsv(records) {
  return csvText(REPORT_FIELDS, records.map(csvRow));
}

/** report.json's ga_methods: per formula key, its method, title and source. */
const gaMethods = (spec) => Object.fromEntries(spec.ga_from_hc.methods.map((m) => [KEY_OF_METHOD[m.method],
  { method: m.method, title: m.title, source: m.source }]));

/**
 * report.json as `hc-tf predict` lays it out (model file, ga_methods, counts, images, exams, unreadable),
 * plus the model's version and sha256.
 */
export function reportJson(records, model, unreadable = []) {
  const spec = model.meta.clinical;
  return `${JSON.stringify({ format: 'hc-tf web app report v1', model: model.file, model_version: model.meta.model_version,
    model_sha256: model.sha256, created_utc: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), ga_methods: gaMethods(spec),
    centile_source: spec.hc_centile.source, review_thresholds: spec.review_flag.thresholds,
    counts: { images: records.length, found: records.filter((r) => r.found).length,
      flagged: records.filter((r) => r.review).length, unreadable: unreadable.length },
    images: records, exams: examRecords(spec, records), unreadable }, null, 2)}\n`;
}

/** Saves text as a file (an <a download> click: nothing leaves the device). */
export function download(text, filename, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: filename });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
