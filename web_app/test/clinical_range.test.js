// Issue 24 item 1: every clinical read-out takes any HC from 0 to 1e6 mm; the HC range is checked
// before any formula, as hc_tf.clinical does (tests/clinical_range_test.py is the Python twin),
// so both say "out of range" with the same words where Python once crashed (HC of metres).
import test from 'node:test';
import assert from 'node:assert/strict';
import { formatHcMm, gaFromHc, gaFromHcAll, gaLine, hcCentile, reviewFlag } from '../src/core/clinical.js';
import { loadJson } from './helpers.js';

const spec = loadJson('hc_effunet_int8.json').clinical;
const METHODS = spec.ga_from_hc.methods.map((m) => m.method);

function sweep() {
  const hcs = new Set([0, 4800, 4900, 1e5]);
  for (let i = 0; i <= 600; i++) hcs.add(1e-6 * 10 ** (12 * i / 600));
  for (let i = 0; i <= 200; i++) hcs.add(i * 5000);
  for (const m of spec.ga_from_hc.methods) m.valid_hc_mm.forEach((x) => hcs.add(x));
  return [...hcs].sort((a, b) => a - b);
}

test('every clinical function takes any HC from 0 to 1e6 mm: a result, or an Error with a message', () => {
  const failures = [];
  for (const hc of sweep()) {
    const calls = [
      ['gaFromHcAll', () => gaFromHcAll(spec, hc)],
      ...METHODS.map((m) => [`gaLine ${m}`, () => gaLine(spec, gaFromHc(spec, hc, m))]),
      ...['14+0', 27.4, '40+0', 44].map((ga) => [`hcCentile ${ga}`, () => hcCentile(spec, hc, ga).display]),
      ['formatHcMm', () => formatHcMm(hc)],
      ['reviewFlag', () => reviewFlag(spec, { hc_mm: hc })],
    ];
    for (const [name, call] of calls) {
      try {
        const out = call();
        if (typeof out === 'string') assert.ok(!/NaN|Infinity|undefined/.test(out), `${name}(${hc}): ${out}`);
      } catch (err) {
        if (!(err instanceof Error) || !err.message || hc > 0) failures.push(`${name}(${hc}): ${err}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

test('an HC of metres is out of range by both formulas, in Python\'s words', () => {
  for (const hc of [400, 4800, 5000, 1e5, 1e6]) {
    for (const m of METHODS) {
      const r = gaFromHc(spec, hc, m);
      assert.deepEqual([r.status, r.ga, r.ga_days], ['out_of_range', null, null], `${m} ${hc}`);
      assert.ok(r.message.startsWith(`out of range: HC ${hc.toFixed(1)} mm is outside `), r.message);
    }
  }
});

test('the range edges are where the GA range puts them (the bounds are given to 3 decimals)', () => {
  for (const m of spec.ga_from_hc.methods) {
    const [lo, hi] = m.valid_hc_mm;
    assert.equal(gaFromHc(spec, lo + 0.01, m.method).status, 'ok');
    assert.equal(gaFromHc(spec, hi - 0.01, m.method).status, 'ok');
    assert.equal(gaFromHc(spec, lo - 0.01, m.method).status, 'out_of_range');
    assert.equal(gaFromHc(spec, hi + 0.01, m.method).status, 'out_of_range');
  }
});
