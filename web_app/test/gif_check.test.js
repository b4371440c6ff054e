// gif_check.js: a GIF's first image walked and its LZW codes counted, in hc_tf/io/gif_check.py's
// words (tests/gif_check_test.py and the browser test compare both on real and damaged GIFs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gifDamage } from '../src/core/gif_check.js';

// A 2 x 2 black GIF by hand: a 2-colour table, LZW minimum code size 2, its codes clear, four
// 0s (the fourth 4 bits wide once the table reaches 8) and end, packed LSB first: 04 00 05.
const hex = (s) => Uint8Array.from(s.match(/../g), (h) => parseInt(h, 16));
const GIF = '474946383961' + '0200' + '0200' + '800000' + '000000ffffff' + '2c' + '00000000' + '0200' + '0200' + '00' + '02' + '03' + '040005' + '00' + '3b';

test('a whole GIF passes; another format is not judged', () => {
  assert.equal(gifDamage(hex(GIF)), null);
  assert.equal(gifDamage(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), null);
});

test('LZW data that cannot be the image is refused in the Python words', () => {
  const said = (s) => gifDamage(hex(s));
  assert.equal(said(GIF.replace('2c0000000002000200', '2c0000000002000100')), 'the GIF data is corrupt: its LZW data gives more pixels than its 2 x 1');
  assert.equal(said(GIF.replace('2c0000000002000200', '2c0000000002000300')), 'the GIF data is corrupt: its LZW data gives fewer pixels than its 2 x 3');
  assert.equal(said(GIF.replace('03040005', '03ff0005')), 'the GIF data is corrupt: an LZW code its table does not hold yet');
  assert.equal(said(GIF.slice(0, -10)), 'the GIF data is corrupt: the file ends inside a block');
  assert.equal(said(GIF.replace('2c', '3b')), 'the GIF data is corrupt: it has no image');
});
