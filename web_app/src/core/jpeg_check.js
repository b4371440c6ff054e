// A JPEG file checked whole by libjpeg-turbo before the browser decodes its pixels: the rule of
// predict's hc_tf/io/jpeg_check.py (simplejpeg, strict), so both refuse the same damaged files.
// libjpeg-turbo only warns of a premature end, a bogus marker length or stray bytes before a
// marker: OpenCV then decodes what it could, Chromium's decoder refuses some such files and
// decodes others. The checker is the worker's DICOM decoder (cornerstone's libjpeg-turbo wasm build, which
// stops on libjpeg's warnings as simplejpeg's strict mode does: tests/web_app_ui_test.py
// compares both on fuzzed copies); its pixels are dropped, the browser's are measured.
export const JPEG_DAMAGE = 'the JPEG data is corrupt';

/**
 * The refusal for `bytes` (a JPEG) by `codec` (the libjpeg-turbo wasm module), or null when it
 * decodes without a warning. The wasm build throws a C++ exception (a number: a pointer into its
 * heap) that carries no libjpeg message, so the reason is the generic JPEG_DAMAGE; anything else
 * thrown (its memory exhausted) is no verdict on the file and is thrown on.
 */
export function jpegDamage(codec, bytes) {
  let dec;
  try {
    dec = new codec.JPEGDecoder();
    dec.getEncodedBuffer(bytes.length).set(bytes);
    dec.decode();
    return null;
  } catch (err) {
    if (typeof err === 'number') return JPEG_DAMAGE;
    throw err;
  } finally {
    dec?.delete();
  }
}
