/**
 * Attended transfer on the call-control rig (the real UA, ACD and store over a fake wire, fake
 * media recording its commands): the consultation's INVITE, the holds and bridges, the REFER with
 * Replaces (matched in B's view of onair's dialog with it) and its refusals, the desktop's complete
 * and cancel, a decline, A hanging up during the consultation, and the CDR's legs. Before the
 * consultation existed every REFER with Replaces was answered 488 and `consult` did not exist.
 */
import t from 'tap';
import { createResponse, type SipRequest } from '../sip/index.ts';
import type { Cdr } from '../../crm-adapter/index.ts';
import { CallRig, type Phone, type RigOptions } from './testing.ts';

const QUEUES: RigOptions['queues'] = [{ id: 'orders', wrapUpMs: 10_000 }, { id: 'service', wrapUpMs: 10_000 }];

/** A rig where a1 talks to a caller and a2 is available and idle. */
async function talking(tt: { teardown(fn: () => unknown): void }) {
  const r = new CallRig({ queues: QUEUES });
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
