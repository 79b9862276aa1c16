/**
 * Blind transfer by REFER (RFC 3515) on the call-control rig: the real UA, ACD and store with fake
 * media. The REFER's checks (hostile input refused with the RFC's status, counted), the implicit
 * subscription's NOTIFYs, the ACD's transfer (priority and arrival kept) and the CDR's legs.
 */
import t from 'tap';
import { createResponse, type SipRequest } from '../sip/index.ts';
import type { Cdr } from '../../crm-adapter/index.ts';
import { CallRig, FakeOutbound, type Phone, type RigOptions } from './testing.ts';
import { DEFAULT_QUEUE_CALL_SETTINGS } from './settings.ts';
import { checkRefer, MAX_TRANSFERS, type ReferContext } from './transfer.ts';
import { matchReplaces, MAX_REPLACES, parseReplaces, replacesInUri, type DialogId } from './attended.ts';
import { parseNameAddr } from '../sip/index.ts';

// A wrap-up after each call, so the transferring agent is not offered the caller back at once.
const QUEUES: RigOptions['queues'] = [{ id: 'orders', wrapUpMs: 10_000 }, { id: 'service', wrapUpMs: 10_000 }];

async function rig(tt: { teardown(fn: () => unknown): void }, o: RigOptions = {}): Promise<CallRig> {
  const r = new CallRig({ queues: QUEUES, ...o });
  tt.teardown(() => r.close());
  return r;
}

async function cdrOf(r: CallRig, callId: string): Promise<Cdr | undefined> {
  const item = (await r.outbox(callId)).find((i) => i.kind === 'cdr');
  return item?.kind === 'cdr' ? item.payload : undefined;
}

function answeredCall(r: CallRig, phone: Phone): ReturnType<CallRig['answeredCall']> {
  return r.answeredCall(phone);
}

/** An in-dialog request from the phone on the dialog of agent INVITE `inv`. */
function fromPhone(r: CallRig, inv: SipRequest, phone: Phone, method: string, headers: string[]): void {
  r.phoneRequest(inv, phone, method, headers);
}

/** Status codes we answered to requests of `method` in the phone dialog of `inv`. */
function answers(r: CallRig, inv: SipRequest, method: string): number[] {
  return r.wire.sent.flatMap((s) => (s.message.kind === 'response' && s.message.headers.callId === inv.headers.callId
    && s.message.headers.cseq.method === method ? [s.message.status] : []));
}

/** NOTIFYs we sent in the dialog of `inv`; each is answered 200 by the phone. */
async function notifies(r: CallRig, inv: SipRequest, phone: Phone): Promise<SipRequest[]> {
  const out: SipRequest[] = [];
  for (let i = 0; i < 4; i++) {
    for (const s of r.wire.sent) {
      const m = s.message;
      if (m.kind !== 'request' || m.method !== 'NOTIFY' || m.headers.callId !== inv.headers.callId || out.includes(m)) continue;
      out.push(m);
      r.deliver(createResponse(m, 200), phone.source);
    }
    await r.settle();
  }
  return out;
}

t.test('a blind REFER to a queue: 202, NOTIFY 100 then 200, the caller waits there with its music, one CDR with both legs', async (t) => {
  const r = await rig(t, { settings: { queues: { orders: { ...DEFAULT_QUEUE_CALL_SETTINGS }, service: { ...DEFAULT_QUEUE_CALL_SETTINGS, holdMusic: 'hold/service' } } } });
  const p1 = r.agent('a1', '2001', 5070);
  const { callId, leg, inv } = await answeredCall(r, p1);
  t.equal(r.of('call.answered').length, 1, 'agent a1 talks to the caller');
  const a2 = r.agent('a2', '2002', 5072, false);
  fromPhone(r, inv, p1, 'REFER', ['Refer-To: <sip:service@127.0.0.1>', 'Referred-By: <sip:2001@onair.invalid>']);
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [202], 'REFER accepted (RFC 3515 §2.4.2)');
  const ns = await notifies(r, inv, p1);
  t.same(ns.map((n) => n.body.toString('latin1').trim()), ['SIP/2.0 100 Trying', 'SIP/2.0 200 OK'], 'sipfrag progress, then the final');
  t.same(ns.map((n) => n.headers.get('event')), ['refer', 'refer']);
  t.match(ns[1]!.headers.get('subscription-state'), /^terminated/, 'the final NOTIFY ends the implicit subscription');
  t.same(r.media.lastPrompts(leg), ['hold/service'], 'the caller hears the target queue\'s hold music');
  t.ok(r.media.calls.some((c) => c.op === 'unbridge' && c.leg === leg), 'the caller leg left the bridge');
  t.match(r.acd.inspectCall(callId), { queueId: 'service' }, 'the ACD holds the caller in the target queue');
  t.equal(r.acd.inspectAgent('a1')?.state, 'wrapUp', 'the transferring agent goes to wrap-up');
  // The phone hangs up after the final NOTIFY: that must not end the caller.
  r.phoneHangsUp(inv, p1);
  await r.settle();
  t.ok(r.calls.size > 0, 'the caller is still up after the first agent hung up');
  r.calls.apply(r.acd.setAgentStatus('a2', 'available', null, r.clock.now()));
  await r.settle();
  const inv2 = r.agentInvites().at(-1)!;
  t.not(inv2, inv, 'the second agent is rung');
  t.equal(inv2.headers.get('referred-by'), '<sip:2001@onair.invalid>', 'Referred-By is passed on (RFC 3892)');
  r.phoneAnswers(inv2, a2);
  await r.settle();
  t.equal(r.of('call.answered').length, 2, 'agent a2 talks to the caller');
  await r.advance(4000);
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  await r.advance(60_000);
  const cdr = await cdrOf(r, callId);
  t.match(cdr, { callId, outcome: 'answered', agent: 'a2', queue: 'service', transfers: 1, holdMs: 0 }, 'one CDR, the last agent');
  t.match(cdr?.legs, [
    { kind: 'agent', agent: 'a1', queue: 'orders', endedBy: 'transfer' },
    { kind: 'agent', agent: 'a2', queue: 'service', endedBy: 'hangup' },
  ], 'both legs');
  t.same(r.calls.transferCounters().accepted, 1);
});

t.test('a REFER to a number of the plan goes to the queue its flow reaches', async (t) => {
  const r = await rig(t, {
    settings: {
      numbers: { 300: { flow: 'svc', programme: null, airing: null } },
      flows: {
        main: { id: 'main', steps: [{ type: 'play', prompts: ['welcome'] }, { type: 'queue', queue: 'orders', vipQueue: null }] },
        svc: { id: 'svc', steps: [{ type: 'play', prompts: ['welcome'] }, { type: 'queue', queue: 'service', vipQueue: null }] },
      },
    },
  });
  const p1 = r.agent('a1', '2001', 5070);
  const { callId, inv } = await answeredCall(r, p1);
  fromPhone(r, inv, p1, 'REFER', ['Refer-To: sip:300@onair']);
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [202]);
  t.match(r.acd.inspectCall(callId), { queueId: 'service' });
});

t.test('a blind REFER to an agent\'s extension: 202 and NOTIFYs, that agent alone is rung; busy is 486; the phone is not hung up before its NOTIFYs', async (t) => {
  const r = await rig(t);
  const p1 = r.agent('a1', '2001', 5070);
  const { callId, inv } = await answeredCall(r, p1);
  const p2 = r.agent('a2', '2002', 5072);
  r.calls.apply(r.acd.setAgentStatus('a2', 'notReady', 'break', r.clock.now()));
  // a2 is not ready: the API's rule (registered, available and idle) refuses it, 486.
  fromPhone(r, inv, p1, 'REFER', ['Refer-To: <sip:2002@127.0.0.1>']);
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [486], 'the agent named is not free: 486 Busy Here, nothing moved');
  t.match(r.calls.list()[0], { phase: 'talking', agentId: 'a1' });
  t.equal(r.calls.transferCounters().targetBusy, 1);
  r.calls.apply(r.acd.setAgentStatus('a2', 'available', null, r.clock.now()));
  await r.settle();
  fromPhone(r, inv, p1, 'REFER', ['Refer-To: <sip:2002@127.0.0.1>', 'Referred-By: <sip:2001@onair.invalid>']);
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [486, 202], 'free now: accepted');
  const ns = await notifies(r, inv, p1);
  t.same(ns.map((n) => n.body.toString('latin1').trim()), ['SIP/2.0 100 Trying', 'SIP/2.0 200 OK']);
  t.equal(r.wire.sent.filter((s) => s.message.kind === 'request' && s.message.method === 'BYE' && s.message.headers.callId === inv.headers.callId).length, 0,
    'the phone ends its dialog itself after the final NOTIFY (no BYE at once, as the API does)');
  const inv2 = r.agentInvites().at(-1)!;
  t.not(inv2, inv, 'agent a2 is rung');
  t.equal(inv2.headers.get('referred-by'), '<sip:2001@onair.invalid>', 'Referred-By passed on (RFC 3892)');
  r.phoneAnswers(inv2, p2);
  await r.settle();
  t.match(r.calls.list()[0], { phase: 'talking', agentId: 'a2' });
  t.same(r.calls.transferOutcomes().blind, { ok: 1, failed: 0, refused: 1 }, 'counted as the phone\'s blind transfers');
  r.phoneHangsUp(inv, p1);
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  await r.advance(60_000);
  t.match((await cdrOf(r, callId))?.legs, [{ agent: 'a1', endedBy: 'transfer' }, { agent: 'a2', endedBy: 'hangup' }]);
});

t.test('a blind REFER to a telephone number: dialled through the outbound trunk, bridged on answer; without a trunk 503', async (t) => {
  const none = await rig(t);
  const q1 = none.agent('a1', '2001', 5070);
  const c0 = await answeredCall(none, q1);
  fromPhone(none, c0.inv, q1, 'REFER', ['Refer-To: <sip:+8613800138000@127.0.0.1>']);
  await none.settle();
  t.same(answers(none, c0.inv, 'REFER'), [503], 'no outbound trunk: 503, the call stays');
  t.equal(none.calls.list()[0]?.phase, 'talking');

  const outbound = new FakeOutbound();
  const r = await rig(t, { outbound });
  const p1 = r.agent('a1', '2001', 5070);
  const { callId, leg, inv } = await answeredCall(r, p1);
  fromPhone(r, inv, p1, 'REFER', ['Refer-To: <sip:+8613800138000@127.0.0.1>']);
  await r.settle();
  t.same(answers(r, inv, 'REFER'), [202]);
  t.equal(outbound.dials.length, 1, 'one dial');
  t.match(outbound.dials[0]!.req, { number: '+8613800138000', callId: `${callId}-x1` });
  t.equal(r.acd.inspectAgent('a1')?.state, 'wrapUp', 'the transferring agent is in wrap-up');
  await notifies(r, inv, p1);
  outbound.answer(0);
  await r.settle();
  t.match(r.media.calls.filter((c) => c.op === 'bridge').at(-1), { a: leg }, 'the caller is bridged to the number');
  t.same(r.calls.transferOutcomes().blind, { ok: 1, failed: 0, refused: 0 });
  outbound.hangUp(0);
  await r.settle();
  await r.advance(60_000);
  t.match((await cdrOf(r, callId))?.legs, [{ kind: 'agent', agent: 'a1', endedBy: 'transfer' }, { kind: 'external', number: '+8613800138000', endedBy: 'hangup' }]);
});

t.test('hostile REFERs are refused with the RFC\'s status, counted, and change nothing', async (t) => {
  const r = await rig(t);
  const p1 = r.agent('a1', '2001', 5070);
  const { sip, callId, inv } = await answeredCall(r, p1);
  const cases: [string[], number][] = [
    [[], 400], // no Refer-To
    [['Refer-To: <sip:service@x>', 'Refer-To: <sip:orders@x>'], 400], // two
    [['Refer-To: <<<garbage'], 400],
    [['Refer-To: <sip:%zz@x>'], 603], // no such queue, and the escape does not throw
    [['Refer-To: <tel:+41791234567>'], 488],
    [['Refer-To: <sip:service@x?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>'], 481], // names no consultation dialog of the call (RFC 3891 §3)
    [['Refer-To: <sip:service@x?Replaces=abc%3Bto-tag%3D1>'], 400], // Replaces without a from-tag (RFC 3891 §3)
    [['Refer-To: <sip:nowhere@x>'], 603],
    [['Refer-To: <sip:constructor@x>'], 603], // not Object.prototype's
    [['Refer-To: <sip:orders@x>'], 603], // the queue it is in: a loop
    [[`Refer-To: <sip:${'9'.repeat(600)}@x>`], 400],
  ];
  for (const [headers] of cases) {
    fromPhone(r, inv, p1, 'REFER', headers);
    await r.settle();
  }
  t.same(answers(r, inv, 'REFER'), cases.map((c) => c[1]));
  // The carrier's dialog: never a transfer.
  r.inDialog(sip, 'REFER');
  await r.settle();
  t.same(r.dialogResponses(sip, 'REFER'), [603], 'the carrier may not transfer our caller');
  t.equal(r.acd.inspectCall(callId)?.state, 'talking', 'still talking to a1');
  const c = r.calls.transferCounters();
  t.same({ ...c }, {
    accepted: 0, malformed: 5, notAgent: 1, staleDialog: 0, notTalking: 0, unsupported: 1, replacesNoDialog: 1, replacesNotEarly: 0, unknownTarget: 3, loop: 1, targetBusy: 0, cannotDial: 0,
  });
  t.same(r.calls.transferOutcomes().attended, { ok: 0, failed: 0, refused: 2 }, 'the REFERs with Replaces count as attended transfers refused');
  t.same(r.calls.transferOutcomes().blind, { ok: 0, failed: 0, refused: 10 }, 'the others as blind ones');
  // After a transfer, the old dialog's REFER is for a call it no longer has.
  fromPhone(r, inv, p1, 'REFER', ['Refer-To: <sip:service@x>']);
  await r.settle();
  fromPhone(r, inv, p1, 'REFER', ['Refer-To: <sip:orders@x>']);
  await r.settle();
  t.same(answers(r, inv, 'REFER').slice(-2), [202, 481], 'a stale agent dialog gets 481');
});

t.test('checkRefer: a call passed on too often is a loop', async (t) => {
  const base: ReferContext = {
    referTo: ['<sip:service@x>'], referredBy: undefined, fromAgent: true, fromCurrentAgent: true, talking: true, currentQueue: 'orders',
    transfers: 0, queues: { orders: 1, service: 1 }, numbers: {}, flows: {}, vip: false, now: 0,
  };
  t.match(checkRefer(base), { ok: true, queue: 'service', referredBy: null });
  t.match(checkRefer({ ...base, transfers: MAX_TRANSFERS }), { ok: false, refusal: 'loop' });
  t.match(checkRefer({ ...base, talking: false }), { ok: false, refusal: 'notTalking' });
  t.match(checkRefer({ ...base, referredBy: ' <sip:2001@x> ' }), { ok: true, referredBy: '<sip:2001@x>' });
});

t.test('checkRefer: the addressing rule — queue, number of the plan, agent extension, telephone number', async (t) => {
  const base: ReferContext = {
    referTo: ['<sip:service@x>'], referredBy: undefined, fromAgent: true, fromCurrentAgent: true, talking: true, currentQueue: 'orders',
    transfers: 0, queues: { orders: 1, service: 1, 2002: 1 }, numbers: {}, flows: {}, vip: false, now: 0,
    agentOfExtension: (u) => (u === '2002' || u === '2003' ? `agent-${u}` : undefined), canDial: true,
  };
  const to = (user: string, o: Partial<ReferContext> = {}) => checkRefer({ ...base, ...o, referTo: [`<sip:${user}@x>`] });
  t.match(to('2002'), { ok: true, kind: 'blind', queue: '2002' }, 'a queue id first');
  t.match(to('2003'), { ok: true, kind: 'direct', target: { agent: 'agent-2003' } }, 'then an agent\'s extension');
  t.match(to('%2B8613800138000'), { ok: true, kind: 'direct', target: { number: '+8613800138000' } }, 'then a number (escaped + too)');
  t.match(to('013800138000'), { ok: true, kind: 'direct', target: { number: '013800138000' } });
  t.match(to('013800138000', { canDial: false }), { ok: false, refusal: 'cannotDial' }, 'no trunk');
  t.match(to('2003', { transfers: MAX_TRANSFERS }), { ok: false, refusal: 'loop' }, 'too many transfers, whatever the target');
  for (const bad of ['12', '+', '1'.repeat(21), '12a34', 'nobody']) t.match(to(bad), { ok: false, refusal: 'unknownTarget' }, `${bad}: no such target`);
});

t.test('parseReplaces: RFC 3891 §6.1 values, and hostile ones are null, never a throw', async (t) => {
  t.same(parseReplaces('425928@bobster.example.org;to-tag=7743;from-tag=6472'),
    { callId: '425928@bobster.example.org', toTag: '7743', fromTag: '6472', earlyOnly: false }, 'the RFC\'s example');
  t.same(parseReplaces('abc ; from-tag = 2 ;To-Tag=1;early-only;x=y'), { callId: 'abc', toTag: '1', fromTag: '2', earlyOnly: true },
    'any order, LWS around ; and =, case-insensitive names, early-only, generic params ignored');
  const hostile = [
    '', ';to-tag=1;from-tag=2', 'abc', 'abc;to-tag=1', 'abc;from-tag=2', 'abc;to-tag=;from-tag=2', 'abc;to-tag;from-tag=2',
    'abc;to-tag=1;to-tag=3;from-tag=2', 'abc;to-tag=1;from-tag=2;from-tag=2', 'abc;to-tag=1;from-tag=2;early-only=1',
    'a b;to-tag=1;from-tag=2', 'a@;to-tag=1;from-tag=2', '@b;to-tag=1;from-tag=2', 'abc;to-tag=1 2;from-tag=2',
    'abc;to-tag=1;from-tag=2;', 'abc;;to-tag=1;from-tag=2', 'abc;to-tag=<1>;from-tag=2', 'a\u0000c;to-tag=1;from-tag=2',
    'é;to-tag=1;from-tag=2', `${'x'.repeat(MAX_REPLACES)};to-tag=1;from-tag=2`, 'abc;constructor;to-tag=1;from-tag=2;__proto__=1',
  ];
  for (const v of hostile) {
    const r = parseReplaces(v);
    // The last one is well formed (unknown generic params are ignored): it must not pollute anything.
    if (v.includes('__proto__')) t.same(r, { callId: 'abc', toTag: '1', fromTag: '2', earlyOnly: false }, JSON.stringify(v));
    else t.equal(r, null, JSON.stringify(v));
  }
});

t.test('replacesInUri: the Refer-To URI header, %-unescaped once; two of them or a bad value are malformed', async (t) => {
  const of = (s: string): ReturnType<typeof replacesInUri> | 'unparsed' => {
    const na = parseNameAddr(s);
    return na ? replacesInUri(na.uri) : 'unparsed';
  };
  t.same(of('<sip:2002@onair>'), { kind: 'none' });
  t.same(of('<sip:2002@onair?Subject=hi>'), { kind: 'none' });
  t.same(of('<sip:2002@onair?replaces=c%40h%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>'),
    { kind: 'replaces', replaces: { callId: 'c@h', toTag: 't1', fromTag: 'f1', earlyOnly: false } });
  t.same(of('<sip:2002@onair?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2&replaces=b%3Bto-tag%3D1%3Bfrom-tag%3D2>'), { kind: 'malformed' }, 'two Replaces');
  t.same(of('<sip:2002@onair?Replaces=a%3Bto-tag%3D1>'), { kind: 'malformed' });
  t.same(of('<sip:2002@onair?Replaces=a%20b%3Bto-tag%3D1%3Bfrom-tag%3D2>'), { kind: 'malformed' }, 'an escaped space is no Call-ID');
  t.same(of('<sip:2002@onair?Replaces=a%253Bto-tag%253D1%253Bfrom-tag%253D2>'), { kind: 'malformed' }, 'unescaped once only: %253B is a literal %3B');
  t.same(of('<sip:2002@onair?Replaces=>'), { kind: 'malformed' }, 'empty');
});

t.test('matchReplaces: only a dialog of the call with that Call-ID and both tags, early-only only while early (RFC 3891 §3)', async (t) => {
  const consult: DialogId = { callId: 'c1', localTag: 'b-tag', remoteTag: 'onair-tag', early: false };
  const r = { callId: 'c1', toTag: 'b-tag', fromTag: 'onair-tag', earlyOnly: false };
  t.match(matchReplaces(r, [consult]), { ok: true, dialog: consult });
  t.same(matchReplaces(r, []), { ok: false, mismatch: 'noDialog' }, 'no consultation dialog');
  t.same(matchReplaces({ ...r, callId: 'other' }, [consult]), { ok: false, mismatch: 'noDialog' }, 'a foreign dialog');
  t.same(matchReplaces({ ...r, toTag: 'onair-tag', fromTag: 'b-tag' }, [consult]), { ok: false, mismatch: 'noDialog' }, 'tags swapped');
  t.same(matchReplaces({ ...r, toTag: 'B-TAG' }, [consult]), { ok: false, mismatch: 'noDialog' }, 'tags are case-sensitive');
  t.same(matchReplaces({ ...r, earlyOnly: true }, [consult]), { ok: false, mismatch: 'notEarly' });
  t.match(matchReplaces({ ...r, earlyOnly: true }, [{ ...consult, early: true }]), { ok: true });
});

t.test('checkRefer: a malformed Replaces is a bad Refer-To (400), a well-formed one an attended completion; both attended', async (t) => {
  const base: ReferContext = {
    referTo: ['<sip:service@x>'], referredBy: undefined, fromAgent: true, fromCurrentAgent: true, talking: true, currentQueue: 'orders',
    transfers: 0, queues: { orders: 1, service: 1 }, numbers: {}, flows: {}, vip: false, now: 0,
  };
  t.same(checkRefer({ ...base, referTo: ['<sip:service@x?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2>'] }),
    { ok: true, kind: 'attended', replaces: { callId: 'a', toTag: '1', fromTag: '2', earlyOnly: false } }, 'the user part is not looked at');
  t.same(checkRefer({ ...base, talking: false, referTo: ['<sip:nobody@x?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2>'] }), { ok: false, refusal: 'notTalking', attended: true });
  t.match(checkRefer({ ...base, consulting: true }), { ok: false, refusal: 'notTalking' }, 'a blind REFER during a consultation');
  t.same(checkRefer({ ...base, referTo: ['<sip:service@x?REPLACES=a%3Bfrom-tag%3D2>'] }), { ok: false, refusal: 'malformed', attended: true });
  t.same(checkRefer({ ...base, referTo: ['<sip:service@x?Replaces=>'] }), { ok: false, refusal: 'malformed', attended: true }, 'an empty one');
});
