// Calibration: two points of the depth scale a known distance apart give the pixel size.
// The points are placed by mouse/touch (a click on the canvas) or by keyboard (WCAG 2.1.1): while
// calibrating the canvas is a tab stop (focused when Calibrate opens) with a cross at an image pixel (the image's centre first),
// moved by the arrow keys (Shift: 10 pixels); Enter or Space places a point at the cross,
// Backspace or Delete removes the last one, Escape closes as Cancel does. Both ways go through
// placePoint (image-pixel coordinates, centres at integers: canvasPoint's convention), and each
// step is said in #calib-status (a status) for screen readers.
import { canvasPoint } from './view.js';
import { fieldError, fieldRefused } from './fields.js';

const $ = (id) => document.getElementById(id);
const ASK = 'Place two points of the depth scale (click them, or the keys below), then type their distance in mm.';
const MOVES = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
/** "x 120, y 85": a clicked point (fractional) to 0.1 pixel. */
const xy = ([x, y]) => `x ${Math.round(x * 10) / 10}, y ${Math.round(y * 10) / 10}`;

/** Wires the Calibrate row and the canvas; `measure` runs once the pixel size is applied. */
export function wireCalibration({ state, redraw, range, message, measure }) {
  const view = $('view');
  const say = (text) => { $('calib-status').textContent = text; };
  $('calibrate').addEventListener('click', () => {
    const { width, height } = state.image.prep;
    state.calib = { points: [], cursor: [Math.floor(width / 2), Math.floor(height / 2)], showCursor: false };
    $('calib').hidden = false; $('calib-mm').value = ''; fieldError('calib-mm', '');
    $('calib-msg').textContent = ASK; say('');
    redraw(); // (the canvas a tab stop now, described by its keys' note)
    view.focus(); // where the points are placed: a keyboard user starts there, its keys read out
  });
  // Closing the row hides the focused button: the focus goes back to Calibrate (not to the page's start).
  const closeCalib = () => { state.calib = null; $('calib').hidden = true; redraw(); if (!$('calibrate').disabled) $('calibrate').focus(); };
  $('calib-cancel').addEventListener('click', closeCalib);

  /** A point (image pixels) of a click or of the keyboard's cross; a third starts again. */
  const placePoint = (p) => {
    const c = state.calib, { width, height } = state.image.prep;
    if (c.points.length === 2) c.points = [];
    c.points.push(p);
    c.cursor = [clamp(Math.round(p[0]), 0, width - 1), clamp(Math.round(p[1]), 0, height - 1)]; // the keys go on from here
    let said = `Point ${c.points.length} placed at ${xy(p)} (image pixels).`;
    if (c.points.length === 2) {
      const [[x0, y0], [x1, y1]] = c.points;
      c.distPx = Math.hypot(x1 - x0, y1 - y0);
      $('calib-msg').textContent = `Distance ${c.distPx.toFixed(1)} px. Its length in mm:`;
      said += ` Distance ${c.distPx.toFixed(1)} px: type its length in mm.`;
      $('calib-mm').focus();
    } else $('calib-msg').textContent = ASK;
    say(said);
    redraw();
  };
  const removePoint = () => {
    const c = state.calib, p = c.points.pop();
    $('calib-msg').textContent = ASK;
    say(p ? `Point ${c.points.length + 1} removed; ${c.points.length} of 2 points.` : 'No point to remove.');
    redraw();
  };

  view.addEventListener('click', (ev) => {
    if (!state.calib || !state.image) return;
    placePoint(canvasPoint(ev, state.image));
  });
  view.addEventListener('keydown', (ev) => {
    const c = state.calib;
    if (!c || !state.image || ev.ctrlKey || ev.altKey || ev.metaKey) return;
    const move = MOVES[ev.key], place = ev.key === 'Enter' || ev.key === ' ';
    if (!move && !place && !['Backspace', 'Delete', 'Escape'].includes(ev.key)) return;
    ev.preventDefault(); // no scrolling (arrows, Space), no form or history action
    if (ev.key === 'Escape') { closeCalib(); return; }
    c.showCursor = true;
    if (move) {
      const n = ev.shiftKey ? 10 : 1, { width, height } = state.image.prep;
      c.cursor = [clamp(c.cursor[0] + move[0] * n, 0, width - 1), clamp(c.cursor[1] + move[1] * n, 0, height - 1)];
      say(`Cross at ${xy(c.cursor)}.`);
      redraw();
    } else if (place) { if (!ev.repeat) placePoint([...c.cursor]); } // held down: one point, not two
    else removePoint();
  });
  // The cross shows while the canvas has the keyboard's focus (a click's focus shows none).
  view.addEventListener('focus', () => { if (state.calib && view.matches(':focus-visible')) { state.calib.showCursor = true; redraw(); } });
  view.addEventListener('blur', () => { if (state.calib?.showCursor) { state.calib.showCursor = false; redraw(); } });

  // (its default kept, the Enter would go on to the Calibrate button focused by Apply and reopen the row)
  $('calib-mm').addEventListener('input', () => fieldError('calib-mm', ''));
  $('calib-mm').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); $('calib-apply').click(); } else if (ev.key === 'Escape') { ev.preventDefault(); closeCalib(); }
  });
  $('calib-apply').addEventListener('click', () => {
    const c = state.calib, { min, max } = range();
    // A refusal is said (#message) and on the field to correct, which takes the focus: the image for the points.
    const refused = (text) => { message(text); fieldRefused('calib-mm', text); };
    if (!c || c.points.length !== 2 || !(c.distPx >= 5)) { message('Place two points at least 5 pixels apart on the depth scale first.'); if (c) view.focus(); return; }
    const mm = Number($('calib-mm').value.trim());
    if (!Number.isFinite(mm) || mm <= 0) { refused('Type the distance between the two points in mm (a positive number).'); return; }
    const px = mm / c.distPx;
    if (px < min || px > max) { refused(`That gives ${px.toPrecision(3)} mm per pixel, outside ${min}–${max} mm: check the points and the distance.`); return; }
    fieldError('calib-mm', '');
    $('px').value = px.toPrecision(6);
    closeCalib(); message('');
    measure();
  });
}
