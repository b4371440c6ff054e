// Decodes and letterboxes one image off the page's thread (the page stays responsive); a DICOM
// file (DICM magic or a .dcm/.dicom name) through dicom-parser, the frame asked for (1 first). The image's preview is
// made when the page asks for it ({previewOf: id}, the latest job only): the page measures first
// (a preview made meanwhile slows the model by ~5 ms on 2 cores) and a batch never draws.
import { prepareImage, UserError, HEAD_BYTES } from './core/imagefile.js';
import { looksLikeDicom } from './core/dicom/file.js';
import { prepareDicom } from './core/dicom/frames.js';
import dicomParser from './vendor/dicom-parser/index.js';
import jpegLossless from './vendor/jpeg-lossless-decoder-js/index.js';

let latest = null; // {id, makePreview} of the latest job

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

self.onmessage = async ({ data }) => {
  if (data.previewOf !== undefined) { sendPreview(data.previewOf); return; }
  const { id, blob, name, opts } = data;
  latest = null;
  try {
    const t0 = performance.now();
    // The file read once (a blob read is a round trip to the browser process): all of it when
    // within the byte limit, else its head only (the checks then refuse it by its size).
    const whole = blob.size <= opts.limits.max_input_bytes;
    const bytes = new Uint8Array(await (whole ? blob : blob.slice(0, HEAD_BYTES)).arrayBuffer());
    const head = bytes.subarray(0, HEAD_BYTES), read = { head, bytes: whole ? bytes : null };
    const r = looksLikeDicom(head, name) ? await prepareDicom(dicomParser, blob, name, opts, read.bytes, codecs) : await prepareImage(blob, name, opts, read, codecs);
    const { makePreview, ...result } = r;
    result.timings.worker_ms = performance.now() - t0; // the page's round trip less this: the messages' cost
    latest = { id, makePreview };
    self.postMessage({ id, ok: true, result }, [result.input.buffer]);
  } catch (err) {
    const user = err instanceof UserError;
    self.postMessage({ id, ok: false, user, message: user ? err.message : `${name}: could not be decoded (${err?.message || String(err)})` });
  }
};
