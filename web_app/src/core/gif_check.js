// A GIF's first image checked whole before the browser decodes it, by the GIF89a specification:
// hc_tf/io/gif_check.py's rule and words. Chromium's decoder reads through LZW data OpenCV
// refuses (the app measured 6 of 40 damaged GIF copies predict refused), so both sides walk the
// blocks up to the first image and decode its LZW codes to a count of pixels (each code's
// string length, never the pixels): no code past the next free one, exactly width x height
// pixels before the end-of-information code or the data's end.

const IMAGE = 0x2c, EXTENSION = 0x21, TRAILER = 0x3b, MAX_BITS = 12;

class Damage extends Error {}

/** The sub-blocks' data from `at` joined, and where the terminator block ends. */
function subBlocks(b, at) {
  const parts = [];
  let total = 0;
  for (;;) {
    if (at >= b.length) throw new Damage('the file ends inside a block');
    const size = b[at];
    if (size === 0) break;
    if (at + 1 + size > b.length) throw new Damage('the file ends inside a block');
    parts.push(b.subarray(at + 1, at + 1 + size));
    total += size;
    at += 1 + size;
  }
  const data = new Uint8Array(total);
  let o = 0;
  for (const p of parts) { data.set(p, o); o += p.length; }
  return { data, end: at + 1 };
}

const colourTable = (flags) => (flags & 0x80 ? 3 << ((flags & 7) + 1) : 0);

/** {width, height, minSize, lzw} of the first image. */
function firstImage(b) {
  let at = 13 + colourTable(b[10]);
  while (at < b.length) {
    const block = b[at];
    if (block === EXTENSION) at = subBlocks(b, at + 2).end;
    else if (block === IMAGE) {
      if (at + 11 > b.length) break;
      const width = b[at + 5] | (b[at + 6] << 8), height = b[at + 7] | (b[at + 8] << 8);
      at += 10 + colourTable(b[at + 9]);
      if (at >= b.length) break;
      return { width, height, minSize: b[at], lzw: subBlocks(b, at + 1).data };
    } else if (block === TRAILER) throw new Damage('it has no image');
    else throw new Damage(`a block the GIF format does not have (0x${block.toString(16).padStart(2, '0')})`);
  }
  throw new Damage('the file ends before its first image');
}

/** The pixels the LZW data decodes to (stopping past `limit`), by each code's string length. */
function lzwPixels(lzw, minSize, limit) {
  if (minSize < 2 || minSize > 8) throw new Damage(`an LZW code size of ${minSize}`);
  const clear = 1 << minSize, end = clear + 1, lengths = new Int32Array(1 << MAX_BITS);
  lengths.fill(1, 0, clear);
  let next = end + 1, size = minSize + 1, prev = -1, pixels = 0, bits = 0, nbits = 0, at = 0;
  while (pixels <= limit) {
    while (nbits < size) {
      if (at >= lzw.length) return pixels; // the data ends: as many pixels as it gave
      bits |= lzw[at++] << nbits;
      nbits += 8;
    }
    const code = bits & ((1 << size) - 1);
    bits >>>= size;
    nbits -= size;
    if (code === clear) { next = end + 1; size = minSize + 1; prev = -1; continue; }
    if (code === end) return pixels;
    if (code > next || (code === next && prev < 0)) throw new Damage('an LZW code its table does not hold yet');
    if (prev >= 0 && next < 1 << MAX_BITS) lengths[next++] = lengths[prev] + 1; // prev's string and one pixel
    pixels += lengths[code];
    prev = code;
    if (next === 1 << size && size < MAX_BITS) size += 1;
  }
  return pixels;
}

/** Why a GIF's first image cannot be read whole, in predict's words, else null (not a GIF too). */
export function gifDamage(b) {
  const magic = String.fromCharCode(...b.subarray(0, 6));
  if ((magic !== 'GIF87a' && magic !== 'GIF89a') || b.length < 13) return null;
  let image, pixels;
  try {
    image = firstImage(b);
    pixels = lzwPixels(image.lzw, image.minSize, image.width * image.height);
  } catch (err) {
    if (err instanceof Damage) return `the GIF data is corrupt: ${err.message}`;
    throw err;
  }
  const want = image.width * image.height;
  return pixels === want ? null : `the GIF data is corrupt: its LZW data gives ${pixels > want ? 'more' : 'fewer'} pixels than its ${image.width} x ${image.height}`;
}

/** Where the sub-blocks from `at` end (past their terminator), not joining them; -1 cut short. */
function pastSubBlocks(b, at) {
  while (at < b.length && b[at]) at += 1 + b[at];
  return at >= b.length ? -1 : at + 1;
}

/**
 * gif_check.frame_count: the images (frames) of a GIF, its blocks walked from the start to the
 * trailer (a block cut short or one no GIF holds ends the count); 0 for another format.
 */
export function gifFrameCount(b) {
  const magic = String.fromCharCode(...b.subarray(0, 6));
  if ((magic !== 'GIF87a' && magic !== 'GIF89a') || b.length < 13) return 0;
  let count = 0, at = 13 + colourTable(b[10]);
  while (at >= 0 && at < b.length) {
    if (b[at] === EXTENSION) at = pastSubBlocks(b, at + 2);
    else if (b[at] === IMAGE && at + 11 <= b.length) {
      count += 1;
      at = pastSubBlocks(b, at + 11 + colourTable(b[at + 9])); // past the LZW code size's byte
    } else break; // the trailer, or what no GIF holds
  }
  return count;
}
