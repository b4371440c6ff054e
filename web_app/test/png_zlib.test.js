// png_zlib.js: the IDATs' zlib stream checked as libpng checks it (tests/web_app_ui_test.py
// compares the verdicts with predict's on PNG files in the browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { adler32, zlibDamage } from '../src/core/png_zlib.js';

const raw = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251);
const stream = new Uint8Array(deflateSync(raw));
const parts = (a) => [a.subarray(0, 1000), a.subarray(1000)]; // as two IDATs

test('adler32 is zlib\'s, over runs longer than its modulo step', () => {
  assert.equal(adler32(raw), new DataView(stream.buffer, stream.byteOffset + stream.length - 4).getUint32(0));
  assert.equal(adler32(new TextEncoder().encode('Wikipedia')), 0x11e60398);
  assert.equal(adler32(raw.subarray(1000), adler32(raw.subarray(0, 1000))), adler32(raw));
});

test('a wrong checksum or a broken stream is damage; bytes after a whole stream are not', async () => {
  const wrong = stream.slice(); wrong[wrong.length - 1] ^= 1;
  const inside = stream.slice(); inside[500] ^= 0xff;
  assert.equal(await zlibDamage(parts(stream), 1e7), null);
  assert.equal(await zlibDamage(parts(new Uint8Array([...stream, 1, 2, 3, 4])), 1e7), null);
  for (const bad of [wrong, inside, stream.subarray(0, stream.length - 100)]) {
    assert.match(await zlibDamage(parts(bad), 1e7), /fails its zlib check/);
  }
  assert.equal(await zlibDamage(parts(wrong), 1000), null); // past the bound: not judged, not read on
});
