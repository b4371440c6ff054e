// The browser side of the pipeline: decode -> gray -> letterbox -> LiteRT.js model -> measure.
import { loadLiteRt, loadAndCompile, Tensor } from '../vendor/litertjs-core/index.js';
import { toGray, letterboxImage } from './preprocess.js';
import { measure, dequantize, checkPixelSize } from './measure.js';
import { gaFromHcAll, reviewFlag } from './clinical.js';

/** An error whose message is meant for the user as it is. */
export class UserError extends Error {}

export async function sha256Hex(bytes) {
  const d = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** PNG header check: the Python reference refuses 16-bit images; the browser would silently reduce them. */
function pngBitDepth(head) {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (head.length < 26 || !sig.every((v, i) => head[i] === v)) return null;
  return head[24];
}

/**
 * Decodes an image file to 8-bit gray as hc_tf.preprocess.read_gray_image does: no colour
 * management, no alpha premultiplication, RGB -> gray with OpenCV's rule.
 */
export async function decodeToGray(blob, name = 'image') {
  const head = new Uint8Array(await blob.slice(0, 32).arrayBuffer());
  const depth = pngBitDepth(head);
  if (depth !== null && depth > 8) throw new UserError(`${name}: expected 8-bit pixels, got a ${depth}-bit PNG`);
  let bmp;
  try {
    bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new UserError(`${name}: not a readable image file (open a PNG or JPEG ultrasound image)`);
  }
  const { width, height } = bmp;
  const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(width, height)
    : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0);
  bmp.close?.();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  if (Math.min(width, height) < 2) throw new UserError(`${name}: image too small (${width}x${height})`);
  return { gray: toGray(rgba, width, height, 4), width, height };
}

/** Loads the runtime and the model; checks the model's sha256 against its metadata first. */
export async function loadModel(base = './assets/', { threads = null } = {}) {
  const meta = await (await fetch(`${base}hc_effunet_int8.json`)).json();
  const bytes = new Uint8Array(await (await fetch(`${base}hc_effunet_int8.tflite`)).arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== meta.tflite_sha256) {
    throw new UserError(`model file does not match its metadata (sha256 ${digest.slice(0, 12)}... vs ${meta.tflite_sha256.slice(0, 12)}...): not used`);
  }
  const isolated = globalThis.crossOriginIsolated === true;
  const useThreads = threads === null ? isolated : threads && isolated;
  const numThreads = useThreads ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)) : 1;
  await loadLiteRt(new URL('./wasm/', document.baseURI).href, { threads: useThreads });
  const model = await loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads } });
  const [H, W] = [meta.input.height, meta.input.width];
  return { model, meta, H, W, threads: useThreads, numThreads, sha256: digest };
}

/** Runs the model on a letterboxed uint8 input; returns the uint8 output (copied out). */
export async function runModel(m, input) {
  const t = new Tensor(input, [1, m.H, m.W, 1]);
  let outs;
  try {
    outs = await m.model.run(t);
    return new Uint8Array(outs[0].toTypedArray());
  } finally {
    t.delete();
    if (outs) for (const o of outs) o.delete();
  }
}

/** GA by both formulas and the review flag of a found head ({} when none), as golden.json has them. */
export function clinicalReadout(spec, res) {
  if (!res.found) return { gestational_age: {}, review: false, review_reasons: [] };
  const { review, reasons } = reviewFlag(spec, res.quality);
  return { gestational_age: gaFromHcAll(spec, res.hc_mm), review, review_reasons: reasons };
}

/** The whole path on one image file; returns the measurement, mask checksum and timings (ms). */
export async function measureBlob(m, blob, pixelSizeMm, name = 'image') {
  checkPixelSize(pixelSizeMm);
  const t0 = performance.now();
  const { gray, width, height } = await decodeToGray(blob, name);
  const t1 = performance.now();
  const { input, box } = letterboxImage(gray, width, height, m.H, m.W);
  const t2 = performance.now();
  const q = await runModel(m, input);
  const t3 = performance.now();
  const prob = dequantize(q, m.meta.output.scale, m.meta.output.zero_point);
  const res = measure(prob, m.H, m.W, box, pixelSizeMm, { threshold: m.meta.postprocessing.threshold });
  const t4 = performance.now();
  const qThr = m.meta.output.quantized_threshold_exclusive;
  const mask = new Uint8Array(q.length);
  for (let i = 0; i < q.length; i++) mask[i] = q[i] > qThr ? 1 : 0;
  return {
    ...res, ...clinicalReadout(m.meta.clinical, res), width, height, box, gray,
    mask_sha256: await sha256Hex(mask),
    timings: { decode_ms: t1 - t0, letterbox_ms: t2 - t1, model_ms: t3 - t2, measure_ms: t4 - t3, total_ms: t4 - t0 },
  };
}
