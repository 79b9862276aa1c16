/**
 * Provisioning and audit routes through the real API server, the real user directory, the real
 * provisioning and audit tables (SQLite) and the test engine's real ACD: who may move an agent
 * into a queue or add one, what the audit log keeps (actor, role, the socket's address) and who
 * may read it.
 */
import t, { type Test } from 'tap';
import { AuditLog } from '../audit/index.ts';
import { Dispositions } from '../calls/index.ts';
import { Provisioning, ProvisioningStore, Roster, type RosterAgent } from '../provisioning/index.ts';
import { Registrar } from '../registrar/index.ts';
import { openStore } from '../store/index.ts';
import { UserDirectory } from '../users/index.ts';
import { startApi } from './server.ts';
import { FakeEngine, connectEvents } from './testkit.ts';

const TOKEN = 'integration-token-123456';
const roster = (): RosterAgent[] => ['1001', '1002', '1003'].map((id, i) => ({
  id, extension: id, password: `p${id}`, name: null, skills: ([{ orders: 3 }, { orders: 3, vip: 5 }, { orders: 1, vip: 2 }] as Record<string, number>[])[i]!, autoReadyOnRegister: false, team: null, maxRegistrations: 3, autoAnswer: false,
}));

async function rig(t: Test, unmaskRoles?: ('agent' | 'supervisor' | 'admin')[]) {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const agents = roster();
  const users = await UserDirectory.open(store.db, store.writer, [
    { username: '1001', role: 'agent', agentId: '1001', name: null, password: 'pw-1001' },
    { username: 'boss', role: 'supervisor', agentId: null, name: null, password: 'pw-boss' },
    { username: 'north', role: 'supervisor', agentId: null, name: null, password: 'pw-north', teams: ['north'] },
    { username: 'root', role: 'admin', agentId: null, name: null, password: 'pw-root' },
  ], new Set(agents.map((a) => a.id)), {
    sessions: { idleMs: 3_600_000, maxAgeMs: 3_600_000 },
    accountLockout: { maxFailures: 2, windowMs: 60_000, lockMs: 60_000 },
    sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
  });
  const engine = new FakeEngine();
  const registrar = new Registrar({ realm: 'onair', agents: agents.map((a) => ({ id: a.id, extension: a.extension, password: a.password })) });
  t.teardown(() => registrar.close());
  const audit = AuditLog.open(store.db, store.writer);
  const r = new Roster(agents, agents);
  engine.provisioning = new Provisioning({ acd: engine.acd, apply: () => {}, registrar, users, roster: r, store: new ProvisioningStore(store.db, store.writer, Date.now()), audit });
  engine.audit = audit;
  // The real dispositions; which call is whose comes from the test engine's call list (1001 talks on c-1).
  const dispositions = new Dispositions();
  engine.wrapUp = {
    setDisposition: (agentId, callId, d) => {
      if (engine.calls().find((c) => c.callId === callId)?.agent !== agentId) return false;
      dispositions.set(callId, d);
      return true;
    },
    endWrapUp: (agentId) => engine.desk.endWrapUp(agentId),
  };
  engine.callerOf = (callId) => {
    const c = engine.calls().find((x) => x.callId === callId);
    return c === undefined ? undefined : { caller: c.caller, agent: c.agent };
  };
  const api = await startApi(engine, {
    address: '127.0.0.1', port: 0, tokens: [TOKEN], openPaths: ['/healthz'], users, maskNumbersFor: ['agent'], ...(unmaskRoles ? { unmaskRoles } : {}),
    desktop: { timeZone: 'Asia/Shanghai', language: 'zh-CN', notReadyReasons: [{ code: 'lunch', en: 'Lunch', zh: '午餐' }],
      wrapUpCodes: [{ code: 'order', en: 'Order', zh: '下单', requiresNote: false }, { code: 'complaint', en: 'Complaint', zh: '投诉', requiresNote: true }] },
  });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const signIn = async (username: string, password: string): Promise<string> => {
    const res = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };
  const call = async (method: string, path: string, cookie: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${base}${path}`, {
      method, headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? null : JSON.parse(text) };
  };
  return { engine, audit, users, registrar, signIn, call, base, dispositions };
}

t.test('a supervisor moves an agent into and out of a queue; an agent may not', async (t) => {
  const r = await rig(t);
  const agent = await r.signIn('1001', 'pw-1001');
  const boss = await r.signIn('boss', 'pw-boss');
  t.equal((await r.call('PUT', '/api/v1/agents/1001/skills/vip', agent, { level: 5 })).status, 403, 'not even its own skills');
  const into = await r.call('PUT', '/api/v1/agents/1001/skills/vip', boss, { level: 5 });
  t.equal(into.status, 200);
  t.same(into.body.skills, { orders: 3, vip: 5 });
  t.same(r.engine.acd.inspectAgent('1001')?.skills, { orders: 3, vip: 5 }, 'the ACD has it');
  const out = await r.call('DELETE', '/api/v1/agents/1001/skills/orders', boss);
  t.same(out.body.skills, { vip: 5 });
  const all = await r.call('PUT', '/api/v1/agents/1002/skills', boss, { skills: { orders: 9 } });
  t.same(all.body.skills, { orders: 9 });
  t.equal((await r.call('PUT', '/api/v1/agents/1002/skills', boss, { skills: { orders: 101 } })).status, 400);
  t.equal((await r.call('PUT', '/api/v1/agents/nobody/skills/vip', boss, { level: 5 })).status, 404);
});

t.test('only an admin (or a token) adds an agent; the new user signs in at once', async (t) => {
  const r = await rig(t);
  const boss = await r.signIn('boss', 'pw-boss');
  const root = await r.signIn('root', 'pw-root');
  const body = { id: '1004', extension: '1004', password: 'phone-pw', name: 'Four', skills: { orders: 2 }, user: { password: 'desk-pw-1004' } };
  t.equal((await r.call('POST', '/api/v1/agents', boss, body)).status, 403);
  const added = await r.call('POST', '/api/v1/agents', root, body);
  t.equal(added.status, 201);
  t.match(added.body, { id: '1004', status: 'logged_out', skills: { orders: 2 } });
  t.equal(r.registrar.agentOf('1004'), '1004');
  t.equal((await r.call('POST', '/api/v1/agents', root, body)).status, 409, 'twice: taken');
  const four = await r.signIn('1004', 'desk-pw-1004');
  t.not(four, '');
  t.equal((await r.call('GET', '/api/v1/agents/1004', four)).status, 200, 'the new agent sees itself');
  t.equal((await r.call('GET', '/api/v1/agents/1001', four)).status, 403, 'and nobody else');
  const tok = await r.call('POST', '/api/v1/agents', '', { ...body, id: '1005', extension: '1005', user: undefined }, { authorization: `Bearer ${TOKEN}` });
  t.equal(tok.status, 201, 'an integration token keeps full access');
});

t.test('the audit log keeps who, from where, what; only admins read it', async (t) => {
  const r = await rig(t);
  const agent = await r.signIn('1001', 'pw-1001');
  const boss = await r.signIn('boss', 'pw-boss');
  const root = await r.signIn('root', 'pw-root');
  await r.call('PUT', '/api/v1/agents/1002/skills/vip', boss, { level: 7 });
  await r.call('POST', '/api/v1/agents/1002/status', boss, { status: 'not_ready', reason: 'lunch' });
  await r.call('POST', '/api/v1/agents/1001/status', agent, { status: 'not_ready', reason: 'lunch' });
  // A forged X-Forwarded-For is not where the request came from.
  await fetch(`${r.base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': '10.9.9.9' }, body: JSON.stringify({ username: 'boss', password: 'wrong' }) });
  for (let i = 0; i < 6; i++) await fetch(`${r.base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: 'wrong' }) });
  await r.audit.flushed();
  t.equal((await r.call('GET', '/api/v1/audit', boss)).status, 403);
  t.equal((await r.call('GET', '/api/v1/audit', agent)).status, 403);
  const all = await r.call('GET', '/api/v1/audit?limit=50', root);
  t.equal(all.status, 200);
  const actions = all.body.items.map((e: any) => `${e.action}:${e.actor}:${e.target}`);
  t.ok(actions.includes('agent.skills:boss:1002'));
  t.ok(actions.includes('agent.status:boss:1002'), "a supervisor's status change of another agent");
  t.notOk(actions.some((a: string) => a.startsWith('agent.status:1001')), "an agent's own clicks are not audited");
  t.ok(actions.includes('signin.failed:boss:boss'));
  t.equal(actions.filter((a: string) => a === 'signin.locked:root:root').length, 1, 'the lockout, once however many refusals followed');
  t.ok(all.body.items.every((e: any) => e.source === '127.0.0.1'), 'the socket address, not the header');
  const skills = all.body.items.find((e: any) => e.action === 'agent.skills');
  t.match(skills, { role: 'supervisor', detail: { before: { orders: 3, vip: 5 }, after: { orders: 3, vip: 7 } } });
  const filtered = await r.call('GET', '/api/v1/audit?action=signin.failed&limit=1', root);
  t.equal(filtered.body.items.length, 1);
  t.equal(filtered.body.hasMore, true, 'paged');
  const none = await r.call('GET', `/api/v1/audit?since=${Date.now() + 60_000}`, root);
  t.same(none.body.items, []);
  t.equal((await r.call('GET', '/api/v1/audit?bogus=1', root)).status, 400);
});

t.test('wrap-up codes: the agent codes its own call from the list, a note where required; audited', async (t) => {
  const r = await rig(t);
  const agent = await r.signIn('1001', 'pw-1001');
  const root = await r.signIn('root', 'pw-root');
  const path = '/api/v1/agents/1001/wrap-up';
  t.equal((await r.call('POST', path, agent, { callId: 'c-1', code: 'refund' })).status, 400, 'a code outside the list');
  t.equal((await r.call('POST', path, agent, { callId: 'c-1', code: 'complaint' })).status, 400, 'complaint needs a note');
  t.equal((await r.call('POST', path, agent, { callId: 'c-1', code: 'complaint', note: '   ' })).status, 400, 'a blank note is none');
  t.equal((await r.call('POST', '/api/v1/agents/1002/wrap-up', agent, { callId: 'c-1', code: 'order' })).status, 403, "not another agent's");
  t.equal((await r.call('POST', path, agent, { callId: 'c-9', code: 'order' })).status, 409, 'not its call');
  const ok = await r.call('POST', path, agent, { callId: 'c-1', code: 'complaint', note: 'late delivery' });
  t.equal(ok.status, 200);
  t.same(ok.body, { callId: 'c-1', disposition: { code: 'complaint', note: 'late delivery' } });
  t.same(r.dispositions.get('c-1'), { code: 'complaint', note: 'late delivery' }, 'kept for the CDR');
  const tok = await r.call('POST', path, '', { callId: 'c-1', code: 'campaign-yes' }, { authorization: `Bearer ${TOKEN}` });
  t.equal(tok.status, 200, 'an integration may send its own code');
  t.equal((await r.call('POST', '/api/v1/agents/1001/wrap-up/end', agent)).status, 409, 'on a call, not in wrap-up');
  await r.audit.flushed();
  const audit = await r.call('GET', '/api/v1/audit?action=call.disposition', root);
  t.match(audit.body.items.at(-1), { actor: '1001', role: 'agent', target: 'c-1', detail: { agent: '1001', code: 'complaint', note: 'late delivery' } });
});

t.test('a CDR gets the disposition chosen before it left, null when none was; records without an agent stay as they were', async (t) => {
  const d = new Dispositions();
  const cdr = { callId: 'x', agent: '1001' } as never as import('../../crm-adapter/index.ts').Cdr;
  d.set('x', { code: 'order', note: null });
  d.set('x', { code: 'enquiry', note: 'size M' });
  t.same(d.stamp(cdr).disposition, { code: 'enquiry', note: 'size M' }, 'the last choice wins');
  t.equal(d.size, 0, 'forgotten once stamped');
  t.equal(d.stamp(cdr).disposition, null, 'answered, nothing chosen: null');
  t.notOk('disposition' in d.stamp({ ...cdr, agent: null }), 'never answered: no field');
});

t.test('unmasking: by role, an agent only its own call, every one audited', async (t) => {
  const r = await rig(t);
  const agent = await r.signIn('1001', 'pw-1001');
  const boss = await r.signIn('boss', 'pw-boss');
  const root = await r.signIn('root', 'pw-root');
  const masked = await r.call('GET', '/api/v1/calls', agent);
  t.equal(masked.body.items[0].caller, '+41*****4567', 'the agent sees it masked');
  t.equal((await r.call('POST', '/api/v1/calls/c-1/unmask', agent)).status, 403, 'agents may not by default');
  const ok = await r.call('POST', '/api/v1/calls/c-1/unmask', boss);
  t.same(ok.body, { callId: 'c-1', caller: '+41791234567' });
  t.equal((await r.call('POST', '/api/v1/calls/c-9/unmask', boss)).status, 404);
  await r.audit.flushed();
  const audit = await r.call('GET', '/api/v1/audit?action=call.unmask', root);
  t.same(audit.body.items.map((e: any) => [e.actor, e.role, e.target, e.source]), [['boss', 'supervisor', 'c-1', '127.0.0.1']], 'the refused ones changed nothing, the granted one is kept');

  const open = await rig(t, ['agent', 'supervisor']);
  const a2 = await open.signIn('1001', 'pw-1001');
  const rootB = await open.signIn('root', 'pw-root');
  t.equal((await open.call('POST', '/api/v1/calls/c-1/unmask', a2)).body.caller, '+41791234567', 'configured: an agent unmasks its own call');
  open.engine.callList = [{ ...open.engine.callList[0]!, callId: 'c-2', agent: '1002' }];
  t.equal((await open.call('POST', '/api/v1/calls/c-2/unmask', a2)).status, 404, "not another agent's");
  t.equal((await open.call('POST', '/api/v1/calls/c-2/unmask', rootB)).status, 403, 'admin left out of the configured roles');
});

t.test('teams: a supervisor with teams sees and changes only its agents, events filtered too', async (t) => {
  const r = await rig(t);
  r.engine.teamOf = { '1001': 'north', '1002': 'south' };
  r.engine.callList = [r.engine.callList[0]!, { ...r.engine.callList[0]!, callId: 'c-2', agent: '1002' }, { ...r.engine.callList[0]!, callId: 'c-3', agent: null, phase: 'queued' }];
  const north = await r.signIn('north', 'pw-north');
  const boss = await r.signIn('boss', 'pw-boss');
  t.same((await r.call('GET', '/api/v1/agents', north)).body.items.map((a: any) => a.id), ['1001'], 'its team only');
  t.same((await r.call('GET', '/api/v1/agents', boss)).body.items.map((a: any) => a.id), ['1001', '1002', '1003'], 'no teams: everyone');
  t.equal((await r.call('GET', '/api/v1/agents/1002', north)).status, 403);
  t.equal((await r.call('POST', '/api/v1/agents/1002/status', north, { status: 'not_ready', reason: 'lunch' })).status, 403);
  t.equal((await r.call('PUT', '/api/v1/agents/1002/skills/vip', north, { level: 5 })).status, 403);
  t.equal((await r.call('PUT', '/api/v1/agents/1001/skills/vip', north, { level: 5 })).status, 200);
  t.same((await r.call('GET', '/api/v1/calls', north)).body.items.map((c: any) => c.callId), ['c-1', 'c-3'], "its agents' calls and the unassigned");
  t.equal((await r.call('POST', '/api/v1/calls/c-2/unmask', north)).status, 404, "another team's call");
  t.equal((await r.call('POST', '/api/v1/calls/c-1/unmask', north)).status, 200);

  const ws = await connectEvents(`ws://127.0.0.1:${r.base.split(':')[2]}/api/v1/events`, { cookie: north, origin: r.base });
  for (const agentId of ['1002', '1001']) r.engine.emit({ type: 'agent.state', at: 1, agentId, status: 'available', state: 'idle', reason: null });
  const seen = await ws.waitFor((m) => m.type === 'agent.state');
  t.equal((seen as any).agentId, '1001', "the other team's event was not sent");
  ws.close();
});
