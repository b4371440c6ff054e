// The decode worker's memory of the last DICOM file (src/core/dicom/last_file.js) and what it
// reuses (src/core/dicom/prepare.js): one file at a time, under the page's key only; a frame or a
// region prepared from the kept state is what a fresh decode gives (input, box, preview, the
// file's fields, a refusal's words). tests/web_app_decode_cache_test.py checks the worker in
// Chromium.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { LastFile } from '../src/core/dicom/last_file.js';
import { openDicom, prepareDicom } from '../src/core/dicom/prepare.js';
import { loadJson } from './helpers.js';
import { element, part10 } from './dicom_bytes.js';

const parser = createRequire(import.meta.url)('dicom-parser');
const meta = loadJson('hc_effunet_int8.json');
const limits = meta.input_limits, H = meta.input.height, W = meta.input.width;
const EXPLICIT = '1.2.840.10008.1.2.1';
const [ROWS, COLUMNS, FRAMES] = [30, 40, 3];

/** A FRAMES-frame MONOCHROME2 cine, each frame's pixels its own. */
function cine() {
  const n = ROWS * COLUMNS;
  const pixels = Buffer.from(Array.from({ length: n * FRAMES }, (_, i) => (i * (7 + Math.floor(i / n) * 5) + (i >> 4)) & 0xff));
  return part10(EXPLICIT, Buffer.concat([
    element(0x0008, 0x0060, 'CS', 'US'),
    element(0x0028, 0x0002, 'US', [1]), element(0x0028, 0x0004, 'CS', 'MONOCHROME2'),
    element(0x0028, 0x0008, 'IS', String(FRAMES)),
    element(0x0028, 0x0010, 'US', [ROWS]), element(0x0028, 0x0011, 'US', [COLUMNS]),
    element(0x0028, 0x0100, 'US', [8]), element(0x0028, 0x0101, 'US', [8]), element(0x0028, 0x0102, 'US', [7]),
    element(0x0028, 0x0103, 'US', [0]), element(0x7fe0, 0x0010, 'OB', pixels)]));
}

/** What the page gets of a prepared frame (the worker posts these), the preview made; or the refusal's words. */
async function outcome(promise) {
  try {
    const { makePreview, timings, reused, ...rest } = await promise;
    return { ...rest, preview: makePreview() };
  } catch (err) {
    return { error: `${err.constructor.name}: ${err.message}` };
  }
}

test('LastFile keeps one file, under its key, name and limits only', () => {
  const last = new LastFile(), state = {};
  assert.equal(last.take(1, 'a.dcm', limits), null);
  last.keep(1, 'a.dcm', limits, state);
  assert.equal(last.take(1, 'a.dcm', { ...limits }), state); // the same limits, another object
  assert.equal(last.key, 1);
  assert.equal(last.take(2, 'a.dcm', limits), null, 'another file of the same name');
  assert.equal(last.key, null, 'another key dropped it');
  assert.equal(last.take(1, 'a.dcm', limits), null, 'gone for good');
  for (const [key, name, lim] of [[1, 'b.dcm', limits], [1, 'a.dcm', { ...limits, max_input_bytes: 1 }]]) {
    last.keep(1, 'a.dcm', limits, state);
    assert.equal(last.take(key, name, lim), null, `${name} ${lim.max_input_bytes}`);
    assert.equal(last.key, null);
  }
  last.keep(1, 'a.dcm', limits, state);
  last.forget();
  assert.equal(last.take(1, 'a.dcm', limits), null, 'forgotten');
  last.keep(null, 'a.dcm', limits, state); // no key: never kept
  assert.equal(last.take(null, 'a.dcm', limits), null);
  last.keep(1, 'a.dcm', limits, state);
  assert.equal(last.take(undefined, 'a.dcm', limits), null, 'a job without a key is never served');
  assert.equal(last.key, null);
});

test('frames and regions prepared from the kept state are a fresh decode\'s, refusals too', async () => {
  const bytes = cine(), blob = new Blob([bytes]), name = 'cine.dcm';
  const opened = await openDicom(parser, blob, name, limits, bytes);
  // [frame, region]: a frame change, a region of the same frame (a dual pane's second pass),
  // back to a frame decoded before, a frame the file lacks, then a frame again.
  const jobs = [[1, undefined], [2, undefined], [2, [5, 4, 30, 25]], [2, [0, 0, 19, 29]], [1, [10, 0, 39, 29]],
    [3, undefined], [4, undefined], [3, null], [0, undefined], [1, undefined]];
  let previous = null;
  for (const [frame, region] of jobs) {
    const opts = { limits, H, W, frame, region };
    const kept = prepareDicom(parser, blob, name, opts, null, {}, opened);
    const got = await outcome(kept), fresh = await outcome(prepareDicom(parser, blob, name, opts, bytes));
    assert.deepEqual(got, fresh, `frame ${frame}, region ${region}`);
    assert.ok(got.error || got.input.some((v) => v !== 0), 'something to compare');
    if (!got.error) assert.equal((await kept).reused, frame === previous ? 'frame' : undefined, `frame ${frame}`);
    if (got.error) assert.match(got.error, new RegExp(`^DicomFileError: cine.dcm: no frame ${frame} `));
    previous = got.error ? null : frame; // a refused frame leaves no frame kept
  }
  const [one, two] = [await outcome(prepareDicom(parser, blob, name, { limits, H, W, frame: 1 }, bytes)),
    await outcome(prepareDicom(parser, blob, name, { limits, H, W, frame: 2 }, bytes))];
  assert.notDeepEqual(one.input, two.input, 'the frames differ');
});

test('openDicom refuses as a fresh decode does, in its words', async () => {
  const bytes = cine(), blob = new Blob([bytes]);
  const tight = { ...limits, max_input_bytes: bytes.length - 1 };
  await assert.rejects(openDicom(parser, blob, 'big.dcm', tight), { message: `big.dcm: file too large (${bytes.length} bytes; at most ${bytes.length - 1})` });
  const small = { ...limits, min_image_side: 31 };
  const fresh = await outcome(prepareDicom(parser, blob, 'small.dcm', { limits: small, H, W }, bytes));
  await assert.rejects(openDicom(parser, blob, 'small.dcm', small, bytes), { message: fresh.error.replace(/^\w+: /, '') });
});
