/**
 * Users and roles through the real API server (engine/api) and the real user directory
 * (engine/users on SQLite): sign-in and its cookie, what an agent may and may not reach, masking,
 * the event stream's role check, sign-out, and lockout per account and per source.
 */
import t, { type Test } from 'tap';
import { setImmediate as tick } from 'node:timers/promises';
import { openStore } from '../store/index.ts';
import { UserDirectory, type AccountSeed } from '../users/index.ts';
import { startApi } from './server.ts';
import { FakeEngine, connectEvents } from './testkit.ts';
import type { CtiEvent } from './types.ts';

const TOKEN = 'integration-token-123456';
const SEEDS: AccountSeed[] = [
  { username: '1001', role: 'agent', agentId: '1001', name: 'Agent One', password: 'pw-1001' },
  { username: '1002', role: 'agent', agentId: '1002', name: 'Agent Two', password: 'pw-1002' },
  { username: 'boss', role: 'supervisor', agentId: null, name: 'Boss', password: 'pw-boss' },
];

async function withUsers(t: Test, lockout = { account: 3, source: 50 }): Promise<{ base: string; engine: FakeEngine; port: number }> {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const users = await UserDirectory.open(store.db, store.writer, SEEDS, new Set(['1001', '1002', '1003']), {
    sessions: { idleMs: 3_600_000, maxAgeMs: 3_600_000 },
    accountLockout: { maxFailures: lockout.account, windowMs: 60_000, lockMs: 60_000 },
    sourceLockout: { maxFailures: lockout.source, windowMs: 60_000, lockMs: 60_000 },
  });
  const engine = new FakeEngine();
  const api = await startApi(engine, {
    address: '127.0.0.1', port: 0, tokens: [TOKEN], openPaths: ['/healthz', '/metrics'], users, maskNumbersFor: ['agent'],
    desktop: { timeZone: 'Asia/Shanghai', language: 'zh-CN', notReadyReasons: [{ code: 'lunch', en: 'Lunch', zh: '午餐' }] },
  });
  t.teardown(() => api.close());
  return { base: `http://127.0.0.1:${api.port}`, engine, port: api.port };
}

async function signIn(base: string, username: string, password: string): Promise<{ status: number; cookie: string; setCookie: string; body: any }> {
  const r = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  const setCookie = r.headers.get('set-cookie') ?? '';
  return { status: r.status, cookie: setCookie.split(';')[0] ?? '', setCookie, body: await r.json() };
}

async function call(base: string, method: string, path: string, cookie: string, body?: unknown, extra: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}${path}`, {
    method, headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...extra },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  return { status: r.status, body: text === '' ? null : JSON.parse(text) };
}

function offered(agentId: string, callId: string): CtiEvent {
  return {
    type: 'call.offered', at: 1_700_000_000_000, callId, agentId, queue: 'orders', caller: '13812345678', dialled: '100',
    programme: 'morning-show', attempt: 1, variables: {},
    customer: { known: true, customerId: 'c', name: 'Ada', vipLevel: 0, blacklisted: false, strikes: 0, preferredAgent: null, language: null, lowCredit: false, screenPop: {} },
  };
}

t.test('sign-in sets an HttpOnly SameSite=Strict cookie; the session says who and what role', async (t) => {
  const { base } = await withUsers(t);
  const bad = await signIn(base, '1001', 'wrong');
  t.equal(bad.status, 401);
  t.equal(bad.body.error.code, 'USERS_ERR_BAD_CREDENTIALS');
  t.equal(bad.setCookie, '', 'no cookie on a refusal');
  const unknown = await signIn(base, 'nobody', 'pw-1001');
  t.same(unknown.body, bad.body, 'an unknown user gets the same answer as a wrong password');

  const ok = await signIn(base, '1001', 'pw-1001');
  t.equal(ok.status, 200);
  t.match(ok.setCookie, /^onair_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  t.match(ok.body, { user: { username: '1001', role: 'agent', agentId: '1001' }, via: 'user', masked: true, desktop: { timeZone: 'Asia/Shanghai' } });
  const me = await call(base, 'GET', '/api/v1/session', ok.cookie);
  t.match(me.body, { user: { username: '1001', role: 'agent' } });
  t.equal((await call(base, 'GET', '/api/v1/session', '')).status, 401, 'no cookie: not signed in');
  t.equal((await call(base, 'GET', '/api/v1/queues', 'onair_session=' + 'x'.repeat(43))).status, 401, 'a made-up token is nobody');
  t.equal((await signIn(base, 'BOSS', 'pw-boss')).status, 200, 'user names are case-insensitive');
});

t.test('an agent sees and changes only its own agent and calls; 403 for the rest', async (t) => {
  const { base, engine } = await withUsers(t);
  engine.callList.push({ ...engine.callList[0]!, callId: 'c-2', agent: '1002', caller: '13900001111' });
  const { cookie } = await signIn(base, '1001', 'pw-1001');

  const agents = await call(base, 'GET', '/api/v1/agents', cookie);
  t.same(agents.body.items.map((a: { id: string }) => a.id), ['1001'], 'the list holds the agent alone');
  t.equal((await call(base, 'GET', '/api/v1/agents/1001', cookie)).status, 200);
  const other = await call(base, 'GET', '/api/v1/agents/1002', cookie);
  t.equal(other.status, 403);
  t.equal(other.body.error.code, 'API_ERR_FORBIDDEN');
  t.equal((await call(base, 'POST', '/api/v1/agents/1002/status', cookie, { status: 'logged_out' })).status, 403, "cannot change another agent's status");
  t.equal(engine.agent('1002')?.status, 'available', 'and the other agent is unchanged');

  const calls = await call(base, 'GET', '/api/v1/calls', cookie);
  t.same(calls.body.items.map((c: { callId: string; caller: string }) => [c.callId, c.caller]), [['c-1', '+41*****4567']], 'own calls only, caller masked');
  for (const path of ['/api/v1/callbacks', '/api/v1/cdrs']) {
    t.equal((await call(base, 'GET', path, cookie)).status, 403, `${path}: staff only`);
  }

  t.equal((await call(base, 'POST', '/api/v1/agents/1001/status', cookie, { status: 'not_ready', reason: 'smoking' })).status, 400, 'a reason outside the list is refused');
  t.equal((await call(base, 'POST', '/api/v1/agents/1001/status', cookie, { status: 'not_ready' })).status, 400, 'a person gives a reason');
  const nr = await call(base, 'POST', '/api/v1/agents/1001/status', cookie, { status: 'not_ready', reason: 'lunch' });
  t.equal(nr.status, 200);
  t.match(nr.body, { id: '1001', pendingStatus: 'not_ready' }, 'on a call: applied after wrap-up');

  const cross = await call(base, 'GET', '/api/v1/agents/1001', cookie, undefined, { origin: 'http://evil.example' });
  t.equal(cross.status, 403, 'a cookie from another origin is refused');
});

t.test('a supervisor and an integration token see everything, unmasked', async (t) => {
  const { base } = await withUsers(t);
  const { cookie } = await signIn(base, 'boss', 'pw-boss');
  t.equal((await call(base, 'GET', '/api/v1/agents', cookie)).body.items.length, 3);
  t.equal((await call(base, 'GET', '/api/v1/agents/1002', cookie)).status, 200);
  t.equal((await call(base, 'GET', '/api/v1/callbacks', cookie)).status, 200);
  t.equal((await call(base, 'GET', '/api/v1/calls', cookie)).body.items[0].caller, '+41791234567');
  const token = await fetch(`${base}/api/v1/agents/1002`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(token.status, 200, 'integration tokens keep working');
  t.equal((await fetch(`${base}/api/v1/agents`)).status, 401, 'nothing presented: 401, users make the API closed');
});

t.test("the event stream: an agent gets its own events, masked, and is refused another agent's", async (t) => {
  const { base, engine } = await withUsers(t);
  const { cookie } = await signIn(base, '1001', 'pw-1001');
  const ws = base.replace('http', 'ws') + '/api/v1/events';
  await t.rejects(connectEvents(`${ws}?agent=1002`, { cookie }), /HTTP 403/);
  await t.rejects(connectEvents(ws), /HTTP 401/, 'no cookie, no stream');
  const own = await connectEvents(ws, { cookie });
  t.teardown(() => own.close());
  const boss = await connectEvents(ws, { cookie: (await signIn(base, 'boss', 'pw-boss')).cookie });
  t.teardown(() => boss.close());
  t.match(await own.waitFor((m) => m.type === 'hello'), { agent: '1001' }, 'the stream is filtered on the agent even unasked');
  engine.emit(offered('1002', 'x-2'));
  engine.emit(offered('1001', 'x-1'));
  const mine = await own.waitFor((m) => m.type === 'call.offered');
  t.match(mine, { callId: 'x-1', caller: '138****5678' }, "the agent's own offer, masked; the other agent's never came first");
  t.match(await boss.waitFor((m) => m.type === 'call.offered' && m['callId'] === 'x-1'), { caller: '13812345678' }, 'the supervisor sees the number');
  await tick();
  t.same(own.messages.filter((m) => m.type === 'call.offered').map((m) => m['callId']), ['x-1']);
});

t.test('sign-out ends the session', async (t) => {
  const { base } = await withUsers(t);
  const { cookie } = await signIn(base, '1002', 'pw-1002');
  t.equal((await call(base, 'GET', '/api/v1/agents/1002', cookie)).status, 200);
  const out = await fetch(`${base}/api/v1/session`, { method: 'DELETE', headers: { cookie } });
  t.equal(out.status, 204);
  t.match(out.headers.get('set-cookie'), /^onair_session=; .*Max-Age=0/);
  t.equal((await call(base, 'GET', '/api/v1/agents/1002', cookie)).status, 401, 'the old cookie is nobody now');
});

t.test('lockout: per account after N failures (even the right password), and per source', async (t) => {
  const { base } = await withUsers(t, { account: 3, source: 6 });
  for (let i = 0; i < 3; i++) t.equal((await signIn(base, '1001', `guess-${i}`)).status, 401, `failure ${i + 1} tolerated`);
  const locked = await signIn(base, '1001', 'guess-4');
  t.equal(locked.status, 429);
  t.equal(locked.body.error.code, 'USERS_ERR_LOCKED');
  t.equal((await signIn(base, '1001', 'pw-1001')).status, 429, 'the right password does not open a locked account');
  t.equal((await signIn(base, '1002', 'pw-1002')).status, 200, 'another account from the same address still signs in');
  // The source: three more failures on other accounts exceed its 6.
  for (let i = 0; i < 2; i++) t.equal((await signIn(base, 'boss', `guess-${i}`)).status, 401);
  t.equal((await signIn(base, 'nobody', 'x')).status, 429, 'the seventh failure from this address blocks it');
  t.equal((await signIn(base, 'boss', 'pw-boss')).status, 429, 'every account from a blocked address is refused');
});
