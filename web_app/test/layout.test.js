// The port's layout: no module over 400 lines, and every Python file a source names exists
// (a header that cites a moved or deleted module fails here).
import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './helpers.js';

const SRC = path.join(REPO, 'web_app', 'src');
const MAX_LINES = 400;

function jsFiles(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? jsFiles(p) : (n.endsWith('.js') ? [p] : []);
  });
}

test('no JS module over 400 lines', () => {
  for (const f of jsFiles(SRC)) {
    const n = readFileSync(f, 'utf8').split('\n').length - 1;
    assert.ok(n <= MAX_LINES, `${path.relative(REPO, f)}: ${n} lines > ${MAX_LINES}`);
  }
});

test('every hc_tf path and module a source cites exists', () => {
  let cited = 0;
  for (const f of jsFiles(SRC)) {
    const text = readFileSync(f, 'utf8');
    for (const [p] of text.matchAll(/hc_tf\/[\w/]*\w(\.py|\.json)?/g)) {
      cited++;
      assert.ok(existsSync(path.join(REPO, p)), `${path.relative(REPO, f)} cites ${p}, which does not exist`);
    }
    for (const [name] of text.matchAll(/hc_tf(\.[a-z_]\w*)+/g)) {
      cited++;
      const parts = name.split('.');
      // hc_tf.<module or package>[.<module>]...: the first part after hc_tf must be a file or folder
      const first = path.join(REPO, 'hc_tf', parts[1]);
      assert.ok(existsSync(first + '.py') || existsSync(first), `${path.relative(REPO, f)} cites ${name}: no hc_tf/${parts[1]}`);
      if (existsSync(first) && parts.length > 2) {
        const second = path.join(first, parts[2]);
        const init = readFileSync(path.join(first, '__init__.py'), 'utf8');
        assert.ok(existsSync(second + '.py') || existsSync(second) || new RegExp(`\\b${parts[2]}\\b`).test(init),
          `${path.relative(REPO, f)} cites ${name}: hc_tf/${parts[1]} has no ${parts[2]}`);
      }
    }
  }
  assert.ok(cited > 10, `only ${cited} citations found`);
});

test('every module of the measure port names its Python counterpart in its header', () => {
  const dir = path.join(SRC, 'core', 'measure');
  for (const n of readdirSync(dir).filter((x) => x.endsWith('.js') && x !== 'index.js')) {
    const head = readFileSync(path.join(dir, n), 'utf8').split('\n').slice(0, 4).join('\n');
    const py = `hc_tf/measure/${n.replace(/\.js$/, '.py')}`;
    assert.ok(head.includes(py), `${n}: header does not name ${py}`);
  }
});
