// Decodes and letterboxes one image off the page's thread (the page stays responsive); a DICOM
// file (DICM magic or a .dcm/.dicom name) through dicom-parser, frame 1. Two messages a file:
// the result (the model's input), then the image's preview.
import { prepareImage, UserError, HEAD_BYTES } from './core/imagefile.js';
import { looksLikeDicom, prepareDicom } from './core/dicom/file.js';
import dicomParser from './vendor/dicom-parser/index.js';

self.onmessage = async ({ data: { id, blob, name, opts } }) => {
  try {
    const t0 = performance.now();
    // The file read once (a blob read is a round trip to the browser process): all of it when
    // within the byte limit, else its head only (the checks then refuse it by its size).
    const whole = blob.size <= opts.limits.max_input_bytes;
    const bytes = new Uint8Array(await (whole ? blob : blob.slice(0, HEAD_BYTES)).arrayBuffer());
    const head = bytes.subarray(0, HEAD_BYTES), read = { head, bytes: whole ? bytes : null };
    const r = looksLikeDicom(head, name) ? await prepareDicom(dicomParser, blob, name, opts, read.bytes) : await prepareImage(blob, name, opts, read);
    const { makePreview, ...result } = r;
    result.timings.worker_ms = performance.now() - t0; // the page's round trip less this: the messages' cost
    self.postMessage({ id, ok: true, result }, [result.input.buffer]);
    // The preview after the input: the page measures while it is made.
    const preview = makePreview();
    self.postMessage({ id, preview }, [preview.rgba.buffer]);
  } catch (err) {
    const user = err instanceof UserError;
    self.postMessage({ id, ok: false, user, message: user ? err.message : `${name}: could not be decoded (${err?.message || String(err)})` });
  }
};
