// Serves dist/ on loopback with the headers the app needs: COOP/COEP (cross-origin
// isolation, so LiteRT.js can use threads), application/wasm, no caching surprises.
//   node serve.mjs [port]   (default 8615)
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dist');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.json': 'application/json', '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm', '.png': 'image/png', '.svg': 'image/svg+xml', '.tflite': 'application/octet-stream' };

/** The file a request path names under `root`, or null for a malformed or escaping path. */
export function resolvePath(root, requestUrl) {
  let pathname;
  try {
    // Any page can make the browser send `/%` (an <img> tag): a bad URL is a 400, never a crash.
    pathname = decodeURIComponent(new URL(requestUrl, 'http://localhost').pathname);
  } catch {
    return null;
  }
  if (pathname.includes('\0')) return null;
  const file = path.normalize(path.join(root, pathname));
  return file === root || file.startsWith(root + path.sep) ? file : null;
}

/** The static server: dist/ with the headers the app needs; malformed requests get 400. */
export function makeServer(root = ROOT) {
  return createServer((req, res) => serve(root, req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end();
  }));
}

async function serve(root, req, res) {
  let file = resolvePath(root, req.url);
  if (file === null) { res.writeHead(400, { 'Content-Type': 'text/plain' }).end('bad request'); return; }
  try {
    if ((await stat(file)).isDirectory()) file = path.join(file, 'index.html');
    const body = await readFile(file);
    res.writeHead(200, {
      'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-cache',
    });
    res.end(body);
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] || 8615);
  makeServer().listen(port, '127.0.0.1', () => console.log(`serving ${ROOT} on http://127.0.0.1:${port}/`));
}
