// PALETTE COLOR -> RGB: a port of hc_tf/io/dicom_palette.py (pydicom's apply_color_lut, plain
// or segmented tables, PS3.3 C.7.6.3.1.5 and C.7.9), byte for byte its pixels, the same
// refusals: a segmented table that would expand past 65,536 entries is refused as it grows.

import { DicomFileError, EXPLICIT_BIG_ENDIAN } from './file.js';

// A palette's (tags of) descriptor, plain data and segmented data, red, green, blue. pydicom
// reads every colour by the red descriptor, the plain tables when they are there.
const PALETTE_TAGS = [['x00281101', 'x00281201', 'x00281221'], ['x00281102', 'x00281202', 'x00281222'],
  ['x00281103', 'x00281203', 'x00281223']];
// dicom_palette.MAX_PALETTE_ENTRIES and MAX_INDIRECT_DEPTH: a segmented palette expanding past
// the one or nesting past the other is refused, in the Python's words.
const MAX_PALETTE_ENTRIES = 65536, MAX_INDIRECT_DEPTH = 4;

/**
 * PALETTE COLOR -> RGB bytes, as pydicom's apply_color_lut and dicom_palette.palette_rgb: plain
 * or segmented tables (PS3.3 C.7.9), 8- or 16-bit entries, a 16-bit entry keeping its high byte.
 */
export function paletteRgb(ds, h, index, n) {
  const [desc] = PALETTE_TAGS[0];
  if (!ds.elements[desc]) throw new DicomFileError(`${h.name}: PALETTE COLOR without its lookup table descriptor (0028,1101)`);
  const entries = ds.uint16(desc, 0) || 65536, first = ds.uint16(desc, 1), bits = ds.uint16(desc, 2);
  const plain = Boolean(ds.elements[PALETTE_TAGS[0][1]]);
  const luts = PALETTE_TAGS.map(([, plainTag, segmentedTag], c) => (plain ? plainLut(ds, h, plainTag, entries) : segmentedLut(ds, h, segmentedTag, bits, c)));
  if (luts.some((lut) => lut.length !== luts[0].length)) throw new DicomFileError(`${h.name}: pixel data cannot be decoded (LUT data must be the same length)`);
  const out = new Uint8Array(n * 3);
  luts.forEach((lut, c) => {
    for (let i = 0; i < n; i++) {
      const k = Math.min(Math.max(index[i], first), first + entries - 1) - first;
      if (k >= lut.length) throw new DicomFileError(`${h.name}: pixel data cannot be decoded (index ${k} is out of bounds for its palette of ${lut.length} entries)`);
      out[i * 3 + c] = bits === 16 ? lut[k] >> 8 : lut[k] & 0xff;
    }
  });
  return out;
}

/** A plain palette table: its entries 8- or 16-bit by its length (pydicom's actual depth). */
function plainLut(ds, h, tag, entries) {
  const el = ds.elements[tag];
  if (!el) throw new DicomFileError(`${h.name}: PALETTE COLOR without its lookup table data (${tag.slice(1, 5)},${tag.slice(5)})`);
  const depth = (el.length / entries) * 8;
  if (depth !== 8 && depth !== 16) throw new DicomFileError(`${h.name}: pixel data cannot be decoded (the bit depth of the LUT data '${depth.toFixed(1)}' is invalid (only 8 or 16 bits per entry allowed))`);
  return Array.from({ length: entries }, (_, k) => (depth === 16 ? ds.uint16(tag, k) : ds.byteArray[el.dataOffset + k]));
}

/**
 * A segmented palette table expanded (pydicom's _expand_segmented_lut: discrete, linear and
 * indirect segments of 8- or 16-bit words by the descriptor's bits), refused as
 * dicom_palette.check_palette refuses it before anything is expanded.
 */
function segmentedLut(ds, h, tag, bits, c) {
  const el = ds.elements[tag];
  const colour = ['red', 'green', 'blue'][c];
  if (!el) throw new DicomFileError(`${h.name}: PALETTE COLOR without a ${colour} lookup table (plain or segmented)`);
  const eightBit = Math.floor(bits / 8) === 1, little = h.transferSyntax !== EXPLICIT_BIG_ENDIAN;
  const words = eightBit ? Array.from(ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length))
    : Array.from({ length: el.length >> 1 }, (_, k) => ds.uint16(tag, k));
  try {
    return expandSegments(words, eightBit, little);
  } catch (err) {
    if (err instanceof RangeError) throw new DicomFileError(`${h.name}: the segmented ${colour} palette (0028,122x) ${err.message}; refused before decoding`);
    throw new DicomFileError(`${h.name}: pixel data cannot be decoded (${err.message} in the segmented ${colour} palette)`);
  }
}

/** `words` expanded, the first `segments` of them for an indirect segment (RangeError past the limits, Error where pydicom refuses). */
function expandSegments(words, eightBit, little, segments = null, last = null, depth = 0) {
  const lut = [];
  let offset = 0, done = 0;
  const word = (i) => (i < words.length ? words[i] : 0);
  while (offset + 1 < words.length) {
    const opcode = words[offset], length = words[offset + 1];
    offset += 2;
    if (opcode === 0) { // discrete
      for (const v of words.slice(offset, offset + length)) lut.push(v);
      offset += length;
    } else if (opcode === 1) { // linear, from the last value to the one that follows
      const y0 = lut.length ? lut[lut.length - 1] : last;
      if (!lut.length && !last) throw new Error('the first segment cannot be a linear segment');
      if (offset >= words.length) throw new Error('a linear segment without its end value');
      const y1 = words[offset];
      offset += 1;
      if (lut.length + length > MAX_PALETTE_ENTRIES) throw new RangeError(`expands past ${MAX_PALETTE_ENTRIES.toLocaleString('en-US')} entries`);
      for (let i = 0; i < length; i++) lut.push(y0 === y1 ? y1 : linearValue(y0, y1, length, i));
    } else if (opcode === 2) { // indirect: `length` segments from a word offset
      if (depth === MAX_INDIRECT_DEPTH) throw new RangeError(`nests indirect segments deeper than ${MAX_INDIRECT_DEPTH}`);
      if (!lut.length) throw new Error('the first segment cannot be an indirect segment');
      let start;
      if (eightBit) {
        const b = (little ? [3, 2, 1, 0] : [2, 3, 0, 1]).map((i) => word(offset + i));
        start = ((b[0] << 8 | b[1]) * 65536) + (b[2] << 8 | b[3]);
      } else start = word(offset + 1) * 65536 + word(offset);
      offset += eightBit ? 4 : 2;
      for (const v of expandSegments(words.slice(start), eightBit, little, length, lut[lut.length - 1], depth + 1)) lut.push(v);
    } else {
      throw new Error(`unknown segment type '${opcode}'`);
    }
    if (lut.length > MAX_PALETTE_ENTRIES) throw new RangeError(`expands past ${MAX_PALETTE_ENTRIES.toLocaleString('en-US')} entries`);
    done += 1;
    if (done === segments) break;
  }
  return lut;
}

/**
 * Entry i of a linear segment from y0 to y1 over `length` entries: numpy's
 * around(linspace(y0 + step, y1, length)), step = (y1 - y0) / length, rounded half to even.
 */
function linearValue(y0, y1, length, i) {
  const start = y0 + (y1 - y0) / length;
  if (i === length - 1) return y1;
  const v = i * ((y1 - start) / (length - 1)) + start;
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
