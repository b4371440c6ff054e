// Builds the static app into dist/: the sources, LiteRT.js and its wasm files (from
// node_modules, nothing from a CDN), the bundle's model, metadata, samples and goldens,
// a service worker with a content-hashed cache name, and the page's CSP.
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.join(HERE, 'dist');
const BUNDLE = path.join(HERE, '..', 'android_demo_assets');
const LITERT = path.join(HERE, 'node_modules', '@litertjs');
const WASM = ['litert_wasm_internal', 'litert_wasm_threaded_internal', 'litert_wasm_compat_internal'];

if (!existsSync(path.join(LITERT, 'core', 'dist', 'index.js'))) {
  console.error('node_modules/@litertjs/core missing: run `npm ci` first');
  process.exit(1);
}
rmSync(DIST, { recursive: true, force: true });
mkdirSync(DIST, { recursive: true });
cpSync(path.join(HERE, 'src'), DIST, { recursive: true });
cpSync(path.join(LITERT, 'core', 'dist', 'index.js'), path.join(DIST, 'vendor', 'litertjs-core', 'index.js'));
cpSync(path.join(LITERT, 'wasm-utils', 'dist', 'index.js'), path.join(DIST, 'vendor', 'wasm-utils', 'index.js'));
for (const f of ['LICENSE', 'README.md']) {
  const p = path.join(LITERT, 'core', f);
  if (existsSync(p)) cpSync(p, path.join(DIST, 'vendor', 'litertjs-core', f));
}
/**
 * A UMD package's file wrapped as an ES module in dist/vendor/<name>/index.js, with its LICENSE
 * (or, for a package that ships none, its package.json's licence and repository; `notice`, the
 * licence of a library a wasm build compiles in, appended) and `extra` files (a wasm build)
 * beside it.
 */
function vendorUmd(name, file, extra = [], notice = '') {
  const dir = path.join(HERE, 'node_modules', name);
  if (!existsSync(path.join(dir, file))) {
    console.error(`node_modules/${name} missing: run \`npm ci\` first`);
    process.exit(1);
  }
  const umd = readFileSync(path.join(dir, file), 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, '');
  const meta = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')), version = meta.version;
  mkdirSync(path.join(DIST, 'vendor', name), { recursive: true });
  writeFileSync(path.join(DIST, 'vendor', name, 'index.js'), `// ${name} ${version}, wrapped by build.mjs\n`
    + `const module = { exports: {} }; const exports = module.exports; const require = () => ({});\n${umd}\nexport default module.exports;\n`);
  if (existsSync(path.join(dir, 'LICENSE'))) cpSync(path.join(dir, 'LICENSE'), path.join(DIST, 'vendor', name, 'LICENSE'));
  else writeFileSync(path.join(DIST, 'vendor', name, 'LICENSE'), `${name} ${version}: ${meta.license} (package.json; no LICENSE file shipped); ${meta.repository?.url ?? meta.homepage ?? ''}\n`);
  if (notice) writeFileSync(path.join(DIST, 'vendor', name, 'LICENSE'), `\n${notice}\n`, { flag: 'a' });
  for (const f of extra) cpSync(path.join(dir, f), path.join(DIST, 'vendor', name, path.basename(f)));
}
// dicom-parser ships UMD only: wrapped as an ES module for the decode worker (its zlib is for
// deflated files, which the app inflates itself, bounded: src/core/dicom/deflated.js).
vendorUmd('dicom-parser', path.join('dist', 'dicomParser.min.js'));
// The JPEG Lossless decoder (DICOM's 1.2.840.10008.1.2.4.57/.70), for the decode worker.
vendorUmd('jpeg-lossless-decoder-js', path.join('release', 'current', 'lossless-min.js'));
// JPEG-LS and JPEG 2000 (.4.80/.81, .4.90/.91): cornerstone's wasm builds of CharLS and OpenJPEG.
vendorUmd('@cornerstonejs/codec-charls', path.join('dist', 'charlswasm_decode.js'), [path.join('dist', 'charlswasm_decode.wasm')],
  'The wasm build contains CharLS (https://github.com/team-charls/charls), BSD-3-Clause.');
vendorUmd('@cornerstonejs/codec-openjpeg', path.join('dist', 'openjpegwasm_decode.js'), [path.join('dist', 'openjpegwasm_decode.wasm')],
  'The wasm build contains OpenJPEG (https://github.com/uclouvain/openjpeg), BSD-2-Clause.');
// JPEG Baseline (.4.50): cornerstone's wasm build of libjpeg-turbo, the decoder predict uses (simplejpeg's).
vendorUmd('@cornerstonejs/codec-libjpeg-turbo-8bit', path.join('dist', 'libjpegturbowasm_decode.js'), [path.join('dist', 'libjpegturbowasm_decode.wasm')],
  'The wasm build contains libjpeg-turbo (https://libjpeg-turbo.org), under the IJG License and the Modified (3-clause) BSD License (its LICENSE.md). This software is based in part on the work of the Independent JPEG Group.');
// uuid (the exam report's ids, uuid5): its browser ES modules as they are, named by the page's import map.
const UUID = path.join(HERE, 'node_modules', 'uuid');
if (!existsSync(path.join(UUID, 'dist', 'index.js'))) {
  console.error('node_modules/uuid missing: run `npm ci` first');
  process.exit(1);
}
for (const f of readdirSync(path.join(UUID, 'dist')).filter((n) => n.endsWith('.js') && n !== 'uuid-bin.js')) {
  cpSync(path.join(UUID, 'dist', f), path.join(DIST, 'vendor', 'uuid', f));
}
cpSync(path.join(UUID, 'LICENSE.md'), path.join(DIST, 'vendor', 'uuid', 'LICENSE.md'));
for (const w of WASM) for (const ext of ['.js', '.wasm']) {
  cpSync(path.join(LITERT, 'core', 'wasm', w + ext), path.join(DIST, 'wasm', w + ext));
}
const assets = path.join(DIST, 'assets');
for (const f of ['hc_effunet_int8.tflite', 'hc_effunet_int8.json', 'golden.json']) cpSync(path.join(BUNDLE, f), path.join(assets, f));
cpSync(path.join(BUNDLE, 'samples'), path.join(assets, 'samples'), { recursive: true });

// The model must match its metadata here already (the app checks again before use).
const meta = JSON.parse(readFileSync(path.join(assets, 'hc_effunet_int8.json'), 'utf8'));
const modelSha = createHash('sha256').update(readFileSync(path.join(assets, 'hc_effunet_int8.tflite'))).digest('hex');
if (modelSha !== meta.tflite_sha256) {
  console.error(`model sha256 ${modelSha} != metadata ${meta.tflite_sha256}`);
  process.exit(1);
}

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
const rel = (p) => path.relative(DIST, p).split(path.sep).join('/');
// Content hash of everything but sw.js: the cache name, so an update replaces the cache.
const files = walk(DIST).sort();
const h = createHash('sha256');
for (const f of files) h.update(rel(f)).update(readFileSync(f));
const version = h.digest('hex').slice(0, 16);

const html = readFileSync(path.join(DIST, 'index.html'), 'utf8');
const importMap = html.match(/<script type="importmap">([\s\S]*?)<\/script>/)[1];
const mapHash = createHash('sha256').update(importMap).digest('base64');
const csp = ["default-src 'self'", `script-src 'self' 'wasm-unsafe-eval' 'sha256-${mapHash}'`,
  "worker-src 'self' blob:", "connect-src 'self'", "img-src 'self' blob: data:", "style-src 'self'",
  "object-src 'none'", "base-uri 'self'"].join('; ');
writeFileSync(path.join(DIST, 'index.html'), html.replace('__CSP__', csp));
const app = readFileSync(path.join(DIST, 'app.js'), 'utf8');
writeFileSync(path.join(DIST, 'app.js'), app.replace("'__VERSION__'", `'${version}'`));

// Precache: everything, every wasm build included (about 9.5 MB each): a page opened offline
// may ask for any of them (?threads=0 after a threaded first load). precache.json lists them,
// so the page can say "ready offline" only once all are stored.
const precache = ['./', './precache.json', ...files.map(rel).filter((f) => !f.endsWith('.map'))];
writeFileSync(path.join(DIST, 'precache.json'), `${JSON.stringify(precache)}\n`);
const sw = `// Generated by build.mjs. Cache-first for this origin only; nothing else is fetched.
const CACHE = 'hc-tf-${version}';
const PRECACHE = ${JSON.stringify(precache, null, 0)};
self.addEventListener('install', (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});
self.addEventListener('activate', (ev) => {
  ev.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('hc-tf-') && k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener('fetch', (ev) => {
  const url = new URL(ev.request.url);
  if (ev.request.method !== 'GET' || url.origin !== self.location.origin) return;
  ev.respondWith(caches.open(CACHE).then(async (cache) => {
    const hit = await cache.match(ev.request, { ignoreSearch: true });
    if (hit) return hit;
    const resp = await fetch(ev.request);
    if (resp.ok && resp.type === 'basic' && !url.search) cache.put(ev.request, resp.clone());
    return resp;
  }));
});
`;
writeFileSync(path.join(DIST, 'sw.js'), sw);
const size = walk(DIST).reduce((s, f) => s + statSync(f).size, 0);
console.log(`built ${rel(DIST) || 'dist'}: ${walk(DIST).length} files, ${(size / 1e6).toFixed(1)} MB, version ${version}`);
