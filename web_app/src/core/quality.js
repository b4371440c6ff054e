// Quality signals of a found head: a port of hc_tf/measure/quality.py (the definition), same
// float64 operations in the same order, so pixel counts match and the signals agree to
// ~1e-14. Formulas: android_demo_assets/README.md, "GA and the review flag".

export const OUTLINE_SAMPLES = 720;
export const BAND_HALF_WIDTH_MODEL_PX = 4.5;
const UNCERTAIN_LO = 0.1, UNCERTAIN_HI = 0.9;
const MIN_GRADIENT = 1e-12;

/** Share of the 720 outline points (Ellipse.points) outside the original image. */
function outsideFraction(e, imageH, imageW) {
  const c = Math.cos(e.angle), s = Math.sin(e.angle);
  const step = (2.0 * Math.PI) / OUTLINE_SAMPLES; // numpy linspace(0, 2 pi, n, endpoint=False)
  let outside = 0;
  for (let k = 0; k < OUTLINE_SAMPLES; k++) {
    const t = k * step;
    const ex = e.a * Math.cos(t), ey = e.b * Math.sin(t);
    const x = e.cx + ex * c - ey * s, y = e.cy + ex * s + ey * c;
    if (x < -0.5 || x > imageW - 0.5 || y < -0.5 || y > imageH - 0.5) outside++;
  }
  return outside / OUTLINE_SAMPLES;
}

/** Model-pixel centres along one axis in original pixels (Letterbox.to_original; no box: k). */
function originalCoords(n, box, axis) {
  const out = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    out[k] = !box ? k : axis === 'x' ? (k - box.offset_x + 0.5) / box.scale_x - 0.5
      : (k - box.offset_y + 0.5) / box.scale_y - 0.5;
  }
  return out;
}

/**
 * quality.ellipse_on_model_grid, pixel by pixel: calls visit(i, j, f, d) for every model
 * pixel (row i, column j; row-major), f the implicit function (inside: f <= 0) and d the
 * first-order distance to the outline in model pixels.
 */
export function visitEllipseOnModelGrid(e, box, H, W, visit) {
  const sx = box ? box.scale_x : 1.0, sy = box ? box.scale_y : 1.0;
  const dxs = originalCoords(W, box, 'x').map((x) => x - e.cx);
  const ys = originalCoords(H, box, 'y');
  const c = Math.cos(e.angle), s = Math.sin(e.angle);
  for (let i = 0; i < H; i++) {
    const dy = ys[i] - e.cy;
    for (let j = 0; j < W; j++) {
      const dx = dxs[j];
      const u = (dx * c + dy * s) / e.a;
      const v = (-dx * s + dy * c) / e.b;
      const f = u * u + v * v - 1.0;
      const ua = u / e.a, vb = v / e.b;
      const gx = 2.0 * (ua * c - vb * s) / sx;
      const gy = 2.0 * (ua * s + vb * c) / sy;
      visit(i, j, f, Math.abs(f) / Math.max(Math.sqrt(gx * gx + gy * gy), MIN_GRADIENT));
    }
  }
}

/**
 * visitEllipseOnModelGrid's loop with the callback inlined (the hot loop of the measure step),
 * over the image area (rect) only, as quality.signals counts both the Dice and the band: the
 * same f, and d where the band can count it. The padding is never counted: a cut head's filled
 * ellipse runs on into it, where the mask is always 0.
 */
function gridCounts(prob, head, H, W, e, box, rect) {
  const sx = box ? box.scale_x : 1.0, sy = box ? box.scale_y : 1.0;
  const dxs = originalCoords(W, box, 'x').map((x) => x - e.cx);
  const ys = originalCoords(H, box, 'y');
  const c = Math.cos(e.angle), s = Math.sin(e.angle), ea = e.a, eb = e.b;
  const [x0, y0, x1, y1] = rect;
  // |grad f| <= 2 (|u|/a + |v|/b) sqrt(1/sx^2 + 1/sy^2): where |f| exceeds the band's half width
  // times that bound (with a margin far above rounding), d is surely outside the band and its
  // divisions and square root are skipped; elsewhere d is computed exactly as quality.py does.
  const iea = 1 / ea, ieb = 1 / eb, gradBound = 2 * Math.sqrt(1 / (sx * sx) + 1 / (sy * sy)) * (1 + 1e-9);
  const reach = BAND_HALF_WIDTH_MODEL_PX * (1 + 1e-6);
  let headPx = 0, filledPx = 0, both = 0, bandPx = 0, unsure = 0;
  for (let i = Math.max(y0, 0); i <= Math.min(y1, H - 1); i++) {
    const dy = ys[i] - e.cy, row = i * W;
    for (let j = Math.max(x0, 0); j <= Math.min(x1, W - 1); j++) {
      const dx = dxs[j];
      const u = (dx * c + dy * s) / ea;
      const v = (-dx * s + dy * c) / eb;
      const f = u * u + v * v - 1.0;
      const k = row + j;
      if (head[k]) headPx++;
      if (f <= 0.0) { filledPx++; if (head[k]) both++; }
      if (Math.abs(f) > reach * Math.max((Math.abs(u) * iea + Math.abs(v) * ieb) * gradBound, MIN_GRADIENT)) continue;
      const ua = u / ea, vb = v / eb;
      const gx = 2.0 * (ua * c - vb * s) / sx;
      const gy = 2.0 * (ua * s + vb * c) / sy;
      if (Math.abs(f) / Math.max(Math.sqrt(gx * gx + gy * gy), MIN_GRADIENT) <= BAND_HALF_WIDTH_MODEL_PX) {
        bandPx++;
        if (prob[k] > UNCERTAIN_LO && prob[k] < UNCERTAIN_HI) unsure++;
      }
    }
  }
  return { headPx, filledPx, both, bandPx, unsure };
}

/**
 * hc_tf.measure.quality.signals for a found head.
 * @param {Float32Array} prob  H*W probabilities (clipped to 0..1), row-major
 * @param {Uint8Array} head  H*W head mask (largest component, holes filled)
 * @param {Float64Array} distances  first-order distances of the fit's boundary points (original px)
 * @param e  the fitted ellipse (original px); box: letterbox or null; rect [x0, y0, x1, y1] inclusive,
 *   the model pixels showing the image: the Dice and the band count only these
 * @returns {{fit_rms_frac, inlier_fraction, mask_ellipse_dice, uncertain_band_fraction, outside_fraction, hc_mm}}
 */
export function qualitySignals({ prob, head, H, W, distances, ellipse: e, box, rect, modelPx, imageHW, hcMm }) {
  let sumSq = 0, inliers = 0;
  for (const d of distances) { sumSq += d * d; if (d <= modelPx) inliers++; }
  const { headPx, filledPx, both, bandPx, unsure } = gridCounts(prob, head, H, W, e, box, rect);
  const total = headPx + filledPx;
  return {
    fit_rms_frac: Math.sqrt(sumSq / distances.length) / (0.5 * (e.a + e.b)),
    inlier_fraction: inliers / distances.length,
    mask_ellipse_dice: total ? (2.0 * both) / total : 0.0,
    uncertain_band_fraction: bandPx ? unsure / bandPx : 1.0,
    outside_fraction: outsideFraction(e, imageHW[0], imageHW[1]),
    hc_mm: hcMm,
  };
}
