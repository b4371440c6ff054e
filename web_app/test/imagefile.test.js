// Image files are bounded before decoding: header sizes, the metadata's limits, messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { headerSize, checkSize, checkFile, pngChunkDamage, UserError } from '../src/core/imagefile.js';
import { crc32 } from '../src/core/png_gray.js';
import { BUNDLE, loadJson, pngChunk } from './helpers.js';

const limits = loadJson('hc_effunet_int8.json').input_limits;

test('headerSize reads PNG, GIF, BMP and WebP sizes without decoding', () => {
  const png = new Uint8Array(readFileSync(path.join(BUNDLE, 'samples', '000_HC.png')).subarray(0, 64));
  assert.deepEqual(headerSize(png), { format: 'PNG', width: 800, height: 540, bitDepth: 8 });
  const gif = new Uint8Array([71, 73, 70, 56, 57, 97, 0x20, 0x03, 0x1c, 0x02]);
  assert.deepEqual(headerSize(gif), { format: 'GIF', width: 800, height: 540 });
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0, 0xff, 0xc0, 0, 11, 8, 0x02, 0x1c, 0x03, 0x20, 1, 0, 0, 0]);
  assert.deepEqual(headerSize(jpeg), { format: 'JPEG', width: 800, height: 540 });
  assert.equal(headerSize(new Uint8Array([1, 2, 3, 4])), null);
});

test('checkSize refuses what hc_tf refuses, naming the file', () => {
  assert.equal(limits.max_input_pixels, 25_000_000);
  checkSize('ok.png', 5000, 5000, limits);
  assert.throws(() => checkSize('big.png', 6000, 4200, limits), (e) => e instanceof UserError && /big.png: image too large/.test(e.message));
  assert.throws(() => checkSize('dot.png', 1, 1, limits), /dot.png: image too small \(1 x 1 pixels; at least 2 x 2\)/);
});

test('a JPEG whose SOF lies past a big EXIF or ICC segment is sized from its markers; an unsized file is refused unread', async () => {
  const seg = (marker, n) => { const b = new Uint8Array(4 + n); b.set([0xff, marker, (n + 2) >> 8, (n + 2) & 255]); return b; };
  const sof = new Uint8Array([0xff, 0xc0, 0, 11, 8, 0xea, 0x60, 0xea, 0x60, 1, 0, 0, 0]); // 60000 x 60000
  const parts = [new Uint8Array([0xff, 0xd8]), seg(0xe1, 65000), seg(0xe2, 65000), sof, new Uint8Array([0xff, 0xd9])];
  const jpeg = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((o, p) => { jpeg.set(p, o); return o + p.length; }, 0);
  assert.deepEqual(headerSize(jpeg), { format: 'JPEG', width: 60000, height: 60000 });
  await assert.rejects(checkFile(new Blob([jpeg]), 'camera.jpg', limits), (e) => e instanceof UserError && /^camera\.jpg: image too large \(60000 x 60000/.test(e.message));
  await assert.rejects(checkFile(new Blob([new Uint8Array(64)]), 'mystery.avif', limits),
    (e) => e instanceof UserError && /^mystery\.avif: not a readable image file \(its size could not be read from its header/.test(e.message));
});

test('an empty file and a 16-bit PNG are refused in predict\'s words (predict_inputs_test.py)', async () => {
  await assert.rejects(checkFile(new Blob([]), 'empty.png', limits), (e) => e instanceof UserError && e.message === 'empty.png: empty file');
  const png = new Uint8Array(readFileSync(path.join(BUNDLE, 'samples', '000_HC.png')));
  png[24] = 16; // IHDR's bit depth, its CRC made right again
  const crc = crc32(png, 12, 29);
  png.set([crc >>> 24, (crc >>> 16) & 255, (crc >>> 8) & 255, crc & 255], 29);
  await assert.rejects(checkFile(new Blob([png]), 'deep.png', limits), (e) => e instanceof UserError
    && e.message === 'deep.png: a 16-bit image; hc-tf measures 8-bit images (save it as 8-bit)');
});

test('a PNG cut inside its header is refused in predict\'s words (png_chunks_test.py: the IEND rule)', async () => {
  const good = new Uint8Array(readFileSync(path.join(BUNDLE, 'samples', '000_HC.png')));
  for (const cut of [10, 20, 30]) {
    await assert.rejects(checkFile(new Blob([good.subarray(0, cut)]), 'x.png', limits), (e) => e instanceof UserError
      && e.message === 'x.png: not a readable image file (damaged: the file ends before its IEND chunk (cut short?))');
  }
});

test('a PNG with a wrong chunk checksum where predict checks one is refused, naming the file and the chunk', async () => {
  // predict reads the header with Pillow (which checks the CRC of every chunk before the first
  // IDAT, ancillary ones too) and the pixels with libpng (an IDAT's bad CRC is an error; an
  // ancillary chunk's or IEND's after the image data, a warning): the same chunks are checked here.
  const good = readFileSync(path.join(BUNDLE, 'samples', '000_HC.png'));
  const chunks = []; // [type, offset of its length field, its length]
  for (let i = 8; i < good.length; i += 12 + good.readUInt32BE(i)) chunks.push([good.toString('ascii', i + 4, i + 8), i, good.readUInt32BE(i)]);
  const insert = (before, c) => { const at = chunks.find(([t]) => t === before)[1]; return Buffer.concat([good.subarray(0, at), c, good.subarray(at)]); };
  const crcFlipped = (b, at, len) => { const out = new Uint8Array(b); out[at + 8 + len + 3] ^= 1; return out; };
  const chunkAt = (type, k = 0) => chunks.filter(([t]) => t === type).at(k);
  const text = pngChunk('tEXt', Buffer.from('Comment\0hello'));
  const badText = crcFlipped(text, 0, text.length - 12);
  const idats = chunks.filter(([t]) => t === 'IDAT').length;
  assert.ok(idats >= 2, 'the sample has several IDATs');
  const refused = {
    'ihdr.png': [crcFlipped(good, ...chunkAt('IHDR').slice(1)), 'IHDR'],
    'idat.png': [crcFlipped(good, ...chunkAt('IDAT').slice(1)), 'IDAT'],
    'last_idat.png': [crcFlipped(good, ...chunkAt('IDAT', -1).slice(1)), 'IDAT'],
    'text_before.png': [new Uint8Array(insert('IDAT', badText)), 'tEXt'],
  };
  for (const [name, [bytes, type]] of Object.entries(refused)) {
    await assert.rejects(checkFile(new Blob([bytes]), name, limits), (e) => e instanceof UserError
      && e.message === `${name}: not a readable image file (damaged: its ${type} chunk fails its CRC-32 check)`, name);
  }
  // Checked by neither predict nor here: a bad CRC after the image data (libpng warns and measures).
  for (const bytes of [good, insert('IEND', badText), crcFlipped(good, ...chunkAt('IEND').slice(1)), insert('IDAT', text)]) {
    assert.equal((await checkFile(new Blob([bytes]), 'ok.png', limits)).format, 'PNG');
  }
});

test('pngChunkDamage: a CRC libpng refuses, or no whole IEND chunk, in hc_tf/io/png_chunks.py\'s words', () => {
  const png = new Uint8Array(readFileSync(path.join(BUNDLE, 'samples', '000_HC.png')));
  assert.equal(pngChunkDamage(png), null);
  const flipped = (at) => { const b = png.slice(); b[at] ^= 1; return b; };
  assert.equal(pngChunkDamage(flipped(29)), 'its IHDR chunk fails its CRC-32 check'); // IHDR's CRC: bytes 29-32
  assert.equal(pngChunkDamage(flipped(png.length - 1)), null); // IEND's CRC: a libpng warning
  for (const cut of [1, 4, 12]) assert.equal(pngChunkDamage(png.subarray(0, png.length - cut)), 'the file ends before its IEND chunk (cut short?)');
});
