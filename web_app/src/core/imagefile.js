// An untrusted image file -> what the model needs, bounded before decoding (worker-safe: no DOM).
// Decodes as hc_tf.preprocess.read_gray_image: no colour management, RGB -> gray with OpenCV's
// rule; limits from the bundle metadata's input_limits (hc_tf.defaults, hc_tf.preprocess).
import { toGray, letterboxImage } from './preprocess.js';
import { decodeGrayPng, crc32 } from './png_gray.js';
import { be32, idatParts, zlibDamage } from './png_zlib.js';
import { jpegDamage, tooManyScans } from './jpeg_check.js';
import { gifDamage } from './gif_check.js';
import { multiFrame } from './frames_check.js';
import { pngOrientation, jpegOrientation, applyOrientation } from './orientation.js';

/** An error whose message is meant for the user as it is. */
export class UserError extends Error {}

const be16 = (b, i) => (b[i] << 8) | b[i + 1];
const le16 = (b, i) => b[i] | (b[i + 1] << 8);
const le24 = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const le32s = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));

/** A JPEG frame header (SOFn): C0-CF but DHT (C4), JPG (C8) and DAC (CC). */
export const isSofMarker = (marker) => marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);

/**
 * A JPEG's marker segments from SOI to its first scan (SOS), walked by their lengths, not
 * decoded: {segments: [{marker, body}], sof: the first SOFn's {width, height} or null, end: 'sos',
 * 'eoi', 'short' (the bytes end first) or 'junk' (a byte that is no marker where one should be),
 * at: where the SOS or EOI marker stands}.
 */
export function jpegMarkers(b) {
  const segments = [];
  let i = 2, sof = null;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return { segments, sof, end: 'junk' };
    const marker = b[i + 1];
    if (marker === 0xff) { i += 1; continue; }
    if (marker === 0xda || marker === 0xd9) return { segments, sof, end: marker === 0xda ? 'sos' : 'eoi', at: i };
    if (!sof && i + 9 < b.length && isSofMarker(marker)) {
      sof = { width: be16(b, i + 7), height: be16(b, i + 5) };
    }
    const next = i + 2 + be16(b, i + 2);
    segments.push({ marker, body: b.subarray(i + 4, Math.min(next, b.length)) });
    i = next;
  }
  return { segments, sof, end: 'short' };
}

/**
 * {format, width, height, bitDepth?} from the file's bytes (a JPEG's markers are walked as far as
 * its SOF, past any EXIF or ICC segment); null for a format not recognised here.
 */
export function headerSize(b) {
  if (b.length >= 26 && be32(b, 0) === 0x89504e47 && ascii(b, 12, 4) === 'IHDR') {
    return { format: 'PNG', width: be32(b, 16), height: be32(b, 20), bitDepth: b[24] };
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    const { sof } = jpegMarkers(b);
    return sof && { format: 'JPEG', ...sof };
  }
  if (b.length >= 10 && ascii(b, 0, 3) === 'GIF') return { format: 'GIF', width: le16(b, 6), height: le16(b, 8) };
  if (b.length >= 26 && ascii(b, 0, 2) === 'BM') return { format: 'BMP', width: Math.abs(le32s(b, 18)), height: Math.abs(le32s(b, 22)) };
  if (b.length >= 30 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') {
    const kind = ascii(b, 12, 4);
    if (kind === 'VP8X') return { format: 'WebP', width: le24(b, 24) + 1, height: le24(b, 27) + 1 };
    if (kind === 'VP8L') return { format: 'WebP', width: 1 + (le16(b, 21) & 0x3fff), height: 1 + (((b[22] >> 6) | (b[23] << 2) | (b[24] << 10)) & 0x3fff) };
    if (kind === 'VP8 ') return { format: 'WebP', width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
  }
  return null;
}

/**
 * Why a PNG's chunks are refused, in hc-tf predict's words (hc_tf/io/png_chunks.py), else null:
 * a wrong CRC-32 (over a chunk's type and data) in any chunk before the first IDAT (Pillow reads
 * them for the header and refuses a bad CRC, ancillary ones included) or in an IDAT (libpng: an
 * error), or no whole IEND chunk (libpng refuses a file cut short before its end; Chromium read
 * one cut inside its IEND). After the image data a bad CRC (an ancillary chunk's, IEND's) is a
 * libpng warning: predict measures the file, so it is not checked here either. A browser's
 * decoder need not check, so a damaged file is refused here by rule. Chunks are walked by their
 * lengths; one cut short ends the CRC walk (the zlib check or the IEND rule refuses the file).
 * Cost: one table-driven pass over the chunks' bytes (~2 ms a MB; decoding them costs more),
 * after the size checks, so an oversized file is refused without it.
 */
export function pngChunkDamage(b) {
  let i = 8, idat = false, crcs = true, iend = false;
  while (i + 12 <= b.length && !iend) {
    const len = be32(b, i), type = ascii(b, i + 4, 4), end = i + 8 + len;
    if (end + 4 > b.length) break;
    if (type === 'IDAT') idat = true;
    else if (idat || type === 'IEND') crcs = false; // past the image data
    if (crcs && crc32(b, i + 4, end) !== be32(b, end)) {
      return `${/^[A-Za-z]{4}$/.test(type) ? `its ${type} chunk` : 'one of its chunks'} fails its CRC-32 check`;
    }
    iend = type === 'IEND';
    i = end + 4;
  }
  return iend ? null : 'the file ends before its IEND chunk (cut short?)';
}

/** Refuses a size beyond the limits (pixels per frame, smallest side), naming the file. */
export function checkSize(name, width, height, limits) {
  if (width * height > limits.max_input_pixels) {
    throw new UserError(`${name}: image too large (${width} x ${height} = ${width * height} pixels; at most ${limits.max_input_pixels})`);
  }
  if (Math.min(width, height) < limits.min_image_side) {
    throw new UserError(`${name}: image too small (${width} x ${height} pixels; at least ${limits.min_image_side} x ${limits.min_image_side})`);
  }
}

export const HEAD_BYTES = 64 * 1024;

/**
 * Bytes and header size checked before decoding (hc_tf.io.images: image_size, then
 * check_pixels): a file whose size its header does not say is refused, never decoded blind;
 * a PNG whose chunks predict would refuse (pngChunkDamage) is refused too.
 * `bytes`: the whole file, if read already.
 */
export async function checkFile(blob, name, limits, bytes = null) {
  if (blob.size === 0) throw new UserError(`${name}: empty file`); // images.image_size's words
  if (blob.size > limits.max_input_bytes) {
    throw new UserError(`${name}: file too large (${blob.size} bytes; at most ${limits.max_input_bytes})`);
  }
  bytes ??= new Uint8Array(await blob.arrayBuffer());
  const h = headerSize(bytes);
  if (!h) {
    // A PNG's header chunk cut short or failing its CRC: said as predict says it (decode_gray).
    const png = bytes.length >= 8 && be32(bytes, 0) === 0x89504e47 && be32(bytes, 4) === 0x0d0a1a0a;
    const damaged = png ? pngChunkDamage(bytes) : null;
    if (damaged) throw new UserError(`${name}: not a readable image file (damaged: ${damaged})`);
    throw new UserError(`${name}: not a readable image file (its size could not be read from its header; open a PNG or JPEG ultrasound image)`);
  }
  // preprocess.deeper_than_8_bits's words (a 16-bit PNG decodes to uint16 there)
  if (h.bitDepth > 8) throw new UserError(`${name}: a ${h.bitDepth}-bit image; hc-tf measures 8-bit images (save it as 8-bit)`);
  checkSize(name, h.width, h.height, limits);
  const damaged = h.format === 'PNG' ? pngChunkDamage(bytes) : null;
  if (damaged) throw new UserError(`${name}: not a readable image file (damaged: ${damaged})`);
  const frames = multiFrame(bytes); // predict's order: chunk damage, frames, then the rest
  if (frames) throw new UserError(`${name}: ${frames}`);
  return h;
}

/**
 * preprocess.TRANSLUCENT: a pixel not fully opaque is shown blank or blended, not as the values
 * measured; predict refuses such an image in these words (the canvas premultiplies it too).
 */
export const TRANSLUCENT = 'the image has pixels that are not fully opaque (transparency); hc-tf measures opaque images only: save it without transparency';

/** True when some pixel is not opaque. */
function hasTranslucency(rgba) {
  for (let i = 3; i < rgba.length; i += 4) if (rgba[i] !== 255) return true;
  return false;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** Every other pixel dropped until the longer side is <= maxSide: a gray RGBA preview. */
function preview(gray, width, height, maxSide) {
  const k = Math.max(1, Math.ceil(Math.max(width, height) / maxSide));
  const w = Math.ceil(width / k), h = Math.ceil(height / k);
  const out = new Uint8ClampedArray(w * h * 4);
  const words = LITTLE_ENDIAN ? new Uint32Array(out.buffer) : null; // one store a pixel
  for (let y = 0, o = 0; y < h; y++) {
    const row = y * k * width;
    for (let x = 0; x < w; x++, o += 4) {
      const v = gray[row + x * k];
      if (words) words[o >> 2] = 0xff000000 | (v * 0x010101);
      else { out[o] = v; out[o + 1] = v; out[o + 2] = v; out[o + 3] = 255; }
    }
  }
  return { rgba: out, width: w, height: h, step: k };
}

const VIDEO_FRAME_RGB = new Set(['RGBA', 'RGBX', 'BGRA', 'BGRX']);

/**
 * A PNG's pixels through WebCodecs' ImageDecoder (the browser's own PNG decoder, as
 * createImageBitmap's, without the canvas round trip): {data, width, height, bgr, alpha}, or
 * null where it is missing or gives another layout (the canvas path then reads the file).
 */
async function pngPixels(blob, bytes) {
  if (typeof ImageDecoder !== 'function') return null;
  let dec, image;
  try {
    dec = new ImageDecoder({ data: bytes ?? await blob.arrayBuffer(), type: 'image/png', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    ({ image } = await dec.decode({ frameIndex: 0 }));
    if (!VIDEO_FRAME_RGB.has(image.format)) return null;
    const data = new Uint8Array(image.allocationSize());
    await image.copyTo(data); // tightly packed, 4 bytes a pixel
    const { width, height } = image.visibleRect;
    return { data, width, height, bgr: image.format.startsWith('BGR'), alpha: image.format.endsWith('A'), by: 'ImageDecoder' };
  } catch {
    return null; // unreadable here: the canvas path says so in words
  } finally {
    image?.close();
    dec?.close();
  }
}

/** The canvas path: createImageBitmap, drawn once, read back as RGBA. */
async function canvasPixels(blob, name, limits) {
  let bmp;
  try {
    bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new UserError(`${name}: not a readable image file (open a PNG or JPEG ultrasound image)`);
  }
  const { width, height } = bmp;
  try { checkSize(name, width, height, limits); } catch (err) { bmp.close(); throw err; }
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  return { data: ctx.getImageData(0, 0, width, height).data, width, height, bgr: false, alpha: true, by: 'canvas' };
}

/**
 * A JPEG's orientation as the browser's decoder leaves it to be turned here: {orientation: 1}
 * where createImageBitmap turns it as predict does (it applies the EXIF orientation, as Pillow
 * reads it: tests/web_app_ui_test.py measures that against predict), {unsure} where it would not
 * (an XMP orientation that predict applies and the browser ignores, forms read differently).
 */
function browserJpegOrientation(bytes) {
  const { segments, end } = jpegMarkers(bytes);
  if (end === 'junk') return { unsure: 'stray bytes between its JPEG markers' };
  const o = jpegOrientation(segments);
  if (o.unsure) return o;
  if (o.from === 'xmp') return { unsure: `an XMP orientation (${o.orientation}) with no EXIF one` };
  return { orientation: 1 };
}

/**
 * Refuses a JPEG of more scans than `limits.max_jpeg_scans` or one libjpeg-turbo finds corrupt,
 * in predict's words (jpeg_check.js). The checker
 * comes from `codecs.loadLibjpegTurbo()` (the worker's lazy loader, shared with DICOM); without
 * it (prepareImage outside the worker) the file is refused, as it cannot be checked as predict
 * checks it. A CMYK JPEG (4 components) is refused in words: the wasm build decodes no CMYK.
 */
async function checkJpeg(name, bytes, codecs, limits) {
  const scans = tooManyScans(bytes, limits.max_jpeg_scans); // before any decoder sees it
  if (scans) throw new UserError(`${name}: ${scans}`);
  const sof = jpegMarkers(bytes).segments.find((s) => isSofMarker(s.marker));
  if (sof?.body[5] === 4) {
    throw new UserError(`${name}: a CMYK JPEG is not checked here as hc-tf predict checks it; measure it with hc-tf predict, or save it as RGB or gray`);
  }
  if (!codecs.loadLibjpegTurbo) throw new UserError(`${name}: JPEG files are checked by the app's worker only`);
  const damage = jpegDamage(await codecs.loadLibjpegTurbo(), bytes);
  if (damage) throw new UserError(`${name}: not a readable image file (damaged: ${damage})`);
}

/**
 * The file -> {width, height, input (letterboxed uint8), box, makePreview, timings, decoded_by:
 * 'png-gray', 'ImageDecoder' or 'canvas'}; throws a UserError naming the file for anything
 * predict would refuse or read differently. `read`: what the caller has read of the file
 * already ({head: its first HEAD_BYTES, bytes: all}; the whole file is read here otherwise).
 * `codecs`: the worker's, for loadLibjpegTurbo() (checkJpeg).
 */
export async function prepareImage(blob, name, { limits, H, W, previewMax = 1600 }, read = {}, codecs = {}) {
  const t0 = performance.now();
  const within = blob.size <= limits.max_input_bytes; // else checkFile refuses it unread
  const bytes = within ? read.bytes ?? new Uint8Array(await blob.arrayBuffer()) : null;
  const h = await checkFile(blob, name, limits, bytes);
  const tRead = performance.now();
  // predict turns a PNG upright by its EXIF orientation (images.decode_gray): so does the gray
  // path here; the browser's decoders may or may not, so an oriented PNG they would read is refused.
  // A JPEG is left to the browser, which turns it by EXIF as predict does; one it would not turn
  // as predict does (an XMP orientation) is refused.
  const orient = h.format === 'PNG' ? pngOrientation(bytes) : h.format === 'JPEG' ? browserJpegOrientation(bytes) : { orientation: 1 };
  if (orient.unsure) {
    throw new UserError(`${name}: its orientation metadata (${orient.unsure}) is not read here as hc-tf predict reads it; measure it with hc-tf predict`);
  }
  const png = h.format === 'PNG' ? await decodeGrayPng(bytes) : null; // gray as stored
  if (png) {
    const up = applyOrientation(png.gray, png.width, png.height, orient.orientation);
    const stages = { read_ms: tRead - t0, pixels_ms: performance.now() - tRead, inflate_ms: png.inflate_ms, unfilter_ms: png.unfilter_ms };
    const r = prepareGray(up.gray, up.width, up.height, { H, W, previewMax }, t0, stages);
    return { ...r, decoded_by: 'png-gray', ...(orient.orientation !== 1 && { orientation: orient.orientation }) };
  }
  if (orient.orientation !== 1) {
    throw new UserError(`${name}: a PNG with an EXIF orientation (${orient.orientation}) is turned upright here only when it is plain 8-bit gray; measure it with hc-tf predict, or save it upright without the orientation`);
  }
  if (h.format === 'PNG') { // the browser's decoders skip the zlib checksum predict's libpng checks
    const damage = await zlibDamage(idatParts(bytes), 8 * h.width * h.height + 8 * h.height + 1024);
    if (damage) throw new UserError(`${name}: not a readable image file (damaged: ${damage})`);
  }
  const gif = h.format === 'GIF' ? gifDamage(bytes) : null; // Chromium reads through damaged LZW data
  if (gif) throw new UserError(`${name}: not a readable image file (damaged: ${gif})`);
  const tCheck = performance.now(); // the browser's JPEG decoder is lenient in its own way: libjpeg-turbo checks first
  if (h.format === 'JPEG') await checkJpeg(name, bytes, codecs, limits);
  const check = h.format === 'JPEG' ? { jpeg_check_ms: performance.now() - tCheck } : {};
  const px = (h.format === 'PNG' && await pngPixels(blob, bytes)) || await canvasPixels(blob, name, limits);
  const { width, height } = px;
  checkSize(name, width, height, limits);
  if (px.alpha && hasTranslucency(px.data)) {
    throw new UserError(`${name}: ${TRANSLUCENT}`);
  }
  const tPixels = performance.now();
  const gray = toGray(px.data, width, height, 4, { bgr: px.bgr });
  const r = prepareGray(gray, width, height, { H, W, previewMax }, t0, { read_ms: tRead - t0, pixels_ms: tPixels - tRead, ...check });
  return { ...r, decoded_by: px.by };
}

/**
 * A decoded 8-bit gray image -> the same record as prepareImage (letterboxed input, preview).
 * timings: decode_ms (from t0: reading, decoding, gray), letterbox_ms, and the caller's finer
 * `stages` of the decode. makePreview(): the preview, made when the page asks for it (it draws
 * after measuring: a preview made during the model slows it). `region`: the part the model sees
 * ([x0, y0, x1, y1], a DICOM's one 2D region) or null for all; `box` is then the region's.
 */
export function prepareGray(gray, width, height, { H, W, previewMax = 1600 }, t0, stages = {}, region = null) {
  const t1 = performance.now();
  const { input, box } = region ? letterboxImage(cropGray(gray, width, region), region[2] - region[0] + 1, region[3] - region[1] + 1, H, W)
    : letterboxImage(gray, width, height, H, W);
  const t2 = performance.now();
  return { width, height, input, box, region, makePreview: () => preview(gray, width, height, previewMax),
    timings: { decode_ms: t1 - t0, letterbox_ms: t2 - t1, ...stages } };
}

/** The [x0, y0, x1, y1] (inclusive) part of a gray image `width` wide, as inference.model_view takes it. */
function cropGray(gray, width, [x0, y0, x1, y1]) {
  const w = x1 - x0 + 1, out = new Uint8Array(w * (y1 - y0 + 1));
  for (let y = y0; y <= y1; y++) out.set(gray.subarray(y * width + x0, y * width + x0 + w), (y - y0) * w);
  return out;
}
