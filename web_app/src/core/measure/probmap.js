// Measuring a probability map: model-size map -> ellipse in original pixels -> HC in mm.
// A port of hc_tf/measure/probmap.py `measure` (the definition; not_found from
// hc_tf/measure/result.py): same steps, same order of floating-point operations where it
// matters, same rejection reasons. See android_demo_assets/README.md "Contract".

import { toOriginal } from '../preprocess.js';
import { qualitySignals } from '../quality.js';
import { fmt1, fmtG } from '../pyformat.js';
import { ramanujanPerimeter, ellipseDistance } from './geometry.js';
import { robustFitEllipse, OUTLIER_ROUNDS } from './fit.js';
import { PROB_SLACK, largestComponent, fillHoles, boundaryPoints, validRect } from './contour.js';
import { checkPixelSize } from './pixel_size.js';

export const MIN_SEMI_AXIS_MODEL_PX = 2.0;
export const MAX_ASPECT = 5.0;
export const MAX_AXIS_IMAGE_RATIO = 2.0;
export const MIN_BOUNDARY_POINTS = 20;

export function notFound(reason, px) { return { found: false, reason, ellipse: null, pixel_size_mm: px, hc_mm: null, quality: null }; }

/**
 * hc_tf.measure.probmap.measure for a float probability map (Float32Array, H*W, row-major),
 * e.g. the int8 model's q / 256.
 * @returns {{found, reason, ellipse, pixel_size_mm, hc_mm, quality, points?}} (quality: hc_tf.measure.quality's signals, null when not found)
 */
export function measure(prob, H, W, box, pixelSizeMm, { threshold = 0.5, minAreaPx = 50, trace = null } = {}) {
  const px = checkPixelSize(pixelSizeMm);
  if (prob.length !== H * W) throw new Error(`prob has ${prob.length} values, expected ${H}x${W}`);
  if (Math.min(H, W) < 3) throw new Error(`prob must be at least 3x3 pixels, got shape (${H}, ${W})`);
  for (const [name, v] of [['threshold', threshold], ['min_area_px', minAreaPx]]) {
    if (typeof v !== 'number') throw new Error(`${name} must be a number, got ${String(v)}`);
  }
  if (!(threshold > 0 && threshold < 1)) throw new Error(`threshold must be in (0, 1), got ${threshold}`);
  if (!(minAreaPx >= 0 && minAreaPx < Infinity)) throw new Error(`min_area_px must be a finite number >= 0, got ${minAreaPx}`);
  const rect = validRect(box, H, W);
  // One pass: the range check, the clipped map and the foreground (used only once the range is
  // known good). Plain loops: TypedArray.from with a map function is ~10x slower.
  let lo = Infinity, hi = -Infinity;
  const p = new Float32Array(H * W), fg = new Uint8Array(H * W);
  for (let i = 0; i < prob.length; i++) {
    const v = prob[i];
    if (Number.isNaN(v)) { lo = NaN; break; }
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    const c = Math.min(Math.max(v, 0), 1);
    p[i] = c;
    fg[i] = p[i] > threshold ? 1 : 0;
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return notFound('probability map contains NaN or infinite values', px);
  if (lo < -PROB_SLACK || hi > 1.0 + PROB_SLACK) {
    return notFound(`probabilities out of range [${fmtG(lo, 3)}, ${fmtG(hi, 3)}]: expected 0..1 (a 0..255-scaled map must be passed as uint8)`, px);
  }
  const comp = largestComponent(fg, H, W);
  if (comp.area === 0) return notFound(`empty mask: no pixel above ${fmtG(threshold)}`, px);
  if (comp.area < Math.max(minAreaPx, 1)) return notFound(`largest region is a speck (${comp.area} px < ${minAreaPx} px)`, px);
  const { left, top } = comp;
  const right = left + comp.width - 1, bottom = top + comp.height - 1;
  if (left <= rect[0] && top <= rect[1] && right >= rect[2] && bottom >= rect[3]) {
    return notFound('mask covers the whole image: no head outline', px);
  }
  const yLo = Math.max(top - 1, 0), xLo = Math.max(left - 1, 0);
  const yHi = Math.min(bottom + 2, H), xHi = Math.min(right + 2, W);
  const ch = yHi - yLo, cw = xHi - xLo;
  const pc = new Float32Array(ch * cw), mc = new Uint8Array(ch * cw);
  for (let y = 0; y < ch; y++) { // row by row: the crop's rows are runs of the map's
    const at = (y + yLo) * W + xLo;
    pc.set(p.subarray(at, at + cw), y * cw);
    mc.set(comp.mask.subarray(at, at + cw), y * cw);
  }
  const inside = fillHoles(mc, ch, cw);
  const cropRect = [Math.max(rect[0] - xLo, 0), Math.max(rect[1] - yLo, 0), rect[2] - xLo, rect[3] - yLo];
  let [xs, ys] = boundaryPoints(pc, inside, ch, cw, threshold, cropRect);
  xs = xs.map((v) => v + xLo); ys = ys.map((v) => v + yLo);
  if (xs.length < MIN_BOUNDARY_POINTS) return notFound(`head outline inside the image too short (${xs.length} points)`, px);
  let modelPx = 1.0;
  if (box) {
    for (let k = 0; k < xs.length; k++) [xs[k], ys[k]] = toOriginal(box, xs[k], ys[k]);
    modelPx = 1.0 / Math.min(box.scale_x, box.scale_y);
  }
  const e = robustFitEllipse(xs, ys, modelPx, OUTLIER_ROUNDS, trace);
  const m = checked(e, modelPx, box, H, W, px);
  m.points = { xs, ys };
  if (!m.found) return m;
  const head = new Uint8Array(H * W);
  for (let y = 0; y < ch; y++) head.set(inside.subarray(y * cw, (y + 1) * cw), (y + yLo) * W + xLo);
  m.quality = qualitySignals({
    prob: p, head, H, W, distances: ellipseDistance(e, xs, ys), ellipse: e, box, rect, modelPx,
    imageHW: box ? [box.src_height, box.src_width] : [H, W], hcMm: m.hc_mm,
  });
  return m;
}

function checked(e, modelPx, box, H, W, px) {
  if (e === null || ![e.cx, e.cy, e.a, e.b, e.angle].every(Number.isFinite)) {
    return notFound('the outline does not fit an ellipse', px);
  }
  if (e.b < MIN_SEMI_AXIS_MODEL_PX * modelPx) {
    return notFound(`region is a line, not a head (minor semi-axis ${fmt1(e.b / modelPx)} model px)`, px);
  }
  if (e.a > MAX_ASPECT * e.b) return notFound(`region is too elongated for a head (${fmt1(e.a / e.b)}:1)`, px);
  const size = box ? Math.max(box.src_width, box.src_height) : Math.max(H, W);
  if (e.a > MAX_AXIS_IMAGE_RATIO * size) {
    return notFound('ellipse fit ran away (a partial outline far larger than the image)', px);
  }
  return { found: true, reason: '', ellipse: e, pixel_size_mm: px, hc_mm: ramanujanPerimeter(e.a, e.b) * px };
}
