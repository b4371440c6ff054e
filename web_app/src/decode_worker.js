// Decodes and letterboxes one image off the page's thread (the page stays responsive); a DICOM
// file (DICM magic or a .dcm/.dicom name) through dicom-parser, frame 1.
import { prepareImage, UserError } from './core/imagefile.js';
import { looksLikeDicom, prepareDicom } from './core/dicom/file.js';
import dicomParser from './vendor/dicom-parser/index.js';

self.onmessage = async ({ data: { id, blob, name, opts } }) => {
  try {
    const head = new Uint8Array(await blob.slice(0, 132).arrayBuffer());
    const r = looksLikeDicom(head, name) ? await prepareDicom(dicomParser, blob, name, opts) : await prepareImage(blob, name, opts);
    self.postMessage({ id, ok: true, result: r }, [r.input.buffer, r.preview.rgba.buffer]);
  } catch (err) {
    const user = err instanceof UserError;
    self.postMessage({ id, ok: false, user, message: user ? err.message : `${name}: could not be decoded (${err?.message || String(err)})` });
  }
};
