// A DICOM frame's pixel size on the page: filled from the file and locked unless the user ticks
// "Override"; chosen by the head's region after measuring (core/dicom/calibration.js, the rules
// of hc_tf/io/dicom_calibration.py and hc_tf/io/dicom_pixel_size.py), with the choice said under
// the field.
import { measurePrepared, decodeOptions, MODEL_FILE, UserError } from '../core/pipeline.js';
import { headBundle, missingUids, studyDateTime } from '../core/fhir.js';
import { imageRecord } from './report.js';
import { lmpGaWeeks } from '../core/dating.js';
import { readCalibration, provisionalPixelSize, choosePixelSize, paneRegion } from '../core/dicom/calibration.js';
import { choiceInWords } from './words.js';

const $ = (id) => document.getElementById(id);
const LABELS = { label: 'the typed pixel size', overrideLabel: '"Override the file\'s pixel size"' };
const inWords = (text) => text.replace('; give --pixel-size', '; type the pixel size');

/** Back to an ordinary image's field (unlocked, no override box, no frame choice). */
export function resetDicomUi() {
  $('px').readOnly = false;
  $('px-override-row').hidden = true;
  $('px-override').checked = false;
  $('frame-row').hidden = true;
  delete $('px-source').dataset.source;
}

/**
 * The frame the user picked for a multi-frame file (its row shows the one measured), checked as
 * `hc-tf predict --frame` checks it; a UserError in words otherwise.
 */
export function chosenFrame(text, prep, name) {
  const frames = prep.dicom.frames, n = Number(text.trim());
  if (!Number.isInteger(n) || n < 1 || n > frames) throw new UserError(`${name}: no frame ${text.trim() || '(empty)'}: the file has frames 1 to ${frames}`);
  return n;
}

/** The file's provisional pixel size in the field (locked); a message when it cannot give one. */
export function dicomOpened(prep, name) {
  const { frame, frames: count } = prep.dicom;
  const cal = readCalibration(prep.dicom.fields, frame); // a frame's own: it may differ between frames
  prep.dicom.cal = cal;
  $('px-override-row').hidden = false;
  $('frame-row').hidden = count < 2;
  $('frame').value = String(frame); $('frame').max = String(count);
  $('frame-of').textContent = `of ${count}`;
  const frames = count > 1 ? ` (frame ${frame} of ${count})` : '';
  try {
    const px = provisionalPixelSize(cal, null, false, LABELS);
    prep.dicom.filePx = px;
    $('px').value = String(px); $('px').readOnly = true;
    $('px-source').textContent = `from the DICOM file${frames}; tick Override to type your own`;
    return null;
  } catch (err) {
    prep.dicom.filePx = null;
    if (!cal.empty) $('px').value = '';
    $('px-source').textContent = `DICOM file${frames}`;
    return cal.empty ? `${name}: the file has no calibration: type its pixel size in mm, then Measure.`
      : `${inWords(err.message)}. Tick Override to type a pixel size.`;
  }
}

/** The override box changed: unlock the field, or put the file's value back. */
export function overrideChanged(prep) {
  const on = $('px-override').checked;
  $('px').readOnly = !on && prep?.dicom?.filePx != null;
  if (!on && prep?.dicom?.filePx != null) $('px').value = String(prep.dicom.filePx);
}

/** The page's DICOM frame measured (measureDicomFrame): the typed size only when overriding or
 * when the file has no calibration; the choice said under the field. */
export async function measureDicom(model, prep, typedPx, reprepare) {
  const override = $('px-override').checked;
  const r = await measureDicomFrame(model, prep, override || prep.dicom.cal.empty ? typedPx : null, override, LABELS, reprepare);
  $('px-source').textContent = choiceInWords(r.pixel_size_choice);
  $('px-source').dataset.source = r.pixel_size_choice.source; // report.json's pixel_size_source (its note there too)
  return r;
}

/**
 * Measures a DICOM frame as hc-tf predict does: with the provisional size, a dual pane again on
 * its head's pane, then with the size of the region that holds the head if that differs.
 * `typed`: a pixel size a person gave (checked against the file's, used only where the file has
 * none or with `override`), or null. `reprepare(region)`: the frame prepared again with the
 * model seeing `region` (the decoder's; without it no second pass: predict's would differ).
 * The result's `prep` is the one measured. Throws a UserError in words for a refusal.
 */
export async function measureDicomFrame(model, prep, typed, override, labels = LABELS, reprepare = null) {
  const cal = prep.dicom.cal ?? (prep.dicom.cal = readCalibration(prep.dicom.fields, prep.dicom.frame));
  const first = provisionalPixelSize(cal, typed, override, labels);
  let r = await measurePrepared(model, prep, first);
  // A dual pane, measured whole: measured again on its head's pane (dicom_predict.region_pass).
  const pane = !prep.region && r.found && cal.regions.length >= 2 && reprepare ? paneRegion(cal, r.ellipse) : null;
  if (pane) {
    const panePrep = await reprepare(pane);
    panePrep.dicom = prep.dicom; // the same file and frame: its calibration as read
    const second = await measurePrepared(model, panePrep, first);
    if (second.found) { r = second; prep = panePrep; }
  }
  let choice;
  try {
    choice = choosePixelSize(cal, r.found ? r.ellipse : null, typed, override, labels);
  } catch (err) { // a frame of several is named, as dicom_predict.finish names it
    if (prep.dicom.frames > 1) err.message = err.message.replace(`${cal.path}: `, `${cal.path} frame ${prep.dicom.frame}: `);
    err.message = inWords(err.message);
    throw err;
  }
  const { min, max } = model.meta.input_limits.pixel_size_mm;
  if (!(choice.pixel_size_mm >= min && choice.pixel_size_mm <= max)) {
    throw new UserError(`${cal.path}: pixel size ${choice.pixel_size_mm} mm (${choice.source}) is outside the plausible ${min}-${max} mm`);
  }
  if (choice.pixel_size_mm !== first) r = await measurePrepared(model, prep, choice.pixel_size_mm);
  // The fields hc-tf predict adds to a DICOM frame's report.json record (dicom_predict.finish).
  const dicomFields = { frame: prep.dicom.frame, pixel_size_source: choice.source, pixel_size_note: choice.note,
    dicom: { ...prep.dicom.uids, frame: prep.dicom.frame, frames_in_file: prep.dicom.frames, region: choice.region,
      file_pixel_size_mm: choice.file_pixel_size_mm, model_region: prep.region ?? null, ellipse_px: r.found ? { ...r.ellipse } : null } };
  // The file's own GA from dating (dicom_dating.lmp_ga_weeks), for the centile when none is typed.
  const fileGa = lmpGaWeeks(model.meta.clinical, prep.dicom.lastMenstrualDate, prep.dicom.studyDate);
  if (fileGa.note) dicomFields.dicom.dating_note = fileGa.note;
  return { ...r, prep, pixel_size_choice: choice, dicom_fields: dicomFields, file_ga_weeks: fileGa.weeks };
}

/** measureDicomFrame's `reprepare`: frame `frame` of `blob` prepared again by `decoder` (its worker kept the frame's pixels), the model seeing `region`. */
export const repreparer = (decoder, model, blob, name, frame) => (region) => decoder.decode(blob, name, { ...decodeOptions(model), frame, region });

/** dicom_predict.frame_filename: the name the measured frame's rows carry, "scan.dcm#3" when the file has several. */
export const frameFilename = (name, { frame, frames }) => (frames > 1 ? `${name}#${frame}` : name);

/**
 * The FHIR Bundle of a measured DICOM frame's Observations (HC, BPD, OFD, ..., the GA by each equation) as `hc-tf predict`
 * writes fhir/<stem>.fhir.json (no SR beside it here), the HC read at the GA typed (knownGa, ''
 * for none) or the file's own; throws an Error in words when the file lacks the UIDs it needs
 * or the GA typed is refused.
 */
export function fhirBundle(model, image, r, knownGa = '') {
  const d = image.prep.dicom;
  const missing = missingUids(d.uids);
  if (missing.length) throw new Error(`${image.name}: no FHIR Observation: the file lacks a valid ${missing.join(', ')}`);
  const info = { name: MODEL_FILE, version: model.meta.model_version, sha256: model.sha256 };
  const rec = imageRecord(model.meta.clinical, image.name, r, knownGa); // report.json's record
  return headBundle(r.hc_mm, d.uids, d.frames > 1 ? d.frame : null, info, r.review, r.review_reasons,
    studyDateTime(d.studyDate, d.studyTime, d.timezoneOffset),
    rec.hc_interval, rec.biometry, { bpd: rec.bpd_interval, ofd: rec.ofd_interval, cbpd: rec.corrected_bpd_interval, ci: rec.cephalic_index_interval }, rec.centile, rec.dating,
    rec.gestational_age, rec.ga_interval);
}
