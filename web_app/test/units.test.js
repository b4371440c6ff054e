// The pixel size reads as Python's float() and check_pixel_size do, with the metadata's range.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pyFloat, parsePixelSize, pixelSizeRange } from '../src/core/units.js';
import { loadJson } from './helpers.js';

const meta = loadJson('hc_effunet_int8.json');

test('pyFloat accepts what float() accepts and nothing else', () => {
  const ok = { '0.1': 0.1, ' 1e-1 ': 0.1, '.5': 0.5, '5.': 5, '+0.25': 0.25, '1_0': 10, '1E1': 10, '-2': -2 };
  for (const [s, v] of Object.entries(ok)) assert.equal(pyFloat(s), v, s);
  for (const s of ['0x1', '0,1', '1__0', '_1', '1_', '', '1e', '0b1', '1.2.3', 'abc', 'Infinityx']) assert.equal(pyFloat(s), null, s);
  assert.equal(pyFloat('inf'), Infinity);
  assert.ok(Number.isNaN(pyFloat('nan')));
});

test('parsePixelSize uses the metadata range (the CLI\'s)', () => {
  const range = pixelSizeRange(meta);
  assert.deepEqual(range, { min: 0.01, max: 2.0 });
  assert.equal(parsePixelSize('0.1', range), 0.1);
  assert.equal(parsePixelSize('2', range), 2);
  assert.throws(() => parsePixelSize('0x1', range), /not a number/);
  assert.throws(() => parsePixelSize('0,1', range), /decimal point/);
  assert.throws(() => parsePixelSize('5', range), /implausible/);
  assert.throws(() => parsePixelSize('0.001', range), /implausible/);
  assert.throws(() => parsePixelSize('inf', range), /not finite/);
  assert.throws(() => parsePixelSize('', range), /Enter the pixel size/);
});
