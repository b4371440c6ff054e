// The port's contrast check against the Python reference (hc_tf.measure.image_contrast):
// lo, hi and the reason identical on every golden input, limits from the bundle metadata.
import test from 'node:test';
import assert from 'node:assert/strict';
import { contrastLevels, tooUniformReason } from '../src/core/measure/index.js';
import { loadJson, unz } from './helpers.js';

const golden = loadJson('postprocess_golden.json');
const limits = loadJson('hc_effunet_int8.json').input_limits.contrast;

for (const c of golden.contrast) {
  test(`contrast: ${c.name} (${c.what})`, () => {
    const [H, W] = c.hw;
    const input = unz(c.input);
    assert.deepEqual(contrastLevels(input, H, W, c.box, limits.tail_percent), [c.lo, c.hi]);
    assert.equal(tooUniformReason(input, H, W, c.box, limits), c.reason ?? ''); // null: measured
  });
}

test('contrast goldens cover a refusal and a pass', () => {
  assert.ok(golden.contrast.some((c) => c.reason) && golden.contrast.some((c) => c.reason === null));
});
