import t, { type Test } from 'tap';
import net from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import type { Cdr } from '../../crm-adapter/index.ts';
import { createMetrics } from './metrics.ts';
import { startApi, type ApiOptions, type ApiServer } from './server.ts';
import { FakeEngine, callbackTask, connectEvents, type EventClient } from './testkit.ts';
import type { CtiEvent } from './types.ts';

const TOKEN = 'test-token-1';
const AUTH = { authorization: `Bearer ${TOKEN}` };

async function withApi(t: Test, engine = new FakeEngine(), opts: Partial<ApiOptions> = {}): Promise<{ api: ApiServer; base: string; engine: FakeEngine }> {
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [TOKEN, 'other-token'], openPaths: ['/healthz', '/metrics'], ...opts });
  t.teardown(() => api.close());
  return { api, base: `http://127.0.0.1:${api.port}`, engine };
}

async function get(url: string, headers: Record<string, string> = AUTH): Promise<{ status: number; body: any; headers: Headers }> {
  const r = await fetch(url, { headers });
  const text = await r.text();
  return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text, headers: r.headers };
}

async function post(url: string, body: string, headers: Record<string, string> = { ...AUTH, 'content-type': 'application/json' }): Promise<{ status: number; body: any }> {
  const r = await fetch(url, { method: 'POST', headers, body });
  return { status: r.status, body: await r.json() };
}

function offered(agentId: string, callId: string): CtiEvent {
  return {
    type: 'call.offered', at: 1_700_000_000_000, callId, agentId, queue: 'orders', caller: '+41790000001', dialled: '100',
    programme: 'morning-show', attempt: 1, variables: {},
    customer: { known: true, customerId: 'cust-1', name: 'Ada', vipLevel: 0, blacklisted: false, strikes: 0, preferredAgent: null,
      language: 'de', lowCredit: false, screenPop: { lastOrder: 'kettle' } },
  };
}

t.test('healthz: open path, 200 when running, 503 while draining', async (t) => {
  const { base, engine } = await withApi(t);
  const ok = await get(`${base}/healthz`, {});
  t.equal(ok.status, 200);
  t.equal(ok.body.status, 'ok');
  t.equal(ok.body.calls, 2);
  t.equal(ok.body.version, '0.1.0-test');
  t.ok(ok.body.uptimeMs >= 5000, 'uptime from startedAt');
  engine.healthInfo = { ...engine.healthInfo, draining: true };
  const draining = await get(`${base}/healthz`, {});
  t.equal(draining.status, 503);
  t.equal(draining.body.status, 'draining');
});

t.test('auth: bearer token on everything but open paths', async (t) => {
  const { base } = await withApi(t);
  const none = await get(`${base}/api/v1/queues`, {});
  t.equal(none.status, 401);
  t.same(none.body, { error: { code: 'API_ERR_UNAUTHORIZED', message: 'missing or unknown bearer token' } });
  t.equal(none.headers.get('www-authenticate'), 'Bearer');
  t.equal((await get(`${base}/api/v1/queues`, { authorization: 'Bearer wrong' })).status, 401);
  t.equal((await get(`${base}/api/v1/queues`, { authorization: `Basic ${TOKEN}` })).status, 401, 'only the Bearer scheme');
  t.equal((await get(`${base}/api/v1/queues`)).status, 200);
  t.equal((await get(`${base}/api/v1/queues`, { authorization: 'bearer other-token' })).status, 200, 'any configured token, scheme case-insensitive');
  t.equal((await get(`${base}/api/v1/queues?token=${TOKEN}`, {})).status, 401, 'query token only on the event stream');
  t.equal((await get(`${base}/no/such/route`, {})).status, 401, 'unknown routes are not probed without a token');
  t.equal((await get(`${base}/healthz/`, {})).status, 401, 'open paths match exactly');
  t.equal((await get(`${base}/metrics`, {})).status, 200);
});

t.test('auth: no tokens configured means an open API', async (t) => {
  const { base } = await withApi(t, new FakeEngine(), { tokens: [] });
  t.equal((await get(`${base}/api/v1/agents`, {})).status, 200);
});

t.test('JSON 404 for unknown routes', async (t) => {
  const { base } = await withApi(t);
  const r = await get(`${base}/api/v2/queues?x=1`);
  t.equal(r.status, 404);
  t.same(r.body, { error: { code: 'API_ERR_NOT_FOUND', message: 'no route GET /api/v2/queues' } });
});

t.test('queues: snapshot joined with skills and tallies', async (t) => {
  const { base, engine } = await withApi(t);
  engine.metrics.queueEntered('orders');
  engine.metrics.queueEntered('orders');
  engine.metrics.queueRejected('orders');
  engine.metrics.callbackCaptured('orders');
  const r = await get(`${base}/api/v1/queues`);
  t.equal(r.status, 200);
  t.same(r.body.items.map((q: { id: string }) => q.id), ['orders', 'vip']);
  const [orders, vip] = r.body.items;
  t.equal(orders.waiting, 3);
  t.equal(orders.oldestWaitMs, 42_000);
  t.equal(orders.ewtMs, 30_500, 'rounded');
  t.equal(orders.serviceLevelMs, 20_000);
  t.same(orders.agents, {
    staffed: 2, idle: 0,
    byState: { idle: 1, reserved: 0, on_call: 1, wrap_up: 0 },
    byStatus: { available: 2, not_ready: 0, logged_out: 1 },
  });
  t.same(orders.totals, { offered: 2, answered: 10, answeredInServiceLevel: 8, abandoned: 2, rejected: 1, callbacks: 1 });
  t.equal(vip.ewtMs, null, 'no staffed agent: no estimate instead of Infinity');
  t.same(vip.agents.byStatus, { available: 1, not_ready: 0, logged_out: 0 }, 'minLevel 5 leaves 1003 (level 2) out');
  t.same(vip.totals.offered, 0);

  const one = await get(`${base}/api/v1/queues/vip`);
  t.equal(one.status, 200);
  t.equal(one.body.id, 'vip');
  const missing = await get(`${base}/api/v1/queues/nope`);
  t.equal(missing.status, 404);
  t.equal(missing.body.error.code, 'API_ERR_NOT_FOUND');
  const bad = await get(`${base}/api/v1/queues/${encodeURIComponent('a b')}`);
  t.equal(bad.status, 400);
  t.equal(bad.body.error.code, 'API_ERR_VALIDATION');
  t.match(bad.body.error.message, /^params\.id: /);
  const extra = await get(`${base}/api/v1/queues?verbose=1`);
  t.equal(extra.status, 400, 'unknown query parameters are refused');
});

t.test('agents: list, one, status changes', async (t) => {
  const { base, engine } = await withApi(t);
  const list = await get(`${base}/api/v1/agents`);
  t.same(list.body.items.map((a: { id: string }) => a.id), ['1001', '1002', '1003']);
  t.same(list.body.items[0], {
    id: '1001', name: 'Agent 1001', registered: true, status: 'available', pendingStatus: null, reason: null, state: 'on_call',
    callId: 'c-1', skills: { orders: 3 }, callsHandled: 0, talkTimeMs: 0,
  });
  t.equal((await get(`${base}/api/v1/agents/1003`)).body.status, 'logged_out');
  t.equal((await get(`${base}/api/v1/agents/9999`)).status, 404);

  const url = `${base}/api/v1/agents/1002/status`;
  const ok = await post(url, JSON.stringify({ status: 'not_ready', reason: 'lunch' }));
  t.equal(ok.status, 200);
  t.equal(ok.body.status, 'not_ready');
  t.equal(ok.body.reason, 'lunch');
  t.equal(engine.agent('1002')?.status, 'notReady', 'reached the engine in ACD words');
  t.equal((await post(url, JSON.stringify({ status: 'logged_out' }))).body.status, 'logged_out');

  const unknown = await post(`${base}/api/v1/agents/9999/status`, JSON.stringify({ status: 'available' }));
  t.equal(unknown.status, 404);
  t.same(unknown.body.error.code, 'DESK_ERR_UNKNOWN_AGENT', 'the desk code goes through');
  t.notOk(engine.agent('1003')?.registered);
  for (const status of ['available', 'not_ready']) {
    const conflict = await post(`${base}/api/v1/agents/1003/status`, JSON.stringify({ status }));
    t.equal(conflict.status, 409, `${status} without a phone`);
    t.equal(conflict.body.error.code, 'DESK_ERR_NOT_REGISTERED');
  }
  t.equal(engine.agent('1003')?.status, 'loggedOut', 'the real desk refused: still logged out');

  for (const [body, why] of [
    ['{"status":"busy"}', 'unknown status'],
    ['{"status":"available","extra":1}', 'unknown field'],
    ['{"status":"not_ready","reason":""}', 'empty reason'],
    ['{}', 'missing status'],
    ['{"status":', 'malformed JSON'],
    ['[]', 'not an object'],
  ] as const) {
    const r = await post(url, body);
    t.equal(r.status, 400, why);
    t.equal(r.body.error.code, 'API_ERR_VALIDATION', why);
  }
  const noAuth = await post(url, '{"status":"available"}', { 'content-type': 'application/json' });
  t.equal(noAuth.status, 401);
  t.equal(engine.agent('1002')?.status, 'loggedOut', 'refused requests changed nothing');
});

t.test('calls in progress', async (t) => {
  const { base, engine } = await withApi(t);
  const r = await get(`${base}/api/v1/calls`);
  t.equal(r.status, 200);
  t.same(r.body.items, engine.callList);
});

t.test('callbacks: filters, paging, total', async (t) => {
  const { base, engine } = await withApi(t);
  engine.callbackList = [
    callbackTask({ id: 1, status: 'open' }),
    callbackTask({ id: 2, status: 'claimed', queue: 'vip' }),
    callbackTask({ id: 3, status: 'done' }),
    callbackTask({ id: 4, status: 'open' }),
  ];
  const all = await get(`${base}/api/v1/callbacks`);
  t.same(all.body.items.map((c: { id: number }) => c.id), [1, 2, 3, 4]);
  t.same({ ...all.body, items: undefined }, { items: undefined, limit: 100, offset: 0, hasMore: false, total: 4 });

  const open = await get(`${base}/api/v1/callbacks?status=open,claimed&limit=2`);
  t.same(open.body.items.map((c: { id: number }) => c.id), [1, 2]);
  t.equal(open.body.hasMore, true);
  t.equal(open.body.total, 3);
  t.same(engine.callbackFilters.at(-1), { status: ['open', 'claimed'], limit: 3, offset: 0 }, 'asks one more to learn hasMore');
  const next = await get(`${base}/api/v1/callbacks?status=open,claimed&limit=2&offset=2`);
  t.same(next.body.items.map((c: { id: number }) => c.id), [4]);
  t.equal(next.body.hasMore, false);
  const vip = await get(`${base}/api/v1/callbacks?queue=vip`);
  t.same(vip.body.items.map((c: { id: number }) => c.id), [2]);

  for (const q of ['status=opened', 'status=open,', 'limit=0', 'limit=1001', 'limit=ten', 'offset=-1', 'sort=id', 'queue=a%20b', 'limit=1&limit=2']) {
    const r = await get(`${base}/api/v1/callbacks?${q}`);
    t.equal(r.status, 400, q);
    t.equal(r.body.error.code, 'API_ERR_VALIDATION', q);
  }
});

t.test('cdrs: filters passed through, 501 without a CDR store', async (t) => {
  const { base, engine } = await withApi(t);
  const cdr = (callId: string, arrivedAt: number, outcome: Cdr['outcome']): Cdr => ({
    contractVersion: 1, callId, caller: '+41790000001', dialled: '100', programme: null, airing: null, queue: 'orders', agent: null,
    customerId: null, outcome, arrivedAt, ivrExitAt: null, queuedAt: null, offeredAt: null, answeredAt: null, endedAt: arrivedAt + 1000,
    wrapUpEndAt: null, waitMs: 1000, talkMs: 0, wrapUpMs: 0, offers: 0, releasedBy: 'caller', callbackId: null,
  });
  engine.cdrList = [cdr('a', Date.parse('2025-01-02T00:00:00Z'), 'answered'), cdr('b', Date.parse('2024-12-31T00:00:00Z'), 'abandoned_queue')];
  const iso = await get(`${base}/api/v1/cdrs?since=2025-01-01T00:00:00Z`);
  t.equal(iso.status, 200);
  t.same(iso.body.items.map((c: Cdr) => c.callId), ['a']);
  t.same(engine.cdrQueries.at(-1), { since: Date.parse('2025-01-01T00:00:00Z'), limit: 101, offset: 0 });
  const ms = await get(`${base}/api/v1/cdrs?since=${Date.parse('2024-01-01T00:00:00Z')}&outcome=abandoned_queue&queue=orders&limit=1`);
  t.same(ms.body.items.map((c: Cdr) => c.callId), ['b']);
  t.same(engine.cdrQueries.at(-1), { since: Date.parse('2024-01-01T00:00:00Z'), outcome: 'abandoned_queue', queue: 'orders', limit: 2, offset: 0 });
  for (const q of ['since=yesterday', 'since=2025-13-01T00:00:00Z', 'outcome=lost', 'limit=-5']) {
    t.equal((await get(`${base}/api/v1/cdrs?${q}`)).status, 400, q);
  }
  engine.cdrs = undefined;
  const none = await get(`${base}/api/v1/cdrs`);
  t.equal(none.status, 501);
  t.equal(none.body.error.code, 'API_ERR_NOT_IMPLEMENTED');
});

t.test('metrics endpoint serves the registry', async (t) => {
  const engine = new FakeEngine(createMetrics({ defaultMetrics: false }));
  engine.metrics.setSources({ acd: () => engine.snapshot });
  const { base } = await withApi(t, engine);
  engine.metrics.sipMessage('in', 'INVITE');
  const r = await get(`${base}/metrics`, {});
  t.equal(r.status, 200);
  t.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  t.match(r.body, /^onair_sip_messages_total\{direction="in",method="INVITE",status="request"\} 1$/m);
  t.match(r.body, /^onair_queue_waiting\{queue="orders"\} 3$/m);
  t.match(r.body, /^onair_api_event_clients 0$/m, 'the server feeds the client count');
});

t.test('events: auth, hello, queue figures, filters', async (t) => {
  const { api, base, engine } = await withApi(t, new FakeEngine(), { events: { queueUpdateMs: 0 } });
  const ws = base.replace('http', 'ws') + '/api/v1/events';
  await t.rejects(connectEvents(ws), /HTTP 401/, 'no token');
  await t.rejects(connectEvents(`${ws}?token=wrong`), /HTTP 401/);
  await t.rejects(connectEvents(`${ws}?token=${TOKEN}&agent=9999`), /HTTP 404/, 'unknown agent');
  await t.rejects(connectEvents(`${ws}?token=${TOKEN}&agent=a%20b`), /HTTP 400/, 'invalid agent id');
  t.equal((await get(ws.replace('ws', 'http'))).status, 426, 'plain HTTP is told to upgrade');

  const clients: EventClient[] = [];
  t.teardown(() => { for (const c of clients) c.close(); });
  const all = await connectEvents(ws, AUTH);
  const mine = await connectEvents(`${ws}?token=${TOKEN}&agent=1001`);
  clients.push(all, mine);
  t.same(await all.waitFor((m) => m.type === 'hello'), { type: 'hello', at: all.messages[0]!.at, agent: null });
  t.same((await mine.waitFor((m) => m.type === 'hello')).agent, '1001');
  t.equal(api.eventClients, 2);

  engine.emit({ type: 'call.queued', at: 1, callId: 'c-5', queue: 'orders', caller: '+4179', dialled: '100', position: 4, priority: 0 });
  engine.emit(offered('1002', 'c-5'));
  engine.emit(offered('1001', 'c-6'));
  engine.emit({ type: 'agent.state', at: 2, agentId: '1001', status: 'available', state: 'reserved', reason: null });
  engine.emit({ type: 'call.answered', at: 3, callId: 'c-6', agentId: '1001', queue: 'orders', waitMs: 12_000 });
  engine.emit({ type: 'call.ended', at: 4, callId: 'c-6', agentId: '1001', queue: 'orders', outcome: 'answered', releasedBy: 'agent' });
  engine.emit({ type: 'callback.created', at: 5, callbackId: 7, callId: 'c-8', caller: '+4178', queue: 'orders' });
  await all.waitFor((m) => m.type === 'callback.created');
  await mine.waitFor((m) => m.type === 'call.ended');
  engine.emit({ type: 'agent.state', at: 6, agentId: '1001', status: 'notReady', state: 'wrapUp', reason: 'paperwork' });
  await mine.waitFor((m) => m.type === 'agent.state' && m.at === 6);
  await all.waitFor((m) => m.type === 'agent.state' && m.at === 6);

  t.same(all.messages.slice(1).map((m) => m.type),
    ['call.queued', 'call.offered', 'call.offered', 'agent.state', 'call.answered', 'call.ended', 'callback.created', 'agent.state']);
  t.same(mine.messages.slice(1).map((m) => `${m.type}:${String(m.callId ?? m.agentId)}`),
    ['call.offered:c-6', 'agent.state:1001', 'call.answered:c-6', 'call.ended:c-6', 'agent.state:1001'],
    'the agent sees its own offers only, and no unanswered calls');
  const pop = mine.messages[1]!;
  t.same((pop.customer as { name: string; screenPop: unknown }).name, 'Ada', 'screen pop arrives with the offer');
  t.same((pop.customer as { screenPop: unknown }).screenPop, { lastOrder: 'kettle' });
  t.same(mine.messages.at(-1), { type: 'agent.state', at: 6, agentId: '1001', status: 'not_ready', state: 'wrap_up', reason: 'paperwork' },
    'agent words on the wire');

  mine.close();
  await mine.closed;
  for (let i = 0; i < 100 && api.eventClients !== 1; i++) await tick();
  t.equal(api.eventClients, 1, 'a closed client leaves the hub');
});

t.test('events: queue updates on connect and when figures change', async (t) => {
  const { base, engine } = await withApi(t, new FakeEngine(), { events: { queueUpdateMs: 20 } });
  const c = await connectEvents(base.replace('http', 'ws') + '/api/v1/events', AUTH);
  t.teardown(() => c.close());
  const first = await c.waitFor((m) => m.type === 'queue.update' && (m.queue as { id: string }).id === 'vip');
  t.same((first.queue as { ewtMs: unknown }).ewtMs, null);
  const seen = c.messages.length;
  engine.snapshot = { ...engine.snapshot, queues: engine.snapshot.queues.map((q) => (q.queueId === 'orders' ? { ...q, waiting: 9 } : q)) };
  const update = await c.waitFor((m) => m.type === 'queue.update', seen);
  t.equal((update.queue as { id: string; waiting: number }).id, 'orders', 'only the queue that changed');
  t.equal((update.queue as { waiting: number }).waiting, 9);
});

t.test('events: a slow consumer is dropped, the others go on', async (t) => {
  const engine = new FakeEngine();
  const { api, base } = await withApi(t, engine, { events: { maxBufferedBytes: 64 * 1024, queueUpdateMs: 0 } });
  const fast = await connectEvents(base.replace('http', 'ws') + '/api/v1/events', AUTH);
  t.teardown(() => fast.close());

  // A raw client that completes the handshake and then never reads.
  const slow = net.connect(api.port, '127.0.0.1');
  t.teardown(() => slow.destroy());
  slow.on('error', () => {});
  await new Promise<void>((resolve) => {
    slow.once('data', (d) => { t.match(d.toString('latin1'), /^HTTP\/1\.1 101/); slow.pause(); resolve(); });
    slow.write(`GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${`Authorization: Bearer ${TOKEN}`}\r\n\r\n`);
  });
  for (let i = 0; i < 100 && api.eventClients !== 2; i++) await tick();
  t.equal(api.eventClients, 2);

  const big = offered('1002', 'c-big');
  if (big.type === 'call.offered') big.customer.screenPop = { notes: 'x'.repeat(16 * 1024) };
  let sent = 0;
  // Kernel socket buffers absorb megabytes first; publish until the hub gives up on the reader.
  for (let round = 0; round < 5000 && api.eventClients === 2; round++) {
    for (let i = 0; i < 50; i++, sent++) engine.emit(big);
    await tick();
  }
  t.equal(api.eventClients, 1, `slow client dropped after ${sent} events`);
  const metrics = await engine.metrics.render();
  t.match(metrics, /^onair_api_event_clients_dropped_total 1$/m);
  engine.emit({ type: 'agent.state', at: 42, agentId: '1002', status: 'available', state: 'idle', reason: null });
  const last = await fast.waitFor((m) => m.type === 'agent.state' && m.at === 42);
  t.ok(last, 'the fast client still receives events');
  t.equal(fast.messages.filter((m) => m.type === 'call.offered').length, sent, 'and got every event before');
});

t.test('events: connections beyond maxClients are refused before the upgrade', async (t) => {
  const { api, base } = await withApi(t, new FakeEngine(), { events: { maxClients: 1, queueUpdateMs: 0 } });
  const ws = base.replace('http', 'ws') + '/api/v1/events';
  const first = await connectEvents(ws, AUTH);
  t.teardown(() => first.close());
  await t.rejects(connectEvents(ws, AUTH), /HTTP 503/);
  t.equal(api.eventClients, 1);
  first.close();
  await first.closed;
  for (let i = 0; i < 100 && api.eventClients !== 0; i++) await tick();
  const again = await connectEvents(ws, AUTH);
  t.teardown(() => again.close());
  t.ok(await again.waitFor((m) => m.type === 'hello'), 'room again once the first left');
});

t.test('close: idempotent, unsubscribes, closes event clients', async (t) => {
  const engine = new FakeEngine();
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [], openPaths: [] });
  t.teardown(() => api.close());
  t.equal(engine.listenerCount, 1);
  const c = await connectEvents(`ws://127.0.0.1:${api.port}/api/v1/events`);
  await c.waitFor((m) => m.type === 'hello');
  await Promise.all([api.close(), api.close()]);
  await api.close();
  await c.closed;
  t.equal(engine.listenerCount, 0);
  await t.rejects(fetch(`http://127.0.0.1:${api.port}/healthz`), 'no longer listening');
});

t.test('a listen failure leaves nothing behind', async (t) => {
  const engine = new FakeEngine();
  const first = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [], openPaths: [] });
  t.teardown(() => first.close());
  await t.rejects(startApi(engine, { address: '127.0.0.1', port: first.port, tokens: [], openPaths: [] }), { code: 'EADDRINUSE' });
  t.equal(engine.listenerCount, 1, 'only the first server listens to events');
});
