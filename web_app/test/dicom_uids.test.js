// dicom.uids' port: a UID the file holds as no UID (a sender's text) is '' (tests/
// dicom_predict_test.py's test_a_study_or_series_uid_that_is_no_uid_is_no_reference for predict).
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readHeader } from '../src/core/dicom/file.js';
import { element, part10 } from './dicom_bytes.js';
import { loadJson } from './helpers.js';

const parser = createRequire(import.meta.url)('dicom-parser');
const limits = loadJson('hc_effunet_int8.json').input_limits;
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

function uidsOf(study, series) {
  const us = (n) => [n];
  const body = Buffer.concat([
    element(0x0008, 0x0016, 'UI', '1.2.840.10008.5.1.4.1.1.6.1'), element(0x0008, 0x0018, 'UI', '1.2.3.4'),
    element(0x0020, 0x000d, 'UI', study), element(0x0020, 0x000e, 'UI', series),
    element(0x0028, 0x0002, 'US', us(1)), element(0x0028, 0x0004, 'CS', 'MONOCHROME2 '),
    element(0x0028, 0x0010, 'US', us(4)), element(0x0028, 0x0011, 'US', us(4)),
    element(0x0028, 0x0100, 'US', us(8)), element(0x0028, 0x0101, 'US', us(8)),
    element(0x0028, 0x0103, 'US', us(0)), element(0x7fe0, 0x0010, 'OB', Buffer.alloc(16, 7))]);
  return readHeader(parser, part10(EXPLICIT_LE, body), 'a.dcm', limits).uids;
}

test('a study or series UID that is no UID is no reference', () => {
  assert.deepEqual(uidsOf('../../../tmp/x', '=cmd|calc!A1'), {
    study_instance_uid: '', series_instance_uid: '', sop_instance_uid: '1.2.3.4',
    sop_class_uid: '1.2.840.10008.5.1.4.1.1.6.1' });
  const ok = uidsOf('1.2.840.113619.2.55', '1.2.0.3');
  assert.equal(ok.study_instance_uid, '1.2.840.113619.2.55');
  assert.equal(ok.series_instance_uid, '1.2.0.3');
  assert.equal(uidsOf('1.02.3', '1..2').study_instance_uid, '1.02.3');  // a leading zero: older scanners'
  assert.equal(uidsOf('1.2', '1..2').series_instance_uid, '');  // an empty component
  assert.equal(uidsOf('1.2', `1.${'2'.repeat(63)}`).series_instance_uid, '');  // 65 characters
});

test('a file with an Extended Offset Table is refused in words: the parser cannot read it', () => {
  const us = (n) => [n];
  const ov = Buffer.concat([Buffer.from([0xe0, 0x7f, 0x01, 0x00]), Buffer.from('OV', 'latin1'), Buffer.alloc(2),
    Buffer.from(new Uint32Array([8]).buffer), Buffer.alloc(8)]);
  const body = Buffer.concat([
    element(0x0028, 0x0002, 'US', us(1)), element(0x0028, 0x0004, 'CS', 'MONOCHROME2 '),
    element(0x0028, 0x0010, 'US', us(4)), element(0x0028, 0x0011, 'US', us(4)),
    element(0x0028, 0x0100, 'US', us(8)), element(0x0028, 0x0101, 'US', us(8)),
    element(0x0028, 0x0103, 'US', us(0)), ov, element(0x7fe0, 0x0010, 'OB', Buffer.alloc(16, 7))]);
  assert.throws(() => readHeader(parser, part10('1.2.840.10008.1.2.4.50', body), 'eot.dcm', limits),
    /eot\.dcm: an Extended Offset Table \(7FE0,0001\), which this app cannot read; measure the file with hc-tf predict/);
});
