// The 8-bit gray PNG reader: Python's gray on the bundled samples, every row filter, and null
// (another decoder reads the file) for every file it must not read itself.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import path from 'node:path';
import { decodeGrayPng } from '../src/core/png_gray.js';
import { BUNDLE, loadJson, pngChunk as chunk, sha256 } from './helpers.js';


const paeth = (a, b, c) => { const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c); return pa <= pb && pa <= pc ? a : pb <= pc ? b : c; };

/** Rows filtered with filter y % 5 (all five kinds), as a PNG encoder may mix them. */
function filtered(gray, w, h) {
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; y++) {
    const f = y % 5;
    raw[y * (w + 1)] = f;
    for (let x = 0; x < w; x++) {
      const v = gray[y * w + x], a = x ? gray[y * w + x - 1] : 0, b = y ? gray[(y - 1) * w + x] : 0;
      const c = x && y ? gray[(y - 1) * w + x - 1] : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f];
      raw[y * (w + 1) + 1 + x] = (v - pred) & 255;
    }
  }
  return raw;
}

/** A PNG from parts: IHDR fields, the zlib stream split into `parts` IDATs, chunks before/between. */
function png({ w, h, gray, depth = 8, color = 0, interlace = 0, parts = 3, before = [], between = null, tail = Buffer.alloc(0), zlib = null }) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  Object.assign(ihdr, { 8: depth, 9: color, 10: 0, 11: 0, 12: interlace });
  const z = zlib ?? deflateSync(filtered(gray, w, h));
  const cut = Math.ceil(z.length / parts);
  const idats = [];
  for (let k = 0; k < parts; k++) {
    idats.push(chunk('IDAT', z.subarray(k * cut, (k + 1) * cut)));
    if (between && k === 0) idats.push(between);
  }
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    ...before, ...idats, chunk('IEND', Buffer.alloc(0)), tail]));
}

function randomGray(w, h, seed) {
  const g = new Uint8Array(w * h);
  let s = seed;
  for (let i = 0; i < g.length; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; g[i] = (s >>> 16) & 255; }
  return g;
}

test('bundled samples: the gray Python reads (postprocess_golden gray_sha256)', async () => {
  for (const c of loadJson('postprocess_golden.json').samples) {
    const r = await decodeGrayPng(new Uint8Array(readFileSync(path.join(BUNDLE, 'samples', c.name))));
    assert.ok(r, c.name);
    assert.equal(sha256(r.gray), c.gray_sha256, c.name);
  }
});

test('every row filter, the stream split over IDATs, ancillary chunks ignored', async () => {
  for (const [w, h] of [[1, 1], [7, 11], [64, 33]]) {
    const gray = randomGray(w, h, w * h);
    const gama = chunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]));
    const r = await decodeGrayPng(png({ w, h, gray, before: [gama] }));
    assert.deepEqual({ gray: r.gray, width: r.width, height: r.height }, { gray, width: w, height: h });
  }
});

test('files it must leave to the image decoder give null', async () => {
  const w = 9, h = 6, gray = randomGray(w, h, 3);
  const good = png({ w, h, gray });
  assert.ok(await decodeGrayPng(good));
  const badCrc = good.slice(); // the first IDAT's checksum wrong, its data intact (libpng refuses it)
  const at = Buffer.from(good).indexOf('IDAT') - 4;
  badCrc[at + 8 + Buffer.from(good).readUInt32BE(at)] ^= 1;
  const truncated = png({ w, h, gray, zlib: deflateSync(filtered(gray, w, h)).subarray(0, 20) });
  const badFilter = filtered(gray, w, h); badFilter[w + 1] = 5;
  const cases = {
    'not a PNG': new Uint8Array([1, 2, 3]),
    RGB: png({ w, h, gray, color: 2 }), '16-bit': png({ w, h, gray, depth: 16 }), '4-bit': png({ w, h, gray, depth: 4 }),
    interlaced: png({ w, h, gray, interlace: 1 }),
    tRNS: png({ w, h, gray, before: [chunk('tRNS', Buffer.from([0, 0]))] }),
    PLTE: png({ w, h, gray, before: [chunk('PLTE', Buffer.from([0, 0, 0]))] }),
    'bad CRC': badCrc, 'bytes after IEND': png({ w, h, gray, tail: Buffer.from([0]) }),
    'truncated stream': truncated, 'filter 5': png({ w, h, gray, zlib: deflateSync(badFilter) }),
    'too much data': png({ w, h, gray, zlib: deflateSync(Buffer.concat([filtered(gray, w, h), Buffer.alloc(3)])) }),
    'IDATs split by a chunk': png({ w, h, gray, between: chunk('tEXt', Buffer.from('a\0b')) }),
  };
  for (const [name, bytes] of Object.entries(cases)) assert.equal(await decodeGrayPng(bytes), null, name);
});

test('a stream that inflates past the image is not read to its end', async () => {
  const Real = globalThis.DecompressionStream;
  let pulled = 0; // bytes the reader took out of the inflater
  globalThis.DecompressionStream = class {
    constructor(format) {
      const real = new Real(format);
      this.writable = real.writable;
      this.readable = real.readable.pipeThrough(new TransformStream({ transform(c, ctl) { pulled += c.length; ctl.enqueue(c); } }));
    }
  };
  try {
    const w = 4, h = 4; // 20 bytes of rows, in a stream of 64 MiB of zeros
    const bomb = png({ w, h, gray: new Uint8Array(w * h), zlib: deflateSync(Buffer.alloc(64 * 1024 * 1024)) });
    assert.equal(await decodeGrayPng(bomb), null);
    assert.ok(pulled < 1024 * 1024, `inflated ${pulled} bytes for a 4x4 image`);
  } finally {
    globalThis.DecompressionStream = Real;
  }
});
