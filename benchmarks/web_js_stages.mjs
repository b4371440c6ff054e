// The web app's non-model JS stages on the bundled samples, in Node (V8, as Chromium's): gray,
// letterbox, dequantize, measure (outline, fit, quality signals). Median ms per stage per image.
//   node --single-threaded benchmarks/web_js_stages.mjs [--n 40]
// (--single-threaded: Node 20 can hang as it exits, nodejs/node#54918; medians within 5% of
// those without it, Intel Xeon)
// Node has no image decoder: the PNG is decoded by the tests' helper (not timed). The browser's
// own breakdown (read, inflate, row filters, letterbox, messages, model, measure, ...):
// hcApp.benchmark()'s stages_ms (tests/web_app_test.py's benchmark writes it).
import path from 'node:path';
import { decodePng, loadJson, unz, BUNDLE } from '../web_app/test/helpers.js';
import { toGray, letterboxImage } from '../web_app/src/core/preprocess.js';
import { measure, dequantize } from '../web_app/src/core/measure/index.js';

const n = Number(process.argv[process.argv.indexOf('--n') + 1]) || 40;
const golden = loadJson('postprocess_golden.json');
const med = (v) => { const s = [...v].sort((a, b) => a - b); return s[s.length >> 1]; };
const times = {};
const time = (name, fn) => { const t = performance.now(); const r = fn(); (times[name] ||= []).push(performance.now() - t); return r; };

for (let i = 0; i < n; i++) {
  for (const c of golden.samples) {
    const png = decodePng(path.join(BUNDLE, 'samples', c.name));
    const rgba = new Uint8Array(png.width * png.height * 4);
    for (let k = 0; k < png.width * png.height; k++) {
      const v = png.data[k * png.channels];
      rgba[4 * k] = v; rgba[4 * k + 1] = v; rgba[4 * k + 2] = v; rgba[4 * k + 3] = 255;
    }
    const gray = time('gray (RGBA)', () => toGray(rgba, png.width, png.height, 4));
    const [H, W] = c.hw;
    time('letterbox', () => letterboxImage(gray, png.width, png.height, H, W));
    const q = unz(c.q);
    const prob = time('dequantize', () => dequantize(q, 0.00390625, 0));
    time('measure (with quality)', () => measure(prob, H, W, c.box, c.pixel_size_mm));
  }
}
const out = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, +med(v).toFixed(3)]));
console.log(JSON.stringify({ node: process.version, n_per_image: n, median_ms: out }, null, 1));
