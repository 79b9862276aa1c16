/**
 * Transfers and hold from the API (POST /api/v1/calls/:id/transfer, /hold, /resume) on the
 * call-control rig: the real UA, ACD and store, fake media and a fake of the outbound trunks that
 * keeps the dialer's event rules. Each kind: to a queue (the REFER path's acd.transfer: priority
 * and arrival kept), to a named agent (that agent alone, else back to the queue), to a number
 * (bridged on answer; not reached: back to the queue), and the refusals; the CDR's legs and the
 * transfer counters.
 */
import t from 'tap';
import type { Cdr } from '../../crm-adapter/index.ts';
import { CallRig, FakeOutbound, type RigOptions } from './testing.ts';
import { DEFAULT_QUEUE_CALL_SETTINGS } from './settings.ts';
import { checkApiTransfer, MAX_TRANSFERS, type ApiTransferContext } from './transfer.ts';

const QUEUES: RigOptions['queues'] = [{ id: 'orders', wrapUpMs: 10_000, ringTimeoutMs: 10_000 }, { id: 'service', wrapUpMs: 10_000 }];
const SETTINGS: RigOptions['settings'] = {
  queues: { orders: { ...DEFAULT_QUEUE_CALL_SETTINGS, holdMusic: 'hold/orders' }, service: { ...DEFAULT_QUEUE_CALL_SETTINGS, holdMusic: 'hold/service' } },
};

function rig(tt: { teardown(fn: () => unknown): void }, o: RigOptions = {}): CallRig {
  const r = new CallRig({ queues: QUEUES, settings: SETTINGS, ...o });
  tt.teardown(() => r.close());
  return r;
}

async function cdrOf(r: CallRig, callId: string): Promise<Cdr | undefined> {
  const item = (await r.outbox(callId)).find((i) => i.kind === 'cdr');
  return item?.kind === 'cdr' ? item.payload : undefined;
}

/** BYEs we sent in the dialog of agent INVITE `callId`. */
function byesTo(r: CallRig, sipCallId: string): number {
  return r.wire.sent.filter((s) => s.message.kind === 'request' && s.message.method === 'BYE' && s.message.headers.callId === sipCallId).length;
}

t.test('to a queue: the agent is hung up and in wrap-up, the caller waits there with its music, priority and arrival kept', async (t) => {
  const r = rig(t);
  const p1 = r.agent('a1', '2001', 5070);
  const { callId, leg, inv } = await r.answeredCall(p1);
  const arrived = r.of('call.arrived')[0]!.at;
  const a = await r.calls.transfer(callId, { queue: 'service' });
  await r.settle();
  t.match(a, { ok: true, kind: 'api_queue', queue: 'service' });
  t.equal(byesTo(r, inv.headers.callId), 1, 'the agent\'s phone is hung up by the engine');
  t.equal(r.acd.inspectAgent('a1')?.state, 'wrapUp');
  t.match(r.acd.inspectCall(callId), { queueId: 'service', state: 'waiting', arrivalTime: arrived }, 'same arrival in the target queue');
  t.same(r.media.lastPrompts(leg), ['hold/service'], 'the target queue\'s hold music');
  const p2 = r.agent('a2', '2002', 5072);
  await r.settle();
  r.phoneAnswers(r.agentInvites().at(-1)!, p2);
  await r.settle();
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  await r.advance(60_000);
  const cdr = await cdrOf(r, callId);
  t.match(cdr, { outcome: 'answered', agent: 'a2', queue: 'service', transfers: 1 });
  t.match(cdr?.legs, [{ kind: 'agent', agent: 'a1', queue: 'orders', endedBy: 'transfer' }, { kind: 'agent', agent: 'a2', queue: 'service', endedBy: 'hangup' }]);
  t.same(r.calls.transferOutcomes().api_queue, { ok: 1, failed: 0, refused: 0 });
  void p2;
});

t.test('to a named agent: offered to that agent alone; declined, the caller waits at the head of its queue', async (t) => {
  const r = rig(t);
  const p1 = r.agent('a1', '2001', 5070);
  const { callId } = await r.answeredCall(p1);
  t.match(await r.calls.transfer(callId, { agent: 'a1' }), { ok: false, code: 'CALLS_ERR_LOOP' }, 'the agent it is with');
  t.match(await r.calls.transfer(callId, { agent: 'nobody' }), { ok: false, code: 'CALLS_ERR_UNKNOWN_TARGET' });
  t.match(await r.calls.transfer(callId, { agent: 'a2' }), { ok: false, code: 'CALLS_ERR_AGENT_BUSY' }, 'a2 is logged out');
  const p2 = r.agent('a2', '2002', 5072);
  const before = r.agentInvites().length;
  t.match(await r.calls.transfer(callId, { agent: 'a2' }), { ok: true, kind: 'api_agent', agent: 'a2', queue: 'orders' });
  await r.settle();
  const inv2 = r.agentInvites().at(-1)!;
  t.equal(r.agentInvites().length, before + 1, 'a2 is rung');
  t.match(r.acd.inspectCall(callId), { state: 'offered', agentId: 'a2' });
  r.phoneRejects(inv2, p2);
  await r.settle();
  t.match(r.acd.inspectCall(callId), { queueId: 'orders', state: 'waiting', returnedToHead: true }, 'back in its queue, at the head');
  t.same(r.calls.transferOutcomes().api_agent, { ok: 0, failed: 1, refused: 3 });
});

t.test('to a named agent who answers: one CDR, both legs, counted ok', async (t) => {
  const r = rig(t);
  const p1 = r.agent('a1', '2001', 5070);
  const { callId } = await r.answeredCall(p1);
  const p2 = r.agent('a2', '2002', 5072);
  await r.calls.transfer(callId, { agent: 'a2' });
  await r.settle();
  r.phoneAnswers(r.agentInvites().at(-1)!, p2);
  await r.settle();
  t.match(r.calls.list()[0], { phase: 'talking', agentId: 'a2' });
  t.same(r.calls.transferOutcomes().api_agent, { ok: 1, failed: 0, refused: 0 });
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  await r.advance(60_000);
  t.match((await cdrOf(r, callId))?.legs, [{ agent: 'a1', endedBy: 'transfer' }, { agent: 'a2', endedBy: 'hangup' }]);
});

t.test('to a number: dialled through the trunk, bridged on answer; the far end hangs up, the call ends; legs agent then external', async (t) => {
  const outbound = new FakeOutbound();
  const r = rig(t, { outbound });
  const p1 = r.agent('a1', '2001', 5070);
  const { callId, leg, inv } = await r.answeredCall(p1);
  const a = await r.calls.transfer(callId, { number: '+8613800138000' });
  await r.settle();
  t.match(a, { ok: true, kind: 'api_external', number: '+8613800138000' });
  t.equal(outbound.dials.length, 1, 'one dial');
  t.match(outbound.dials[0]!.req, { number: '+8613800138000', callId: `${callId}-x1` });
  t.match(outbound.dials[0]!.req.sdp.toString('latin1'), /m=audio \d+ RTP\/AVP/, 'an SDP offer of a new media leg');
  t.equal(byesTo(r, inv.headers.callId), 1, 'the agent is hung up at once');
  t.equal(r.acd.inspectAgent('a1')?.state, 'wrapUp', 'and in wrap-up');
  t.equal(r.acd.inspectCall(callId), undefined, 'the ACD let go of the call');
  t.same(r.media.lastPrompts(leg), ['hold/orders'], 'the caller hears hold music while the number rings');
  t.equal(r.calls.list()[0]?.phase, 'external');
  outbound.answer(0);
  await r.settle();
  const bridge = r.media.calls.filter((c) => c.op === 'bridge').at(-1);
  t.match(bridge, { a: leg }, 'the caller is bridged to the external leg');
  t.not((bridge as { b?: string } | undefined)?.b, undefined);
  outbound.hangUp(0);
  await r.settle();
  t.equal(r.calls.size, 0, 'the external party hung up: the call is over');
  t.equal(byesTo(r, r.of('call.arrived')[0]!.sipCallId), 1, 'and the engine hangs up the caller');
  await r.advance(60_000);
  const cdr = await cdrOf(r, callId);
  t.match(cdr, { outcome: 'answered', agent: null, transfers: 1, releasedBy: 'agent' });
  t.match(cdr?.legs, [{ kind: 'agent', agent: 'a1', endedBy: 'transfer' }, { kind: 'external', number: '+8613800138000', endedBy: 'hangup' }]);
  t.same(r.calls.transferOutcomes().api_external, { ok: 1, failed: 0, refused: 0 });
});

t.test('to a number not reached: the caller is back in its queue with its priority and arrival; the caller hanging up hangs up the far end', async (t) => {
  const outbound = new FakeOutbound();
  const r = rig(t, { outbound });
  const p1 = r.agent('a1', '2001', 5070);
  const { callId } = await r.answeredCall(p1);
  const arrived = r.of('call.arrived')[0]!.at;
  await r.calls.transfer(callId, { number: '+8613800138000' });
  await r.settle();
  outbound.fail(0, 'busy');
  await r.settle();
  t.match(r.acd.inspectCall(callId), { queueId: 'orders', state: 'waiting', arrivalTime: arrived }, 'waiting again, arrival kept');
  t.equal(r.calls.list()[0]?.phase, 'queued');
  t.same(r.calls.transferOutcomes().api_external, { ok: 0, failed: 1, refused: 0 });
  // a1's wrap-up ends, it takes the caller again and tries another number; the caller hangs up while it rings.
  await r.advance(11_000);
  r.phoneAnswers(r.agentInvites().at(-1)!, p1);
  await r.settle();
  t.match(r.calls.list()[0], { phase: 'talking', agentId: 'a1' });
  await r.calls.transfer(callId, { number: '+8613800138001' });
  await r.settle();
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  t.equal(outbound.dials[1]?.state, 'over', 'the ringing number is cancelled');
  t.equal(r.calls.size, 0);
  await r.advance(60_000);
  const cdr = await cdrOf(r, callId);
  t.match(cdr?.legs, [
    { kind: 'agent', agent: 'a1', endedBy: 'transfer' }, { kind: 'external', number: '+8613800138000', endedBy: 'failed' },
    { kind: 'agent', agent: 'a1', endedBy: 'transfer' },
  ]);
  t.match(cdr, { outcome: 'answered', releasedBy: 'caller', transfers: 2 });
});

t.test('refusals: no call, not talking, no trunk, unknown queue, the same queue', async (t) => {
  const r = rig(t);
  t.match(await r.calls.transfer('c1-1', { queue: 'service' }), { ok: false, code: 'CALLS_ERR_NO_CALL' });
  r.invite();
  await r.settle();
  const callId = r.of('call.arrived')[0]!.callId;
  t.match(await r.calls.transfer(callId, { queue: 'service' }), { ok: false, code: 'CALLS_ERR_NOT_TALKING' }, 'in the IVR');
  t.match(r.calls.hold(callId, 'hold'), { ok: false, code: 'CALLS_ERR_NOT_TALKING' });
  const r2 = rig(t);
  const p1 = r2.agent('a1', '2001', 5070);
  const { callId: id2 } = await r2.answeredCall(p1);
  t.match(await r2.calls.transfer(id2, { number: '+8613800138000' }), { ok: false, code: 'CALLS_ERR_NO_PHONE' }, 'no outbound trunk');
  t.match(await r2.calls.transfer(id2, { queue: 'nowhere' }), { ok: false, code: 'CALLS_ERR_UNKNOWN_TARGET' });
  t.match(await r2.calls.transfer(id2, { queue: 'constructor' }), { ok: false, code: 'CALLS_ERR_UNKNOWN_TARGET' }, 'not Object.prototype\'s');
  t.match(await r2.calls.transfer(id2, { queue: 'orders' }), { ok: false, code: 'CALLS_ERR_LOOP' });
  t.equal(r2.acd.inspectCall(id2)?.state, 'talking', 'nothing changed');
  t.same(r2.calls.transferOutcomes().api_queue, { ok: 0, failed: 0, refused: 3 });
});

t.test('hold and resume from the API: music to the caller, the bridge back, holdMs in the CDR', async (t) => {
  const r = rig(t);
  const p1 = r.agent('a1', '2001', 5070);
  const { callId, leg } = await r.answeredCall(p1);
  const bridges = (): number => r.media.calls.filter((c) => c.op === 'bridge').length;
  const b0 = bridges();
  t.match(r.calls.hold(callId, 'hold'), { ok: true, held: true });
  await r.settle();
  t.ok(r.media.calls.some((c) => c.op === 'unbridge' && c.leg === leg), 'the caller leaves the bridge');
  t.same(r.media.lastPrompts(leg), ['hold/orders'], 'and hears its queue\'s hold music');
  t.match(r.calls.hold(callId, 'hold'), { ok: true, held: true }, 'hold twice: still held, nothing more');
  await r.advance(3000);
  t.match(r.calls.hold(callId, 'resume'), { ok: true, held: false });
  await r.settle();
  t.equal(bridges(), b0 + 1, 'bridged again');
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  await r.advance(60_000);
  t.match(await cdrOf(r, callId), { holdMs: 3000 });
});

t.test('checkApiTransfer: a call passed on too often is a loop', async (t) => {
  const base: ApiTransferContext = {
    target: { queue: 'service' }, talking: true, currentQueue: 'orders', currentAgent: 'a1', transfers: 0, queues: { orders: 1, service: 1 },
    agent: () => ({ free: true }), canDial: true,
  };
  t.match(checkApiTransfer(base), { ok: true, kind: 'api_queue', queue: 'service' });
  t.match(checkApiTransfer({ ...base, transfers: MAX_TRANSFERS }), { ok: false, code: 'CALLS_ERR_LOOP' });
  t.match(checkApiTransfer({ ...base, target: { number: '123' }, canDial: false }), { ok: false, kind: 'api_external', code: 'CALLS_ERR_NO_PHONE' });
});
