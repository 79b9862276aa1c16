/**
 * Call control on the rig of testing.ts: the real UA (over a recording wire), real ACD, real
 * SQLite store, real trunk table and SDP negotiation; only media is a fake. Each test drives SIP
 * and media events and checks SIP answers, events, outbox items and CDRs.
 */
import t from 'tap';
import { CallRig, FakeOutbound, PHASE_EDGES_SEEN, T0, type RigOptions } from './testing.ts';
import { CALL_PHASE_NEXT } from './phase.ts';
import type { Cdr } from '../../crm-adapter/index.ts';

async function rig(tt: { teardown(fn: () => unknown): void }, o: RigOptions = {}): Promise<CallRig> {
  const r = new CallRig(o);
  tt.teardown(() => r.close());
  return r;
}

/** Kinds of the outbox items of a call: event types, `cdr`. */
async function lane(r: CallRig, callId: string): Promise<string[]> {
  return (await r.outbox(callId)).map((i) => (i.kind === 'event' ? i.payload.type : 'cdr'));
}

async function cdrOf(r: CallRig, callId: string): Promise<Cdr | undefined> {
  const item = (await r.outbox(callId)).find((i) => i.kind === 'cdr');
  return item?.kind === 'cdr' ? item.payload : undefined;
}

/** A carrier call through the default flow (welcome, queue orders) until it is queued. */
async function queuedCall(r: CallRig, o: Parameters<CallRig['invite']>[0] = {}): Promise<{ sipCallId: string; callId: string; leg: string }> {
  const before = r.media.calls.filter((c) => c.op === 'allocate').length;
  const { callId: sipCallId } = r.invite(o);
  await r.settle();
  const leg = r.callerLeg(before);
  r.media.done(leg); // welcome ended
  await r.settle();
  const callId = r.of('call.arrived').find((e) => e.sipCallId === sipCallId)!.callId;
  return { sipCallId, callId, leg };
}

t.test('an INVITE whose Request-URI user has a broken escape (%zz) is answered, not thrown', async (t) => {
  const r = await rig(t);
  let x: { callId: string } | undefined;
  t.doesNotThrow(() => { x = r.invite({ ruri: 'sip:%zz@127.0.0.1', to: '%zz' }); });
  await r.settle();
  t.equal(r.lastStatus(x!.callId), 484, 'the trunk answers: no dialled number');
  let y: { callId: string } | undefined;
  t.doesNotThrow(() => { y = r.invite({ ruri: 'sip:%zz@127.0.0.1', source: { transport: 'UDP', address: '203.0.113.9', port: 5060 } }); });
  t.equal(r.lastStatus(y!.callId), 403, 'from an unknown source: refused by the trunk');
  const z = r.invite({ ruri: 'sip:80%zz01@127.0.0.1', to: '80%zz01' });
  t.ok(r.lastStatus(z.callId), 'answered');
});

t.test('a dialled "constructor" is not a feature code from Object.prototype', async (t) => {
  const r = await rig(t);
  const phone = r.agent('a1', '2001', 5070);
  const x = r.invite({ from: '2001', to: 'constructor', ruri: 'sip:constructor@127.0.0.1', source: phone.source, sdp: false });
  t.equal(r.lastStatus(x.callId), 403, 'the trunk refuses the phone as a carrier source; no desk request');
  const y = r.invite({ to: 'constructor', ruri: 'sip:constructor@127.0.0.1' });
  t.equal(r.lastStatus(y.callId), 484, 'from the carrier: the trunk\'s answer (no digits)');
  t.same(r.desk.requests, []);
});

t.test('feature codes: only from the agent\'s registered phone (C3); the desk decides (C2)', async (t) => {
  const r = await rig(t);
  const phone = r.agent('a1', '2001', 5070);
  const wrong = { transport: 'UDP' as const, address: '203.0.113.66', port: 5070 };
  const spoof = r.invite({ from: '2001', to: '*63', ruri: 'sip:*63@127.0.0.1', source: wrong, sdp: false });
  t.equal(r.lastStatus(spoof.callId), 403, 'From says 2001, but the INVITE did not come from its phone');
  t.same(r.desk.requests, [], 'nothing asked of the desk');
  t.equal(r.acd.inspectAgent('a1')?.status, 'available', 'the agent is untouched');
  const samePortOtherHost = r.invite({ from: '2001', to: '*63', ruri: 'sip:*63@127.0.0.1', source: { ...phone.source, address: '198.51.100.8' }, sdp: false });
  t.equal(r.lastStatus(samePortOtherHost.callId), 403);
  const unknown = r.invite({ from: '9999', to: '*63', ruri: 'sip:*63@127.0.0.1', source: phone.source, sdp: false });
  t.equal(r.lastStatus(unknown.callId), 403, 'not an agent extension');
  const real = r.invite({ from: '2001', to: '*63', ruri: 'sip:*63@127.0.0.1', source: phone.source, sdp: false });
  t.equal(r.lastStatus(real.callId), 480);
  t.equal(r.responses(real.callId).at(-1)?.reason, 'Agent Logged Out');
  t.same(r.desk.requests, [{ agentId: 'a1', action: 'logout' }], 'the desk got the request, with the phone as origin');
  t.equal(r.acd.inspectAgent('a1')?.status, 'loggedOut');
  const escaped = r.invite({ from: '2001', to: '%2A61', ruri: 'sip:%2A61@127.0.0.1', source: phone.source, sdp: false });
  t.equal(r.responses(escaped.callId).at(-1)?.reason, 'Agent Ready', 'an escaped *61 is *61');
});

t.test('feature code the desk refuses: 409 and the reason logged', async (t) => {
  const r = await rig(t);
  const phone = r.agent('a1', '2001', 5070, false);
  r.desk.request = () => ({ ok: false, code: 'DESK_ERR_NOT_REGISTERED', message: 'no phone' });
  const x = r.invite({ from: '2001', to: '*61', ruri: 'sip:*61@127.0.0.1', source: phone.source, sdp: false });
  t.equal(r.lastStatus(x.callId), 409);
});

t.test('capacity refusals: every INVITE gets 503; CDRs and callbacks bounded per trunk, junk numbers and repeats get no task', async (t) => {
  const r = await rig(t, { settings: { maxCalls: 0, refusals: { recordsPerSecond: 1, burst: 2, dedupeMs: 60_000 } } });
  const a = r.invite({ from: '+41791112233' });
  const b = r.invite({ from: '+41791112233' });
  const c = r.invite({ from: '+41795556677' });
  await r.settle();
  for (const x of [a, b, c]) t.equal(r.lastStatus(x.callId), 503);
  t.equal(r.responses(a.callId).at(-1)?.headers.get('retry-after'), '5');
  t.equal(r.of('call.rejected').length, 3);
  t.match(r.of('call.rejected')[0], { reason: 'capacity', status: 503, trunk: 'carrier', queue: null });
  t.same(r.of('call.refusalUnrecorded').map((e) => e.trunk), ['carrier'], 'the third is over the bucket: counted, not written');
  t.equal(r.of('callback.created').length, 1, 'the repeat of the same number within the window made no second task');
  t.equal(await r.store.callbacks.count(), 1);
  await r.advance(1000);
  const d = r.invite({ from: 'anonymous' });
  const e = r.invite({ from: '12' });
  await r.settle();
  t.equal(r.lastStatus(d.callId), 503);
  t.equal(r.of('call.refusalUnrecorded').length, 2, 'one token per second: the anonymous one is recorded, the next not');
  t.equal(await r.store.callbacks.count(), 1, 'anonymous is no callback');
  t.equal(r.lastStatus(e.callId), 503, 'over the bound: still its 503');
  const rejected = r.of('call.rejected').map((x) => x.callId);
  const cdrs = (await Promise.all(rejected.map((id) => cdrOf(r, id)))).filter((x) => x !== undefined);
  t.equal(cdrs.length, 3, 'a CDR per recorded refusal');
  t.ok(cdrs.every((x) => x.outcome === 'rejected_capacity' && typeof x.sipCallId === 'string' && x.sipCallId.startsWith('carrier-')));
});

t.test('a whole answered call: events with real values, CRM events as they happen, CDR at the measured end of wrap-up', async (t) => {
  const lines: string[] = [];
  const r = await rig(t, { logLevel: 'debug', logLines: lines });
  const phone = r.agent('a1', '2001', 5070);
  const { sipCallId, callId, leg } = await queuedCall(r, { from: '+41791234567', to: '8001' });
  t.match(r.of('call.arrived')[0], { callId, caller: '+41791234567', dialled: '8001', trunk: 'carrier', sipCallId, at: T0 });
  t.same(r.media.lastPrompts(leg), ['en/in-queue', 'hold/music'], 'the queue\'s hold music');
  t.match(r.of('call.queued')[0], {
    callId, queue: 'orders', caller: '+41791234567', dialled: '8001', programme: 'morning-show', airing: 'air-1', position: 1, priority: 0,
  });
  await r.settle();
  const inv = r.agentInvites()[0]!;
  t.ok(inv, 'the phone rings');
  t.match(r.of('call.offered')[0], { callId, queue: 'orders', agentId: 'a1', caller: '+41791234567', dialled: '8001', programme: 'morning-show', airing: 'air-1', attempt: 1 });
  t.same(await lane(r, callId), ['queued', 'offered'], 'CRM events are in the outbox before the call ends');
  await r.advance(3000);
  r.phoneAnswers(inv, phone);
  await r.settle();
  t.match(r.of('call.answered')[0], { callId, queue: 'orders', agentId: 'a1', waitMs: 3000 });
  t.ok(r.media.calls.some((c) => c.op === 'bridge'), 'legs bridged');
  await r.advance(60_000);
  r.phoneHangsUp(inv, phone);
  await r.settle();
  t.match(r.of('call.ended')[0], { callId, agentId: 'a1', queue: 'orders', trunk: 'carrier', outcome: 'answered', releasedBy: 'agent' });
  t.same(await lane(r, callId), ['queued', 'offered', 'answered', 'ended'], 'no CDR while the agent wraps up');
  t.equal(r.calls.pendingCdrs, 1);
  const endedAt = T0 + 63_000;
  await r.advance(2000);
  t.same(await lane(r, callId), ['queued', 'offered', 'answered', 'ended', 'cdr']);
  const cdr = await cdrOf(r, callId);
  t.match(cdr, {
    callId, sipCallId, outcome: 'answered', agent: 'a1', queue: 'orders', offers: 1, answeredAt: T0 + 3000, endedAt,
    wrapUpEndAt: endedAt + 2000, wrapUpMs: 2000, talkMs: 60_000, waitMs: 3000, programme: 'morning-show', airing: 'air-1',
  });
  t.equal(r.acd.inspectAgent('a1')?.state, 'idle');
  t.match(r.of('agent.state').at(-1), { agentId: 'a1', state: 'idle', status: 'available' });
  // The debug trace: one line per phase change, with both ids.
  const trace = lines.map((l) => JSON.parse(l) as { msg: string; callId?: string; sipCallId?: string; from?: string; to?: string })
    .filter((l) => l.msg === 'call phase' && l.callId === callId);
  t.same(trace.map((l) => `${l.from}>${l.to}`), ['setup>ivr', 'ivr>queued', 'queued>offering', 'offering>talking', 'talking>ended']);
  t.ok(trace.every((l) => l.sipCallId === sipCallId));
});

t.test('the trace costs nothing when debug is off: no phase line is built', async (t) => {
  const lines: string[] = [];
  const r = await rig(t, { logLevel: 'silent', logLines: lines });
  r.agent('a1', '2001', 5070);
  await queuedCall(r);
  t.same(lines, []);
});

t.test('decline: the next offer says attempt 2; a logout during wrap-up does not cut the measured wrap-up', async (t) => {
  const r = await rig(t);
  const p1 = r.agent('a1', '2001', 5070);
  const { callId } = await queuedCall(r);
  await r.settle();
  r.phoneRejects(r.agentInvites()[0]!, p1, 486);
  await r.settle();
  const p2 = r.agent('a2', '2002', 5072);
  await r.settle();
  const offers = r.of('call.offered');
  t.same(offers.map((o) => [o.agentId, o.attempt]), [['a1', 1], ['a2', 2]]);
  const inv2 = r.agentInvites().at(-1)!;
  r.phoneAnswers(inv2, p2);
  await r.settle();
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  t.match(r.of('call.ended')[0], { outcome: 'answered', releasedBy: 'caller', agentId: 'a2' });
  await r.advance(500);
  r.calls.apply(r.acd.agentLoggedOut('a2', r.clock.now()));
  await r.settle();
  t.equal(await cdrOf(r, callId), undefined, 'a logout during wrap-up waits for its end (the ACD never ends it early)');
  await r.advance(1500);
  t.match(await cdrOf(r, callId), { offers: 2, wrapUpMs: 2000, agent: 'a2' });
  t.equal(r.acd.inspectAgent('a2')?.status, 'loggedOut', 'the pending logout applied when the wrap-up ended');
});

t.test('no tipping point: an offer whose phone never rang is not the agent\'s ring-no-answer; one the engine could not deliver neither', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', ringTimeoutMs: 5000 }] });
  const p1 = r.agent('a1', '2001', 5070);
  await queuedCall(r);
  await r.settle();
  t.equal(r.agentInvites().length, 1);
  t.equal(r.acd.snapshot(r.clock.now()).offersPendingSend, 0, 'the INVITE left: no offer pending');
  await r.advance(5000);
  await r.settle();
  t.equal(r.acd.inspectAgent('a1')?.status, 'available', 'the phone never said 180 (a late offer): the agent stays available');
  t.same(r.of('call.offered').map((o) => o.agentId), ['a1', 'a1'], 'the caller, back at the head, is offered to the available agent again');
  r.phoneRings(r.agentInvites().at(-1)!, p1);
  await r.settle();
  await r.advance(5000);
  await r.settle();
  t.match(r.acd.inspectAgent('a1'), { status: 'notReady', reason: 'ringNoAnswer' }, 'a phone that rang 5 s unanswered is the agent\'s');

  const r2 = await rig(t);
  await queuedCall(r2);
  r2.media.failNextAllocate = true;
  r2.agent('a2', '2002', 5072);
  await r2.settle();
  t.match(r2.acd.inspectAgent('a2'), { status: 'available' }, 'no media leg for the agent: the engine failed, the agent is not blamed');
  t.equal(r2.of('call.offered').length, 2, 'and the caller is offered again at once');
});

t.test('released at the queue\'s max wait: released_max_wait with a callback, not an abandon', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', maxWaitMs: 5000 }] });
  const { callId, leg } = await queuedCall(r);
  await r.advance(5000);
  t.same(r.media.lastPrompts(leg), ['en/all-agents-busy', 'en/callback-confirmed', 'en/goodbye']);
  r.media.done(leg);
  await r.settle();
  t.match(r.of('call.ended')[0], { outcome: 'released_max_wait', releasedBy: 'system', queue: 'orders' });
  t.equal(r.of('call.abandoned').length, 0, 'no abandon');
  t.match(await cdrOf(r, callId), { outcome: 'released_max_wait' });
  const [task] = await r.store.callbacks.list();
  t.match(task, { reason: 'released_max_wait', queue: 'orders' });
});

t.test('a stop during the closing prompt keeps the decided outcome', async (t) => {
  const r = new CallRig({ queues: [{ id: 'orders', maxWaitMs: 1000 }] });
  const { callId } = await queuedCall(r);
  await r.advance(1000);
  const drained = r.calls.drain(0);
  r.clock.advance(0);
  await drained;
  t.match(await cdrOf(r, callId), { outcome: 'released_max_wait', releasedBy: 'system' });
  r.ua.close();
  await r.store.close();
});

t.test('hanging up during the closing prompt keeps the decided outcome', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', maxWaitMs: 1000 }] });
  const { sipCallId } = await queuedCall(r);
  await r.advance(1000);
  r.inDialog(sipCallId, 'BYE');
  await r.settle();
  t.match(r.of('call.ended')[0], { outcome: 'released_max_wait', releasedBy: 'caller' });
});

t.test('queue full at entry: call.rejected queue_full, a capacity outcome with a callback', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', maxLength: 0 }] });
  const { callId, leg } = await queuedCall(r);
  t.match(r.of('call.rejected')[0], { callId, reason: 'queue_full', queue: 'orders', status: 0, trunk: 'carrier' });
  t.equal(r.of('call.queued').length, 0, 'never queued');
  r.media.done(leg);
  await r.settle();
  t.match(await cdrOf(r, callId), { outcome: 'rejected_capacity' });
  t.equal(await r.store.callbacks.count(), 1);
});

t.test('abandonToCallback per queue: a caller who hangs up in the queue becomes a task only where it is on', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders' }, { id: 'service' }] });
  (r.settings.queues as Record<string, { abandonToCallback: boolean }>)['service']!.abandonToCallback = false;
  (r.settings.flows as Record<string, unknown>)['svc'] = { id: 'svc', steps: [{ type: 'queue', queue: 'service', vipQueue: null }] };
  (r.settings.numbers as Record<string, unknown>)['8002'] = { flow: 'svc', programme: null, airing: null };
  const a = await queuedCall(r, { from: '+41790000001' });
  r.inDialog(a.sipCallId, 'BYE');
  const b = r.invite({ from: '+41790000002', to: '8002', ruri: 'sip:8002@127.0.0.1' });
  await r.settle();
  r.inDialog(b.callId, 'BYE');
  await r.settle();
  t.same(r.of('call.abandoned').map((e) => [e.queue, e.stage]), [['orders', 'queue'], ['service', 'queue']]);
  t.same(r.of('call.ended').map((e) => e.outcome), ['abandoned_queue', 'abandoned_queue']);
  const tasks = await r.store.callbacks.list();
  t.same(tasks.map((x) => x.caller), ['+41790000001'], 'only the orders caller is called back');
});

t.test('per-queue hold music', async (t) => {
  const r = await rig(t);
  (r.settings.queues as Record<string, { holdMusic: string }>)['orders']!.holdMusic = 'hold/jazz';
  const { leg } = await queuedCall(r);
  t.same(r.media.lastPrompts(leg), ['en/in-queue', 'hold/jazz']);
});

t.test('announcements: position and wait as switched; with nobody staffed the wait is left out (no Infinity)', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', announcePeriodMs: 1000 }] });
  const { leg } = await queuedCall(r);
  await r.advance(1000);
  t.same(r.media.lastPrompts(leg), ['en/you-are-number', '#1', '~200', '~300', 'hold/music'], 'no agent staffed: no estimate');
  r.agent('a1', '2001', 5070, false);
  r.calls.apply(r.acd.setAgentStatus('a1', 'notReady', null, r.clock.now()));
  const q = (r.settings.queues as Record<string, { announcePosition: boolean; announceWait: boolean }>)['orders']!;
  q.announcePosition = false;
  const before = r.media.plays(leg).length;
  await r.advance(1000);
  t.equal(r.media.plays(leg).length, before, 'wait only, still no estimate: nothing to say, the hold music goes on');
  q.announceWait = false;
  q.announcePosition = true;
  await r.advance(1000);
  t.same(r.media.lastPrompts(leg), ['en/you-are-number', '#1', '~200', '~300', 'hold/music']);
});

t.test('announcement with an estimate says the minutes', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', announcePeriodMs: 1000, ringTimeoutMs: 0 }] });
  r.agent('a1', '2001', 5070);
  await queuedCall(r, { from: '+41790000001' }); // takes the agent (ringing)
  const { leg } = await queuedCall(r, { from: '+41790000002' });
  await r.advance(1000);
  const said = r.media.lastPrompts(leg);
  t.same([said[0], said[1], said[3], said[5]], ['en/you-are-number', '#1', 'en/estimated-wait', 'en/minutes']);
  t.match(said[4], /^#[1-9][0-9]*$/, 'a whole number of minutes');
});

t.test('the callback offer listens for the queue\'s digit (the prompt says 3), not 1', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', admission: { callbackAboveMs: 0 } }] });
  const { callId, leg } = await queuedCall(r);
  t.same(r.media.lastPrompts(leg), ['en/callback-offer', '~300', 'hold/music']);
  r.media.digit(leg, '1');
  await r.settle();
  t.equal(r.calls.list()[0]?.phase, 'queued', '1 does nothing');
  r.media.digit(leg, '3');
  await r.settle();
  t.equal(r.calls.list()[0]?.phase, 'closing');
  r.media.done(leg);
  await r.settle();
  t.match(await cdrOf(r, callId), { outcome: 'callback_requested' });
  t.match((await r.store.callbacks.list())[0], { reason: 'requested' });
});

t.test('preferredAgent from the CRM is an extension: mapped to the agent id for the ACD', async (t) => {
  const r = await rig(t, { crm: { '+41791234567': { known: true, preferredAgent: '2002' } } });
  r.agent('a2', '2002', 5072, false);
  const { callId } = await queuedCall(r);
  t.equal(r.acd.inspectCall(callId)?.preferredAgentId, 'a2');
});

t.test('DTMF in SIP INFO feeds the IVR like RFC 4733; hostile bodies get 400', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders' }, { id: 'service' }] });
  (r.settings.flows as Record<string, unknown>)['main'] = {
    id: 'main', steps: [{
      type: 'menu', prompts: ['menu'], timeoutMs: 5000, retries: 1, invalidPrompts: ['invalid-choice'],
      options: { '2': { type: 'queue', queue: 'service', vipQueue: null } },
    }],
  };
  const { callId: sip } = r.invite();
  await r.settle();
  r.inDialog(sip, 'INFO', { contentType: 'application/dtmf-relay', body: 'Signal=22\r\nDuration=160\r\n' });
  r.inDialog(sip, 'INFO', { contentType: 'application/dtmf-relay', body: 'Duration=160\r\n' });
  r.inDialog(sip, 'INFO', { contentType: 'application/dtmf', body: 'x'.repeat(300) });
  r.inDialog(sip, 'INFO', { contentType: 'application/xml', body: '<x/>' });
  t.same(r.dialogResponses(sip, 'INFO'), [400, 400, 400, 200], 'malformed DTMF → 400; another INFO package → 200 and ignored');
  t.equal(r.calls.list()[0]?.phase, 'ivr');
  r.inDialog(sip, 'INFO', { contentType: 'application/dtmf-relay', body: 'Signal= 2\r\nDuration=160\r\n' });
  await r.settle();
  t.same(r.dialogResponses(sip, 'INFO').at(-1), 200);
  t.match(r.of('call.queued')[0], { queue: 'service' }, 'the digit chose the menu option');
});

t.test('application/dtmf INFO digit reaches the queue\'s callback offer', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', admission: { callbackAboveMs: 0 } }] });
  const { sipCallId } = await queuedCall(r);
  r.inDialog(sipCallId, 'INFO', { contentType: 'application/dtmf', body: '3' });
  await r.settle();
  t.equal(r.calls.list()[0]?.phase, 'closing');
});

t.test('call.abandoned in the IVR carries its queue (null) and stage', async (t) => {
  const r = await rig(t);
  const { callId: sip } = r.invite();
  await r.settle();
  r.inDialog(sip, 'BYE');
  await r.settle();
  t.match(r.of('call.abandoned')[0], { queue: null, stage: 'ivr' });
  t.match(r.of('call.ended')[0], { outcome: 'abandoned_ivr', agentId: null, queue: null, trunk: 'carrier' });
});

t.test('no media leg: call.rejected media 503 and a callback for the failed caller', async (t) => {
  const r = await rig(t);
  r.media.failNextAllocate = true;
  const { callId: sip } = r.invite();
  await r.settle();
  t.equal(r.lastStatus(sip), 503);
  t.match(r.of('call.rejected')[0], { reason: 'media', status: 503, trunk: 'carrier' });
  t.match(r.of('call.ended')[0], { outcome: 'failed' });
});

t.test('blacklisted caller: rejected before media, call.rejected blacklist', async (t) => {
  const r = await rig(t, { crm: { '+41790000666': { known: true, blacklisted: true } } });
  const { callId: sip } = r.invite({ from: '+41790000666' });
  await r.settle();
  t.equal(r.lastStatus(sip), 603);
  t.match(r.of('call.rejected')[0], { reason: 'blacklist', status: 603, queue: null });
  t.equal(r.media.calls.length, 0, 'no media');
  t.equal(await r.store.callbacks.count(), 0);
});

t.test('drain writes a CDR still waiting for its wrap-up', async (t) => {
  const r = new CallRig();
  const phone = r.agent('a1', '2001', 5070);
  const { callId } = await queuedCall(r);
  await r.settle();
  const inv = r.agentInvites()[0]!;
  r.phoneAnswers(inv, phone);
  await r.settle();
  r.phoneHangsUp(inv, phone);
  await r.settle();
  t.equal(r.calls.pendingCdrs, 1);
  const drained = r.calls.drain(0);
  r.clock.advance(0);
  await drained;
  t.equal(r.calls.pendingCdrs, 0);
  t.match(await cdrOf(r, callId), { outcome: 'answered', wrapUpMs: 0 });
  r.ua.close();
  await r.store.close();
});


t.test('a caller who hangs up while a phone rings: abandoned at ringing, the phone is cancelled', async (t) => {
  const r = await rig(t);
  r.agent('a1', '2001', 5070);
  const { sipCallId } = await queuedCall(r);
  await r.settle();
  t.equal(r.agentInvites().length, 1);
  r.phoneRings(r.agentInvites()[0]!, r.phones.get('a1')!);
  r.inDialog(sipCallId, 'BYE');
  await r.settle();
  t.match(r.of('call.abandoned')[0], { stage: 'ringing', queue: 'orders' });
  t.ok(r.wire.sent.some((s) => s.message.kind === 'request' && s.message.method === 'CANCEL'), 'CANCEL to the phone');
  t.equal(r.acd.inspectAgent('a1')?.state, 'idle');
});

t.test('the callback digit while a phone rings: the offer is withdrawn, the caller is closed with a callback', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', admission: { callbackAboveMs: 0 } }] });
  const { callId, leg } = await queuedCall(r);
  r.agent('a1', '2001', 5070);
  await r.settle();
  t.equal(r.calls.list()[0]?.phase, 'offering');
  r.phoneRings(r.agentInvites()[0]!, r.phones.get('a1')!);
  r.media.digit(leg, '3');
  await r.settle();
  t.equal(r.calls.list()[0]?.phase, 'closing', 'not sent back to the queue by the ACD\'s withdrawal');
  t.ok(r.wire.sent.some((s) => s.message.kind === 'request' && s.message.method === 'CANCEL'));
  r.media.done(leg);
  await r.settle();
  t.match(await cdrOf(r, callId), { outcome: 'callback_requested', offers: 1 });
});

t.test('a callback chosen in the IVR menu', async (t) => {
  const r = await rig(t);
  (r.settings.flows as Record<string, unknown>)['main'] = {
    id: 'main', steps: [{
      type: 'menu', prompts: ['menu'], timeoutMs: 5000, retries: 0, invalidPrompts: [],
      options: { '3': { type: 'callback', queue: 'orders', prompts: ['callback-confirmed', 'goodbye'] } },
    }],
  };
  const { callId: sip } = r.invite();
  await r.settle();
  const leg = r.callerLeg();
  r.media.digit(leg, '3');
  await r.settle();
  r.media.done(leg);
  await r.settle();
  t.match(r.of('call.ended')[0], { outcome: 'callback_requested', queue: 'orders' });
  t.equal(r.lastStatus(sip), 200);
});

t.test('a blind REFER from the agent\'s phone puts the caller back in a queue (talking → queued)', async (t) => {
  const r = await rig(t, { queues: [{ id: 'orders', wrapUpMs: 10_000 }, { id: 'service' }] });
  const phone = r.agent('a1', '2001', 5070);
  const { callId } = await queuedCall(r);
  await r.settle();
  r.phoneAnswers(r.agentInvites()[0]!, phone);
  await r.settle();
  r.phoneRequest(r.agentInvites()[0]!, phone, 'REFER', ['Refer-To: <sip:service@127.0.0.1>']);
  await r.settle();
  t.match(r.acd.inspectCall(callId), { queueId: 'service', state: 'waiting' }, 'waiting in the target queue');
});

t.test('an API transfer to a number: talking → external; not reached → queued; transferred again, the caller hangs up → ended', async (t) => {
  const outbound = new FakeOutbound();
  const r = await rig(t, { queues: [{ id: 'orders', wrapUpMs: 1000 }], outbound });
  const phone = r.agent('a1', '2001', 5070);
  const { callId } = await queuedCall(r);
  await r.settle();
  r.phoneAnswers(r.agentInvites()[0]!, phone);
  await r.settle();
  await r.calls.transfer(callId, { number: '+8613800138000' });
  t.equal(r.calls.list()[0]?.phase, 'external');
  outbound.fail(0);
  await r.settle();
  t.equal(r.calls.list()[0]?.phase, 'queued', 'back in the queue');
  await r.advance(2000);
  r.phoneAnswers(r.agentInvites().at(-1)!, phone);
  await r.settle();
  await r.calls.transfer(callId, { number: '+8613800138000' });
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  t.equal(r.calls.size, 0, 'ended from external');
});

t.test('every edge of the phase table is one call control takes (seen in the traces of the tests above)', async (t) => {
  const table = Object.entries(CALL_PHASE_NEXT).flatMap(([from, tos]) => tos.map((to) => `${from}>${to}`));
  t.same(table.filter((e) => !PHASE_EDGES_SEEN.has(e)), [], 'no edge of the table unused');
  t.same([...PHASE_EDGES_SEEN].filter((e) => !table.includes(e)), [], 'no change outside the table');
});

t.test('a caller that never ACKs our 200 hears hold audio but never enters the ACD, and ends at Timer H as failed with no callback', async (t) => {
  const r = await rig(t);
  const sipCallId = 'junk-no-ack@192.0.2.10';
  r.withholdAck(sipCallId);
  const before = r.media.calls.filter((c) => c.op === 'allocate').length;
  r.invite({ callId: sipCallId });
  await r.settle();
  t.equal(r.lastStatus(sipCallId), 200, 'answered (the trunk answers at once)');
  const leg = r.callerLeg(before);
  r.media.done(leg); // welcome ended: the flow reaches its queue step
  await r.settle();
  t.match(r.media.lastPrompts(leg).join(' '), /in-queue/, 'the caller hears the queue\'s hold audio at once');
  const phone = r.agent('a1', '2001', 5070);
  await r.advance(10_000);
  t.equal(r.of('call.queued').length, 0, 'never queued in the ACD');
  t.equal(r.agentInvites().length, 0, 'no agent is offered the unconfirmed call');
  void phone;
  await r.advance(25_000); // past Timer H (64 × T1 = 32 s)
  const callId = r.of('call.arrived').find((e) => e.sipCallId === sipCallId)!.callId;
  t.equal(r.of('call.ended').find((e) => e.callId === callId)?.outcome, 'failed');
  t.equal((await cdrOf(r, callId))?.outcome, 'failed', 'the CDR says failed');
  t.equal(await r.store.callbacks.count(), 0, 'an unconfirmed call is no callback task');

  // The same call with its ACK: the flow starts at the ACK.
  const ok = await queuedCall(r);
  t.ok(r.of('call.queued').some((e) => e.callId === ok.callId), 'an acknowledged call is queued');
});

t.test('first media latency counts the time the INVITE waited before call control (work classes)', async (t) => {
  const r = await rig(t);
  // Parsed 3 s ago and held in the signalling class since: the caller has waited those 3 s.
  r.invite({ readAt: performance.now() - 3000 });
  await r.settle();
  t.equal(r.firstMediaMs.length, 1, 'the welcome prompt started');
  t.ok(r.firstMediaMs[0]! >= 3000, `latency ${r.firstMediaMs[0]} ms includes the wait (call control's clock alone says 0)`);
  r.invite();
  await r.settle();
  t.ok(r.firstMediaMs[1]! < 3000, 'an INVITE without a read time adds nothing');
});

t.test('a new caller\'s set-up is timed by stage: signalling queue, CRM look-up and journal, media leg', async (t) => {
  const r = await rig(t);
  r.invite({ readAt: performance.now() - 3000 });
  await r.settle();
  t.equal(r.setupStages.length, 1, 'one set-up timed');
  const s = r.setupStages[0]!;
  t.ok(s.queuedMs >= 3000, `the signalling queue stage holds the 3 s wait (${s.queuedMs} ms)`);
  t.ok(s.lookupMs >= 0 && s.legMs >= 0, 'the look-up and leg stages are measured');
  t.equal(s.callId, r.of('call.arrived')[0]!.callId, 'of the call that arrived');
  t.equal(r.firstMediaMs.length, 1, 'and its first media followed');
});
