// A DICOM ultrasound file -> its checked header record: a port of the reading rules of
// hc_tf/io/dicom.py (the definition): limits checked before any pixel is decoded, the same
// refusals (photometric, bit depth, samples). Its frames are ./frames.js's. The parser is the
// maintained `dicom-parser` (passed in, so Node tests and the browser's vendored copy share this).

import { UserError } from '../imagefile.js';
import { checkHeader, DEFLATED } from './header_scan.js';
import { checkModality, PY_FLOAT, pyFloat } from './pixel_values.js';

export const DICOM_EXTENSIONS = ['.dcm', '.dicom'];
// hc_tf.defaults.MAX_INPUT_FRAMES (dicom.read_header refuses more frames).
const MAX_INPUT_FRAMES = 10_000;
const GRAY = ['MONOCHROME1', 'MONOCHROME2'];
export const EXPLICIT_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const COLOUR = ['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_ICT', 'YBR_RCT', 'YBR_PARTIAL_420'];
// Sequences whose VR an implicit-VR file does not say.
const SEQUENCES = new Set(['x00186011', 'x52009229', 'x52009230', 'x00289110', 'x00283000']);

/** A file that cannot be measured; the message names the file and the tag (dicom.DicomError). */
export class DicomFileError extends UserError {}

/** True for DICOM Part 10 bytes (`DICM` at byte 128) or a .dcm/.dicom name. */
export function looksLikeDicom(head, name = '') {
  const magic = head.length >= 132 && String.fromCharCode(...head.subarray(128, 132)) === 'DICM';
  return magic || DICOM_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e));
}

function parse(parser, bytes, name, inflated) {
  // A deflated data set is inflated first (./deflated.js, async): dicom-parser's inflater, which
  // is synchronous, is handed the file's bytes with it (those it would return itself).
  const inflater = () => {
    if (!inflated) throw new Error(`its data set is deflated (Transfer Syntax UID (0002,0010) ${DEFLATED}) and was not inflated first (deflated.js readDicomHeader)`);
    return inflated;
  };
  try {
    return parser.parseDicom(bytes, { vrCallback: (tag) => (SEQUENCES.has(tag) ? 'SQ' : undefined), inflater });
  } catch (err) {
    if (err instanceof DicomFileError) throw err;
    if (hasExtendedOffsetTable(bytes)) { // dicom-parser 1.8 does not know its OV value type
      throw new DicomFileError(`${name}: an Extended Offset Table (7FE0,0001), which this app cannot read; measure the file with hc-tf predict`);
    }
    // dicom-parser throws Errors, strings, or {exception, dataSet} objects
    const text = String(err?.message ?? err?.exception ?? err).split('\n')[0].slice(0, 160);
    throw new DicomFileError(`${name}: not a readable DICOM file (${text})`);
  }
}

/** Whether the bytes hold (7FE0,0001) with explicit VR OV, little endian: a parse failure's cause. */
function hasExtendedOffsetTable(bytes) {
  const tag = [0xe0, 0x7f, 0x01, 0x00, 0x4f, 0x56];
  for (let i = bytes.indexOf(0xe0); i >= 0; i = bytes.indexOf(0xe0, i + 1)) {
    if (tag.every((b, k) => bytes[i + k] === b)) return true;
  }
  return false;
}

/**
 * An integer tag read by its VR: the file's own in explicit VR, else the dictionary's (`vr`,
 * 'US' or 'IS'), as pydicom does. An implicit-VR file says no VR, and an IS is text whatever
 * its length: NumberOfFrames "2 " is 2, not the uint16 0x2032.
 */
function intTag(ds, tag, vr, keyword, name, fallback = null) {
  const el = ds.elements[tag];
  const code = `(${tag.slice(1, 5)},${tag.slice(5)})`.toUpperCase();
  let v = fallback;
  if (el) v = oneInteger(ds, tag, vr);
  if (v === null || v === undefined || !Number.isFinite(v)) throw new DicomFileError(`${name}: ${keyword} ${code} missing or not a number`);
  if (v < 1) throw new DicomFileError(`${name}: ${keyword} ${code} is ${v}; must be at least 1`);
  return v;
}

/** A 0-or-1 tag (dicom._flag_tag): PixelRepresentation, PlanarConfiguration. */
function flagTag(ds, tag, keyword, name) {
  const v = ds.elements[tag] ? oneInteger(ds, tag, 'US') : NaN;
  const code = `(${tag.slice(1, 5)},${tag.slice(5)})`.toUpperCase();
  if (v !== 0 && v !== 1) throw new DicomFileError(`${name}: ${keyword} ${code} missing or not 0 or 1`);
  return v;
}

/** A present integer tag's one value (NaN for several: pydicom's list is not a number either). */
function oneInteger(ds, tag, vr) {
  const el = ds.elements[tag];
  if ((el.vr ?? vr) === 'IS') return (ds.string(tag) ?? '').includes('\\') ? NaN : ds.intString(tag);
  return el.length === 2 ? ds.uint16(tag) : NaN;
}

/**
 * dicom_calibration._number_pair of a PixelSpacing (0028,0030): [row, column] mm, null when
 * absent, or {problem} in the Python's words (`where`: what it names) when it is empty, not
 * numbers or not two of them: readCalibration refuses with it where the Python raises.
 */
function spacingOf(ds, where) {
  if (!ds || !ds.elements.x00280030) return null;
  const text = ds.string('x00280030') ?? '';
  if (text === '') return { problem: `${where}: PixelSpacing (0028,0030) is empty` };
  const values = text.split('\\');
  if (!values.every((v) => PY_FLOAT.test(v))) return { problem: `${where}: PixelSpacing (0028,0030) is not numbers` };
  if (values.length !== 2) return { problem: `${where}: PixelSpacing (0028,0030) has ${values.length} value(s); must be 2 (row\\column)` };
  return values.map(pyFloat);
}
const measuresSpacing = (item, where) => spacingOf(item?.dataSet?.elements.x00289110?.items?.[0]?.dataSet, where);

/** The (0018,6011) items as plain records (dicom_calibration reads these fields). */
function regionFields(ds) {
  const seq = ds.elements.x00186011;
  if (!seq) return null;
  return (seq.items ?? []).map(({ dataSet: r }) => {
    const u16 = (t) => (r.elements[t] ? r.uint16(t) : null);
    const corners = ['x00186018', 'x0018601a', 'x0018601c', 'x0018601e'];
    const box = corners.every((t) => r.elements[t]) ? corners.map((t) => (r.elements[t].vr === 'SL' ? r.int32(t) : r.uint32(t))) : null;
    return { spatial: u16('x00186012'), dataType: u16('x00186014'), box, unitsX: u16('x00186024'), unitsY: u16('x00186026'),
      deltaX: r.elements.x0018602c ? r.double('x0018602c') : 0, deltaY: r.elements.x0018602e ? r.double('x0018602e') : 0 };
  });
}

/**
 * dicom.read_header: the checked header record (no patient fields): {name, rows, columns, frames,
 * samples, photometric, bitsAllocated, bitsStored, signed, planar, transferSyntax, regions,
 * perFrameSpacing, sharedSpacing, pixelSpacing, maxJpegScans (the limit its JPEG frames are held
 * to)}. `limits`: the bundle metadata's input_limits.
 * `inflated`: a deflated file's bytes with its data set inflated (./deflated.js readDicomHeader
 * reads any file: this, after inflating a deflated one).
 */
export function readHeader(parser, bytes, name, limits, inflated = null) {
  if (bytes.length > limits.max_input_bytes) {
    throw new DicomFileError(`${name}: ${bytes.length} bytes, over the ${limits.max_input_bytes}-byte input limit`);
  }
  checkHeader(bytes, name, (message) => new DicomFileError(message), inflated); // before the parser holds it
  const ds = parse(parser, bytes, name, inflated);
  const ts = (ds.string('x00020010') ?? '').replace(/\0/g, '').trim();
  const rows = intTag(ds, 'x00280010', 'US', 'Rows', name);
  const columns = intTag(ds, 'x00280011', 'US', 'Columns', name);
  const frames = intTag(ds, 'x00280008', 'IS', 'NumberOfFrames', name, 1);
  const samples = intTag(ds, 'x00280002', 'US', 'SamplesPerPixel', name, 1);
  if (frames > MAX_INPUT_FRAMES) {
    throw new DicomFileError(`${name}: NumberOfFrames (0028,0008) ${frames}, over the ${MAX_INPUT_FRAMES}-frame input limit`);
  }
  if (rows * columns > limits.max_input_pixels) {
    throw new DicomFileError(`${name}: Rows x Columns (0028,0010/0011) = ${rows} x ${columns} = ${rows * columns} pixels, over the ${limits.max_input_pixels}-pixel input limit`);
  }
  if (rows * columns * frames * samples > limits.max_input_bytes) {
    throw new DicomFileError(`${name}: ${frames} frames (0028,0008) of ${rows} x ${columns} x ${samples} would decode to ${rows * columns * frames * samples} samples, over the ${limits.max_input_bytes} limit`);
  }
  const photometric = (ds.string('x00280004') ?? '').trim();
  if (![...GRAY, ...COLOUR, 'PALETTE COLOR'].includes(photometric)) {
    throw new DicomFileError(`${name}: PhotometricInterpretation (0028,0004) '${photometric}' is not supported (monochrome, RGB, YBR or palette colour)`);
  }
  if ((samples === 3) !== COLOUR.includes(photometric)) {
    throw new DicomFileError(`${name}: SamplesPerPixel (0028,0002) ${samples} does not fit PhotometricInterpretation (0028,0004) ${photometric}`);
  }
  // The Image Pixel module's own integers, one number each (dicom._check_pixel_format).
  const bitsAllocated = intTag(ds, 'x00280100', 'US', 'BitsAllocated', name);
  const bitsStored = intTag(ds, 'x00280101', 'US', 'BitsStored', name);
  const signed = flagTag(ds, 'x00280103', 'PixelRepresentation', name) === 1;
  const planar = samples > 1 ? flagTag(ds, 'x00280006', 'PlanarConfiguration', name) : 0;
  if (photometric !== 'PALETTE COLOR' && bitsStored > 8) {
    throw new DicomFileError(`${name}: BitsStored (0028,0101) ${bitsStored}; hc-tf measures 8-bit ultrasound pixels`);
  }
  checkModality(ds, name, bitsStored, signed, (message) => new DicomFileError(message)); // measured as stored
  const descriptor = ds.elements.x00281101; // dicom_palette.check_palette
  if (photometric === 'PALETTE COLOR' && descriptor && (descriptor.length !== 6 || ['OB', 'OW'].includes(descriptor.vr))) {
    throw new DicomFileError(`${name}: RedPaletteColorLookupTableDescriptor (0028,1101) is not 3 numbers (entries, first index, bits)`);
  }
  const perFrame = (ds.elements.x52009230?.items ?? []).map((item, i) => measuresSpacing(item, `${name}: Per-frame Functional Groups (5200,9230) item ${i + 1}`));
  return { name, rows, columns, frames, samples, photometric, transferSyntax: ts,
    bitsAllocated, bitsStored, signed, planar,
    regions: regionFields(ds), perFrameSpacing: perFrame, uids: uidsOf(ds), studyDate: ds.string('x00080020') ?? '',
    lastMenstrualDate: ds.string('x001021d0') ?? '', studyTime: ds.string('x00080030') ?? '',
    timezoneOffset: ds.string('x00080201') ?? '',
    sharedSpacing: measuresSpacing(ds.elements.x52009229?.items?.[0], `${name}: Shared Functional Groups (5200,9229)`),
    pixelSpacing: spacingOf(ds, name), maxJpegScans: limits.max_jpeg_scans, dataset: ds };
}

// dicom.valid_uid: dotted numbers, at most 64 characters (a component's leading zeros allowed:
// older scanners write them).
const UID = /^[0-9]+(\.[0-9]+)*$/;

/** dicom.uids: the UIDs that reference the image (no patient data); one that is not a UID is ''. */
function uidsOf(ds) {
  const get = (t) => {
    const v = (ds.string(t) ?? '').replace(/^[\0 ]+|[\0 ]+$/g, '');  // as Python's strip('\0 ')
    return v.length <= 64 && UID.test(v) ? v : '';
  };
  return { study_instance_uid: get('x0020000d'), series_instance_uid: get('x0020000e'),
    sop_instance_uid: get('x00080018'), sop_class_uid: get('x00080016') };
}

/** What readCalibration needs from the header, as plain (cloneable) data. */
export function calibrationFields(h) {
  const { name, rows, columns, frames, regions, perFrameSpacing, sharedSpacing, pixelSpacing } = h;
  return { name, rows, columns, frames, regions, perFrameSpacing, sharedSpacing, pixelSpacing };
}
