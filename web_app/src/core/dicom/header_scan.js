// A DICOM file's header elements and sequence items counted in its bytes before dicom-parser
// reads them: a port of hc_tf/io/dicom_header_scan.py (the definition), pydicom 3's reading
// rules and all, so that the app refuses what predict refuses, in its words. A parser holds an
// object for every element and item, though an empty item is 8 bytes of file.

import { dictionaryVr } from './dictionary_vr.js';

// hc_tf.defaults.MAX_HEADER_ELEMENTS and MAX_SEQUENCE_DEPTH.
export const MAX_HEADER_ELEMENTS = 200_000;
export const MAX_SEQUENCE_DEPTH = 16;
const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000, ITEM_END = 0xfffee00d, SEQUENCE_END = 0xfffee0dd;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const IMPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const EXPLICIT_BIG_ENDIAN = '1.2.840.10008.1.2.2';
export const DEFLATED = '1.2.840.10008.1.2.1.99';
const META_START = 132; // after the preamble and 'DICM'

const isVr = (a, b) => a > 0x40 && a < 0x5b && b > 0x40 && b < 0x5b;
const tagText = (tag) => `(${(tag >>> 16).toString(16).toUpperCase().padStart(4, '0')},${(tag & 0xffff).toString(16).toUpperCase().padStart(4, '0')})`;

/** One file's walk (dicom_header_scan.HeaderScan): `count` across its meta group and data set. */
class HeaderScan {
  constructor(bytes, name, makeError) {
    this.bytes = bytes;
    this.name = name;
    this.makeError = makeError;
    this.count = 0;
    this.transferSyntax = null;
  }

  /** pydicom's `_is_implicit_vr` at a data set's first element. */
  firstIsImplicit(bytes, at, implicit, nested) {
    if (nested && implicit) return true;
    if (at + 6 > bytes.length) return implicit;
    return !isVr(bytes[at + 4], bytes[at + 5]);
  }

  /** HeaderScan.walk from `at`: returns where it stopped (`metaOnly`: the first element past group 0002). */
  walk(at, implicit, little, metaOnly = false) {
    return this.walkIn(this.bytes, at, this.firstIsImplicit(this.bytes, at, implicit, false), little, metaOnly, [], 0);
  }

  /**
   * HeaderScan._walk: the elements of `bytes` from `at` as pydicom reads them; `levels` not
   * empty: one defined-length sequence's value alone (`outer` sequences around it).
   */
  walkIn(bytes, at, implicit, little, metaOnly, levels, outer) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const apart = levels.length > 0;
    for (;;) {
      const start = at;
      while (levels.length && levels.at(-1).end !== null && start >= levels.at(-1).end) levels.pop();
      if (apart && !levels.length) return at; // pydicom reads the sequence alone, nothing after it
      if (at + 8 > bytes.length) return bytes.length;
      const tag = nextTag(bytes, at, little);
      at += 8;
      const top = levels.at(-1);
      if (top?.isSequence) { // any tag but the delimiter opens an item
        if (tag === SEQUENCE_END) { levels.pop(); continue; }
        const length = view.getUint32(at - 4, little);
        this.countOne();
        this.checkDepth(levels, outer);
        if (length !== UNDEFINED) this.checkFits(levels, bytes, at, length, 'an item');
        levels.push({ end: length === UNDEFINED ? null : at + length, isSequence: false,
          implicit: this.firstIsImplicit(bytes, at, top.implicit, true), tag: top.tag });
        continue;
      }
      if (metaOnly && !levels.length && tag >>> 16 !== 2) return start;
      const dataSetImplicit = top ? top.implicit : implicit;
      let vr = null, length;
      if (dataSetImplicit) {
        length = view.getUint32(at - 4, little);
      } else {
        const vrText = String.fromCharCode(bytes[at - 4], bytes[at - 3]);
        if (LONG_VRS.has(vrText)) {
          vr = vrText;
          length = at + 4 <= bytes.length ? view.getUint32(at, little) : 0;
          at += 4;
        } else if (vrText >= 'AA' && vrText <= 'ZZ') {
          vr = vrText;
          length = view.getUint16(at - 2, little);
        } else {
          length = view.getUint32(at - 4, little); // pydicom reads it as implicit VR
        }
      }
      if (tag === ITEM_END) { // ends an item, or at the top the whole data set
        if (!levels.length) return at;
        levels.pop();
        continue;
      }
      this.countOne();
      if (length !== UNDEFINED) this.checkFits(levels, bytes, at, length, `element ${tagText(tag)}`);
      if (metaOnly && !levels.length && tag === 0x00020010 && length !== UNDEFINED) {
        this.transferSyntax = String.fromCharCode(...bytes.subarray(at, Math.min(at + length, bytes.length, at + 64)))
          .replace(/[\0 ]+$/, '');
      }
      if (length === UNDEFINED) {
        if (this.undefinedIsSequence(bytes, vr, tag, at, little)) {
          levels.push({ end: null, isSequence: true, implicit: dataSetImplicit, tag });
        } else {
          const past = sequenceEnd(bytes, at, little);
          if (past === null) return bytes.length;
          at = past;
        }
      } else if (vr === 'SQ' || ((vr === null || vr === 'UN') && this.mayBeSequence(bytes, tag, at, length, little))) {
        // read past here; pydicom converts it to a sequence later, from these bytes alone
        const value = bytes.subarray(at, Math.min(at + length, bytes.length));
        this.walkIn(value, 0, dataSetImplicit, little, false, [{ end: value.length, isSequence: true, implicit: dataSetImplicit, tag }],
          outer + levels.filter((level) => level.isSequence).length);
        at += length;
      } else {
        at += length;
      }
    }
  }

  countOne() {
    this.count += 1;
    if (this.count > MAX_HEADER_ELEMENTS) {
      throw this.makeError(`${this.name}: over ${MAX_HEADER_ELEMENTS} elements and sequence items in its header (an ultrasound image has a few hundred)`);
    }
  }

  /** HeaderScan._check_fits: a value (or item) past the end of the innermost defined-length level holding it, else of `bytes`. */
  checkFits(levels, bytes, at, length, what) {
    const end = Math.min(bytes.length, ...levels.filter((level) => level.end !== null).map((level) => level.end));
    if (at + length > end) {
      throw this.makeError(`${this.name}: not a readable DICOM file (${what} of ${length} bytes runs ${at + length - end} bytes past the end of what holds it: cut short or damaged)`);
    }
  }

  checkDepth(levels, outer) {
    if (outer + levels.filter((level) => level.isSequence).length > MAX_SEQUENCE_DEPTH) {
      throw this.makeError(`${this.name}: sequences nested more than ${MAX_SEQUENCE_DEPTH} deep (an ultrasound image nests 2 or 3; ${tagText(levels.at(-1).tag)} goes deeper)`);
    }
  }

  undefinedIsSequence(bytes, vr, tag, at, little) {
    if (vr === 'UN' || vr === 'SQ') return true;
    if (vr !== null) return false;
    const known = dictionaryVr(tag);
    return known !== null ? known === 'SQ' : nextTag(bytes, at, little) === ITEM;
  }

  mayBeSequence(bytes, tag, at, length, little) {
    return length >= 8 && (dictionaryVr(tag) === 'SQ' || nextTag(bytes, at, little) === ITEM);
  }
}

function nextTag(bytes, at, little) {
  if (at + 4 > bytes.length) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return ((view.getUint16(at, little) << 16) | view.getUint16(at + 2, little)) >>> 0;
}

/**
 * Past the value's sequence delimiter and its length (dicom_header_scan._skip_to_sequence_end):
 * item by item by their lengths, else by looking for the delimiter's bytes; null when the bytes
 * end first.
 */
function sequenceEnd(bytes, at, little) {
  const past = itemsEnd(bytes, at, little);
  if (past !== null) return past;
  const [a, b, c, d] = little ? [0xfe, 0xff, 0xdd, 0xe0] : [0xff, 0xfe, 0xe0, 0xdd];
  for (let i = bytes.indexOf(a, at); i >= 0 && i + 4 <= bytes.length; i = bytes.indexOf(a, i + 1)) {
    if (bytes[i + 1] === b && bytes[i + 2] === c && bytes[i + 3] === d) return i + 8;
  }
  return null;
}

/** dicom_header_scan._skip_items: past the delimiter after items skipped by their lengths; null at another tag or the end. */
function itemsEnd(bytes, at, little) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (;;) {
    const tag = nextTag(bytes, at, little);
    if (tag === SEQUENCE_END) return at + 8;
    if (tag !== ITEM || at + 8 > bytes.length) return null;
    at += 8 + view.getUint32(at + 4, little);
  }
}

/**
 * A Part 10 file's meta group walked (counted, refused as checkHeader refuses): {scan, end (the
 * first element past group 0002), transferSyntax}; null without the preamble.
 */
export function metaGroup(bytes, name, makeError) {
  if (bytes.length < META_START || String.fromCharCode(...bytes.subarray(128, 132)) !== 'DICM') return null;
  const scan = new HeaderScan(bytes, name, makeError);
  const end = scan.walk(META_START, false, true, true);
  return { scan, end, transferSyntax: scan.transferSyntax };
}

/**
 * Refuses a Part 10 file past MAX_HEADER_ELEMENTS or MAX_SEQUENCE_DEPTH (`makeError(message)`
 * makes the error thrown); returns the count. A deflated file's data set is walked in `inflated`
 * (./deflated.js inflateDataSet: the file's bytes to its meta group's end, then the data set
 * inflated), as explicit VR little endian; a file without the preamble, or deflated and not
 * inflated, is left to the parser (null).
 */
export function checkHeader(bytes, name, makeError, inflated = null) {
  const meta = metaGroup(bytes, name, makeError);
  if (!meta) return null;
  const { scan, end: at, transferSyntax: ts } = meta;
  if (ts === DEFLATED) {
    if (!inflated) return null;
    scan.bytes = inflated;
    scan.walk(at, false, true);
    return scan.count;
  }
  let implicit = ts === IMPLICIT_LITTLE_ENDIAN, little = ts !== EXPLICIT_BIG_ENDIAN;
  if (ts === null) { // judged by the first element, as pydicom does
    implicit = !(at + 6 <= bytes.length && isVr(bytes[at + 4], bytes[at + 5]));
    little = implicit || new DataView(bytes.buffer, bytes.byteOffset).getUint16(at, true) < 1024;
  }
  scan.walk(at, implicit, little);
  return scan.count;
}
