// Image files are bounded before decoding: header sizes, the metadata's limits, messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { headerSize, checkSize, checkFile, UserError } from '../src/core/imagefile.js';
import { BUNDLE, loadJson } from './helpers.js';

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
