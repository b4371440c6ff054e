// A DICOM file's frame, letterboxed (prepareImage's DICOM twin), in two steps: openDicom (the
// bytes bounded, the header read and checked) and prepareDicom (a frame decoded to gray and
// letterboxed). The worker keeps the last file's opened state (./last_file.js): a frame change
// then skips the read and the parse, and a second pass on a region of the same frame (a dual
// pane) skips the frame's decode too; every step that is skipped gave the same result before.

import { checkSize, prepareGray } from '../imagefile.js';
import { readCalibration, modelRegion } from './calibration.js';
import { DicomFileError, calibrationFields } from './file.js';
import { readDicomHeader } from './deflated.js';
import { decodeFrameAsync } from './frames.js';

/**
 * The file's bytes bounded (a deflated data set inflated within them), its header read and
 * checked, its size checked: {h, fields (its calibration's), decoded: null (prepareDicom's last
 * frame)}. `bytes`: the whole file, if read already. Throws a DicomFileError in words.
 */
export async function openDicom(parser, blob, name, limits, bytes = null) {
  if (blob.size === 0) throw new DicomFileError(`${name}: empty file`); // dicom._check_size's words
  if (blob.size > limits.max_input_bytes) {
    throw new DicomFileError(`${name}: file too large (${blob.size} bytes; at most ${limits.max_input_bytes})`);
  }
  const h = await readDicomHeader(parser, bytes ?? new Uint8Array(await blob.arrayBuffer()), name, limits);
  checkSize(name, h.columns, h.rows, limits);
  return { h, fields: calibrationFields(h), decoded: null };
}

/**
 * Frame `frame`'s gray: `opened`'s last one when it is that frame (not decoded again: the same
 * bytes), else decoded and kept in its place. {gray, reused}.
 */
async function frameGray(opened, frame, codecs) {
  if (opened.decoded?.frame === frame) return { gray: opened.decoded.gray, reused: true };
  opened.decoded = null; // the old frame goes before the new one is decoded (one frame held)
  const gray = await decodeFrameAsync(opened.h, frame, codecs);
  opened.decoded = { frame, gray };
  return { gray, reused: false };
}

/**
 * prepareImage for a DICOM file (`bytes`: the whole file, if read already; `codecs`:
 * decodeFrame's; `opened`: openDicom's state of this file, if opened already, else it is opened
 * here): `frame` (1-based) decoded to gray and letterboxed (its one 2D region, `region`, when it
 * has one: modelRegion); `dicom` carries what the page needs to choose the pixel size (plain
 * data); `reused: 'frame'` when the frame was the one decoded last.
 */
export async function prepareDicom(parser, blob, name, { limits, H, W, previewMax = 1600, frame = 1, region = undefined }, bytes = null, codecs = {}, opened = null) {
  const t0 = performance.now();
  opened ??= await openDicom(parser, blob, name, limits, bytes);
  const { h, fields } = opened;
  // The model sees the frame's one 2D tissue region, as dicom_predict.samples frames it, or the
  // `region` asked for (a dual pane's second pass: dicom_predict.region_pass).
  const seen = region !== undefined ? region : modelRegion(readCalibration(fields, frame), h.rows, h.columns);
  const { gray, reused } = await frameGray(opened, frame, codecs);
  const r = prepareGray(gray, h.columns, h.rows, { H, W, previewMax }, t0, {}, seen);
  return { ...r, ...(reused && { reused: 'frame' }), dicom: { fields, frame, frames: h.frames, photometric: h.photometric, uids: h.uids, studyDate: h.studyDate,
    lastMenstrualDate: h.lastMenstrualDate, studyTime: h.studyTime, timezoneOffset: h.timezoneOffset } };
}
