// The browser side of the pipeline: decode -> gray -> letterbox -> LiteRT.js model -> measure.
import { loadLiteRt, loadAndCompile, Tensor } from '../vendor/litertjs-core/index.js';
import { UserError } from './imagefile.js';
import { measure, notFound, tooUniformReason, dequantize, checkPixelSize } from './measure/index.js';
import { gaFromHcAll, reviewFlag } from './clinical.js';

export const MODEL_FILE = 'hc_effunet_int8.tflite';

export { UserError };

export async function sha256Hex(bytes) {
  const d = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Words for anything thrown (a failed wasm fetch may throw an Event or undefined, not an Error). */
export function describeError(err) {
  if (err instanceof Error && err.message) return err.message;
  if (typeof err === 'string' && err) return err;
  if (err && typeof err === 'object' && err.type) return `${err.type} event${err.target?.src ? ` (${err.target.src})` : ''}`;
  return `an unknown error (${String(err)})`;
}

async function fetchOk(url, what) {
  let resp;
  try { resp = await fetch(url); } catch (err) {
    throw new UserError(`${what} could not be fetched (${describeError(err)}; offline and not stored on this device?)`);
  }
  if (!resp.ok) throw new UserError(`${what} could not be fetched (HTTP ${resp.status})`);
  return resp;
}

/** Loads the runtime and the model; checks the model's sha256 against its metadata first. */
export async function loadModel(base = './assets/', { threads = null } = {}) {
  const meta = await (await fetchOk(`${base}hc_effunet_int8.json`, 'the model metadata')).json();
  const bytes = new Uint8Array(await (await fetchOk(`${base}${MODEL_FILE}`, 'the model')).arrayBuffer());
  const digest = await sha256Hex(bytes);
  if (digest !== meta.tflite_sha256) {
    throw new UserError(`model file does not match its metadata (sha256 ${digest.slice(0, 12)}... vs ${meta.tflite_sha256.slice(0, 12)}...): not used`);
  }
  const isolated = globalThis.crossOriginIsolated === true;
  const useThreads = threads === null ? isolated : threads && isolated;
  const numThreads = useThreads ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)) : 1;
  const build = `the ${useThreads ? 'threaded' : 'single-thread'} runtime (LiteRT.js wasm)`;
  try {
    await loadLiteRt(new URL('./wasm/', document.baseURI).href, { threads: useThreads });
  } catch (err) {
    throw new UserError(`${build} could not be loaded: ${describeError(err)}${navigator.onLine === false ? ' (offline: this build is not stored on this device yet)' : ''}`);
  }
  let model;
  try {
    model = await loadAndCompile(bytes, { accelerator: 'wasm', cpuOptions: { numThreads } });
  } catch (err) {
    throw new UserError(`the model could not be compiled by ${build}: ${describeError(err)}`);
  }
  const [H, W] = [meta.input.height, meta.input.width];
  return { model, meta, H, W, threads: useThreads, numThreads, sha256: digest, file: MODEL_FILE };
}

let modelQueue = Promise.resolve(); // one inference at a time: runs never interleave

async function runModelNow(m, input) {
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

/** Runs the model on a letterboxed uint8 input; returns the uint8 output (copied out). */
export function runModel(m, input) {
  const run = modelQueue.then(() => runModelNow(m, input));
  modelQueue = run.catch(() => {});
  return run;
}

/** GA by both formulas and the review flag of a found head ({} when none), as golden.json has them. */
export function clinicalReadout(spec, res) {
  if (!res.found) return { gestational_age: {}, review: false, review_reasons: [] };
  const { review, reasons } = reviewFlag(spec, res.quality);
  return { gestational_age: gaFromHcAll(spec, res.hc_mm), review, review_reasons: reasons };
}

/**
 * inference.in_image_pixels: a result measured on the prepared `region` ([x0, y0, x1, y1], or
 * null: the whole image) with its ellipse and outline in the whole image's pixels (integers
 * added: exact).
 */
export function inImagePixels(res, region) {
  if (!region || !res.found) return res;
  const [x0, y0] = region;
  const moved = { ...res, ellipse: { ...res.ellipse, cx: res.ellipse.cx + x0, cy: res.ellipse.cy + y0 } };
  if (res.points) moved.points = { xs: res.points.xs.map((x) => x + x0), ys: res.points.ys.map((y) => y + y0) };
  return moved;
}

/** The mask checksum golden.json has (q > the quantized threshold), hashed off the page's thread. */
function maskSha256(q, qThr) {
  const mask = new Uint8Array(q.length);
  for (let i = 0; i < q.length; i++) mask[i] = q[i] > qThr ? 1 : 0;
  return sha256Hex(mask);
}

/**
 * Model, measurement, clinical read-out and mask checksum for a prepared image (imagefile.js's
 * prepareImage); timings in ms: the preparation's (decode, letterbox, messages, ...), model_ms,
 * measure_ms (dequantize, outline, fit, quality), clinical_ms (GA, flag, checksum), total_ms
 * (decode + letterbox + model through checksum; the worker's read and the messages not in it).
 */
export async function measurePrepared(m, prep, pixelSizeMm) {
  checkPixelSize(pixelSizeMm);
  const { input, box, width, height } = prep;
  const t2 = performance.now();
  const q = await runModel(m, input);
  const t3 = performance.now();
  const maskSha = maskSha256(q, m.meta.output.quantized_threshold_exclusive); // runs while the fit does
  const prob = dequantize(q, m.meta.output.scale, m.meta.output.zero_point);
  // A blank frame is refused with its reason (hc_tf.inference._measure_input), never measured.
  const uniform = tooUniformReason(input, m.H, m.W, box, m.meta.input_limits.contrast);
  const res = inImagePixels(uniform ? notFound(uniform, checkPixelSize(pixelSizeMm))
    : measure(prob, m.H, m.W, box, pixelSizeMm, { threshold: m.meta.postprocessing.threshold }), prep.region);
  const t4 = performance.now();
  const clinical = clinicalReadout(m.meta.clinical, res);
  const mask_sha256 = await maskSha;
  const t5 = performance.now();
  const { decode_ms, letterbox_ms } = prep.timings;
  return {
    ...res, ...clinical, width, height, box, input, mask_sha256,
    timings: { ...prep.timings, model_ms: t3 - t2, measure_ms: t4 - t3, clinical_ms: t5 - t4,
      total_ms: decode_ms + letterbox_ms + (t5 - t2) },
  };
}

/** Decode options for prepareImage from the model (its input size, the metadata's limits). */
export const decodeOptions = (m) => ({ limits: m.meta.input_limits, H: m.H, W: m.W });

/** The whole path on one image file (decoded in `decoder`'s worker). */
export async function measureBlob(m, decoder, blob, pixelSizeMm, name = 'image') {
  checkPixelSize(pixelSizeMm);
  return measurePrepared(m, await decoder.decode(blob, name, decodeOptions(m)), pixelSizeMm);
}
