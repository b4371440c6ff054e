// fhir.js studyDate: the study's date as fhir.study_datetime gives it (tests/dicom_sr_test.py
// compares the two on the same values through node).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { studyDate } from '../src/core/fhir.js';

test('studyDate reads DICOM dates and the dashed ones exports write, real dates only', () => {
  const ok = { '20260101': '2026-01-01', '20260101 ': '2026-01-01', '2026-01-01': '2026-01-01',
    '2026.01.01': '2026-01-01', '2024-02-29': '2024-02-29' };
  for (const [s, v] of Object.entries(ok)) assert.equal(studyDate(s), v, s);
  for (const s of ['2026-02-29', '20261399', '2026-1-1', '2026/01/01', '202601011', '', null, undefined]) {
    assert.equal(studyDate(s), null, String(s));
  }
});
