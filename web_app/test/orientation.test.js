// A PNG's EXIF orientation as hc-tf predict finds it (images.exif_orientation, Pillow's
// getexif) and apply_orientation's pixels. The expected orientations were checked against
// Pillow on these very bytes (tests/web_app_ui_test.py measures such files against predict).
import test from 'node:test';
import assert from 'node:assert/strict';
import { deflateSync } from 'node:zlib';
import { pngOrientation, jpegOrientation, applyOrientation } from '../src/core/orientation.js';
import { prepareImage, jpegMarkers, UserError } from '../src/core/imagefile.js';
import { loadJson, pngChunk as chunk } from './helpers.js';


/** A gray PNG (w x h, pixels 0, 1, 2, ...) with `before` chunks before IDAT, `after` after it. */
export function png(w, h, before = [], after = [], color = 0) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = color;
  const ch = color === 2 ? 3 : 1, raw = Buffer.alloc(h * (w * ch + 1));
  for (let y = 0; y < h; y++) for (let x = 0; x < w * ch; x++) raw[y * (w * ch + 1) + 1 + x] = (y * w * ch + x) & 255;
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    ...before, chunk('IDAT', deflateSync(raw)), ...after, chunk('IEND', Buffer.alloc(0))]));
}

/** A TIFF block with IFD0's entries [tag, type, count, value (4 bytes, as stored)]. */
function tiff(entries, { big = false, prefix = '' } = {}) {
  const b = Buffer.alloc(8 + 2 + 12 * entries.length + 4);
  const u16 = (v, i) => (big ? b.writeUInt16BE(v, i) : b.writeUInt16LE(v, i));
  const u32 = (v, i) => (big ? b.writeUInt32BE(v, i) : b.writeUInt32LE(v, i));
  b.write(big ? 'MM' : 'II', 0, 'ascii'); u16(42, 2); u32(8, 4); u16(entries.length, 8);
  entries.forEach(([tag, typ, count, value], k) => {
    const e = 10 + 12 * k;
    u16(tag, e); u16(typ, e + 2); u32(count, e + 4);
    if (typ === 3) u16(value, e + 8); else u32(value, e + 8);
  });
  return Buffer.concat([Buffer.from(prefix, 'latin1'), b]);
}
const exif = (o, opts) => chunk('eXIf', tiff([[0x010f, 2, 4, 0x00414141], [0x0112, 3, 1, o]], opts));
const text = (type, key, value) => chunk(type, Buffer.concat([Buffer.from(`${key}\0`, 'latin1'), type === 'iTXt' ? Buffer.from([0, 0, 0, 0]) : Buffer.alloc(0), Buffer.from(value, 'latin1')]));
const xmp = (o, type = 'tEXt') => text(type, 'XML:com.adobe.xmp', `<x:xmpmeta><rdf:Description tiff:Orientation="${o}"/></x:xmpmeta>`);

/** name -> [bytes, expected]: Pillow's orientation, or 'unsure'. */
export function cases() {
  return {
    plain: [png(3, 2), 1],
    exif6: [png(3, 2, [exif(6)]), 6],
    exif8_big_endian: [png(3, 2, [exif(8, { big: true })]), 8],
    exif3_exif_prefix: [png(3, 2, [exif(3, { prefix: 'Exif\0\0' })]), 3],
    exif5_after_idat: [png(3, 2, [], [exif(5)]), 5],
    exif0: [png(3, 2, [exif(0)]), 1],
    exif9: [png(3, 2, [exif(9)]), 1],
    exif_not_tiff: [png(3, 2, [chunk('eXIf', Buffer.from('not a tiff block'))]), 1],
    exif_long: [png(3, 2, [chunk('eXIf', tiff([[0x0112, 4, 1, 6]]))]), 'unsure'],
    exif_last_wins: [png(3, 2, [exif(2), exif(7)]), 7],
    exif_early_wins_over_late: [png(3, 2, [exif(2)], [exif(7)]), 2],
    xmp6: [png(3, 2, [xmp(6)]), 6],
    xmp6_itxt_after_idat: [png(3, 2, [], [xmp(6, 'iTXt')]), 6],
    exif_without_orientation_then_xmp: [png(3, 2, [chunk('eXIf', tiff([[0x010f, 2, 4, 0x00414141]])), xmp(8)]), 8],
    exif_orientation_over_xmp: [png(3, 2, [exif(3), xmp(8)]), 3],
    exif_early_xmp_late_unread: [png(3, 2, [chunk('eXIf', tiff([[0x010f, 2, 4, 0x00414141]]))], [xmp(8)]), 1],
    xmp_no_orientation: [png(3, 2, [text('tEXt', 'XML:com.adobe.xmp', '<x:xmpmeta/>')]), 1],
    raw_profile: [png(3, 2, [text('tEXt', 'Raw profile type exif', '\nexif\n  10\n0011')]), 'unsure'],
    compressed_xmp: [png(3, 2, [chunk('zTXt', Buffer.concat([Buffer.from('XML:com.adobe.xmp\0\0'), deflateSync('tiff:Orientation="6"')]))]), 'unsure'],
    other_text: [png(3, 2, [text('tEXt', 'Comment', 'tiff:Orientation="6"')]), 1],
  };
}

test('the orientation Pillow finds in a PNG, or unsure where this port does not follow it', () => {
  for (const [name, [bytes, want]] of Object.entries(cases())) {
    const got = pngOrientation(bytes);
    assert.deepEqual(want === 'unsure' ? Object.keys(got) : got, want === 'unsure' ? ['unsure'] : { orientation: want }, name);
  }
});

test('apply_orientation: numpy slicing of a 3 x 2 image', () => {
  const a = Uint8Array.from([0, 1, 2, 3, 4, 5]); // 2 rows of 3
  const want = { // np.ascontiguousarray(op(np.arange(6).reshape(2, 3))) for each orientation
    1: [3, 2, [0, 1, 2, 3, 4, 5]], 2: [3, 2, [2, 1, 0, 5, 4, 3]], 3: [3, 2, [5, 4, 3, 2, 1, 0]], 4: [3, 2, [3, 4, 5, 0, 1, 2]],
    5: [2, 3, [0, 3, 1, 4, 2, 5]], 6: [2, 3, [3, 0, 4, 1, 5, 2]], 7: [2, 3, [5, 2, 4, 1, 3, 0]], 8: [2, 3, [2, 5, 1, 4, 0, 3]],
  };
  for (const [o, [w, h, px]] of Object.entries(want)) {
    const r = applyOrientation(a, 3, 2, Number(o));
    assert.deepEqual([r.width, r.height, [...r.gray]], [w, h, px], `orientation ${o}`);
  }
});

test('prepareImage turns an oriented gray PNG upright, and refuses what it cannot turn as predict does', async () => {
  const meta = loadJson('hc_effunet_int8.json');
  const opts = { limits: meta.input_limits, H: meta.input.height, W: meta.input.width };
  const open = (bytes, name) => prepareImage(new Blob([bytes]), name, opts, { head: bytes.subarray(0, 65536), bytes });
  const r = await open(png(3, 2, [exif(6)]), 'turned.png');
  assert.deepEqual([r.width, r.height, r.decoded_by, r.orientation], [2, 3, 'png-gray', 6]);
  await assert.rejects(open(cases().raw_profile[0], 'raw.png'), (e) => e instanceof UserError && /^raw\.png: its orientation metadata/.test(e.message));
  await assert.rejects(open(png(3, 2, [exif(6)], [], 2), 'rgb.png'), (e) => e instanceof UserError && /^rgb\.png: a PNG with an EXIF orientation \(6\)/.test(e.message));
});

/** A JPEG's markers (no real scan): SOI, `segments` ([marker, body]), SOF (3 x 2), `after`, SOS, EOI. */
export function jpeg(segments, after = []) {
  const seg = ([m, body]) => Buffer.concat([Buffer.from([0xff, m, (body.length + 2) >> 8, (body.length + 2) & 255]), Buffer.from(body)]);
  return new Uint8Array(Buffer.concat([Buffer.from([0xff, 0xd8]), ...segments.map(seg),
    seg([0xc0, [8, 0, 2, 0, 3, 1, 1, 0x11, 0]]), ...after.map(seg), seg([0xda, [1, 1, 0, 0, 63, 0]]), Buffer.from([0xff, 0xd9])]));
}
const app1Exif = (o, opts) => [0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff([[0x010f, 2, 4, 0x00414141], [0x0112, 3, 1, o]], opts)])];
const app1Xmp = (o) => [0xe1, Buffer.from(`http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description tiff:Orientation="${o}"/></x:xmpmeta>`, 'latin1')];

/** name -> [bytes, expected]: Pillow's orientation and where it came from ('exif', 'xmp'), or 'unsure'. */
export function jpegCases() {
  const noOrientation = [0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff([[0x010f, 2, 4, 0x00414141]])])];
  return {
    plain: [jpeg([]), [1]],
    exif6: [jpeg([app1Exif(6)]), [6, 'exif']],
    exif8_big_endian: [jpeg([app1Exif(8, { big: true })]), [8, 'exif']],
    exif9: [jpeg([app1Exif(9)]), [1, 'exif']],
    exif_not_tiff: [jpeg([[0xe1, Buffer.from('Exif\0\0not a tiff block')], app1Xmp(6)]), [1]],
    xmp6: [jpeg([app1Xmp(6)]), [6, 'xmp']],
    xmp6_after_jfif: [jpeg([[0xe0, Buffer.from('JFIF\0\x01\x01\0\0\x01\0\x01\0\0', 'latin1')], app1Xmp(6)]), [6, 'xmp']],
    exif3_between_sof_and_sos: [jpeg([], [app1Exif(3)]), [3, 'exif']],
    xmp_last_wins: [jpeg([app1Xmp(6), app1Xmp(1)]), [1]],
    exif1_over_xmp6: [jpeg([app1Exif(1), app1Xmp(6)]), [1, 'exif']],
    exif_without_orientation_then_xmp: [jpeg([noOrientation, app1Xmp(8)]), [8, 'xmp']],
    xmp_in_app2_unread: [jpeg([[0xe2, app1Xmp(6)[1]]]), [1]],
    exif_long: [jpeg([[0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff([[0x0112, 4, 1, 6]])])]]), 'unsure'],
    exif_tag_past_a_stop: [jpeg([[0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff([[0x010f, 2, 400, 8], [0x0112, 3, 1, 6]])])]]), 'unsure'],
    exif_tag_of_unknown_type: [jpeg([[0xe1, Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff([[0x0112, 99, 1, 6]])])], app1Xmp(3)]), 'unsure'],
    exif_twice: [jpeg([app1Exif(6), app1Exif(3)]), [6, 'exif']],
  };
}

test('the orientation Pillow finds in a JPEG (EXIF, else XMP), or unsure where a browser may read it otherwise', () => {
  for (const [name, [bytes, want]] of Object.entries(jpegCases())) {
    const { segments, end } = jpegMarkers(bytes);
    assert.equal(end, 'sos', name);
    const got = jpegOrientation(segments);
    assert.deepEqual(want === 'unsure' ? Object.keys(got) : got, want === 'unsure' ? ['unsure'] : { orientation: want[0], ...(want[1] && { from: want[1] }) }, name);
  }
});

test('jpegMarkers walks to the scan: the segments, the first SOF, and where it stopped', () => {
  const b = jpeg([app1Xmp(6)]);
  const { segments, sof, end } = jpegMarkers(b);
  assert.deepEqual([segments.map((s) => s.marker), sof, end], [[0xe1, 0xc0], { width: 3, height: 2 }, 'sos']);
  assert.equal(jpegMarkers(b.subarray(0, 20)).end, 'short');
  const junk = Uint8Array.from([...b.subarray(0, 2), 0x00, ...b.subarray(2)]);
  assert.deepEqual([jpegMarkers(junk).end, jpegMarkers(junk).sof], ['junk', null]);
});

test('prepareImage refuses a JPEG whose orientation the browser would not apply as predict does', async () => {
  const meta = loadJson('hc_effunet_int8.json');
  const opts = { limits: meta.input_limits, H: meta.input.height, W: meta.input.width };
  const open = (bytes, name) => prepareImage(new Blob([bytes]), name, opts, { head: bytes.subarray(0, 65536), bytes });
  for (const [name, bytes] of [['xmp6.jpg', jpegCases().xmp6[0]], ['odd.jpg', jpegCases().exif_tag_past_a_stop[0]]]) {
    await assert.rejects(open(bytes, name), (e) => e instanceof UserError && e.message.startsWith(`${name}: its orientation metadata (`) && /measure it with hc-tf predict$/.test(e.message), name);
  }
  // An EXIF orientation is left to the browser's decoder: not refused for orientation (refused
  // here as unchecked: the JPEG check needs the worker's libjpeg-turbo, see jpeg_check.test.js).
  await assert.rejects(open(jpegCases().exif6[0], 'exif6.jpg'), (e) => /^exif6\.jpg: JPEG files are checked by the app's worker only/.test(e.message));
});
