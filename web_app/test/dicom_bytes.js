// Test helper: DICOM Part 10 bytes written element by element (explicit VR little endian), for
// files no fixture holds.

const LONG = new Set(['OB', 'OW', 'SQ', 'UN', 'UT']);

/** One explicit VR little endian element (`value`: bytes, a string, or US numbers). */
export function element(group, el, vr, value) {
  let v = typeof value === 'string' ? Buffer.from(value, 'latin1')
    : Array.isArray(value) ? Buffer.from(new Uint16Array(value).buffer) : Buffer.from(value);
  if (v.length % 2) v = Buffer.concat([v, Buffer.from(vr === 'UI' || vr === 'OB' ? [0] : [0x20])]);
  const head = Buffer.alloc(LONG.has(vr) ? 12 : 8);
  head.writeUInt16LE(group, 0); head.writeUInt16LE(el, 2); head.write(vr, 4, 'latin1');
  if (LONG.has(vr)) head.writeUInt32LE(v.length, 8); else head.writeUInt16LE(v.length, 6);
  return Buffer.concat([head, v]);
}

/** A Part 10 file: preamble, meta group (transfer syntax `ts`), then `body` as stored. */
export function part10(ts, body) {
  const meta = Buffer.concat([element(0x0002, 0x0001, 'OB', [0, 1]), element(0x0002, 0x0010, 'UI', ts)]);
  const preamble = Buffer.alloc(128, 0x5a); // not zeros: the parser must never read it as elements
  return new Uint8Array(Buffer.concat([preamble, Buffer.from('DICM'), element(0x0002, 0x0000, 'UL', Buffer.from(new Uint32Array([meta.length]).buffer)), meta, body]));
}
