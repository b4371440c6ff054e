// An image's EXIF orientation as hc-tf predict finds it (hc_tf.io.images.exif_orientation: Pillow's
// getexif, then apply_orientation), and that orientation applied to gray pixels. Pillow reads it
// from an eXIf chunk (IFD0 tag 0x0112), else from XMP text (tiff:Orientation). The common forms
// are read here exactly; a form whose reading by Pillow this port does not follow step by step
// (compressed XMP, "Raw profile type exif" or "exif" text, BigTIFF, a non-SHORT orientation tag,
// several XMP chunks, APNG) gives {unsure}: the caller refuses the file in words rather than
// measure it turned otherwise than predict would. A JPEG's orientation is read the same way from
// its APP1 segments (jpegOrientation; imagefile.js walks the markers).

import { be32 } from './png_zlib.js';

const typeOf = (b, i) => String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);
const latin1 = (b) => { let s = ''; for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192)); return s; };
const EXIF_PREFIX = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"
// TIFF field types Pillow loads (ImageFileDirectory_v2._load_dispatch) -> bytes a value.
const UNIT = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8 };
const ORIENTATION = 0x0112;

/**
 * Pillow's Exif.load + get(0x0112) on an EXIF (TIFF) block: {value} (the tag's value), {absent}
 * (no orientation tag: Pillow then looks at XMP), {broken} (Pillow raises: predict takes 1), or
 * {unsure}. `unreached: true` with {value} or {absent}: IFD0 has an orientation entry that Pillow
 * skips (a type it does not load, no count) or stops before (an earlier entry's data past the end).
 */
function exifOrientation(body) {
  let d = body;
  while (d.length >= 6 && EXIF_PREFIX.every((v, i) => d[i] === v)) d = d.subarray(6);
  if (!d.length) return { absent: true };
  const p = d.length >= 8 ? typeOf(d, 0) : '';
  if (p === 'MM\0+' || p === 'II+\0') return { unsure: 'a BigTIFF EXIF block' };
  if (!['MM\0*', 'II*\0', 'MM*\0', 'II\0*'].includes(p)) return { broken: true };
  const little = p.startsWith('II');
  const u16 = (i) => (little ? d[i] | (d[i + 1] << 8) : (d[i] << 8) | d[i + 1]);
  const u32 = (i) => (little ? (d[i] | (d[i + 1] << 8) | (d[i + 2] << 16)) + d[i + 3] * 2 ** 24 : be32(d, i));
  const ifd = u32(4);
  if (ifd + 2 > d.length) return { absent: true }; // Pillow warns and reads no tag
  let found = null, unreached = false, k = 0;
  const n = u16(ifd), entry = (j) => ifd + 2 + 12 * j;
  for (; k < n; k++) {
    const e = entry(k);
    if (e + 12 > d.length) break; // a short read: Pillow keeps the tags before it
    const tag = u16(e), typ = u16(e + 2), count = u32(e + 4), unit = UNIT[typ];
    if (!unit || !count) { unreached ||= tag === ORIENTATION; continue; } // an unsupported type, or no data: skipped
    const size = count * unit;
    if (size > 4 && u32(e + 8) + size > d.length) break; // its data past the end: Pillow stops here
    if (tag === ORIENTATION) found = typ === 3 && count === 1 ? { value: u16(e + 8) } : { unsure: `an orientation tag of type ${typ}, count ${count}` };
  }
  for (; k < n && entry(k) + 12 <= d.length; k++) unreached ||= u16(entry(k)) === ORIENTATION;
  if (found?.unsure) return found;
  return { ...(found ?? { absent: true }), ...(unreached && { unreached }) };
}

/**
 * {orientation: 1..8} as exif_orientation gives it for these PNG bytes, or {unsure: why}.
 * Chunks are walked by their lengths (the decoders check the rest).
 */
export function pngOrientation(b) {
  const chunks = []; // {type, body, afterIdat}
  let i = 8, afterIdat = false;
  while (i + 12 <= b.length) {
    const len = be32(b, i), type = typeOf(b, i + 4);
    if (i + 12 + len > b.length) break;
    if (type === 'IDAT') afterIdat = true;
    chunks.push({ type, body: b.subarray(i + 8, i + 8 + len), afterIdat: afterIdat && type !== 'IDAT' });
    if (type === 'IEND') break;
    i += 12 + len;
  }
  const keyword = (c) => { const z = c.body.indexOf(0); return latin1(z < 0 ? c.body : c.body.subarray(0, z)); };
  const text = chunks.filter((c) => ['tEXt', 'zTXt', 'iTXt'].includes(c.type));
  if (text.some((c) => ['exif', 'Raw profile type exif'].includes(keyword(c)))) return { unsure: 'EXIF in a text chunk' };
  const exifs = chunks.filter((c) => c.type === 'eXIf');
  const xmps = text.filter((c) => keyword(c) === 'XML:com.adobe.xmp');
  if (!exifs.length && !xmps.length) return { orientation: 1 };
  if (chunks.some((c) => c.type === 'acTL')) return { unsure: 'an animated PNG with EXIF or XMP' };
  // Pillow reads the chunks after the image data only when none before it was an eXIf.
  const early = exifs.some((c) => !c.afterIdat);
  const read = (c) => !early || !c.afterIdat;
  const exif = exifs.filter(read).at(-1);
  if (exif) {
    const o = exifOrientation(exif.body);
    if (o.unsure) return o;
    if (o.broken) return { orientation: 1 };
    if (!o.absent) return { orientation: o.value >= 1 && o.value <= 8 ? o.value : 1 };
  }
  const xmp = xmps.filter(read);
  if (!xmp.length) return { orientation: 1 };
  if (xmp.length > 1) return { unsure: 'several XMP chunks' };
  let value = xmp[0].body.subarray(xmp[0].body.indexOf(0) + 1);
  if (xmp[0].type === 'zTXt') return { unsure: 'compressed XMP' };
  if (xmp[0].type === 'iTXt') { // flag, method, language\0, translated keyword\0, text
    if (value.length < 2) return { orientation: 1 };
    if (value[0] !== 0) return { unsure: 'compressed XMP' };
    const z1 = value.indexOf(0, 2), z2 = z1 < 0 ? -1 : value.indexOf(0, z1 + 1);
    if (z2 < 0) return { orientation: 1 }; // malformed: Pillow keeps no text
    value = value.subarray(z2 + 1);
  }
  const m = /tiff:Orientation(="|>)([0-9])/.exec(latin1(value));
  const v = m ? Number(m[2]) : 1;
  return { orientation: v >= 1 && v <= 8 ? v : 1 };
}

const XMP_NS = 'http://ns.adobe.com/xap/1.0/\0';
const startsWith = (b, prefix) => b.length >= prefix.length && [...prefix].every((c, i) => b[i] === c.charCodeAt(0));

/**
 * A JPEG's orientation as exif_orientation gives it (Pillow's JpegImagePlugin: every APP1
 * "Exif\0\0" segment before the scan joined, the first whole and the rest without their
 * prefix; the last APP1 XMP segment, read only when EXIF has no orientation tag), from the
 * marker segments ([{marker, body}], SOI to SOS) that imagefile.js walks: {orientation, from:
 * 'exif' | 'xmp'} ({orientation: 1} when neither has one), or {unsure: why} for a form that
 * Pillow and a browser may read differently (an orientation tag Pillow does not reach, several
 * EXIF segments that read otherwise than their first alone).
 */
export function jpegOrientation(segments) {
  const app1 = segments.filter((s) => s.marker === 0xe1);
  const exifs = app1.filter((s) => startsWith(s.body, 'Exif\0\0'));
  if (exifs.length) {
    const rest = exifs.slice(1).map((s) => s.body.subarray(6));
    const joined = new Uint8Array(exifs[0].body.length + rest.reduce((m, r) => m + r.length, 0));
    [exifs[0].body, ...rest].reduce((o, r) => { joined.set(r, o); return o + r.length; }, 0);
    const o = exifOrientation(joined);
    if (o.unsure) return o;
    if (o.unreached) return { unsure: 'an EXIF orientation tag that Pillow does not reach' };
    if (rest.length && JSON.stringify(exifOrientation(exifs[0].body)) !== JSON.stringify(o)) return { unsure: 'several EXIF segments' };
    if (o.broken) return { orientation: 1 };
    if (!o.absent) return { orientation: o.value >= 1 && o.value <= 8 ? o.value : 1, from: 'exif' };
  }
  const xmp = app1.filter((s) => startsWith(s.body, XMP_NS)).at(-1);
  const m = xmp && /tiff:Orientation(="|>)([0-9])/.exec(latin1(xmp.body.subarray(XMP_NS.length)));
  const v = m ? Number(m[2]) : 1;
  return v >= 2 && v <= 8 ? { orientation: v, from: 'xmp' } : { orientation: 1 };
}

/**
 * hc_tf.io.images.apply_orientation on (height x width) gray: {gray, width, height} as a viewer
 * shows it (2 mirrored, 3 turned 180, 4 flipped, 5 transposed, 6 turned clockwise, 7
 * transversed, 8 turned counter-clockwise).
 */
export function applyOrientation(gray, width, height, orientation) {
  if (!(orientation >= 2 && orientation <= 8)) return { gray, width, height };
  const swap = orientation >= 5, w = swap ? height : width, h = swap ? width : height;
  const out = new Uint8Array(gray.length);
  // The source pixel (x, y) of output pixel (j, i), per numpy's slicing in apply_orientation.
  const src = {
    2: (j, i) => i * width + (width - 1 - j),
    3: (j, i) => (height - 1 - i) * width + (width - 1 - j),
    4: (j, i) => (height - 1 - i) * width + j,
    5: (j, i) => j * width + i,
    6: (j, i) => (height - 1 - j) * width + i,
    7: (j, i) => (height - 1 - j) * width + (width - 1 - i),
    8: (j, i) => j * width + (width - 1 - i),
  }[orientation];
  for (let i = 0, o = 0; i < h; i++) for (let j = 0; j < w; j++, o++) out[o] = gray[src(j, i)];
  return { gray: out, width: w, height: h };
}
