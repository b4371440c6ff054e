// The DICOM calibration port against the shared golden cases (tests/fixtures/dicom_calibration/,
// written by tests/dicom_goldens.py; the Python passes the same in
// tests/dicom_calibration_golden_test.py): every case gives the expected pixel size, source and
// region, or a refusal containing the same words.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { readHeader, calibrationFields } from '../src/core/dicom/file.js';
import { decodeFrame } from '../src/core/dicom/frames.js';
import { readCalibration, provisionalPixelSize, choosePixelSize, modelRegion } from '../src/core/dicom/calibration.js';
import { REPO, loadJson } from './helpers.js';

const parser = createRequire(import.meta.url)('dicom-parser');
const FIXTURES = path.join(REPO, 'tests', 'fixtures', 'dicom_calibration');
const limits = loadJson('hc_effunet_int8.json').input_limits;
const golden = JSON.parse(readFileSync(path.join(FIXTURES, 'cases.json'), 'utf8'));
const cases = golden.cases;

function header(file) {
  return readHeader(parser, new Uint8Array(readFileSync(path.join(FIXTURES, file))), file, limits);
}

/** As the Python test applies a case: provisional size (may refuse), then the choice for the head. */
function apply(c) {
  const cal = readCalibration(calibrationFields(header(c.file)), 1);
  provisionalPixelSize(cal, c.typed_mm, c.override);
  return choosePixelSize(cal, c.head, c.typed_mm, c.override);
}

test('every shared calibration case: same pixel size, source and region, or the same refusal words', () => {
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const where = `${c.file} head ${JSON.stringify(c.head)} typed ${c.typed_mm} override ${c.override}`;
    if ('refusal' in c.expect) {
      assert.throws(() => apply(c), (err) => err.message.includes(c.expect.refusal) && err.message.startsWith(c.file), where);
    } else {
      const got = apply(c);
      assert.ok(Math.abs(got.pixel_size_mm - c.expect.pixel_size_mm) <= 1e-12, `${where}: ${got.pixel_size_mm}`);
      assert.equal(got.source, c.expect.source, where);
      assert.equal(got.region, c.expect.region, where);
    }
  }
});

test('every shared file: the model sees the same part of its frame (model_regions)', () => {
  const files = Object.keys(golden.model_regions);
  assert.ok(files.length >= 10 && files.some((f) => golden.model_regions[f] !== null));
  for (const file of files) {
    const h = header(file);
    assert.deepEqual(modelRegion(readCalibration(calibrationFields(h), 1), h.rows, h.columns), golden.model_regions[file], file);
  }
});

test('fixture pixels decode to the header size as 8-bit gray', () => {
  const h = header('one_region.dcm');
  const gray = decodeFrame(h);
  assert.equal(gray.length, h.rows * h.columns);
  assert.ok(gray instanceof Uint8Array);
});

test('not DICOM, compressed, or over the limits: refused in words naming the file', () => {
  assert.throws(() => readHeader(parser, new Uint8Array(300), 'x.dcm', limits), /x\.dcm: not a readable DICOM file/);
  const bytes = new Uint8Array(readFileSync(path.join(FIXTURES, 'one_region.dcm')));
  assert.throws(() => readHeader(parser, bytes, 'big.dcm', { ...limits, max_input_pixels: 100 }), /big\.dcm: Rows x Columns \(0028,0010\/0011\) = 64 x 96/);
  const h = header('one_region.dcm');
  assert.throws(() => decodeFrame({ ...h, transferSyntax: '1.2.840.10008.1.2.4.100' }), /one_region\.dcm: its pixel data is compressed .*1\.2\.840\.10008\.1\.2\.4\.100/);
});

/** A Part 10 file in Implicit VR Little Endian (the default syntax: no VR in the data set). */
function implicitVrFile(elements) {
  const le = (n, size) => { const b = Buffer.alloc(size); if (size === 2) b.writeUInt16LE(n); else b.writeUInt32LE(n); return b; };
  const even = (b) => (b.length % 2 ? Buffer.concat([b, Buffer.from(' ')]) : b); // text values only are odd here
  const ts = Buffer.from('1.2.840.10008.1.2\0');
  const meta = Buffer.concat([le(0x0002, 2), le(0x0010, 2), Buffer.from('UI'), le(ts.length, 2), ts]);
  const metaLen = Buffer.concat([le(0x0002, 2), le(0x0000, 2), Buffer.from('UL'), le(4, 2), le(meta.length, 4)]);
  const body = elements.map(([group, elem, value]) => {
    const v = even(value);
    return Buffer.concat([le(group, 2), le(elem, 2), le(v.length, 4), v]);
  });
  return new Uint8Array(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), metaLen, meta, ...body]));
}

test('implicit VR: NumberOfFrames (IS) is read as text, Rows and Columns (US) as numbers', () => {
  const us = (n) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
  const file = (frames, rows, columns) => implicitVrFile([
    [0x0028, 0x0002, us(1)], [0x0028, 0x0004, Buffer.from('MONOCHROME2 ')],
    ...(frames === null ? [] : [[0x0028, 0x0008, Buffer.from(frames)]]),
    [0x0028, 0x0010, us(rows)], [0x0028, 0x0011, us(columns)], [0x0028, 0x0100, us(8)], [0x0028, 0x0101, us(8)],
    [0x0028, 0x0103, us(0)], [0x7fe0, 0x0010, Buffer.alloc(rows * columns * Math.max(1, Number(frames) || 1), 7)],
  ]);
  // pydicom reads these as 2, 12 and 1 frames; "2 " as two bytes would be 8242 (and an 800 x 540
  // cine "over the limit").
  for (const [text, want, rows, columns] of [['2 ', 2, 540, 800], ['12', 12, 12, 16], ['1 ', 1, 540, 800], [null, 1, 4, 4]]) {
    const h = readHeader(parser, file(text, rows, columns), 'cine.dcm', limits);
    assert.deepEqual([h.frames, h.rows, h.columns, h.samples], [want, rows, columns, 1], String(text));
    assert.equal(decodeFrame(h).length, rows * columns);
  }
  assert.throws(() => readHeader(parser, file('10001', 1, 1), 'many.dcm', limits),
    /many\.dcm: NumberOfFrames \(0028,0008\) 10001, over the 10000-frame input limit/);
});
