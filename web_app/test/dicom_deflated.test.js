// Deflated Explicit VR Little Endian (src/core/dicom/deflated.js): the data set inflated by the
// platform's DecompressionStream under the byte limit, as hc_tf/io/dicom.py's _inflate does for
// predict: the same header and pixels as the file's explicit twin; a bomb refused once past the
// limit, in _inflate's words, never read to its end; a damaged stream refused in words; bytes
// after the stream's end read past, as zlib does, where the platform's inflater refuses them
// (Chromium's does). tests/web_app_dicom_test.py compares the app with predict on pydicom's files.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { deflateRawSync } from 'node:zlib';
import { readDicomHeader, inflateRaw } from '../src/core/dicom/deflated.js';
import { readHeader } from '../src/core/dicom/file.js';
import { decodeFrame } from '../src/core/dicom/frames.js';
import { loadJson } from './helpers.js';
import { element, part10 } from './dicom_bytes.js';

const parser = createRequire(import.meta.url)('dicom-parser');
const limits = loadJson('hc_effunet_int8.json').input_limits;
const DEFLATED = '1.2.840.10008.1.2.1.99', EXPLICIT = '1.2.840.10008.1.2.1';

/** A rows x columns MONOCHROME2 data set (`zeros`: that many bytes of zeros in a private element first). */
function dataSet(rows, columns, zeros = 0) {
  const pixels = Buffer.from(Array.from({ length: rows * columns }, (_, i) => (i * 7 + (i >> 3)) & 0xff));
  return Buffer.concat([
    element(0x0008, 0x0060, 'CS', 'US'),
    ...(zeros ? [element(0x0009, 0x0010, 'LO', 'HCTF TEST'), element(0x0009, 0x1010, 'OB', Buffer.alloc(zeros))] : []),
    element(0x0028, 0x0002, 'US', [1]), element(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
    element(0x0028, 0x0010, 'US', [rows]), element(0x0028, 0x0011, 'US', [columns]),
    element(0x0028, 0x0100, 'US', [8]), element(0x0028, 0x0101, 'US', [8]), element(0x0028, 0x0102, 'US', [7]),
    element(0x0028, 0x0103, 'US', [0]), element(0x7fe0, 0x0010, 'OB', pixels)]);
}

/** `set` deflated as pydicom writes it (an odd stream padded with one 0x00), `tail` bytes after. */
function deflatedFile(set, tail = Buffer.alloc(0)) {
  const stream = deflateRawSync(set);
  return { file: part10(DEFLATED, Buffer.concat([stream, Buffer.alloc(stream.length % 2), tail])), stream };
}

/** DecompressionStream wrapped: `pulled` counts the bytes read out of it, `made` the streams made. */
function counting(refuseAfter = null) {
  const Real = globalThis.DecompressionStream;
  const seen = { pulled: 0, made: 0 };
  globalThis.DecompressionStream = class {
    constructor(format) {
      seen.made++;
      const real = new Real(format);
      this.readable = real.readable.pipeThrough(new TransformStream({ transform(c, ctl) { seen.pulled += c.length; ctl.enqueue(c); } }));
      this.writable = real.writable;
      if (refuseAfter === null) return;
      // Chromium's: a write holding bytes past the stream's end is refused (Node's reads on).
      let fed = 0;
      const guard = new TransformStream({ transform(c, ctl) {
        fed += c.length;
        if (fed > refuseAfter) throw new TypeError('Junk found after end of compressed data.');
        ctl.enqueue(c);
      } });
      guard.readable.pipeTo(real.writable).catch(() => {});
      this.writable = guard.writable;
    }
  };
  return { seen, restore: () => { globalThis.DecompressionStream = Real; } };
}

/** `promise` rejects with a message matching `re`. */
const refuses = (promise, re) => assert.rejects(promise, (err) => re.test(err.message) || assert.fail(err.message));

test('a deflated file reads as its explicit twin: header, pixels, either stream length', async () => {
  for (const [rows, columns] of [[6, 10], [7, 9], [60, 80]]) {
    const set = dataSet(rows, columns);
    const twin = readHeader(parser, part10(EXPLICIT, set), 'twin.dcm', limits);
    const { file, stream } = deflatedFile(set);
    const h = await readDicomHeader(parser, file, 'deflated.dcm', limits);
    assert.equal(h.transferSyntax, DEFLATED);
    for (const k of ['rows', 'columns', 'frames', 'samples', 'photometric', 'bitsAllocated', 'bitsStored', 'signed']) assert.equal(h[k], twin[k], k);
    assert.deepEqual(decodeFrame(h, 1, {}), decodeFrame(twin, 1, {}), `${rows}x${columns} (stream of ${stream.length} bytes)`);
  }
});

test('readHeader alone does not read a deflated data set: it is inflated first', () => {
  const { file } = deflatedFile(dataSet(6, 10));
  assert.throws(() => readHeader(parser, file, 'd.dcm', limits), /d\.dcm: not a readable DICOM file \(its data set is deflated .* not inflated first/);
});

test('a deflate bomb is refused once past the limit, in dicom._inflate\'s words, never read to its end', async () => {
  const { file } = deflatedFile(dataSet(6, 10, 64 * 1024 * 1024)); // 64 MiB of zeros: a 65 kB file
  assert.ok(file.length < 100_000, file.length);
  const small = { ...limits, max_input_bytes: 1_000_000 };
  const c = counting();
  try {
    await assert.rejects(readDicomHeader(parser, file, 'bomb.dcm', small), (err) => err.message
      === 'bomb.dcm: the deflated dataset (transfer syntax 1.2.840.10008.1.2.1.99) inflates past the 1000000-byte input limit');
    assert.ok(c.seen.pulled < 2_000_000, `read ${c.seen.pulled} bytes of a 64 MiB data set`);
  } finally {
    c.restore();
  }
});

test('the limit bounds the inflated data set: at it, read; one byte past, refused', async () => {
  const set = dataSet(7, 9, 10_000), { file } = deflatedFile(set);
  assert.ok(file.length < set.length / 10, file.length);
  const h = await readDicomHeader(parser, file, 'at.dcm', { ...limits, max_input_bytes: set.length });
  assert.equal(h.rows, 7);
  await refuses(readDicomHeader(parser, file, 'past.dcm', { ...limits, max_input_bytes: set.length - 1 }),
    new RegExp(`^past\\.dcm: the deflated dataset .* inflates past the ${set.length - 1}-byte input limit$`));
  const inflated = await inflateRaw(deflateRawSync(set), set.length);
  assert.equal(inflated.size, set.length);
});

test('a damaged deflate stream is refused in words naming the file', async () => {
  const { file } = deflatedFile(dataSet(6, 10));
  const metaEnd = 144 + new DataView(file.buffer).getUint32(140, true);
  const corrupt = file.slice();
  corrupt[metaEnd] = 0xff; // the first block: final, of the reserved type 3
  await refuses(readDicomHeader(parser, corrupt, 'corrupt.dcm', limits),
    /^corrupt\.dcm: not a readable DICOM file \(deflated dataset: .*invalid block type/);
  await refuses(readDicomHeader(parser, file.slice(0, file.length - 20), 'cut.dcm', limits),
    /^cut\.dcm: not a readable DICOM file \(deflated dataset: /);
});

test('bytes after the stream\'s end are read past, as zlib reads past them, where the inflater refuses them', async () => {
  const set = dataSet(60, 80), twin = readHeader(parser, part10(EXPLICIT, set), 'twin.dcm', limits);
  for (const [what, tail, passes] of [['a pad byte', Buffer.from([0]), 2], ['seven bytes', Buffer.from('abcdefg'), 3],
    ['40 kB', Buffer.alloc(40_000, 1), 3]]) {
    const stream = deflateRawSync(set), file = part10(DEFLATED, Buffer.concat([stream, tail]));
    const c = counting(stream.length);
    try {
      const h = await readDicomHeader(parser, file, 'tail.dcm', limits);
      assert.deepEqual(decodeFrame(h, 1, {}), decodeFrame(twin, 1, {}), what);
      assert.equal(c.seen.made, passes, what);
    } finally {
      c.restore();
    }
  }
  // A stream the inflater refuses before its end is refused, not cut short there.
  const { file, stream } = deflatedFile(set);
  const c = counting(stream.length - 5);
  try {
    await refuses(readDicomHeader(parser, file, 'bad.dcm', limits), /^bad\.dcm: not a readable DICOM file \(deflated dataset: Junk found/);
  } finally {
    c.restore();
  }
});
