// Decodes and letterboxes one image off the page's thread (the page stays responsive); a DICOM
// file (DICM magic or a .dcm/.dicom name) through dicom-parser, the frame asked for (1 first). The image's preview is
// made when the page asks for it ({previewOf: id}, the latest job only): the page measures first
// (a preview made meanwhile slows the model by ~5 ms on 2 cores) and a batch never draws. The
// last DICOM file's opened state is kept (`last`, under the page's key for the file: a frame
// change or a dual pane's second pass skips the read and parse) until a job for another file or
// a new choice ({forget: true}).
import { prepareImage, UserError, HEAD_BYTES } from './core/imagefile.js';
import { looksLikeDicom } from './core/dicom/file.js';
import { openDicom, prepareDicom } from './core/dicom/prepare.js';
import { LastFile } from './core/dicom/last_file.js';
import dicomParser from './vendor/dicom-parser/index.js';
import jpegLossless from './vendor/jpeg-lossless-decoder-js/index.js';

let latest = null; // {id, makePreview} of the latest job
const last = new LastFile(); // the last DICOM file's opened state

/**
 * A wasm codec of vendor/@cornerstonejs/<dir>/ (its module and binary, cached for offline use like
 * the rest), imported on the first file that needs it (libjpeg-turbo: a JPEG DICOM frame, or a
 * plain JPEG file, which it checks): a PNG or another DICOM never pays for it.
 */
async function wasmCodec(dir, wasm) {
  const { default: factory } = await import(`./vendor/@cornerstonejs/${dir}/index.js`);
  const resp = await fetch(new URL(`./vendor/@cornerstonejs/${dir}/${wasm}`, import.meta.url));
  if (!resp.ok) throw new Error(`the decoder ${wasm} could not be fetched (HTTP ${resp.status})`);
  return factory({ wasmBinary: await resp.arrayBuffer(), print: () => {}, printErr: () => {} });
}
let charls = null, openjpeg = null, libjpegTurbo = null; // a failed load is tried again by the next file
const codecs = {
  jpegLossless,
  loadCharls: () => (charls ??= wasmCodec('codec-charls', 'charlswasm_decode.wasm').catch((e) => { charls = null; throw e; })),
  loadOpenjpeg: () => (openjpeg ??= wasmCodec('codec-openjpeg', 'openjpegwasm_decode.wasm').catch((e) => { openjpeg = null; throw e; })),
  loadLibjpegTurbo: () => (libjpegTurbo ??= wasmCodec('codec-libjpeg-turbo-8bit', 'libjpegturbowasm_decode.wasm').catch((e) => { libjpegTurbo = null; throw e; })),
};

function sendPreview(id) {
  if (latest?.id !== id) return; // an older job's: the page has moved on
  const preview = latest.makePreview();
  latest = null;
  self.postMessage({ id, preview }, [preview.rgba.buffer]);
}

/**
 * A file not opened before: read once (a blob read is a round trip to the browser process): all
 * of it when within the byte limit, else its head only (the checks then refuse it by its size).
 * A DICOM file opened is kept as `key`'s (any earlier file was dropped by last.take).
 */
async function prepareFresh(key, blob, name, opts) {
  const whole = blob.size <= opts.limits.max_input_bytes;
  const bytes = new Uint8Array(await (whole ? blob : blob.slice(0, HEAD_BYTES)).arrayBuffer());
  const head = bytes.subarray(0, HEAD_BYTES), read = { head, bytes: whole ? bytes : null };
  if (!looksLikeDicom(head, name)) return prepareImage(blob, name, opts, read, codecs);
  const opened = await openDicom(dicomParser, blob, name, opts.limits, read.bytes);
  last.keep(key, name, opts.limits, opened);
  return prepareDicom(dicomParser, blob, name, opts, null, codecs, opened);
}

self.onmessage = async ({ data }) => {
  if (data.previewOf !== undefined) { sendPreview(data.previewOf); return; }
  if (data.forget) { last.forget(); latest = null; return; } // a new choice: nothing of this file stays
  const { id, key, blob, name, opts } = data;
  latest = null;
  try {
    const t0 = performance.now();
    const opened = last.take(key, name, opts.limits); // null, and any other file's state dropped
    const r = opened ? await prepareDicom(dicomParser, blob, name, opts, null, codecs, opened) : await prepareFresh(key, blob, name, opts);
    const { makePreview, ...result } = r;
    if (opened) result.reused ??= 'file'; // said for tests and benchmarks
    result.timings.worker_ms = performance.now() - t0; // the page's round trip less this: the messages' cost
    latest = { id, makePreview };
    self.postMessage({ id, ok: true, result }, [result.input.buffer]);
  } catch (err) {
    const user = err instanceof UserError;
    self.postMessage({ id, ok: false, user, message: user ? err.message : `${name}: could not be decoded (${err?.message || String(err)})` });
  }
};
