/**
 * /api/v1/openapi.json describes every route the API registers (fastify's onRoute hook feeds it):
 * no route is marked undocumented, every documented path answers (it is a real route, not a stale
 * entry), and each operation's parameters are the ones its handler parses.
 */
import t from 'tap';
import { startApi } from './server.ts';
import { OpenApiCollector, openApiPath } from './openapi.ts';
import { FakeEngine } from './testkit.ts';

const TOKEN = 'openapi-test-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };

type Op = { summary: string; 'x-undocumented'?: true; parameters?: Array<{ name: string; in: string; required: boolean }>; requestBody?: unknown; responses: Record<string, unknown>; security?: unknown[] };
type Doc = { openapi: string; info: { version: string }; paths: Record<string, Record<string, Op>> };

t.test('the served document lists every registered route, each with its real parameters', async (t) => {
  const engine = new FakeEngine();
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [TOKEN], openPaths: ['/healthz', '/metrics'] });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  t.equal((await fetch(`${base}/api/v1/openapi.json`)).status, 401, 'behind the token like the rest of /api/v1');
  const res = await fetch(`${base}/api/v1/openapi.json`, { headers: AUTH });
  t.equal(res.status, 200);
  const doc = await res.json() as Doc;
  t.equal(doc.openapi, '3.1.0');
  t.equal(doc.info.version, engine.healthInfo.version);

  const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ path: p, method: m, op })));
  t.same(ops.filter((o) => o.op['x-undocumented'] === true).map((o) => `${o.method} ${o.path}`), [], 'no route without a RouteDoc');
  t.same(ops.map((o) => `${o.method} ${o.path}`).sort(), [
    'get /api/v1/agents', 'get /api/v1/agents/{id}', 'get /api/v1/callbacks', 'get /api/v1/callbacks/{id}', 'get /api/v1/calls', 'get /api/v1/cdrs',
    'get /api/v1/dnc', 'get /api/v1/dnc/{number}', 'delete /api/v1/dnc/{number}',
    'post /api/v1/callbacks/{id}/claim', 'post /api/v1/callbacks/{id}/preview', 'post /api/v1/callbacks/{id}/reschedule', 'post /api/v1/callbacks/{id}/cancel',
    'post /api/v1/callbacks/{id}/complete', 'post /api/v1/dnc', 'post /api/v1/dnc/import',
    'get /api/v1/events', 'get /api/v1/openapi.json', 'get /api/v1/queues', 'get /api/v1/queues/{id}', 'get /healthz', 'get /metrics',
    'post /api/v1/agents/{id}/status', 'post /api/v1/agents', 'put /api/v1/agents/{id}/skills', 'put /api/v1/agents/{id}/skills/{skill}',
    'delete /api/v1/agents/{id}/skills/{skill}', 'get /api/v1/audit', 'post /api/v1/agents/{id}/wrap-up', 'post /api/v1/agents/{id}/wrap-up/end', 'post /api/v1/calls/{id}/unmask', 'get /', 'get /assets/*', 'get /api/v1/session', 'post /api/v1/session', 'delete /api/v1/session',
  ].sort());
  for (const { path, method, op } of ops) {
    // A real route answers with anything but the not-found handler's "no route".
    const r = await fetch(`${base}${path.replace('{id}', 'orders')}`, { method: method.toUpperCase(), headers: { ...AUTH, 'content-type': 'application/json' }, ...(method === 'post' ? { body: '{}' } : {}) });
    const body = await r.text();
    t.notMatch(body, /no route/, `${method} ${path} is served (${r.status})`);
    t.ok(typeof op.summary === 'string' && op.summary.length > 0 && Object.keys(op.responses).length > 0, `${method} ${path} has a summary and responses`);
  }
  const cdrs = doc.paths['/api/v1/cdrs']?.get;
  t.same(cdrs?.parameters?.map((p) => p.name).sort(), ['limit', 'offset', 'outcome', 'queue', 'since']);
  t.ok(cdrs?.parameters?.every((p) => p.in === 'query' && p.required === false));
  t.match(doc.paths['/api/v1/agents/{id}/status']?.post, { parameters: [{ name: 'id', in: 'path', required: true }], requestBody: { required: true } });
  t.same(doc.paths['/healthz']?.get?.security, [], 'open paths need no token');
  t.match(doc.paths['/api/v1/dnc/import']?.post, { requestBody: { content: { 'text/csv': {} } } }, 'the CSV import is described as text/csv');
});

t.test('a route added without a RouteDoc shows as undocumented', async (t) => {
  const c = new OpenApiCollector();
  c.onRoute({ method: ['GET', 'HEAD'], url: '/x/:id', schema: { summary: 'x', tags: [], responses: { 200: 'ok' } } });
  c.onRoute({ method: 'DELETE', url: '/y' });
  const doc = c.document({ title: 't', version: '1' }) as Doc;
  t.same(Object.keys(doc.paths['/x/{id}'] ?? {}), ['get'], 'the HEAD fastify adds is the GET');
  t.equal(doc.paths['/y']?.delete?.['x-undocumented'], true);
  t.equal(openApiPath('/a/:b/c/:d'), '/a/{b}/c/{d}');
});
