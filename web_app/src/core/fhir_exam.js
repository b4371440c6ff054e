// An exam's heads as one FHIR R4 DiagnosticReport (JSON): a port of hc_tf/report/fhir_exam.py
// (the definition), as `hc-tf predict` writes fhir/<first stem>.obgyn.fhir.json, less what
// needs the OB-GYN SR the app does not write (no identifier, no SR in derivedFrom): the same
// Bundle as Python's exam_bundle(..., report_uid=None) for the same records.
// A Bundle (type collection) of the DiagnosticReport (preliminary, OB Ultrasound, LOINC 11525-3)
// and the exam's Observations: HC, BPD, OFD, corrected BPD and cephalic index (with several
// images their mean and exams.csv's interval of the mean), the HC read against the exam's GA from
// dating, and the GA of the exam's HC by each equation; the review flag, each flagged image's
// reasons and the images' disagreement as conclusion, and a narrative table (XHTML) of it all.
// Ids derive from the exam's images (each instance and frame), so a report of the same images,
// saved again, has the same ids (filed again, it updates the last one instead of adding one).

import { v5 as uuidV5 } from 'uuid';
import { formatGa, gaFromHc, hcCentile } from './clinical.js';
import { fsum, gaIntervalMethod } from './exams.js';
import { AXES, AXIS_TITLES, CI_CODE, DCM, DICOM_UID, GA_KEYS, GA_TEXT, HC_CODING, LOINC, OID, gaObservation, headObservation, intervalBounds,
  modelMethod, readInterval, sourceReferences, spreadNote, withCentile, withInterval } from './fhir.js';
import { fmtFixed } from './pyformat.js';

const NAMESPACE_OID = '6ba7b812-9dad-11d1-80b4-00c04fd430c8'; // Python's uuid.NAMESPACE_OID (RFC 9562)
const OB_ULTRASOUND = { system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'OUS', display: 'OB Ultrasound' };
// CID 7000's LOINC document title, then the SR's root concept (fhir_exam.REPORT_CODE).
const REPORT_CODE = {
  coding: [{ system: LOINC, code: '11525-3', display: 'Ultrasound Obstetric and Gyn Report' },
    { system: DCM, code: '125000', display: 'OB-GYN Ultrasound Procedure Report' }],
  text: 'OB-GYN ultrasound report: fetal head biometry (hc-tf)',
};
const GA_METHODS = { hadlock: 'hadlock_1984', intergrowth: 'intergrowth21_hc_2016' }; // exams.GA_METHODS
// [report field, interval field, FHIR code, interval's name in the notes, unit] (fhir_exam.QUANTITIES)
const QUANTITIES = [['hc_mm', 'hc_interval', { coding: [HC_CODING] }, 'HC', 'mm'],
  ...AXES.map(([field, name, code]) => [field, name === 'cbpd' ? 'corrected_bpd_interval' : `${name}_interval`, code, AXIS_TITLES[name], 'mm']),
  ['cephalic_index', 'cephalic_index_interval', CI_CODE, 'cephalic index', '%']];
const MEAN_INTERVAL = "the mean of the images' interval half-widths around the mean, no credit for "
  + "averaging (images of one head may err alike); each image's: ";

/** Python's html.escape (quote=True): the text safe in XHTML, quotes too. */
export const escapeHtml = (text) => String(text).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
  .replaceAll('"', '&quot;').replaceAll("'", '&#x27;');

/** dicom_sr_obgyn.value_of: a record's measurement, the HC at its top level, the rest in its biometry; null if none. */
function valueOf(record, field) {
  const value = field === 'hc_mm' ? record.hc_mm : record.biometry?.[field];
  return value === undefined || value === null ? null : value;
}

/** dicom_sr_obgyn.comments: the review flag and its reasons (image k of n: reason), and the images' disagreement. */
export function comments(members, exam) {
  const flagged = members.map((r, i) => [i + 1, r]).filter(([, r]) => r.review);
  const lines = [`hc-tf review: ${flagged.length || exam.disagree ? 'needed' : 'not needed'}`];
  for (const [i, r] of flagged) {
    for (const reason of r.review_reasons?.length ? r.review_reasons : ['flagged']) lines.push(`image ${i} of ${members.length}: ${reason}`);
  }
  if (exam.disagree) lines.push(exam.disagree_reason);
  return lines;
}

/** fhir_exam._derived: the study once, then every image (and frame) measured (and its SR where it names one). */
function derivedFrom(members) {
  const study = members[0].dicom.study_instance_uid;
  const out = [{ type: 'ImagingStudy', identifier: { system: DICOM_UID, value: `${OID}${study}` }, display: `study ${study}` }];
  for (const { dicom: d } of members) {
    const frame = (d.frames_in_file || 1) > 1 ? (d.frame ?? null) : null;
    out.push(...sourceReferences(d, frame, d.sr_sop_instance_uid).filter((ref) => ref.type !== 'ImagingStudy'));
  }
  return out;
}

/**
 * fhir_exam.exam_value: {value, interval, n} of one quantity: the mean of the images that have it
 * with dicom_sr_obgyn.mean_with_interval's interval (the mean of their half-widths), or the one
 * image's own; null if none has it.
 */
export function examValue(members, field, intervalField) {
  const have = members.filter((r) => valueOf(r, field) !== null);
  if (!have.length) return null;
  if (have.length === 1) return { value: valueOf(have[0], field), interval: have[0][intervalField] ?? null, n: 1 };
  const mean = fsum(have.map((r) => valueOf(r, field))) / have.length; // statistics.fmean
  const bounds = have.map((r) => intervalBounds(r[intervalField]));
  if (bounds.some((b) => b === null)) return { value: mean, interval: null, n: have.length };
  const half = fsum(bounds.map(([lo, hi]) => (hi - lo) / 2)) / bounds.length;
  const first = have[0][intervalField];
  return { value: mean, n: have.length, interval: { lower: mean - half, upper: mean + half, level: first.level,
    method: MEAN_INTERVAL + String(first.method ?? '') } };
}

/** fhir_exam._observation: {doc, n} of one quantity of the exam (n the images it averages), or null. */
function quantityObservation([field, intervalField, code, title, unit], members, model, derived, reviewNote, effective, subject) {
  const got = examValue(members, field, intervalField);
  if (!got) return null;
  const method = modelMethod(model) + (field === 'hc_mm' ? '' : `: ${members[0].biometry.convention}`);
  const notes = [...reviewNote, ...(got.n > 1 ? [{ text: `mean of the ${title} of ${got.n} images of the exam` }] : [])];
  const doc = headObservation(code, got.value, method, model, derived, notes, effective, subject, unit);
  return { doc: withInterval(doc, title, got.interval, unit), n: got.n };
}

/** exams.ga_interval_record: the exam row's GA interval by formula `key` as an interval record (days), or null. */
function gaIntervalRecord(spec, exam, key) {
  const lower = exam[`ga_${key}_lower_95_days`], upper = exam[`ga_${key}_upper_95_days`];
  if (lower === undefined || lower === null || upper === undefined || upper === null) return null;
  const method = spec.ga_from_hc.methods.find((m) => m.method === GA_METHODS[key]);
  const g = gaFromHc(spec, exam.hc_mean_mm, method.method); // its spread at the exam's mean HC
  return { lower, upper, level: 0.95, method: gaIntervalMethod("the exam's mean", key, g.uncertainty_kind) };
}

/** fhir_exam._ga_observation: the GA of the exam's HC by one equation, in days, with its interval (none by INTERGROWTH-21st: a note quoting its paper's prediction interval), from the HC's. */
function examGaObservation(spec, key, exam, hcUrl, model, effective, subject) {
  const method = spec.ga_from_hc.methods.find((m) => m.method === GA_METHODS[key]);
  return gaObservation(key, exam[`ga_${key}_days`], "the exam's", gaIntervalRecord(spec, exam, key), model, [{ reference: hcUrl }],
    spreadNote(gaFromHc(spec, exam.hc_mean_mm, method.method)), effective, subject);
}

/** fhir_exam._shown: a value as the narrative shows it, a GA in days as weeks+days. */
const shown = (value, unit) => (unit === 'd' ? `${formatGa(value)} weeks` : `${fmtFixed(value, 1)} ${unit}`);

/**
 * fhir_exam.narrative: the report's XHTML text from its Observations ([name, doc] rows, the HC
 * first): a table of each value with its 95% interval, the HC's centile, then the comments.
 */
export function narrative(rows, lines, model) {
  const cells = rows.map(([name, doc]) => {
    const { unit, value } = doc.valueQuantity, iv = readInterval(doc);
    const bounds = iv ? `${shown(iv.lower_mm, unit)} to ${shown(iv.upper_mm, unit)}` : 'none';
    return `<tr><td>${escapeHtml(name)}</td><td>${shown(value, unit)}</td><td>${escapeHtml(bounds)}</td></tr>`;
  });
  const hc = rows.length ? rows[0][1] : {};
  const ranges = hc.referenceRange ?? [];
  const centile = (hc.interpretation ?? []).slice(0, ranges.length).map((i, k) => `<p>HC ${escapeHtml(i.text)}: normal range `
    + `${fmtFixed(ranges[k].low.value, 1)} to ${fmtFixed(ranges[k].high.value, 1)} mm, the ${escapeHtml(ranges[k].text)}</p>`);
  const notes = lines.map((line) => `<p>${escapeHtml(line)}</p>`);
  return '<div xmlns="http://www.w3.org/1999/xhtml"><p><b>Fetal head biometry</b> by '
    + `${escapeHtml(`hc-tf ${model.name} ${model.version}`)} (preliminary: for a clinician to review)</p><table><tr>`
    + `<th>Measurement</th><th>Value</th><th>95% interval</th></tr>${cells.join('')}</table>${centile.join('')}${notes.join('')}</div>`;
}

/**
 * fhir_exam.exam_bundle(..., report_uid=None): the exam's DiagnosticReport and Observations as a
 * Bundle (type collection). `members`: the exam's records with a head (report.json's, as
 * ui/report.js imageRecord makes them, each with its "dicom" UIDs), one study, in input order;
 * `exam`: their exams.csv row (exams.js examRecord of `members`); `model` {name, version, sha256};
 * `effective` the study's FHIR dateTime or null; `subject` a Patient reference or null (none).
 */
export function examBundle(spec, members, exam, model, effective = null, subject = null) {
  const images = members.map((r) => `${r.dicom.sop_instance_uid}/${r.dicom.frame || 1}`).join(' ');
  let count = 0;
  const nextId = () => `urn:uuid:${uuidV5(`hc-tf exam ${images} ${count++}`, NAMESPACE_OID)}`;
  const lines = comments(members, exam);
  const reviewNote = lines[0].endsWith(': needed') ? [{ text: `please review: ${lines.slice(1).join('; ')}` }] : [];
  const derived = derivedFrom(members);
  const reportUrl = nextId(), entries = [], rows = [];
  for (const quantity of QUANTITIES) {
    const got = quantityObservation(quantity, members, model, derived, reviewNote, effective, subject);
    if (!got) continue;
    let { doc } = got;
    if (quantity[0] === 'hc_mm') doc = withCentile(doc, hcCentileAt(spec, doc.valueQuantity.value, exam), members[0].dating);
    entries.push([nextId(), doc]);
    rows.push([quantity[3] + (got.n > 1 ? ` (mean of ${got.n} images)` : ''), doc]);
  }
  const hcUrl = entries[0][0];
  for (const key of GA_KEYS) {
    if (exam[`ga_${key}_days`] === undefined || exam[`ga_${key}_days`] === null) continue;
    entries.push([nextId(), examGaObservation(spec, key, exam, hcUrl, model, effective, subject)]);
    rows.push([`GA by ${GA_TEXT[key]}`, entries[entries.length - 1][1]]);
  }
  const report = { resourceType: 'DiagnosticReport', status: 'preliminary', category: [{ coding: [OB_ULTRASOUND] }],
    code: structuredClone(REPORT_CODE), imagingStudy: [derived[0]], result: entries.map(([url]) => ({ reference: url })),
    conclusion: lines.join('\n'), text: { status: 'generated', div: narrative(rows, lines, model) },
    ...(effective ? { effectiveDateTime: effective } : {}), ...(subject ? { subject: structuredClone(subject) } : {}) };
  return { resourceType: 'Bundle', type: 'collection',
    entry: [[reportUrl, report], ...entries].map(([fullUrl, resource]) => ({ fullUrl, resource })) };
}

/** fhir_exam._hc_centile: the exam HC's centile record at its images' one GA from dating (null without one). */
function hcCentileAt(spec, value, exam) {
  return exam.known_ga_weeks === undefined || exam.known_ga_weeks === null ? null : hcCentile(spec, value, Number(exam.known_ga_weeks));
}
