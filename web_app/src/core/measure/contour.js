// From a probability map to the head's sub-pixel outline points, in model pixels: a port of
// hc_tf/measure/contour.py (the definition): the letterbox's valid area, the largest component
// (OpenCV's label order), its holes filled, the iso-contour crossings.

import { resizedSize } from '../preprocess.js';

export const PROB_SLACK = 0.01;

// ---------------------------------------------------------------- mask steps

/**
 * cv2.connectedComponentsWithStats(fg, connectivity=8) reduced to the largest component.
 * Ties on area go to the component cv2 labels first: the one whose first 2x2 block
 * (block row floor(y/2), block column floor(x/2), raster order) comes first.
 */
export function largestComponent(fg, H, W) {
  const labels = new Int32Array(H * W);
  const comps = [];
  const stack = new Int32Array(H * W);
  for (let i0 = 0; i0 < H * W; i0++) {
    if (fg[i0] && !labels[i0]) comps.push(labelComponent(fg, labels, H, W, i0, comps.length + 1, stack));
  }
  if (!comps.length) return { mask: new Uint8Array(H * W), area: 0 };
  let best = comps[0];
  for (const c of comps) if (c.area > best.area || (c.area === best.area && c.key < best.key)) best = c;
  const mask = new Uint8Array(H * W);
  for (let y = best.top; y <= best.bottom; y++) { // the component lies inside its bounding box
    for (let i = y * W + best.left, end = y * W + best.right; i <= end; i++) if (labels[i] === best.id) mask[i] = 1;
  }
  return { mask, area: best.area, left: best.left, top: best.top, width: best.right - best.left + 1, height: best.bottom - best.top + 1 };
}

/**
 * Labels the 8-connected component of seed i0 with `id` by runs (a row's run at once, then the
 * rows above and below it from one column before to one after); its area, bounding box and
 * cv2 order key (the smallest (y >> 1) * W + (x >> 1)).
 */
function labelComponent(fg, labels, H, W, i0, id, stack) {
  let sp = 0, area = 0, left = W, top = H, right = -1, bottom = -1, key = Infinity;
  stack[sp++] = i0; labels[i0] = id;
  while (sp) {
    const i = stack[--sp];
    const y = (i / W) | 0, row = y * W;
    let l = i - row, r = l;
    while (l > 0 && fg[row + l - 1] && !labels[row + l - 1]) labels[row + --l] = id;
    while (r + 1 < W && fg[row + r + 1] && !labels[row + r + 1]) labels[row + ++r] = id;
    area += r - l + 1; // pixels met here already labelled are counted where they were pushed
    if (l < left) left = l; if (r > right) right = r;
    if (y < top) top = y; if (y > bottom) bottom = y;
    const k = (y >> 1) * W + (l >> 1);
    if (k < key) key = k;
    const xa = l > 0 ? l - 1 : 0, xb = r + 1 < W ? r + 1 : r;
    for (let ny = y - 1; ny <= y + 1; ny += 2) {
      if (ny < 0 || ny >= H) continue;
      for (let j = ny * W + xa, end = ny * W + xb; j <= end; j++) {
        if (fg[j] && !labels[j]) { labels[j] = id; stack[sp++] = j; }
      }
    }
  }
  return { id, area, left, top, right, bottom, key };
}

/** hc_tf.measure.contour.fill_holes: background not 4-connected to a ring around the array becomes foreground. */
export function fillHoles(comp, h, w) {
  const H = h + 2, W = w + 2;
  // The padded array: 1 = background (the ring, and comp's zeros), flooded from a corner.
  const bg = new Uint8Array(H * W).fill(1);
  for (let y = 0, k = 0; y < h; y++) for (let x = 0, o = (y + 1) * W + 1; x < w; x++, k++, o++) if (comp[k]) bg[o] = 0;
  const outside = new Uint8Array(H * W);
  const stack = new Int32Array(H * W);
  let sp = 0;
  stack[sp++] = 0; outside[0] = 1;
  while (sp) {
    const i = stack[--sp];
    const x = i % W;
    if (i >= W && bg[i - W] && !outside[i - W]) { outside[i - W] = 1; stack[sp++] = i - W; }
    if (i + W < H * W && bg[i + W] && !outside[i + W]) { outside[i + W] = 1; stack[sp++] = i + W; }
    if (x > 0 && bg[i - 1] && !outside[i - 1]) { outside[i - 1] = 1; stack[sp++] = i - 1; }
    if (x + 1 < W && bg[i + 1] && !outside[i + 1]) { outside[i + 1] = 1; stack[sp++] = i + 1; }
  }
  const out = new Uint8Array(h * w);
  for (let y = 0, k = 0; y < h; y++) for (let x = 0, o = (y + 1) * W + 1; x < w; x++, k++, o++) out[k] = outside[o] ? 0 : 1;
  return out;
}

/** Python slice [start:stop] of a length-n axis -> [lo, hi) (negative stop counts from the end). */
function pySlice(start, stop, n) {
  const norm = (v) => (v < 0 ? Math.max(v + n, 0) : Math.min(v, n));
  const lo = norm(start), hi = norm(stop);
  return [lo, Math.max(hi, lo)];
}

/**
 * hc_tf.measure.contour.boundary_points on a sub-array: the threshold iso-contour crossings of
 * edges between horizontal neighbours (row-major), then vertical neighbours (row-major).
 * prob, inside: h x w arrays; rect (x0, y0, x1, y1) inclusive as Python slices it.
 * Returns [xs, ys] before any offset beyond rect's own (x0, y0).
 */
export function boundaryPoints(prob, inside, h, w, threshold, rect) {
  const [x0, y0, x1, y1] = rect;
  // Python clamps the window's end at 0: a region wholly right of or below the image area
  // has no outline inside it.
  const [ylo, yhi] = pySlice(y0, Math.max(y1 + 1, 0), h);
  const [xlo, xhi] = pySlice(x0, Math.max(x1 + 1, 0), w);
  const xs = [], ys = [];
  const cross = (ia, ib, pa, pb) => {
    const firstInside = inside[ia] !== 0;
    const pIn = firstInside ? prob[ia] : prob[ib];
    const pOut = firstInside ? prob[ib] : prob[ia];
    const denom = pIn - pOut;
    let frac = denom > 1e-6 ? (pIn - threshold) / denom : 0.5;
    frac = Math.min(Math.max(frac, 0.0), 1.0);
    return firstInside ? frac : 1.0 - frac;
  };
  for (let y = ylo; y < yhi; y++) {
    for (let x = xlo; x + 1 < xhi; x++) {
      const ia = y * w + x, ib = ia + 1;
      if (inside[ia] !== inside[ib]) { xs.push(((x - xlo) + cross(ia, ib)) + x0); ys.push((y - ylo) + y0); }
    }
  }
  for (let y = ylo; y + 1 < yhi; y++) {
    for (let x = xlo; x < xhi; x++) {
      const ia = y * w + x, ib = ia + w;
      if (inside[ia] !== inside[ib]) { xs.push((x - xlo) + x0); ys.push(((y - ylo) + cross(ia, ib)) + y0); }
    }
  }
  return [xs, ys];
}

export function validRect(box, H, W) {
  if (!box) return [0, 0, W - 1, H - 1];
  if (box.dst_height !== H || box.dst_width !== W) {
    throw new Error(`prob is ${H}x${W} but the letterbox maps a ${box.dst_height}x${box.dst_width} model input`);
  }
  const x0 = Math.trunc(box.offset_x), y0 = Math.trunc(box.offset_y);
  const [nw, nh] = resizedSize(box);
  return [x0, y0, Math.min(W - 1, x0 + nw - 1), Math.min(H - 1, y0 + nh - 1)];
}
