// Python's number formatting where the app's texts must match the reference's word for word.

/** |x| = m * 2^e exactly (m a BigInt), for a finite double. */
function exact(x) {
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, Math.abs(x));
  const hi = v.getUint32(0), lo = v.getUint32(4), bexp = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (bexp) m |= 1n << 52n;
  return { m, e: (bexp || 1) - 1075 };
}

/** |x| * 10^d rounded to an integer as Python rounds (on the exact binary value, ties to even). */
function roundScaled(x, d) {
  const { m, e } = exact(x);
  const num = m * (e > 0 ? 1n << BigInt(e) : 1n) * (d > 0 ? 10n ** BigInt(d) : 1n);
  const den = (e < 0 ? 1n << BigInt(-e) : 1n) * (d < 0 ? 10n ** BigInt(-d) : 1n);
  const q = num / den, r2 = (num % den) * 2n;
  return r2 > den || (r2 === den && q % 2n === 1n) ? q + 1n : q;
}

const sign = (x) => (x < 0 || Object.is(x, -0) ? '-' : '');
const special = (x) => (Number.isNaN(x) ? 'nan' : `${x < 0 ? '-' : ''}inf`);

/**
 * Python f"{x:.<digits>f}": the exact value of the double rounded half to even, as Python does
 * (toFixed sends ties up, and x * 10^digits rounds a near-tie onto a tie).
 */
export function fmtFixed(x, digits) {
  if (!Number.isFinite(x)) return special(x);
  const s = roundScaled(x, digits).toString().padStart(digits + 1, '0');
  return sign(x) + (digits ? `${s.slice(0, -digits)}.${s.slice(-digits)}` : s);
}

/** Python f"{x:.1f}". */
export const fmt1 = (x) => fmtFixed(x, 1);

/** Python f"{x:g}" (6 significant digits) / f"{x:.3g}": rounded as fmtFixed, the exponent of the rounded value. */
export function fmtG(x, prec = 6) {
  if (!Number.isFinite(x)) return special(x);
  if (x === 0) return `${sign(x)}0`;
  let exp = Math.floor(Math.log10(Math.abs(x))), n;
  for (;;) { // prec significant digits: 10^(prec-1) <= n < 10^prec
    n = roundScaled(x, prec - 1 - exp);
    if (n >= 10n ** BigInt(prec)) exp += 1;
    else if (n < 10n ** BigInt(prec - 1)) exp -= 1;
    else break;
  }
  const digits = n.toString(), strip = (t) => t.replace(/0+$/, '');
  if (exp < -4 || exp >= prec) {
    const frac = strip(digits.slice(1));
    return `${sign(x)}${digits[0]}${frac ? `.${frac}` : ''}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const int = exp >= 0 ? digits.slice(0, exp + 1) : '0';
  const frac = strip(exp >= 0 ? digits.slice(exp + 1) : '0'.repeat(-exp - 1) + digits);
  return `${sign(x)}${int}${frac ? `.${frac}` : ''}`;
}

/** Python's csv module, QUOTE_MINIMAL: null as empty, bools True/False, a number to 6 decimals
 * as Python writes a float, or as it is when `asInt` (Python's int); text that a spreadsheet
 * would run as a formula with a leading "'" (hc_tf.io.tables.text_cell). */
export function csvCell(v, asInt = false) {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'boolean' ? (v ? 'True' : 'False')
    : typeof v === 'number' ? (asInt ? String(v) : fmtFixed(v, 6))
      : String(v).replace(/^[=+\-@\t\r]/, "'$&");
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A CSV as Python's csv.DictWriter writes it (\r\n line ends), header first. */
export function csvText(fields, rows, ints = new Set()) {
  const lines = [fields.join(','), ...rows.map((row) => fields.map((k) => csvCell(row[k], ints.has(k))).join(','))];
  return lines.map((l) => `${l}\r\n`).join('');
}
