// Decodes and letterboxes one image off the page's thread (the page stays responsive).
import { prepareImage, UserError } from './core/imagefile.js';

self.onmessage = async ({ data: { id, blob, name, opts } }) => {
  try {
    const r = await prepareImage(blob, name, opts);
    self.postMessage({ id, ok: true, result: r }, [r.input.buffer, r.preview.rgba.buffer]);
  } catch (err) {
    const user = err instanceof UserError;
    self.postMessage({ id, ok: false, user, message: user ? err.message : `${name}: could not be decoded (${err?.message || String(err)})` });
  }
};
