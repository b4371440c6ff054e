// The self-test: the golden samples through the page's whole path (worker decode included).
import { measureBlob } from '../core/pipeline.js';

/** How a measurement differs from its golden sample: mask, HC, GA, quality signals, review flag. */
export function goldenDifferences(r, s, tol) {
  if (r.mask_sha256 !== s.mask_sha256) return ['mask differs'];
  if (r.found !== s.found || r.reason !== s.reason) return ['found/reason differ'];
  if (!s.found) return [];
  const out = [];
  if (!(Math.abs(r.hc_mm - s.hc_mm) <= 1e-6)) out.push(`HC ${r.hc_mm} vs ${s.hc_mm} mm`);
  for (const [key, g] of Object.entries(s.gestational_age)) {
    const mine = r.gestational_age[key];
    const sameDays = g.ga_days === null ? mine.ga_days === null : Math.abs(mine.ga_days - g.ga_days) <= tol.ga_days;
    if (mine.status !== g.status || mine.ga !== g.ga || !sameDays) out.push(`GA (${key}) ${mine.ga ?? mine.status} vs ${g.ga ?? g.status}`);
  }
  for (const [name, v] of Object.entries(s.quality)) {
    if (v !== null && !(Math.abs(r.quality[name] - v) <= tol.quality)) out.push(`${name} ${r.quality[name]} vs ${v}`);
  }
  if (r.review !== s.review || r.review_reasons.join('|') !== s.review_reasons.join('|')) out.push('review flag differs');
  return out;
}

/** Runs (or, once passed for this build and browser, skips) the self-test; {pass, text}. */
export async function selfTest(model, decoder, golden, { key, force, onProgress }) {
  const n = golden.samples.length;
  if (!force && localStorage.getItem(key) === 'pass') return { pass: true, text: `Self-test passed on this browser (${n} golden samples; cached).` };
  const problems = [];
  for (const [i, s] of golden.samples.entries()) {
    onProgress?.(`Self-test: golden sample ${i + 1} of ${n}…`);
    const blob = await (await fetch(`./assets/samples/${s.filename}`)).blob();
    const r = await measureBlob(model, decoder, blob, s.pixel_size_mm, s.filename);
    problems.push(...goldenDifferences(r, s, golden.clinical_tolerance).map((p) => `${s.filename}: ${p}`));
  }
  if (problems.length) return { pass: false, text: `Self-test FAILED: this browser or CPU computes differently (${problems.join('; ')}). Measurements are not shown.` };
  localStorage.setItem(key, 'pass');
  return { pass: true, text: `Self-test passed: ${n} golden samples reproduced (mask checksum, HC within 1e-6 mm, GA, quality signals, review flag).` };
}
