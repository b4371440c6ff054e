// Clinical read-outs of an HC: GA by two formulas, centile for a known GA, the review flag.
// A port of hc_tf/clinical/ and the records of hc_tf/report/records.py (the definition), with the
// same texts. Ranges, uncertainty tables, titles, thresholds and reasons come from the
// bundle metadata's "clinical" section (`spec` below); only the equations are code here.

import { fmtFixed, fmtG } from './pyformat.js';
import { erfc } from './erf.js';

export { erf, erfc } from './erf.js';

export const DAYS_PER_WEEK = 7;
export const REVIEW_SEPARATOR = '; ';
const HC_DECIMALS = 1;
const Z_DECIMALS = 2;
const CENTILE_DECIMALS = 1;
const EDGE_SLACK = 1e-3; // gestational_age._EDGE_SLACK
const LOW_CENTILE = 3.0; // "below_3rd"
const HIGH_CENTILE = 97.0; // "above_97th"
const REASON_MISSING = (name) => `${name.replaceAll('_', ' ')} could not be computed`;
const FRACTION_SIGNALS = new Set(['inlier_fraction', 'mask_ellipse_dice', 'uncertain_band_fraction', 'outside_fraction']);

// The published equations, by the metadata's method id (its `equation` says the same in words).
const GA_EQUATIONS = {
  hadlock_1984: (hcMm) => {
    const hcCm = hcMm / 10.0;
    return weeksToDays(8.96 + 0.540 * hcCm + 0.0003 * hcCm ** 3);
  },
  intergrowth21_hc_2016: (hcMm) => Math.exp(0.05970 * Math.log(hcMm) ** 2 + 6.409e-9 * hcMm ** 3 + 3.3258),
};
// report.GA_KEYS and gestational_age._short_name (message wording).
export const GA_KEYS = { hadlock_1984: 'hadlock', intergrowth21_hc_2016: 'intergrowth' };
const GA_SHORT_NAMES = { hadlock_1984: 'Hadlock 1984', intergrowth21_hc_2016: 'INTERGROWTH-21st HC-only' };

// ---------------------------------------------------------------- units (clinical/units.py)

export const weeksToDays = (weeks) => weeks * DAYS_PER_WEEK;
export const daysToWeeks = (days) => days / DAYS_PER_WEEK;

function checkFinite(value, name) {
  if (typeof value !== 'number') throw new Error(`${name} must be a number, got ${String(value)}`);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a finite number, got ${String(value)}`);
  return value;
}

function checkPositive(value, name) {
  if (checkFinite(value, name) <= 0) throw new Error(`${name} must be positive, got ${String(value)}`);
  return value;
}

/** Nearest whole day, halves up (units.round_ga_days). */
export function roundGaDays(days) {
  if (checkFinite(days, 'GA (days)') < 0) throw new Error(`GA must not be negative, got ${days} days`);
  return Math.floor(days + 0.5);
}

/** GA as "weeks+days", e.g. 192.0 -> "27+3" (units.format_ga). */
export function formatGa(days) {
  const total = roundGaDays(days);
  return `${Math.floor(total / DAYS_PER_WEEK)}+${total % DAYS_PER_WEEK}`;
}

export const formatHcMm = (hcMm) => `${fmtFixed(checkFinite(hcMm, 'HC'), HC_DECIMALS)} mm`;

/** z with its sign, e.g. "-1.23", "+0.00" (Python f"{z:+.2f}"). */
export function formatZ(z) {
  checkFinite(z, 'z-score');
  const negative = z < 0 || Object.is(z, -0);
  return `${negative ? '-' : '+'}${fmtFixed(Math.abs(z), Z_DECIMALS)}`;
}

/** units.format_beyond: a value flagged as beyond `limit`, "<74.0" / ">83.0" where rounding would print the limit itself. */
export function formatBeyond(value, limit, decimals) {
  checkFinite(value, 'value');
  const text = fmtFixed(value, decimals);
  if (value < limit && limit <= Number(text)) return `<${fmtFixed(limit, decimals)}`;
  if (value > limit && limit >= Number(text)) return `>${fmtFixed(limit, decimals)}`;
  return text;
}

/** units.format_outside: [value, lo, hi] as text for "value is outside lo-hi", a decimal more at a time (at most 20) until the value's text is outside the bounds'. */
export function formatOutside(value, lo, hi, decimals) {
  checkFinite(value, 'value');
  let texts;
  for (let d = decimals; d <= Math.max(decimals, 20); d++) {
    texts = [value, lo, hi].map((x) => fmtFixed(x, d));
    if (!(Number(texts[1]) <= Number(texts[0]) && Number(texts[0]) <= Number(texts[2]))) break;
  }
  return texts;
}

/** Centile for display; never "0.0" or "100.0", which would read as certainty; one flagged against `flagLimit` as formatBeyond. */
export function formatCentile(centile, flagLimit = null) {
  checkFinite(centile, 'centile');
  const lo = 10 ** -CENTILE_DECIMALS;
  if (centile < lo) return `<${fmtFixed(lo, CENTILE_DECIMALS)}`;
  if (centile > 100.0 - lo) return `>${fmtFixed(100.0 - lo, CENTILE_DECIMALS)}`;
  if (flagLimit !== null) return formatBeyond(centile, flagLimit, CENTILE_DECIMALS);
  return fmtFixed(centile, CENTILE_DECIMALS);
}

// units._WEEKS_DAYS and _DECIMAL: blanks are spaces and tabs only (\s takes a BOM here, not there)
const WEEKS_DAYS = /^[ \t]*(\d{1,2})[ \t]*\+[ \t]*([0-6])[ \t]*$/;
const DECIMAL = /^[ \t]*[+-]?(\d+\.?\d*|\.\d+)[ \t]*$/; // no exponent ("1e1" is refused)

/**
 * A GA as entered (LMP or dating scan) -> weeks (units.parse_ga_weeks): weeks ("27.5") or
 * "weeks+days" ("27+3"). Throws an Error with a message to show as it is when the text is
 * not a number, or the GA is outside spec.hc_centile.ga_input_weeks (10-45 weeks).
 */
export function parseGaWeeks(spec, value) {
  let weeks;
  if (typeof value === 'string') {
    const m = WEEKS_DAYS.exec(value);
    if (m) weeks = Number(m[1]) + Number(m[2]) / DAYS_PER_WEEK;
    else if (DECIMAL.test(value)) weeks = Number(value);
    else throw new Error(`GA '${value}' is not a number of weeks or 'weeks+days' (e.g. 27+3)`);
  } else {
    weeks = checkFinite(value, 'GA (weeks)');
  }
  if (!Number.isFinite(weeks)) throw new Error(`GA must be a finite number of weeks, got '${value}'`);
  const [lo, hi] = spec.hc_centile.ga_input_weeks;
  if (!(lo <= weeks && weeks <= hi)) {
    throw new Error(`GA ${fmtFixed(weeks, 2)} weeks is outside ${fmtG(lo)}-${fmtG(hi)} weeks: check the entry`);
  }
  return weeks;
}

// ---------------------------------------------------------------- GA from HC

function gaMethod(spec, method) {
  const m = spec.ga_from_hc.methods.find((x) => x.method === method);
  if (!m || !GA_EQUATIONS[method]) throw new Error(`unknown GA method '${method}'`);
  return m;
}

/** gestational_age._bracket: neighbouring HCs [lo, hi] with GA(lo) < gaDays <= GA(hi), by bisection on 1-1000 mm. */
function bracket(method, gaDays) {
  let lo = 1.0, hi = 1000.0;
  for (let i = 0; i < 100; i++) {
    const mid = 0.5 * (lo + hi);
    if (GA_EQUATIONS[method](mid) < gaDays) lo = mid; else hi = mid;
  }
  return [lo, hi];
}

const VALID_HC = new Map();
/** gestational_age._valid_hc: the first and the last HC whose GA is in range (the metadata's valid_hc_mm rounds them to 3 decimals). */
function validHcMm(method, [loGa, hiGa]) {
  if (!VALID_HC.has(method)) {
    const [below, above] = bracket(method, hiGa);
    VALID_HC.set(method, [bracket(method, loGa)[1], GA_EQUATIONS[method](above) <= hiGa ? above : below]);
  }
  return VALID_HC.get(method);
}

const gaRangeText = ([lo, hi]) => `${formatGa(lo)} to ${formatGa(hi)} weeks`;

/** The source's uncertainty of one estimate: {days, kind, text} (gestational_age._uncertainty). */
function gaUncertainty(m, gaDays) {
  const u = m.uncertainty;
  if (!u.intervals_weeks) return { days: null, kind: u.kind, text: u.text };
  const weeks = daysToWeeks(gaDays);
  // First interval whose upper end is above the GA; the last one also takes its own end.
  const band = u.intervals_weeks.find((b) => weeks < b.to) ?? u.intervals_weeks[u.intervals_weeks.length - 1];
  return {
    days: weeksToDays(band.plus_minus_weeks), kind: '2 SD',
    text: `±${fmtFixed(band.plus_minus_weeks, 2)} weeks (2 SD) for ${fmtG(band.from)}-${fmtG(band.to)} weeks, ${GA_SHORT_NAMES[m.method]}`,
  };
}

/**
 * GA implied by an HC by one formula, within its range only: report.ga_record's fields
 * {method, status ("ok"/"out_of_range"), ga ("20+1" or null), ga_days, ga_weeks, uncertainty,
 * uncertainty_days, uncertainty_kind, valid_ga, message, source}. Throws on a bad HC.
 */
export function gaFromHc(spec, hcMm, method) {
  checkPositive(hcMm, 'HC (mm)');
  const m = gaMethod(spec, method);
  const validGa = m.valid_ga_days;
  const [loHc, hiHc] = validHcMm(method, validGa);
  // The HC range first, before any formula (as gestational_age.ga_from_hc): the bounds come
  // from a bisection, so a relative slack leaves the GA range the definition at the edges.
  const insideHc = loHc * (1 - EDGE_SLACK) <= hcMm && hcMm <= hiHc * (1 + EDGE_SLACK);
  const gaDays = insideHc ? GA_EQUATIONS[method](hcMm) : NaN;
  // In ga_record's key order, so that report.json reads as predict's.
  const record = (fields, message) => ({ method, ...fields, valid_ga: gaRangeText(validGa), message, source: m.source });
  if (!(validGa[0] <= gaDays && gaDays <= validGa[1])) {
    const shown = formatOutside(hcMm, loHc, hiHc, HC_DECIMALS);
    return record({ status: 'out_of_range', ga: null, ga_days: null, ga_weeks: null,
      uncertainty: null, uncertainty_days: null, uncertainty_kind: null },
    `out of range: HC ${shown[0]} mm is outside ${shown[1]}-${shown[2]} mm, `
      + `where ${GA_SHORT_NAMES[method]} applies (${gaRangeText(validGa)})`);
  }
  const u = gaUncertainty(m, gaDays);
  return record({ status: 'ok', ga: formatGa(gaDays), ga_days: gaDays, ga_weeks: daysToWeeks(gaDays),
    uncertainty: u.text, uncertainty_days: u.days, uncertainty_kind: u.kind }, '');
}

/** Every formula's record keyed as golden.json's gestational_age ({hadlock, intergrowth}). */
export function gaFromHcAll(spec, hcMm) {
  return Object.fromEntries(spec.ga_from_hc.methods.map((m) => [GA_KEYS[m.method], gaFromHc(spec, hcMm, m.method)]));
}

/**
 * One line for a person (report.ga_line): "Hadlock 1984: 20+1 weeks (±1.5 wk, 2 SD); in range
 * (14+0 to 42+0 weeks)", or "INTERGROWTH-21st (HC only): out of range: HC ...".
 */
export function gaLine(spec, record) {
  const title = gaMethod(spec, record.method).title;
  if (record.status !== 'ok') return `${title}: ${record.message}`;
  const spread = record.uncertainty_days === null ? `(uncertainty: ${record.uncertainty_kind})`
    : `(±${fmtFixed(daysToWeeks(record.uncertainty_days), 1)} wk, ${record.uncertainty_kind})`;
  return `${title}: ${record.ga} weeks ${spread}; in range (${record.valid_ga})`;
}

// ---------------------------------------------------------------- centile for a known GA

/** INTERGROWTH-21st fetal HC standard, unchecked: [mean, SD] in mm at GA in exact weeks. */
export function intergrowthHcMeanSd(w) {
  const lw = Math.log(w);
  const mean = -28.2849 + 1.69267 * w ** 2 - 0.397485 * w ** 2 * lw;
  const sd = 1.98735 + 0.0136772 * w ** 3 - 0.00726264 * w ** 3 * lw + 0.000976253 * w ** 3 * lw ** 2;
  return [mean, sd];
}

/** centiles.normal_cdf: 0.5 erfc(-z/sqrt 2), to ~1 ulp in both tails (erf.js: libm's erfc, as math.erfc). */
export const normalCdf = (z) => 0.5 * erfc(-z / Math.sqrt(2.0));

/** centiles.normal_ppf: the inverse normal CDF by the same bisection on normalCdf, p in (0, 1). */
function normalPpf(p) {
  let lo = -40.0, hi = 40.0;
  for (let i = 0; i < 100; i++) {
    const mid = 0.5 * (lo + hi);
    if (normalCdf(mid) < p) lo = mid; else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/**
 * The HCs at the 3rd and 97th centiles at a GA within the standard (centiles.hc_at_centile at
 * the flags' limits): the normal range an HC there is flagged outside of.
 */
export function hcNormalRange(gaWeeks) {
  const [mean, sd] = intergrowthHcMeanSd(gaWeeks);
  return [LOW_CENTILE, HIGH_CENTILE].map((c) => mean + normalPpf(c / 100.0) * sd);
}

/**
 * z-score and centile of an HC at a known GA (centiles.hc_centile), as report.centile_record:
 * {ga_weeks, ga, status, z, centile, mean_mm, sd_mm, flag ("below_3rd"/"above_97th"/null),
 * display, source}. Throws (message to show as it is) on a bad HC or GA entry.
 */
export function hcCentile(spec, hcMm, gaInput) {
  checkPositive(hcMm, 'HC (mm)');
  const weeks = parseGaWeeks(spec, gaInput);
  const standard = spec.hc_centile;
  const [lo, hi] = standard.valid_ga_weeks;
  const common = { ga_weeks: weeks, ga: formatGa(weeksToDays(weeks)) }; // centile_record's order: source last
  if (!(lo <= weeks && weeks <= hi)) {
    let ga = formatGa(weeksToDays(weeks));
    // centiles._standard_range_message: 13.95 weeks rounds to 14+0, which would read as inside.
    if (ga === formatGa(weeksToDays(lo)) || ga === formatGa(weeksToDays(hi))) ga = formatOutside(weeks, lo, hi, 2)[0];
    return {
      ...common, status: 'out_of_range', z: null, centile: null, mean_mm: null, sd_mm: null, flag: null,
      display: `out of range: GA ${ga} weeks is outside ${formatGa(weeksToDays(lo))} `
        + `to ${formatGa(weeksToDays(hi))} weeks, where the INTERGROWTH-21st fetal HC standard applies`,
      source: standard.source,
    };
  }
  const [mean, sd] = intergrowthHcMeanSd(weeks);
  const z = (hcMm - mean) / sd;
  const centile = 100.0 * normalCdf(z);
  const flag = centile < LOW_CENTILE ? 'below_3rd' : centile > HIGH_CENTILE ? 'above_97th' : null;
  const note = { below_3rd: ', below the 3rd centile', above_97th: ', above the 97th centile' }[flag] ?? '';
  return {
    ...common, status: 'ok', z, centile, mean_mm: mean, sd_mm: sd, flag,
    display: `centile ${formatCentile(centile, { below_3rd: LOW_CENTILE, above_97th: HIGH_CENTILE }[flag] ?? null)} (z ${formatZ(z)})${note}`,
    source: standard.source,
  };
}

/**
 * The centiles an HC interval spans at a GA from dating (centiles.centile_interval, as
 * records.centile_interval_record: {level, lower_centile, upper_centile, z_lower, z_upper,
 * display}), by hcCentile's arithmetic; null where the standard does not cover the GA.
 */
export function centileInterval(spec, lowerMm, upperMm, gaWeeks, level) {
  const [lo, hi] = spec.hc_centile.valid_ga_weeks;
  if (!(lo <= gaWeeks && gaWeeks <= hi)) return null;
  const [mean, sd] = intergrowthHcMeanSd(gaWeeks);
  const zLower = (lowerMm - mean) / sd, zUpper = (upperMm - mean) / sd;
  const lower = 100.0 * normalCdf(zLower), upper = 100.0 * normalCdf(zUpper);
  const a = formatCentile(lower), b = formatCentile(upper);
  return { level, lower_centile: lower, upper_centile: upper, z_lower: zLower, z_upper: zUpper,
    display: `${fmtFixed(level * 100, 0)}%: ${a}${a === b ? '' : ` to ${b}`}` };
}

// ---------------------------------------------------------------- review flag

/** Does a rule's `fires_when` ("> max_x", "< min_x", "outside [lo_x, hi_x]") hold for x? */
function ruleFires(firesWhen, x, thresholds) {
  const limit = (name) => {
    if (typeof thresholds[name] !== 'number') throw new Error(`review rule names an unknown threshold '${name}'`);
    return thresholds[name];
  };
  let m = /^([<>]) (\w+)$/.exec(firesWhen);
  if (m) return m[1] === '>' ? x > limit(m[2]) : x < limit(m[2]);
  m = /^outside \[(\w+), (\w+)\]$/.exec(firesWhen);
  if (m) return !(limit(m[1]) <= x && x <= limit(m[2]));
  throw new Error(`review rule '${firesWhen}' is not understood`);
}

function checkSignal(name, v) {
  if (typeof v !== 'number') throw new Error(`${name} must be a number, got ${String(v)}`);
  if (v === Infinity || v === -Infinity || v < 0) throw new Error(`quality signal ${name} must be finite and >= 0, got ${v}`);
  if (FRACTION_SIGNALS.has(name) && v > 1.0) throw new Error(`quality signal ${name} is a fraction (0..1), got ${v}`);
}

/**
 * review.review_flag with the metadata's rules (spec.review_flag: signals in order, each with
 * fires_when and reason; thresholds): {review, reasons}. A NaN signal is a reason itself; a
 * null/absent one is skipped. Throws on a signal that is not a number, infinite, negative,
 * or a fraction above 1 (a bug upstream).
 */
export function reviewFlag(spec, signals) {
  const { thresholds, signals: rules } = spec.review_flag;
  const present = Object.entries(signals).filter(([, v]) => v !== null && v !== undefined);
  for (const [name, v] of present) checkSignal(name, v);
  const reasons = [];
  for (const rule of rules) {
    const x = signals[rule.signal];
    if (x === null || x === undefined) continue;
    if (Number.isNaN(x)) reasons.push(REASON_MISSING(rule.signal));
    else if (ruleFires(rule.fires_when, x, thresholds)) reasons.push(rule.reason);
  }
  return { review: reasons.length > 0, reasons };
}

/** "please review: <reasons>" for a flagged result, "" otherwise (report.review_text). */
export const reviewText = ({ review, reasons }) => (review ? `please review: ${reasons.join(REVIEW_SEPARATOR)}` : '');
