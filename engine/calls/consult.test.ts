/**
 * Attended transfer on the call-control rig (the real UA, ACD and store over a fake wire, fake
 * media recording its commands): the consultation's INVITE, the holds and bridges, the REFER with
 * Replaces (matched in B's view of onair's dialog with it) and its refusals, the desktop's complete
 * and cancel, a decline, A hanging up during the consultation, and the CDR's legs. Before the
 * consultation existed every REFER with Replaces was answered 488 and `consult` did not exist.
 * The consultation A's phone starts itself (phone-consult.ts): it holds the caller, INVITEs B's
 * extension from its registered source, and REFERs in the caller's dialog with a Replaces naming
 * that new dialog. Before it, such an INVITE took the carrier path (here: 403 from the trunk
 * table, no INVITE to B) and no Replaces could name it.
 */
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { createResponse, parseUri, type SipRequest } from '../sip/index.ts';
import type { Cdr } from '../../crm-adapter/index.ts';
import { CallRig, type Phone, type RigOptions } from './testing.ts';
import { DEFAULT_QUEUE_CALL_SETTINGS } from './settings.ts';
import { CallMonitor } from './monitor.ts';
import { consultingCall, phoneNotReached, phoneRefusal } from './phone-consult.ts';

const QUEUES: RigOptions['queues'] = [{ id: 'orders', wrapUpMs: 10_000 }, { id: 'service', wrapUpMs: 10_000 }];

/** A rig where a1 talks to a caller and a2 is available and idle. */
async function talking(tt: { teardown(fn: () => unknown): void }, o: Partial<RigOptions> = {}) {
  const r = new CallRig({ queues: QUEUES, ...o });
  tt.teardown(() => r.close());
  const p1 = r.agent('a1', '2001', 5070);
  const p2 = r.agent('a2', '2002', 5072, false);
  const call = await r.answeredCall(p1);
  r.calls.apply(r.acd.setAgentStatus('a2', 'available', null, r.clock.now()));
  await r.settle();
  return { r, p1, p2, ...call };
}

/** Status codes we answered to requests of `method` in the dialog of `inv`. */
function answers(r: CallRig, inv: SipRequest, method: string): number[] {
  return r.wire.sent.flatMap((s) => (s.message.kind === 'response' && s.message.headers.callId === inv.headers.callId
    && s.message.headers.cseq.method === method ? [s.message.status] : []));
}

/** Requests of `method` we sent in the dialog of `inv`. */
function sentIn(r: CallRig, inv: SipRequest, method: string): SipRequest[] {
  return r.wire.sent.flatMap((s) => (s.message.kind === 'request' && s.message.method === method && s.message.headers.callId === inv.headers.callId ? [s.message] : []));
}

function refer(r: CallRig, inv: SipRequest, p: Phone, referTo: string): void {
  r.phoneRequest(inv, p, 'REFER', [`Refer-To: ${referTo}`, `Referred-By: <sip:${p.extension}@onair.invalid>`]);
}

async function cdrOf(r: CallRig, callId: string): Promise<Cdr | undefined> {
  const item = (await r.outbox(callId)).find((i) => i.kind === 'cdr');
  return item?.kind === 'cdr' ? item.payload : undefined;
}

t.test('consult, then REFER with Replaces from A: 202, NOTIFY 200, the caller bridged to B, A hung up, one CDR with three legs', async (t) => {
  const { r, p1, p2, callId, sip, leg: callerLeg, inv } = await talking(t);
  const agentLeg = r.media.calls.filter((c) => c.op === 'allocate').map((c) => (c as { leg: string }).leg)[1]!;
  t.match(await r.calls.consult(callId, 'a2'), { ok: true, agent: 'a2', state: 'ringing' });
  await r.settle();
  const inv2 = r.agentInvites().at(-1)!;
  t.not(inv2, inv, 'B\'s phone is rung');
  t.equal(inv2.headers.get('x-onair-consult'), 'a1', 'the INVITE says who consults');
  t.equal(inv2.headers.get('x-onair-call-id'), callId);
  t.ok(r.media.calls.some((c) => c.op === 'unbridge' && c.leg === callerLeg), 'the caller left A\'s bridge');
  t.same(r.media.lastPrompts(callerLeg), ['hold/music'], 'and hears its queue\'s hold music');
  t.match(r.acd.inspectAgent('a2'), { state: 'reserved', callId });
  t.match(r.calls.consultView(callId), { agent: 'a1', consult: { agent: 'a2', from: 'a1', state: 'ringing', dialog: null, referTo: null } });

  refer(r, inv, p1, `<sip:2002@onair?Replaces=${inv2.headers.callId}%3Bto-tag%3Dx%3Bfrom-tag%3Dy>`);
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [481], 'B not answered yet: no dialog to replace');

  r.phoneAnswers(inv2, p2);
  await r.settle();
  const consultLeg = r.media.calls.filter((c) => c.op === 'allocate').map((c) => (c as { leg: string }).leg).at(-1)!;
  t.ok(r.media.calls.some((c) => c.op === 'bridge' && c.a === agentLeg && c.b === consultLeg), 'A and B talk');
  t.match(r.acd.inspectAgent('a2'), { state: 'onCall', callId });
  const view = r.calls.consultView(callId)!.consult!;
  const ourTag = inv2.headers.from.params.get('tag')!;
  t.match(view, { state: 'talking', dialog: { callId: inv2.headers.callId, fromTag: ourTag } });
  t.not(view.dialog!.toTag, ourTag, 'to-tag is B\'s (B\'s view of the dialog)');

  const escaped = (s: string): string => encodeURIComponent(s);
  refer(r, inv, p1, `<sip:2002@onair?Replaces=${escaped(`${inv2.headers.callId};to-tag=${ourTag};from-tag=${view.dialog!.toTag}`)}>`);
  refer(r, inv, p1, `<sip:2002@onair?Replaces=${escaped(`${inv2.headers.callId};to-tag=${view.dialog!.toTag};from-tag=${ourTag};early-only`)}>`);
  r.phoneRequest(inv, p1, 'REFER', ['Refer-To: <sip:service@onair>']);
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [481, 481, 486, 603], 'tags swapped: 481; early-only on a confirmed dialog: 486; a blind REFER meanwhile: 603');
  t.match(await r.calls.transfer(callId, { queue: 'service' }), { ok: false, code: 'CALLS_ERR_NOT_TALKING' }, 'no API transfer either');

  refer(r, inv, p1, view.referTo!);
  await r.settle();
  t.same(answers(r, inv, 'REFER').at(-1), 202, 'the Replaces names the consultation: 202');
  const [notify] = sentIn(r, inv, 'NOTIFY');
  t.equal(notify?.body.toString('latin1').trim(), 'SIP/2.0 200 OK', 'sipfrag 200');
  t.match(notify?.headers.get('subscription-state'), /^terminated/);
  r.deliver(createResponse(notify!, 200), p1.source);
  await r.settle();
  t.equal(sentIn(r, inv, 'BYE').length, 1, 'then A\'s dialog is ended by BYE');
  t.ok(r.media.calls.some((c) => c.op === 'release' && c.leg === agentLeg), 'A\'s leg released');
  t.ok(r.media.calls.some((c) => c.op === 'bridge' && c.a === callerLeg && c.b === consultLeg), 'the caller bridged to B');
  t.match(r.calls.list().find((c) => c.id === callId), { phase: 'talking', agentId: 'a2' });
  t.match(r.acd.inspectAgent('a2'), { state: 'onCall', callId });
  t.match(r.acd.inspectAgent('a1'), { state: 'wrapUp', callId: null });
  t.same(r.calls.transferOutcomes().attended, { ok: 1, failed: 0, refused: 3 }, 'the blind REFER counts as blind');
  t.match(r.calls.transferCounters(), { accepted: 1, replacesNoDialog: 2, replacesNotEarly: 1 });
  t.equal(r.calls.consultView(callId)?.consult, null);
  t.equal(r.of('call.answered').at(-1)?.agentId, 'a2', 'an answered event for B');

  // B's dialog is the call's now: the caller's hang-up BYEs it; B's wrap-up ends; one CDR.
  await r.advance(3000);
  r.inDialog(sip, 'BYE');
  await r.settle();
  t.equal(sentIn(r, inv2, 'BYE').length, 1, 'B hung up with the caller');
  await r.advance(60_000);
  const cdr = await cdrOf(r, callId);
  t.match(cdr, { callId, outcome: 'answered', agent: 'a2', queue: 'orders', transfers: 1 });
  t.match(cdr?.legs, [
    { kind: 'agent', agent: 'a1', endedBy: 'transfer' }, { kind: 'consult', agent: 'a2', endedBy: 'transfer' }, { kind: 'agent', agent: 'a2', endedBy: 'hangup' },
  ]);
  t.ok((cdr?.holdMs ?? -1) >= 0);
});

t.test('B declines, the desktop completes and cancels, A hangs up while A and B talk: each as the design says', async (t) => {
  const { r, p1, p2, callId, leg: callerLeg, inv } = await talking(t);
  const agentLeg = r.media.calls.filter((c) => c.op === 'allocate').map((c) => (c as { leg: string }).leg)[1]!;
  t.match(await r.calls.consult(callId, 'a1'), { ok: false, code: 'CALLS_ERR_LOOP' });
  t.match(await r.calls.consult(callId, 'nobody'), { ok: false, code: 'CALLS_ERR_UNKNOWN_TARGET' });
  t.match(await r.calls.consult('c-none', 'a2'), { ok: false, code: 'CALLS_ERR_NO_CALL' });
  t.match(r.calls.endConsult(callId, 'cancel'), { ok: false, code: 'CALLS_ERR_NO_CONSULT' });

  // 1. B declines: A has the caller again, B is free.
  t.match(await r.calls.consult(callId, 'a2'), { ok: true });
  t.match(await r.calls.consult(callId, 'a2'), { ok: false, code: 'CALLS_ERR_CONSULTING' });
  await r.settle();
  r.phoneRejects(r.agentInvites().at(-1)!, p2, 486);
  await r.settle();
  t.ok(r.media.calls.some((c) => c.op === 'bridge' && c.a === callerLeg && c.b === agentLeg), 'caller and A bridged again');
  t.match(r.acd.inspectAgent('a2'), { state: 'idle', status: 'available', callId: null }, 'B free, still available');
  t.equal(r.calls.consultView(callId)?.consult, null);

  // 2. B answers, the desktop completes: A's phone is hung up at once, B has the caller.
  await r.calls.consult(callId, 'a2');
  await r.settle();
  const inv3 = r.agentInvites().at(-1)!;
  r.phoneAnswers(inv3, p2);
  await r.settle();
  t.match(r.calls.endConsult(callId, 'complete'), { ok: true, agent: 'a2', state: 'completed' });
  t.match(r.calls.list().find((c) => c.id === callId), { agentId: 'a2' }, 'the desktop completed it');
  t.equal(sentIn(r, inv, 'BYE').length, 1, 'A\'s phone hung up at once');
  t.match(r.acd.inspectAgent('a1'), { state: 'wrapUp' });

  // 3. Now the call is a2's; a1 is back after its wrap-up. a2 consults a1 and cancels.
  await r.advance(11_000);
  t.match(r.acd.inspectAgent('a1'), { state: 'idle' });
  await r.calls.consult(callId, 'a1');
  await r.settle();
  const inv4 = r.agentInvites().at(-1)!;
  r.phoneAnswers(inv4, p1);
  await r.settle();
  t.match(r.calls.endConsult(callId, 'cancel'), { ok: true, state: 'cancelled' });
  await r.settle();
  t.equal(sentIn(r, inv4, 'BYE').length, 1, 'the consulted phone is hung up');
  t.match(r.acd.inspectAgent('a1'), { state: 'idle', callId: null });
  t.match(r.calls.list().find((c) => c.id === callId), { agentId: 'a2' }, 'the call stays with a2');

  // 4. a2 consults a1 again and hangs up while they talk: the caller goes to a1.
  await r.calls.consult(callId, 'a1');
  await r.settle();
  const inv5 = r.agentInvites().at(-1)!;
  r.phoneAnswers(inv5, p1);
  await r.settle();
  r.phoneHangsUp(inv3, p2);
  await r.settle();
  t.match(r.calls.list().find((c) => c.id === callId), { phase: 'talking', agentId: 'a1' }, 'A\'s hang-up completed the transfer');
  t.match(r.acd.inspectAgent('a1'), { state: 'onCall', callId });
  t.match(r.acd.inspectAgent('a2'), { state: 'wrapUp' });
  t.same(r.calls.transferOutcomes().attended.ok, 2);
});

/** Legs the rig allocated, in order: the caller's, A's, then the consultation's. */
function allocated(r: CallRig): string[] {
  return r.media.calls.filter((c) => c.op === 'allocate').map((c) => (c as { leg: string }).leg);
}

/** The index of the first media command matching `f` (-1 for none). */
function commandAt(r: CallRig, f: (c: CallRig['media']['calls'][number]) => boolean): number {
  return r.media.calls.findIndex(f);
}

/** a1 consults a2, a2 answers, a1 joins the caller in: the three legs and B's INVITE. */
async function conference(t: Test) {
  const base = await talking(t);
  const { r, p2, callId } = base;
  t.match(await r.calls.consult(callId, 'a2'), { ok: true });
  await r.settle();
  t.match(r.calls.conference(callId, 'join'), { ok: false, code: 'CALLS_ERR_NO_CONSULT' }, 'no conference with a ringing phone');
  const inv2 = r.agentInvites().at(-1)!;
  r.phoneAnswers(inv2, p2);
  await r.settle();
  const [callerLeg, agentLeg, consultLeg] = allocated(r) as [string, string, string];
  t.match(r.calls.conference(callId, 'join'), { ok: true, agent: 'a2', state: 'conference' });
  await r.settle();
  return { ...base, inv2, callerLeg, agentLeg, consultLeg };
}

t.test('conference: the caller joins A and B, each hears the other two; A leaves: caller and B go on, one CDR (no conference before)', async (t) => {
  const { r, inv, inv2, sip, callId, callerLeg, agentLeg, consultLeg } = await conference(t);
  const conf = r.media.calls.find((c) => c.op === 'conference');
  t.same(conf?.op === 'conference' ? conf.parties : null, [
    { leg: callerLeg, hears: [agentLeg, consultLeg] }, { leg: agentLeg, hears: [callerLeg, consultLeg] }, { leg: consultLeg, hears: [callerLeg, agentLeg] },
  ], 'one media-worker conference: each party hears the two others, never itself');
  t.match(r.calls.consultView(callId)?.consult, { agent: 'a2', from: 'a1', state: 'conference', conferenceAt: r.clock.now() });
  t.match(r.acd.inspectAgent('a2'), { state: 'onCall', callId }, 'B stays on the call');
  t.match(r.acd.inspectAgent('a1'), { state: 'onCall', callId });
  t.match(r.calls.conference(callId, 'join'), { ok: false, code: 'CALLS_ERR_IN_CONFERENCE' });
  t.match(r.calls.hold(callId, 'hold'), { ok: true }, 'a hold request meanwhile');
  t.notOk(r.media.calls.some((c, i) => i > commandAt(r, (x) => x.op === 'conference') && c.op === 'unbridge'), 'takes nobody out of the conference');
  t.same(r.of('call.consult').map((e) => [e.agentId, e.consulted, e.state]), [['a1', 'a2', 'ringing'], ['a1', 'a2', 'talking'], ['a1', 'a2', 'conference']]);

  // A leaves: the caller's leg leaves the conference first (the worker dissolves it), then A's goes, then caller ══ B.
  await r.advance(2000);
  t.match(r.calls.conference(callId, 'leave'), { ok: true, agent: 'a2', state: 'completed' });
  await r.settle();
  const left = commandAt(r, (c) => c.op === 'leaveConference' && c.leg === callerLeg);
  const released = commandAt(r, (c) => c.op === 'release' && c.leg === agentLeg);
  const bridged = commandAt(r, (c) => c.op === 'bridge' && c.a === callerLeg && c.b === consultLeg);
  t.ok(left >= 0 && left < released && released < bridged, `leave (${left}), release A (${released}), bridge caller and B (${bridged})`);
  t.equal(sentIn(r, inv, 'BYE').length, 1, 'A\'s phone is hung up');
  t.match(r.calls.list().find((c) => c.id === callId), { phase: 'talking', agentId: 'a2' });
  t.match(r.acd.inspectAgent('a1'), { state: 'wrapUp', callId: null }, 'A to wrap-up');
  t.match(r.acd.inspectAgent('a2'), { state: 'onCall', callId });
  t.match(r.calls.conference(callId, 'leave'), { ok: false, code: 'CALLS_ERR_NO_CONFERENCE' });
  t.same(r.of('call.consult').at(-1)?.state, 'completed');

  await r.advance(1000);
  r.inDialog(sip, 'BYE');
  await r.settle();
  t.equal(sentIn(r, inv2, 'BYE').length, 1, 'B hung up with the caller');
  await r.advance(60_000);
  const cdr = await cdrOf(r, callId);
  t.match(cdr, { callId, outcome: 'answered', agent: 'a2', transfers: 1 });
  t.match(cdr?.legs, [
    { kind: 'agent', agent: 'a1', endedBy: 'transfer' }, { kind: 'consult', agent: 'a2', endedBy: 'transfer' },
    { kind: 'conference', agent: 'a2', endedBy: 'transfer' }, { kind: 'agent', agent: 'a2', endedBy: 'hangup' },
  ]);
  const legs = cdr?.legs ?? [];
  t.equal(legs[2]?.startedAt, legs[1]?.endedAt, 'the conference starts as the consultation ends');
  t.equal((legs[2]?.endedAt ?? 0) - (legs[2]?.startedAt ?? 0), 2000, 'and lasts until A left');
  t.same(r.calls.transferOutcomes().conference, { ok: 1, failed: 0, refused: 2 }, 'joins counted: B ringing and twice refused');
  t.same(r.calls.transferOutcomes().attended.ok, 1, 'A leaving is a completed attended transfer');
});

t.test('conference: B leaves (caller ══ A, B to wrap-up); the caller leaves (both agents to wrap-up)', async (t) => {
  {
    const { r, p2, callId, inv2, callerLeg, agentLeg, consultLeg, sip } = await conference(t);
    r.phoneHangsUp(inv2, p2);
    await r.settle();
    const left = commandAt(r, (c) => c.op === 'leaveConference' && c.leg === callerLeg);
    const released = commandAt(r, (c) => c.op === 'release' && c.leg === consultLeg);
    t.ok(left >= 0 && left < released, 'the caller leaves the conference, then B\'s leg goes');
    t.ok(r.media.calls.slice(released).some((c) => c.op === 'bridge' && c.a === callerLeg && c.b === agentLeg), 'then caller ══ A');
    t.match(r.calls.list().find((c) => c.id === callId), { phase: 'talking', agentId: 'a1' }, 'the call stays with A');
    t.match(r.acd.inspectAgent('a2'), { state: 'wrapUp', callId: null }, 'B talked to the caller: wrap-up');
    t.equal(r.calls.consultView(callId)?.consult, null);
    r.inDialog(sip, 'BYE');
    await r.advance(60_000);
    t.match((await cdrOf(r, callId))?.legs, [
      { kind: 'agent', agent: 'a1', endedBy: 'hangup' }, { kind: 'consult', agent: 'a2', endedBy: 'transfer' }, { kind: 'conference', agent: 'a2', endedBy: 'hangup' },
    ]);
  }
  {
    const { r, callId, inv, inv2, sip } = await conference(t);
    r.inDialog(sip, 'BYE');
    await r.settle();
    t.equal(sentIn(r, inv, 'BYE').length, 1, 'A hung up');
    t.equal(sentIn(r, inv2, 'BYE').length, 1, 'B hung up');
    t.match(r.acd.inspectAgent('a1'), { state: 'wrapUp' });
    t.match(r.acd.inspectAgent('a2'), { state: 'wrapUp', callId: null });
    await r.advance(60_000);
    t.match(await cdrOf(r, callId), { releasedBy: 'caller', legs: [{ kind: 'agent', endedBy: 'hangup' }, { kind: 'consult' }, { kind: 'conference', endedBy: 'hangup' }] });
  }
});

t.test('the consult ring timeout is the queue\'s consultRingTimeoutMs: B not answering in 2 s gives the caller back to A (30 s fixed before)', async (t) => {
  const queues = { orders: { ...DEFAULT_QUEUE_CALL_SETTINGS, consultRingTimeoutMs: 2000 }, service: { ...DEFAULT_QUEUE_CALL_SETTINGS } };
  const { r, p2, callId, leg: callerLeg } = await talking(t, { settings: { queues } });
  const agentLeg = allocated(r)[1]!;
  await r.calls.consult(callId, 'a2');
  await r.settle();
  const inv2 = r.agentInvites().at(-1)!;
  r.phoneRings(inv2, p2);
  await r.advance(1900);
  t.match(r.calls.consultView(callId)?.consult, { state: 'ringing' }, 'still ringing at 1.9 s');
  await r.advance(200);
  t.equal(r.calls.consultView(callId)?.consult, null, 'over at 2.1 s');
  t.equal(sentIn(r, inv2, 'CANCEL').length, 1, 'B\'s phone stops ringing');
  t.equal(r.media.calls.filter((c) => c.op === 'bridge' && c.a === callerLeg && c.b === agentLeg).length, 2, 'caller and A bridged again (after the answer, after the timeout)');
  t.match(r.acd.inspectAgent('a2'), { state: 'idle', callId: null });
  t.same(r.of('call.consult').map((e) => e.state), ['ringing', 'cancelled']);
});

t.test('monitoring a consulting or three-way call is refused with a code, a monitored call joins no conference (the mix was replaced before), and monitoring follows the caller back to an agent (it was lost at a hold before)', async (t) => {
  const supervisor = { transport: 'UDP' as const, address: '198.51.100.9', port: 5090 };
  const monitorOf = (rig: CallRig): CallMonitor => new CallMonitor({
    ua: rig.ua, media: rig.media, now: () => rig.clock.now(), log: pino({ level: 'silent' }), call: (id) => rig.calls.bridged(id),
    agents: { contacts: (id) => (id === 's1' ? [{ uri: parseUri('sip:2009@198.51.100.9:5090')!, source: supervisor }] : []), agentByExtension: (e) => (e === '2009' ? 's1' : undefined) },
    isSupervisorPhone: () => true,
  });
  const invitesToSupervisor = (r: CallRig): number => r.wire.sent.filter((s) => s.message.kind === 'request' && s.message.method === 'INVITE' && s.to.port === supervisor.port).length;
  const listen = { mode: 'listen' as const, supervisor: '2009', number: null };
  {
    let monitor: CallMonitor | undefined;
    const { r, p2, callId } = await talking(t, { monitor: (rig) => (monitor = monitorOf(rig)) });
    await r.calls.consult(callId, 'a2');
    await r.settle();
    t.match(await monitor!.start(callId, listen), { ok: false, code: 'CALLS_ERR_CONSULTING' }, 'B rings: the caller is on hold');
    r.phoneAnswers(r.agentInvites().at(-1)!, p2);
    await r.settle();
    t.match(await monitor!.start(callId, listen), { ok: false, code: 'CALLS_ERR_CONSULTING' }, 'A and B talk');
    t.match(r.calls.conference(callId, 'join'), { ok: true });
    t.match(await monitor!.start(callId, listen), { ok: false, code: 'CALLS_ERR_IN_CONFERENCE' }, 'three-way: the mixer has no fourth place');
    await r.settle();
    t.equal(invitesToSupervisor(r), 0, 'the supervisor\'s phone is never rung');
    t.equal(r.media.calls.filter((c) => c.op === 'conference').length, 1, 'the three-way mix stays as it is');
  }
  {
    let monitor: CallMonitor | undefined;
    const { r, p2, callId } = await talking(t, { monitor: (rig) => (monitor = monitorOf(rig)) });
    t.match(await monitor!.start(callId, listen), { ok: true }, 'a talking call is monitored');
    await r.settle();
    t.equal(invitesToSupervisor(r), 1);
    await r.calls.consult(callId, 'a2');
    await r.settle();
    r.phoneAnswers(r.agentInvites().filter((i) => i.headers.get('x-onair-consult') === 'a1').at(-1)!, p2);
    await r.settle();
    t.match(r.calls.conference(callId, 'join'), { ok: false, code: 'CALLS_ERR_MONITORED' }, 'a monitored call joins no conference');
    t.equal(r.media.calls.filter((c) => c.op === 'conference').length, 0);
  }
  {
    // An answered supervisor joins again whenever the caller is bridged to an agent again.
    let monitor: CallMonitor | undefined;
    const { r, p2, callId, leg: callerLeg } = await talking(t, { monitor: (rig) => (monitor = monitorOf(rig)) });
    const agentLeg = allocated(r)[1]!;
    t.match(await monitor!.start(callId, listen), { ok: true });
    await r.settle();
    r.phoneAnswers(r.agentInvites().find((i) => i.headers.get('x-onair-monitor') === 'listen')!, { agentId: 's1', extension: '2009', source: supervisor });
    await r.settle();
    const supLeg = allocated(r)[2]!;
    const mixes = (): string[][] => r.media.calls.flatMap((c) => (c.op === 'conference' ? [c.parties.map((p) => p.leg)] : []));
    t.same(mixes(), [[callerLeg, agentLeg, supLeg]], 'the supervisor listens');
    r.calls.hold(callId, 'hold');
    r.calls.hold(callId, 'resume');
    await r.settle();
    t.same(mixes().at(-1), [callerLeg, agentLeg, supLeg], 'joined again after a hold (the unbridge took the caller out of the mix)');
    t.equal(mixes().length, 2);
    await r.calls.consult(callId, 'a2');
    await r.settle();
    r.phoneAnswers(r.agentInvites().filter((i) => i.headers.get('x-onair-consult') === 'a1').at(-1)!, p2);
    await r.settle();
    const consultLeg = allocated(r).at(-1)!;
    t.match(r.calls.endConsult(callId, 'complete'), { ok: true });
    await r.settle();
    t.same(mixes().at(-1), [callerLeg, consultLeg, supLeg], 'after the attended transfer the supervisor listens to the caller and B');
  }
});

// ---- A's phone starts the consultation (phone-consult.ts, Consults.fromPhone) ------------------

function sdp(direction: string): string {
  return ['v=0', 'o=phone 1 2 IN IP4 198.51.100.7', 's=-', 'c=IN IP4 198.51.100.7', 't=0 0', 'm=audio 50000 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', `a=${direction}`, ''].join('\r\n');
}

let n = 0;

/** A's phone INVITEs `ext` from its registered source: the request (its Call-ID names the A-B dialog). */
function phoneInvite(r: CallRig, p: Phone, ext: string): SipRequest {
  return r.invite({ source: p.source, ruri: `sip:${ext}@127.0.0.1`, from: p.extension, to: ext, callId: `a-consult-${++n}@198.51.100.7` }).request;
}

/** Statuses onair answered to A's INVITE `a`. */
function statuses(r: CallRig, a: SipRequest): number[] {
  return r.responses(a.headers.callId).filter((x) => x.headers.cseq.method === 'INVITE').map((x) => x.status);
}

/** The A-B dialog as A's phone knows it: Call-ID, A's tag, onair's tag (from the 200). */
function phoneDialog(r: CallRig, a: SipRequest): { callId: string; aTag: string; ourTag: string } {
  const ok = r.responses(a.headers.callId).find((x) => x.status === 200 && x.headers.cseq.method === 'INVITE')!;
  return { callId: a.headers.callId, aTag: a.headers.from.params.get('tag')!, ourTag: ok.headers.to.params.get('tag')! };
}

/** A request from A's phone in its A-B dialog (ACK, BYE). */
function inPhoneDialog(r: CallRig, a: SipRequest, p: Phone, method: string): void {
  const d = phoneDialog(r, a);
  r.deliver([
    `${method} sip:onair@127.0.0.1:5060 SIP/2.0`,
    `Via: SIP/2.0/UDP ${p.source.address}:${p.source.port};branch=z9hG4bK-ab-${++n}`,
    `From: <sip:${p.extension}@198.51.100.7>;tag=${d.aTag}`,
    `To: <sip:2002@127.0.0.1>;tag=${d.ourTag}`,
    `Call-ID: ${d.callId}`,
    `CSeq: ${method === 'ACK' ? 1 : 2} ${method}`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n'), p.source);
}

t.test('consultingCall: by the source of a talking call\'s agent only, never two', async (t) => {
  const src = { transport: 'UDP' as const, address: '198.51.100.7', port: 5070 };
  const calls = [{ phase: 'talking' as const, agentId: 'a1' }, { phase: 'queued' as const, agentId: null }];
  const agents = (at: Record<string, number>) => ({
    isPhoneSource: (s: typeof src) => Object.values(at).includes(s.port),
    isAgentSource: (id: string, s: typeof src) => at[id] === s.port,
  });
  t.equal(consultingCall(calls, src, agents({ a1: 5070 })), calls[0]);
  t.equal(consultingCall(calls, { ...src, port: 5071 }, agents({ a1: 5070 })), undefined, 'another port');
  t.equal(consultingCall([{ phase: 'offering' as const, agentId: 'a1' }], src, agents({ a1: 5070 })), undefined, 'not talking');
  t.equal(consultingCall([...calls, { phase: 'talking' as const, agentId: 'a2' }], src, agents({ a1: 5070, a2: 5070 })), undefined, 'two lines of one phone: neither');
  let walked = false;
  t.equal(consultingCall({ *[Symbol.iterator]() { walked = true; yield* calls; } }, src, { isPhoneSource: () => false, isAgentSource: () => true }), undefined);
  t.notOk(walked, 'a source no phone registered from walks no call');
  t.same(phoneRefusal('CALLS_ERR_AGENT_BUSY', { status: 'available' }, true).status, 486);
  t.same(phoneRefusal('CALLS_ERR_AGENT_BUSY', { status: 'notReady' }, true).status, 480);
  t.same(phoneRefusal('CALLS_ERR_AGENT_BUSY', { status: 'available' }, false).status, 480, 'no registered phone');
  t.same(phoneRefusal('CALLS_ERR_UNKNOWN_TARGET', undefined, false).status, 404);
  t.same([486, 603, 600, 408, undefined].map((s) => phoneNotReached(s).status), [486, 486, 486, 480, 480]);
});

t.test('A\'s phone holds, INVITEs B, REFERs with Replaces naming that dialog: 180 then 200 to A, caller ══ B, both A dialogs hung up, one CDR', async (t) => {
  const { r, p1, p2, callId, sip, leg: callerLeg, inv } = await talking(t);
  const agentLeg = allocated(r)[1]!;
  r.phoneRequest(inv, p1, 'INVITE', ['Content-Type: application/sdp'], sdp('sendonly'));
  await r.settle();
  t.same(r.media.lastPrompts(callerLeg), ['hold/music'], 'the phone held the caller');
  const a = phoneInvite(r, p1, '2002');
  await r.settle();
  const inv2 = r.agentInvites().at(-1)!;
  t.not(inv2, inv, 'B\'s phone is rung');
  t.equal(inv2.headers.get('x-onair-consult'), 'a1', 'as a consultation of a1');
  t.equal(inv2.headers.get('x-onair-call-id'), callId);
  t.match(r.acd.inspectAgent('a2'), { state: 'reserved', callId }, 'the ACD reserved B');
  t.match(r.calls.consultView(callId)?.consult, { agent: 'a2', from: 'a1', state: 'ringing' });
  const [, , consultLeg, phoneLeg] = allocated(r);
  t.ok(consultLeg !== undefined && phoneLeg !== undefined, 'a leg for B and one for A\'s new dialog');
  t.notOk(statuses(r, a).some((s) => s >= 180), 'nothing but Trying while B is not ringing yet');

  r.phoneRings(inv2, p2);
  await r.settle();
  t.same(statuses(r, a).filter((s) => s >= 180), [180], 'A hears ringing while B rings');
  refer(r, inv, p1, replacesOf(a.headers.callId, 'x', a.headers.from.params.get('tag')!));
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [481], 'no dialog to replace while B rings');

  r.phoneAnswers(inv2, p2);
  await r.settle();
  t.same(statuses(r, a).filter((s) => s >= 180), [180, 200], 'A\'s INVITE answered once B answered');
  const ok = r.responses(a.headers.callId).find((x) => x.status === 200)!;
  t.match(ok.body.toString('latin1'), /m=audio [1-9]/, 'with onair\'s SDP');
  inPhoneDialog(r, a, p1, 'ACK');
  await r.settle();
  t.ok(r.media.calls.some((c) => c.op === 'bridge' && c.a === phoneLeg && c.b === consultLeg), 'A\'s new dialog ══ B');
  t.equal(r.media.calls.filter((c) => c.op === 'bridge' && c.a === callerLeg).length, 1, 'the caller stays held (bridged only at the answer)');
  t.match(r.acd.inspectAgent('a2'), { state: 'onCall', callId });

  const d = phoneDialog(r, a);
  refer(r, inv, p1, replacesOf(d.callId, d.aTag, d.ourTag));
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [481, 481], 'tags swapped: 481');
  refer(r, inv, p1, replacesOf(d.callId, d.ourTag, d.aTag));
  await r.settle();
  t.same(answers(r, inv, 'REFER').at(-1), 202, 'the Replaces names A\'s dialog with B: 202');
  t.equal(sentIn(r, a, 'BYE').length, 1, 'A\'s dialog with B is ended');
  const [notify] = sentIn(r, inv, 'NOTIFY');
  t.equal(notify?.body.toString('latin1').trim(), 'SIP/2.0 200 OK', 'sipfrag 200');
  r.deliver(createResponse(notify!, 200), p1.source);
  await r.settle();
  t.equal(sentIn(r, inv, 'BYE').length, 1, 'then A\'s dialog with the caller');
  t.ok(r.media.calls.some((c) => c.op === 'release' && c.leg === phoneLeg), 'A\'s new leg released');
  t.ok(r.media.calls.some((c) => c.op === 'release' && c.leg === agentLeg), 'A\'s leg released');
  t.ok(r.media.calls.some((c) => c.op === 'bridge' && c.a === callerLeg && c.b === consultLeg), 'the caller bridged to B');
  t.match(r.calls.list().find((c) => c.id === callId), { phase: 'talking', agentId: 'a2' });
  t.match(r.acd.inspectAgent('a2'), { state: 'onCall', callId });
  t.match(r.acd.inspectAgent('a1'), { state: 'wrapUp', callId: null });
  t.same(r.calls.transferOutcomes().attended, { ok: 1, failed: 0, refused: 2 });

  await r.advance(2000);
  r.inDialog(sip, 'BYE');
  await r.settle();
  t.equal(sentIn(r, inv2, 'BYE').length, 1, 'B hung up with the caller');
  await r.advance(60_000);
  t.match(await cdrOf(r, callId), {
    callId, outcome: 'answered', agent: 'a2', transfers: 1,
    legs: [{ kind: 'agent', agent: 'a1', endedBy: 'transfer' }, { kind: 'consult', agent: 'a2', endedBy: 'transfer' }, { kind: 'agent', agent: 'a2', endedBy: 'hangup' }],
  });
});

/** `<sip:2002@…?Replaces=…>` with the tags as given (to-tag: the recipient's, from-tag: the other's). */
function replacesOf(callId: string, toTag: string, fromTag: string): string {
  return `<sip:2002@127.0.0.1?Replaces=${encodeURIComponent(`${callId};to-tag=${toTag};from-tag=${fromTag}`)}>`;
}

t.test('A\'s phone INVITEs an unknown extension 404, a not-ready B 480, a busy B 486; with no call the INVITE goes the carrier way', async (t) => {
  const r = new CallRig({ queues: QUEUES });
  t.teardown(() => r.close());
  const p1 = r.agent('a1', '2001', 5070);
  const p2 = r.agent('a2', '2002', 5072, false);
  const idle = phoneInvite(r, p1, '2002');
  await r.settle();
  t.same(statuses(r, idle).filter((s) => s >= 200), [403], 'no call: the trunk table\'s answer as before');
  t.equal(r.agentInvites().length, 0);

  const { callId } = await r.answeredCall(p1);
  const unknown = phoneInvite(r, p1, '2999');
  await r.settle();
  t.same(statuses(r, unknown).filter((s) => s >= 200), [404], 'no such extension');
  // Another sender at the agent's phone's address and port (an SBC in front of phones and carrier,
  // a port reused): its From does not name the agent, so it is no consultation but a new caller.
  const stranger = r.invite({ source: p1.source, ruri: 'sip:2002@127.0.0.1', from: '+8613800000009', to: '2002', callId: `stranger-${++n}@198.51.100.7` }).request;
  await r.settle();
  t.same(statuses(r, stranger).filter((s) => s >= 200), [403], 'the usual path: the trunk table\'s answer, as with no call');
  t.equal(r.calls.consultView(callId)?.consult, null, 'and A\'s call has no consultation');
  r.calls.apply(r.acd.setAgentStatus('a2', 'notReady', 'break', r.clock.now()));
  const notReady = phoneInvite(r, p1, '2002');
  await r.settle();
  t.same(statuses(r, notReady).filter((s) => s >= 200), [480], 'B not ready');
  t.equal(r.calls.consultView(callId)?.consult, null, 'no consultation left');

  // B takes a second caller: busy.
  r.calls.apply(r.acd.setAgentStatus('a2', 'available', null, r.clock.now()));
  r.invite();
  await r.settle();
  r.media.done(allocated(r)[2]!);
  await r.settle();
  r.phoneAnswers(r.agentInvites().at(-1)!, p2);
  await r.settle();
  t.match(r.acd.inspectAgent('a2'), { state: 'onCall' });
  const busy = phoneInvite(r, p1, '2002');
  await r.settle();
  t.same(statuses(r, busy).filter((s) => s >= 200), [486], 'B busy');
  t.equal(r.calls.consultView(callId)?.consult, null);
  t.match(r.acd.inspectAgent('a1'), { state: 'onCall', callId }, 'A keeps its call');
});

t.test('A hangs up its dialog with B before a REFER: cancelled, the caller stays held until A resumes; B declining: 486 to A; A cancelling: 487', async (t) => {
  const { r, p1, p2, callId, sip, leg: callerLeg, inv } = await talking(t);
  const agentLeg = allocated(r)[1]!;
  r.phoneRequest(inv, p1, 'INVITE', ['Content-Type: application/sdp'], sdp('sendonly'));
  await r.settle();
  const a = phoneInvite(r, p1, '2002');
  await r.settle();
  const inv2 = r.agentInvites().at(-1)!;
  r.phoneAnswers(inv2, p2);
  await r.settle();
  inPhoneDialog(r, a, p1, 'ACK');
  await r.settle();
  const bridgesBack = (): number => r.media.calls.filter((c) => c.op === 'bridge' && c.a === callerLeg && c.b === agentLeg).length;
  t.equal(bridgesBack(), 1, 'only the first answer');
  inPhoneDialog(r, a, p1, 'BYE');
  await r.settle();
  t.equal(r.calls.consultView(callId)?.consult, null, 'the consultation is over');
  t.equal(sentIn(r, inv2, 'BYE').length, 1, 'B is hung up');
  t.equal(sentIn(r, a, 'BYE').length, 0, 'A hung up its dialog itself');
  t.match(r.acd.inspectAgent('a2'), { state: 'idle', status: 'available', callId: null }, 'B free at once');
  t.equal(bridgesBack(), 1, 'the caller stays on hold');
  t.same(r.media.lastPrompts(callerLeg), ['hold/music']);
  t.match(r.calls.list().find((c) => c.id === callId), { phase: 'talking', agentId: 'a1' });
  r.phoneRequest(inv, p1, 'INVITE', ['Content-Type: application/sdp'], sdp('sendrecv'));
  await r.settle();
  t.equal(bridgesBack(), 2, 'A resumes: caller ══ A');

  // Again: B declines, A's INVITE gets 486, the caller held stays held.
  r.phoneRequest(inv, p1, 'INVITE', ['Content-Type: application/sdp'], sdp('sendonly'));
  await r.settle();
  const again = phoneInvite(r, p1, '2002');
  await r.settle();
  r.phoneRejects(r.agentInvites().at(-1)!, p2, 486);
  await r.settle();
  t.same(statuses(r, again).filter((s) => s >= 200), [486], 'B declined: busy');
  t.equal(bridgesBack(), 2, 'still held');
  t.match(r.acd.inspectAgent('a2'), { state: 'idle', callId: null });

  // And again: A's phone gives up (CANCEL) while B rings.
  const third = phoneInvite(r, p1, '2002');
  await r.settle();
  const inv3 = r.agentInvites().at(-1)!;
  r.phoneRings(inv3, p2);
  await r.settle();
  r.deliver([
    'CANCEL sip:2002@127.0.0.1 SIP/2.0', `Via: ${third.headers.get('via')}`, `From: ${third.headers.get('from')}`,
    `To: ${third.headers.get('to')}`, `Call-ID: ${third.headers.callId}`, 'CSeq: 1 CANCEL', 'Max-Forwards: 70', 'Content-Length: 0', '', '',
  ].join('\r\n'), p1.source);
  await r.settle();
  t.same(statuses(r, third).filter((s) => s >= 200), [487], 'A\'s INVITE: 487');
  t.equal(sentIn(r, inv3, 'CANCEL').length, 1, 'B\'s phone stops ringing');
  t.match(r.acd.inspectAgent('a2'), { state: 'idle', callId: null });
  t.equal(r.calls.consultView(callId)?.consult, null);
  t.equal(bridgesBack(), 2, 'still held');
  r.inDialog(sip, 'BYE');
  await r.advance(60_000);
  const cdr = await cdrOf(r, callId);
  t.match(cdr, {
    agent: 'a1', transfers: 0,
    legs: [
      { kind: 'agent', agent: 'a1', endedBy: 'hangup' }, { kind: 'consult', agent: 'a2', endedBy: 'hangup' },
      { kind: 'consult', agent: 'a2', endedBy: 'failed' }, { kind: 'consult', agent: 'a2', endedBy: 'failed' },
    ],
  });
});
