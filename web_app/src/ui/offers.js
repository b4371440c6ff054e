// What the page offers for the state it is in: the report's downloads only while there is a
// result and the known GA typed is read (a refused GA would save a report without it, which
// `hc-tf predict --ga-weeks` refuses to write), and in batch mode only the controls that apply.
import { parseGaWeeks } from '../core/clinical.js';
import { fieldError } from './fields.js';

const $ = (id) => document.getElementById(id);

/** The known GA typed is refused: its message ('' when it is empty or read). */
export function gaProblem(spec) {
  const text = $('known-ga').value.trim();
  if (!text) return '';
  try { parseGaWeeks(spec, text); return ''; } catch (err) { return err.message; }
}

/**
 * Shows the one image's downloads (a trusted result, no table) or the table's (its records) only
 * when `bad` (gaProblem's) is ''; else says why as the GA field's error (shown beside it, its
 * description, aria-invalid) and, with `announce`, in #ga-alert (an alert, not shown: the field's
 * error is). `announce` false while typing: "27+3" typed is "2", "27", "27+", each checked
 * quietly (an alert on every keystroke interrupted a screen reader); a refusal is announced
 * once, on change (Enter, or leaving the field) or on Measure. Nothing is added to the page
 * when the field is left: a click on a button beside it still lands on the button.
 */
export function offerReports({ result, trusted, batch }, bad, { announce = true } = {}) {
  $('downloads').hidden = !(result && trusted && !batch) || !!bad;
  $('batch-downloads').hidden = !batch?.records?.length || !!bad;
  const text = bad ? `Known GA: ${bad}. No report is offered until it is corrected or emptied.` : '';
  fieldError('known-ga', text);
  $('ga-alert').textContent = announce ? text : '';
}

/** Batch mode: the single image's pixel size (and Calibrate), Measure and canvas do not apply: hidden. */
export function batchMode(on) {
  for (const id of ['px-row', 'measure', 'canvas-wrap']) $(id).hidden = on;
}
