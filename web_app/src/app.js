// The page: load + verify the model, self-test against golden.json, measure user images.
import { loadModel, measureBlob, UserError } from './core/pipeline.js';
import { MIN_PIXEL_MM, MAX_PIXEL_MM, parsePixelSize } from './core/units.js';
import { gaLine, hcCentile, reviewText } from './core/clinical.js';

const $ = (id) => document.getElementById(id);
const APP_VERSION = '__VERSION__';
const params = new URLSearchParams(location.search);
const state = { model: null, trusted: false, image: null, result: null, calib: null };

function setStatus(el, stateName, text) { el.dataset.state = stateName; el.textContent = text; }
function message(text) { $('message').textContent = text || ''; }

async function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || params.get('sw') === '0') return;
  try {
    await navigator.serviceWorker.register('./sw.js');
    await navigator.serviceWorker.ready;
    // The first load's files came from the network before the worker ran: cache the ones used.
    const cache = await caches.open(`hc-tf-${APP_VERSION}`);
    const urls = performance.getEntriesByType('resource').map((e) => e.name)
      .filter((u) => new URL(u).origin === location.origin && !u.includes('?'));
    await Promise.all(urls.map(async (u) => { if (!(await cache.match(u))) await cache.add(u); }));
  } catch (err) {
    console.warn('service worker not available:', err);
  }
}

/** How a measurement differs from its golden sample: mask, HC, GA, quality signals, review flag. */
function goldenDifferences(r, s, tol) {
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

async function selfTest() {
  const golden = await (await fetch('./assets/golden.json')).json();
  const key = `hc-tf-selftest:${APP_VERSION}:${state.model.threads ? 't' : 's'}:${navigator.userAgent}`;
  if (localStorage.getItem(key) === 'pass' && params.get('selftest') !== '1') {
    setStatus($('selftest'), 'pass', `Self-test passed on this browser (${golden.samples.length} golden samples; cached).`);
    return true;
  }
  setStatus($('selftest'), 'running', 'Self-test: running the golden samples…');
  const problems = [];
  for (const s of golden.samples) {
    const blob = await (await fetch(`./assets/samples/${s.filename}`)).blob();
    const r = await measureBlob(state.model, blob, s.pixel_size_mm, s.filename);
    problems.push(...goldenDifferences(r, s, golden.clinical_tolerance).map((p) => `${s.filename}: ${p}`));
  }
  if (problems.length) {
    setStatus($('selftest'), 'fail', `Self-test FAILED: this browser or CPU computes differently (${problems.join('; ')}). Measurements are not shown.`);
    return false;
  }
  localStorage.setItem(key, 'pass');
  setStatus($('selftest'), 'pass', `Self-test passed: ${golden.samples.length} golden samples reproduced (mask checksum, HC within 1e-6 mm, GA, quality signals, review flag).`);
  return true;
}

function draw() {
  const cv = $('view');
  const ctx = cv.getContext('2d');
  if (!state.image) return;
  const { gray, width, height } = state.image;
  cv.width = width; cv.height = height;
  const img = ctx.createImageData(width, height);
  for (let i = 0; i < gray.length; i++) { const v = gray[i]; img.data.set([v, v, v, 255], i * 4); }
  ctx.putImageData(img, 0, 0);
  const lw = Math.max(2, Math.round(Math.max(width, height) / 300));
  const r = state.result;
  if (r && r.found && state.trusted) {
    const e = r.ellipse;
    ctx.strokeStyle = '#00ff66'; ctx.lineWidth = lw;
    ctx.beginPath(); ctx.ellipse(e.cx + 0.5, e.cy + 0.5, e.a, e.b, e.angle, 0, 2 * Math.PI); ctx.stroke();
  }
  if (state.calib) {
    ctx.fillStyle = '#ffcc00'; ctx.strokeStyle = '#ffcc00'; ctx.lineWidth = lw;
    for (const [x, y] of state.calib.points) { ctx.beginPath(); ctx.arc(x + 0.5, y + 0.5, 2 * lw, 0, 2 * Math.PI); ctx.fill(); }
    if (state.calib.points.length === 2) {
      const [[x0, y0], [x1, y1]] = state.calib.points;
      ctx.beginPath(); ctx.moveTo(x0 + 0.5, y0 + 0.5); ctx.lineTo(x1 + 0.5, y1 + 0.5); ctx.stroke();
    }
  }
}

function clearClinical() {
  const box = $('result');
  delete box.dataset.review;
  delete box.dataset.reviewReasons;
  $('review').textContent = '';
  $('ga').replaceChildren();
  $('centile').textContent = '';
  delete $('centile').dataset.state;
}

/** GA by both formulas, the review flag and (with a known GA typed) the HC centile. */
function showClinical(r) {
  const spec = state.model.meta.clinical;
  const box = $('result');
  box.dataset.review = String(r.review);
  box.dataset.reviewReasons = r.review_reasons.join('; ');
  $('review').textContent = reviewText({ review: r.review, reasons: r.review_reasons });
  $('ga').replaceChildren(...Object.entries(r.gestational_age).map(([key, g]) => {
    const li = document.createElement('li');
    li.dataset.method = key;
    li.dataset.status = g.status;
    li.textContent = `GA ${gaLine(spec, g)}`;
    return li;
  }));
  showCentile();
}

/** The HC centile for the known GA typed (nothing when empty; the entry error when it is bad). */
function showCentile() {
  const out = $('centile'), r = state.result, text = $('known-ga').value.trim();
  delete out.dataset.state;
  out.textContent = '';
  if (!text || !r || !r.found || !state.trusted) return;
  try {
    const c = hcCentile(state.model.meta.clinical, r.hc_mm, text);
    out.dataset.state = c.status;
    out.textContent = `At ${c.ga} weeks (INTERGROWTH-21st): HC ${c.display}`;
  } catch (err) {
    out.dataset.state = 'error';
    out.textContent = err.message;
  }
}

function showResult(r) {
  const box = $('result');
  state.result = r;
  box.dataset.state = r.found ? 'found' : 'not-found';
  box.dataset.maskSha256 = r.mask_sha256;
  box.dataset.name = state.image.name;
  box.dataset.pixelSizeMm = String(r.pixel_size_mm);
  const t = r.timings;
  $('timing').textContent = `Time: ${t.total_ms.toFixed(0)} ms (decode ${t.decode_ms.toFixed(0)}, letterbox ${t.letterbox_ms.toFixed(0)}, model ${t.model_ms.toFixed(0)}, fit ${t.measure_ms.toFixed(0)} ms; ${state.model.threads ? `${state.model.numThreads} threads` : '1 thread'})`;
  clearClinical();
  if (!state.trusted) {
    box.dataset.state = 'untrusted';
    $('hc').textContent = 'No measurement: the self-test did not pass on this browser.';
    $('details').textContent = '';
  } else if (r.found) {
    box.dataset.hcMm = String(r.hc_mm);
    const e = r.ellipse;
    $('hc').textContent = `HC ${r.hc_mm.toFixed(1)} mm`;
    showClinical(r);
    $('details').textContent = `Ellipse (px): centre ${e.cx.toFixed(1)}, ${e.cy.toFixed(1)}; semi-axes ${e.a.toFixed(1)} x ${e.b.toFixed(1)}; angle ${(e.angle * 180 / Math.PI).toFixed(1)}°. Pixel size ${r.pixel_size_mm} mm.`;
  } else {
    delete box.dataset.hcMm;
    $('hc').textContent = 'No head found';
    $('details').textContent = r.reason;
  }
  draw();
}

async function runMeasure() {
  message('');
  if (!state.image) { message('Open an image first.'); return; }
  let px;
  try { px = parsePixelSize($('px').value); } catch (err) { message(err.message); $('result').dataset.state = 'error'; return; }
  try {
    showResult(await measureBlob(state.model, state.image.blob, px, state.image.name));
  } catch (err) {
    message(err instanceof UserError ? err.message : `Measurement failed: ${err.message}`);
    $('result').dataset.state = 'error';
  }
}

async function openFile(blob, name, pixelSize = null) {
  message('');
  state.result = null; state.calib = null; $('calib').hidden = true;
  $('result').dataset.state = 'none';
  clearClinical();
  for (const id of ['hc', 'details', 'timing']) $(id).textContent = '';
  try {
    const { decodeToGray } = await import('./core/pipeline.js');
    const img = await decodeToGray(blob, name);
    state.image = { ...img, blob, name };
    $('calibrate').disabled = false;
    if (pixelSize !== null) $('px').value = String(pixelSize);
    draw();
    if ($('px').value.trim() && state.model) await runMeasure();
  } catch (err) {
    state.image = null;
    message(err instanceof UserError ? err.message : `Could not open ${name}: ${err.message}`);
    $('result').dataset.state = 'error';
  }
}

function canvasPoint(ev) {
  const cv = $('view'), r = cv.getBoundingClientRect();
  return [(ev.clientX - r.left) * (cv.width / r.width) - 0.5, (ev.clientY - r.top) * (cv.height / r.height) - 0.5];
}

function wireUi(golden) {
  $('file').addEventListener('change', (ev) => { const f = ev.target.files[0]; if (f) openFile(f, f.name); });
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  document.addEventListener('dragover', (ev) => ev.preventDefault());
  document.addEventListener('drop', (ev) => {
    ev.preventDefault(); drop.classList.remove('over');
    const f = ev.dataTransfer?.files?.[0];
    if (f) openFile(f, f.name);
  });
  $('measure').addEventListener('click', runMeasure);
  $('px').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') runMeasure(); });
  $('known-ga').addEventListener('input', showCentile);
  for (const s of golden.samples) $('sample').append(new Option(`${s.filename} (${s.pixel_size_mm.toFixed(4)} mm/px)`, s.filename));
  $('sample').addEventListener('change', async (ev) => {
    const s = golden.samples.find((x) => x.filename === ev.target.value);
    if (s) await openFile(await (await fetch(`./assets/samples/${s.filename}`)).blob(), s.filename, s.pixel_size_mm);
  });
  $('calibrate').addEventListener('click', () => {
    state.calib = { points: [] }; $('calib').hidden = false; $('calib-mm').value = '';
    $('calib-msg').textContent = 'Click two points of the depth scale, then type their distance in mm.';
    draw();
  });
  $('calib-cancel').addEventListener('click', () => { state.calib = null; $('calib').hidden = true; draw(); });
  $('view').addEventListener('click', (ev) => {
    if (!state.calib) return;
    if (state.calib.points.length === 2) state.calib.points = [];
    state.calib.points.push(canvasPoint(ev));
    const n = state.calib.points.length;
    if (n === 2) {
      const [[x0, y0], [x1, y1]] = state.calib.points;
      state.calib.distPx = Math.hypot(x1 - x0, y1 - y0);
      $('calib-msg').textContent = `Distance ${state.calib.distPx.toFixed(1)} px. Its length in mm:`;
      $('calib-mm').focus();
    }
    draw();
  });
  $('calib-apply').addEventListener('click', () => {
    const c = state.calib;
    if (!c || c.points.length !== 2 || !(c.distPx >= 5)) { message('Click two points at least 5 pixels apart on the depth scale first.'); return; }
    const mm = Number($('calib-mm').value.trim().replace(',', '.'));
    if (!Number.isFinite(mm) || mm <= 0) { message('Type the distance between the two points in mm (a positive number).'); return; }
    const px = mm / c.distPx;
    if (px < MIN_PIXEL_MM || px > MAX_PIXEL_MM) { message(`That gives ${px.toPrecision(3)} mm per pixel, outside ${MIN_PIXEL_MM}–${MAX_PIXEL_MM} mm: check the points and the distance.`); return; }
    $('px').value = px.toPrecision(6);
    state.calib = null; $('calib').hidden = true; message('');
    runMeasure();
  });
}

async function main() {
  const threadsParam = params.get('threads');
  try {
    state.model = await loadModel('./assets/', { threads: threadsParam === null ? null : threadsParam !== '0' });
  } catch (err) {
    setStatus($('status'), 'error', `The model could not be loaded: ${err.message}`);
    return;
  }
  const m = state.model;
  setStatus($('status'), 'ready', `Model ready: ${m.meta.model_version}, ${m.W}x${m.H}, sha256 ${m.sha256.slice(0, 12)}… verified; ${m.threads ? `${m.numThreads} threads (cross-origin isolated)` : 'single thread'}.`);
  const golden = await (await fetch('./assets/golden.json')).json();
  wireUi(golden);
  state.trusted = await selfTest().catch((err) => { setStatus($('selftest'), 'fail', `Self-test could not run: ${err.message}`); return false; });
  $('measure').disabled = false;
  document.body.dataset.ready = '1';
  registerServiceWorker();
}

// For tests and benchmarks (the UI is the product; this is the same path).
window.hcApp = {
  get model() { return state.model; },
  get trusted() { return state.trusted; },
  async benchmark(n = 20) {
    const { runModel } = await import('./core/pipeline.js');
    const { letterboxImage } = await import('./core/preprocess.js');
    const golden = await (await fetch('./assets/golden.json')).json();
    const med = (v) => { const s = [...v].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
    const out = { threads: state.model.threads, numThreads: state.model.numThreads, samples: {} };
    for (const s of golden.samples) {
      const blob = await (await fetch(`./assets/samples/${s.filename}`)).blob();
      const model = [], e2e = [];
      for (let i = 0; i < n; i++) {
        const r = await measureBlob(state.model, blob, s.pixel_size_mm, s.filename);
        e2e.push(r.timings.total_ms);
        const { input } = letterboxImage(r.gray, r.width, r.height, state.model.H, state.model.W);
        const t0 = performance.now();
        await runModel(state.model, input);
        model.push(performance.now() - t0);
      }
      out.samples[s.filename] = { model_ms: med(model), end_to_end_ms: med(e2e) };
    }
    out.model_ms = med(Object.values(out.samples).map((v) => v.model_ms));
    out.end_to_end_ms = med(Object.values(out.samples).map((v) => v.end_to_end_ms));
    return out;
  },
};

main();
