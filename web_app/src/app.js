// The page: load + verify the model, self-test, then measure the images the user opens.
// Safety rules: a new image starts with no pixel size and no known GA unless they
// come with it (a bundled sample, a DICOM file's calibration) or "same patient, same settings"
// is ticked (for the next image only: ui/carry.js), and an image given kept values is measured
// only when the user presses Measure; nothing is measured without a pixel size; a change of
// image or pixel size clears the result; no report is offered while the known GA typed is
// refused; the latest choice wins (older work is cancelled or its result dropped).
import { loadModel, measurePrepared, decodeOptions, describeError, UserError } from './core/pipeline.js';
import { Decoder, CancelledError } from './core/decoder.js';
import { parsePixelSize, pixelSizeRange } from './core/units.js';
import { draw, clearResult, showCentile, showResult } from './ui/view.js';
import { wireCalibration } from './ui/calibrate.js';
import { selfTest } from './ui/selftest.js';
import { setUpOffline } from './ui/offline.js';
import { reportSaver } from './ui/saving.js';
import { showBatch, measureBatch, showExams } from './ui/batch.js';
import { wireExamDownloads, showExamReportsButton } from './ui/exam_reports.js';
import { takeCarried, sayCarried as sayKept, setPxSource } from './ui/carry.js';
import { gaProblem as gaRefused, offerReports as offer, batchMode } from './ui/offers.js';
import { resetDicomUi, dicomOpened, chosenFrame, overrideChanged, measureDicom, repreparer, } from './ui/dicom.js';
import { downloadStem } from './ui/download_names.js';
import { fieldError } from './ui/fields.js';

const $ = (id) => document.getElementById(id);
const APP_VERSION = '__VERSION__';
const params = new URLSearchParams(location.search);
const decoder = new Decoder();
// gen: bumped by every new choice (image, files); work started under an older gen is dropped.
// carried: the values "same patient, same settings" kept for this image ({px, ga}: text or null);
// pending: kept values not yet confirmed by a press of Measure (the image is not measured until then).
// frameSource: the open DICOM file while another of its frames decodes (state.image is null then).
const state = { model: null, trusted: false, gen: 0, image: null, frameSource: null, result: null, calib: null, batch: null, records: [], carried: { px: null, ga: null }, pending: false };

function setStatus(el, stateName, text) { el.dataset.state = stateName; el.textContent = text; }
function message(text) { $('message').textContent = text || ''; } // (the known GA's: ui/offers.js)
function busy(text) { $('busy').hidden = !text; $('busy-text').textContent = text || ''; document.body.dataset.busy = text ? '1' : '0'; }
const redraw = () => draw(state);
const threadsText = () => (state.model.threads ? `${state.model.numThreads} threads` : '1 thread');
const range = () => pixelSizeRange(state.model.meta);

/** Forgets the result on screen (and its ellipse); `why` says so where the user looks. */
function dropResult(stateName = 'none', why = '') {
  state.result = null; state.records = [];
  clearResult(stateName, why);
  redraw();
}

/** Says which values this image kept from the one before (ui/carry.js). */
const sayCarried = () => sayKept(state.carried, { pending: state.pending, batch: !!state.batch });
const gaProblem = () => (state.model ? gaRefused(state.model.meta.clinical) : '');
const offerReports = (announce = true) => offer(state, gaProblem(), { announce }); // (quiet while typing: ui/offers.js)

/** A new choice: older work is cancelled, the screen and (unless carried over) the inputs cleared. */
function startChoice(bundledPx) {
  state.gen += 1;
  decoder.forget(); // the worker keeps nothing of the last file
  state.image = null; state.frameSource = null; state.calib = null; state.batch = null;
  $('calib').hidden = true; $('batch').hidden = true; $('calibrate').disabled = true; $('measure-all').disabled = false;
  // The last batch's rows go, not only hidden: nothing of another patient's images stays in the page.
  $('batch-rows').replaceChildren(); $('exam-rows').replaceChildren(); $('batch-msg').textContent = ''; $('batch-copied').textContent = '';
  batchMode(false);
  resetDicomUi();
  message(''); busy(''); // the cancelled work's "Decoding…" or "Measuring…" is not this choice's
  dropResult('pending');
  state.carried = takeCarried(bundledPx); // the tick is used up
  fieldError('px', ''); fieldError('calib-mm', ''); offerReports(false); // (the GA's error: of the GA kept, if any)
  state.pending = state.carried.px !== null || state.carried.ga !== null;
  sayCarried();
  $('px-source').textContent = bundledPx !== null ? 'from the bundled sample' : '';
  return state.gen;
}

/** A bundled sample's bytes (throws in words when they cannot be read). */
async function sampleBlob(name) {
  const resp = await fetch(`./assets/samples/${name}`);
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  return resp.blob();
}

/**
 * Opens one image (`blob`, or a function that reads it: the screen is cleared first, so a file
 * that cannot be read leaves nothing of the previous one): decode (in the worker), show it,
 * measure when a pixel size is known.
 */
async function openImage(blob, name, { bundledPx = null, t0 = performance.now() } = {}) {
  const gen = startChoice(bundledPx);
  if (!state.model) { message('The model is not loaded yet.'); return; }
  if (typeof blob === 'function') {
    busy(`Reading ${name}…`);
    try { blob = await blob(); } catch (err) {
      if (gen !== state.gen) return;
      busy('');
      message(`The bundled sample ${name} could not be read: ${describeError(err)}`);
      if (bundledPx !== null) { $('px').value = ''; $('px-source').textContent = ''; } // its size, of no image
      dropResult('error');
      return;
    }
    if (gen !== state.gen) return;
  }
  busy(`Decoding ${name}…`);
  let prep;
  try {
    prep = await decoder.decode(blob, name, decodeOptions(state.model));
  } catch (err) {
    if (err instanceof CancelledError || gen !== state.gen) return;
    busy('');
    message(err instanceof UserError ? err.message : `Could not open ${name}: ${describeError(err)}`);
    dropResult('error');
    return;
  }
  if (gen !== state.gen) return;
  busy('');
  state.image = { name, prep, t0, blob };
  $('calibrate').disabled = !!prep.dicom;
  const note = prep.dicom ? dicomOpened(prep, name) : null;
  if (prep.dicom?.filePx != null) { state.carried.px = null; setPxSource('file'); } // the file's own pixel size replaced it
  else if (!$('px').value.trim()) setPxSource('');
  sayCarried();
  await showPrepared(prep, name, note);
}

/** Draws a decoded image and measures it when a pixel size is known (else asks for one). */
async function showPrepared(prep, name, note) {
  // The image's prep when it is drawn: a dual pane's measurement may have replaced `prep`.
  const showImage = () => {
    const shown = state.image?.prep;
    if (shown?.preview) { redraw(); return; }
    shown?.requestPreview?.().then((p) => { if (p && state.image?.prep === shown) redraw(); });
  };
  redraw();
  // With a pixel size, the image is drawn with its result (measured first: ~5 ms sooner), else now.
  // Kept values (same patient) wait for the user's Measure: never measured unasked.
  if ($('px').value.trim() && !state.pending) { await measure(); showImage(); }
  else if ($('px').value.trim()) { showImage(); clearResult('needs-measure'); sayCarried(); if (note) message(note); }
  else { showImage(); clearResult('needs-pixel-size'); message(note ?? `Enter the pixel size of ${name} in mm (or calibrate it on the depth scale), then Measure.`); }
}

/**
 * Another frame of the open multi-frame DICOM file (as `hc-tf predict --frame N`): decoded and
 * measured with its own calibration. The known GA stays (the same file); an override does not.
 */
async function openFrame() {
  const img = state.image ?? state.frameSource; // (null while another frame decodes: that one's file)
  if (!img?.prep.dicom) return;
  let frame;
  try { frame = chosenFrame($('frame').value, img.prep, img.name); } catch (err) { message(err.message); dropResult('error'); return; }
  if (state.image && frame === img.prep.dicom.frame) return; // the frame on screen already
  state.gen += 1;
  const gen = state.gen;
  decoder.cancel();
  state.frameSource = img; state.image = null; state.calib = null; $('calib').hidden = true;
  dropResult('none'); message('');
  busy(`Decoding frame ${frame} of ${img.name}…`);
  let prep;
  try {
    prep = await decoder.decode(img.blob, img.name, { ...decodeOptions(state.model), frame });
  } catch (err) {
    if (err instanceof CancelledError || gen !== state.gen) return;
    busy('');
    message(err instanceof UserError ? err.message : `Could not open frame ${frame} of ${img.name}: ${describeError(err)}`);
    dropResult('error');
    return;
  }
  if (gen !== state.gen) return;
  busy('');
  state.image = { ...img, prep, t0: performance.now() }; state.frameSource = null;
  resetDicomUi();
  await showPrepared(prep, img.name, dicomOpened(prep, img.name));
}

/**
 * Measures the image on screen with the pixel size typed; shows it only if both are unchanged.
 * `asked`: by the user (Measure, Enter): a refused pixel size takes the focus.
 */
async function measure({ asked = false } = {}) {
  message('');
  const img = state.image, gen = state.gen;
  if (!img) { message('Open an image first.'); return; }
  const text = $('px').value;
  let px;
  try { px = parsePixelSize(text, range()); } catch (err) {
    message(err.message); fieldError('px', err.message); if (asked) $('px').focus();
    dropResult('error'); return;
  }
  fieldError('px', '');
  busy(`Measuring ${img.name}…`);
  let r;
  try {
    // A dual pane's second pass letterboxes the frame again (the worker kept its pixels), the model seeing the head's pane.
    r = await (img.prep.dicom ? measureDicom(state.model, img.prep, px, repreparer(decoder, state.model, img.blob, img.name, img.prep.dicom.frame))
      : measurePrepared(state.model, img.prep, px));
  } catch (err) {
    if (gen === state.gen) { busy(''); message(err instanceof UserError ? err.message : `Measurement failed: ${describeError(err)}`); dropResult('error'); }
    return;
  }
  if (gen !== state.gen || state.image !== img) return; // a newer choice (it cleared the busy note)
  if ($('px').value !== text) { busy(''); return; } // the input moved on: nothing is being measured
  if (r.pixel_size_choice && $('px').readOnly) $('px').value = String(r.pixel_size_mm); // the head's region
  if (r.prep && r.prep !== img.prep) { // a dual pane's: the same frame, the pane the model saw
    r.prep.preview ??= img.prep.preview; // the whole frame either way
    img.prep = r.prep;
  }
  busy('');
  state.result = r; state.stem = downloadStem(); // its files' names (none of the image's: ui/download_names.js)
  redraw();
  showResult(state.model.meta.clinical, r, { name: img.name, trusted: state.trusted, shownMs: performance.now() - img.t0, threadsText: threadsText() });
  $('dl-fhir').hidden = !(img.prep.dicom && r.found && state.trusted);
  offerReports();
  img.t0 = performance.now(); // a later Measure counts from its click
}

/** Measure pressed (or Enter, or a calibration applied): the kept values are confirmed; timed from now. */
function measureAsked() {
  if (state.batch) return; // (hidden in batch mode: each row has its own pixel size)
  if (state.image) state.image.t0 = performance.now();
  state.pending = false;
  sayCarried();
  measure({ asked: true }); // (its pixel size is checked before it awaits anything)
  // The known GA refused (announced with the result): the focus goes where it is corrected.
  if (!$('px').hasAttribute('aria-invalid') && gaProblem()) $('known-ga').focus();
}

const { reportRecords, saveReport } = reportSaver({ state, gaProblem, offerReports: () => offerReports(), message });

async function openFiles(files, t0) {
  $('sample').value = '';
  if (files.length === 1) { await openImage(files[0], files[0].name, { t0 }); return; }
  const gen = startChoice(null);
  const b = state.batch = { files, gen, records: null };
  state.carried.px = null; state.pending = false; sayCarried(); // each row takes its own pixel size: none is kept for them
  batchMode(true);
  clearResult('none'); message('');
  showBatch(files, () => { // a row's pixel size edited: no report of the old sizes is offered
    if (state.batch !== b || !b.records) return;
    b.records = null; b.exams = [];
    $('batch-downloads').hidden = true; $('exams').hidden = true; $('batch-copied').textContent = '';
    $('batch-msg').textContent = 'A pixel size changed: Measure all again for the results and the report.';
  });
}

/** The batch's exams (the table and exams.csv) of its records with the known GA typed, as predict's --ga-weeks. */
function examsOf(b) {
  if (state.batch !== b || !b.records) return [];
  return showExams(state.model.meta.clinical, reportRecords());
}

async function measureAll() {
  const b = state.batch;
  // One pass at a time: a second one's decodes would cancel the first's, which then cleared the busy note and report.
  if (!b || b.running) return;
  b.running = true; $('measure-all').disabled = true;
  if (gaProblem()) $('known-ga').focus(); // refused: announced with the results; corrected there
  try {
    b.records = null; b.exams = []; $('batch-downloads').hidden = true; $('exams').hidden = true; $('batch-copied').textContent = '';
    busy(`Measuring ${b.files.length} images…`);
    const recs = await measureBatch(b.files, { model: state.model, decoder, trusted: state.trusted, isCurrent: () => state.batch === b && state.gen === b.gen });
    if (state.batch !== b) return;
    b.records = recs?.records ?? null; b.stem = downloadStem(); // its files' names
    b.unreadable = recs?.unreadable ?? []; b.studyTimes = recs?.studyTimes ?? new Map();
    b.exams = b.records ? examsOf(b) : [];
    showExamReportsButton(b.records, state.trusted);
    offerReports();
  } finally {
    b.running = false;
    if (state.batch === b) { $('measure-all').disabled = false; busy(''); } // a newer choice has its own button and note
  }
}

function wireUi(golden) {
  $('file').addEventListener('change', (ev) => {
    const t0 = performance.now(), fs = [...ev.target.files];
    ev.target.value = ''; // emptied (its files taken first): the same file picked again fires change
    if (fs.length) openFiles(fs, t0);
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  document.addEventListener('dragover', (ev) => ev.preventDefault());
  document.addEventListener('drop', (ev) => {
    const t0 = performance.now();
    ev.preventDefault(); drop.classList.remove('over');
    const fs = [...(ev.dataTransfer?.files || [])];
    if (fs.length) openFiles(fs, t0);
  });
  $('measure').addEventListener('click', measureAsked);
  $('px').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') measureAsked(); });
  // An edited pixel size makes the result on screen not this input's: it goes.
  $('px').addEventListener('input', () => {
    if (state.result && $('px').value.trim() !== String(state.result.pixel_size_mm)) {
      dropResult('stale', 'The pixel size changed: press Measure for a result with the new value.');
    }
  });
  $('known-ga').addEventListener('input', () => {
    $('copied').textContent = ''; $('batch-copied').textContent = ''; // the report now has another known GA than the one copied
    sayCarried();
    showCentile(state.model.meta.clinical, state.result, state.trusted);
    if (state.batch?.records) state.batch.exams = examsOf(state.batch); // the exams' centile is of the GA typed now
    offerReports(false); // checked quietly while typing ...
  });
  $('known-ga').addEventListener('change', () => offerReports()); // ... and a refusal announced once (Enter, or leaving the field)
  for (const s of golden.samples) $('sample').append(new Option(`${s.filename} (${s.pixel_size_mm.toFixed(4)} mm/px)`, s.filename));
  $('sample').addEventListener('change', async (ev) => {
    const t0 = performance.now();
    const s = golden.samples.find((x) => x.filename === ev.target.value);
    if (!s) return;
    await openImage(() => sampleBlob(s.filename), s.filename, { bundledPx: s.pixel_size_mm, t0 });
  });
  $('measure-all').addEventListener('click', measureAll);
  $('dl-fhir').addEventListener('click', () => saveReport('fhir'));
  wireExamDownloads(() => state, reportRecords);
  for (const k of ['csv', 'json', 'copy']) {
    $(`dl-${k}`).addEventListener('click', () => saveReport(k));
    $(`batch-dl-${k}`).addEventListener('click', () => saveReport(k));
  }
  $('px-override').addEventListener('change', () => {
    overrideChanged(state.image?.prep);
    if ($('px').readOnly) setPxSource('file'); // the file's value back
    if (state.result) dropResult('stale', 'The pixel size source changed: press Measure for a result with it.');
  });
  $('frame').addEventListener('change', openFrame);
  // Unticked: nothing is kept for the next image; this image's kept values (still in use) are still said.
  $('px').addEventListener('input', () => { fieldError('px', ''); $('px-source').textContent = ''; delete $('px-source').dataset.source; setPxSource('typed'); sayCarried(); });
  wireCalibration({ state, redraw, range, message, measure: () => { setPxSource('typed'); measureAsked(); } });
}

async function main() {
  const threadsParam = params.get('threads');
  try {
    state.model = await loadModel('./assets/', { threads: threadsParam === null ? null : threadsParam !== '0' });
  } catch (err) {
    setStatus($('status'), 'error', `The model could not be loaded: ${describeError(err)}`);
    setStatus($('summary'), 'error', `Not ready: the model could not be loaded (${describeError(err)}).`);
    setUpOffline(APP_VERSION, params.get('sw') === '0');
    return;
  }
  const m = state.model;
  setStatus($('status'), 'ready', `Model ${m.meta.model_version}, ${m.W}x${m.H}, sha256 ${m.sha256.slice(0, 12)}… verified; ${m.threads ? `${m.numThreads} threads (cross-origin isolated)` : 'single thread'}.`);
  let golden;
  try { golden = await (await fetch('./assets/golden.json')).json(); } catch (err) {
    setStatus($('summary'), 'error', `Not ready: the self-test's golden samples could not be read (${describeError(err)}).`);
    return;
  }
  const key = `hc-tf-selftest:${APP_VERSION}:${m.threads ? 't' : 's'}:${navigator.userAgent}`;
  setStatus($('selftest'), 'running', 'Self-test: running the golden samples…');
  busy('Self-test…');
  const stDecoder = new Decoder();
  const st = await selfTest(m, stDecoder, golden, { key, force: params.get('selftest') === '1', onProgress: busy })
    .catch((err) => ({ pass: false, text: `Self-test could not run: ${describeError(err)}` }));
  stDecoder.close();
  busy('');
  state.trusted = st.pass;
  setStatus($('selftest'), st.pass ? 'pass' : 'fail', st.text);
  setStatus($('summary'), st.pass ? 'pass' : 'fail', st.pass ? 'Ready: self-test passed.' : 'Self-test failed: no measurements are shown (see About).');
  wireUi(golden); // only now: a choice made during the self-test would be measured untrusted
  for (const id of ['measure', 'file', 'sample']) $(id).disabled = false;
  document.body.dataset.ready = '1';
  setUpOffline(APP_VERSION, params.get('sw') === '0');
}

// For tests and benchmarks (the UI is the product; this is the same path).
window.hcApp = {
  get model() { return state.model; },
  get trusted() { return state.trusted; },
  benchmark: async (n = 20) => (await import('./ui/bench.js')).benchmark(state.model, n),
};

main();
