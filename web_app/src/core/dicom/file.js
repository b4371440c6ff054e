// A DICOM ultrasound file -> its header record and one frame as 8-bit gray: a port of the reading
// rules of hc_tf/io/dicom.py and dicom_frames.py (the definition): limits checked before any
// pixel is decoded, the same refusals (photometric, bit depth, samples), colour to gray by the
// PNG path's rule.
// Uncompressed transfer syntaxes and RLE Lossless (decoded here, bounded as Python bounds it,
// byte for byte pydicom's), and JPEG Baseline (the browser's JPEG decoder, after the same size
// checks: close to pydicom's decode, not equal); another compressed one is refused in words. The
// parser is the maintained `dicom-parser` (passed in, so Node tests and the browser's vendored
// copy share this).

import { toGray } from '../preprocess.js';
import { UserError, checkSize, prepareGray, jpegMarkers, isSofMarker } from '../imagefile.js';
import { jpegOrientation } from '../orientation.js';
import { readCalibration, modelRegion } from './calibration.js';

export const DICOM_EXTENSIONS = ['.dcm', '.dicom'];
const UNCOMPRESSED = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
};
const RLE_LOSSLESS = '1.2.840.10008.1.2.5';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
// hc_tf.defaults.MAX_INPUT_FRAMES (dicom.read_header refuses more frames).
const MAX_INPUT_FRAMES = 10_000;
const GRAY = ['MONOCHROME1', 'MONOCHROME2'];
const COLOUR = ['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_ICT', 'YBR_RCT', 'YBR_PARTIAL_420'];
// Sequences whose VR an implicit-VR file does not say.
const SEQUENCES = new Set(['x00186011', 'x52009229', 'x52009230', 'x00289110']);

/** A file that cannot be measured; the message names the file and the tag (dicom.DicomError). */
export class DicomFileError extends UserError {}

/** True for DICOM Part 10 bytes (`DICM` at byte 128) or a .dcm/.dicom name. */
export function looksLikeDicom(head, name = '') {
  const magic = head.length >= 132 && String.fromCharCode(...head.subarray(128, 132)) === 'DICM';
  return magic || DICOM_EXTENSIONS.some((e) => name.toLowerCase().endsWith(e));
}

function parse(parser, bytes, name) {
  try {
    return parser.parseDicom(bytes, { vrCallback: (tag) => (SEQUENCES.has(tag) ? 'SQ' : undefined) });
  } catch (err) {
    const text = String(err?.message ?? err).split('\n')[0].slice(0, 160);
    throw new DicomFileError(`${name}: not a readable DICOM file (${text})`);
  }
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
  if (el) v = (el.vr ?? vr) === 'IS' ? ds.intString(tag) : ds.uint16(tag);
  if (v === null || v === undefined || !Number.isFinite(v)) throw new DicomFileError(`${name}: ${keyword} ${code} missing or not a number`);
  if (v < 1) throw new DicomFileError(`${name}: ${keyword} ${code} is ${v}; must be at least 1`);
  return v;
}

const spacingOf = (ds) => {
  if (!ds || !ds.elements.x00280030) return null;
  return [ds.floatString('x00280030', 0), ds.floatString('x00280030', 1)];
};
const measuresSpacing = (item) => spacingOf(item?.dataSet?.elements.x00289110?.items?.[0]?.dataSet);

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
 * perFrameSpacing, sharedSpacing, pixelSpacing}. `limits`: the bundle metadata's input_limits.
 */
export function readHeader(parser, bytes, name, limits) {
  if (bytes.length > limits.max_input_bytes) {
    throw new DicomFileError(`${name}: ${bytes.length} bytes, over the ${limits.max_input_bytes}-byte input limit`);
  }
  const ds = parse(parser, bytes, name);
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
  const bitsStored = ds.elements.x00280101 ? ds.uint16('x00280101') || 8 : 8;
  if (photometric !== 'PALETTE COLOR' && bitsStored > 8) {
    throw new DicomFileError(`${name}: BitsStored (0028,0101) ${bitsStored}; hc-tf measures 8-bit ultrasound pixels`);
  }
  const perFrame = (ds.elements.x52009230?.items ?? []).map(measuresSpacing);
  return { name, rows, columns, frames, samples, photometric, transferSyntax: ts,
    bitsAllocated: ds.elements.x00280100 ? ds.uint16('x00280100') : 8, bitsStored,
    signed: ds.elements.x00280103 ? ds.uint16('x00280103') === 1 : false,
    planar: ds.elements.x00280006 ? ds.uint16('x00280006') : 0,
    regions: regionFields(ds), perFrameSpacing: perFrame, uids: uidsOf(ds), studyDate: ds.string('x00080020') ?? '',
    sharedSpacing: measuresSpacing(ds.elements.x52009229?.items?.[0]), pixelSpacing: spacingOf(ds), dataset: ds };
}

/** dicom.uids: the UIDs that reference the image (no patient data). */
function uidsOf(ds) {
  const get = (t) => (ds.string(t) ?? '').replace(/\0/g, '').trim();
  return { study_instance_uid: get('x0020000d'), series_instance_uid: get('x0020000e'),
    sop_instance_uid: get('x00080018'), sop_class_uid: get('x00080016') };
}

/** PALETTE COLOR -> RGB bytes: 16-bit LUT entries keep their high byte (dicom_frames._palette_rgb). */
function paletteRgb(ds, h, index, n) {
  const out = new Uint8Array(n * 3);
  ['x00281201', 'x00281202', 'x00281203'].forEach((dataTag, c) => {
    const descTag = `x0028110${c + 1}`;
    if (!ds.elements[descTag] || !ds.elements[dataTag]) {
      throw new DicomFileError(`${h.name}: PALETTE COLOR without a plain lookup table (0028,110${c + 1}/120${c + 1}); segmented palettes are not read here: measure it with hc-tf predict`);
    }
    const entries = ds.uint16(descTag, 0) || 65536, first = ds.uint16(descTag, 1), bits = ds.uint16(descTag, 2);
    if (bits !== 16) throw new DicomFileError(`${h.name}: ${bits}-bit palette entries (0028,110${c + 1}); this app reads 16-bit palettes: measure it with hc-tf predict`);
    const lut = new Uint8Array(entries);
    for (let k = 0; k < entries; k++) lut[k] = ds.uint16(dataTag, k) >> 8;
    for (let i = 0; i < n; i++) out[i * 3 + c] = lut[Math.min(Math.max(index[i], first), first + entries - 1) - first];
  });
  return out;
}

/**
 * An RLE frame's segments (PS3.5 G.5: a 64-byte header, the segment count, 15 offsets), refused
 * as dicom_codestream._check_rle_segments refuses them when the table cannot be read.
 */
function rleSegments(data, name) {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = data.length >= 64 ? dv.getUint32(0, true) : 0;
  const offsets = count >= 1 && count <= 15 ? Array.from({ length: count }, (_, i) => dv.getUint32(4 + 4 * i, true)) : [];
  if (!offsets.length || offsets.some((o, i) => i > 0 && o < offsets[i - 1]) || offsets[offsets.length - 1] > data.length) {
    throw new DicomFileError(`${name}: the RLE header has no readable segment table`);
  }
  return offsets.map((start, i) => data.subarray(start, i + 1 < count ? offsets[i + 1] : data.length));
}

/**
 * One RLE segment (PS3.5 G.3.1: n < 128 copies the next n + 1 bytes, n > 128 repeats the next
 * byte 257 - n times, 128 is nothing; a run cut by the end copies what is there, as pydicom's
 * decoder does). Its size is counted first and refused past twice a plane, before any byte is
 * written (dicom_codestream._rle_segment_size: a 2-byte run expands to 128).
 */
function rleSegment(seg, plane, name) {
  let size = 0;
  for (let pos = 0; pos < seg.length && size <= 2 * plane;) {
    const n = seg[pos];
    if (n < 128) { size += n + 1; pos += n + 2; } else { size += n > 128 ? 257 - n : 0; pos += n > 128 ? 2 : 1; }
  }
  if (size > 2 * plane) throw new DicomFileError(`${name}: an RLE segment expands beyond Rows x Columns (${plane} bytes); refused before decoding`);
  const out = new Uint8Array(size);
  let k = 0;
  for (let pos = 0; pos < seg.length;) {
    const n = seg[pos];
    if (n < 128) { const run = seg.subarray(pos + 1, pos + n + 2); out.set(run, k); k += run.length; pos += n + 2; } else if (n > 128) {
      if (pos + 1 >= seg.length) break;
      out.fill(seg[pos + 1], k, k + 257 - n); k += 257 - n; pos += 2;
    } else pos += 1;
  }
  if (k < plane) throw new DicomFileError(`${name}: pixel data cannot be decoded (an RLE segment holds ${k} of ${plane} bytes)`);
  return out.subarray(0, plane); // padding past a plane is dropped, as pydicom drops it
}

/**
 * A frame of an RLE Lossless file (its fragment: frameFragment) as pydicom's
 * _rle_decode_frame lays it out: little-endian samples, one plane after another.
 */
function rleFrame(h, frame, bytesPer) {
  const data = frameFragment(h, frame);
  const plane = h.rows * h.columns, segments = rleSegments(data, h.name);
  if (segments.length !== h.samples * bytesPer) {
    throw new DicomFileError(`${h.name}: pixel data cannot be decoded (${segments.length} RLE segments for ${h.samples * bytesPer})`);
  }
  const out = new Uint8Array(plane * h.samples * bytesPer);
  segments.forEach((seg, i) => { // segment i: sample floor(i / bytesPer), most significant byte first
    const sample = Math.floor(i / bytesPer), byte = bytesPer - 1 - (i % bytesPer);
    const bytes = rleSegment(seg, plane, h.name);
    for (let p = 0; p < plane; p++) out[(sample * plane + p) * bytesPer + byte] = bytes[p];
  });
  return out;
}

function checkFrameNumber(h, frame) {
  if (!(Number.isInteger(frame) && frame >= 1 && frame <= h.frames)) {
    throw new DicomFileError(`${h.name}: no frame ${frame} (NumberOfFrames (0028,0008) is ${h.frames})`);
  }
}

/** A frame's encapsulated bytes: one fragment a frame, or a single frame's fragments joined. */
function frameFragment(h, frame) {
  const el = h.dataset.elements.x7fe00010, frags = el?.fragments ?? [];
  if (!el?.encapsulatedPixelData || !frags.length) throw new DicomFileError(`${h.name}: compressed pixel data (7FE0,0010) without encapsulated fragments`);
  const bytes = (f) => h.dataset.byteArray.subarray(f.position, f.position + f.length);
  if (frags.length === h.frames) return bytes(frags[frame - 1]);
  if (h.frames > 1) throw new DicomFileError(`${h.name}: ${frags.length} fragments for ${h.frames} frames; this app reads one fragment a frame: measure it with hc-tf predict`);
  const out = new Uint8Array(frags.reduce((n, f) => n + f.length, 0));
  frags.reduce((o, f) => { out.set(bytes(f), o); return o + f.length; }, 0);
  return out;
}

/**
 * A JPEG Baseline frame, checked as dicom_codestream.check_codestream checks it before anything
 * is decoded (its frame header's rows x columns x components and 8-bit samples are the file's;
 * gray, or YBR_FULL(_422) that the decoder turns to RGB as pydicom's as_rgb does), then decoded
 * by the browser (not pydicom's libjpeg: its samples need not be the same) and made gray by
 * the PNG path's rule. Browser only (createImageBitmap, OffscreenCanvas).
 */
async function jpegFrame(h, frame) {
  if (!(h.photometric === 'MONOCHROME2' || h.photometric.startsWith('YBR_FULL'))) {
    throw new DicomFileError(`${h.name}: JPEG with PhotometricInterpretation (0028,0004) ${h.photometric} is not read here (MONOCHROME2 and YBR_FULL(_422) are): measure it with hc-tf predict`);
  }
  const data = frameFragment(h, frame);
  const { segments, end } = data[0] === 0xff && data[1] === 0xd8 ? jpegMarkers(data) : { segments: [], end: 'junk' };
  const sof = segments.find((g) => isSofMarker(g.marker));
  if (end !== 'sos' || !sof || sof.body.length < 6) {
    throw new DicomFileError(`${h.name}: the JPEG codestream has no readable frame size (or sets it where it cannot be checked)`);
  }
  const b = sof.body, rows = (b[1] << 8) | b[2], columns = (b[3] << 8) | b[4], comps = b[5];
  if (rows !== h.rows || columns !== h.columns || comps !== h.samples) {
    throw new DicomFileError(`${h.name}: the codestream is ${rows} x ${columns} x ${comps} (rows x columns x components) but Rows x Columns x SamplesPerPixel (0028,0010/0011/0002) say ${h.rows} x ${h.columns} x ${h.samples}; refused before decoding`);
  }
  if (sof.marker !== 0xc0 || b[0] !== 8 || h.bitsAllocated !== 8 || h.bitsStored !== 8) {
    throw new DicomFileError(`${h.name}: not an 8-bit baseline JPEG (SOF ${sof.marker.toString(16)}, ${b[0]}-bit; BitsStored (0028,0101) ${h.bitsStored}): measure it with hc-tf predict`);
  }
  if ((jpegOrientation(segments).orientation ?? 0) !== 1) { // pydicom ignores EXIF; a browser applies it
    throw new DicomFileError(`${h.name}: its JPEG carries an orientation (EXIF) that pydicom ignores and a browser applies: measure it with hc-tf predict`);
  }
  let bmp;
  try {
    bmp = await createImageBitmap(new Blob([data], { type: 'image/jpeg' }), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new DicomFileError(`${h.name}: pixel data cannot be decoded (the JPEG codestream is damaged)`);
  }
  try {
    if (bmp.width !== h.columns || bmp.height !== h.rows) throw new DicomFileError(`${h.name}: the JPEG decoded to ${bmp.width} x ${bmp.height}, not Columns x Rows ${h.columns} x ${h.rows}`);
    const ctx = new OffscreenCanvas(bmp.width, bmp.height).getContext('2d', { willReadFrequently: true });
    ctx.drawImage(bmp, 0, 0);
    return toGray(ctx.getImageData(0, 0, bmp.width, bmp.height).data, bmp.width, bmp.height, 4);
  } finally { bmp.close(); }
}

/** A frame of the file as 8-bit gray, JPEG Baseline included (browser only): see decodeFrame. */
export async function decodeFrameAsync(h, frame = 1) {
  checkFrameNumber(h, frame);
  return h.transferSyntax === JPEG_BASELINE ? jpegFrame(h, frame) : decodeFrame(h, frame);
}

/** A frame (1-based) of the file as 8-bit gray (dicom_frames.decode_frame), bounded by the header's checks. */
export function decodeFrame(h, frame = 1) {
  const ds = h.dataset, rle = h.transferSyntax === RLE_LOSSLESS;
  checkFrameNumber(h, frame);
  if (!(h.transferSyntax in UNCOMPRESSED) && !rle) {
    const jpeg = h.transferSyntax === JPEG_BASELINE ? ' (JPEG Baseline is decoded in the browser only)' : '';
    throw new DicomFileError(`${h.name}: its pixel data is compressed (Transfer Syntax UID (0002,0010) ${h.transferSyntax || 'missing'}); this app reads uncompressed, RLE and JPEG Baseline DICOM only${jpeg}: export it uncompressed or measure it with hc-tf predict`);
  }
  if (COLOUR.includes(h.photometric) && h.photometric !== 'RGB') {
    throw new DicomFileError(`${h.name}: PhotometricInterpretation (0028,0004) ${h.photometric} is not read here (gray, RGB and palette colour are): measure it with hc-tf predict`);
  }
  const el = ds.elements.x7fe00010;
  if (!el) throw new DicomFileError(`${h.name}: no Pixel Data (7FE0,0010)`);
  if (el.encapsulatedPixelData && !rle) throw new DicomFileError(`${h.name}: its pixel data is encapsulated (compressed); this app reads uncompressed and RLE DICOM only`);
  const bytesPer = h.bitsAllocated === 16 ? 2 : h.bitsAllocated === 8 ? 1 : 0;
  if (!bytesPer) throw new DicomFileError(`${h.name}: BitsAllocated (0028,0100) ${h.bitsAllocated}; this app reads 8- or 16-bit allocated pixels`);
  const n = h.rows * h.columns, count = n * h.samples;
  if (!rle && el.length < frame * count * bytesPer) throw new DicomFileError(`${h.name}: pixel data truncated (${el.length} bytes for ${frame} frames of ${count * bytesPer})`);
  // RLE: decoded to little-endian bytes, one sample plane after another (planar configuration 1).
  const raw = rle ? rleFrame(h, frame, bytesPer) : ds.byteArray;
  const off = rle ? 0 : el.dataOffset + (frame - 1) * count * bytesPer;
  const big = h.transferSyntax === '1.2.840.10008.1.2.2', planar = rle ? 1 : h.planar;
  const values = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (bytesPer === 1) values[i] = h.signed ? (raw[off + i] << 24) >> 24 : raw[off + i];
    else {
      const lo = raw[off + 2 * i + (big ? 1 : 0)], hi = raw[off + 2 * i + (big ? 0 : 1)];
      const u = lo | (hi << 8);
      values[i] = h.signed ? (u << 16) >> 16 : u;
    }
  }
  if (h.photometric === 'PALETTE COLOR') return toGray(paletteRgb(ds, h, values, n), h.columns, h.rows, 3);
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo < 0 || hi > 255) throw new DicomFileError(`${h.name}: pixel values are not 8-bit (${h.signed ? 'int' : 'uint'}${8 * bytesPer})`);
  let pixels = Uint8Array.from(values);
  if (h.photometric === 'MONOCHROME1') pixels = pixels.map((v) => 255 - v);
  if (h.samples === 1) return pixels;
  if (planar === 1) { // R plane, G plane, B plane -> interleaved
    const inter = new Uint8Array(count);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) inter[i * 3 + c] = pixels[c * n + i];
    pixels = inter;
  }
  return toGray(pixels, h.columns, h.rows, 3);
}

/** What readCalibration needs from the header, as plain (cloneable) data. */
export function calibrationFields(h) {
  const { name, rows, columns, frames, regions, perFrameSpacing, sharedSpacing, pixelSpacing } = h;
  return { name, rows, columns, frames, regions, perFrameSpacing, sharedSpacing, pixelSpacing };
}

/**
 * prepareImage for a DICOM file (`bytes`: the whole file, if read already): bytes bounded, header
 * checked, `frame` (1-based) decoded to gray and letterboxed (its one 2D region, `region`, when it
 * has one: modelRegion); `dicom` carries what the page needs
 * to choose the pixel size (plain data).
 */
export async function prepareDicom(parser, blob, name, { limits, H, W, previewMax = 1600, frame = 1 }, bytes = null) {
  const t0 = performance.now();
  if (blob.size > limits.max_input_bytes) {
    throw new DicomFileError(`${name}: file too large (${blob.size} bytes; at most ${limits.max_input_bytes})`);
  }
  const h = readHeader(parser, bytes ?? new Uint8Array(await blob.arrayBuffer()), name, limits);
  checkSize(name, h.columns, h.rows, limits);
  const fields = calibrationFields(h);
  // The model sees the frame's one 2D tissue region, as dicom_predict.samples frames it.
  const region = modelRegion(readCalibration(fields, frame), h.rows, h.columns);
  const r = prepareGray(await decodeFrameAsync(h, frame), h.columns, h.rows, { H, W, previewMax }, t0, {}, region);
  return { ...r, dicom: { fields, frame, frames: h.frames, photometric: h.photometric, uids: h.uids, studyDate: h.studyDate } };
}
