// The port's exams (web_app/src/core/exams.js) against hc_tf.report.exams on the shared cases
// (tests/fixtures/exams_cases.json, which tests/exams_test.py holds the Python to).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EXAM_FIELDS, examIds, examOfName, examRecords, examsCsv, gaIntervalBounds, imageGaIntervalRecord } from '../src/core/exams.js';
import { REPO, loadJson } from './helpers.js';

const spec = loadJson('hc_effunet_int8.json').clinical;
const cases = JSON.parse(readFileSync(path.join(REPO, 'tests', 'fixtures', 'exams_cases.json'), 'utf8')).cases;
const TOL = 1e-9;  // the SD summed in another order than Python's exact one (the mean is fsum, to the bit)

test('exam rows equal Python\'s on every shared case', () => {
  assert.ok(cases.length >= 7);
  for (const c of cases) {
    const got = examRecords(spec, c.records, c.exam_column ?? {});
    assert.equal(got.length, c.expected.length, c.what);
    for (const [i, want] of c.expected.entries()) {
      assert.deepEqual(Object.keys(got[i]), EXAM_FIELDS, c.what);
      for (const k of EXAM_FIELDS) {
        if (typeof want[k] === 'number') assert.ok(Math.abs(got[i][k] - want[k]) <= TOL * Math.max(1, Math.abs(want[k])), `${c.what}: ${k} ${got[i][k]} vs ${want[k]}`);
        else assert.equal(got[i][k], want[k], `${c.what}: ${k}`);
      }
    }
  }
});

test('exams.csv\'s text equals Python\'s, byte for byte', () => {
  for (const c of cases) assert.equal(examsCsv(examRecords(spec, c.records, c.exam_column ?? {})), c.expected_csv, c.what);
});

test('HC18 names group by subject; any other name is an exam of its own', () => {
  assert.equal(examOfName('010_HC.png'), 'hc18:010');
  assert.equal(examOfName('010_2HC.png'), 'hc18:010');
  assert.equal(examOfName('010_HC_Annotation.png'), 'file:010_HC_Annotation');
  assert.equal(examOfName('scan.dcm#2'), 'file:scan');
  assert.equal(examOfName('.hidden'), 'file:.hidden');
  // a DICOM file named by its UID: ".101" is the UID's last part, not an extension
  assert.equal(examOfName('1.2.840.113619.2.498.101'), 'file:1.2.840.113619.2.498.101');
  assert.equal(examOfName('1.2.840.113619.2.498.101#2'), 'file:1.2.840.113619.2.498.101');
  assert.equal(examOfName('010_HC.dcm#3'), 'hc18:010');
});

test('ids shown stay unique when a label reads like another exam\'s whole key', () => {
  assert.deepEqual(Object.fromEntries(examIds(['exam:hc18:7', 'exam:7', 'hc18:7'])),
    { 'exam:hc18:7': 'exam:hc18:7', 'exam:7': 'exam:7', 'hc18:7': 'hc18:7' });
  assert.deepEqual(Object.fromEntries(examIds(['exam:visit 1', 'dicom:1.2/3'])),
    { 'exam:visit 1': 'visit 1', 'dicom:1.2/3': '1.2/3' });
});

test('a GA interval only where the equation publishes its spread: Hadlock\'s with its 2 SD, none by INTERGROWTH-21st', () => {
  const iv = (hc) => ({ level: 0.95, lower_mm: hc - 4, upper_mm: hc + 4, half_width_mm: 4, method: 'test' });
  const head = (name, hc) => ({ filename: name, found: true, hc_mm: hc, review: false, review_reasons: [], hc_interval: iv(hc),
    biometry: null, known_ga_weeks: null, dating: null });
  const [row] = examRecords(spec, [head('050_HC.png', 180), head('050_2HC.png', 182)]);
  assert.ok(row.ga_intergrowth_days !== null && row.ga_hadlock_lower_95_days < row.ga_hadlock_days - 7); // ±2 SD: over a week
  assert.equal(row.ga_intergrowth_lower_95_days, null);
  assert.equal(row.ga_intergrowth_upper_95_days, null);
  // an image's: the measurement's part alone is no interval
  const measurementOnly = { measurement_lower_days: 140, measurement_upper_days: 144, combined_lower_days: null, combined_upper_days: null };
  assert.equal(gaIntervalBounds(measurementOnly), null);
  assert.equal(imageGaIntervalRecord(measurementOnly, 'intergrowth'), null);
  const combined = { ...measurementOnly, combined_lower_days: 130, combined_upper_days: 154, formula_kind: '2 SD' };
  assert.deepEqual(imageGaIntervalRecord(combined, 'hadlock'), { lower: 130, upper: 154, level: 0.95,
    method: "this image's HC interval through Hadlock 1984, combined with the formula's 2 SD" });
});
