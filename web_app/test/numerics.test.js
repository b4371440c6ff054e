// Numerical edge cases where the port must agree with the Python measurement
// (tests/numerics_test.py holds the same cases for Python).
import test from 'node:test';
import assert from 'node:assert/strict';
import { measure } from '../src/core/measure/index.js';

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
