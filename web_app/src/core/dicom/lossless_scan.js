// A JPEG Lossless (Process 14, Huffman) codestream read through before it is decoded, by the
// procedures of ITU-T T.81 itself: each sample's difference category decoded with its scan's
// table (Annex F.2.2.3 DECODE, the tables built as Annex C builds them), its additional bits
// passed over, a restart marker wherever the restart interval puts one, and no marker and no
// end of data while a bit is still to be read (F.2.2.5). jpeg-lossless-decoder-js reads a code
// its table lacks as a zero-length one and the missing end as zero bits, so the app measured
// damaged frames that predict's decoder (libjpeg, through pylibjpeg) refuses (fuzzed copies of
// pydicom's SC_rgb_jpeg_gdcm.dcm). Nothing is decoded here. Judged: one scan, every component
// sampled 1x1 (what ultrasound's lossless frames are); other layouts are left to the decoder.

import { jpegMarkers } from '../imagefile.js';

const SOF3 = 0xc3, DHT = 0xc4, DRI = 0xdd, SOI = 0xd8;

class ScanDamage extends Error {}

/** Annex C and F.2.2.3: {maxcode, mincode, valptr, values} of one DHT table (BITS, HUFFVAL). */
function decoderTable(bits, values) {
  const maxcode = new Int32Array(17).fill(-1), mincode = new Int32Array(17), valptr = new Int32Array(17);
  let code = 0, k = 0;
  for (let length = 1; length <= 16; length++) {
    if (bits[length - 1]) {
      valptr[length] = k;
      mincode[length] = code;
      code += bits[length - 1];
      k += bits[length - 1];
      maxcode[length] = code - 1;
    }
    code <<= 1;
  }
  return { maxcode, mincode, valptr, values };
}

/** F.2.2.5 NEXTBIT over the entropy-coded data from `pos`: a stuffed 0xFF00 is data; any other marker, or the end, while a bit is wanted is damage. */
class BitReader {
  constructor(b, pos) { this.b = b; this.pos = pos; this.byte = 0; this.left = 0; }

  bit() {
    if (this.left === 0) {
      if (this.pos >= this.b.length) throw new ScanDamage('the data ends before the last sample');
      const byte = this.b[this.pos];
      if (byte === 0xff) {
        if (this.b[this.pos + 1] !== 0x00) throw new ScanDamage('a marker stands where a sample is still to come');
        this.pos += 1; // the stuffed zero
      }
      this.pos += 1;
      this.byte = byte;
      this.left = 8;
    }
    this.left -= 1;
    return (this.byte >> this.left) & 1;
  }

  /** F.2.2.3 DECODE: the value of the next Huffman code. */
  decode(t) {
    let code = this.bit(), length = 1;
    while (code > t.maxcode[length]) {
      length += 1;
      if (length > 16) throw new ScanDamage('a Huffman code its table does not hold');
      code = (code << 1) | this.bit();
    }
    return t.values[t.valptr[length] + code - t.mincode[length]];
  }

  /** At a restart interval's end: the padding dropped, RSTm expected (m counts 0-7 from 0). */
  restart(m) {
    this.left = 0;
    if (this.b[this.pos] !== 0xff || this.b[this.pos + 1] !== 0xd0 + m) throw new ScanDamage(`restart marker ${m} is not where the restart interval puts it`);
    this.pos += 2;
  }
}

/** Annex B's DHT segment body -> its tables by id into `tables`; false when it overruns. */
function readTables(body, tables) {
  for (let at = 0; at < body.length;) {
    const bits = body.subarray(at + 1, at + 17), n = bits.reduce((s, v) => s + v, 0);
    if (at + 17 + n > body.length) return false;
    tables.set(body[at] & 0x0f, decoderTable(bits, body.subarray(at + 17, at + 17 + n)));
    at += 17 + n;
  }
  return true;
}

/** The segments before the first scan (jpegMarkers' walk): {tables, frame: {rows, columns, components}, restart, scan: {ids, start}} or null (not judged). */
function header(b) {
  if (b[0] !== 0xff || b[1] !== SOI) return null;
  const { segments, end, at } = jpegMarkers(b);
  if (end !== 'sos' || at + 5 > b.length) return null;
  const tables = new Map();
  let frame = null, restart = 0;
  for (const { marker, body } of segments) {
    if (marker === DHT && !readTables(body, tables)) return null;
    if (marker === SOF3) {
      const count = body[5], sampled = Array.from({ length: count }, (_, i) => body[7 + 3 * i]);
      if (sampled.some((hv) => hv !== 0x11)) return null;
      frame = { rows: (body[1] << 8) | body[2], columns: (body[3] << 8) | body[4], components: count };
    }
    if (marker === DRI) restart = (body[0] << 8) | body[1];
  }
  const count = b[at + 4], ids = Array.from({ length: count }, (_, i) => b[at + 6 + 2 * i] >> 4);
  return frame && frame.rows ? { tables, frame, restart, scan: { ids, start: at + 2 + ((b[at + 2] << 8) | b[at + 3]) } } : null;
}

/**
 * The first scan's point transform (Al, T.81 H.1.2.1), 0 when it cannot be read: both decoders
 * read a scan with one wrong (jpeg_lossless_check.point_transform), so both sides refuse it.
 */
export function pointTransform(b) {
  if (b[0] !== 0xff || b[1] !== SOI) return 0;
  const { end, at } = jpegMarkers(b);
  const al = end === 'sos' && at + 4 < b.length ? at + 7 + 2 * b[at + 4] : b.length;
  return al < b.length ? b[al] & 0x0f : 0;
}

/**
 * Why a JPEG Lossless codestream's first scan cannot be read through (T.81's rules), or null
 * when it can or is not judged here (not one scan of all 1x1 components, its height left to a
 * DNL marker).
 */
export function losslessScanDamage(b) {
  const h = header(b);
  if (!h || h.scan.ids.length !== h.frame.components) return null;
  const tables = h.scan.ids.map((id) => h.tables.get(id));
  if (tables.some((t) => !t)) return `the scan names a Huffman table the codestream does not define`;
  const reader = new BitReader(b, h.scan.start), samples = h.frame.rows * h.frame.columns;
  try {
    for (let mcu = 0, rst = 0; mcu < samples; mcu++) {
      if (h.restart && mcu && mcu % h.restart === 0) reader.restart(rst++ % 8);
      for (const t of tables) {
        const category = reader.decode(t);
        if (category > 16) throw new ScanDamage(`a difference of category ${category} (16 at most)`);
        for (let k = 0; k < (category === 16 ? 0 : category); k++) reader.bit();
      }
    }
  } catch (err) {
    if (err instanceof ScanDamage) return err.message;
    throw err;
  }
  return null;
}
