// What the app trusts of a file's tables before measuring its pixels (hc_tf/io/dicom_offsets.py,
// dicom_pixel_values.py; tests/dicom_tables_test.py holds the Python to the same words): a Basic
// Offset Table that does not point at the fragments in order, a pixel value past BitsStored, a
// modality transform that is not the identity are refused; valid files are read as before.

import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readHeader } from '../src/core/dicom/file.js';
import { decodeFrame } from '../src/core/dicom/frames.js';
import { BOT_ORDER } from '../src/core/dicom/offsets.js';
import { loadJson } from './helpers.js';
import { element, part10 } from './dicom_bytes.js';

const parser = createRequire(import.meta.url)('dicom-parser');
const limits = loadJson('hc_effunet_int8.json').input_limits;
const EXPLICIT = '1.2.840.10008.1.2.1', RLE = '1.2.840.10008.1.2.5';
const [ROWS, COLUMNS] = [4, 6];

/** The Image Pixel module of a MONOCHROME2 image, `extra` elements (before 7FE0) after it. */
function pixelModule({ frames = 1, allocated = 8, stored = 8, extra = [] } = {}) {
  return Buffer.concat([
    element(0x0028, 0x0002, 'US', [1]), element(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
    ...(frames > 1 ? [element(0x0028, 0x0008, 'IS', String(frames))] : []),
    element(0x0028, 0x0010, 'US', [ROWS]), element(0x0028, 0x0011, 'US', [COLUMNS]),
    element(0x0028, 0x0100, 'US', [allocated]), element(0x0028, 0x0101, 'US', [stored]),
    element(0x0028, 0x0102, 'US', [stored - 1]), element(0x0028, 0x0103, 'US', [0]), ...extra]);
}

const item = (bytes) => { const head = Buffer.alloc(8); head.writeUInt32LE(0xe000fffe, 0); head.writeUInt32LE(bytes.length, 4); return Buffer.concat([head, bytes]); };

/** An RLE frame of one value: its 64-byte header (one segment) and a literal segment, even-padded. */
function rleFrame(value) {
  const head = Buffer.alloc(64);
  head.writeUInt32LE(1, 0); head.writeUInt32LE(64, 4);
  const n = ROWS * COLUMNS, segment = Buffer.concat([Buffer.from([n - 1]), Buffer.alloc(n, value)]);
  return Buffer.concat([head, segment, Buffer.alloc(segment.length % 2)]);
}

/** A 2-frame RLE file (frame k all `values[k]`) whose Basic Offset Table holds `bot` (null: the true one). */
function rleFile(values, bot = null) {
  const frags = values.map(rleFrame);
  const offsets = bot ?? frags.map((_, i) => frags.slice(0, i).reduce((n, f) => n + f.length + 8, 0));
  const pixelData = Buffer.concat([Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]),
    item(Buffer.from(new Uint32Array(offsets).buffer)), ...frags.map(item), Buffer.from([0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])]);
  return part10(RLE, Buffer.concat([pixelModule({ frames: values.length }), pixelData]));
}

const read = (file) => readHeader(parser, file, 't.dcm', limits);
const frame = (file, k) => decodeFrame(read(file), k, {});
const native = (pixels, options = {}) => part10(EXPLICIT, Buffer.concat([pixelModule(options),
  element(0x7fe0, 0x0010, options.allocated === 16 ? 'OW' : 'OB', Buffer.from(pixels.buffer))]));

test('a 2-frame RLE file is read frame by frame with a true Basic Offset Table, or an empty one', () => {
  for (const bot of [null, []]) {
    const file = rleFile([40, 200], bot);
    assert.deepEqual([frame(file, 1)[0], frame(file, 2)[0]], [40, 200]);
  }
});

test('a Basic Offset Table that does not point at the fragments in order is refused, in the Python\'s words', () => {
  const size = rleFrame(0).length + 8;
  for (const bot of [[size, 0], [0, 12345], [0, size - 2], [4, size]]) {
    assert.throws(() => frame(rleFile([40, 200], bot), 1), { message: `t.dcm: ${BOT_ORDER}` }, String(bot));
  }
  assert.throws(() => frame(rleFile([40, 200], [0]), 2),
    { message: 't.dcm: Basic Offset Table (FFFE,E000) is 4 bytes, not 4 for each of its 2 frames (NumberOfFrames (0028,0008))' });
});

test('a pixel value past BitsStored is refused (its header is damaged); one within it is read', () => {
  const ramp = Uint8Array.from({ length: ROWS * COLUMNS }, (_, i) => i * 10);
  assert.deepEqual(frame(native(ramp), 1), ramp);
  assert.throws(() => frame(native(ramp, { stored: 7 }), 1),
    { message: 't.dcm: a pixel value of 230 does not fit BitsStored (0028,0101) 7 (0 to 127): the header is damaged' });
  const words = Uint16Array.from(ramp); // 8 bits stored in 16: read; a high byte set: refused
  assert.deepEqual(frame(native(words, { allocated: 16 }), 1), ramp);
  words[3] |= 0x1000;
  assert.throws(() => frame(native(words, { allocated: 16 }), 1), /a pixel value of 4126 does not fit BitsStored \(0028,0101\) 8 \(0 to 255\)/);
});

test('a modality transform that is not the identity is refused, naming its tag; the identity is read', () => {
  const ramp = Uint8Array.from({ length: ROWS * COLUMNS }, (_, i) => i * 10);
  const rescale = (slope, intercept) => native(ramp, { extra: [element(0x0028, 0x1052, 'DS', intercept), element(0x0028, 0x1053, 'DS', slope)] });
  const lut = (data) => native(ramp, { extra: [element(0x0028, 0x3000, 'SQ', item(Buffer.concat([
    element(0x0028, 0x3002, 'US', [256, 0, 8]), element(0x0028, 0x3004, 'LO', 'US'), element(0x0028, 0x3006, 'US', data)])))] });
  const identity = Array.from({ length: 256 }, (_, i) => i);
  for (const file of [rescale('1', '0'), rescale('1.0', '-0'), rescale('', ''), lut(identity)]) assert.deepEqual(frame(file, 1), ramp);
  const rescales = 't.dcm: RescaleSlope (0028,1053) and RescaleIntercept (0028,1052) are not 1 and 0: they rescale the pixel values, and hc-tf measures ultrasound pixels as stored (no modality transform)';
  for (const [slope, intercept] of [['-1', '255'], ['2', '0'], ['1', '5'], ['nan', '0']]) assert.throws(() => read(rescale(slope, intercept)), { message: rescales });
  assert.throws(() => read(rescale('1\\2', '0')), { message: 't.dcm: RescaleSlope (0028,1053) is not one number' });
  assert.throws(() => read(lut(identity.map((v) => 255 - v))),
    { message: 't.dcm: Modality LUT Sequence (0028,3000) maps pixel values to others: hc-tf measures ultrasound pixels as stored (no modality transform)' });
  assert.throws(() => read(lut(identity.slice(0, 200))), /Modality LUT Sequence \(0028,3000\) maps pixel values to others/); // shorter than its descriptor
});
