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
