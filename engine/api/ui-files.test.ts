/** The UI files: served from the table read at start, by exact name; nothing else on disk is reachable. */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';
import { loadUiFiles } from './ui-files.ts';

t.test('index, assets, caching headers, and no way out of the build folder', async (t) => {
  const dir = t.testdir({});
  const ui = path.join(dir, 'ui');
  mkdirSync(path.join(ui, 'assets'), { recursive: true });
  writeFileSync(path.join(ui, 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(path.join(ui, 'assets', 'app-1.js'), 'console.log(1)');
  writeFileSync(path.join(dir, 'secret.txt'), 'not for the web');
  t.equal(loadUiFiles(path.join(dir, 'nothing')), null, 'no index.html: no UI');
  const files = loadUiFiles(ui);
  const api = await startApi(new FakeEngine(), { address: '127.0.0.1', port: 0, tokens: ['a-long-enough-token'], openPaths: ['/healthz'], ui: files });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;

  const index = await fetch(`${base}/`);
  t.equal(index.status, 200, 'served without a token');
  t.match(index.headers.get('content-type'), /^text\/html/);
  t.match(index.headers.get('content-security-policy'), /default-src 'self'/);
  t.equal(index.headers.get('cache-control'), 'no-cache');
  const js = await fetch(`${base}/assets/app-1.js`);
  t.equal(await js.text(), 'console.log(1)');
  t.match(js.headers.get('cache-control'), /immutable/);
  t.equal((await fetch(`${base}/assets/app-1.js`, { headers: { 'if-none-match': js.headers.get('etag')! } })).status, 304);

  for (const p of ['/assets/..%2f..%2fsecret.txt', '/assets/%2e%2e/%2e%2e/secret.txt', '/assets/../secret.txt', '/assets/app-2.js', '/index.html', '/secret.txt']) {
    const r = await fetch(`${base}${p}`);
    const body = await r.text();
    t.notOk(r.status === 200 && body.includes('not for the web'), `${p}: not served (${r.status})`);
    t.not(r.status, 200, `${p}: no file`);
  }
});
