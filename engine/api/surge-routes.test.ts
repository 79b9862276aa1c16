/**
 * Surge mode's routes and event through the real API server, the real user directory and audit
 * log (SQLite) and the real `SurgeMode` on a fake clock (its skills port records): who may read
 * and override it, the override switches at once and is audited with its reason, the `surge`
 * event reaches a supervisor's stream and never an agent's.
 */
import t, { type Test } from 'tap';
import { setImmediate as tick } from 'node:timers/promises';
import { AuditLog } from '../audit/index.ts';
import { FakeClock } from '../clock/index.ts';
import { SurgeMode, type Airing, type Programme } from '../reports/index.ts';
import { openStore } from '../store/index.ts';
import { UserDirectory } from '../users/index.ts';
import { startApi } from './server.ts';
import { FakeEngine, connectEvents } from './testkit.ts';

const M = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12);
const TOKEN = 'integration-token-123456';
const show: Programme = { id: 'wok', name: 'Wok', products: [], surge: { leadMinutes: 10, queue: 'orders', level: 40, agents: ['1003'] } };
const airings: Airing[] = [{ id: 'wok-1', programme: 'wok', channel: 'c', start: T0 + 60 * M, end: T0 + 120 * M, numbers: ['100'], expectedCalls: null, products: [] }];

async function rig(t: Test) {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const users = await UserDirectory.open(store.db, store.writer, [
    { username: '1003', role: 'agent', agentId: '1003', name: null, password: 'pw-1003' },
    { username: 'boss', role: 'supervisor', agentId: null, name: null, password: 'pw-boss' },
    { username: 'root', role: 'admin', agentId: null, name: null, password: 'pw-root' },
  ], new Set(['1001', '1002', '1003']), {
    sessions: { idleMs: 3_600_000, maxAgeMs: 3_600_000 },
    accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 },
    sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
  });
  const engine = new FakeEngine();
  const audit = AuditLog.open(store.db, store.writer);
  engine.audit = audit;
  const clock = new FakeClock(T0);
  const set: Array<[string, Record<string, number>]> = [];
  const surge = new SurgeMode({
    schedule: { programmes: () => [show], airings: () => airings }, tailMs: 30 * M, clock,
    skills: { setSkills: (a, s) => { set.push([a, s]); } }, baseSkills: (a) => engine.acd.inspectAgent(a)?.skills ?? {},
    onSwitch: (e) => engine.emit(e),
  });
  surge.refresh();
  engine.surge = surge;
  const api = await startApi(engine, {
    address: '127.0.0.1', port: 0, tokens: [{ token: TOKEN, scopes: ['read'] }], openPaths: ['/healthz'], users, maskNumbersFor: ['agent'],
    desktop: { timeZone: 'Asia/Shanghai', language: 'zh-CN', notReadyReasons: [{ code: 'lunch', en: 'Lunch', zh: '午餐' }] },
  });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const cookie = async (username: string, password: string): Promise<string> => {
    const r = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    return (r.headers.get('set-cookie') ?? '').split(';')[0]!;
  };
  const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: any }> => {
    const r = await fetch(`${base}${path}`, { method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await r.text();
    return { status: r.status, body: text === '' ? null : JSON.parse(text) };
  };
  return { base, clock, set, call, cookie };
}

t.test('override through the API: staff only, switches at once, audited with the reason; the event reaches staff, not agents', async (t) => {
  const { base, clock, set, call, cookie } = await rig(t);
  const agent = { cookie: await cookie('1003', 'pw-1003') };
  const boss = { cookie: await cookie('boss', 'pw-boss') };
  const root = { cookie: await cookie('root', 'pw-root') };
  t.equal((await call('GET', '/api/v1/surge', agent)).status, 403, 'an agent may not read it');
  t.equal((await call('POST', '/api/v1/surge', agent, { action: 'start', reason: 'x' })).status, 403, 'nor override it');
  t.equal((await call('POST', '/api/v1/surge', { authorization: `Bearer ${TOKEN}` }, { action: 'start', reason: 'x' })).status, 403, 'a read token may not override');
  t.equal((await call('GET', '/api/v1/surge', { authorization: `Bearer ${TOKEN}` })).status, 200, 'but may read');
  t.match(await call('GET', '/api/v1/surge', boss), { status: 200, body: { active: [], holds: [], campaignsPaused: false } });
  t.equal((await call('POST', '/api/v1/surge', boss, { action: 'start' })).status, 400, 'a reason is required');
  t.equal((await call('POST', '/api/v1/surge', boss, { action: 'go', reason: 'x' })).status, 400);
  t.match(await call('POST', '/api/v1/surge', boss, { action: 'start', airing: 'nope', reason: 'x' }), { status: 404, body: { error: { code: 'API_ERR_NOT_FOUND' } } });

  const ws = base.replace('http', 'ws') + '/api/v1/events';
  const agentStream = await connectEvents(ws, agent);
  t.teardown(() => agentStream.close());
  const staffStream = await connectEvents(ws, boss);
  t.teardown(() => staffStream.close());
  await staffStream.waitFor((m) => m.type === 'hello');
  await agentStream.waitFor((m) => m.type === 'hello');

  const started = await call('POST', '/api/v1/surge', boss, { action: 'start', airing: 'wok-1', reason: 'the host starts early' });
  t.match(started, { status: 200, body: { active: [{ airing: 'wok-1', queue: 'orders', until: null, held: true }], holds: [{ state: 'on', airing: 'wok-1', by: 'boss', note: 'the host starts early' }], campaignsPaused: true } });
  t.same(set, [['1003', { orders: 40, vip: 2 }]], "1003 got the orders skill at the surge level at once (its own vip kept)");
  t.match(await staffStream.waitFor((m) => m.type === 'surge'), {
    type: 'surge', state: 'on', airing: 'wok-1', programme: 'wok', queue: 'orders', agents: ['1003'], reason: 'override', until: null, campaignsPaused: true,
  }, "the supervisor's stream got the switch");

  // The window passes (airing end + 30 min tail): the hold keeps the surge on.
  clock.advanceTo(T0 + 200 * M);
  t.equal(set.length, 1, 'held against the schedule');
  const released = await call('POST', '/api/v1/surge', root, { action: 'release', reason: 'show over' });
  t.match(released, { status: 200, body: { active: [], holds: [], campaignsPaused: false } });
  t.same(set[1], ['1003', { orders: 1, vip: 2 }], 'back to its own skills');
  await staffStream.waitFor((m) => m.type === 'surge' && m['state'] === 'off');
  await tick();
  t.same(agentStream.messages.filter((m) => m.type === 'surge'), [], "an agent's stream never carries a surge event");

  const log = await call('GET', '/api/v1/audit?limit=50', root);
  t.match(log.body.items.filter((e: { action: string }) => e.action.startsWith('surge.')).map((e: { action: string; actor: string; target: string; detail: { reason: string } }) => [e.action, e.actor, e.target, e.detail.reason]).sort(),
    [['surge.release', 'root', 'all', 'show over'], ['surge.start', 'boss', 'wok-1', 'the host starts early']], 'each override audited: who, what, why');
});
