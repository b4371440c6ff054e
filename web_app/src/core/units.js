// Pixel size input, read as hc_tf.measure.pixel_size.check_pixel_size reads it: Python's
// float() syntax, the plausible range from the bundle metadata's input_limits (never a copy).

// Python float(): optional sign, digits with single underscores between them, optional
// fraction and exponent, or inf/infinity/nan; surrounding whitespace allowed.
const DIGITS = '\\d(?:_?\\d)*';
const PY_FLOAT = new RegExp(`^[+-]?(?:(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:[eE][+-]?${DIGITS})?|inf(?:inity)?|nan)$`, 'i');

/** The text as Python's float() reads it, or null where float() would refuse it. */
export function pyFloat(text) {
  const s = String(text ?? '').trim();
  if (!PY_FLOAT.test(s)) return null;
  const t = s.replaceAll('_', '').toLowerCase();
  if (t.endsWith('nan')) return NaN;
  if (t.endsWith('inf') || t.endsWith('infinity')) return t.startsWith('-') ? -Infinity : Infinity;
  return Number(t);
}

/** {min, max} (mm per pixel) from the metadata's input_limits. */
export function pixelSizeRange(meta) {
  const r = meta?.input_limits?.pixel_size_mm;
  if (!r || typeof r.min !== 'number' || typeof r.max !== 'number') {
    throw new Error('the model metadata has no input_limits.pixel_size_mm (rebuild the bundle)');
  }
  return { min: r.min, max: r.max };
}

/** A plausible pixel size (mm), or an Error whose message is for the user. */
export function parsePixelSize(text, range) {
  const s = String(text ?? '').trim();
  if (!s) throw new Error('Enter the pixel size in mm (or calibrate it on the depth scale).');
  const v = pyFloat(s);
  if (v === null) {
    const hint = s.includes(',') ? ' (use a decimal point)' : '';
    throw new Error(`Pixel size "${s}" is not a number${hint}: enter it in mm, e.g. 0.1.`);
  }
  if (!Number.isFinite(v)) throw new Error(`Pixel size "${s}" is not finite: enter it in mm, e.g. 0.1.`);
  if (!(v >= range.min && v <= range.max)) {
    throw new Error(`Pixel size ${s} mm is implausible: outside the plausible range ${range.min}–${range.max} mm per pixel (HC18: 0.049–0.393 mm).`);
  }
  return v;
}
