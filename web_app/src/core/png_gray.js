// 8-bit gray PNGs (the usual ultrasound export, every HC18 image) read straight to gray: the
// browser's own inflate (DecompressionStream) and the PNG row filters undone here, without the
// RGBA round trip of a browser image decoder. A lossless format: the bytes are the ones
// cv2.imdecode(IMREAD_UNCHANGED) gives. Anything else (colour, palette, other depths, interlace,
// transparency, a bad checksum, short or trailing data) returns null: the caller's image
// decoder reads the file then, as before.

import { be32, inflateEach } from './png_zlib.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** The CRC-32 of b[start, end) (PNG's, zlib's), one table lookup a byte. */
export function crc32(b, start, end) {
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ b[i]) & 255] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

const typeOf = (b, i) => String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);

/** IHDR and the IDAT payloads of a plain 8-bit gray PNG (checksums verified), else null. */
export function grayPngChunks(b) {
  if (b.length < 8 || SIGNATURE.some((v, i) => b[i] !== v)) return null;
  let i = 8, ihdr = null, ended = false, idatState = 0; // 0 none yet, 1 in the run, 2 after it
  const idat = [];
  while (i + 12 <= b.length && !ended) {
    const len = be32(b, i), type = typeOf(b, i + 4), body = i + 8, next = body + len + 4;
    if (next > b.length || crc32(b, i + 4, body + len) !== be32(b, body + len)) return null;
    if (!ihdr && type !== 'IHDR') return null;
    if (type === 'IHDR') {
      if (ihdr || len !== 13) return null;
      ihdr = { width: be32(b, body), height: be32(b, body + 4), depth: b[body + 8], color: b[body + 9],
        compression: b[body + 10], filter: b[body + 11], interlace: b[body + 12] };
    } else if (type === 'IDAT') {
      if (idatState === 2) return null; // IDATs must be consecutive
      idatState = 1;
      idat.push(b.subarray(body, body + len));
    } else if (type === 'IEND') ended = true;
    else if (type === 'tRNS' || (type.charCodeAt(0) & 0x20) === 0) return null; // transparency, or a critical chunk (PLTE, ...)
    if (type !== 'IDAT' && idatState === 1) idatState = 2;
    i = next;
  }
  const plain = ihdr && ihdr.depth === 8 && ihdr.color === 0 && !ihdr.compression && !ihdr.filter && !ihdr.interlace;
  return plain && ended && i === b.length && idat.length && ihdr.width > 0 && ihdr.height > 0 ? { ...ihdr, idat } : null;
}

/** Undoes the per-row filters (None, Sub, Up, Average, Paeth) of 1 byte a pixel; null for a bad filter. */
export function unfilterGray(raw, width, height) {
  const gray = new Uint8Array(width * height);
  const zeros = new Uint8Array(width); // the row above the first
  for (let y = 0; y < height; y++) {
    const f = raw[y * (width + 1)], src = y * (width + 1) + 1, o = y * width;
    const row = gray.subarray(o, o + width), up = y > 0 ? gray.subarray(o - width, o) : zeros;
    const line = raw.subarray(src, src + width);
    if (f > 4) return null;
    if (f === 0) row.set(line);
    else if (f === 1) { let a = 0; for (let x = 0; x < width; x++) a = row[x] = (line[x] + a) & 255; }
    else if (f === 2) for (let x = 0; x < width; x++) row[x] = line[x] + up[x];
    else if (f === 3) { let a = 0; for (let x = 0; x < width; x++) a = row[x] = (line[x] + ((a + up[x]) >> 1)) & 255; }
    else {
      let a = 0, c = 0;
      for (let x = 0; x < width; x++) {
        const b = up[x], pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - c - c); // |p - a|, |p - b|, |p - c|
        a = row[x] = (line[x] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c)) & 255;
        c = b;
      }
    }
  }
  return gray;
}

/**
 * The zlib stream inflated by the browser into exactly `size` bytes; null when it holds more
 * (read no further: a small file may inflate to gigabytes) or less.
 */
async function inflate(parts, size) {
  const out = new Uint8Array(size);
  let n = 0, over = false;
  await inflateEach(parts, (value) => {
    if (n + value.length > size) { over = true; return false; }
    out.set(value, n);
    n += value.length;
    return true;
  });
  return !over && n === size ? out : null;
}

/** {gray, width, height, inflate_ms, unfilter_ms} of a plain 8-bit gray PNG's bytes, or null (another decoder's file). */
export async function decodeGrayPng(bytes) {
  if (typeof DecompressionStream !== 'function') return null;
  const png = grayPngChunks(bytes);
  if (!png) return null;
  let raw;
  const t0 = performance.now();
  try {
    raw = await inflate(png.idat, png.height * (png.width + 1));
  } catch {
    return null; // a damaged stream: the image decoder says so in words
  }
  if (!raw) return null;
  const t1 = performance.now();
  const gray = unfilterGray(raw, png.width, png.height);
  return gray && { gray, width: png.width, height: png.height, inflate_ms: t1 - t0, unfilter_ms: performance.now() - t1 };
}
