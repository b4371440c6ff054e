// The measure step's fast loops against plain references on many random cases: the same
// component (pixels, area, box), the same filled holes, the same quality counts. The goldens
// (measure.test.js) check the real heads; these reach ties, specks, edges and odd shapes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { largestComponent, fillHoles } from '../src/core/measure/index.js';
import { qualitySignals, visitEllipseOnModelGrid, BAND_HALF_WIDTH_MODEL_PX } from '../src/core/quality.js';

function rng(seed) { // mulberry32: the cases are the same on every run
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Blobs of random discs and noise: several components, touching diagonally, at the edges. */
function randomMask(rand, H, W) {
  const fg = new Uint8Array(H * W);
  for (let d = 0, nd = 1 + Math.floor(rand() * 6); d < nd; d++) {
    const cx = rand() * W, cy = rand() * H, r = 1 + rand() * Math.min(H, W) / 3;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) fg[y * W + x] = 1;
  }
  const noise = rand() * 0.3;
  for (let i = 0; i < H * W; i++) if (rand() < noise) fg[i] ^= 1;
  return fg;
}

/** Reference: plain 8-connected flood fill, components in raster order of their first pixel. */
function referenceLargest(fg, H, W) {
  const labels = new Int32Array(H * W), comps = [];
  for (let i0 = 0; i0 < H * W; i0++) {
    if (!fg[i0] || labels[i0]) continue;
    const id = comps.length + 1, queue = [i0], c = { id, area: 0, key: Infinity, pixels: [] };
    labels[i0] = id;
    while (queue.length) {
      const i = queue.pop(), y = Math.floor(i / W), x = i % W;
      c.area++; c.pixels.push(i); c.key = Math.min(c.key, (y >> 1) * W + (x >> 1));
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const yy = y + dy, xx = x + dx, j = yy * W + xx;
        if (yy >= 0 && yy < H && xx >= 0 && xx < W && fg[j] && !labels[j]) { labels[j] = id; queue.push(j); }
      }
    }
    comps.push(c);
  }
  const best = comps.reduce((b, c) => (c.area > b.area || (c.area === b.area && c.key < b.key) ? c : b), comps[0]);
  const mask = new Uint8Array(H * W);
  for (const i of best?.pixels ?? []) mask[i] = 1;
  return { mask, area: best?.area ?? 0 };
}

/** Reference: 4-connected flood of the background from outside the array. */
function referenceFill(comp, h, w) {
  const out = new Uint8Array(h * w).fill(1), seen = new Uint8Array(h * w), queue = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    if ((y === 0 || x === 0 || y === h - 1 || x === w - 1) && !comp[y * w + x]) { seen[y * w + x] = 1; queue.push(y * w + x); }
  }
  while (queue.length) {
    const i = queue.pop(), y = Math.floor(i / w), x = i % w;
    out[i] = 0;
    for (const [yy, xx] of [[y - 1, x], [y + 1, x], [y, x - 1], [y, x + 1]]) {
      const j = yy * w + xx;
      if (yy >= 0 && yy < h && xx >= 0 && xx < w && !comp[j] && !seen[j]) { seen[j] = 1; queue.push(j); }
    }
  }
  return out;
}

test('largestComponent and fillHoles equal plain flood fills on 300 random masks', () => {
  const rand = rng(25);
  for (let n = 0; n < 300; n++) {
    const H = 3 + Math.floor(rand() * 40), W = 3 + Math.floor(rand() * 40);
    const fg = randomMask(rand, H, W);
    const got = largestComponent(fg, H, W), want = referenceLargest(fg, H, W);
    assert.equal(got.area, want.area, `case ${n}: area`);
    assert.deepEqual(got.mask, want.mask, `case ${n}: mask`);
    if (got.area) {
      let top = H, left = W, bottom = -1, right = -1;
      for (let i = 0; i < H * W; i++) if (want.mask[i]) {
        const y = Math.floor(i / W), x = i % W;
        top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x);
      }
      assert.deepEqual([got.left, got.top, got.width, got.height], [left, top, right - left + 1, bottom - top + 1], `case ${n}: box`);
    }
    assert.deepEqual(fillHoles(fg, H, W), referenceFill(fg, H, W), `case ${n}: holes`);
  }
});

test('quality counts equal the per-pixel visit on 200 random ellipses and letterboxes', () => {
  const rand = rng(7);
  for (let n = 0; n < 200; n++) {
    const H = 20 + Math.floor(rand() * 40), W = 20 + Math.floor(rand() * 40);
    const box = rand() < 0.2 ? null : { scale_x: 0.2 + rand() * 2, scale_y: 0.2 + rand() * 2, offset_x: Math.floor(rand() * 5), offset_y: Math.floor(rand() * 5), src_width: 80, src_height: 60 };
    const sx = box ? box.scale_x : 1, sy = box ? box.scale_y : 1;
    const e = { cx: (rand() * W) / sx, cy: (rand() * H) / sy, a: 1 + (rand() * W) / sx, b: 0.5 + (rand() * H) / sy, angle: rand() * Math.PI };
    const prob = Float32Array.from({ length: H * W }, () => Math.fround(rand()));
    const head = Uint8Array.from({ length: H * W }, () => (rand() < 0.5 ? 1 : 0));
    const rect = [Math.floor(rand() * 5), Math.floor(rand() * 5), W - 1 - Math.floor(rand() * 5), H - 1 - Math.floor(rand() * 5)];
    let headPx = 0, filled = 0, both = 0, band = 0, unsure = 0;
    visitEllipseOnModelGrid(e, box, H, W, (i, j, f, d) => {
      const k = i * W + j;
      if (j < rect[0] || j > rect[2] || i < rect[1] || i > rect[3]) return; // padding: never counted
      if (head[k]) headPx++;
      if (f <= 0) { filled++; if (head[k]) both++; }
      if (d <= BAND_HALF_WIDTH_MODEL_PX) { band++; if (prob[k] > 0.1 && prob[k] < 0.9) unsure++; }
    });
    const q = qualitySignals({ prob, head, H, W, distances: [1, 2], ellipse: e, box, rect, modelPx: 1, imageHW: [60, 80], hcMm: 1 });
    assert.equal(q.mask_ellipse_dice, headPx + filled ? (2 * both) / (headPx + filled) : 0, `case ${n}: dice`);
    assert.equal(q.uncertain_band_fraction, band ? unsure / band : 1, `case ${n}: band`);
  }
});
