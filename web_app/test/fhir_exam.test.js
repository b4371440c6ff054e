// The exam's FHIR DiagnosticReport (src/core/fhir_exam.js): what the port must do itself that
// Python's library does for fhir_exam.py (html.escape, uuid5 under NAMESPACE_OID); the whole
// Bundle is compared with Python's by tests/fhir_exam_js_test.py.
import test from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, examBundle } from '../src/core/fhir_exam.js';
import { examRecord } from '../src/core/exams.js';
import { loadJson } from './helpers.js';

const spec = loadJson('hc_effunet_int8.json').clinical;
const MODEL = { name: 'hc_effunet_int8.tflite', version: '1', sha256: '0'.repeat(64) };

const head = (frame, hc) => ({ filename: `cine.dcm#${frame}`, found: true, hc_mm: hc, review: false, review_reasons: [],
  hc_interval: { level: 0.95, lower_mm: hc - 4, upper_mm: hc + 4, half_width_mm: 4, method: 'test' },
  biometry: null, known_ga_weeks: null, dating: null,
  dicom: { study_instance_uid: '1.2.3', series_instance_uid: '1.2.3.1', sop_instance_uid: '1.2.3.4', frame, frames_in_file: 2 } });

test('texts are escaped as Python\'s html.escape escapes them, quotes too', () => {
  assert.equal(escapeHtml(`a <b> & "c" 'd'`), 'a &lt;b&gt; &amp; &quot;c&quot; &#x27;d&#x27;');
  assert.equal(escapeHtml('&amp;'), '&amp;amp;'); // once, & first
});

test('ids are uuid5 under NAMESPACE_OID of the images (instance/frame), as Python\'s uuid.uuid5', () => {
  const members = [head(1, 180), head(2, 182)];
  const bundle = examBundle(spec, members, examRecord(spec, '1.2.3/1.2.3.1', members), MODEL);
  // uuid.uuid5(uuid.NAMESPACE_OID, 'hc-tf exam 1.2.3.4/1 1.2.3.4/2 0')
  assert.equal(bundle.entry[0].fullUrl, 'urn:uuid:57e04300-3041-5ec1-981c-7eeb47b11a54');
  const urls = bundle.entry.map((e) => e.fullUrl);
  assert.equal(new Set(urls).size, urls.length);
  assert.deepEqual(bundle.entry[0].resource.result.map((r) => r.reference), urls.slice(1));
  const one = examBundle(spec, members.slice(0, 1), examRecord(spec, 'x', members.slice(0, 1)), MODEL);
  assert.ok(one.entry.every((e) => !urls.includes(e.fullUrl))); // other images, other ids
});

test('no SR beside it: no identifier, derivedFrom the study and each frame only', () => {
  const members = [head(1, 180), head(2, 182)];
  const { resource: report } = examBundle(spec, members, examRecord(spec, 'x', members), MODEL).entry[0];
  assert.equal(report.identifier, undefined);
  assert.equal(report.effectiveDateTime, undefined);
  assert.equal(report.subject, undefined);
  assert.equal(report.conclusion, 'hc-tf review: not needed');
  const hc = examBundle(spec, members, examRecord(spec, 'x', members), MODEL).entry[1].resource;
  assert.deepEqual(hc.derivedFrom.map((d) => d.display), ['study 1.2.3', 'source image, frame 1', 'source image, frame 2']);
});

test('the GA by INTERGROWTH-21st has no interval, a note quoting its paper\'s prediction interval; Hadlock\'s has its 2 SD', () => {
  const members = [head(1, 180), head(2, 182)];
  const obs = examBundle(spec, members, examRecord(spec, 'x', members), MODEL).entry.map((e) => e.resource)
    .filter((r) => r.valueQuantity?.unit === 'd');
  assert.equal(obs.length, 2);
  const [hadlock, intergrowth] = obs;
  assert.ok(hadlock.valueQuantity.extension);
  assert.match(hadlock.note.at(-1).text, /combined with the formula's 2 SD$/);
  assert.equal(intergrowth.valueQuantity.extension, undefined);
  assert.equal(intergrowth.note.length, 1);
  assert.match(intergrowth.note[0].text, /^no 95% interval of the GA \(the equation's own spread: no per-estimate value published; the paper reports a 95% prediction interval of about 6-7 days at 14 weeks/);
  const report = examBundle(spec, members, examRecord(spec, 'x', members), MODEL).entry[0].resource;
  assert.match(report.text.div, /<td>GA by INTERGROWTH-21st 2016 \(HC\)<\/td><td>[^<]*<\/td><td>none<\/td>/);
});
