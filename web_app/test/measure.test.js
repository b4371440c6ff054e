// The port's post-processing against the Python reference's vectors (hc_tf.measure.probmap.measure):
// found/reason identical, ellipse within 1e-6 px, HC within 1e-6 mm, contour points bit-identical.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { measure, dequantize, wrapPi } from '../src/core/measure/index.js';
import { fmt1, fmtG, fmtFixed } from '../src/core/pyformat.js';
import { gaFromHcAll, reviewFlag } from '../src/core/clinical.js';
import { loadJson, unz, sha256, angleDiff } from './helpers.js';

const golden = loadJson('postprocess_golden.json');
const spec = loadJson('hc_effunet_int8.json').clinical;
const TOL_PX = golden.tolerance.ellipse_px, TOL_MM = golden.tolerance.hc_mm;
const TOL_QUALITY = golden.tolerance.quality, TOL_GA_DAYS = golden.tolerance.ga_days;

function pointsSha(xs, ys) {
  const buf = new Float64Array(xs.length * 2);
  for (let k = 0; k < xs.length; k++) { buf[2 * k] = xs[k]; buf[2 * k + 1] = ys[k]; }
  return createHash('sha256').update(Buffer.from(buf.buffer)).digest('hex');
}

function check(c) {
  const [H, W] = c.hw;
  const q = unz(c.q);
  assert.equal(q.length, H * W);
  const mask = Uint8Array.from(q, (v) => (v > 128 ? 1 : 0));
  assert.equal(sha256(mask), c.mask_sha256, 'mask checksum');
  const trace = [];
  const m = measure(dequantize(q, 0.00390625, 0), H, W, c.box, c.pixel_size_mm, { trace });
  assert.equal(m.found, c.found, `found (reason: ${m.reason})`);
  assert.equal(m.reason, c.reason);
  if (c.n_points !== null) {
    assert.equal(m.points.xs.length, c.n_points, 'contour points');
    if (c.points_sha256) assert.equal(pointsSha(m.points.xs, m.points.ys), c.points_sha256, 'contour points bit-identical');
    assert.deepEqual(trace.map((r) => [r.n, r.kept]), c.outlier_rounds.map((r) => [r.n, r.kept]), 'outlier rounds');
  }
  if (c.found) {
    const e = m.ellipse, g = c.ellipse_px;
    for (const k of ['cx', 'cy', 'a', 'b']) assert.ok(Math.abs(e[k] - g[k]) <= TOL_PX, `${k}: ${e[k]} vs ${g[k]}`);
    assert.ok(angleDiff(e.angle, g.angle) * Math.max(g.a, 1) <= TOL_PX, `angle: ${e.angle} vs ${g.angle}`);
    assert.ok(Math.abs(m.hc_mm - c.hc_mm) <= TOL_MM, `hc: ${m.hc_mm} vs ${c.hc_mm}`);
    checkClinical(m, c);
  } else {
    assert.equal(m.hc_mm, null);
    assert.equal(m.quality, null);
  }
}

/** Quality signals (~1e-12), review flag and reasons (exact), GA records (days within 1e-9). */
function checkClinical(m, c) {
  for (const [k, want] of Object.entries(c.quality)) {
    if (want === null) continue; // flip_rel_diff: not computed on the edge
    assert.ok(Math.abs(m.quality[k] - want) <= TOL_QUALITY, `${k}: ${m.quality[k]} vs ${want}`);
  }
  assert.deepEqual(reviewFlag(spec, m.quality), { review: c.review, reasons: c.review_reasons });
  const ga = gaFromHcAll(spec, m.hc_mm);
  for (const [key, want] of Object.entries(c.gestational_age)) {
    const { ga_days: days, ga_weeks: weeks, ...rest } = ga[key];
    const { ga_days: wantDays, ga_weeks: wantWeeks, ...wantRest } = want;
    assert.deepEqual(rest, wantRest, key);
    assert.equal(days === null, wantDays === null);
    if (days !== null) assert.ok(Math.abs(days - wantDays) <= TOL_GA_DAYS && Math.abs(weeks - wantWeeks) <= TOL_GA_DAYS);
  }
}

for (const c of golden.measure) test(`measure: ${c.name} (${c.what})`, () => check(c));
for (const c of golden.samples) test(`measure: bundled sample ${c.name} (the int8 model's output)`, () => check(c));

test('the vectors exercise every rejection rule and an outlier round', () => {
  const reasons = golden.measure.map((c) => c.reason);
  for (const start of ['empty mask', 'largest region is a speck', 'mask covers the whole image',
    'head outline inside the image too short', 'region is a line', 'region is too elongated', 'ellipse fit ran away']) {
    assert.ok(reasons.some((r) => r.startsWith(start)), start);
  }
  assert.ok(golden.measure.some((c) => c.found && c.outlier_rounds.some((r) => r.kept < r.n)));
});

test('the vectors exercise every review reason the edge can give, and a clean head', () => {
  const reasons = new Set([...golden.measure, ...golden.samples].flatMap((c) => c.review_reasons ?? []));
  for (const r of spec.review_flag.signals.map((x) => x.reason)) assert.ok(reasons.has(r), r);
  assert.ok(golden.measure.some((c) => c.found && !c.review));
  assert.ok(golden.samples.some((c) => c.name === '213_HC.png' && c.review));
});

test('Python number formatting: .1f ties to even, g', () => {
  assert.equal(fmt1(0.25), '0.2');
  assert.equal(fmt1(0.75), '0.8');
  assert.equal(fmt1(1.04999), '1.0');
  assert.equal(fmt1(9.06), '9.1');
  assert.equal(fmtG(0.5), '0.5');
  assert.equal(fmtG(1e-7, 3), '1e-07');
  assert.equal(fmtG(255.0, 3), '255');
  assert.equal(fmtG(-0.0123, 3), '-0.0123');
});

test('Python number formatting decides ties on the exact value of the double', () => {
  // Each value and what Python's f"{x:.Nf}" / f"{x:.Ng}" write (checked in Python 3).
  const fixed = [[0.0100145, 6, '0.010015'], [0.0100135, 6, '0.010013'], [2.675, 2, '2.67'], [0.125, 2, '0.12'],
    [0.375, 2, '0.38'], [1.5, 0, '2'], [2.5, 0, '2'], [0.15, 1, '0.1'], [0.35, 1, '0.3'], [-0.0, 6, '-0.000000'],
    [-1e-9, 6, '-0.000000'], [1e21, 1, '1000000000000000000000.0'], [5e-324, 2, '0.00']];
  for (const [x, d, want] of fixed) assert.equal(fmtFixed(x, d), want, `${x} .${d}f`);
  const g = [[999999.5, 6, '1e+06'], [999999.7, 6, '1e+06'], [9.9999996, 6, '10'], [0.000099999996, 6, '0.0001'],
    [0.00012345, 3, '0.000123'], [1234567.0, 6, '1.23457e+06'], [2.5, 1, '2'], [-0.0, 6, '-0'], [0.0100145, 5, '0.010015']];
  for (const [x, p, want] of g) assert.equal(fmtG(x, p), want, `${x} .${p}g`);
});

test('angles wrap into [0, pi) like Python %', () => {
  assert.equal(wrapPi(-1e-18), 0);
  assert.equal(wrapPi(Math.PI), 0);
  assert.ok(Math.abs(wrapPi(-0.5) - (Math.PI - 0.5)) < 1e-15);
});

test('a bad pixel size throws a readable error', () => {
  const p = new Float32Array(9);
  for (const bad of [0, -1, NaN, Infinity, '0.1', undefined]) assert.throws(() => measure(p, 3, 3, null, bad), /pixel size/);
});
