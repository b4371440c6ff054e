// The port's gray conversion and letterbox against the Python reference's vectors: exact.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { toGray, letterboxImage, letterboxTransform, resizeU8 } from '../src/core/preprocess.js';
import { loadJson, unz, sha256, decodePng, BUNDLE } from './helpers.js';

const golden = loadJson('postprocess_golden.json');

function firstDiff(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return `byte ${i}: ${a[i]} vs ${b[i]}`;
  return a.length === b.length ? null : `length ${a.length} vs ${b.length}`;
}

for (const c of golden.gray) {
  test(`gray: ${c.name}`, () => {
    const gray = toGray(unz(c.data), c.width, c.height, c.channels);
    assert.equal(firstDiff(gray, unz(c.gray)), null);
    assert.equal(sha256(gray), c.gray_sha256);
  });
}

for (const c of golden.letterbox) {
  test(`letterbox: ${c.name} (${c.what})`, () => {
    const [h0, w0] = c.src_hw, [h, w] = c.dst_hw;
    const { input, box } = letterboxImage(unz(c.image), w0, h0, h, w);
    assert.deepEqual(box, c.box);
    assert.equal(firstDiff(input, unz(c.input)), null);
    assert.equal(sha256(input), c.input_sha256);
  });
}

test('letterbox vectors cover every resize path', () => {
  const paths = new Set(golden.letterbox.map((c) => c.interpolation));
  assert.ok(paths.has('area') && paths.has('linear'));
});

test('letterbox_transform rounds half to even like Python round()', () => {
  // 5 px * 0.5 = 2.5 -> 2 (half to even), 7 * 0.5 = 3.5 -> 4
  assert.equal(letterboxTransform(10, 5, 5, 100).scale_x, 2 / 5);
  assert.equal(letterboxTransform(14, 7, 7, 100).scale_x, 4 / 7);
  assert.throws(() => letterboxTransform(0, 5, 5, 5), /positive/);
});

test('resize of an unchanged size is a copy', () => {
  const img = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
  assert.deepEqual(resizeU8(img, 4, 3, 4, 3, 'area'), img);
});

for (const s of golden.samples) {
  test(`bundled sample ${s.name}: decode -> gray -> letterbox bytes as Python`, () => {
    const png = decodePng(path.join(BUNDLE, 'samples', s.name));
    const gray = toGray(png.data, png.width, png.height, png.channels);
    assert.equal(sha256(gray), s.gray_sha256);
    const { input, box } = letterboxImage(gray, png.width, png.height, s.hw[0], s.hw[1]);
    assert.deepEqual(box, s.box);
    assert.equal(sha256(input), s.input_sha256);
  });
}
