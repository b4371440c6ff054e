// Pixel size of a DICOM ultrasound frame: a port of hc_tf/io/dicom_calibration.py (the file's
// calibration) and hc_tf/io/dicom_pixel_size.py (the choice by the head), the definition (rules
// in docs/dicom.md), same choices and the same refusal words. Works on the plain header record
// of ./file.js (`calibrationFields`), so the worker can hand it to the page.

import { fmtFixed, fmtG } from '../pyformat.js';
import { UserError } from '../imagefile.js';

export const TOLERANCE = 0.01;
export const MAX_OUTLINE_IN_OTHER_REGION = 0.02;
export const OUTLINE_POINTS = 360;
export const MIN_MODEL_REGION_SIDE = 32;
const UNITS_CM = 3;
const MM_PER_CM = 10.0;
const UNIT_NAMES = { 0: 'none', 1: 'percent', 2: 'dB', 3: 'cm', 4: 'seconds', 5: 'hertz', 6: 'dB/seconds', 7: 'cm/sec', 8: 'cm^2', 9: 'cm^2/sec', 12: 'degrees' };
export const SOURCE_REGION = 'dicom_us_region';
export const SOURCE_PIXEL_SPACING = 'dicom_pixel_spacing';
export const SOURCE_TYPED = 'typed';
export const SOURCE_OVERRIDE = 'typed_override';
const TOL_TEXT = `${fmtFixed(TOLERANCE * 100, 0)}%`;

/** A refusal: the message names the file and the tag (dicom.DicomError). */
export class DicomError extends UserError {}

const isotropic = (dx, dy) => Math.abs(dx - dy) <= TOLERANCE * Math.max(Math.abs(dx), Math.abs(dy));
const boxText = (b) => `(${b.join(', ')})`;

/** Does the region's box (pixel edges) hold the point (x, y)? */
const contains = (r, x, y) => x >= r.box[0] - 0.5 && x <= r.box[2] + 0.5 && y >= r.box[1] - 0.5 && y <= r.box[3] + 0.5;

/** dicom_calibration._region: item `item` (1-based) as a region, or null (not 2D tissue / outside). */
function region(item, r, rows, columns, path) {
  if ((r.spatial ?? 0) !== 1 || (r.dataType ?? 0) !== 1) return null;
  if (r.box === null) {
    return { item, box: [0, 0, -1, -1], pixel_size_mm: null,
      problem: `${path}: region ${item} of (0018,6011) has no box (0018,6018/601A/601C/601E)` };
  }
  const [x0, y0, x1, y1] = r.box;
  const box = [Math.max(x0, 0), Math.max(y0, 0), Math.min(x1, columns - 1), Math.min(y1, rows - 1)];
  if (box[0] > box[2] || box[1] > box[3]) return null; // wholly outside the image
  const ux = r.unitsX ?? 0, uy = r.unitsY ?? 0, dx = r.deltaX || 0, dy = r.deltaY || 0;
  const where = `${path}: 2D region ${item} of (0018,6011)`;
  if (ux !== UNITS_CM || uy !== UNITS_CM) {
    return { item, box, pixel_size_mm: null, problem: `${where}: PhysicalUnitsX/YDirection (0018,6024/6026) are ${UNIT_NAMES[ux] ?? ux}/${UNIT_NAMES[uy] ?? uy}, not cm (3)` };
  }
  if (!(dx > 0 && dy > 0)) {
    return { item, box, pixel_size_mm: null, problem: `${where}: PhysicalDeltaX/Y (0018,602C/602E) ${fmtG(dx)}/${fmtG(dy)} cm are not positive` };
  }
  if (!isotropic(dx, dy)) {
    return { item, box, pixel_size_mm: null, problem: `${where}: PhysicalDeltaX (0018,602C) ${fmtG(dx)} cm and PhysicalDeltaY (0018,602E) ${fmtG(dy)} cm differ by more than ${TOL_TEXT} (pixels not square)` };
  }
  return { item, box, pixel_size_mm: (dx + dy) / 2 * MM_PER_CM, problem: null };
}

const spacingKey = (s) => (s ? `${s[0]}\\${s[1]}` : null);

/**
 * dicom_calibration.read_calibration of frame `frame` (1-based): {path, has_regions, regions,
 * pixel_spacing_mm, problem, empty}. `f`: file.js's calibrationFields record.
 */
export function readCalibration(f, frame = 1) {
  const path = f.name;
  const base = { path, has_regions: false, regions: [], pixel_spacing_mm: null, problem: null, empty: false };
  const unreadable = f.perFrameSpacing.find((s) => s?.problem); // _frame_spacings raises
  if (unreadable) throw new DicomError(unreadable.problem);
  if (f.regions && f.regions.length) {
    const regions = f.regions.map((r, i) => region(i + 1, r, f.rows, f.columns, path)).filter((r) => r !== null);
    let problem = null;
    const spacings = new Set(f.perFrameSpacing.filter((s) => s !== null).map(spacingKey));
    if (spacings.size > 1) {
      problem = `${path}: calibration differs between frames (PixelSpacing in the Per-frame Functional Groups (5200,9230)) and the Sequence of Ultrasound Regions (0018,6011) does not say each frame's own`;
    } else if (!regions.length) {
      problem = `${path}: no 2D tissue region (RegionSpatialFormat (0018,6012) = 1, RegionDataType (0018,6014) = 1) in the Sequence of Ultrasound Regions (0018,6011)`;
    } else if (regions.every((r) => r.problem)) {
      problem = regions.length === 1 ? regions[0].problem
        : `${path}: no calibrated 2D region in (0018,6011): ${regions.map((r) => r.problem.split(': ').slice(1).join(': ')).join('; ')}`;
    }
    return { ...base, has_regions: true, regions, problem };
  }
  const own = f.perFrameSpacing[frame - 1] ?? null;
  const spacing = own ?? f.sharedSpacing ?? f.pixelSpacing ?? null;
  if (spacing?.problem) return { ...base, problem: spacing.problem }; // _pixel_spacing raised
  if (spacing === null) {
    return { ...base, empty: true, problem: `${path}: no calibration: no Sequence of Ultrasound Regions (0018,6011) and no PixelSpacing (0028,0030); give --pixel-size` };
  }
  const [rowsMm, colsMm] = spacing;
  if (!(rowsMm > 0 && colsMm > 0) || !isotropic(rowsMm, colsMm)) {
    return { ...base, problem: `${path}: PixelSpacing (0028,0030) ${fmtG(rowsMm)}\\${fmtG(colsMm)} mm is not one positive square pixel (within ${TOL_TEXT})` };
  }
  return { ...base, pixel_spacing_mm: (rowsMm + colsMm) / 2 };
}

function disagreement(cal, typedMm, fileMm, label, tag, overrideLabel) {
  return new DicomError(`${cal.path}: ${label} ${fmtG(typedMm)} mm disagrees with the file's calibration ${fmtG(fileMm)} mm (${tag}); drop it, or force it with ${overrideLabel}`);
}

/** dicom_pixel_size.provisional_pixel_size: the size to measure with before the head is known. */
export function provisionalPixelSize(cal, typedMm, override, { label = '--pixel-size', overrideLabel = '--override-dicom-calibration' } = {}) {
  if (typedMm !== null && (override || cal.empty)) return typedMm;
  if (cal.problem) throw new DicomError(cal.problem + (typedMm !== null ? ` (a typed ${label} is used only with ${overrideLabel})` : ''));
  const sizes = cal.pixel_spacing_mm !== null ? [cal.pixel_spacing_mm] : cal.regions.filter((r) => r.problem === null).map((r) => r.pixel_size_mm);
  if (typedMm !== null && !sizes.some((s) => isotropic(s, typedMm))) {
    throw disagreement(cal, typedMm, sizes[0], label, cal.pixel_spacing_mm !== null ? 'PixelSpacing (0028,0030)' : 'PhysicalDeltaX/Y (0018,602C/602E)', overrideLabel);
  }
  return sizes[0];
}

/** dicom_pixel_size._holds_a_head: a region box at least MIN_MODEL_REGION_SIDE wide and high. */
const holdsAHead = ([x0, y0, x1, y1]) => Math.min(x1 - x0, y1 - y0) + 1 >= MIN_MODEL_REGION_SIDE;

/**
 * dicom_pixel_size.model_region: the part of a frame the model sees, [x0, y0, x1, y1]
 * (inclusive): the file's one 2D tissue region; null (the whole frame) for none, several (a
 * dual pane: paneRegion), one under MIN_MODEL_REGION_SIDE or without a box, or one that is the
 * whole frame.
 */
export function modelRegion(cal, rows, columns) {
  if (cal.regions.length !== 1) return null;
  const [x0, y0, x1, y1] = cal.regions[0].box;
  const whole = x0 === 0 && y0 === 0 && x1 === columns - 1 && y1 === rows - 1;
  return holdsAHead([x0, y0, x1, y1]) && !whole ? [x0, y0, x1, y1] : null;
}

/**
 * dicom_pixel_size.pane_region: the box of the 2D region that holds a head measured on a frame
 * of several (a dual pane), for a second pass on that pane; null when no single region holds it
 * (headRegion refuses) or it is under MIN_MODEL_REGION_SIDE.
 */
export function paneRegion(cal, e) {
  let box;
  try { box = headRegion(cal, e).box; } catch (err) { if (err instanceof DicomError) return null; throw err; }
  return holdsAHead(box) ? [...box] : null;
}

/** Ellipse.points(n): n outline points evenly spaced in parameter. */
function outline(e, n) {
  const c = Math.cos(e.angle), s = Math.sin(e.angle), step = (2.0 * Math.PI) / n;
  return Array.from({ length: n }, (_, k) => {
    const ex = e.a * Math.cos(k * step), ey = e.b * Math.sin(k * step);
    return [e.cx + ex * c - ey * s, e.cy + ex * s + ey * c];
  });
}

/** dicom_pixel_size.head_region: the 2D region that holds the head (its centre's, the outline not elsewhere). */
export function headRegion(cal, e) {
  const home = cal.regions.filter((r) => contains(r, e.cx, e.cy));
  const at = `head centre (${fmtFixed(e.cx, 0)}, ${fmtFixed(e.cy, 0)})`;
  if (!home.length) {
    throw new DicomError(`${cal.path}: ${at} lies in no 2D region of (0018,6011) (regions x0,y0,x1,y1: ${cal.regions.map((r) => `${r.item}: ${boxText(r.box)}`).join(', ')})`);
  }
  const sizes = home.map((r) => r.pixel_size_mm);
  if (home.length > 1 && (sizes.includes(null) || !isotropic(Math.min(...sizes), Math.max(...sizes)))) {
    throw new DicomError(`${cal.path}: ${at} lies in overlapping 2D regions ${home.map((r) => r.item).join(', ')} of (0018,6011) with different calibration`);
  }
  const reg = home[0];
  const pts = outline(e, OUTLINE_POINTS);
  const inHome = pts.map(([x, y]) => home.some((r) => contains(r, x, y)));
  for (const other of cal.regions) {
    const share = pts.filter(([x, y], k) => contains(other, x, y) && !inHome[k]).length / pts.length;
    if (share > MAX_OUTLINE_IN_OTHER_REGION) {
      throw new DicomError(`${cal.path}: the head lies across two 2D regions of (0018,6011) (${reg.item} and ${other.item}: ${fmtFixed(share * 100, 0)}% of its outline in region ${other.item}); its pixel size is ambiguous`);
    }
  }
  if (reg.problem) throw new DicomError(reg.problem);
  return reg;
}

function fileChoice(cal, e) {
  if (cal.problem) return null;
  if (cal.pixel_spacing_mm !== null) {
    return { pixel_size_mm: cal.pixel_spacing_mm, source: SOURCE_PIXEL_SPACING, region: null, file_pixel_size_mm: cal.pixel_spacing_mm,
      note: 'PixelSpacing (0028,0030): the file has no Sequence of Ultrasound Regions; PixelSpacing is not ultrasound calibration, check the HC' };
  }
  if (e === null) {
    const r = cal.regions.find((x) => x.problem === null);
    return { pixel_size_mm: r.pixel_size_mm, source: SOURCE_REGION, region: r.item, file_pixel_size_mm: r.pixel_size_mm,
      note: `region ${r.item} of (0018,6011) (no head found, so no region chosen)` };
  }
  const r = headRegion(cal, e);
  return { pixel_size_mm: r.pixel_size_mm, source: SOURCE_REGION, region: r.item, file_pixel_size_mm: r.pixel_size_mm,
    note: `2D tissue region ${r.item} of (0018,6011) (box ${boxText(r.box)}) holds the head` };
}

/**
 * dicom_pixel_size.choose_pixel_size: {pixel_size_mm, source, note, region, file_pixel_size_mm}
 * for a measured frame (`e` the head ellipse in pixels, or null). Throws a DicomError in words.
 */
export function choosePixelSize(cal, e, typedMm = null, override = false, { label = '--pixel-size', overrideLabel = '--override-dicom-calibration' } = {}) {
  let found;
  try {
    found = fileChoice(cal, e);
  } catch (err) {
    if (!(override && typedMm !== null)) throw err;
    found = null;
  }
  if (typedMm === null) {
    if (found === null) throw new DicomError(cal.problem);
    return found;
  }
  if (found !== null && isotropic(found.pixel_size_mm, typedMm)) return { ...found, note: `${found.note}; ${label} ${fmtG(typedMm)} mm agrees` };
  if (cal.empty) return { pixel_size_mm: typedMm, source: SOURCE_TYPED, note: `${label}: the file has no calibration`, region: null, file_pixel_size_mm: null };
  if (override) {
    const fileText = found ? `the file's ${fmtG(found.pixel_size_mm)} mm` : "the file's calibration, which was refused";
    return { pixel_size_mm: typedMm, source: SOURCE_OVERRIDE, note: `${label} ${fmtG(typedMm)} mm forced by ${overrideLabel} over ${fileText}`,
      region: null, file_pixel_size_mm: found ? found.pixel_size_mm : null };
  }
  if (found === null) throw new DicomError(`${cal.problem} (a typed ${label} is used only with ${overrideLabel})`);
  throw disagreement(cal, typedMm, found.pixel_size_mm, label, found.source === SOURCE_REGION ? 'PhysicalDeltaX/Y (0018,602C/602E)' : 'PixelSpacing (0028,0030)', overrideLabel);
}
