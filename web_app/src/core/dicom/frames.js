// DICOM frames -> 8-bit gray, one at a time, from a header ./file.js checked: a port of
// hc_tf/io/dicom_frames.py (the definition; the same refusals, colour to gray by the PNG path's
// rule, stored YBR samples to RGB by its equations). Uncompressed transfer syntaxes (a deflated
// data set inflated under the byte limit first, ./deflated.js) and RLE
// Lossless (decoded here, bounded as Python bounds it, byte for byte pydicom's); JPEG Lossless
// (jpeg-lossless-decoder-js), JPEG-LS and JPEG 2000 (cornerstone's CharLS and OpenJPEG wasm
// builds) and JPEG Baseline and 8-bit Extended (its libjpeg-turbo wasm build: predict decodes
// them with libjpeg-turbo too, through simplejpeg), each frame's codestream size checked first
// (./codestream.js), byte for byte Python's pixels; another compressed one is refused in words.

import { losslessScanDamage, pointTransform } from './lossless_scan.js';
import { toGray } from '../preprocess.js';
import { UserError, jpegMarkers } from '../imagefile.js';
import { unreadEnd } from '../jpeg_check.js';
import { checkCodestream } from './codestream.js';
import { DicomFileError, COLOUR, EXPLICIT_BIG_ENDIAN } from './file.js';
import { DEFLATED } from './header_scan.js';
import { paletteRgb } from './palette.js';
import { checkOffsetTable } from './offsets.js';
import { checkBitsStored } from './pixel_values.js';

const UNCOMPRESSED = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  [EXPLICIT_BIG_ENDIAN]: 'Explicit VR Big Endian',
  [DEFLATED]: 'Deflated Explicit VR Little Endian', // its data set inflated when read (./deflated.js)
};
const RLE_LOSSLESS = '1.2.840.10008.1.2.5';
// JPEG Baseline and JPEG Extended at 8 bits (lossy): libjpeg-turbo, as
// dicom_frames.LIBJPEG_TURBO_SYNTAXES and LIBJPEG_TURBO_PHOTOMETRICS say.
const LIBJPEG_TURBO_SYNTAXES = ['1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51'];
const LIBJPEG_TURBO_PHOTOMETRICS = ['MONOCHROME1', 'MONOCHROME2', 'YBR_FULL', 'YBR_FULL_422'];
// JPEG Lossless, Non-Hierarchical (Process 14) and its First-Order Prediction (SV1) form:
// decoded exactly (jpeg-lossless-decoder-js), so the same pixels as pydicom's libjpeg.
const JPEG_LOSSLESS = ['1.2.840.10008.1.2.4.57', '1.2.840.10008.1.2.4.70'];
// JPEG-LS (lossless, near-lossless) and JPEG 2000 (lossless, lossy): cornerstone's wasm builds of
// CharLS and OpenJPEG, loaded by the worker when a file needs them.
const JPEG_LS = ['1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.81'];
const J2K = ['1.2.840.10008.1.2.4.90', '1.2.840.10008.1.2.4.91'];
const DECODED_HERE = [RLE_LOSSLESS, ...LIBJPEG_TURBO_SYNTAXES, ...JPEG_LOSSLESS, ...JPEG_LS, ...J2K];
// Stored YBR samples (uncompressed, RLE) -> RGB by dicom_frames.ybr_full_to_rgb's equations.
const YBR_FULL = ['YBR_FULL', 'YBR_FULL_422'];
const [YBR_R_CR, YBR_B_CB] = [1.402, 1.772];
const [YBR_G_CB, YBR_G_CR] = [-0.114 * 1.772 / 0.587, -0.299 * 1.402 / 0.587];

/**
 * dicom_frames.ybr_full_to_rgb: interleaved YBR_FULL bytes -> RGB, in float64 one operation at a
 * time in the Python's order (IEEE arithmetic: the same bytes), rounded half up, clipped.
 */
export function ybrFullToRgb(ybr) {
  const rgb = new Uint8Array(ybr.length);
  const level = (x) => Math.min(255, Math.max(0, Math.floor(x + 0.5)));
  for (let i = 0; i < ybr.length; i += 3) {
    const y = ybr[i], cb = ybr[i + 1] - 128, cr = ybr[i + 2] - 128;
    rgb[i] = level(y + YBR_R_CR * cr);
    rgb[i + 1] = level(y + YBR_G_CB * cb + YBR_G_CR * cr);
    rgb[i + 2] = level(y + YBR_B_CB * cb);
  }
  return rgb;
}

/** Uncompressed YBR_FULL_422 (Y1 Y2 Cb Cr for two pixels) -> YBR_FULL, as pydicom's expand_ybr422. */
function expandYbr422(values) {
  const out = new Int32Array(values.length / 2 * 3);
  for (let i = 0, o = 0; i + 3 < values.length; i += 4, o += 6) {
    const [cb, cr] = [values[i + 2], values[i + 3]];
    out.set([values[i], cb, cr, values[i + 1], cb, cr], o);
  }
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
  checkOffsetTable(h, el); // predict splits frames by it: one it cannot trust is refused on both sides
  const bytes = (f) => { // a fragment the file cuts short would be read short: refused, as predict does
    if (f.position + f.length > h.dataset.byteArray.length) throw new DicomFileError(`${h.name}: pixel data truncated (a fragment of ${f.length} bytes runs past the end of the file)`);
    return h.dataset.byteArray.subarray(f.position, f.position + f.length);
  };
  if (frags.length === h.frames) return bytes(frags[frame - 1]);
  if (h.frames > 1) throw new DicomFileError(`${h.name}: ${frags.length} fragments for ${h.frames} frames; this app reads one fragment a frame: measure it with hc-tf predict`);
  const out = new Uint8Array(frags.reduce((n, f) => n + f.length, 0));
  frags.reduce((o, f) => { out.set(bytes(f), o); return o + f.length; }, 0);
  return out;
}

/**
 * A JPEG Lossless frame (Process 14, 8-bit samples), its size checked first, decoded by
 * `codecs.jpegLossless` (jpeg-lossless-decoder-js; lossless, so pydicom's pixels exactly):
 * the samples, interleaved.
 */
function jpegLosslessFrame(h, frame, codecs) {
  if (!codecs.jpegLossless) throw new DicomFileError(`${h.name}: JPEG Lossless is decoded by the app's worker only`);
  const data = frameFragment(h, frame);
  const [sof] = checkCodestream(h, data, 'jpeg');
  if (sof.marker !== 0xc3 || sof.precision !== 8) {
    throw new DicomFileError(`${h.name}: not an 8-bit lossless JPEG (SOF ${sof.marker.toString(16)}, ${sof.precision}-bit): measure it with hc-tf predict`);
  }
  const pt = pointTransform(data);
  if (pt) throw new DicomFileError(`${h.name}: JPEG Lossless with a point transform (Pt ${pt}) is not supported (its decoders read it wrong, not as ITU-T T.81 says)`);
  const damage = losslessScanDamage(data); // the decoder reads on through what predict's refuses
  if (damage) throw new DicomFileError(`${h.name}: pixel data cannot be decoded (the JPEG Lossless codestream is damaged: ${damage})`);
  let out;
  try {
    out = new codecs.jpegLossless.lossless.Decoder().decode(data.buffer, data.byteOffset, data.length);
  } catch {
    throw new DicomFileError(`${h.name}: pixel data cannot be decoded (the JPEG Lossless codestream is damaged)`);
  }
  if (!(out instanceof Uint8Array) || out.length !== h.rows * h.columns * h.samples) {
    throw new DicomFileError(`${h.name}: pixel data cannot be decoded (the JPEG Lossless codestream is damaged)`);
  }
  return out;
}

/**
 * A JPEG Baseline or 8-bit Extended frame, checked as dicom_codestream.check_codestream checks
 * it before anything is decoded (its frame header's rows x columns x components and 8-bit
 * samples are the file's),
 * decoded by `codecs.libjpegTurbo` (cornerstone's libjpeg-turbo wasm build: gray, or YCbCr it
 * turns to RGB, as simplejpeg's libjpeg-turbo does for predict; neither applies an EXIF
 * orientation, as pydicom does not): the samples, interleaved.
 */
function lossyJpegFrame(h, frame, codecs) {
  const rgb = h.photometric === 'RGB';
  if (!LIBJPEG_TURBO_PHOTOMETRICS.includes(h.photometric) && !rgb) {
    throw new DicomFileError(`${h.name}: JPEG with PhotometricInterpretation (0028,0004) ${h.photometric} is not read here (MONOCHROME1/2, YBR_FULL(_422) and RGB are): measure it with hc-tf predict`);
  }
  if (!codecs.libjpegTurbo) throw new DicomFileError(`${h.name}: JPEG Baseline and Extended are decoded by the app's worker only`);
  const data = frameFragment(h, frame);
  if (rgb && !libjpegReadsRgb(data)) {
    throw new DicomFileError(`${h.name}: an RGB JPEG frame whose markers do not say it is RGB (no Adobe APP14 marker, components not named R, G, B) is not read here: measure it with hc-tf predict`);
  }
  const [sof] = checkCodestream(h, data, 'jpeg');
  if (![0xc0, 0xc1].includes(sof.marker) || sof.precision !== 8 || h.bitsAllocated !== 8 || h.bitsStored !== 8) {
    throw new DicomFileError(`${h.name}: not an 8-bit baseline or extended JPEG (SOF ${sof.marker.toString(16)}, ${sof.precision}-bit; BitsStored (0028,0101) ${h.bitsStored}): measure it with hc-tf predict`);
  }
  const damaged = () => new DicomFileError(`${h.name}: pixel data cannot be decoded (the JPEG codestream is damaged)`);
  let dec;
  try {
    dec = new codecs.libjpegTurbo.JPEGDecoder();
    dec.getEncodedBuffer(data.length).set(data);
    dec.decode();
    const info = dec.getFrameInfo(), out = dec.getDecodedBuffer();
    if (info.width !== h.columns || info.height !== h.rows || info.componentCount !== h.samples
        || out.length !== h.rows * h.columns * h.samples) throw damaged();
    const pixels = new Uint8Array(out); // copied out of the wasm heap
    const unread = unreadEnd(codecs.libjpegTurbo, data); // as dicom_frames refuses it
    if (unread) throw new DicomFileError(`${h.name}: pixel data cannot be decoded (${unread})`);
    return pixels;
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw damaged();
  } finally {
    dec?.delete();
  }
}

/**
 * dicom_frames._libjpeg_reads_rgb: whether libjpeg takes an RGB-coded JPEG frame's samples for
 * RGB as its markers say (an Adobe APP14 marker, or no JFIF one and components named R, G, B),
 * where predict decodes it with libjpeg-turbo too; predict reads the others as stored (pydicom's
 * Pillow), which libjpeg would convert as YCbCr.
 */
function libjpegReadsRgb(data) {
  const { segments } = jpegMarkers(data);
  // As libjpeg (and Pillow) see them: an APP14 of 12 bytes or more, an APP0 of 14 or more.
  const app = (marker, tag, least) => segments.some((s) => s.marker === marker && s.body.length >= least
    && String.fromCharCode(...s.body.subarray(0, tag.length)) === tag);
  if (app(0xee, 'Adobe', 12)) return true;
  const sof = segments.find((s) => [0xc0, 0xc1].includes(s.marker));
  const ids = sof && sof.body[5] === 3 ? [sof.body[6], sof.body[9], sof.body[12]] : [];
  return !app(0xe0, 'JFIF\0', 14) && ids.join() === '82,71,66';
}

/**
 * A frame of the file as 8-bit gray: see decodeFrame. `codecs` may give loadCharls(),
 * loadOpenjpeg() and loadLibjpegTurbo(): promises of the wasm codecs, awaited here.
 */
export async function decodeFrameAsync(h, frame = 1, codecs = {}) {
  checkFrameNumber(h, frame);
  const ready = { ...codecs }; // the wasm codecs loaded on first need
  if (LIBJPEG_TURBO_SYNTAXES.includes(h.transferSyntax) && codecs.loadLibjpegTurbo) ready.libjpegTurbo = await codecs.loadLibjpegTurbo();
  if (JPEG_LS.includes(h.transferSyntax) && codecs.loadCharls) ready.charls = await codecs.loadCharls();
  if (J2K.includes(h.transferSyntax) && codecs.loadOpenjpeg) ready.openjpeg = await codecs.loadOpenjpeg();
  return decodeFrame(h, frame, ready);
}

/**
 * A frame (1-based) of the file as 8-bit gray (dicom_frames.decode_frame), bounded by the
 * header's checks. `codecs`: the decoders of compressed syntaxes, ready (decodeFrameAsync
 * readies them): `jpegLossless` (jpeg-lossless-decoder-js), `charls` (JPEG-LS), `openjpeg`
 * (JPEG 2000) and `libjpegTurbo` (JPEG Baseline), the last three cornerstone's wasm builds.
 */
export function decodeFrame(h, frame = 1, codecs = {}) {
  checkFrameNumber(h, frame);
  const ts = h.transferSyntax, compressed = !(ts in UNCOMPRESSED);
  if (compressed && !DECODED_HERE.includes(ts)) {
    throw new DicomFileError(`${h.name}: its pixel data is compressed (Transfer Syntax UID (0002,0010) ${ts || 'missing'}); this app reads uncompressed, RLE, JPEG Baseline, JPEG Extended (8-bit), JPEG Lossless, JPEG-LS and JPEG 2000 DICOM only: export it uncompressed or measure it with hc-tf predict`);
  }
  // A JPEG's YCbCr comes out of its decoder as RGB, and so does JPEG 2000's YBR_ICT / YBR_RCT
  // (OpenJPEG undoes the component transform, as for pydicom); stored YBR samples (uncompressed,
  // RLE) are converted here; other YBR pixel data is not read here.
  const rgbFromDecoder = LIBJPEG_TURBO_SYNTAXES.includes(ts) || (J2K.includes(ts) && ['YBR_ICT', 'YBR_RCT'].includes(h.photometric));
  const ybrSamples = YBR_FULL.includes(h.photometric) && (!compressed || ts === RLE_LOSSLESS);
  // Uncompressed YBR_FULL_422 holds two samples a pixel (RLE's, as pydicom reads it, three).
  const half = ybrSamples && !compressed && h.photometric === 'YBR_FULL_422';
  if (COLOUR.includes(h.photometric) && h.photometric !== 'RGB' && !rgbFromDecoder && !ybrSamples) {
    throw new DicomFileError(`${h.name}: PhotometricInterpretation (0028,0004) ${h.photometric} is not read here (gray, RGB and palette colour are): measure it with hc-tf predict`);
  }
  const el = h.dataset.elements.x7fe00010;
  if (!el) throw new DicomFileError(`${h.name}: no Pixel Data (7FE0,0010)`);
  if (el.encapsulatedPixelData && !compressed) throw new DicomFileError(`${h.name}: its pixel data is encapsulated (compressed) but Transfer Syntax UID (0002,0010) ${ts} is not a compressed one`);
  const perPixel = half ? 2 : h.samples;
  const { raw, off, bytesPer, planar } = compressed ? compressedFrame(h, frame, codecs) : nativeFrame(h, frame, el, perPixel);
  const n = h.rows * h.columns, count = n * perPixel;
  const big = ts === EXPLICIT_BIG_ENDIAN;
  const values = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (bytesPer === 1) values[i] = h.signed ? (raw[off + i] << 24) >> 24 : raw[off + i];
    else {
      const lo = raw[off + 2 * i + (big ? 1 : 0)], hi = raw[off + 2 * i + (big ? 0 : 1)];
      const u = lo | (hi << 8);
      values[i] = h.signed ? (u << 16) >> 16 : u;
    }
  }
  checkBitsStored(values, h.bitsStored, h.signed, h.name, (message) => new DicomFileError(message)); // as stored: none masked
  if (h.photometric === 'PALETTE COLOR') return toGray(paletteRgb(h.dataset, h, values, n), h.columns, h.rows, 3);
  const samples = half ? expandYbr422(values) : values;
  let lo = Infinity, hi = -Infinity;
  for (const v of samples) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo < 0 || hi > 255) throw new DicomFileError(`${h.name}: pixel values are not 8-bit (${h.signed ? 'int' : 'uint'}${8 * bytesPer})`);
  let pixels = Uint8Array.from(samples);
  if (h.photometric === 'MONOCHROME1') pixels = pixels.map((v) => 255 - v);
  if (h.samples === 1) return pixels;
  if (planar === 1) { // R plane, G plane, B plane -> interleaved
    const inter = new Uint8Array(count);
    for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) inter[i * 3 + c] = pixels[c * n + i];
    pixels = inter;
  }
  return toGray(ybrSamples ? ybrFullToRgb(pixels) : pixels, h.columns, h.rows, 3);
}

/**
 * An uncompressed frame: where its samples start in the file's bytes, as stored; or, for 8-bit
 * samples in OW under Explicit VR Big Endian (16-bit words, each word's two bytes swapped), the
 * frame's samples put back in order, as pydicom reads them.
 */
function nativeFrame(h, frame, el, perPixel) {
  const bytesPer = bytesPerSample(h), count = h.rows * h.columns * perPixel;
  // The element's own length, and what the file holds of it: a file cut short is read as zeros else.
  const held = Math.min(el.length, h.dataset.byteArray.length - el.dataOffset);
  if (held < frame * count * bytesPer) throw new DicomFileError(`${h.name}: pixel data truncated (${held} bytes for ${frame} frames of ${count * bytesPer})`);
  const start = (frame - 1) * count * bytesPer;
  if (bytesPer === 1 && el.vr === 'OW' && h.transferSyntax === EXPLICIT_BIG_ENDIAN) {
    const raw = new Uint8Array(count), bytes = h.dataset.byteArray;
    for (let i = 0; i < count; i++) raw[i] = bytes[el.dataOffset + ((start + i) ^ 1)];
    return { raw, off: 0, bytesPer, planar: h.planar };
  }
  return { raw: h.dataset.byteArray, off: el.dataOffset + start, bytesPer, planar: h.planar };
}

function bytesPerSample(h) {
  const bytesPer = h.bitsAllocated === 16 ? 2 : h.bitsAllocated === 8 ? 1 : 0;
  if (!bytesPer) throw new DicomFileError(`${h.name}: BitsAllocated (0028,0100) ${h.bitsAllocated}; hc-tf reads 8- or 16-bit allocated pixels`); // dicom.ALLOCATED_8_OR_16
  return bytesPer;
}

/**
 * A compressed frame decoded to little-endian samples: RLE one sample plane after another
 * (planar configuration 1); JPEG Lossless and JPEG Baseline at 8 bits (their precision, checked) and JPEG-LS and
 * JPEG 2000 at their decoder's bit depth, samples interleaved (a JPEG-LS colour frame coded
 * plane by plane, as planes).
 */
function compressedFrame(h, frame, codecs) {
  const ts = h.transferSyntax;
  if (ts === RLE_LOSSLESS) {
    const bytesPer = bytesPerSample(h);
    return { raw: rleFrame(h, frame, bytesPer), off: 0, bytesPer, planar: 1 };
  }
  if (JPEG_LOSSLESS.includes(ts)) return { raw: jpegLosslessFrame(h, frame, codecs), off: 0, bytesPer: 1, planar: 0 };
  if (LIBJPEG_TURBO_SYNTAXES.includes(ts)) return { raw: lossyJpegFrame(h, frame, codecs), off: 0, bytesPer: 1, planar: 0 };
  return wasmCodecFrame(h, frame, codecs, JPEG_LS.includes(ts));
}

/**
 * A JPEG-LS (`ls`) or JPEG 2000 frame, its codestream's size checked first (checkCodestream),
 * decoded by cornerstone's CharLS or OpenJPEG wasm build (lossless or not, the same pixels as
 * pydicom's decoders: both are the reference codecs' own code).
 */
function wasmCodecFrame(h, frame, codecs, ls) {
  const what = ls ? 'JPEG-LS' : 'JPEG 2000', codec = ls ? codecs.charls : codecs.openjpeg;
  if (!codec) throw new DicomFileError(`${h.name}: ${what} is decoded by the app's worker only`);
  const data = frameFragment(h, frame);
  checkCodestream(h, data, ls ? 'jpeg' : 'j2k');
  const damaged = () => new DicomFileError(`${h.name}: pixel data cannot be decoded (the ${what} codestream is damaged)`);
  let dec;
  try {
    dec = ls ? new codec.JpegLSDecoder() : new codec.J2KDecoder();
    dec.getEncodedBuffer(data.length).set(data);
    dec.decode();
    const info = dec.getFrameInfo(), bytesPer = info.bitsPerSample > 8 ? 2 : 1;
    const out = dec.getDecodedBuffer();
    if (info.width !== h.columns || info.height !== h.rows || info.componentCount !== h.samples
        || out.length !== h.rows * h.columns * h.samples * bytesPer) throw damaged();
    const planar = ls && h.samples > 1 && dec.getInterleaveMode() === 0 ? 1 : 0;
    return { raw: new Uint8Array(out), off: 0, bytesPer, planar }; // copied out of the wasm heap
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw damaged();
  } finally {
    dec?.delete();
  }
}
