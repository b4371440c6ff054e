// window.hcApp.benchmark: every bundled sample through the page's whole path, `n` times each,
// with the model alone timed beside it (tests/web_app_test.py's benchmark; the UI is the product,
// this is the same path).
import { Decoder } from '../core/decoder.js';
import { runModel, measureBlob } from '../core/pipeline.js';

const med = (v) => { const s = [...v].sort((a, b) => a - b), k = s.length >> 1; return s.length % 2 ? s[k] : (s[k - 1] + s[k]) / 2; };

export async function benchmark(model, n = 20) {
  const golden = await (await fetch('./assets/golden.json')).json();
  const out = { threads: model.threads, numThreads: model.numThreads, samples: {} };
  const benchDecoder = new Decoder();
  const stages = {}; // per stage (the result's timings: decode, letterbox, messages, model, measure, ...)
  for (const s of golden.samples) {
    const blob = await (await fetch(`./assets/samples/${s.filename}`)).blob();
    const modelMs = [], e2e = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      const r = await measureBlob(model, benchDecoder, blob, s.pixel_size_mm, s.filename);
      e2e.push(performance.now() - t);
      for (const [k, v] of Object.entries(r.timings)) (stages[k] ||= []).push(v);
      const t0 = performance.now();
      await runModel(model, r.input);
      modelMs.push(performance.now() - t0);
    }
    out.samples[s.filename] = { model_ms: med(modelMs), end_to_end_ms: med(e2e), model_runs: modelMs, end_to_end_runs: e2e };
  }
  benchDecoder.close();
  out.model_ms = med(Object.values(out.samples).map((v) => v.model_ms));
  out.end_to_end_ms = med(Object.values(out.samples).map((v) => v.end_to_end_ms));
  out.stages_ms = Object.fromEntries(Object.entries(stages).map(([k, v]) => [k, med(v)])); // over all runs
  return out;
}
