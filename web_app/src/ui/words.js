// Words a clinician reads where the reports keep predict's technical ones: an HC beyond the
// interval's calibration (report.json's hc_interval.note) and where a DICOM frame's pixel size
// came from (report.json's pixel_size_source and pixel_size_note).
import { SOURCE_REGION, SOURCE_PIXEL_SPACING, SOURCE_OVERRIDE, SOURCE_TYPED } from '../core/dicom/calibration.js';

// Each interval feature beyond calibration in words a clinician reads (intervals.beyondCalibration
// names them as report.json does: "one_minus_inlier_fraction 0.917 is above ... (up to 0.780)").
const BEYOND_WORDS = {
  model_pixel_mm: (v, c) => `the image is coarser than any the interval was calibrated on (${v} mm per model pixel, up to ${c} calibrated)`,
  fit_rms_frac: () => 'the ellipse follows the head\'s outline less closely than in any image the interval was calibrated on',
  one_minus_inlier_fraction: (v, c) => `fewer of the outline's points lie on the ellipse than in any image the interval was calibrated on (${pct(1 - Number(v))} of them, at least ${pct(1 - Number(c))} calibrated)`,
  one_minus_mask_ellipse_dice: () => 'the found head and its ellipse overlap less than in any image the interval was calibrated on',
  uncertain_band_fraction: () => 'the head\'s boundary is less clear than in any image the interval was calibrated on',
};
const pct = (x) => `${Math.round(x * 100)}%`;

/** An interval's note ("no calibrated interval: <feature> <v> is above ... (up to <cap>); ...") in plain words. */
export function beyondInWords(note) {
  const words = [...note.matchAll(/(\w+) (\S+) is above the calibrated range \(up to (\S+)\)/g)]
    .map(([, name, v, c]) => (BEYOND_WORDS[name] ? BEYOND_WORDS[name](v, c) : `${name.replace(/_/g, ' ')} is beyond what the interval was calibrated on`));
  return `No 95% interval: this measurement lies outside what the interval was calibrated on${words.length ? ` (${words.join('; ')})` : ''}.`;
}

/** Where a frame's pixel size came from, in words (report.json keeps the source and note as predict writes them). */
export function choiceInWords({ source, note, region, file_pixel_size_mm: filePx }) {
  const agrees = / (\S+) mm agrees$/.exec(note);
  const also = agrees ? `; the typed ${agrees[1]} mm agrees` : '';
  if (source === SOURCE_REGION) {
    return `from the file's ultrasound region ${region}${note.includes('no head found') ? ' (no head found to choose a region by)' : ''}${also}`;
  }
  if (source === SOURCE_PIXEL_SPACING) return `from the file's pixel spacing, which is not an ultrasound calibration: check the HC${also}`;
  if (source === SOURCE_OVERRIDE) return `typed, overriding the file's${filePx === null ? ' calibration (which was refused)' : ` ${filePx} mm`}`;
  if (source === SOURCE_TYPED) return 'typed (the file has no calibration)';
  return `${source}: ${note}`;
}

