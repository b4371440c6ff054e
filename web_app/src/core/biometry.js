// Head biometry from the fitted ellipse: BPD, OFD, cephalic index, corrected BPD, GA from BPD.
// A port of hc_tf/clinical/biometry.py (the definition) and records.biometry_record; the
// constants, sources and convention come from the bundle metadata's clinical.biometry.

import { fmtFixed, fmtG } from './pyformat.js';
import { formatBeyond, formatGa, weeksToDays } from './clinical.js';

function positive(v, what) {
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new Error(`${what} must be a finite number > 0, got ${v}`);
  return v;
}

// biometry.PREFER_HC: true whether or not the HC gives a GA (the advice, not a claim that this head's HC dates it).
const PREFER_HC = 'prefer the HC for dating, where it gives a GA';

/** biometry.head_shape: [shape, sentence]. */
function headShape(ci, [lo, hi]) {
  if (ci < lo) {
    return ['dolichocephalic', `cephalic index ${formatBeyond(ci, lo, 1)} below ${fmtG(lo)} (dolichocephalic head): BPD underestimates age; ${PREFER_HC}`];
  }
  if (ci > hi) {
    return ['brachycephalic', `cephalic index ${formatBeyond(ci, hi, 1)} above ${fmtG(hi)} (brachycephalic head): BPD overestimates age; ${PREFER_HC}`];
  }
  return ['normal', `cephalic index ${fmtFixed(ci, 1)} within ${fmtG(lo)}-${fmtG(hi)} (normal head shape)`];
}

/** biometry.ga_from_bpd as records.biometry_record's "ga_bpd". */
export function gaFromBpd(bio, bpdMm) {
  const g = bio.ga_from_bpd;
  const bpd = positive(bpdMm, 'BPD (mm)');
  const [c0, c1, c2] = g.coefficients;
  const b = bpd / 10.0;
  const weeks = c0 + c1 * b + c2 * b * b;
  const [lo, hi] = g.valid_ga_weeks;
  if (!(lo <= weeks && weeks <= hi)) {
    return { status: 'out_of_range', ga_days: null, ga: null, uncertainty_days: null, uncertainty: '',
      message: `out of range: BPD ${fmtFixed(bpd, 1)} mm gives ${formatBeyond(weeks, weeks < lo ? lo : hi, 1)} weeks, outside ${fmtG(lo)}-${fmtG(hi)} weeks where Hadlock's BPD formula applies`,
      source: g.source };
  }
  const bands = g.intervals_weeks;
  const band = bands.find((x) => weeks < x.to) ?? bands[bands.length - 1];
  const days = weeksToDays(weeks);
  return { status: 'ok', ga_days: days, ga: formatGa(days), uncertainty_days: weeksToDays(band.plus_minus_weeks),
    uncertainty: `±${fmtFixed(band.plus_minus_weeks, 2)} weeks (2 SD) for ${fmtG(band.from)}-${fmtG(band.to)} weeks, Hadlock 1984 (BPD)`,
    message: '', source: g.source };
}

/** records.biometry_record(biometry_from_axes(a_mm, b_mm)). */
export function biometryRecord(spec, aMm, bMm) {
  const bio = spec.biometry;
  const a = positive(aMm, 'semi-axis (mm)'), b = positive(bMm, 'semi-axis (mm)');
  const bpd = 2.0 * Math.min(a, b), ofd = 2.0 * Math.max(a, b);
  const ci = 100.0 * bpd / ofd;
  const [shape, text] = headShape(ci, bio.cephalic_index_normal);
  return { bpd_mm: bpd, ofd_mm: ofd, convention: bio.convention, cephalic_index: ci,
    cephalic_index_normal: [...bio.cephalic_index_normal], cephalic_index_source: bio.cephalic_index_source,
    head_shape: shape, head_shape_text: text, corrected_bpd_mm: Math.sqrt(bpd * ofd / bio.corrected_bpd_ratio),
    corrected_bpd_source: bio.corrected_bpd_source, ga_bpd: gaFromBpd(bio, bpd) };
}
