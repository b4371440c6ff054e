// The canvas (the image's preview, the fitted ellipse, calibration points) and the result block.
import { gaLine, reviewText, parseGaWeeks } from '../core/clinical.js';
import { hcInterval, gaIntervalRecords, measurementSignals } from '../core/intervals.js';
import { datingDisplay } from '../core/dating.js';
import { centileRecord, headBiometry } from './report.js';
import { fmt1 } from '../core/pyformat.js';
import { beyondInWords } from './words.js';

const $ = (id) => document.getElementById(id);
const CURSOR = '#00e5ff'; // the keyboard's cross in calibration

/** Draws the image preview (or nothing), the ellipse of a trusted found result, the calibration. */
export function draw({ image, result, calib, trusted }) {
  const cv = $('view');
  const ctx = cv.getContext('2d');
  // Calibrating: a tab stop that takes its keys (ui/calibrate.js; the application role makes a
  // screen reader pass them on), described by the keys' note shown under it.
  if (calib) { cv.tabIndex = 0; cv.setAttribute('role', 'application'); cv.setAttribute('aria-describedby', 'calib-keys'); }
  else { cv.removeAttribute('tabindex'); cv.setAttribute('role', 'img'); cv.removeAttribute('aria-describedby'); }
  $('calib-help').hidden = !calib;
  if (!image?.prep.preview) { // no image, or its preview still on its way (drawn when it comes)
    cv.width = 320; cv.height = 224; ctx.clearRect(0, 0, cv.width, cv.height);
    cv.dataset.state = 'empty'; delete cv.dataset.name;
    cv.setAttribute('aria-label', image ? `${image.name}: loading the image` : 'No image open');
    return;
  }
  const p = image.prep.preview, k = 1 / p.step; // preview pixel = image pixel * k
  cv.width = p.width; cv.height = p.height;
  ctx.putImageData(new ImageData(p.rgba, p.width, p.height), 0, 0);
  cv.dataset.state = 'image'; cv.dataset.name = image.name; cv.dataset.step = String(p.step);
  const lw = Math.max(2, Math.round(Math.max(p.width, p.height) / 300));
  const ellipse = result?.found && trusted;
  const region = image.prep.region; // a DICOM's 2D region, the part the model saw: outlined thin
  cv.setAttribute('aria-label', `Ultrasound image ${image.name}${ellipse ? ', with the fitted head ellipse' : ''}${region ? '; the 2D region the model saw outlined' : ''}${calib ? `; calibration: ${calib.points.length} of 2 points` : ''}`);
  if (region) {
    const [x0, y0, x1, y1] = region;
    ctx.strokeStyle = '#ffc800'; ctx.lineWidth = 1;
    ctx.strokeRect(x0 * k - 0.5, y0 * k - 0.5, (x1 + 1 - x0) * k + 1, (y1 + 1 - y0) * k + 1);
  }
  if (ellipse) {
    const e = result.ellipse;
    ctx.strokeStyle = '#00ff66'; ctx.lineWidth = lw;
    ctx.beginPath(); ctx.ellipse((e.cx + 0.5) * k, (e.cy + 0.5) * k, e.a * k, e.b * k, e.angle, 0, 2 * Math.PI); ctx.stroke();
  }
  if (calib) {
    ctx.fillStyle = '#ffcc00'; ctx.strokeStyle = '#ffcc00'; ctx.lineWidth = lw;
    for (const [x, y] of calib.points) { ctx.beginPath(); ctx.arc((x + 0.5) * k, (y + 0.5) * k, 2 * lw, 0, 2 * Math.PI); ctx.fill(); }
    if (calib.points.length === 2) {
      const [[x0, y0], [x1, y1]] = calib.points;
      ctx.beginPath(); ctx.moveTo((x0 + 0.5) * k, (y0 + 0.5) * k); ctx.lineTo((x1 + 0.5) * k, (y1 + 0.5) * k); ctx.stroke();
    }
    if (calib.showCursor) { // the keyboard's cross: four arms around the pixel, dark-edged to show on any gray
      const x = (calib.cursor[0] + 0.5) * k, y = (calib.cursor[1] + 0.5) * k, g = 2 * lw, r = 8 * lw;
      ctx.beginPath();
      for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) { ctx.moveTo(x + dx * g, y + dy * g); ctx.lineTo(x + dx * r, y + dy * r); }
      ctx.strokeStyle = '#000'; ctx.lineWidth = lw + 2; ctx.stroke();
      ctx.strokeStyle = CURSOR; ctx.lineWidth = lw; ctx.stroke();
    }
  }
}

/** A click on the canvas in image pixels (centres at integers). */
export function canvasPoint(ev, image) {
  const cv = $('view'), r = cv.getBoundingClientRect(), step = image.prep.preview?.step ?? 1;
  return [((ev.clientX - r.left) * (cv.width / r.width)) * step - 0.5, ((ev.clientY - r.top) * (cv.height / r.height)) * step - 0.5];
}

/** Empties the result block; `state` says why ('none', 'pending', 'stale', 'error', ...). */
export function clearResult(state = 'none', note = '') {
  const box = $('result');
  for (const k of ['hcMm', 'hcLower', 'hcUpper', 'maskSha256', 'name', 'pixelSizeMm', 'review', 'reviewReasons', 'frame']) delete box.dataset[k];
  box.dataset.state = state;
  for (const id of ['result-said', 'hc', 'review', 'centile', 'dating', 'details', 'timing']) $(id).textContent = '';
  delete $('centile').dataset.state;
  for (const id of ['ga', 'ga-interval', 'biometry']) $(id).replaceChildren();
  $('stale').textContent = note;
  $('downloads').hidden = true;
  $('copied').textContent = ''; // a copy of this result, not of the next
}

/**
 * The HC centile for the known GA typed, else a DICOM file's own (its Last Menstrual Date);
 * nothing when neither. A GA typed that is refused leaves the line empty (state 'error'): its
 * error is the field's (ui/offers.js), not repeated by this status on every keystroke.
 */
export function showCentile(spec, result, trusted) {
  const out = $('centile'), text = $('known-ga').value.trim();
  delete out.dataset.state;
  out.textContent = '';
  $('dating').textContent = '';
  const fileWeeks = result?.file_ga_weeks ?? null;
  if ((!text && fileWeeks === null) || !result?.found || !trusted) return;
  try {
    const c = centileRecord(spec, result.hc_mm, hcInterval(spec, result.hc_mm, measurementSignals(result)), text || fileWeeks);
    const dated = datingDisplay(spec, c.ga_weeks, text ? spec.dating.source : spec.dating.file_source);
    $('dating').textContent = `${dated}; ${spec.dating.note}.`;
    out.dataset.state = c.status;
    out.textContent = `At ${c.ga} weeks (INTERGROWTH-21st): HC ${c.display}${c.interval ? `; ${c.interval.display}` : ''}`;
  } catch (err) {
    out.dataset.state = 'error';
    let typedRefused = false;
    try { if (text) parseGaWeeks(spec, text); } catch { typedRefused = true; }
    out.textContent = typedRefused ? '' : err.message;
  }
}

function item(text, data = {}) {
  const li = document.createElement('li');
  Object.assign(li.dataset, data);
  li.textContent = text;
  return li;
}

/**
 * BPD/OFD, the cephalic index and the corrected BPD (each with its 95% interval when it has one),
 * GA from BPD and the GA its interval spans as lines
 * (records.biometry_record's words; ivs: headBiometry's).
 */
function biometryLines(b, ivs) {
  const g = b.ga_bpd;
  const mm = (q) => `${fmt1(b[`${q}_mm`])} mm${ivs[`${q}_interval`]?.display ? ` (${ivs[`${q}_interval`].display})` : ''}`;
  return [
    item(`BPD ${mm('bpd')}, OFD ${mm('ofd')} (${b.convention})`, { key: 'bpd' }),
    item(`${b.head_shape_text[0].toUpperCase()}${b.head_shape_text.slice(1)}${ivs.cephalic_index_interval?.display ? `, ${ivs.cephalic_index_interval.display}` : ''}`
      + `; corrected BPD ${mm('corrected_bpd')}`, { key: 'cephalic_index', shape: b.head_shape }),
    item(g.status === 'ok' ? `GA from BPD (Hadlock 1984): ${g.ga} weeks (${g.uncertainty})` : `GA from BPD (Hadlock 1984): ${g.message}`,
      { key: 'ga_bpd', status: g.status }),
    // the GA the BPD's interval spans with the formula's spread (records.ga_bpd_interval_record)
    ...(ivs.ga_bpd_interval ? [item(`GA from the BPD's ${ivs.bpd_interval.display.split(':')[0]} interval, `
      + `Hadlock 1984 (BPD): ${ivs.ga_bpd_interval.display}`, { key: 'ga_bpd_interval' })] : []),
  ];
}

/** Shows a measurement of `name`; `shownMs`: from the file chosen to now. */
export function showResult(spec, r, { name, trusted, shownMs, threadsText }) {
  clearResult(r.found ? 'found' : 'not-found');
  const box = $('result');
  Object.assign(box.dataset, { maskSha256: r.mask_sha256, name, pixelSizeMm: String(r.pixel_size_mm) });
  if (r.dicom_fields) box.dataset.frame = String(r.dicom_fields.frame); // a DICOM file's measured frame
  const t = r.timings;
  $('timing').textContent = `${shownMs.toFixed(0)} ms from choosing the image to this result (decode ${t.decode_ms.toFixed(0)}, letterbox ${t.letterbox_ms.toFixed(0)}, model ${t.model_ms.toFixed(0)}, fit ${t.measure_ms.toFixed(0)} ms; ${threadsText}).`;
  box.dataset.shownMs = shownMs.toFixed(1);
  if (!trusted) {
    box.dataset.state = 'untrusted';
    $('hc').textContent = $('result-said').textContent = 'No measurement: the self-test did not pass on this browser.';
    return;
  }
  $('downloads').hidden = false;
  if (!r.found) {
    // The reason in the announced line, as the demo says it.
    $('hc').textContent = $('result-said').textContent = `No head found: ${r.reason}`;
    return;
  }
  box.dataset.hcMm = String(r.hc_mm);
  box.dataset.review = String(r.review);
  box.dataset.reviewReasons = r.review_reasons.join('; ');
  const iv = hcInterval(spec, r.hc_mm, measurementSignals(r));
  // A note's technical words (report.json keeps them) are said in plain words in the details.
  $('hc').textContent = `HC ${fmt1(r.hc_mm)} mm (${iv.note === undefined ? iv.display : 'no calibrated interval'})`;
  if (iv.note === undefined) { box.dataset.hcLower = String(iv.lower_mm); box.dataset.hcUpper = String(iv.upper_mm); }
  $('review').textContent = reviewText({ review: r.review, reasons: r.review_reasons });
  $('ga').replaceChildren(...Object.entries(r.gestational_age).map(([key, g]) => {
    const li = document.createElement('li');
    li.dataset.method = key;
    li.dataset.status = g.status;
    li.textContent = `GA ${gaLine(spec, g)}`;
    return li;
  }));
  $('ga-interval').replaceChildren(...Object.entries(gaIntervalRecords(spec, iv)).map(([key, g]) =>
    item(`GA from the HC's ${iv.display.split(':')[0]} interval, ${spec.ga_from_hc.methods.find((m) => m.method === g.method).title}: ${g.display}`, { method: key })));
  const head = headBiometry(spec, r);
  $('biometry').replaceChildren(...biometryLines(head.biometry, head));
  const e = r.ellipse;
  $('details').textContent = `${name}: pixel size ${r.pixel_size_mm} mm. Ellipse (px): centre ${fmt1(e.cx)}, ${fmt1(e.cy)}; semi-axes ${fmt1(e.a)} x ${fmt1(e.b)}; angle ${fmt1(e.angle * 180 / Math.PI)}°.${iv.note === undefined ? '' : ` ${beyondInWords(iv.note)}`}`;
  showCentile(spec, r, trusted);
  $('result-said').textContent = resultSummary(spec, r);
}

/**
 * The result in one announcement (#result-said, the result's one status): the HC, the GA by
 * each formula and the review flag, e.g. "HC 181.2 mm. GA: Hadlock 1984 21+1 weeks;
 * INTERGROWTH-21st 21+0 weeks. No review flag." (the lines on screen have the intervals).
 */
export function resultSummary(spec, r) {
  const ga = Object.values(r.gestational_age).map((g) => (g.status === 'ok'
    ? `${spec.ga_from_hc.methods.find((m) => m.method === g.method).title} ${g.ga} weeks` : gaLine(spec, g)));
  const review = r.review ? `${reviewText({ review: r.review, reasons: r.review_reasons })}.` : 'No review flag.';
  return `HC ${fmt1(r.hc_mm)} mm. GA: ${ga.join('; ')}. ${review[0].toUpperCase()}${review.slice(1)}`;
}
