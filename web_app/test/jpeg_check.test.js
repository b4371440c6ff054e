// core/jpeg_check.js with the wasm build the worker loads (from node_modules here): valid JPEGs
// pass, damage libjpeg-turbo warns of is refused; prepareImage's wording and its refusal without
// the worker's codec. The same damage through predict: tests/jpeg_check_test.py.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jpegDamage, tooManyScans, JPEG_DAMAGE, UNREAD_END } from '../src/core/jpeg_check.js';
import { prepareImage, UserError } from '../src/core/imagefile.js';
import { loadJson } from './helpers.js';

// 32 x 24, cv2.imencode at quality 50: gray baseline, colour (4:2:0) progressive.
const GRAY = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/wAALCAAYACABAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/AHj+w7vZ5thAu3OPKzF19duM/jTB4fs32fZNTnixnd5qiTPpjG3Hf1qMaVrkGzyvIud2c+VKBt+u7H6elRLr1zZyLHdxywORuCyqVJHrg/SrTaPo9xk20s9o2zChJNy59SGyT9MjpUbaFqEWTZ38FwoTOHzGxPoByPTkkVFLdarpa7ry1ljQAEyD5kGTgZYZA57Zqzb+JUljMchV0cFWVuQQeoIpr+H/AL7afqfpsjnX6Zyw/H+H296je01yy3t5H2iNMfPA4fdnHRfvd/T9KS38SvFIY5CyOhKsrcEEdQRVp73S9R3m7tIJHkxuk24c4xj5hz2Hev/Z';
const COLOUR = '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDABALDA4MChAODQ4SERATGCgaGBYWGDEjJR0oOjM9PDkzODdASFxOQERXRTc4UG1RV19iZ2hnPk1xeXBkeFxlZ2P/2wBDARESEhgVGC8aGi9jQjhCY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2NjY2P/wgARCAAYACADASIAAhEBAxEB/8QAFwABAQEBAAAAAAAAAAAAAAAAAAECA//EABcBAAMBAAAAAAAAAAAAAAAAAAEDBAL/2gAMAwEAAhADEAAAAeNNTqgCjmsks/8A/8QAGhAAAwADAQAAAAAAAAAAAAAAAAESAhEiIf/aAAgBAQABBQLpFM3iTsrIpHjIKOWQaaP/xAAcEQACAgIDAAAAAAAAAAAAAAAAAQIRAyETQVH/2gAIAQMBAT8Br1Gl3RxqrRHJJ6Z//8QAHREAAgIBBQAAAAAAAAAAAAAAAREAAiEDEzFBcf/aAAgBAgEBPwFHur8jA4Km1VMYldaxwZ//xAAZEAADAQEBAAAAAAAAAAAAAAAAASEQIDH/2gAIAQEABj8C9KuKiZVsZ//EABwQAAMAAgMBAAAAAAAAAAAAAAABETFxQVGB8f/aAAgBAQABPyHob06l6LZq2icI9EMpMpkQlnIcHyl5JsdHLD//2gAMAwEAAgADAAAAEJ+IHP/EABwRAQABBAMAAAAAAAAAAAAAAAEAEWFx8DFB4f/aAAgBAwEBPxBbwuNGC1BK+kHVQx7WdoF5/8QAHREBAAICAgMAAAAAAAAAAAAAAQARIWFBUdHh8P/aAAgBAgEBPxBbJbelMFUr6fhgzuRnD5uc1G5//8QAIxABAAICAAQHAAAAAAAAAAAAAQARITFBcYGRUWGhscHR4f/aAAgBAQABPxDdavm95RfkFq+5naPU7RErDVq4aM3myn0hvLfDJFqU+GntEVliZEhoc5Xx+wrGV4Cq66gCykciQoUA0XjtP//Z';
const bytes = (b64) => new Uint8Array(Buffer.from(b64, 'base64'));
const gray = bytes(GRAY), colour = bytes(COLOUR);

async function libjpegTurbo() {
  const dist = new URL('../node_modules/@cornerstonejs/codec-libjpeg-turbo-8bit/dist/', import.meta.url);
  const { default: factory } = await import(new URL('libjpegturbowasm_decode.js', dist));
  return factory({ wasmBinary: readFileSync(fileURLToPath(new URL('libjpegturbowasm_decode.wasm', dist))), print: () => {}, printErr: () => {} });
}
const codec = libjpegTurbo();

/** `b` with `insert` put half way through its scan's entropy-coded data. */
function inScan(b, insert) {
  const sos = b.findIndex((v, i) => v === 0xff && b[i + 1] === 0xda);
  const at = sos + ((b.length - sos) >> 1);
  return Uint8Array.from([...b.subarray(0, at), ...insert, ...b.subarray(at)]);
}

test('valid JPEGs pass: gray baseline, colour progressive', async () => {
  assert.equal(jpegDamage(await codec, gray), null);
  assert.equal(jpegDamage(await codec, colour), null);
});

test('damage libjpeg-turbo only warns of is refused: a cut, a bogus marker length, stray bytes', async () => {
  const sof = gray.findIndex((v, i) => v === 0xff && gray[i + 1] === 0xc0);
  const cases = {
    cut: gray.subarray(0, gray.length >> 1),
    bogus_length: inScan(gray, [0xff, 0xdd, 0, 1]), // a DRI segment of length 1
    extraneous: Uint8Array.from([...gray.subarray(0, sof), 0, 1, ...gray.subarray(sof)]), // before the SOF
    cut_colour: colour.subarray(0, colour.length - 40),
  };
  for (const [name, b] of Object.entries(cases)) assert.equal(jpegDamage(await codec, b), JPEG_DAMAGE, name);
});

test('prepareImage refuses a damaged JPEG in predict\'s words, a CMYK one in words, and any JPEG without the worker\'s codec', async () => {
  const meta = loadJson('hc_effunet_int8.json');
  const opts = { limits: meta.input_limits, H: meta.input.height, W: meta.input.width };
  const open = (b, name, codecs) => prepareImage(new Blob([b]), name, opts, { bytes: b }, codecs);
  const cut = gray.subarray(0, gray.length - 30);
  await assert.rejects(open(cut, 'cut.jpg', { loadLibjpegTurbo: () => codec }),
    (e) => e instanceof UserError && e.message === 'cut.jpg: not a readable image file (damaged: the JPEG data is corrupt)');
  await assert.rejects(open(gray, 'gray.jpg', {}),
    (e) => e instanceof UserError && e.message === "gray.jpg: JPEG files are checked by the app's worker only");
  // A CMYK frame header (4 components): refused in words before any decoding (the wasm build decodes no CMYK).
  const sof = [0xff, 0xc0, 0, 20, 8, 0, 24, 0, 32, 4, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 4, 0x11, 0];
  const cmyk = Uint8Array.from([0xff, 0xd8, ...sof, 0xff, 0xd9]);
  await assert.rejects(open(cmyk, 'cmyk.jpg', { loadLibjpegTurbo: () => codec }),
    (e) => e instanceof UserError && /^cmyk\.jpg: a CMYK JPEG is not checked here as hc-tf predict checks it; measure it with hc-tf predict/.test(e.message));
});

test('coded data that ends before the data does is refused, in predict\'s words (jpeg_check.unread_end)', async () => {
  const eoi = gray.length - 2;
  const junk = Uint8Array.from([...gray.subarray(0, eoi), 0x12, ...gray.subarray(eoi)]);
  const fill = Uint8Array.from([...gray.subarray(0, eoi), 0xff, 0xff, ...gray.subarray(eoi)]);
  assert.equal(jpegDamage(await codec, junk), `${JPEG_DAMAGE}: ${UNREAD_END}`);
  assert.equal(jpegDamage(await codec, fill), null); // fill bytes before the marker are no damage
});

test('a JPEG of more scans than the metadata\'s max_jpeg_scans is refused before any decoder, in predict\'s words', async () => {
  const meta = loadJson('hc_effunet_int8.json');
  const opts = { limits: meta.input_limits, H: meta.input.height, W: meta.input.width };
  // COLOUR's last scan repeated (jpeg_check_test.with_scans): 1001 scans in all.
  const sos = colour.findLastIndex((v, i) => v === 0xff && colour[i + 1] === 0xda);
  const eoi = colour.length - 2, last = colour.subarray(sos, eoi);
  const scans = colour.filter((v, i) => v === 0xff && colour[i + 1] === 0xda).length;
  const bomb = Uint8Array.from([...colour.subarray(0, eoi), ...Array(1001 - scans).fill([...last]).flat(), 0xff, 0xd9]);
  assert.equal(tooManyScans(colour, meta.input_limits.max_jpeg_scans), null);
  const never = { loadLibjpegTurbo: () => { throw new Error('decoded'); } };
  await assert.rejects(prepareImage(new Blob([bomb]), 'bomb.jpg', opts, { bytes: bomb }, never),
    (e) => e instanceof UserError && e.message === 'bomb.jpg: 1001 JPEG scans, over the 100-scan input limit (each scan is a pass over the image); refused before decoding');
});
