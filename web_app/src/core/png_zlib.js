// A PNG's image data (its IDAT chunks' zlib stream) checked as libpng, which hc-tf predict
// decodes PNGs with, checks it: a stream that breaks off or ends with a wrong Adler-32 checksum
// makes libpng refuse the file ("IDAT: incorrect data check"), while Chromium's decoder skips the
// checksum and shows whatever it could inflate (fuzzed copies with right chunk CRCs were measured
// here and refused by predict). Bytes after a stream whose checksum is right are only a libpng
// warning ("extra compressed data"), and predict measures such a file: so is it here.

/** A big-endian unsigned 32-bit integer at b[i] (PNG chunk lengths and CRCs). */
export const be32 = (b, i) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];

const ADLER_MOD = 65521;
const ADLER_RUN = 5552; // bytes summed before s2 can pass 2^53 (zlib's NMAX)

/** zlib's Adler-32 of `bytes`, continuing from `adler` (1 for a new stream). */
export function adler32(bytes, adler = 1) {
  let s1 = adler & 0xffff, s2 = adler >>> 16;
  for (let i = 0; i < bytes.length;) {
    const end = Math.min(bytes.length, i + ADLER_RUN);
    for (; i < end; i++) { s1 += bytes[i]; s2 += s1; }
    s1 %= ADLER_MOD; s2 %= ADLER_MOD;
  }
  return ((s2 << 16) | s1) >>> 0;
}


/** The IDAT chunks' data of a PNG, in order (a chunk cut short ends the walk). */
export function idatParts(b) {
  const parts = [];
  for (let i = 8; i + 12 <= b.length;) {
    const len = be32(b, i), end = i + 8 + len;
    if (end + 4 > b.length) break;
    if (b[i + 4] === 0x49 && b[i + 5] === 0x44 && b[i + 6] === 0x41 && b[i + 7] === 0x54) parts.push(b.subarray(i + 8, end));
    i = end + 4;
  }
  return parts;
}

/** Whether the 4 bytes of `value` (big-endian) stand in `parts` after the zlib header. */
function holds(parts, value) {
  const want = [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255];
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => { all.set(p, at); return at + p.length; }, 0);
  for (let i = 2; i + 4 <= all.length; i++) {
    if (all[i] === want[0] && all[i + 1] === want[1] && all[i + 2] === want[2] && all[i + 3] === want[3]) return true;
  }
  return false;
}

/**
 * The zlib stream of `parts` inflated by the browser (DecompressionStream), each piece of output
 * handed to `each` as it comes; `each` returning false stops the inflate there (read no further:
 * a small file may inflate to gigabytes). Rejects when the stream ends in error.
 */
export async function inflateEach(parts, each) {
  const ds = new DecompressionStream('deflate');
  const writer = ds.writable.getWriter();
  const written = Promise.all(parts.map((p) => writer.write(p))).then(() => writer.close());
  written.catch(() => {}); // a damaged stream rejects the reads below too
  const reader = ds.readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (!each(value)) { reader.cancel().catch(() => {}); return; }
  }
  await written;
}

/**
 * Null when the IDATs' zlib stream inflates whole with its Adler-32 right (bytes after it
 * allowed), else why not, in words. The browser's inflate (DecompressionStream) streams the
 * output through the checksum and keeps none of it; past `maxBytes` of output it stops and says
 * nothing (libpng only warns of too much image data). Without DecompressionStream: null.
 */
export async function zlibDamage(parts, maxBytes) {
  if (typeof DecompressionStream !== 'function' || !parts.length) return null;
  let adler = 1, n = 0;
  try {
    await inflateEach(parts, (value) => {
      n += value.length;
      if (n > maxBytes) return false;
      adler = adler32(value, adler);
      return true;
    });
    return null;
  } catch {
    // The stream ended in error: a wrong checksum, data that is not deflate, or bytes after a
    // whole stream. Only the last is fine, and then the right checksum stands in the data.
    return holds(parts, adler) ? null : 'its image data fails its zlib check (the stream breaks off or its Adler-32 is wrong)';
  }
}
