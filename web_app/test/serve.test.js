// Issue 24 item 11: serve.mjs, run as a user runs it (`node serve.mjs PORT`), answers malformed
// request paths with 400 and keeps serving (one `/%` used to throw an uncaught URIError and
// end the server).
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SERVE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'serve.mjs');
const MALFORMED = ['/%', '/%E0%A4%A', '/%ff', '/a%2', '/%00', '/..%2f..%2fetc%2fpasswd', '/%%'];

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** The status code of a raw GET (the path sent as is, as curl --path-as-is does). */
function rawGet(port, target) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    let data = '';
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
    sock.on('error', reject);
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error(`no answer to ${target}`)); });
  });
}

test('malformed request paths get 400 and the server keeps answering', async () => {
  const port = await freePort();
  const server = spawn(process.execPath, [SERVE, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  server.stderr.on('data', (d) => { stderr += d; });
  try {
    await new Promise((resolve, reject) => {
      server.stdout.on('data', (d) => { if (String(d).includes('serving')) resolve(); });
      server.on('exit', (code) => reject(new Error(`server exited ${code}: ${stderr}`)));
    });
    for (const target of MALFORMED) {
      assert.equal(await rawGet(port, target), 400, target);
      assert.equal(server.exitCode, null, `server died on ${target}: ${stderr}`);
    }
    const ok = await rawGet(port, '/index.html'); // 200 with a built dist/, else 404: an answer
    assert.ok(ok === 200 || ok === 404, String(ok));
    assert.equal(stderr, '');
  } finally {
    server.kill();
  }
});
