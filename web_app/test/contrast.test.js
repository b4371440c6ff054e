// The page's status colours are readable in both schemes it declares (color-scheme: light dark):
// WCAG 2 contrast >= 4.5:1 on white and on Chromium's dark page (#121212); the light tones
// failed there (error 3.44, accent 3.62, warn 3.88:1). Every text colour is one of them.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './helpers.js';

const CSS = readFileSync(path.join(REPO, 'web_app', 'src', 'styles.css'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
const VARS = ['--accent', '--error', '--warn'];

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
const varsOf = (block) => Object.fromEntries([...block.matchAll(/(--[\w-]+):\s*(#[0-9a-fA-F]{6})/g)].map((m) => [m[1], m[2]]));

test('the contrast formula gives the review\'s ratios', () => {
  assert.equal(contrast('#c0392b', '#121212').toFixed(2), '3.44');
  assert.equal(contrast('#0b7a75', '#121212').toFixed(2), '3.62');
  assert.equal(contrast('#b35900', '#121212').toFixed(2), '3.88');
  assert.equal(contrast('#000000', '#ffffff'), 21);
});

test('status colours are >= 4.5:1 on the light and on the dark page', () => {
  const light = varsOf(CSS.match(/^:root\s*{[^}]*}/m)[0]);
  const dark = CSS.match(/@media\s*\(prefers-color-scheme:\s*dark\)\s*{\s*:root\s*{([^}]*)}/);
  assert.ok(dark, 'no dark-scheme block');
  const darkVars = varsOf(dark[1]);
  for (const v of VARS) {
    assert.ok(light[v] && darkVars[v], `${v} missing in a scheme`);
    assert.ok(contrast(light[v], '#ffffff') >= 4.5, `${v} ${light[v]} on white: ${contrast(light[v], '#ffffff').toFixed(2)}`);
    assert.ok(contrast(darkVars[v], '#121212') >= 4.5, `${v} ${darkVars[v]} on #121212: ${contrast(darkVars[v], '#121212').toFixed(2)}`);
  }
});

test('every text colour is a scheme variable (no fixed tone that fails in one scheme)', () => {
  const fixed = [...CSS.matchAll(/(?<![-\w])color:\s*([^;}]+)/g)].map((m) => m[1].trim()).filter((v) => !/^var\(--/.test(v));
  assert.deepEqual(fixed, []);
});
