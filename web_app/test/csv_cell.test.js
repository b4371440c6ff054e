// The app's CSV cells as hc_tf.io.tables writes them (tests/tables_test.py has the same cases):
// text a spreadsheet would run as a formula gets a leading "'", numbers do not.
import test from 'node:test';
import assert from 'node:assert/strict';
import { csvCell } from '../src/core/pyformat.js';

test('text a spreadsheet would run gets a leading quote; numbers do not', () => {
  const cases = [['=HYPERLINK("x";"y").png', '"\'=HYPERLINK(""x"";""y"").png"'],
    ['+1.2.3/=cmd|calc!A1', "'+1.2.3/=cmd|calc!A1"], ['-x.png', "'-x.png"],
    ['@SUM(A1)', "'@SUM(A1)"], ['\tx', "'\tx"], ['000_HC.png', '000_HC.png'], ['a=b', 'a=b'],
    [-1.5, '-1.500000'], [true, 'True'], [null, '']];
  assert.deepEqual(cases.map(([v]) => csvCell(v)), cases.map(([, want]) => want));
});
