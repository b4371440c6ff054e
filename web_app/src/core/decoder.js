// The page's side of decode_worker.js: one job at a time; a new job (or cancel) ends the
// old one's worker, so a slow earlier image never finishes after a newer choice.
import { UserError } from './imagefile.js';

const fileKeys = new WeakMap();
let lastKey = 0;

/**
 * The key the worker keeps a file's decoded state under: a counter given to each Blob or File
 * object the first time it is decoded. Never its name or size (two files can share both); a
 * file chosen again (a new File object) is read again.
 */
export function fileKey(blob) {
  let key = fileKeys.get(blob);
  if (key === undefined) fileKeys.set(blob, (key = ++lastKey));
  return key;
}

export class Decoder {
  constructor(url = new URL('../decode_worker.js', import.meta.url)) { this.url = url; this.worker = null; this.pending = null; this.seq = 0; }

  /** Stops the job in flight (its promise rejects with a CancelledError). */
  cancel() {
    if (!this.pending) return;
    this.worker.terminate();
    this.worker = null;
    const { reject } = this.pending;
    this.pending = null;
    reject(new CancelledError('a newer image was chosen'));
  }

  /**
   * A new choice: cancels any job, and the worker drops what it kept of the last file (its
   * preview's pixels too: an older result's requestPreview() now answers null).
   */
  forget() { this.cancel(); this.seq += 1; this.worker?.postMessage({ forget: true }); }

  /** Cancels any job and lets the worker go. */
  close() { this.cancel(); this.worker?.terminate(); this.worker = null; }

  /**
   * prepareImage(blob, name, opts) in the worker (a DICOM file decoded last, the same `blob`
   * object, is not read and parsed again: fileKey). The result's requestPreview() asks for its
   * preview (a promise of it, also put in result.preview; null once a newer job has started).
   */
  decode(blob, name, opts) {
    this.cancel();
    if (!this.worker) this.worker = new Worker(this.url, { type: 'module' });
    const id = ++this.seq;
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      this.pending = { id, reject };
      const worker = this.worker;
      let previewed = null;
      worker.onmessage = ({ data }) => {
        if (data.id !== id) return;
        if (data.preview) { previewed?.(data.preview); return; }
        this.pending = null;
        if (data.ok) {
          const r = data.result, t = r.timings; // the round trip beyond the worker's own work: posting, cloning, scheduling
          t.messages_ms = performance.now() - t0 - t.worker_ms;
          r.preview = null;
          let asked = null;
          r.requestPreview = () => {
            if (this.worker !== worker || this.seq !== id) return Promise.resolve(null); // a newer job has its own
            asked ??= new Promise((done) => {
              previewed = (p) => { r.preview = p; done(p); };
              worker.postMessage({ previewOf: id });
            });
            return asked;
          };
          resolve(r);
        }
        else reject(data.user ? new UserError(data.message) : new Error(data.message));
      };
      this.worker.onerror = (ev) => {
        ev.preventDefault?.();
        this.pending = null;
        this.worker?.terminate(); this.worker = null;
        reject(new Error(`the image decoder could not run (${ev.message || 'worker failed to start'})`));
      };
      this.worker.postMessage({ id, key: fileKey(blob), blob, name, opts });
    });
  }
}

export class CancelledError extends Error {}
