// lossless_scan.js: a JPEG Lossless scan read through by T.81's procedures, on codestreams built
// here bit by bit (tests/web_app_dicom_test.py compares it with predict's libjpeg on real files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { losslessScanDamage, pointTransform } from '../src/core/dicom/lossless_scan.js';

const segment = (marker, body) => [0xff, marker, (body.length + 2) >> 8, (body.length + 2) & 255, ...body];
// One table (id 0): code '0' -> category 0, '10' -> category `second`.
const dht = (second = 1) => segment(0xc4, [0x00, 1, 1, ...Array(14).fill(0), 0, second]);
const sof3 = (rows, columns) => segment(0xc3, [8, rows >> 8, rows & 255, columns >> 8, columns & 255, 1, 1, 0x11, 0]);
const sos = segment(0xda, [1, 1, 0x00, 1, 0, 0]);
const stream = (data, { rows = 1, columns = 4, restart = 0, second = 1 } = {}) => new Uint8Array([
  0xff, 0xd8, ...dht(second), ...sof3(rows, columns), ...(restart ? segment(0xdd, [0, restart]) : []), ...sos, ...data, 0xff, 0xd9]);

test('a whole scan reads through: categories, their extra bits, the padding', () => {
  // samples: cat 0, cat 0, cat 1 (+ bit 1), cat 0 -> 0 0 10 1 0, padded with ones: 0001 0101
  assert.equal(losslessScanDamage(stream([0x15])), null);
});

test('a scan that runs into the end marker, or a code the table lacks, is damage', () => {
  assert.equal(losslessScanDamage(stream([])), 'a marker stands where a sample is still to come');
  assert.equal(losslessScanDamage(stream([0x15], { columns: 9 })), 'a marker stands where a sample is still to come');
  assert.equal(losslessScanDamage(stream([0xff, 0x00, 0xff, 0x00, 0xff, 0x00])), 'a Huffman code its table does not hold'); // 17 ones: no such code
  assert.equal(losslessScanDamage(stream([0x15], { second: 17 })), 'a difference of category 17 (16 at most)');
});

test('restart markers stand where the interval puts them', () => {
  // two samples (0 0, padded: 0011 1111), RST0, then 10 1 0 (padded: 1010 1111)
  assert.equal(losslessScanDamage(stream([0x3f, 0xff, 0xd0, 0xaf], { restart: 2 })), null);
  assert.equal(losslessScanDamage(stream([0x3f, 0xff, 0xd1, 0xaf], { restart: 2 })), 'restart marker 0 is not where the restart interval puts it');
  assert.equal(losslessScanDamage(stream([0x3f, 0xaf], { restart: 2 })), 'restart marker 0 is not where the restart interval puts it');
});

test('layouts it does not judge are left to the decoder', () => {
  const subsampled = stream([0x15]);
  subsampled[subsampled.indexOf(0x11)] = 0x21; // 2x1 sampling
  assert.equal(losslessScanDamage(subsampled), null);
  assert.equal(losslessScanDamage(new Uint8Array([0x00, 0x01])), null); // not a JPEG
});

test('the point transform is read from the first scan (Al), 0 when it cannot be', () => {
  assert.equal(pointTransform(stream([0x15])), 0);
  const transformed = stream([0x15]), al = transformed.indexOf(0xda) + 8; // SOS: length, Ns, Cs, Td|Ta, Ss, Se, Ah|Al
  transformed[al] = 0x02;
  assert.equal(pointTransform(transformed), 2);
  assert.equal(pointTransform(transformed.subarray(0, al)), 0); // cut inside the scan header
  assert.equal(pointTransform(new Uint8Array([0x00, 0x01])), 0);
});
