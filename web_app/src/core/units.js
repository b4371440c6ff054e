// Pixel size input: a readable message for missing, malformed or implausible values.
export const MIN_PIXEL_MM = 0.001;
export const MAX_PIXEL_MM = 5;

export function parsePixelSize(text) {
  const s = String(text ?? '').trim().replace(',', '.');
  if (!s) throw new Error('Enter the pixel size in mm (or calibrate it on the depth scale).');
  const v = Number(s);
  if (!Number.isFinite(v)) throw new Error(`Pixel size "${text}" is not a number: enter it in mm, e.g. 0.1.`);
  if (v < MIN_PIXEL_MM || v > MAX_PIXEL_MM) {
    throw new Error(`Pixel size ${s} mm is implausible: expected ${MIN_PIXEL_MM}–${MAX_PIXEL_MM} mm per pixel (HC18 images: 0.05–0.3 mm).`);
  }
  return v;
}
