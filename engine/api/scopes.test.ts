/**
 * Integration token scopes through the real API server: each route family with a token holding
 * its scope and tokens holding others, a sweep over every documented route with a read-only
 * token, and a token configured without scopes keeping full access.
 */
import t from 'tap';
import { startApi } from './server.ts';
import { FakeEngine, connectEvents } from './testkit.ts';

const FULL = 'full-access-token-000';
const tok = (s: string): string => `scoped-${s}-token-000000`;
const SCOPES = ['read', 'calls', 'agents', 'admin', 'shop'] as const;

t.test('each route family needs its scope; read-only tokens change nothing; unscoped tokens reach all', async (t) => {
  const engine = new FakeEngine();
  const api = await startApi(engine, {
    address: '127.0.0.1', port: 0, openPaths: ['/healthz', '/metrics'],
    tokens: [FULL, ...SCOPES.map((s) => ({ token: tok(s), scopes: [s] })), { token: tok('read+agents'), scopes: ['read', 'agents'] }],
  });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const status = async (method: string, path: string, token: string, body?: unknown): Promise<number> => (await fetch(`${base}${path}`, {
    method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })).status;

  const families: Array<{ name: string; method: string; path: string; body?: unknown; needs: (typeof SCOPES)[number] }> = [
    { name: 'read queues', method: 'GET', path: '/api/v1/queues', needs: 'read' },
    { name: 'read calls', method: 'GET', path: '/api/v1/calls', needs: 'read' },
    { name: 'read callbacks', method: 'GET', path: '/api/v1/callbacks', needs: 'read' },
    { name: 'agent status', method: 'POST', path: '/api/v1/agents/1002/status', body: { status: 'not_ready', reason: 'x' }, needs: 'agents' },
    { name: 'agent skills', method: 'PUT', path: '/api/v1/agents/1002/skills/vip', body: { level: 5 }, needs: 'agents' },
    { name: 'end wrap-up', method: 'POST', path: '/api/v1/agents/1002/wrap-up/end', needs: 'agents' },
    { name: 'wrap-up code', method: 'POST', path: '/api/v1/agents/1001/wrap-up', body: { callId: 'c-1', code: 'order' }, needs: 'calls' },
    { name: 'unmask', method: 'POST', path: '/api/v1/calls/c-1/unmask', needs: 'calls' },
    { name: 'do-not-call add', method: 'POST', path: '/api/v1/dnc', body: { number: '+4930123456' }, needs: 'calls' },
    { name: 'callback cancel', method: 'POST', path: '/api/v1/callbacks/1/cancel', body: {}, needs: 'calls' },
    { name: 'add agent', method: 'POST', path: '/api/v1/agents', body: { id: '1009', extension: '1009', password: 'x' }, needs: 'admin' },
    { name: 'audit log', method: 'GET', path: '/api/v1/audit', needs: 'admin' },
    { name: 'shop', method: 'GET', path: '/api/v1/shop/products', needs: 'shop' },
  ];
  for (const f of families) {
    for (const s of SCOPES) {
      const code = await status(f.method, f.path, tok(s), f.body);
      if (s === f.needs) t.not(code, 403, `${f.name}: a ${s} token passes (${code})`);
      else t.equal(code, 403, `${f.name}: a ${s} token is refused`);
    }
    t.not(await status(f.method, f.path, FULL, f.body), 403, `${f.name}: a token without scopes passes`);
  }
  t.not(await status('POST', '/api/v1/agents/1002/status', tok('read+agents'), { status: 'available' }), 403, 'two scopes: both reach');

  // Sweep: every documented route that changes something refuses a read-only token.
  const doc = await (await fetch(`${base}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${tok('read')}` } })).json() as { paths: Record<string, Record<string, unknown>> };
  let changes = 0;
  for (const [p, methods] of Object.entries(doc.paths)) {
    for (const m of Object.keys(methods)) {
      if (m === 'get' || p === '/api/v1/session') continue;
      changes++;
      t.equal(await status(m.toUpperCase(), p.replaceAll('{id}', '1001').replaceAll('{skill}', 'vip').replaceAll('{number}', '4930123456'), tok('read'), {}), 403, `${m} ${p}: read-only token refused`);
    }
  }
  t.ok(changes >= 15, `${changes} change routes swept`);

  // The event stream is a read.
  const ok = await connectEvents(`ws://127.0.0.1:${api.port}/api/v1/events`, { authorization: `Bearer ${tok('read')}` });
  t.ok(ok, 'a read token subscribes');
  ok.close();
  await t.rejects(connectEvents(`ws://127.0.0.1:${api.port}/api/v1/events`, { authorization: `Bearer ${tok('agents')}` }), 'an agents-only token does not');
});
