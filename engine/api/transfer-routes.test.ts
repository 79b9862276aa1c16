/**
 * Transfer, hold and consultation routes through the real API server and the real user directory,
 * with the engine's side recorded: input validated (never a throw), an agent acts on its own call
 * only, staff on any, a scoped token needs `calls`, refusals mapped to HTTP, every attempt audited.
 */
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { openStore } from '../store/index.ts';
import { UserDirectory, type AccountSeed } from '../users/index.ts';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';
import type { AuditSink } from './recording-routes.ts';
import type { TransferRoutesDeps, TransferTarget } from './transfer-routes.ts';

const SEEDS: AccountSeed[] = [
  { username: '1001', role: 'agent', agentId: '1001', name: 'Agent One', password: 'pw-1001' },
  { username: 'boss', role: 'supervisor', agentId: null, name: 'Boss', password: 'pw-boss' },
  { username: 'lead-a', role: 'supervisor', agentId: null, name: 'Lead A', password: 'pw-lead', teams: ['a'] },
];

async function setup(t: Test) {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const users = await UserDirectory.open(store.db, store.writer, SEEDS, new Set(['1001', '1002']), {
    sessions: { idleMs: 3_600_000, maxAgeMs: 3_600_000 },
    accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 },
    sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
  });
  const owners: Record<string, string> = { 'ca-1': '1001', 'cb-2': '1002' };
  const asked: string[] = [];
  const audits: Parameters<AuditSink['record']>[0][] = [];
  const callControl: TransferRoutesDeps = {
    transfer: async (id: string, to: TransferTarget) => {
      asked.push(`${id}:${JSON.stringify(to)}`);
      if (!Object.hasOwn(owners, id)) return { ok: false, code: 'CALLS_ERR_NO_CALL', message: 'no call' };
      if ('queue' in to && to.queue === 'orders') return { ok: false, code: 'CALLS_ERR_LOOP', message: 'in orders already' };
      if ('number' in to) return { ok: false, code: 'CALLS_ERR_NO_PHONE', message: 'no trunk' };
      return { ok: true, kind: 'queue' in to ? 'api_queue' : 'api_agent', queue: 'queue' in to ? to.queue : 'orders', agent: 'agent' in to ? to.agent : null, number: null };
    },
    hold: (id, intent) => {
      asked.push(`${id}:${intent}`);
      return Object.hasOwn(owners, id) ? { ok: true, held: intent === 'hold' } : { ok: false, code: 'CALLS_ERR_NO_CALL', message: 'no call' };
    },
    consult: async (id, agent) => {
      asked.push(`${id}:consult:${agent}`);
      if (!Object.hasOwn(owners, id)) return { ok: false, code: 'CALLS_ERR_NO_CALL', message: 'no call' };
      if (agent === owners[id]) return { ok: false, code: 'CALLS_ERR_LOOP', message: 'its own agent' };
      if (agent === '1009') return { ok: false, code: 'CALLS_ERR_MEDIA', message: 'no leg' };
      return { ok: true, agent, state: 'ringing' };
    },
    endConsult: (id, how) => {
      asked.push(`${id}:${how}`);
      if (!Object.hasOwn(owners, id)) return { ok: false, code: 'CALLS_ERR_NO_CALL', message: 'no call' };
      if (id === 'cb-2') return { ok: false, code: 'CALLS_ERR_NO_CONSULT', message: 'no consultation' };
      return { ok: true, agent: '1006', state: how === 'complete' ? 'completed' : 'cancelled' };
    },
    conference: (id, how) => {
      asked.push(`${id}:conference:${how}`);
      if (!Object.hasOwn(owners, id)) return { ok: false, code: 'CALLS_ERR_NO_CALL', message: 'no call' };
      if (id === 'cb-2') return { ok: false, code: how === 'join' ? 'CALLS_ERR_NO_CONSULT' : 'CALLS_ERR_NO_CONFERENCE', message: 'no consultation' };
      return { ok: true, agent: '1006', state: how === 'join' ? 'conference' : 'completed' };
    },
    view: (id) => (Object.hasOwn(owners, id) ? {
      agent: owners[id] ?? null, queue: 'orders', consult: id !== 'ca-1' ? null : {
        agent: '1006', from: '1001', state: 'talking', startedAt: 1, answeredAt: 2, conferenceAt: null, dialog: { callId: 'x1', toTag: 'b', fromTag: 'o' },
        referTo: '<sip:1006@onair.invalid?Replaces=x1%3Bto-tag%3Db%3Bfrom-tag%3Do>',
      },
    } : undefined),
    owner: (id) => (Object.hasOwn(owners, id) ? owners[id] : undefined),
    teamOf: (agentId) => (agentId === '1001' ? 'a' : 'b'),
    audit: { record: (e) => audits.push(e) },
    log: pino({ level: 'silent' }),
  };
  const engine = Object.assign(new FakeEngine(), { callControl });
  const api = await startApi(engine, {
    address: '127.0.0.1', port: 0, tokens: [{ token: 'tok-read', scopes: ['read'] }, { token: 'tok-calls', scopes: ['calls'] }], openPaths: [], users,
  });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const cookie = async (username: string, password: string): Promise<string> => {
    const r = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    return (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };
  const req = async (p: string, who: { cookie?: string; token?: string }, body?: unknown, raw?: string): Promise<{ status: number; json: unknown }> => {
    const headers: Record<string, string> = {};
    if (who.cookie !== undefined) headers['cookie'] = who.cookie;
    if (who.token !== undefined) headers['authorization'] = `Bearer ${who.token}`;
    if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(`${base}${p}`, { method: 'POST', headers, ...(raw !== undefined ? { body: raw } : body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await r.text();
    return { status: r.status, json: text === '' ? null : JSON.parse(text) };
  };
  const get = async (p: string, who: { cookie?: string; token?: string }): Promise<{ status: number; json: unknown }> => {
    const headers: Record<string, string> = {};
    if (who.cookie !== undefined) headers['cookie'] = who.cookie;
    if (who.token !== undefined) headers['authorization'] = `Bearer ${who.token}`;
    const r = await fetch(`${base}${p}`, { headers });
    return { status: r.status, json: await r.json() };
  };
  return { req, get, agent: { cookie: await cookie('1001', 'pw-1001') }, boss: { cookie: await cookie('boss', 'pw-boss') }, lead: { cookie: await cookie('lead-a', 'pw-lead') }, asked, audits };
}

t.test('transfer: input validated, an agent its own call only, refusals mapped, every attempt audited', async (t) => {
  const { req, agent, boss, asked, audits } = await setup(t);
  const bad: unknown[] = [
    {}, { to: {} }, { to: { queue: 'service', agent: '1002' } }, { to: { queue: '' } }, { to: { queue: 'a/b' } }, { to: { number: 'abc' } },
    { to: { number: '1' } }, { to: { queue: 'service' }, mode: 'attended' }, { to: { queue: 'service' }, extra: 1 }, { to: 'service' }, [], null,
    { to: { queue: 'x'.repeat(65) } }, { to: { ['__proto__']: 'x' } },
  ];
  for (const b of bad) t.equal((await req('/api/v1/calls/ca-1/transfer', boss, b)).status, 400, `400 for ${JSON.stringify(b)}`);
  t.equal((await req('/api/v1/calls/ca-1/transfer', boss, undefined, '{"to":')).status, 400, 'malformed JSON: 400');
  t.equal((await req('/api/v1/calls/..%2F/transfer', boss, { to: { queue: 'service' } })).status, 400, 'no call id: 400');
  t.same(asked, [], 'nothing invalid reached the engine');
  t.equal((await req('/api/v1/calls/cb-2/transfer', agent, { to: { queue: 'service' } })).status, 403, 'another agent\'s call: 403');
  t.equal((await req('/api/v1/calls/cz-9/transfer', agent, { to: { queue: 'service' } })).status, 403, 'an agent: no call it does not have');
  t.match(await req('/api/v1/calls/ca-1/transfer', agent, { to: { queue: 'service' } }), { status: 200, json: { kind: 'api_queue', queue: 'service' } }, 'its own call');
  t.match(await req('/api/v1/calls/cb-2/transfer', boss, { to: { agent: '1001' }, mode: 'blind' }), { status: 200, json: { kind: 'api_agent', agent: '1001' } }, 'a supervisor: any call');
  t.equal((await req('/api/v1/calls/cz-9/transfer', boss, { to: { queue: 'service' } })).status, 404);
  t.equal((await req('/api/v1/calls/ca-1/transfer', boss, { to: { queue: 'orders' } })).status, 409);
  t.equal((await req('/api/v1/calls/ca-1/transfer', boss, { to: { number: '+8613800138000' } })).status, 503);
  t.equal((await req('/api/v1/calls/ca-1/transfer', {}, { to: { queue: 'service' } })).status, 401, 'nobody: 401');
  t.match(audits.map((a) => [a.actor, a.action, a.target, a.detail?.['ok']]), [
    ['1001', 'call.transfer', 'ca-1', true], ['boss', 'call.transfer', 'cb-2', true], ['boss', 'call.transfer', 'cz-9', false],
    ['boss', 'call.transfer', 'ca-1', false], ['boss', 'call.transfer', 'ca-1', false],
  ], 'each attempt that reached the engine is audited, with its outcome');
  t.match(audits[3]?.detail, { to: { queue: 'orders' }, code: 'CALLS_ERR_LOOP' });
});

t.test('a supervisor with teams: the calls of its teams\' agents only', async (t) => {
  const { req, lead } = await setup(t);
  t.equal((await req('/api/v1/calls/ca-1/hold', lead)).status, 200, 'agent 1001 is of team a');
  t.equal((await req('/api/v1/calls/cb-2/hold', lead)).status, 403, 'agent 1002 is not');
  t.equal((await req('/api/v1/calls/cb-2/transfer', lead, { to: { queue: 'service' } })).status, 403);
});

t.test('hold and resume: own call, staff, tokens with scope calls only', async (t) => {
  const { req, agent, boss, audits } = await setup(t);
  t.match(await req('/api/v1/calls/ca-1/hold', agent), { status: 200, json: { held: true } });
  t.match(await req('/api/v1/calls/ca-1/resume', agent), { status: 200, json: { held: false } });
  t.equal((await req('/api/v1/calls/cb-2/hold', agent)).status, 403);
  t.equal((await req('/api/v1/calls/cb-2/hold', boss)).status, 200);
  t.equal((await req('/api/v1/calls/ca-1/hold', boss, { music: 'jazz' })).status, 400, 'no body fields');
  t.equal((await req('/api/v1/calls/cz-9/resume', boss)).status, 404);
  t.equal((await req('/api/v1/calls/ca-1/hold', { token: 'tok-read' })).status, 403, 'a read token: 403');
  t.equal((await req('/api/v1/calls/ca-1/hold', { token: 'tok-calls' })).status, 200, 'a calls token');
  t.equal((await req('/api/v1/calls/ca-1/transfer', { token: 'tok-read' }, { to: { queue: 'service' } })).status, 403);
  t.match(audits.map((a) => a.action), ['call.hold', 'call.resume', 'call.hold', 'call.resume', 'call.hold']);
});

t.test('consultation: consult / complete / cancel and the call view, own call only, refusals mapped, audited', async (t) => {
  const { req, get, agent, boss, lead, asked, audits } = await setup(t);
  for (const b of [undefined, {}, { agent: '' }, { agent: 'a/b' }, { agent: '1006', mode: 'x' }, { to: { agent: '1006' } }]) {
    t.equal((await req('/api/v1/calls/ca-1/consult', boss, b)).status, 400, `400 for ${JSON.stringify(b)}`);
  }
  t.equal((await req('/api/v1/calls/ca-1/consult/complete', boss, { now: true })).status, 400, 'complete takes no body');
  t.same(asked, [], 'nothing invalid reached the engine');
  t.equal((await req('/api/v1/calls/cb-2/consult', agent, { agent: '1006' })).status, 403, 'another agent\'s call: 403');
  t.equal((await req('/api/v1/calls/cb-2/consult', lead, { agent: '1006' })).status, 403, 'not of the supervisor\'s teams');
  t.equal((await req('/api/v1/calls/ca-1/consult', { token: 'tok-read' }, { agent: '1006' })).status, 403, 'a read token: 403');
  t.match(await req('/api/v1/calls/ca-1/consult', agent, { agent: '1006' }), { status: 200, json: { agent: '1006', state: 'ringing' } }, 'its own call');
  t.equal((await req('/api/v1/calls/ca-1/consult', agent, { agent: '1001' })).status, 409, 'its own agent: 409');
  t.equal((await req('/api/v1/calls/ca-1/consult', boss, { agent: '1009' })).status, 503, 'no media: 503');
  t.equal((await req('/api/v1/calls/cz-9/consult', boss, { agent: '1006' })).status, 404);
  t.match(await req('/api/v1/calls/ca-1/consult/complete', agent), { status: 200, json: { agent: '1006', state: 'completed' } });
  t.match(await req('/api/v1/calls/ca-1/consult/cancel', { token: 'tok-calls' }), { status: 200, json: { state: 'cancelled' } });
  t.equal((await req('/api/v1/calls/cb-2/consult/cancel', boss)).status, 409, 'no consultation: 409');
  t.equal((await req('/api/v1/calls/cz-9/consult/complete', boss)).status, 404);

  t.match(await get('/api/v1/calls/ca-1', agent), {
    status: 200, json: { callId: 'ca-1', agent: '1001', queue: 'orders', consult: { agent: '1006', state: 'talking', dialog: { callId: 'x1', toTag: 'b', fromTag: 'o' } } },
  }, 'its own call, with the consultation dialog');
  t.match(await get('/api/v1/calls/cb-2', boss), { status: 200, json: { agent: '1002', consult: null } });
  t.equal((await get('/api/v1/calls/cb-2', agent)).status, 403, 'another agent\'s call');
  t.equal((await get('/api/v1/calls/cz-9', boss)).status, 404);
  t.equal((await get('/api/v1/calls/ca-1', {})).status, 401);
  t.match(audits.map((a) => [a.action, a.target, a.detail?.['ok']]), [
    ['call.consult', 'ca-1', true], ['call.consult', 'ca-1', false], ['call.consult', 'ca-1', false], ['call.consult', 'cz-9', false],
    ['call.consult.complete', 'ca-1', true], ['call.consult.cancel', 'ca-1', true], ['call.consult.cancel', 'cb-2', false],
    ['call.consult.complete', 'cz-9', false],
  ], 'every attempt that reached the engine is audited');
  t.match(audits[1]?.detail, { agent: '1001', code: 'CALLS_ERR_LOOP' });
});

t.test('conference: join and leave, own call or the teams\' supervisor, no body, refusals mapped, audited (no route before)', async (t) => {
  const { req, agent, boss, lead, asked, audits } = await setup(t);
  t.equal((await req('/api/v1/calls/ca-1/consult/conference', boss, { with: '1006' })).status, 400, 'join takes no body');
  t.equal((await req('/api/v1/calls/ca-1/conference/leave', boss, { now: true })).status, 400, 'leave takes no body');
  t.same(asked, [], 'nothing invalid reached the engine');
  t.equal((await req('/api/v1/calls/cb-2/consult/conference', agent)).status, 403, 'another agent\'s call: 403');
  t.equal((await req('/api/v1/calls/cb-2/conference/leave', lead)).status, 403, 'not of the supervisor\'s teams');
  t.equal((await req('/api/v1/calls/ca-1/consult/conference', { token: 'tok-read' })).status, 403, 'a read token: 403');
  t.match(await req('/api/v1/calls/ca-1/consult/conference', agent), { status: 200, json: { agent: '1006', state: 'conference' } }, 'its own call');
  t.match(await req('/api/v1/calls/ca-1/conference/leave', lead), { status: 200, json: { agent: '1006', state: 'completed' } }, 'its team\'s supervisor');
  t.equal((await req('/api/v1/calls/cb-2/consult/conference', boss)).status, 409, 'no consultation: 409');
  t.equal((await req('/api/v1/calls/cb-2/conference/leave', boss)).status, 409, 'no conference: 409');
  t.equal((await req('/api/v1/calls/cz-9/consult/conference', boss)).status, 404);
  t.equal((await req('/api/v1/calls/ca-1/consult/conference', {})).status, 401);
  t.match(audits.map((a) => [a.actor, a.action, a.target, a.detail?.['ok']]), [
    ['1001', 'call.conference', 'ca-1', true], ['lead-a', 'call.conference.leave', 'ca-1', true], ['boss', 'call.conference', 'cb-2', false],
    ['boss', 'call.conference.leave', 'cb-2', false], ['boss', 'call.conference', 'cz-9', false],
  ], 'every attempt that reached the engine is audited');
  t.match(audits[2]?.detail, { code: 'CALLS_ERR_NO_CONSULT' });
});
