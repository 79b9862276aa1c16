/**
 * HTTPS (`http.tls`): the API served over TLS with a self-signed certificate made by openssl at test
 * time, trusted by the client as its own CA; the session cookie gets `Secure`; plain HTTP to the
 * same port gets no API answer.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import path from 'node:path';
import { openStore } from '../store/index.ts';
import { UserDirectory } from '../users/index.ts';
import { requirePeer } from '../testing/index.ts';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';

function httpsCall(port: number, ca: Buffer, method: string, p: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: p, ca, headers }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => { data += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('https: the API over TLS, the session cookie Secure', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const dir = t.testdir({});
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  t.equal(made.status, 0, `openssl: ${made.stderr}`);
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const users = await UserDirectory.open(store.db, store.writer, [{ username: 'boss', role: 'supervisor', agentId: null, name: null, password: 'pw-boss' }], new Set(), {
    sessions: { idleMs: 60_000, maxAgeMs: 60_000 },
    accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 },
    sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
  });
  const api = await startApi(new FakeEngine(), {
    address: '127.0.0.1', port: 0, tokens: [], openPaths: ['/healthz'], users, tls: { cert: readFileSync(cert), key: readFileSync(key) },
  });
  t.teardown(() => api.close());
  const ca = readFileSync(cert);

  const signIn = await httpsCall(api.port, ca, 'POST', '/api/v1/session', { 'content-type': 'application/json' }, JSON.stringify({ username: 'boss', password: 'pw-boss' }));
  t.equal(signIn.status, 200);
  const setCookie = String(signIn.headers['set-cookie'] ?? '');
  t.match(setCookie, /; Secure/, 'the cookie is Secure over TLS');
  t.match(setCookie, /HttpOnly; SameSite=Strict/);
  const me = await httpsCall(api.port, ca, 'GET', '/api/v1/session', { cookie: setCookie.split(';')[0]! });
  t.equal(JSON.parse(me.body).user.username, 'boss', 'the session works over TLS');
  await t.rejects(fetch(`http://127.0.0.1:${api.port}/healthz`), 'plain HTTP gets no answer');
  const signOut = await httpsCall(api.port, ca, 'DELETE', '/api/v1/session', {});
  t.match(String(signOut.headers['set-cookie'] ?? ''), /Max-Age=0; Secure/);
});
