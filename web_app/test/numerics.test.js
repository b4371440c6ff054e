// Numerical edge cases where the port must agree with the Python measurement
// (tests/numerics_test.py holds the same cases for Python).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { measure } from '../src/core/measure/index.js';
import { ramanujanPerimeter } from '../src/core/measure/geometry.js';
import { gaFromHc, hcCentile, normalCdf } from '../src/core/clinical.js';
import { erfc, exp } from '../src/core/erf.js';
import { loadJson, REPO } from './helpers.js';

/** 64x64: an ellipse of exactly float32(0.3) around a core of 1.0. */
function tieMap() {
  const p = new Float32Array(64 * 64);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      if (((x - 32) / 20) ** 2 + ((y - 30) / 14) ** 2 <= 1) p[y * 64 + x] = 0.3;
      if (((x - 32) / 14) ** 2 + ((y - 30) / 9) ** 2 <= 1) p[y * 64 + x] = 1.0;
    }
  }
  return p;
}

test('the threshold compares in float64, as Python does', () => {
  const m = measure(tieMap(), 64, 64, null, 0.1, { threshold: 0.3 });
  assert.ok(m.found, m.reason);
  assert.ok(Math.abs(m.hc_mm - 10.53064005863159) <= 1e-12, `${m.hc_mm}`);
});

// ---------------------------------------------------------------- the normal CDF

const spec = loadJson('hc_effunet_int8.json').clinical;
const cases = JSON.parse(readFileSync(path.join(REPO, 'tests', 'fixtures', 'normal_cdf_cases.json'), 'utf8'));
const ulps = (a, b) => Math.abs(a - b) / (Number.EPSILON * 2 ** Math.floor(Math.log2(Math.max(Math.abs(a), Math.abs(b), 5e-324))));

test('centiles on display rounding ties read as in Python', () => {
  const ties = [[186.52765340155185, 'centile >97.0 (z +1.89), above the 97th centile'],
    [150.39990523152787, 'centile 0.1 (z -2.97), below the 3rd centile'],
    [195.47072916251838, 'centile 99.9 (z +3.09), above the 97th centile']];
  for (const [hc, want] of ties) assert.equal(hcCentile(spec, hc, 20).display, want, `${hc}`);
});

test('erfc is Python\'s (glibc libm) over its range: bit-identical but where glibc\'s exp misrounds, then 1 ulp', () => {
  let same = 0;
  for (const [x, want] of cases.erfc) {
    const got = erfc(x);
    if (Object.is(got, want)) same++;
    else assert.ok(ulps(got, want) <= 1, `erfc(${x}) = ${got}, Python ${want}`);
  }
  assert.ok(same >= 0.99 * cases.erfc.length, `${same} of ${cases.erfc.length} bit-identical`);
});

test('centiles from z = -8 to 8 at 14-40 weeks: the same text as Python, the number within 1e-12', () => {
  // Not bit-identical: the SD's GA^3 (V8's ** vs libm pow) and ln GA (fdlibm vs glibc log) can
  // differ in the last bit, and the tail multiplies a change in z by |z| (4.9e-13 at z = -8).
  for (const [hc, ga, centile, display] of cases.centiles) {
    const r = hcCentile(spec, hc, ga);
    assert.equal(r.display, display, `HC ${hc} at ${ga} weeks`);
    assert.ok(Math.abs(r.centile - centile) <= 1e-12 * centile, `HC ${hc} at ${ga} weeks: ${r.centile} vs ${centile}`);
  }
});

test('the normal CDF has no cancellation in the tails', () => {
  assert.ok(Math.abs(normalCdf(-8) / 6.220960574271785e-16 - 1) <= 1e-13);
  assert.ok(Math.abs(normalCdf(-3) / 1.3498980316300946e-3 - 1) <= 1e-14);
  assert.ok(1 - normalCdf(8) > 0 && 1 - normalCdf(8) <= 1e-15);
});

test('exp (for erfc) is e^x rounded once: no Math.exp ulp errors', () => {
  // e^-29.519083340452198 = 1.51364835901339606...e-13 (Math.exp: ...961); e^1 = Math.E.
  assert.equal(exp(-29.519083340452198), 1.513648359013396e-13);
  assert.equal(exp(1), Math.E);
  assert.equal(exp(0), 1);
  assert.equal(exp(-745.2), 0);
  assert.equal(exp(-745), 5e-324);
  assert.equal(exp(709.7), 1.6549840276802644e+308);
  assert.equal(exp(710), Infinity);
});

// ---------------------------------------------------------------- out-of-range messages

test('a GA just outside the standard is not shown as its bound (as centiles._standard_range_message)', () => {
  const want = { 13.95: 'GA 13.95 weeks is outside 14+0 to 40+0 weeks', 13.9999: 'GA 13.9999 weeks is outside 14+0 to 40+0 weeks',
    40.05: 'GA 40.05 weeks is outside 14+0 to 40+0 weeks', 13.5: 'GA 13+4 weeks is outside 14+0 to 40+0 weeks' };
  for (const [weeks, text] of Object.entries(want)) assert.ok(hcCentile(spec, 170, Number(weeks)).display.includes(text), weeks);
});

test('the HC range is inclusive at its exact bounds and the message prints digits enough to differ', () => {
  const cases = [[89.3680490682454, 'hadlock_1984', 'ok', ''], [357.6643005351153, 'hadlock_1984', 'ok', ''],
    [97.67569671072883, 'intergrowth21_hc_2016', 'ok', ''], [237.61781103564286, 'intergrowth21_hc_2016', 'ok', ''],
    [357.66430053511533, 'hadlock_1984', 'out_of_range', 'out of range: HC 357.66430053511533 mm is outside 89.36804906824540-357.66430053511527 mm'],
    [97.67569671072881, 'intergrowth21_hc_2016', 'out_of_range', 'out of range: HC 97.67569671072881 mm is outside 97.67569671072883-237.61781103564286 mm']];
  for (const [hc, method, status, message] of cases) {
    const r = gaFromHc(spec, hc, method);
    assert.equal(r.status, status, `${hc}`);
    assert.ok(r.message.startsWith(message), r.message);
  }
});

test('odd measure arguments throw errors naming them (as Python\'s ValueErrors)', () => {
  for (const [opts, name] of [[{ threshold: '0.5' }, /threshold/], [{ threshold: NaN }, /threshold/],
    [{ minAreaPx: NaN }, /min_area_px/], [{ minAreaPx: Infinity }, /min_area_px/], [{ minAreaPx: '50' }, /min_area_px/], [{ minAreaPx: -1 }, /min_area_px/]]) {
    assert.throws(() => measure(tieMap(), 64, 64, null, 0.1, opts), name, JSON.stringify(opts));
  }
  for (const [a, b] of [[-1, 2], [1, NaN], [Infinity, 1], ['1', 2]]) assert.throws(() => ramanujanPerimeter(a, b), /semi-axis/);
});
