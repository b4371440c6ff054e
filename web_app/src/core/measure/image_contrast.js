// Is there an image to measure? A port of hc_tf/measure/image_contrast.py (the definition): the
// gray levels that cut tail_percent% off each end of the letterboxed input's image area must span
// min_levels, else a blank frame is refused with a reason instead of a "head". Integers only,
// on the model input the letterbox port reproduces byte for byte. Numbers from the bundle
// metadata's input_limits.contrast.

import { validRect } from './contour.js';

/** [lo, hi] of the uint8 model input (H*W, row-major) inside the letterbox's image area. */
export function contrastLevels(input, H, W, box, tailPercent) {
  if (input.length !== H * W) throw new Error(`model input has ${input.length} values, expected ${H}x${W}`);
  const [x0, y0, x1, y1] = validRect(box, H, W);
  const counts = new Float64Array(256);
  for (let y = y0; y <= y1; y++) for (let x = x0; x <= x1; x++) counts[input[y * W + x]]++;
  let n = 0;
  for (const c of counts) n += c;
  let lo = 0, below = counts[0];
  while (100 * below <= tailPercent * n) below += counts[++lo];
  let hi = 255, above = counts[255];
  while (100 * above <= tailPercent * n) above += counts[--hi];
  return [lo, hi];
}

/** Why the input has too little contrast to measure, or '' (hc_tf's too_uniform_reason). */
export function tooUniformReason(input, H, W, box, { min_levels: minLevels, tail_percent: tailPercent }) {
  const [lo, hi] = contrastLevels(input, H, W, box, tailPercent);
  if (hi - lo >= minLevels) return '';
  return `image too uniform to measure: ${100 - 2 * tailPercent}% of its pixels lie in gray levels ${lo}-${hi}, a span of ${hi - lo} (at least ${minLevels} needed): a blank frame?`;
}
