// What the page offers for the state it is in: the report's downloads only while there is a
// result and the known GA typed is read (a refused GA would save a report without it, which
// `hc-tf predict --ga-weeks` refuses to write), and in batch mode only the controls that apply.
import { parseGaWeeks } from '../core/clinical.js';

const $ = (id) => document.getElementById(id);

/** The known GA typed is refused: its message ('' when it is empty or read). */
export function gaProblem(spec) {
  const text = $('known-ga').value.trim();
  if (!text) return '';
  try { parseGaWeeks(spec, text); return ''; } catch (err) { return err.message; }
}

/**
 * Shows the one image's downloads (a trusted result, no table) or the table's (its records) only
 * when `bad` (gaProblem's) is ''; else says why none is offered in #message (and takes that note
 * away once the GA is read).
 */
export function offerReports({ result, trusted, batch }, bad) {
  $('downloads').hidden = !(result && trusted && !batch) || !!bad;
  $('batch-downloads').hidden = !batch?.records?.length || !!bad;
  const msg = $('message');
  if (bad) {
    msg.textContent = `Known GA: ${bad}. No report is offered until it is corrected or emptied.`;
    msg.dataset.ga = '1';
  } else if (msg.dataset.ga) {
    msg.textContent = ''; delete msg.dataset.ga;
  }
}

/** Batch mode: the single image's pixel size (and Calibrate), Measure and canvas do not apply: hidden. */
export function batchMode(on) {
  for (const id of ['px-row', 'measure', 'canvas-wrap']) $(id).hidden = on;
}
