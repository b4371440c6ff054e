// Several images in one go: a table, one row per image, each with its own pixel size and the
// same checks as one image (limits, decode, self-test, review flag). A DICOM file's row takes its
// pixel size from the file, as `hc-tf predict` does (a typed one must agree with it); every frame
// of a multi-frame file is measured, each its own row named as predict names it ("scan.dcm#2");
// their study and series group them into an exam.
import { measurePrepared, decodeOptions } from '../core/pipeline.js';
import { DICOM_EXTENSIONS } from '../core/dicom/file.js';
import { measureDicomFrame, frameFilename, repreparer } from './dicom.js';
import { parsePixelSize } from '../core/units.js';
import { CancelledError } from '../core/decoder.js';
import { imageRecord } from './report.js';
import { examRecords } from '../core/exams.js';
import { studyTimeOf } from './exam_reports.js';
import { fmt1 } from '../core/pyformat.js';
import { formatGa } from '../core/clinical.js';

const $ = (id) => document.getElementById(id);
const td = (text = '', cls = '') => Object.assign(document.createElement('td'), { textContent: text, className: cls });

const STALE = 'pixel size changed: Measure all again';

/** predict's unreadable entry {path, error}, the error naming the file (predict.unreadable_reason). */
const unreadableEntry = (name, err) => ({ path: name, error: err.message.includes(name) ? err.message : `${name}: ${err.message}` });

/**
 * Fills the table with the chosen files (nothing measured yet). onEdit(): a row's pixel size was
 * edited after it was measured: its result is gone from the row, and the caller's report with it.
 */
export function showBatch(files, onEdit = () => {}) {
  $('batch').hidden = false;
  $('batch-rows').replaceChildren(...files.map((f, i) => {
    const tr = document.createElement('tr');
    tr.dataset.index = String(i); tr.dataset.name = f.name; tr.dataset.state = 'waiting';
    const dicomName = DICOM_EXTENSIONS.some((e) => f.name.toLowerCase().endsWith(e));
    const px = Object.assign(document.createElement('input'), { type: 'text', inputMode: 'decimal', placeholder: dicomName ? 'from the file' : 'mm', autocomplete: 'off', className: 'batch-px' });
    px.setAttribute('aria-label', `pixel size of ${f.name} (mm)`);
    px.addEventListener('input', () => { // a result never stands beside another pixel size than its own
      if (tr.dataset.state === 'waiting' || tr.dataset.state === 'running') return; // measureBatch checks a running row
      fillRow(tr, 'stale', STALE);
      for (let row = tr.nextElementSibling; row?.dataset.frameOf === tr.dataset.index; row = row.nextElementSibling) fillRow(row, 'stale', STALE);
      onEdit();
    });
    const pxCell = document.createElement('td'); pxCell.append(px);
    tr.append(td(f.name), pxCell, ...resultCells());
    return tr;
  }));
  $('batch-msg').textContent = `${files.length} images: type each one's pixel size (mm; a DICOM file's comes from the file), then Measure all.`;
  $('batch-copied').textContent = '';
  $('exams').hidden = true;
  $('exam-rows').replaceChildren();
}

/** An exam's GA by one formula with its 95% interval: "18+5 wk (17+1 to 20+1)"; "out of range" as it is. */
function gaText(e, key) {
  const ga = e[`ga_${key}`], lower = e[`ga_${key}_lower_95_days`];
  if (!ga || e[`ga_${key}_days`] === null) return ga ?? '';
  return `${ga} wk${lower === null ? '' : ` (${formatGa(lower)} to ${formatGa(e[`ga_${key}_upper_95_days`])})`}`;
}

/** The exams of the measured records (hc_tf.report.exams), one row each; returns the rows. */
export function showExams(spec, records) {
  const rows = examRecords(spec, records);
  $('exam-rows').replaceChildren(...rows.map((e) => {
    const tr = document.createElement('tr');
    tr.dataset.exam = e.exam; tr.dataset.disagree = String(e.disagree);
    const mm = (v) => (v === null ? '' : `${fmt1(v)} mm`);
    const interval = e.hc_mean_lower_95_mm === null ? '' : `${fmt1(e.hc_mean_lower_95_mm)}-${fmt1(e.hc_mean_upper_95_mm)} mm`;
    const agree = e.found < 2 ? '' : e.disagree ? `no: ${e.disagree_reason}` : (e.disagree_reason || 'yes');
    tr.append(td(e.exam), td(`${e.found} of ${e.images}`), td(mm(e.hc_mean_mm), 'e-hc'), td(mm(e.hc_sd_mm)),
      td(interval, 'e-interval'), td(e.bpd_mean_mm === null ? '' : `${fmt1(e.bpd_mean_mm)} / ${fmt1(e.ofd_mean_mm)} mm`, 'e-axes'),
      td(gaText(e, 'hadlock'), 'e-ga-hadlock'), td(gaText(e, 'intergrowth'), 'e-ga-intergrowth'), td(agree, 'e-agree'));
    return tr;
  }));
  $('exams').hidden = !rows.length;
  return rows;
}

const resultCells = () => [td('', 'b-status'), td('', 'b-hc'), td('', 'b-ga-hadlock'), td('', 'b-ga-intergrowth'), td('', 'b-review')];

/**
 * The rows of frames 2..`frames` of a multi-frame file, after its own row (made once: a second
 * pass finds them): named as predict names the frames; the pixel size is the file row's.
 */
function frameRows(tr, name, frames) {
  const rows = [];
  let last = tr;
  for (let k = 2; k <= frames; k++) {
    let row = last.nextElementSibling;
    if (row?.dataset.frameOf !== tr.dataset.index) {
      row = document.createElement('tr');
      Object.assign(row.dataset, { frameOf: tr.dataset.index, name: frameFilename(name, { frame: k, frames }), state: 'waiting' });
      row.append(td(row.dataset.name), td('as above', 'b-frame-px'), ...resultCells());
      last.after(row);
    }
    rows.push(row);
    last = row;
  }
  return rows;
}

function fillRow(tr, state, status, r = null) {
  tr.dataset.state = state;
  tr.querySelector('.b-status').textContent = status;
  for (const c of ['b-hc', 'b-ga-hadlock', 'b-ga-intergrowth', 'b-review']) tr.querySelector(`.${c}`).textContent = '';
  delete tr.dataset.hcMm;
  if (!r?.found) return;
  tr.dataset.hcMm = String(r.hc_mm);
  tr.querySelector('.b-hc').textContent = `${fmt1(r.hc_mm)} mm`;
  for (const k of ['hadlock', 'intergrowth']) {
    const g = r.gestational_age[k];
    tr.querySelector(`.b-ga-${k}`).textContent = g.status === 'ok' ? `${g.ga} wk` : 'out of range';
  }
  tr.querySelector('.b-review').textContent = r.review ? `please review: ${r.review_reasons.join('; ')}` : '';
}

/**
 * Measures every row; returns {records, unreadable, studyTimes} (the measured ones; the not measured,
 * with why; a DICOM record's filename -> its study's FHIR dateTime, for its exam's report). `isCurrent()` turns
 * false when a newer choice replaced the table (then it stops and returns null).
 */
export async function measureBatch(files, { model, decoder, trusted, isCurrent }) {
  const rows = [...$('batch-rows').children].filter((tr) => tr.dataset.frameOf === undefined);
  const spec = model.meta.clinical, range = { min: model.meta.input_limits.pixel_size_mm.min, max: model.meta.input_limits.pixel_size_mm.max };
  const records = [], unreadable = [], studyTimes = new Map();
  let stale = 0;
  for (const [i, tr] of rows.entries()) {
    const input = tr.querySelector('.batch-px'), text = input.value, name = files[i].name;
    fillRow(tr, 'running', 'measuring…');
    try {
      // Decoded first: a DICOM file (by its content, as predict finds it) needs no typed size.
      const prep = await decoder.decode(files[i], name, decodeOptions(model));
      if (!isCurrent()) return null;
      const typed = prep.dicom && text.trim() ? parsePixelSize(text, range) : null;
      const r = prep.dicom ? await measureDicomFrame(model, prep, typed, false, undefined, repreparer(decoder, model, files[i], name, 1))
        : await measurePrepared(model, prep, parsePixelSize(text, range));
      if (!isCurrent()) return null;
      if (input.value !== text) { fillRow(tr, 'stale', STALE); stale += 1; continue; } // edited while it ran
      if (!trusted) { fillRow(tr, 'untrusted', 'no measurement: the self-test did not pass'); continue; }
      fillRow(tr, r.found ? 'found' : 'not-found', r.found ? 'measured' : `no head found: ${r.reason}`, r);
      records.push(imageRecord(spec, prep.dicom ? frameFilename(name, prep.dicom) : name, r));
      if (prep.dicom) studyTimes.set(frameFilename(name, prep.dicom), studyTimeOf(prep));
      if (prep.dicom?.frames > 1) {
        // predict measures every frame: so does the table, one row each, the file's typed size for all.
        const edited = () => input.value !== text;
        const done = await measureFrames(frameRows(tr, name, prep.dicom.frames), files[i], typed, { model, decoder, spec, records, unreadable, studyTimes, isCurrent, edited });
        if (!done) return null;
        if (input.value !== text) { fillRow(tr, 'stale', STALE); stale += 1; }
      }
    } catch (err) {
      if (err instanceof CancelledError || !isCurrent()) return null;
      fillRow(tr, 'error', err.message);
      unreadable.push(unreadableEntry(files[i].name, err));
    }
  }
  if (stale || rows.some((tr) => tr.dataset.state === 'stale')) {
    $('batch-msg').textContent = 'A pixel size changed while measuring: Measure all again for a report.';
    return { records: null, unreadable, studyTimes };
  }
  const shown = $('batch-rows').children.length;
  $('batch-msg').textContent = `${records.length} of ${shown} images measured${shown > rows.length ? ` (${rows.length} files)` : ''}.`;
  return { records, unreadable, studyTimes };
}

/**
 * Frames 2.. of a multi-frame file, each decoded and measured as predict measures it (its own
 * calibration); a frame refused is its row's error and an unreadable entry naming the frame,
 * the others go on; once the file's typed size is `edited()`, stale. False when a newer choice
 * replaced the table.
 */
async function measureFrames(rows, file, typed, { model, decoder, spec, records, unreadable, studyTimes, isCurrent, edited }) {
  for (const [k, row] of rows.entries()) {
    const frame = k + 2;
    fillRow(row, 'running', 'measuring…');
    try {
      const prep = await decoder.decode(file, file.name, { ...decodeOptions(model), frame });
      if (!isCurrent()) return false;
      const r = await measureDicomFrame(model, prep, typed, false, undefined, repreparer(decoder, model, file, file.name, frame));
      if (!isCurrent()) return false;
      if (edited()) { fillRow(row, 'stale', STALE); continue; } // the file's size was edited meanwhile
      fillRow(row, r.found ? 'found' : 'not-found', r.found ? 'measured' : `no head found: ${r.reason}`, r);
      records.push(imageRecord(spec, row.dataset.name, r));
      studyTimes.set(row.dataset.name, studyTimeOf(prep));
    } catch (err) {
      if (err instanceof CancelledError || !isCurrent()) return false;
      fillRow(row, 'error', err.message);
      unreadable.push(unreadableEntry(file.name, err));
    }
  }
  return true;
}
