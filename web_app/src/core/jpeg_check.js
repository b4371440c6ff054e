// A JPEG file checked whole by libjpeg-turbo before the browser decodes its pixels: the rule of
// predict's hc_tf/io/jpeg_check.py (simplejpeg, strict), so both refuse the same damaged files.
// libjpeg-turbo only warns of a premature end, a bogus marker length or stray bytes before a
// marker: OpenCV then decodes what it could, Chromium's decoder refuses some such files and
// decodes others. The checker is the worker's DICOM decoder (cornerstone's libjpeg-turbo wasm build, which
// stops on libjpeg's warnings as simplejpeg's strict mode does: tests/web_app_ui_test.py
// compares both on fuzzed copies); its pixels are dropped, the browser's are measured.
export const JPEG_DAMAGE = 'the JPEG data is corrupt';
// jpeg_check.UNREAD_END
export const UNREAD_END = 'its coded data decodes in full before the data ends (bytes before EOI left unread)';

const SOI = 0xd8, EOI = 0xd9, SOS = 0xda;
// RSTn and TEM: markers without a length (jpeg_check.NO_LENGTH).
const NO_LENGTH = new Set([0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0x01]);

/** The next marker after entropy-coded data: 0xFF then C0-CF or D8-FE (jpeg_check._MARKER_AFTER_SCAN). */
function markerAfterScan(b, from) {
  for (let i = from; i + 1 < b.length; i++) {
    if (b[i] === 0xff && ((b[i + 1] >= 0xc0 && b[i + 1] <= 0xcf) || (b[i + 1] >= 0xd8 && b[i + 1] <= 0xfe))) return i;
  }
  return b.length;
}

/**
 * jpeg_check.marker_segments: [marker, where its segment starts] of each marker segment of a
 * JPEG or JPEG-LS codestream after its SOI, walked by their lengths without decoding, up to and
 * with EOI; past an SOS the walk goes on at the marker after the entropy-coded data. Fill
 * bytes, RSTn and TEM are passed over; [null, where] ends the walk where something other than a
 * marker stands where one must be.
 */
export function* markerSegments(b) {
  let pos = 2;
  while (pos + 4 <= b.length) {
    if (b[pos] !== 0xff) { yield [null, pos]; return; }
    const marker = b[pos + 1];
    if (marker === 0xff || NO_LENGTH.has(marker)) { pos += marker === 0xff ? 1 : 2; continue; }
    yield [marker, pos];
    if (marker === EOI) return;
    pos += 2 + ((b[pos + 2] << 8) | b[pos + 3]);
    if (marker === SOS) pos = markerAfterScan(b, pos);
  }
}

/**
 * jpeg_check.too_many_scans: why a JPEG or JPEG-LS codestream of more than `limit` scans (the
 * metadata's input_limits.max_jpeg_scans: each scan is a pass over the image) is refused before
 * decoding, in predict's words; null within it or for what is not a JPEG codestream.
 */
export function tooManyScans(b, limit) {
  if (!Number.isInteger(limit)) throw new Error('the model metadata has no input_limits.max_jpeg_scans (rebuild the bundle)');
  if (!(b.length >= 2 && b[0] === 0xff && b[1] === SOI)) return null;
  let scans = 0;
  for (const [marker] of markerSegments(b)) if (marker === SOS) scans++;
  return scans <= limit ? null : `${scans} JPEG scans, over the ${limit}-scan input limit (each scan is a pass over the image); refused before decoding`;
}

/**
 * The refusal for `bytes` (a JPEG) by `codec` (the libjpeg-turbo wasm module), or null when it
 * decodes without a warning and is read to its end (`unreadEnd`). The wasm build throws a C++
 * exception (a number: a pointer into its heap) that carries no libjpeg message, so the reason
 * is the generic JPEG_DAMAGE; anything else thrown (its memory exhausted) is no verdict on the
 * file and is thrown on.
 */
export function jpegDamage(codec, bytes) {
  return decodes(codec, bytes) ? unreadEnd(codec, bytes) : JPEG_DAMAGE;
}

/**
 * jpeg_check.unread_end: `bytes` (which decode) decoded again without the last byte of their
 * last scan's coded data; a whole file then needs more than is there and the decoder refuses
 * it, a damaged one whose decoding ended early decodes as well as before. The words, or null.
 */
export function unreadEnd(codec, bytes) {
  const shorter = withoutLastCodedByte(bytes);
  return shorter && decodes(codec, shorter) ? `${JPEG_DAMAGE}: ${UNREAD_END}` : null;
}

function decodes(codec, bytes) {
  let dec;
  try {
    dec = new codec.JPEGDecoder();
    dec.getEncodedBuffer(bytes.length).set(bytes);
    dec.decode();
    return true;
  } catch (err) {
    if (typeof err === 'number') return false;
    throw err;
  } finally {
    dec?.delete();
  }
}

/** jpeg_check._without_last_coded_byte: null without an EOI after a scan's header. */
function withoutLastCodedByte(bytes) {
  const lastMarker = (second, before) => {
    for (let i = before - 2; i >= 0; i--) if (bytes[i] === 0xff && bytes[i + 1] === second) return i;
    return -1;
  };
  const eoi = lastMarker(0xd9, bytes.length);
  let end = eoi;
  while (end > 0 && bytes[end - 1] === 0xff) end--; // fill bytes before a marker
  const sos = lastMarker(0xda, end); // 0xFF 0xDA cannot stand inside coded data
  if (eoi < 0 || sos < 0 || sos + 4 > end) return null;
  const start = sos + 2 + ((bytes[sos + 2] << 8) | bytes[sos + 3]);
  const cut = end >= 2 && bytes[end - 2] === 0xff && bytes[end - 1] === 0x00 ? 2 : 1;
  if (end - cut < start) return null;
  const out = new Uint8Array(end - cut + bytes.length - eoi);
  out.set(bytes.subarray(0, end - cut));
  out.set(bytes.subarray(eoi), end - cut);
  return out;
}
