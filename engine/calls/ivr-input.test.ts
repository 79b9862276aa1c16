/**
 * IVR input (issue 16): multi-digit `collect` into call variables and `branch` on variables and
 * the local time, on the call-control rig (real UA, ACD, store; fake media). The variables reach
 * the agent's INVITE (X-Onair-Var-*), the call.offered event (the desktop's screen pop) and the CDR.
 */
import t from 'tap';
import { CallRig, T0, type RigOptions } from './testing.ts';
import type { Flow, FlowStep } from './types.ts';
import type { Cdr } from '../../crm-adapter/index.ts';

const collect = (o: Partial<Extract<FlowStep, { type: 'collect' }>> = {}): FlowStep => ({
  type: 'collect', into: 'orderNumber', prompts: ['enter-order'], minDigits: 4, maxDigits: 8, terminator: '#',
  firstDigitTimeoutMs: 8000, interDigitTimeoutMs: 3000, retries: 1, invalidPrompts: ['invalid-choice'], pattern: null, ...o,
});
const toOrders: FlowStep = { type: 'queue', queue: 'orders', vipQueue: null };
const hangup: FlowStep = { type: 'hangup', prompts: ['goodbye'] };
const byPhone = { type: 'branch', when: [{ kind: 'var', var: 'orderNumber', equals: null, matches: null, present: true }], then: { type: 'queue', queue: 'orders', vipQueue: null }, else: null } as const;

function rig(tt: { teardown(fn: () => unknown): void }, steps: FlowStep[], o: RigOptions = {}): CallRig {
  const main: Flow = { id: 'main', steps };
  const r = new CallRig({ ...o, settings: { ...o.settings, flows: { main } } });
  tt.teardown(() => r.close());
  return r;
}

async function cdrOf(r: CallRig, callId: string): Promise<Cdr | undefined> {
  const item = (await r.outbox(callId)).find((i) => i.kind === 'cdr');
  return item?.kind === 'cdr' ? item.payload : undefined;
}

t.test('an order number keyed with # reaches the agent\'s INVITE, the screen pop event and the CDR; the first digit stops the prompt', async (t) => {
  const r = rig(t, [collect(), byPhone, hangup]);
  const phone = r.agent('a1', '2001', 5070);
  const { callId: sip } = r.invite();
  await r.settle();
  const leg = r.callerLeg(0);
  t.same(r.media.lastPrompts(leg), ['en/enter-order']);
  for (const d of '2026') r.media.digit(leg, d);
  t.ok(r.media.calls.some((c) => c.op === 'stop' && c.leg === leg), 'barge-in: the prompt is stopped at the first digit');
  for (const d of '1207#') r.media.digit(leg, d);
  await r.settle();
  const invite = r.agentInvites()[0];
  t.ok(invite, 'queued to orders and offered');
  t.equal(invite?.headers.get('X-Onair-Var-orderNumber'), '20261207', 'maxDigits 8 ended the input; # after it is ignored');
  const offered = r.of('call.offered')[0];
  t.same(offered?.variables, { orderNumber: '20261207' });
  r.phoneAnswers(invite!, phone);
  await r.settle();
  r.inDialog(sip, 'BYE');
  await r.settle();
  await r.advance(5000);
  const callId = r.of('call.arrived')[0]!.callId;
  t.same((await cdrOf(r, callId))?.variables, { orderNumber: '20261207' });
});

t.test('too short is invalid: the invalid prompt, the prompt again; no input after the retries: the flow goes on without the variable', async (t) => {
  const r = rig(t, [collect(), byPhone, hangup]);
  r.invite();
  await r.settle();
  const leg = r.callerLeg(0);
  for (const d of '12#') r.media.digit(leg, d);
  await r.settle();
  t.same(r.media.lastPrompts(leg), ['en/invalid-choice'], 'two digits, minDigits 4');
  r.media.done(leg);
  await r.settle();
  t.same(r.media.lastPrompts(leg), ['en/enter-order'], 'asked again');
  r.media.done(leg);
  await r.advance(8000);
  await r.settle();
  t.same(r.media.lastPrompts(leg), ['en/goodbye'], 'no input, no retry left: the branch falls through to the hangup');
  r.media.done(leg);
  await r.settle();
  const callId = r.of('call.arrived')[0]!.callId;
  t.same((await cdrOf(r, callId))?.variables, {}, 'nothing kept');
});

t.test('the inter-digit timeout ends the input; a pattern must match the whole input', async (t) => {
  const r = rig(t, [collect({ terminator: null, pattern: /^(?:9\d{3,})$/, retries: 0 }), byPhone, hangup]);
  r.agent('a1', '2001', 5070);
  r.invite();
  await r.settle();
  const leg = r.callerLeg(0);
  r.media.done(leg);
  for (const d of '91234') r.media.digit(leg, d);
  await r.advance(2999);
  t.equal(r.agentInvites().length, 0, 'still collecting');
  await r.advance(1);
  await r.settle();
  t.equal(r.agentInvites()[0]?.headers.get('X-Onair-Var-orderNumber'), '91234');

  const r2 = rig(t, [collect({ terminator: null, pattern: /^(?:9\d{3,})$/, retries: 0 }), byPhone, hangup]);
  r2.invite();
  await r2.settle();
  const leg2 = r2.callerLeg(0);
  for (const d of '81234') r2.media.digit(leg2, d);
  await r2.advance(3000);
  await r2.settle();
  t.same(r2.media.lastPrompts(leg2), ['en/goodbye'], 'not matching the pattern, no retries: the flow goes on without it');
});

t.test('branch on office hours and holidays in the configured time zone', async (t) => {
  // T0 = 2026-12-06 20:00 UTC = Monday 04:00 in Shanghai (UTC+8).
  const inHours = (from: string, to: string): FlowStep => ({
    type: 'branch', when: [{ kind: 'hours', windows: [{ days: [1], from, to }], timeZone: 'Asia/Shanghai' }],
    then: { type: 'queue', queue: 'orders', vipQueue: null }, else: { type: 'hangup' },
  });
  const open = rig(t, [inHours('03:00', '05:00'), hangup]);
  open.agent('a1', '2001', 5070);
  open.invite();
  await open.settle();
  t.equal(open.agentInvites().length, 1, 'Monday 04:00 local is inside 03:00-05:00');
  const closed = rig(t, [inHours('09:00', '18:00'), hangup]);
  closed.agent('a1', '2001', 5070);
  closed.invite();
  await closed.settle();
  t.equal(closed.agentInvites().length, 0, 'outside: else hangs up');
  t.match(closed.of('call.ended')[0], { outcome: 'completed_ivr' }, 'the flow ended the call: not an abandon');
  const holiday: FlowStep = {
    type: 'branch', when: [{ kind: 'dates', dates: ['2026-12-07'], timeZone: 'Asia/Shanghai' }],
    then: { type: 'hangup' }, else: null,
  };
  const h = rig(t, [holiday, toOrders]);
  h.agent('a1', '2001', 5070);
  h.invite();
  await h.settle();
  t.equal(h.agentInvites().length, 0, '2026-12-07 in Shanghai is the holiday (it is still the 6th in UTC)');
  t.equal(new Date(T0).toISOString().slice(0, 10), '2026-12-06');
});

t.test('a hang-up step without a prompt ends the call at once (the empty playlist is not waited for)', async (t) => {
  const r = rig(t, [{ type: 'hangup', prompts: [] }]);
  r.invite();
  await r.settle();
  await r.advance(100);
  await r.settle();
  t.match(r.of('call.ended')[0], { outcome: 'completed_ivr' }, 'the flow ended the call');
});
