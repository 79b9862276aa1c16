import t from 'tap';
import { Acd, type AcdEffect } from '../acd/index.ts';
import { AgentDesk } from './index.ts';

/** A desk over a real ACD: agent 1001 (auto-ready off), 1002 (auto-ready on), queue orders. */
function rig(): { acd: Acd; desk: AgentDesk; registered: Set<string>; applied: AcdEffect[] } {
  const acd = new Acd({
    queues: [{ id: 'orders' }],
    agents: [{ id: '1001', skills: { orders: 5 } }, { id: '1002', skills: { orders: 5 } }],
  });
  const registered = new Set<string>();
  const applied: AcdEffect[] = [];
  let now = 1000;
  const desk = new AgentDesk({
    acd, apply: (e) => applied.push(...e), isRegistered: (id) => registered.has(id),
    autoReadyOnRegister: (id) => id === '1002', now: () => now++,
  });
  return { acd, desk, registered, applied };
}

t.test('registering logs in; available only with autoReadyOnRegister', async (t) => {
  const { acd, desk, registered } = rig();
  registered.add('1001');
  registered.add('1002');
  t.same(desk.onRegistered('1001'), { ok: true });
  t.match(acd.inspectAgent('1001'), { status: 'notReady' }, 'autoReadyOnRegister false: logged in, not ready');
  t.same(desk.onRegistered('1002'), { ok: true });
  t.match(acd.inspectAgent('1002'), { status: 'available' }, 'autoReadyOnRegister true: available');
  desk.request('1001', 'notReady', 'api', 'lunch');
  desk.onRegistered('1001');
  t.match(acd.inspectAgent('1001'), { status: 'notReady', reason: 'lunch' }, 'a second phone of a logged-in agent changes nothing');
  t.same(desk.onUnregistered('1002', 'expired'), { ok: true });
  t.match(acd.inspectAgent('1002'), { status: 'loggedOut' }, 'the last binding gone: logged out');
});

t.test('login (*60) logs in not ready; ready makes available', async (t) => {
  const { acd, desk, registered, applied } = rig();
  registered.add('1001');
  t.same(desk.request('1001', 'login', 'phone'), { ok: true });
  t.match(acd.inspectAgent('1001'), { status: 'notReady' }, 'logged in, not ready yet');
  t.ok(applied.some((e) => e.type === 'agentStateChanged' && e.agentId === '1001' && e.status === 'notReady'), 'effects handed to call control');
  t.same(desk.request('1001', 'login', 'phone'), { ok: true });
  t.match(acd.inspectAgent('1001'), { status: 'notReady' }, 'login again: unchanged');
  t.same(desk.request('1001', 'ready', 'phone'), { ok: true });
  t.match(acd.inspectAgent('1001'), { status: 'available' });
  t.same(desk.request('1001', 'login', 'phone'), { ok: true });
  t.match(acd.inspectAgent('1001'), { status: 'available' }, 'login while logged in keeps the status');
  t.same(desk.request('1001', 'notReady', 'phone'), { ok: true });
  t.match(acd.inspectAgent('1001'), { status: 'notReady', reason: 'feature-code' }, 'the phone gives no reason: the desk names it');
  t.same(desk.request('1001', 'notReady', 'api', 'briefing'), { ok: true });
  t.match(acd.inspectAgent('1001'), { status: 'notReady', reason: 'briefing' }, 'notReady keeps its reason');
  t.same(desk.request('1001', 'logout', 'phone'), { ok: true });
  t.match(acd.inspectAgent('1001'), { status: 'loggedOut' });
});

t.test('a change that needs a phone is refused without one; logout is not', async (t) => {
  const { acd, desk, registered } = rig();
  for (const action of ['login', 'ready', 'notReady'] as const) {
    t.match(desk.request('1001', action, 'api'), { ok: false, code: 'DESK_ERR_NOT_REGISTERED' }, action);
  }
  t.match(acd.inspectAgent('1001'), { status: 'loggedOut' }, 'refused requests changed nothing');
  t.match(desk.request('9999', 'ready', 'api'), { ok: false, code: 'DESK_ERR_UNKNOWN_AGENT' });
  t.match(desk.onRegistered('9999'), { ok: false, code: 'DESK_ERR_UNKNOWN_AGENT' });
  registered.add('1001');
  desk.request('1001', 'ready', 'api');
  registered.delete('1001');
  t.same(desk.request('1001', 'logout', 'api'), { ok: true }, 'logging out needs no phone');
  t.match(acd.inspectAgent('1001'), { status: 'loggedOut' });
});

t.test('during a call the ACD keeps the change pending', async (t) => {
  const { acd, desk, registered } = rig();
  registered.add('1002');
  desk.onRegistered('1002');
  const offer = acd.enqueue({ id: 'c1', queueId: 'orders', callerNumber: '+41' }, 2000).find((e) => e.type === 'offer');
  t.match(offer, { agentId: '1002' });
  acd.offerAnswered('c1', 2100);
  t.same(desk.request('1002', 'logout', 'phone'), { ok: true });
  t.match(acd.inspectAgent('1002'), { status: 'available', pendingStatus: 'loggedOut', state: 'onCall' });
  t.same(desk.onUnregistered('1002', 'expired'), { ok: true }, 'pending logout: asked again, no error');
});
