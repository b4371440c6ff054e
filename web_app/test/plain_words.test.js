// What a clinician reads: an HC beyond the interval's calibration and a DICOM frame's pixel size
// source in plain words (report.json keeps predict's technical words: tests/web_app_ui_test.py,
// tests/web_app_dicom_test.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beyondInWords } from '../src/ui/words.js';
import { choiceInWords } from '../src/ui/words.js';

test('a note beyond calibration is said in words, no feature names', () => {
  const note = 'no calibrated interval: one_minus_inlier_fraction 0.917 is above the calibrated range (up to 0.780); '
    + 'model_pixel_mm 1.562 is above the calibrated range (up to 0.983)';
  const words = beyondInWords(note);
  assert.match(words, /^No 95% interval: this measurement lies outside what the interval was calibrated on \(/);
  assert.match(words, /fewer of the outline's points lie on the ellipse .* \(8% of them, at least 22% calibrated\)/);
  assert.match(words, /the image is coarser than any the interval was calibrated on \(1\.562 mm per model pixel, up to 0\.983 calibrated\)/);
  assert.doesNotMatch(words, /one_minus|model_pixel_mm|_/);
});

test("a DICOM frame's pixel size source is said in words", () => {
  const region = { source: 'dicom_us_region', region: 1, file_pixel_size_mm: 0.07, note: '2D tissue region 1 of (0018,6011) (box (0, 0, 799, 539)) holds the head' };
  assert.equal(choiceInWords(region), "from the file's ultrasound region 1");
  assert.equal(choiceInWords({ ...region, note: `${region.note}; the typed pixel size 0.07 mm agrees` }), "from the file's ultrasound region 1; the typed 0.07 mm agrees");
  assert.equal(choiceInWords({ ...region, note: 'region 2 of (0018,6011) (no head found, so no region chosen)', region: 2 }),
    "from the file's ultrasound region 2 (no head found to choose a region by)");
  assert.equal(choiceInWords({ source: 'typed_override', region: null, file_pixel_size_mm: 0.07, note: 'the typed pixel size 0.3 mm forced by ...' }),
    "typed, overriding the file's 0.07 mm");
  assert.equal(choiceInWords({ source: 'typed_override', region: null, file_pixel_size_mm: null, note: '...' }),
    "typed, overriding the file's calibration (which was refused)");
  assert.equal(choiceInWords({ source: 'typed', region: null, file_pixel_size_mm: null, note: '...' }), 'typed (the file has no calibration)');
  assert.match(choiceInWords({ source: 'dicom_pixel_spacing', region: null, file_pixel_size_mm: 0.1, note: 'PixelSpacing ...' }), /not an ultrasound calibration: check the HC/);
});
