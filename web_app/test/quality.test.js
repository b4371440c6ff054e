// The quality signals on a head cut by the image edge: the same head, cut by the same share,
// must get the same mask-vs-ellipse Dice whether or not the letterbox pads the cut edge
// (hc_tf/measure/quality.py counts the Dice, like the band, inside the image area only).
import test from 'node:test';
import assert from 'node:assert/strict';
import { measure } from '../src/core/measure/index.js';
import { letterboxTransform } from '../src/core/preprocess.js';
import { validRect } from '../src/core/measure/contour.js';
import { visitEllipseOnModelGrid } from '../src/core/quality.js';
import { reviewFlag } from '../src/core/clinical.js';
import { loadJson } from './helpers.js';

const spec = loadJson('hc_effunet_int8.json').clinical;
const [H, W] = [224, 320];

/** The filled ellipse (original px) of an srcH x srcW image on the model grid: 1 inside the
 * ellipse and the image, 0 elsewhere (the padding is empty, as a letterboxed mask is). */
function cutHead(srcH, srcW, e) {
  const box = letterboxTransform(srcH, srcW, H, W);
  const [x0, y0, x1, y1] = validRect(box, H, W);
  const prob = new Float32Array(H * W);
  visitEllipseOnModelGrid(e, box, H, W, (i, j, f) => {
    if (f <= 0 && j >= x0 && j <= x1 && i >= y0 && i <= y1) prob[i * W + j] = 1;
  });
  const m = measure(prob, H, W, box, 0.1);
  return { box, m, flag: reviewFlag(spec, m.quality) };
}

for (const [edge, padded, unpadded] of [
  // the tall image is padded left and right (84 px), the wide one is not
  ['left', [800, 540, { cx: 60, cy: 400, a: 150, b: 110, angle: 0 }],
    [540, 800, { cx: 60, cy: 270, a: 150, b: 110, angle: 0 }]],
  // the wide image is padded top and bottom (4 px), the tall one is not
  ['top', [540, 800, { cx: 400, cy: 60, a: 150, b: 110, angle: Math.PI / 2 }],
    [800, 540, { cx: 270, cy: 60, a: 150, b: 110, angle: Math.PI / 2 }]],
]) {
  test(`a head cut at the ${edge} edge: the same Dice, no mask flag, padded or not`, () => {
    const p = cutHead(...padded), u = cutHead(...unpadded);
    assert.ok(edge === 'left' ? p.box.offset_x > 0 && u.box.offset_x === 0 : p.box.offset_y > 0 && u.box.offset_y === 0);
    for (const r of [p, u]) {
      assert.ok(r.m.found, r.m.reason);
      assert.ok(r.m.quality.outside_fraction > 0.3, JSON.stringify(r.m.quality));
      assert.ok(r.m.quality.mask_ellipse_dice > 0.995, JSON.stringify(r.m.quality));
      assert.ok(!r.flag.reasons.includes('mask does not match its ellipse'), r.flag.reasons.join('; '));
      assert.ok(r.flag.reasons.includes('head cut by the image edge'), r.flag.reasons.join('; '));
    }
    assert.ok(Math.abs(p.m.quality.mask_ellipse_dice - u.m.quality.mask_ellipse_dice) <= 0.002);
  });
}
