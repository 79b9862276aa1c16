// The dialer's routes through real fastify (startApi) on a real SQLite store: a task with its
// attempts, the hand operations and their refusals, the do-not-call list and its CSV import.
import t from 'tap';
import { openStore } from '../store/index.ts';
import { parseDncCsv } from './callbacks-routes.ts';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';

t.test('callback tasks and the do-not-call list over HTTP', async (t) => {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const engine = new FakeEngine();
  engine.callbacks = store.callbacks;
  engine.dnc = store.dnc;
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [], openPaths: [] });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const call = async (method: string, path: string, body?: unknown, type = 'application/json'): Promise<{ status: number; body: any }> => {
    const r = await fetch(`${base}${path}`, {
      method, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': type } }),
    });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text) };
  };

  const now = Date.now();
  const mk = async (caller: string, callId: string) => (await store.callbacks.create({
    caller, queue: 'orders', arrivedAt: now - 60_000, callId, reason: 'abandoned_queue', dialled: '100', programme: null, customerId: null,
  }, now - 60_000)).task;
  const a = await mk('+8613800000001', 'c-a');
  const b = await mk('+8613800000002', 'c-b');
  const s = await store.callbacks.startAttempt(a.id, { callId: 'cb-1', agentId: '1001' }, now);
  if (!s.ok) throw new Error(s.reason);
  await store.callbacks.finishAttempt(s.value.attempt.id, { result: 'busy', trunk: 'carrier-a', sipStatus: 486 }, now + 1000);

  const one = await call('GET', `/api/v1/callbacks/${a.id}`);
  t.equal(one.status, 200);
  t.match(one.body, { task: { id: a.id, status: 'open', attempts: 1, lastResult: 'busy' }, attempts: [{ callId: 'cb-1', result: 'busy', sipStatus: 486, trunk: 'carrier-a' }] });
  t.match(await call('GET', '/api/v1/callbacks/999'), { status: 404, body: { error: { code: 'API_ERR_NOT_FOUND' } } });
  for (const bad of ['0', '-1', 'abc', '1.5', '99999999999999999']) {
    t.match(await call('GET', `/api/v1/callbacks/${bad}`), { status: 400, body: { error: { code: 'API_ERR_VALIDATION' } } }, `id ${bad}`);
  }

  t.match(await call('POST', `/api/v1/callbacks/${b.id}/claim`, { by: 'sup-1' }), { status: 200, body: { status: 'claimed', claimedBy: 'sup-1' } });
  t.match(await call('POST', `/api/v1/callbacks/${b.id}/claim`, { by: 'sup-2' }), { status: 409, body: { error: { code: 'API_ERR_CONFLICT' } } });
  t.match(await call('POST', `/api/v1/callbacks/${b.id}/claim`, {}), { status: 400, body: { error: { code: 'API_ERR_VALIDATION', message: /body\.by/ } } });
  t.match(await call('POST', `/api/v1/callbacks/${b.id}/claim`, { by: 'x', extra: 1 }), { status: 400 }, 'unknown fields refused');
  t.match(await call('POST', `/api/v1/callbacks/${b.id}/complete`, { note: 'ordered by phone' }), { status: 200, body: { status: 'done', note: 'ordered by phone' } });
  t.match(await call('POST', `/api/v1/callbacks/${b.id}/complete`, {}), { status: 409 });
  t.match(await call('POST', `/api/v1/callbacks/${b.id}/cancel`, {}), { status: 409 });

  const at = now + 3_600_000;
  t.match(await call('POST', `/api/v1/callbacks/${a.id}/reschedule`, { at, note: 'after the show' }), { status: 200, body: { status: 'open', nextAttemptAt: at, note: 'after the show' } });
  const iso = new Date(now + 7_200_000).toISOString();
  t.match(await call('POST', `/api/v1/callbacks/${a.id}/reschedule`, { at: iso }), { status: 200, body: { nextAttemptAt: Date.parse(iso) } });
  t.match(await call('POST', `/api/v1/callbacks/${a.id}/reschedule`, { at: 'tomorrow' }), { status: 400 });
  t.match(await call('POST', `/api/v1/callbacks/${a.id}/reschedule`, { at: now + 400 * 86_400_000 }), { status: 400, body: { error: { message: /90 days/ } } });
  t.match(await call('POST', `/api/v1/callbacks/${a.id}/cancel`, { note: 'x'.repeat(501) }), { status: 400 });
  t.match(await call('POST', `/api/v1/callbacks/${a.id}/cancel`, { note: 'customer asked' }), { status: 200, body: { status: 'cancelled' } });
  t.match(await call('POST', '/api/v1/callbacks/999/cancel', {}), { status: 404, body: { error: { code: 'API_ERR_NOT_FOUND' } } });

  // Do-not-call list.
  const c = await mk('+8613800000003', 'c-c');
  const added = await call('POST', '/api/v1/dnc', { number: '+86 138-0000-0003', note: 'asked on air' });
  t.match(added, { status: 201, body: { added: true, cancelled: 1, entry: { number: '+8613800000003', source: 'api', note: 'asked on air' } } }, 'normalised; its open task cancelled');
  t.match(await store.callbacks.get(c.id), { status: 'cancelled', note: 'dnc' });
  t.match(await call('POST', '/api/v1/dnc', { number: '+8613800000003' }), { status: 200, body: { added: false } });
  for (const bad of ['12', 'abc', '+86+138', '1'.repeat(21), '']) {
    t.match(await call('POST', '/api/v1/dnc', { number: bad }), { status: 400, body: { error: { code: 'API_ERR_VALIDATION', message: /body\.number/ } } }, `refused: ${JSON.stringify(bad)}`);
  }
  t.match(await call('GET', `/api/v1/dnc/${encodeURIComponent('+8613800000003')}`), { status: 200, body: { number: '+8613800000003' } });
  t.match(await call('GET', '/api/v1/dnc/12345'), { status: 404 });
  t.match(await call('GET', '/api/v1/dnc/x'), { status: 400 });

  const csv = 'number,name\r\n+8613900000001,Ann\n"13900000002";Bob\n\nnot-a-number\n+8613900000001\n139 0000 0003\n12\n';
  const imp = await call('POST', '/api/v1/dnc/import', csv, 'text/csv');
  t.match(imp, { status: 200, body: { lines: 7, accepted: 4, added: 3, already: 1, refused: 2, cancelled: 0,
    refusedLines: [{ line: 5, text: 'not-a-number' }, { line: 8, text: '12' }] } });
  t.match(await call('POST', '/api/v1/dnc/import', { numbers: ['+861'] }), { status: 415 }, 'JSON is not a CSV import');
  t.match(await call('POST', '/api/v1/dnc/import', '', 'text/csv'), { status: 400 });
  t.match(await call('POST', '/api/v1/dnc/import', '+8613900000009\n'.repeat(80_000), 'text/csv'), { status: 413 }, 'bounded body');
  t.match(await call('POST', '/api/v1/dnc', 'x'.repeat(20_000), 'application/json'), { status: 413 }, 'JSON routes keep the 16 KiB limit');

  const list = await call('GET', '/api/v1/dnc?limit=2&offset=1');
  t.match(list, { status: 200, body: { total: 4, hasMore: true, limit: 2, offset: 1 } });
  t.same(list.body.items.map((e: { number: string }) => e.number), ['+8613900000001', '13900000002']);
  t.match(await call('GET', '/api/v1/dnc?limit=0'), { status: 400 });
  t.match(await call('GET', '/api/v1/dnc?bogus=1'), { status: 400 });
  t.equal((await call('DELETE', '/api/v1/dnc/13900000002')).status, 204);
  t.match(await call('DELETE', '/api/v1/dnc/13900000002'), { status: 404 });
  t.equal(store.dnc.has('13900000002'), false);
  t.equal(store.dnc.has('13900000003'), true);
});

t.test('CSV reading: first field, quotes, separators, header only on the first line', async (t) => {
  const r = parseDncCsv('phone\n+4930123;x\n"+49 301 24",y\nphone\n');
  t.same(r.numbers, ['+4930123', '+4930124']);
  t.equal(r.refused, 1, 'a header later in the file is a bad line');
  t.equal(r.lines, 4);
  const many = parseDncCsv('x\n'.repeat(50));
  t.equal(many.refused, 50);
  t.equal(many.refusedLines.length, 20, 'only the first refused lines are listed');
});
