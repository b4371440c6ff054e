// The pixel size a measurement takes: hc_tf/measure/pixel_size.py `positive_pixel_size`
// (reading a typed value as check_pixel_size does is ../units.js).

export function checkPixelSize(v) {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new Error(`pixel size must be a finite number > 0 mm, got ${String(v)}`);
  }
  return v;
}
