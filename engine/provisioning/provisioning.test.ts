/**
 * Run-time provisioning over the real parts: the ACD core, the registrar, the user directory and
 * the provisioning and audit tables in a SQLite file, closed and reopened to play a restart.
 */
import t, { type Test } from 'tap';
import path from 'node:path';
import { Acd, type AcdEffect } from '../acd/index.ts';
import { AuditLog } from '../audit/index.ts';
import { Registrar } from '../registrar/index.ts';
import { openStore } from '../store/index.ts';
import { UserDirectory } from '../users/index.ts';
import { Provisioning, ProvisioningStore, Roster, mergeRoster, type RosterAgent } from './index.ts';

const FILE_AGENTS: RosterAgent[] = [
  { id: 'a1', extension: '1001', password: 'p1', name: 'One', skills: { orders: 3 }, autoReadyOnRegister: false, team: null, maxRegistrations: 3, autoAnswer: false },
  { id: 'a2', extension: '1002', password: 'p2', name: 'Two', skills: { backoffice: 2 }, autoReadyOnRegister: false, team: null, maxRegistrations: 3, autoAnswer: false },
];
const QUEUES = [{ id: 'orders' }, { id: 'backoffice' }];
const OPTS = {
  sessions: { idleMs: 60_000, maxAgeMs: 60_000 },
  accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 },
  sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
};

/** An engine's provisioning side, built as engine.ts builds it: file agents merged with the stored changes. */
async function boot(t: Test, file: string, agents: RosterAgent[] = FILE_AGENTS) {
  const store = openStore({ path: file });
  const ps = new ProvisioningStore(store.db, store.writer, Date.now());
  const merged = mergeRoster(agents, ps.agents(), ps.overrides());
  for (const x of merged.superseded) await ps.drop(x.kind, x.agentId);
  const roster = new Roster(merged.agents, agents);
  const acd = new Acd({ queues: QUEUES, agents: merged.agents.map((a) => ({ id: a.id, skills: a.skills })) });
  const registrar = new Registrar({ realm: 'onair', agents: roster.list().map((a) => ({ id: a.id, extension: a.extension, password: a.password })) });
  const users = await UserDirectory.open(store.db, store.writer, [{ username: 'admin', role: 'admin', agentId: null, name: null, password: 'admin-pw' }], new Set(roster.list().map((a) => a.id)), OPTS);
  const audit = AuditLog.open(store.db, store.writer);
  const applied: AcdEffect[] = [];
  const prov = new Provisioning({ acd, apply: (e) => applied.push(...e), registrar, users, roster, store: ps, audit });
  const close = async (): Promise<void> => { registrar.close(); await store.close(); };
  t.teardown(close);
  return { store, acd, registrar, users, audit, roster, prov, applied, superseded: merged.superseded, close };
}

t.test('skills change at once: an idle agent moved into a queue is offered its waiting caller', async (t) => {
  const e = await boot(t, path.join(t.testdir({}), 'onair.db'));
  e.acd.agentLoggedIn('a2', 1);
  e.acd.enqueue({ id: 'c1', queueId: 'orders', callerNumber: '+1' }, 2);
  const r = e.prov.setSkillLevel('a2', 'orders', 4, { actor: 'boss', role: 'supervisor', source: '127.0.0.1' });
  t.ok(r.ok);
  if (!r.ok) return;
  await r.persisted;
  t.same(e.applied.filter((x) => x.type === 'offer').map((x) => x.type === 'offer' && `${x.callId}:${x.agentId}`), ['c1:a2'], 'the offer effect went to call control');
  t.same(e.acd.inspectAgent('a2')?.skills, { backoffice: 2, orders: 4 });
  t.same(e.roster.get('a2')?.skills, { backoffice: 2, orders: 4 });
  await e.audit.flushed();
  const [entry] = e.audit.query({ action: 'agent.skills', limit: 10, offset: 0 });
  t.match(entry, { actor: 'boss', role: 'supervisor', source: '127.0.0.1', target: 'a2', detail: { before: { backoffice: 2 }, after: { backoffice: 2, orders: 4 } } });
});

t.test('refusals change nothing', async (t) => {
  const e = await boot(t, path.join(t.testdir({}), 'onair.db'));
  t.match(e.prov.setSkills('nobody', { orders: 1 }), { ok: false, code: 'PROV_ERR_UNKNOWN_AGENT' });
  t.match(e.prov.setSkills('a1', { orders: 0 }), { ok: false, code: 'PROV_ERR_INVALID' });
  t.match(e.prov.setSkills('a1', { 'bad skill': 1 }), { ok: false, code: 'PROV_ERR_INVALID' });
  t.match(await e.prov.addAgent({ id: 'a1', extension: '1009', password: 'x', name: null, skills: {}, autoReadyOnRegister: false, team: null }), { ok: false, code: 'PROV_ERR_EXISTS' });
  t.match(await e.prov.addAgent({ id: 'a9', extension: '1001', password: 'x', name: null, skills: {}, autoReadyOnRegister: false, team: null }), { ok: false, code: 'PROV_ERR_EXISTS' });
  t.match(await e.prov.addAgent({ id: 'a9', extension: '1009', password: 'x', name: null, skills: {}, autoReadyOnRegister: false, team: null, user: { username: 'admin', password: 'whatever-1' } }), { ok: false, code: 'PROV_ERR_EXISTS' });
  t.same(e.acd.inspectAgent('a1')?.skills, { orders: 3 });
  t.equal(e.acd.inspectAgent('a9'), undefined);
});

t.test('an added agent and a skill change survive a restart; a file edit wins over an older run-time change', async (t) => {
  const file = path.join(t.testdir({}), 'onair.db');
  const first = await boot(t, file);
  const added = await first.prov.addAgent({ id: 'a3', extension: '1003', password: 'p3', name: 'Three', skills: { orders: 2 }, autoReadyOnRegister: true, team: null, user: { username: '1003', password: 'three-pw-1' } });
  t.ok(added.ok);
  if (!added.ok) return;
  await added.persisted;
  t.equal(first.registrar.agentOf('1003'), 'a3', 'the phone can register at once');
  t.ok((await first.users.signIn('1003', 'three-pw-1', '127.0.0.1')).ok, 'the new user signs in at once');
  const moved = first.prov.setSkills('a2', { backoffice: 2, orders: 1 });
  const movedAdded = first.prov.setSkills('a3', { orders: 2, backoffice: 5 });
  t.ok(moved.ok && movedAdded.ok);
  if (moved.ok) await moved.persisted;
  if (movedAdded.ok) await movedAdded.persisted;
  await first.close();

  const second = await boot(t, file);
  t.same(second.superseded, []);
  t.same(second.acd.inspectAgent('a2')?.skills, { backoffice: 2, orders: 1 }, 'the run-time skills came back');
  t.same(second.acd.inspectAgent('a3')?.skills, { orders: 2, backoffice: 5 }, 'the added agent came back with its skills');
  t.match(second.roster.get('a3'), { extension: '1003', name: 'Three', autoReadyOnRegister: true });
  t.equal(second.registrar.agentOf('1003'), 'a3');
  t.ok((await second.users.signIn('1003', 'three-pw-1', '127.0.0.1')).ok, 'its user too');
  await second.close();

  // Someone edits a2's skills in the file and defines a3 there: the file wins for both.
  const edited: RosterAgent[] = [{ ...FILE_AGENTS[0]!, skills: { orders: 3 } }, { ...FILE_AGENTS[1]!, skills: { backoffice: 3 } },
    { id: 'a3', extension: '1003', password: 'p3', name: 'Three (file)', skills: { vip: 1 }, autoReadyOnRegister: false, team: null, maxRegistrations: 3, autoAnswer: false }];
  const third = await boot(t, file, edited);
  t.same(third.superseded.map((x) => `${x.kind}:${x.agentId}`).sort(), ['agent:a3', 'override:a2']);
  t.same(third.acd.inspectAgent('a2')?.skills, { backoffice: 3 });
  t.same(third.acd.inspectAgent('a3')?.skills, { vip: 1 });
  await third.close();
  const fourth = await boot(t, file, edited);
  t.same(fourth.superseded, [], 'the superseded rows were dropped');
});

t.test('setting the file skills back removes the run-time change', async (t) => {
  const file = path.join(t.testdir({}), 'onair.db');
  const e = await boot(t, file);
  const a = e.prov.setSkills('a1', { orders: 5 });
  if (a.ok) await a.persisted;
  t.equal(e.store.db.prepare<{ n: number }>('SELECT count(*) AS n FROM agent_skills').get()?.n, 1);
  const b = e.prov.setSkills('a1', { orders: 3 });
  if (b.ok) await b.persisted;
  t.equal(e.store.db.prepare<{ n: number }>('SELECT count(*) AS n FROM agent_skills').get()?.n, 0);
});

t.test('the audit log is append-only', async (t) => {
  const e = await boot(t, path.join(t.testdir({}), 'onair.db'));
  e.audit.record({ actor: 'x', role: 'admin', source: '127.0.0.1', action: 'test', target: 'y' });
  await e.audit.flushed();
  t.throws(() => e.store.db.prepare('UPDATE audit_log SET actor = ?').run('z'), /append-only/);
  t.throws(() => e.store.db.prepare('DELETE FROM audit_log').run(), /append-only/);
  t.equal(e.audit.query({ limit: 10, offset: 0 })[0]?.actor, 'x');
});
