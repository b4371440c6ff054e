// The port's GA, centile, GA entry checks and review flag against hc_tf.clinical / hc_tf.report.records
// (postprocess_golden.json's "clinical" section), with the bundle metadata's rules and limits.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  formatGa, gaFromHc, gaFromHcAll, gaLine, hcCentile, parseGaWeeks, reviewFlag, reviewText, erf,
} from '../src/core/clinical.js';
import { loadJson } from './helpers.js';

const golden = loadJson('postprocess_golden.json');
const cases = golden.clinical;
const spec = loadJson('hc_effunet_int8.json').clinical;
const TOL_DAYS = golden.tolerance.ga_days, TOL_CENTILE = golden.tolerance.centile;

/** Records equal: numbers within tol, everything else exactly; keys in Python's order (report.json's text). */
function assertRecord(got, want, tol, what) {
  assert.deepEqual(Object.keys(got), Object.keys(want), what);
  for (const [k, w] of Object.entries(want)) {
    if (typeof w === 'number' && typeof got[k] === 'number') assert.ok(Math.abs(got[k] - w) <= tol, `${what} ${k}: ${got[k]} vs ${w}`);
    else assert.equal(got[k], w, `${what} ${k}`);
  }
}

test('GA from HC by both formulas: status, weeks+days, uncertainty, messages as Python', () => {
  for (const c of cases.ga_from_hc) {
    const got = gaFromHc(spec, c.hc_mm, c.record.method);
    assertRecord(got, c.record, TOL_DAYS, `HC ${c.hc_mm} ${c.record.method}`);
    assert.equal(gaLine(spec, got), c.line);
  }
});

test('GA is never extrapolated: out of range has no number', () => {
  const statuses = new Set(cases.ga_from_hc.map((c) => `${c.record.method}:${c.record.status}`));
  for (const m of ['hadlock_1984', 'intergrowth21_hc_2016']) {
    assert.ok(statuses.has(`${m}:ok`) && statuses.has(`${m}:out_of_range`), m);
  }
  const { hadlock, intergrowth } = gaFromHcAll(spec, 300);
  assert.equal(hadlock.status, 'ok');
  assert.deepEqual([intergrowth.status, intergrowth.ga, intergrowth.ga_days], ['out_of_range', null, null]);
  assert.match(intergrowth.message, /^out of range: HC 300\.0 mm is outside 97\.7-237\.6 mm/);
});

test('a bad HC throws', () => {
  for (const bad of [0, -5, NaN, Infinity, '180', null]) assert.throws(() => gaFromHc(spec, bad, 'hadlock_1984'), /HC \(mm\)/);
});

test('weeks+days rounds halves up, as Python', () => {
  for (const c of cases.format_ga) assert.equal(formatGa(c.days), c.text, String(c.days));
  assert.throws(() => formatGa(-1), /negative/);
});

test('HC centile and z for a known GA (numbers, W+D text, out of the standard\'s range)', () => {
  for (const c of cases.centile) {
    assertRecord(hcCentile(spec, c.hc_mm, c.ga_input), c.record, TOL_CENTILE, `HC ${c.hc_mm} at ${JSON.stringify(c.ga_input)}`);
  }
  const flags = new Set(cases.centile.map((c) => c.record.flag));
  assert.ok(flags.has('below_3rd') && flags.has('above_97th') && flags.has(null));
  assert.ok(cases.centile.some((c) => c.record.status === 'out_of_range'));
});

test('a bad GA entry gives Python\'s message, never a number', () => {
  for (const c of cases.bad_ga_input) {
    assert.throws(() => parseGaWeeks(spec, c.ga_input), (err) => err.message === c.error, JSON.stringify(c.ga_input));
    assert.throws(() => hcCentile(spec, 180, c.ga_input), (err) => err.message === c.error);
  }
  for (const bad of ['nan', 'inf', 'Infinity', '0x1A', NaN]) assert.throws(() => parseGaWeeks(spec, bad), /GA/, String(bad));
});

test('review flag: rules, limits and reasons from the metadata, as Python', () => {
  for (const c of cases.review_flag) {
    const signals = Object.fromEntries(Object.entries(c.signals).map(([k, v]) => [k, v === 'NaN' ? NaN : v]));
    if (c.error) assert.throws(() => reviewFlag(spec, signals), (err) => err.message === c.error, c.what);
    else assert.deepEqual(reviewFlag(spec, signals), { review: c.review, reasons: c.reasons }, c.what);
  }
  const all = cases.review_flag.find((c) => c.what.startsWith('every rule fires'));
  assert.deepEqual(all.reasons, spec.review_flag.signals.map((r) => r.reason));
});

test('review flag follows the metadata\'s thresholds (not a second copy of them)', () => {
  const limit = spec.review_flag.thresholds.max_fit_rms_frac;
  const q = { fit_rms_frac: 1.5 * limit, hc_mm: 180 };
  assert.equal(reviewFlag(spec, q).review, true);
  const looser = structuredClone(spec);
  looser.review_flag.thresholds.max_fit_rms_frac = 2 * limit;
  assert.equal(reviewFlag(looser, q).review, false);
});

test('"please review: <reasons>" text', () => {
  assert.equal(reviewText({ review: true, reasons: ['a', 'b'] }), 'please review: a; b');
  assert.equal(reviewText({ review: false, reasons: [] }), '');
});

test('erf: known values to 1e-15', () => {
  const known = [[0, 0], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527],
    [3, 0.9999779095030014], [-1.5, -0.9661051464753108], [5.5, 0.9999999999999927]];
  for (const [x, want] of known) assert.ok(Math.abs(erf(x) - want) <= 1e-15, `erf(${x}) = ${erf(x)}`);
});

test('GA entry: only "weeks+days" or a decimal number of weeks; "1e1" is refused, not read as 10+0', () => {
  assert.throws(() => hcCentile(spec, 175, '1e1'), (err) => err.message === "GA '1e1' is not a number of weeks or 'weeks+days' (e.g. 27+3)");
  for (const bad of ['2.5E1', 'nan', 'inf', '2_7', '0x14', '\u0662\u0667', '\ufeff27.5', '27.5\u00a0']) assert.throws(() => parseGaWeeks(spec, bad), /is not a number of weeks/, bad);
  assert.equal(parseGaWeeks(spec, ' 27.5 '), 27.5);
  assert.equal(parseGaWeeks(spec, '10.0'), 10);
});
