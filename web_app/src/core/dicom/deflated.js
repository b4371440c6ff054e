// A Deflated Explicit VR Little Endian file (1.2.840.10008.1.2.1.99): its data set inflated by
// the platform (DecompressionStream('deflate-raw'), streaming) under the byte limit before
// dicom-parser reads it, as hc_tf/io/dicom.py's _inflate does for predict (deflate reaches about
// 1000:1: a bomb is never inflated whole). dicom-parser's `inflater` option is synchronous, so
// the data set is inflated here first and the parser is handed the result (file.js readHeader).

import { DicomFileError, readHeader } from './file.js';
import { DEFLATED, metaGroup } from './header_scan.js';

// Input bytes a write: deflate expands at most ~1032:1, so one write inflates to at most ~17 MB,
// and the bytes held stay within the limit plus that.
const CHUNK = 16 * 1024;
const PREAMBLE = 132; // the preamble and 'DICM'
// hc_tf.io.dicom.CUT_STREAM
const CUT_STREAM = 'the deflate stream ends before its last block (cut short?)';

class OverLimit extends Error {}
/** A deflate stream the platform cannot inflate (`cause`: its error). */
class DeflateError extends Error {}

/**
 * One pass of the platform's inflater over data[0, end), bytes from `singlesFrom` on written one
 * at a time: {chunks, size} of what it inflated, or {failed: {error, at, to, closing}}, the write
 * of data[at, to) or the close refused. Throws OverLimit once past `limit` bytes, read no further.
 */
async function pass(data, end, singlesFrom, limit) {
  const stream = new DecompressionStream('deflate-raw');
  const writer = stream.writable.getWriter(), reader = stream.readable.getReader();
  let failed = null;
  const fed = (async () => {
    let at = 0;
    while (at < end) {
      const to = at < singlesFrom ? Math.min(at + CHUNK, singlesFrom, end) : at + 1;
      try {
        await writer.write(data.subarray(at, to));
      } catch (error) {
        failed = { error, at, to, closing: false };
        return;
      }
      at = to;
    }
    try {
      await writer.close();
    } catch (error) {
      failed = { error, at, to: at, closing: true };
    }
  })();
  const chunks = [];
  let size = 0, broken = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        reader.cancel().catch(() => {});
        throw new OverLimit();
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof OverLimit) throw err;
    broken = err; // the write or close that failed says where
  }
  await fed;
  if (!failed && broken) failed = { error: broken, at: end, to: end, closing: true };
  return failed ? { failed } : { chunks, size };
}

/**
 * The raw deflate stream `data` inflated, at most `limit` bytes: {chunks, size}. Bytes after the
 * stream's end are ignored, as zlib (predict) ignores them: pydicom pads an odd stream with one
 * 0x00, which Chromium's inflater refuses ("Junk found after end of compressed data") where
 * Node's reads on; so a write refused is retried up to the byte refused alone, and accepted when
 * the stream ends there. Throws OverLimit, or DeflateError for a stream that cannot be read (one
 * cut short in predict's words).
 */
export async function inflateRaw(data, limit) {
  const first = await pass(data, data.length, data.length - 1, limit);
  if (!first.failed) return first;
  const { error, at, to, closing } = first.failed;
  if (!closing) {
    const refused = to - at > 1 ? (await pass(data, to, at, limit)).failed : first.failed;
    const end = refused && !refused.closing ? refused.at : 0;
    const whole = end > 0 ? await pass(data, end, end, limit) : null;
    if (whole && !whole.failed) return whole;
  }
  // The input ended inside the stream (Chromium: "Compressed input was truncated."; Node, as in
  // the tests: Z_BUF_ERROR) in predict's words; else the platform's, less Chromium's
  // "Failed to execute 'close' on 'WritableStreamDefaultWriter': "
  const message = String(error?.message ?? error);
  const cut = closing && (error?.code === 'Z_BUF_ERROR' || /truncated/.test(message));
  const why = cut ? CUT_STREAM : message.replace(/^Failed to execute '\w+' on '\w+': /, '');
  throw new DeflateError(why, { cause: error });
}

/**
 * `bytes` (a deflated Part 10 file, its meta group ending at `metaEnd`) with the data set inflated
 * (dicom._inflate, under `limit` bytes): the array dicom-parser's inflater hands back, the file's
 * own bytes up to `metaEnd` and the inflated data set after them.
 *
 * Throws: DicomFileError naming the file, in dicom._inflate's words, past `limit` or for a
 * stream that cannot be inflated.
 */
export async function inflateDataSet(bytes, metaEnd, name, limit) {
  let inflated;
  try {
    inflated = await inflateRaw(bytes.subarray(metaEnd), limit);
  } catch (err) {
    if (err instanceof OverLimit) {
      throw new DicomFileError(`${name}: the deflated dataset (transfer syntax ${DEFLATED}) inflates past the ${limit}-byte input limit`);
    }
    if (!(err instanceof DeflateError)) throw err;
    throw new DicomFileError(`${name}: not a readable DICOM file (deflated dataset: ${err.message.split('\n')[0].slice(0, 160)})`);
  }
  const whole = new Uint8Array(metaEnd + inflated.size);
  whole.set(bytes.subarray(0, metaEnd));
  let at = metaEnd;
  for (const c of inflated.chunks) { whole.set(c, at); at += c.length; }
  // dicom-parser reads the array its inflater returns from byte 0, preamble and meta group again
  // (its meta elements keep their offsets in it): the preamble becomes one OB element that ends
  // at the meta group, so that a preamble's bytes are never read as elements.
  whole.set([0, 0, 0, 0, 0x4f, 0x42, 0, 0]); // (0000,0000) 'OB', reserved
  new DataView(whole.buffer).setUint32(8, PREAMBLE - 12, true);
  return whole;
}

/**
 * The array inflateDataSet gives for a deflated file within the byte limit, else null (the file
 * is read as it is). `limits`: the bundle metadata's input_limits (max_input_bytes).
 */
export async function inflatedOf(bytes, name, limits) {
  if (bytes.length > limits.max_input_bytes) return null; // readHeader refuses it by its size
  const meta = metaGroup(bytes, name, (message) => new DicomFileError(message));
  if (meta?.transferSyntax !== DEFLATED) return null;
  return inflateDataSet(bytes, meta.end, name, limits.max_input_bytes);
}

/** file.js readHeader for any file, a deflated one's data set inflated first (dicom._dcmread). */
export async function readDicomHeader(parser, bytes, name, limits) {
  return readHeader(parser, bytes, name, limits, await inflatedOf(bytes, name, limits));
}
