// fhir.js studyDate: the study's date as fhir.study_datetime gives it, and observation's notes
// (the review flag's, then the interval's); tests/dicom_sr_test.py compares both with the Python
// on the same values through node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { observation, studyDate } from '../src/core/fhir.js';

test('studyDate reads DICOM dates and the dashed ones exports write, real dates only', () => {
  const ok = { '20260101': '2026-01-01', '20260101 ': '2026-01-01', '2026-01-01': '2026-01-01',
    '2026.01.01': '2026-01-01', '2024-02-29': '2024-02-29' };
  for (const [s, v] of Object.entries(ok)) assert.equal(studyDate(s), v, s);
  for (const s of ['2026-02-29', '20261399', '2026-1-1', '2026/01/01', '202601011', '', null, undefined]) {
    assert.equal(studyDate(s), null, String(s));
  }
});

test('the review flag is the first note, never an interpretation (the abnormal-flag column)', () => {
  const model = { name: 'm.tflite', version: '1', sha256: '0'.repeat(64) };
  const uids = { study_instance_uid: '1.2.3', sop_instance_uid: '1.2.3.4' };
  const iv = { lower_mm: 170.1, upper_mm: 181.0, level: 0.95, method: 'test conformal' };
  const method = '95% interval of the HC (measurement uncertainty, not a normal range): test conformal';
  const notes = (doc) => (doc.note ?? []).map((n) => n.text);
  for (const [review, reasons, interval, want] of [
    [false, [], null, []],
    [false, [], iv, [method]],
    [true, ['a', 'b c'], null, ['please review: a; b c']],
    [true, ['a', 'b c'], iv, ['please review: a; b c', method]],
  ]) {
    const doc = observation(175.3, uids, null, model, review, reasons, null, interval);
    assert.equal('interpretation' in doc, false);
    assert.equal(doc.status, 'preliminary');
    assert.deepEqual(notes(doc), want);
    assert.equal('note' in doc, want.length > 0);
  }
});
