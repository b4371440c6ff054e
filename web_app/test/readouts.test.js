// The clinical read-outs added after the GA and the flag, against the Python reference's vectors
// (postprocess_golden.json, written by scripts/make_postprocess_goldens.py from hc_tf.clinical and
// hc_tf.report.records): HC 95% interval and GA intervals, biometry and GA from BPD, "GA from
// dating", and every measured case's report.csv row (REPORT_FIELDS), numbers within 1e-9.
import test from 'node:test';
import assert from 'node:assert/strict';
import { measure, dequantize } from '../src/core/measure/index.js';
import { gaFromHcAll, reviewFlag, parseGaWeeks } from '../src/core/clinical.js';
import { hcInterval, gaIntervalRecords, modelPixelMm, measurementSignals, beyondCalibration } from '../src/core/intervals.js';
import { biometryRecord } from '../src/core/biometry.js';
import { datingDisplay } from '../src/core/dating.js';
import { imageRecord, csvRow, REPORT_FIELDS } from '../src/ui/report.js';
import { loadJson, unz } from './helpers.js';

const golden = loadJson('postprocess_golden.json');
const spec = loadJson('hc_effunet_int8.json').clinical;
const TOL = Math.min(golden.tolerance.interval_mm, golden.tolerance.biometry, golden.tolerance.ga_days);
assert.ok(TOL <= 1e-9);

/** Deep equality; numbers within TOL (relative for large values), everything else exact. */
function close(got, want, where) {
  if (typeof want === 'number' && typeof got === 'number') {
    assert.ok(Math.abs(got - want) <= TOL * Math.max(1, Math.abs(want)), `${where}: ${got} vs ${want}`);
  } else if (want !== null && typeof want === 'object') {
    assert.ok(got !== null && typeof got === 'object', `${where}: ${JSON.stringify(got)} vs an object`);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${where}: keys`);
    for (const k of Object.keys(want)) close(got[k], want[k], `${where}.${k}`);
  } else {
    assert.equal(got, want, where);
  }
}

const signals = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v === 'NaN' ? NaN : v]));

test('HC 95% interval and the GA intervals it implies, every case', () => {
  const cases = golden.clinical.hc_interval;
  assert.ok(cases.length >= 10);
  for (const c of cases) {
    const iv = hcInterval(spec, c.hc_mm, signals(c.signals));
    close(iv, c.record, `interval at ${c.hc_mm}`);
    close(gaIntervalRecords(spec, iv), c.ga_interval, `GA interval at ${c.hc_mm}`);
  }
  const shown = cases.find((c) => c.hc_mm === 290.9);
  assert.match(shown.record.display, /^95%: 2\d\d\.\d-\d\d\d\.\d$/); // "95%: 284.5-297.3"
  assert.equal(hcInterval(spec, 290.9, signals(shown.signals)).display, shown.record.display);
});

test('the model-pixel size: pixel size / min letterbox scale; unknown is the widest', () => {
  const box = { scale_x: 0.4, scale_y: 0.41481481481481480 };
  assert.equal(modelPixelMm({ pixel_size_mm: 0.1, box }), 0.1 * (1.0 / 0.4));
  assert.equal(modelPixelMm({ pixel_size_mm: 0.1, box: null }), 0.1);
  assert.ok(Number.isNaN(modelPixelMm({ pixel_size_mm: 0.1 })));
  const r = { pixel_size_mm: 0.2, box, quality: { fit_rms_frac: 0.01 } };
  assert.deepEqual(measurementSignals(r), { fit_rms_frac: 0.01, model_pixel_mm: 0.2 * 2.5 });
  if (spec.hc_interval.table.feature_names.includes('model_pixel_mm')) {
    assert.ok(hcInterval(spec, 200, {}).half_width_mm > hcInterval(spec, 200, measurementSignals(r)).half_width_mm);
  }
});

test('a note just past a cap takes the decimals it needs to read two numbers (interval_table._apart)', () => {
  const table = spec.hc_interval.axis_tables.bpd;
  const cap = table.domain_caps.model_pixel_mm;
  const note = beyondCalibration(table, 150, { model_pixel_mm: cap + 2e-5 });
  const [, v, c] = /model_pixel_mm (\S+) is above the calibrated range \(up to (\S+)\)/.exec(note);
  assert.notEqual(v, c);
  assert.equal(v.length, c.length);
  assert.ok(v.length > 5, note);
});

test('every axis table bounds the model pixel and the signals, weighted or not, and says so once (domain_caps)', () => {
  for (const [quantity, table] of Object.entries(spec.hc_interval.axis_tables)) {
    const cap = table.domain_caps.model_pixel_mm;
    assert.equal(beyondCalibration(table, 180, { model_pixel_mm: cap * 0.99 }), '', quantity);
    assert.equal(beyondCalibration(table, 180, { model_pixel_mm: cap * 1.5 }),
      `no calibrated interval: model_pixel_mm ${(cap * 1.5).toFixed(3)} is above the calibrated range (up to ${cap.toFixed(3)})`, quantity);
    assert.match(beyondCalibration(table, 180, { model_pixel_mm: cap * 0.99, mask_ellipse_dice: 0.5 }),
      /^no calibrated interval: one_minus_mask_ellipse_dice 0\.500 is above/, quantity);
  }
});

test('an interval table naming an unknown feature is refused in words', () => {
  const bad = structuredClone(spec);
  bad.hc_interval.table.feature_names = ['one', 'skull_thickness'];
  assert.throws(() => hcInterval(bad, 200, {}), /unknown interval feature 'skull_thickness'/);
});

test('biometry and GA from BPD, every case', () => {
  const cases = golden.clinical.biometry;
  assert.ok(cases.length >= 10);
  assert.ok(new Set(cases.map((c) => c.record.head_shape)).size === 3, 'all three head shapes');
  assert.ok(cases.some((c) => c.record.ga_bpd.status === 'out_of_range'));
  for (const c of cases) close(biometryRecord(spec, ...c.semi_axes_mm), c.record, `biometry ${c.semi_axes_mm}`);
});

test('head shape: an HC beyond every GA formula (000_HC, ~46 mm) is never called the preferred dating measurement', () => {
  const r = biometryRecord(spec, 8.0, 7.0); // brachycephalic, HC ~47 mm
  assert.ok(Object.values(gaFromHcAll(spec, 47.0)).every((g) => g.ga_days === null));
  assert.equal(r.head_shape, 'brachycephalic');
  assert.ok(!r.head_shape_text.includes('preferred dating'), r.head_shape_text);
  assert.ok(r.head_shape_text.endsWith('; prefer the HC for dating, where it gives a GA'), r.head_shape_text);
});

test('"GA from dating" wording', () => {
  for (const c of golden.clinical.dating) assert.equal(datingDisplay(spec, parseGaWeeks(spec, c.ga_input)), c.display);
});

test('every measured case: report.csv row as hc_tf.report.records.csv_row writes it', () => {
  const cases = [...golden.measure, ...golden.samples];
  assert.ok(cases.length > 20);
  for (const c of cases) {
    const [H, W] = c.hw;
    const m = measure(dequantize(unz(c.q), 0.00390625, 0), H, W, c.box, c.pixel_size_mm);
    const flag = m.found ? reviewFlag(spec, m.quality) : { review: false, reasons: [] };
    const r = { ...m, box: c.box, gestational_age: m.found ? gaFromHcAll(spec, m.hc_mm) : {}, review: flag.review, review_reasons: flag.reasons };
    const rec = imageRecord(spec, c.csv_row.filename, r, String(c.csv_row.known_ga_weeks));
    const row = csvRow(rec);
    assert.deepEqual(Object.keys(c.csv_row).sort(), [...REPORT_FIELDS].sort(), 'REPORT_FIELDS');
    close(row, c.csv_row, c.name);
    // report.json's quality as predict writes it: every QualitySignals field in its order, null where not computed.
    close(rec.quality, c.quality, `${c.name} quality`);
    if (m.found) assert.deepEqual(Object.keys(rec.quality), Object.keys(c.quality), `${c.name} quality keys`);
    if (m.found) {
      close(rec.hc_interval, c.hc_interval, `${c.name} hc_interval`);
      close(rec.ga_interval, c.ga_interval, `${c.name} ga_interval`);
      close(rec.biometry, c.biometry, `${c.name} biometry`);
      close(rec.bpd_interval, c.bpd_interval, `${c.name} bpd_interval`); // each axis's own table
      close(rec.ofd_interval, c.ofd_interval, `${c.name} ofd_interval`);
      close(rec.cephalic_index_interval, c.cephalic_index_interval, `${c.name} cephalic_index_interval`);
      close(rec.corrected_bpd_interval, c.corrected_bpd_interval, `${c.name} corrected_bpd_interval`);
    }
  }
});
