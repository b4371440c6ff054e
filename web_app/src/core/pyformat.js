// Python's number formatting where the app's texts must match the reference's word for word.

/** Python f"{x:.<digits>f}": correctly rounded, exact binary ties to even (toFixed sends them up). */
export function fmtFixed(x, digits) {
  const scale = 10 ** digits;
  const t = x * scale;
  if (Number.isFinite(t) && Math.abs(t - Math.trunc(t)) === 0.5) {
    const lo = Math.floor(t), even = lo % 2 === 0 ? lo : lo + 1;
    return (even / scale).toFixed(digits);
  }
  return x.toFixed(digits);
}

/** Python f"{x:.1f}". */
export const fmt1 = (x) => fmtFixed(x, 1);

/** Python f"{x:g}" (6 significant digits) / f"{x:.3g}". */
export function fmtG(x, prec = 6) {
  if (x === 0) return '0';
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : (x > 0 ? 'inf' : '-inf');
  const exp = Math.floor(Math.log10(Math.abs(x)));
  let s;
  if (exp < -4 || exp >= prec) {
    s = x.toExponential(prec - 1);
    let [m, ex] = s.split('e');
    if (m.includes('.')) m = m.replace(/0+$/, '').replace(/\.$/, '');
    const n = parseInt(ex, 10);
    s = `${m}e${n < 0 ? '-' : '+'}${String(Math.abs(n)).padStart(2, '0')}`;
  } else {
    s = x.toFixed(Math.max(0, prec - 1 - exp));
    if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  }
  return s;
}

/** Python's csv module, QUOTE_MINIMAL: null as empty, bools True/False, a number to 6 decimals
 * as Python writes a float, or as it is when `asInt` (Python's int). */
export function csvCell(v, asInt = false) {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'boolean' ? (v ? 'True' : 'False')
    : typeof v === 'number' ? (asInt ? String(v) : fmtFixed(v, 6)) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A CSV as Python's csv.DictWriter writes it (\r\n line ends), header first. */
export function csvText(fields, rows, ints = new Set()) {
  const lines = [fields.join(','), ...rows.map((row) => fields.map((k) => csvCell(row[k], ints.has(k))).join(','))];
  return lines.map((l) => `${l}\r\n`).join('');
}
