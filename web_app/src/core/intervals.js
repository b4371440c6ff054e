// Calibrated intervals of a measured HC, BPD and OFD and the GA the HC implies: a port of
// hc_tf/clinical/intervals.py and hc_tf/clinical/interval_table.py (the definition). The whole
// calibration table comes from the bundle metadata's clinical.hc_interval.table
// (hc_tf/clinical/interval_table.json, written once by scripts/make_bundle.py); only the feature
// formulas are code here, by name.

import { fmtFixed } from './pyformat.js';
import { gaFromHc, formatGa, GA_KEYS } from './clinical.js';
import { gaFromBpd } from './biometry.js';

const signal = (name) => (hc, s) => (s?.[name] ?? NaN);
const oneMinus = (name) => (hc, s) => (s?.[name] === null || s?.[name] === undefined ? NaN : 1.0 - s[name]);

/** interval_table.FEATURES: name -> f(HC mm, quality signals); NaN where a signal is missing. */
export const FEATURES = {
  one: () => 1.0,
  hc_mm: (hc) => hc / 100.0,
  hc_mm_sq_100: (hc) => (hc / 100.0) ** 2,
  hc_over_160mm: (hc) => Math.max(0.0, hc - 160.0) / 100.0,
  hc_over_200mm: (hc) => Math.max(0.0, hc - 200.0) / 100.0,
  fit_rms_frac: signal('fit_rms_frac'),
  one_minus_inlier_fraction: oneMinus('inlier_fraction'),
  one_minus_mask_ellipse_dice: oneMinus('mask_ellipse_dice'),
  uncertain_band_fraction: signal('uncertain_band_fraction'),
  model_pixel_mm: signal('model_pixel_mm'),
};

/**
 * Measurement.model_pixel_mm: mm per model-input pixel, pixel size x (1 / min(letterbox scale_x,
 * scale_y)) as hc_tf.measure.probmap computes its model_px (box null: the map is the image's own
 * grid, 1). NaN (unknown: the feature's cap) when the result carries no box at all.
 */
export function modelPixelMm(r) {
  if (r.box === undefined) return NaN;
  const originalPxPerModelPx = r.box === null ? 1.0 : 1.0 / Math.min(r.box.scale_x, r.box.scale_y);
  return r.pixel_size_mm * originalPxPerModelPx;
}

/** What the interval's features read from a measurement ({pixel_size_mm, box, quality}). */
export const measurementSignals = (r) => ({ ...r.quality, model_pixel_mm: modelPixelMm(r) });

/** IntervalTable.sigma_mm: difficulty (mm); features clipped to [floor, cap], a missing one counts as its cap. */
export function sigmaMm(table, hcMm, signals) {
  let total = 0.0;
  for (let i = 0; i < table.feature_names.length; i++) {
    const name = table.feature_names[i];
    if (!FEATURES[name]) throw new Error(`unknown interval feature '${name}' in the bundle metadata`);
    const cap = table.feature_caps ? table.feature_caps[i] : Infinity;
    const floor = table.feature_floors ? table.feature_floors[i] : 0.0; // older tables: none
    let v = FEATURES[name](hcMm, signals);
    v = Number.isFinite(v) ? Math.min(Math.max(v, floor), cap) : cap; // missing (NaN): the cap
    if (!Number.isFinite(v)) return Infinity; // missing signal and no cap: no honest interval
    total += table.coefficients[i] * v;
  }
  return Math.max(table.min_sigma_mm, total);
}

/**
 * IntervalTable.quantile: the level's conformal quantile; in a Mondrian table (bin_edges_mm), that
 * of the measured HC's bin (bin i: edges[i-1] <= HC < edges[i], as Python's bisect_right).
 */
export function quantileFor(table, key, hcMm) {
  if (!table.bin_edges_mm) return table.quantiles[key];
  let bin = 0;
  while (bin < table.bin_edges_mm.length && hcMm >= table.bin_edges_mm[bin]) bin++;
  return table.bin_quantiles[bin][key];
}

/** interval_table.DOMAIN_FEATURES: bounded by calibration whether or not a table weighs them. */
const DOMAIN_FEATURES = new Set(['model_pixel_mm', 'fit_rms_frac', 'one_minus_inlier_fraction',
  'one_minus_mask_ellipse_dice', 'uncertain_band_fraction']);

/**
 * IntervalTable.beyond_calibration: each listed feature above the largest value calibration saw,
 * if weighted or a domain feature, then each domain_caps feature the table does not list, in
 * words; '' when none is (an interval there is not calibrated). Each feature named once.
 */
export function beyondCalibration(table, hcMm, signals) {
  const value = (name) => (FEATURES[name] ? FEATURES[name](hcMm, signals) : NaN);
  const caps = table.feature_caps || [];
  const listed = caps.map((cap, i) => [table.feature_names[i], cap])
    .filter(([name], i) => table.coefficients[i] !== 0 || DOMAIN_FEATURES.has(name));
  const named = new Set(caps.length ? table.feature_names : []);
  const unlisted = Object.entries(table.domain_caps || {}).filter(([name]) => !named.has(name));
  const beyond = [];
  for (const [name, cap] of [...listed, ...unlisted]) {
    const v = value(name);
    if (!(v > cap)) continue;
    let d = 3; // interval_table._apart: as many more decimals (up to 9) as it takes to read apart
    while (fmtFixed(v, d) === fmtFixed(cap, d) && d < 9) d++;
    beyond.push(`${name} ${fmtFixed(v, d)} is above the calibrated range (up to ${fmtFixed(cap, d)})`);
  }
  return beyond.length ? `no calibrated interval: ${beyond.join('; ')}` : '';
}

/**
 * records.interval_record: {hc_mm, level, lower_mm, upper_mm, half_width_mm, method, display}, or
 * {note} when the measurement lies beyond the calibration (Measurement.no_interval_reason).
 */
export function hcInterval(spec, hcMm, signals, level = spec.hc_interval.default_level) {
  if (!(Number.isFinite(hcMm) && hcMm > 0)) throw new Error(`HC (mm) must be a finite number > 0, got ${hcMm}`);
  const table = spec.hc_interval.table;
  const note = beyondCalibration(table, hcMm, signals);
  if (note) return { note };
  const key = fmtFixed(level, 2);
  if (!(key in table.quantiles)) throw new Error(`no interval fitted at level ${level}; fitted: ${Object.keys(table.quantiles).sort()}`);
  return { hc_mm: hcMm, ...centred(table, hcMm, hcMm, signals, level) };
}

/** The table's interval at the head (HC, signals), centred on `valueMm`: HcInterval's fields but the value. */
function centred(table, valueMm, hcMm, signals, level) {
  const half = quantileFor(table, fmtFixed(level, 2), hcMm) * sigmaMm(table, hcMm, signals);
  const lower = Math.max(0.0, valueMm - half), upper = valueMm + half;
  return { level, lower_mm: lower, upper_mm: upper, half_width_mm: half, method: table.method,
    display: `${fmtFixed(level * 100, 0)}%: ${fmtFixed(lower, 1)}-${fmtFixed(upper, 1)}` };
}

/**
 * records.axis_interval_record: BPD's, OFD's or the corrected BPD's (cbpd) interval ({value_mm,
 * level, lower_mm, upper_mm, half_width_mm, method, display}) by its own table (clinical.hc_interval.axis_tables[quantity]) at
 * the head's HC and signals, or {note} beyond that table's calibration (Measurement.axis_interval).
 */
export function axisInterval(spec, quantity, valueMm, hcMm, signals, level = spec.hc_interval.default_level) {
  const table = spec.hc_interval.axis_tables[quantity];
  const note = beyondCalibration(table, hcMm, signals);
  return note ? { note } : { value_mm: valueMm, ...centred(table, valueMm, hcMm, signals, level) };
}

/**
 * records.axis_interval_record of the cephalic index: {value, level, lower, upper, half_width,
 * method, display} in index points (intervals.IndexInterval) by its own table (axis_tables.ci),
 * or {note} beyond that table's calibration.
 */
export function cephalicIndexInterval(spec, ci, hcMm, signals, level = spec.hc_interval.default_level) {
  const iv = axisInterval(spec, 'ci', ci, hcMm, signals, level);
  if (iv.note) return iv;
  return { value: ci, level: iv.level, lower: iv.lower_mm, upper: iv.upper_mm, half_width: iv.half_width_mm,
    method: iv.method, display: iv.display };
}

/** intervals.ga_interval for one formula (a GaInterval's fields). */
export function gaInterval(spec, iv, method) {
  const [mid, lo, hi] = [iv.hc_mm, iv.lower_mm || 1e-9, iv.upper_mm].map((h) => gaFromHc(spec, h, method));
  const fHalf = mid.uncertainty_kind === null ? null : mid.uncertainty_days;
  return combined(spec, method, mid.ga_days, lo.ga_days, hi.ga_days, fHalf, mid.uncertainty_kind ?? 'out of range');
}

/** intervals._combined: a GaInterval's fields, combined when every part is known. */
function combined(spec, method, gaDays, lowerDays, upperDays, fHalf, kind) {
  const out = { method, ga_days: gaDays, measurement_lower_days: lowerDays, measurement_upper_days: upperDays,
    formula_half_days: fHalf, formula_kind: kind, combined_lower_days: null, combined_upper_days: null,
    combination: spec.hc_interval.combination };
  if (gaDays === null || lowerDays === null || upperDays === null || fHalf === null) return out;
  const half = Math.hypot(0.5 * (upperDays - lowerDays), fHalf);
  return { ...out, combined_lower_days: gaDays - half, combined_upper_days: gaDays + half };
}

/**
 * records.ga_bpd_interval_record: the GA interval BPD's interval (axisInterval's) implies by
 * Hadlock 1984's BPD formula, its 2 SD combined as the HC's; null when the BPD has none.
 */
export function bpdGaIntervalRecord(spec, bpdIv) {
  if (!bpdIv || bpdIv.lower_mm === undefined) return null;
  const bio = spec.biometry;
  const [mid, lo, hi] = [bpdIv.value_mm, bpdIv.lower_mm || 1e-9, bpdIv.upper_mm].map((b) => gaFromBpd(bio, b));
  const g = combined(spec, bio.ga_from_bpd.interval_method, mid.ga_days, lo.ga_days, hi.ga_days, mid.uncertainty_days,
    mid.uncertainty_days !== null ? '2 SD' : 'out of range');
  const title = 'Hadlock 1984 (BPD)';
  return { ...g, measurement_part: `BPD ${bpdIv.display} through ${title}`,
    formula_part: g.formula_half_days !== null ? `${title} ${g.formula_kind}` : `${title}: out of range`,
    display: gaIntervalText(g) };
}

function gaIntervalText(g) {
  if (g.combined_lower_days !== null) {
    return `${formatGa(g.combined_lower_days)} to ${formatGa(g.combined_upper_days)} weeks (measurement and formula)`;
  }
  // records._ga_interval_text: the measurement's part alone would claim a precision the dating does not have
  if (g.ga_days !== null && g.formula_half_days === null) return 'none: the formula publishes no spread';
  if (g.ga_days !== null) return "none: the measurement's interval reaches beyond the formula's range";
  return 'out of range';
}

/** records.ga_interval_records: per formula key, the GA interval with its parts named ({} without an HC interval). */
export function gaIntervalRecords(spec, iv) {
  if (iv.note !== undefined) return {};
  return Object.fromEntries(spec.ga_from_hc.methods.map((m) => {
    const g = gaInterval(spec, iv, m.method);
    return [GA_KEYS[m.method], { ...g,
      measurement_part: `HC ${iv.display} through ${m.title}`,
      formula_part: g.formula_half_days !== null ? `${m.title} ${g.formula_kind}` : `${m.title}: none published per estimate`,
      display: gaIntervalText(g) }];
  }));
}
