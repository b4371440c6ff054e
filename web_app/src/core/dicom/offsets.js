// Encapsulated pixel data's Basic Offset Table (FFFE,E000), checked against its fragments before
// a frame is taken from them: a port of hc_tf/io/dicom_offsets.py (the definition), the same rule
// (PS3.5 A.4: one offset a frame, the first 0, each the start of a fragment item in order) and the
// same words. This app takes frame k from fragment k and reads no offset, but predict (pydicom)
// splits frames by the table: a table that does not point at the fragments is refused on both
// sides, so neither measures one frame as another. An empty table is not checked. No Extended
// Offset Table (7FE0,0001) reaches here: dicom-parser does not know its VR (OV) and refuses the file.

import { DicomFileError } from './file.js';

const ITEM = 0xfffee000;
export const BOT_ORDER = 'Basic Offset Table (FFFE,E000) offsets do not point at the fragments in order';
const checked = new WeakSet(); // the pixel data elements checked: once a file, not once a frame

/** dicom_offsets.fragments: the offset (from `start`) of each fragment item, as pydicom walks them. */
export function fragmentStarts(bytes, start) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), found = new Set();
  for (let pos = start; pos + 8 <= bytes.length;) {
    if (((dv.getUint16(pos, true) << 16) | dv.getUint16(pos + 2, true)) >>> 0 !== ITEM) break;
    found.add(pos - start);
    pos += 8 + dv.getUint32(pos + 4, true);
  }
  return found;
}

/**
 * dicom_offsets.check_offset_tables for header `h`'s encapsulated pixel data element `el`: throws
 * a DicomFileError naming the file when its Basic Offset Table is not one offset a frame, or its
 * offsets are not the fragments' starts from 0 in order.
 */
export function checkOffsetTable(h, el) {
  if (checked.has(el)) return;
  const bytes = h.dataset.byteArray, at = el.dataOffset;
  if (at + 8 > bytes.length) return; // cut short: the fragments say so
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = dv.getUint32(at + 4, true);
  if (((dv.getUint16(at, true) << 16) | dv.getUint16(at + 2, true)) >>> 0 !== ITEM || at + 8 + length > bytes.length) return;
  if (length) {
    if (length % 4 || length / 4 !== h.frames) {
      throw new DicomFileError(`${h.name}: Basic Offset Table (FFFE,E000) is ${length} bytes, not 4 for each of its ${h.frames} frames (NumberOfFrames (0028,0008))`);
    }
    const starts = fragmentStarts(bytes, at + 8 + length);
    const offsets = Array.from({ length: h.frames }, (_, i) => dv.getUint32(at + 8 + 4 * i, true));
    if (offsets[0] !== 0 || offsets.some((o, i) => (i > 0 && o <= offsets[i - 1]) || !starts.has(o))) {
      throw new DicomFileError(`${h.name}: ${BOT_ORDER}`);
    }
  }
  checked.add(el);
}
