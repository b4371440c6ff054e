// A compressed DICOM frame's own size, read from its codestream and checked before decoding: a
// port of hc_tf/io/dicom_codestream.py (the definition), same walks and the same refusal words.
// Decoders allocate what the codestream declares, whatever the header says.

import { UserError } from '../imagefile.js';
import { markerSegments, tooManyScans } from '../jpeg_check.js';

// JPEG (ISO 10918-1 B.1.1.3) and JPEG-LS (ISO 14495-1) frame headers: SOF0-SOF15 (not DHT C4,
// JPG C8, DAC CC), DHP and JPEG-LS SOF55; DNL and LSE (the walk: ../jpeg_check.js markerSegments).
const FRAME_HEADERS = new Set([...Array.from({ length: 16 }, (_, i) => 0xc0 + i).filter((m) => ![0xc4, 0xc8, 0xcc].includes(m)), 0xde, 0xf7]);
const DNL = 0xdc, LSE = 0xf8, LSE_OVERSIZE = 4;

const be16 = (b, i) => (b[i] << 8) | b[i + 1];
const be32 = (b, i) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);

/**
 * dicom_codestream._jpeg_frame_sizes: [{rows, columns, components, precision, marker}] of each
 * frame header of a JPEG or JPEG-LS codestream, walked without decoding; null when it does not
 * start with SOI, has none, a marker is not where one must be, or a DNL or an LSE oversize
 * segment could set a size the frame header does not say.
 */
export function jpegFrameSizes(b) {
  if (!(b.length >= 2 && b[0] === 0xff && b[1] === 0xd8)) return null;
  const sizes = [];
  for (const [marker, pos] of markerSegments(b)) {
    if (marker === null) return null;
    if (marker === DNL || (marker === LSE && b[pos + 4] === LSE_OVERSIZE)) return null;
    if (FRAME_HEADERS.has(marker)) {
      if (pos + 10 > b.length) return null;
      sizes.push({ rows: be16(b, pos + 5), columns: be16(b, pos + 7), components: b[pos + 9], precision: b[pos + 4], marker });
    }
  }
  return sizes.length ? sizes : null;
}

/**
 * dicom_codestream._j2k_size: {rows, columns, components} from a JPEG 2000 codestream's SIZ
 * marker (SOC, then SIZ), inside a JP2 file's jp2c box when wrapped; null when absent.
 */
export function j2kSize(b) {
  let start = 0;
  const jp2 = [0, 0, 0, 0x0c, 0x6a, 0x50, 0x20, 0x20];
  if (jp2.every((v, i) => b[i] === v)) { // JP2 signature box: walk to jp2c
    start = 12;
    while (start + 8 <= b.length && String.fromCharCode(...b.subarray(start + 4, start + 8)) !== 'jp2c') {
      let length = be32(b, start);
      if (length === 1 && start + 16 <= b.length) length = be32(b, start + 8) * 2 ** 32 + be32(b, start + 12); // XLBox
      if (length < 8) return null;
      start += length;
    }
    start += 8;
  }
  if (start + 42 > b.length || !(b[start] === 0xff && b[start + 1] === 0x4f && b[start + 2] === 0xff && b[start + 3] === 0x51)) return null;
  const at = (k) => be32(b, start + k);
  return { rows: at(12) - at(20), columns: at(8) - at(16), components: be16(b, start + 40) };
}

/**
 * dicom_codestream.check_codestream for a JPEG-family (`kind` 'jpeg': JPEG and JPEG-LS) or
 * 'j2k' frame of header `h`: throws a UserError naming the file when the codestream's size is
 * unreadable or not Rows x Columns x SamplesPerPixel, or (JPEG) of more scans than the header's
 * maxJpegScans or deeper than BitsStored.
 * Returns the JPEG frame headers (null for J2K).
 */
export function checkCodestream(h, data, kind) {
  const jpeg = kind === 'jpeg';
  const sizes = jpeg ? jpegFrameSizes(data) : [j2kSize(data)];
  if (!sizes || sizes.includes(null)) {
    throw new UserError(`${h.name}: the ${jpeg ? 'JPEG' : 'JPEG 2000'} codestream has no readable frame size (or sets it where it cannot be checked)`);
  }
  for (const { rows, columns, components } of sizes) {
    if (rows !== h.rows || columns !== h.columns || components !== h.samples) {
      throw new UserError(`${h.name}: the codestream is ${rows} x ${columns} x ${components} (rows x columns x components) but Rows x Columns x SamplesPerPixel (0028,0010/0011/0002) say ${h.rows} x ${h.columns} x ${h.samples}; refused before decoding`);
    }
  }
  if (!jpeg) return null;
  const scans = tooManyScans(data, h.maxJpegScans);
  if (scans) throw new UserError(`${h.name}: ${scans}`);
  const deepest = Math.max(...sizes.map((s) => s.precision));
  if (deepest > h.bitsStored) {
    throw new UserError(`${h.name}: the codestream's samples are ${deepest}-bit but BitsStored (0028,0101) says ${h.bitsStored}; refused before decoding`);
  }
  return sizes;
}
