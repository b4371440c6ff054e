// "Same patient, same settings" (#carry): what one new image may keep of the one before.
// The tick covers the next image only (it unticks itself once used, and says so); only a pixel
// size the user gave (typed or calibrated) and the known GA typed are kept, never a size that
// came with a file (a DICOM file's own calibration, a bundled sample's); an image given kept
// values is measured only when the user presses Measure (the page's `pending` flag).

const $ = (id) => document.getElementById(id);

/**
 * Where the pixel size field's value came from: 'typed' (typed or calibrated by the user),
 * 'file' (a DICOM file's calibration), 'sample' (a bundled sample's), or '' (none).
 */
export const pxSource = () => $('px').dataset.source ?? '';
export function setPxSource(source) {
  if (source) $('px').dataset.source = source; else delete $('px').dataset.source;
}

/**
 * At a new choice: the values kept for it ({px, ga}: text or null) when #carry is ticked (a
 * pixel size only when typed, and none when `bundledPx` replaces it); the fields not kept are
 * emptied. The tick is used up: unticked here. `used` says whether it was ticked.
 */
export function takeCarried(bundledPx) {
  const used = $('carry').checked, typedPx = pxSource() === 'typed';
  const keep = (id) => (used && $(id).value.trim()) || null;
  const carried = { px: bundledPx === null && typedPx ? keep('px') : null, ga: keep('known-ga'), used };
  if (carried.px === null) $('px').value = '';
  if (carried.ga === null) $('known-ga').value = '';
  if (bundledPx !== null) $('px').value = String(bundledPx);
  setPxSource(bundledPx !== null ? 'sample' : carried.px !== null ? 'typed' : '');
  $('carry').checked = false;
  return carried;
}

/**
 * Says, where the user looks, which values this image got from the one before (`carried`) and
 * still has in their fields (a value the file replaced, or the user edited, is not), that they
 * are used only once Measure is pressed (`pending`, one image), and that the tick is used up.
 */
export function sayCarried(carried, { pending = false, batch = false } = {}) {
  const px = $('px').value.trim(), ga = $('known-ga').value.trim(), kept = [];
  if (carried.px !== null && px === carried.px && !batch) kept.push(`pixel size ${px} mm`);
  if (carried.ga !== null && ga === carried.ga) kept.push(`known GA ${ga}`);
  const check = pending && !batch ? ' Check them, then press Measure.' : '';
  $('carried').textContent = kept.length ? `Kept from the previous image (same patient, same settings): ${kept.join(', ')}.${check}`
    + ' "Same patient, same settings" is now unticked: tick it again to keep them for the next image.' : '';
}
