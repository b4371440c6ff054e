// What a stored pixel value means: a port of hc_tf/io/dicom_pixel_values.py (the definition), the
// same rules and words. A value past what BitsStored (0028,0101) holds is refused (a damaged
// header: predict's pydicom cleared the bits above it and measured 8-bit pixels under BitsStored 7
// with their high bit gone, where this app read them whole), and so is a modality transform that is
// not the identity (Modality LUT Sequence (0028,3000), RescaleSlope/Intercept (0028,1053/1052)):
// ultrasound pixels are measured as stored, and an ultrasound image has none. Not importing
// ./file.js (which calls checkModality): `fail(message)` makes the error, as ./header_scan.js's.

// A value Python's float() reads (dicom_calibration._number_pair's test of each value).
export const PY_FLOAT = /^\s*[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf(inity)?|nan)\s*$/i;
/** What Python's float() makes of a PY_FLOAT text. */
export const pyFloat = (text) => Number(text.trim().replace(/^([+-]?)inf(inity)?$/i, '$1Infinity'));

const AS_STORED = 'hc-tf measures ultrasound pixels as stored (no modality transform)';
const RESCALE = `RescaleSlope (0028,1053) and RescaleIntercept (0028,1052) are not 1 and 0: they rescale the pixel values, and ${AS_STORED}`;
const MODALITY_LUT = `Modality LUT Sequence (0028,3000) maps pixel values to others: ${AS_STORED}`;

/** dicom_pixel_values.stored_range: [lowest, highest] value `bits` bits hold. */
export function storedRange(bits, signed) {
  return signed ? [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1] : [0, 2 ** bits - 1];
}

/**
 * dicom_pixel_values.check_bits_stored: throws fail(message) naming `name` when a frame's
 * `values` (as stored, the bits above BitsStored kept) hold one BitsStored cannot.
 */
export function checkBitsStored(values, bits, signed, name, fail) {
  const [low, high] = storedRange(bits, signed);
  let top = 0, bottom = 0;
  for (const v of values) { if (v > top) top = v; if (v < bottom) bottom = v; }
  if (top > high || bottom < low) {
    throw fail(`${name}: a pixel value of ${top > high ? top : bottom} does not fit BitsStored (0028,0101) ${bits} (${low} to ${high}): the header is damaged`);
  }
}

/** dicom_pixel_values._one_number: a present DS's one number, null when absent or empty. */
function oneNumber(ds, tag, keyword, name, fail) {
  const text = ds.elements[tag] ? (ds.string(tag) ?? '') : '';
  if (text.trim() === '') return null;
  const code = `(${tag.slice(1, 5)},${tag.slice(5)})`.toUpperCase();
  if (text.includes('\\') || !PY_FLOAT.test(text)) throw fail(`${name}: ${keyword} ${code} is not one number`);
  return pyFloat(text);
}

/** dicom_pixel_values._lut_is_identity: whether a Modality LUT item maps 0..highest to itself. */
function lutIsIdentity(item, bits, signed) {
  const word = (tag, i) => (item.elements[tag] && 2 * i + 2 <= item.elements[tag].length ? item.uint16(tag, i) : null);
  let [entries, first] = [word('x00283002', 0), word('x00283002', 1)];
  if (entries === null || first === null || word('x00283002', 2) === null) return false;
  entries = entries || 65536;
  if (signed && first >= 0x8000) first -= 0x10000; // US or SS: as PixelRepresentation says
  const data = item.elements.x00283006;
  if (!data || Math.floor(data.length / 2) < entries) return false;
  for (let v = 0; v <= storedRange(bits, signed)[1]; v++) {
    if (item.uint16('x00283006', Math.min(Math.max(v - first, 0), entries - 1)) !== v) return false;
  }
  return true;
}

/**
 * dicom_pixel_values.check_modality: throws fail(message) naming `name` and the tag for a
 * RescaleSlope other than 1 or RescaleIntercept other than 0 (or either not one number), or a
 * Modality LUT Sequence item that maps a value BitsStored holds to another (or cannot be read).
 */
export function checkModality(ds, name, bits, signed, fail) {
  const slope = oneNumber(ds, 'x00281053', 'RescaleSlope', name, fail);
  const intercept = oneNumber(ds, 'x00281052', 'RescaleIntercept', name, fail);
  if ((slope !== null && slope !== 1) || (intercept !== null && intercept !== 0)) throw fail(`${name}: ${RESCALE}`);
  for (const { dataSet } of ds.elements.x00283000?.items ?? []) {
    if (!lutIsIdentity(dataSet, bits, signed)) throw fail(`${name}: ${MODALITY_LUT}`);
  }
}
