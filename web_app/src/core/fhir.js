// A measured head as FHIR R4 Observations (JSON): a port of hc_tf/report/fhir.py (the
// definition): the HC's, LOINC 11984-2, valueQuantity in mm (UCUM), derivedFrom the source study and
// instance by their DICOM UIDs, the method (model name, version, sha256), the review flag as the
// first note ("please review: <reasons>", none when not flagged; never `interpretation`, which an
// EHR shows as the abnormal-flag column: the flag is about the measurement's quality, not the
// value's normality), the HC's 95% interval as the quantity-confidenceInterval extension on the
// value (its method in the next note); BPD's, OFD's, the corrected BPD's and the cephalic index's
// (its normal range and the head shape as interpretation) and the GA the HC gives by each equation in range
// (fhir_ga: LOINC 18185-9, in days, with its 95% interval) beside it, in one Bundle (type collection).
// With a GA from dating, the HC read as size for that age: its normal range (3rd to 97th centile),
// interpretation Low / Normal / High and centile and z-score components.
// No patient data: the subject is left to the system that files it.

import { fmtFixed } from './pyformat.js';
import { hcNormalRange } from './clinical.js';
import { imageGaIntervalRecord } from './exams.js';

export const LOINC = 'http://loinc.org';
const UCUM = 'http://unitsofmeasure.org';
// FHIR's rule for a DICOM UID in an Identifier (R4 ImagingStudy, Implementation Notes): system
// urn:dicom:uid, the UID as the value prefixed with urn:oid:.
export const DICOM_UID = 'urn:dicom:uid';
export const OID = 'urn:oid:';
const CONFIDENCE_INTERVAL = 'http://hl7.org/fhir/StructureDefinition/quantity-confidenceInterval';
const IMAGING_CATEGORY = { system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'imaging', display: 'Imaging' };

export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
// fhir.INTERPRETATIONS: the centile flag -> HL7 v3 ObservationInterpretation (no flag: Normal)
const INTERPRETATIONS = { below_3rd: ['L', 'Low'], null: ['N', 'Normal'], above_97th: ['H', 'High'] };
const NORMAL_RANGE = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/referencerange-meaning', code: 'normal', display: 'Normal Range' }] };
// dicom_sr.PERCENTILE_CODE, Z_SCORE_CODE and POPULATION
const CENTILE_COMPONENTS = [['121415', 'Percentile Ranking of measurement', 'centile', '%'], ['121416', 'Z-Score of measurement', 'z', '1']];
const POPULATION = 'INTERGROWTH-21st fetal head circumference standard';

const quantity = (value, unit = 'mm') => ({ value, unit, system: UCUM, code: unit });
const mm = (value) => quantity(value, 'mm');
// records.interval_bounds: [lower, upper] of a length's interval (lower_mm) or the cephalic index's (lower); null without
export const intervalBounds = (iv) => {
  const lower = iv?.lower_mm ?? iv?.lower, upper = iv?.upper_mm ?? iv?.upper;
  return lower === undefined || lower === null || upper === undefined || upper === null ? null : [lower, upper];
};

/** fhir.confidence_interval: the extension of an interval record (intervals.js hcInterval's; the cephalic index's in %). */
export function confidenceInterval(iv, unit = 'mm') {
  const [lower, upper] = intervalBounds(iv);
  return { url: CONFIDENCE_INTERVAL, extension: [
    { url: 'confidence', valueDecimal: Number(fmtFixed(iv.level * 100, 6)) }, // Python round(x, 6)
    { url: 'interval', valueRange: { low: quantity(lower, unit), high: quantity(upper, unit) } }] };
}

/**
 * fhir.study_datetime: StudyDate "20260101" (or an export's "2026-01-01" / "2026.01.01", which
 * predict's SR holds as 20260101) -> "2026-01-01", else null.
 */
export function studyDate(date) {
  const d = /^(?:([0-9]{4})([0-9]{2})([0-9]{2})|([0-9]{4})[-.]([0-9]{2})[-.]([0-9]{2}))$/.exec(String(date ?? '').trim());
  if (!d) return null;
  const [ys, ms, ds] = d.slice(1).filter((g) => g !== undefined);
  const [y, m, day] = [Number(ys), Number(ms), Number(ds)];
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
  // not a real date ("20261399"): none, as fhir.study_datetime
  return y >= 1 && days && day >= 1 && day <= days ? `${ys}-${ms}-${ds}` : null;
}

/**
 * fhir.study_datetime: the study's date and time, "2026-01-01T10:20:30+05:30", when the file
 * declares its zone (TimezoneOffsetFromUTC as dicom_sr_evidence.utc_offset accepts it: +-HHMM,
 * minutes < 60, -1200 to +1400, not -0000) and has a StudyTime (TM: HH, HHMM, HHMMSS[.F],
 * the fraction dropped); else studyDate's date alone; null without a real date.
 */
export function studyDateTime(date, time, zone) {
  const day = studyDate(date);
  if (day === null) return null;
  const z = /^([+-])([0-9]{2})([0-9]{2})$/.exec(String(zone ?? '').trim());
  const t = /^([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?$/.exec(String(time ?? '').trim());
  if (!z || !t) return day;
  const offset = (Number(z[2]) * 60 + Number(z[3])) * (z[1] === '-' ? -1 : 1);
  if (Number(z[3]) >= 60 || offset < -12 * 60 || offset > 14 * 60 || z[0] === '-0000') return day;
  const [h, m, s] = t.slice(1, 4).map((g) => Number(g ?? 0));
  if (h > 23 || m > 59 || s > 59) return day;
  const two = (n) => String(n).padStart(2, '0');
  const fraction = t[4] ? `.${t[4]}` : ''; // as written: FHIR takes any digits
  return `${day}T${two(h)}:${two(m)}:${two(s)}${fraction}${z[1]}${z[2]}:${z[3]}`;
}

/** dicom.missing_uids: which referencing UIDs the file lacks (no Observation without them). */
export const missingUids = (uids) => ['study_instance_uid', 'sop_instance_uid', 'sop_class_uid'].filter((k) => !uids[k]);

export const HC_CODING = { system: LOINC, code: '11984-2', display: 'Fetal Head Circumference US' };
// fhir.AXES: BPD, OFD and the corrected BPD by their LOINC codes with a plain-words text (no display).
export const AXES = [
  ['bpd_mm', 'bpd', { coding: [{ system: LOINC, code: '11820-8' }], text: 'Fetal head biparietal diameter (BPD), ultrasound' }],
  ['ofd_mm', 'ofd', { coding: [{ system: LOINC, code: '11851-3' }], text: 'Fetal head occipitofrontal diameter (OFD), ultrasound' }],
  ['corrected_bpd_mm', 'cbpd', { coding: [{ system: LOINC, code: '11824-0' }], text: 'Fetal head corrected BPD (area corrected, Doubilet & Greenes), ultrasound' }],
];
export const AXIS_TITLES = { bpd: 'BPD', ofd: 'OFD', cbpd: 'corrected BPD' }; // fhir.AXIS_TITLES
// fhir.CI_CODE and HEAD_SHAPES: the cephalic index (in %) and its head shape as interpretation
export const CI_CODE = { coding: [{ system: LOINC, code: '11823-2' }], text: 'Fetal head cephalic index (100 BPD / OFD), ultrasound' };
const HEAD_SHAPES = { dolichocephalic: ['L', 'Low'], normal: ['N', 'Normal'], brachycephalic: ['H', 'High'] };

// fhir_ga.GA_KEYS and GA_TEXT: the GA an HC gives by each equation, one code (LOINC 18185-9) for both
export const GA_KEYS = ['hadlock', 'intergrowth'];
export const GA_TEXT = { hadlock: 'Hadlock 1984 (HC)', intergrowth: 'INTERGROWTH-21st 2016 (HC)' };
const gaCode = (key) => ({ coding: [{ system: LOINC, code: '18185-9' }], text: `Gestational age by fetal head circumference, ${GA_TEXT[key]}` });

/** fhir.head_observation: one value's Observation (a measurement of the model's, preliminary). */
export function headObservation(code, value, method, model, derived, notes, effective, subject = null, unit = 'mm') {
  const doc = {
    resourceType: 'Observation', status: 'preliminary',
    category: [{ coding: [IMAGING_CATEGORY] }],
    code: structuredClone(code), valueQuantity: quantity(value, unit),
    method: { text: method },
    device: { display: `hc-tf ${model.name} ${model.version}` },
    derivedFrom: structuredClone(derived),
  };
  if (notes.length) doc.note = notes;
  if (effective) doc.effectiveDateTime = effective;
  if (subject) doc.subject = structuredClone(subject);
  return doc;
}

/** fhir.with_interval: the value's interval as the extension, its method as the last note. */
export function withInterval(doc, name, iv, unit = 'mm') {
  if (intervalBounds(iv)) {
    doc.valueQuantity.extension = [confidenceInterval(iv, unit)];
    doc.note = [...(doc.note ?? []), { text: `${fmtFixed(iv.level * 100, 0)}% interval of the ${name} (measurement uncertainty, not a normal range): ${iv.method}` }];
  }
  return doc;
}

/** fhir_ga.spread_note: the note of a GA whose equation publishes no per-estimate spread (INTERGROWTH-21st), quoting its text; [] else. */
export function spreadNote(ga) {
  if ((ga.uncertainty_days !== null && ga.uncertainty_days !== undefined) || !ga.uncertainty) return [];
  return [{ text: `no 95% interval of the GA (the equation's own spread: ${ga.uncertainty})` }];
}

/** fhir_ga.ga_observation: the GA by equation `key` of `whose` HC ("the exam's", "this image's"), in days, with its interval (days). */
export function gaObservation(key, days, whose, interval, model, derived, notes, effective, subject = null) {
  const doc = headObservation(gaCode(key), Number(fmtFixed(days, 2)), `${GA_TEXT[key]} from ${whose} HC`, model, derived, notes, // round(x, 2)
    effective, subject, 'd');
  return withInterval(doc, 'GA', interval, 'd');
}

/** fhir_ga.image_ga_observations: the GA by each equation in range (the record's gestational_age), its interval from ga_interval. */
function imageGaObservations(gestationalAge, gaInterval, model, derived, notes, effective) {
  return GA_KEYS.filter((key) => gestationalAge?.[key]?.status === 'ok')
    .map((key) => gaObservation(key, gestationalAge[key].ga_days, "this image's", imageGaIntervalRecord(gaInterval?.[key], key), model,
      derived, [...structuredClone(notes), ...spreadNote(gestationalAge[key])], effective));
}

/** fhir._with_head_shape: the cephalic index's normal range and the head shape read against it. */
function withHeadShape(doc, b) {
  const [low, high] = b.cephalic_index_normal;
  doc.referenceRange = [{ low: quantity(low, '%'), high: quantity(high, '%'), type: structuredClone(NORMAL_RANGE),
    text: `normal head shape: ${b.cephalic_index_source}` }];
  const [code, display] = HEAD_SHAPES[b.head_shape];
  doc.interpretation = [{ coding: [{ system: INTERPRETATION, code, display }], text: b.head_shape_text }];
  return doc;
}

/**
 * fhir.with_centile: the HC's Observation read as size for the GA from dating (the record's
 * centile and dating): normal range, interpretation, centile components; as it is without a centile.
 */
export function withCentile(doc, centile, dating) {
  if (!centile || centile.status !== 'ok') return doc;
  const [low, high] = hcNormalRange(centile.ga_weeks);
  const dated = dating?.source ? ` (GA from dating: ${dating.source})` : '';
  doc.referenceRange = [{ low: mm(low), high: mm(high), type: structuredClone(NORMAL_RANGE),
    text: `3rd to 97th centile of the ${POPULATION} at ${centile.ga} weeks${dated}` }];
  const [code, display] = INTERPRETATIONS[centile.flag ?? null];
  doc.interpretation = [{ coding: [{ system: INTERPRETATION, code, display }], text: centile.display }];
  doc.component = CENTILE_COMPONENTS.map(([c, name, key, unit]) => ({ code: { coding: [{ system: DCM, code: c, display: name }] },
    valueQuantity: { value: centile[key], unit, system: UCUM, code: unit } }));
  return doc;
}

/** fhir.read_interval: {level, lower_mm, upper_mm} from an Observation's valueQuantity (the cephalic index's in %), or null. */
export function readInterval(doc) {
  const ext = (doc.valueQuantity?.extension ?? []).find((e) => e.url === CONFIDENCE_INTERVAL);
  if (!ext) return null;
  const parts = Object.fromEntries(ext.extension.map((e) => [e.url, e]));
  const range = parts.interval.valueRange;
  return { level: parts.confidence.valueDecimal / 100, lower_mm: range.low.value, upper_mm: range.high.value };
}

/** fhir.source_references: derivedFrom the study and instance (and frame) measured, and the SR beside it when there is one. */
export function sourceReferences(uids, frame, srSopInstanceUid = null) {
  const at = frame !== null ? `, frame ${frame}` : '';
  const derived = [
    { type: 'ImagingStudy', identifier: { system: DICOM_UID, value: `${OID}${uids.study_instance_uid}` },
      display: `study ${uids.study_instance_uid}, instance ${uids.sop_instance_uid}${at}` },
    { type: 'Media', identifier: { system: DICOM_UID, value: `${OID}${uids.sop_instance_uid}` },
      display: `source image${at}` },
  ];
  if (srSopInstanceUid) {
    derived.push({ identifier: { system: DICOM_UID, value: `${OID}${srSopInstanceUid}` },
      display: 'DICOM SR (TID 1500) of this measurement' });
  }
  return derived;
}

/** fhir.model_method: an Observation's method, the model that measured by name, version and sha256. */
export const modelMethod = (model) => `hc-tf model ${model.name} ${model.version} (sha256 ${model.sha256})`;

/** fhir._observations (without an SR beside it): the HC's Observation, then BPD's, OFD's, the cephalic index's and the GA's. */
function observations(hcMm, uids, frame, model, review, reasons, effective, hcInterval, biometry, axisIntervals = {}, centile = null, dating = null,
  gestationalAge = null, gaInterval = null) {
  const derived = sourceReferences(uids, frame);
  const modelText = modelMethod(model);
  const reviewNote = () => (review ? [{ text: `please review: ${reasons.join('; ')}` }] : []);
  // Notes in fhir.py's order: the review flag's, then the interval's method.
  const hc = headObservation({ coding: [HC_CODING] }, hcMm, modelText, model, derived, reviewNote(), effective);
  const out = [withCentile(withInterval(hc, 'HC', hcInterval), centile, dating)];
  for (const [field, q, code] of AXES) {
    if (biometry && biometry[field] !== null && biometry[field] !== undefined) {
      const doc = headObservation(code, biometry[field], `${modelText}: ${biometry.convention}`, model, derived, reviewNote(), effective);
      out.push(withInterval(doc, AXIS_TITLES[q], axisIntervals?.[q]));
    }
  }
  if (biometry && biometry.cephalic_index !== null && biometry.cephalic_index !== undefined) {
    const doc = headObservation(CI_CODE, biometry.cephalic_index, `${modelText}: ${biometry.convention}`, model, derived, reviewNote(), effective, null, '%');
    out.push(withHeadShape(withInterval(doc, 'cephalic index', axisIntervals?.ci, '%'), biometry));
  }
  return [...out, ...imageGaObservations(gestationalAge, gaInterval, model, derived, reviewNote(), effective)];
}

/**
 * fhir.observation (without an SR beside it): `uids` as dicom.uids gives them, `frame` the 1-based
 * frame of a multi-frame file or null, `model` {name, version, sha256}, `effective` a FHIR date or
 * null, `hcInterval` the HC's interval record (intervals.js hcInterval) or null (none written).
 */
export function observation(hcMm, uids, frame, model, review, reasons, effective = null, hcInterval = null) {
  return observations(hcMm, uids, frame, model, review, reasons, effective, hcInterval, null)[0];
}

/**
 * fhir.head_bundle (without an SR beside it): the HC's Observation and, from `biometry` (the
 * record's, biometry.js biometryRecord), BPD's and OFD's with their intervals (`axisIntervals`:
 * {bpd, ofd}, the record's bpd_interval and ofd_interval), then the GA by each equation in range
 * (the record's `gestationalAge` and `gaInterval`), as one Bundle (type collection); the
 * HC's read against the record's `centile` and `dating` where it has them.
 */
export function headBundle(hcMm, uids, frame, model, review, reasons, effective = null, hcInterval = null, biometry = null, axisIntervals = {},
  centile = null, dating = null, gestationalAge = null, gaInterval = null) {
  const entry = observations(hcMm, uids, frame, model, review, reasons, effective, hcInterval, biometry, axisIntervals, centile, dating,
    gestationalAge, gaInterval).map((resource) => ({ resource }));
  return { resourceType: 'Bundle', type: 'collection', entry };
}
