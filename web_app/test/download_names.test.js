// Saved files are named neutrally: no part of the source file's name (it may hold a patient's ID).
import test from 'node:test';
import assert from 'node:assert/strict';
import { downloadStem, downloadName, examReportName } from '../src/ui/download_names.js';

test('a stem is the time and a count, nothing of the image', () => {
  const d = new Date(2024, 0, 31, 14, 25, 1);
  assert.equal(downloadStem(d, 3), 'hc-tf-20240131-142501-3');
  assert.equal(downloadName('hc-tf-20240131-142501-3', 'csv'), 'hc-tf-20240131-142501-3.report.csv');
  assert.equal(downloadName('s', 'json'), 's.report.json');
  assert.equal(downloadName('s', 'fhir'), 's.fhir.json');
  assert.equal(downloadName('s', 'exams'), 's.exams.csv');
  assert.equal(examReportName('s', 2), 's.exam2.obgyn.fhir.json');
  assert.throws(() => downloadName('s', 'png'));
});

test('two measurements in the same second get different stems', () => {
  const d = new Date(2024, 0, 31, 14, 25, 1);
  const a = downloadStem(d), b = downloadStem(d);
  assert.notEqual(a, b);
  assert.match(a, /^hc-tf-20240131-142501-\d+$/);
});
