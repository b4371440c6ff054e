// frames_check.js: a file of several frames refused before decoding, in hc_tf/io/images.py
// multi_frame's words (tests/image_refusals_test.py holds predict's side; the browser test sends
// animated PNG, GIF and WebP files to the app).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { multiFrame, pngFrameCount, webpFrameCount } from '../src/core/frames_check.js';
import { gifFrameCount } from '../src/core/gif_check.js';
import { TRANSLUCENT } from '../src/core/imagefile.js';

const hex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
const u32 = (n) => n.toString(16).padStart(8, '0');
const le32 = (n) => u32(n).match(/../g).reverse().join('');
const chunk = (type, body) => u32(body.length / 2) + Buffer.from(type).toString('hex') + body + '00000000'; // CRC not read
const PNG = '89504e470d0a1a0a' + chunk('IHDR', '00000002' + '00000002' + '0800000000');
const IDAT = chunk('IDAT', '789c') + chunk('IEND', '');
const FCTL = chunk('fcTL', '00'.repeat(26)); // a frame's control: the IDAT after it is frame 1
// gif_check.test.js's 2 x 2 black GIF: its image descriptor and LZW data, then the trailer.
const GIF_HEAD = '474946383961' + '0200' + '0200' + '800000' + '000000ffffff';
const GIF_IMAGE = '2c' + '00000000' + '0200' + '0200' + '00' + '02' + '03' + '040005' + '00';
const riff = (body) => '52494646' + le32(4 + body.length / 2) + '57454250' + body;
const webpChunk = (kind, body) => Buffer.from(kind).toString('hex') + le32(body.length / 2) + body + (body.length / 2 % 2 ? '00' : '');

test('an animated PNG, GIF or WebP is refused in predict\'s words', () => {
  const apng = hex(PNG + chunk('acTL', u32(3) + u32(0)) + FCTL + IDAT);
  assert.equal(pngFrameCount(apng), 3);
  assert.equal(multiFrame(apng), 'an animated PNG (3 frames); hc-tf measures one image a file: save the frame to measure as its own image');
  const gif = hex(GIF_HEAD + GIF_IMAGE + '21f9040400000000' + GIF_IMAGE + '3b');
  assert.equal(gifFrameCount(gif), 2);
  assert.match(multiFrame(gif), /^an animated GIF \(2 frames\); /);
  const webp = hex(riff(webpChunk('VP8X', '02000000' + '010000' + '010000') + webpChunk('ANIM', '000000000000')
    + webpChunk('ANMF', '00'.repeat(17)) + webpChunk('ANMF', '00'.repeat(17)) + webpChunk('ANMF', '00'.repeat(16))));
  assert.equal(webpFrameCount(webp), 3);
  assert.match(multiFrame(webp), /^an animated WebP \(3 frames\); /);
});

test('an APNG whose image data is outside its one-frame animation is two images, refused', () => {
  // A browser shows the animation's frame (an fdAT), OpenCV the image data (the default image).
  const apng = hex(PNG + chunk('acTL', u32(1) + u32(0)) + chunk('IDAT', '789c') + FCTL + chunk('fdAT', '00000001') + chunk('IEND', ''));
  assert.equal(pngFrameCount(apng), 2);
  assert.match(multiFrame(apng), /^an animated PNG \(2 frames\); /);
});

test('one frame, an acTL after the image data, and a walk cut short are not refused', () => {
  assert.equal(multiFrame(hex(PNG + IDAT)), null);
  assert.equal(pngFrameCount(hex(PNG + chunk('acTL', u32(1) + u32(0)) + FCTL + IDAT)), 1);
  assert.equal(pngFrameCount(hex(PNG + IDAT.slice(0, -24) + chunk('acTL', u32(3) + u32(0)))), 0);
  assert.equal(multiFrame(hex(GIF_HEAD + GIF_IMAGE + '3b')), null);
  assert.equal(gifFrameCount(hex(GIF_HEAD + GIF_IMAGE + GIF_IMAGE.slice(0, 16))), 1); // the second's descriptor cut short
  assert.equal(webpFrameCount(hex(riff(webpChunk('VP8L', '2f00000000')))), 0);
  assert.equal(webpFrameCount(hex('52494646ffffffff57454250' + '414e4d46ffffff7f')), 1); // a size past the file
  assert.equal(multiFrame(new Uint8Array(0)), null);
});

test('a translucent pixel is refused in predict\'s words (preprocess.TRANSLUCENT)', () => {
  assert.equal(TRANSLUCENT, 'the image has pixels that are not fully opaque (transparency); hc-tf measures opaque images only: save it without transparency');
});
