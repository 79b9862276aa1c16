/**
 * The callback dialer on the call-control rig (engine/calls/testing.ts): the real UA over a
 * recording wire, the real ACD, the real SQLite store with its attempt policy, call control's
 * effect loop; media is the rig's fake, and the outbound dialer (D1, tested in engine/outbound) is
 * a recording port the test answers for the customer.
 */
import t from 'tap';
import { pino } from 'pino';
import { CallRig } from '../calls/testing.ts';
import type { SipRequest, Dialog } from '../sip/index.ts';
import { createOffer } from '../../media/index.ts';
import { DEFAULT_DIALING_POLICY, isDialable } from '../callbacks/index.ts';
import { CallbackDialer, DialerOffersMux, PredictiveShare } from './index.ts';
import type { DialEvents, DialRequest, OutboundPort, PredictiveDeps } from './index.ts';
import type { OutboxItem } from '../store/index.ts';

const ALL_DAY = { ...DEFAULT_DIALING_POLICY, callingHours: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }] };

interface Dialled { req: DialRequest; events: DialEvents; hungUp: boolean }

function setup(tt: { teardown(fn: () => unknown): void }): { r: CallRig; dialer: CallbackDialer; dials: Dialled[] } {
  const dials: Dialled[] = [];
  const outbound: OutboundPort = {
    dial: (req, events) => {
      const d: Dialled = { req, events, hungUp: false };
      dials.push(d);
      return { hangup: () => { d.hungUp = true; } };
    },
  };
  let dialer: CallbackDialer | undefined;
  const r = new CallRig({
    logLevel: 'silent', queues: [{ id: 'orders', wrapUpMs: 0, ringTimeoutMs: 10_000 }],
    callbacks: (rig) => (dialer = new CallbackDialer({
      acd: rig.acd, decide: (input) => rig.calls.decide(input), tasks: rig.store.callbacks, store: rig.store, outbound,
      ua: rig.ua, media: rig.media, agents: { contacts: (id) => {
        const p = rig.phones.get(id);
        return p ? [{ uri: { scheme: 'sip', user: p.extension, host: p.source.address, port: p.source.port, params: new Map(), headers: new Map() } as never, source: p.source }] : [];
      } },
      dialable: (task, now) => isDialable(task, now, ALL_DAY, () => false),
      settings: { pollMs: 2000, defaultQueue: 'orders', rtpTimeoutMs: 0, mode: 'progressive', lookupDeadlineMs: 300 },
      log: pino({ level: 'silent' }), clock: rig.clock,
    })),
  });
  tt.teardown(async () => { await dialer!.stop(); await r.close(); });
  return { r, dialer: dialer!, dials };
}

async function task(r: CallRig, caller = '13800000001'): Promise<number> {
  const { task } = await r.store.callbacks.create({
    caller, queue: 'orders', arrivedAt: r.clock.now() - 60_000, callId: 'c-orig', reason: 'abandoned_queue', dialled: '4008001234',
    programme: 'morning-show', customerId: null,
  }, r.clock.now());
  return task.id;
}

const kinds = (items: OutboxItem[]): string[] => items.map((i) => (i.kind === 'event' ? `${i.payload.type}${i.payload.type === 'callback_attempt' ? `:${i.payload.result ?? 'start'}` : ''}` : `cdr:${i.payload.dialResult ?? ''}`));

function customerSdp(): Buffer {
  return Buffer.from(createOffer({ address: '203.0.113.50', port: 31_000, codecs: ['PCMU'], dtmf: true }), 'latin1');
}

t.test('a due task rings a free agent with the screen pop; on the agent\'s answer the customer is dialled, bridged, recorded done', async (t) => {
  const { r, dialer, dials } = setup(t);
  const id = await task(r);
  const phone = r.agent('a1', '2001', 5070);
  dialer.start();
  await r.advance(0);
  await r.settle();
  const invite = r.agentInvites()[0] as SipRequest | undefined;
  t.ok(invite, 'the agent is rung');
  t.equal(invite!.headers.get('x-onair-callback-task'), String(id));
  t.equal(invite!.headers.get('x-onair-attempt'), '1');
  t.equal(invite!.headers.get('x-onair-customer'), '13800000001');
  t.match(invite!.headers.get('alert-info') ?? '', /info=callback/);
  t.equal(dials.length, 0, 'the customer is not dialled before the agent answers');
  r.phoneAnswers(invite!, phone);
  await r.settle();
  t.equal(dials.length, 1, 'agent answered: the customer is dialled');
  t.equal(dials[0]!.req.number, '13800000001');
  t.equal(dials[0]!.req.callerId, '4008001234', 'the customer sees the number they called');
  dials[0]!.events.onProgress?.(183, customerSdp());
  await r.settle();
  t.ok(r.media.calls.some((c) => c.op === 'bridge'), 'early media relayed to the agent');
  r.clock.advance(20_000);
  dials[0]!.events.onAnswered({ dialog: {} as Dialog, sdp: customerSdp(), trunk: 'carrier-a' });
  await r.settle();
  t.equal(r.acd.inspectAgent('a1')?.state, 'onCall');
  r.clock.advance(30_000);
  dials[0]!.events.onEnded?.('remote');
  await r.settle();
  await r.settle();
  const done = await r.store.callbacks.get(id);
  t.equal(done?.status, 'done');
  const attempts = await r.store.callbacks.attempts(id);
  t.equal(attempts.length, 1);
  t.equal(attempts[0]!.result, 'answered');
  const lane = await r.outbox(attempts[0]!.callId);
  t.same(kinds(lane), ['callback_attempt:start', 'callback_attempt:answered', 'cdr:answered', 'callback_completed'], 'records in order in the attempt\'s lane');
  const cdr = lane.find((i) => i.kind === 'cdr');
  t.match(cdr?.payload, { direction: 'outbound', callbackId: id, attempt: 1, trunk: 'carrier-a', outcome: 'answered', releasedBy: 'caller', talkMs: 30_000, agent: 'a1' });
  t.equal(dialer.stats.entries, 0, 'the entry left the ACD');
});

t.test('busy: the agent is free at once (no wrap-up, still available), the task rescheduled by the policy', async (t) => {
  const { r, dialer, dials } = setup(t);
  const id = await task(r);
  const phone = r.agent('a1', '2001', 5070);
  dialer.start();
  await r.advance(0);
  r.phoneAnswers(r.agentInvites()[0]!, phone);
  await r.settle();
  dials[0]!.events.onFailed({ result: 'busy', status: 486, trunk: 'carrier-a' });
  await r.settle();
  await r.settle();
  const a = r.acd.inspectAgent('a1')!;
  t.equal(a.state, 'idle');
  t.equal(a.status, 'available', 'not set not-ready: the agent did nothing wrong');
  const after = await r.store.callbacks.get(id);
  t.equal(after?.status, 'open');
  t.equal(after?.lastResult, 'busy');
  t.ok(after!.nextAttemptAt >= r.clock.now() + 300_000, 'busy: not before the configured 300 s (then the calling hours of the store policy)');
  const attempts = await r.store.callbacks.attempts(id);
  t.match(attempts, [{ result: 'busy', sipStatus: 486, trunk: 'carrier-a' }]);
  const lane = await r.outbox(attempts[0]!.callId);
  t.same(kinds(lane), ['callback_attempt:start', 'callback_attempt:busy', 'cdr:busy']);
  await r.advance(2000);
  t.equal(r.agentInvites().length, 1, 'not due: not offered again at the next poll');
});

t.test('the agent does not answer: the ACD\'s ring-timeout rule, agent_no_answer recorded, the customer never dialled', async (t) => {
  const { r, dialer, dials } = setup(t);
  const id = await task(r);
  const phone = r.agent('a1', '2001', 5070);
  dialer.start();
  await r.advance(0);
  t.equal(r.agentInvites().length, 1);
  r.phoneRings(r.agentInvites()[0]!, phone);
  await r.advance(10_000);
  await r.settle();
  t.equal(dials.length, 0);
  t.equal(r.acd.inspectAgent('a1')?.status, 'notReady', 'ring-no-answer: the ACD\'s rule for the agent');
  const attempts = await r.store.callbacks.attempts(id);
  t.match(attempts, [{ result: 'agent_no_answer' }]);
  t.equal((await r.store.callbacks.get(id))?.status, 'open', 'due again at once (agent_no_answer: no delay)');
});

t.test('a live caller of equal priority waiting goes before the callback; an inbound answer closes the task', async (t) => {
  const { r, dialer, dials } = setup(t);
  const id = await task(r, '13900000009');
  r.invite({ from: '13900000009' });
  await r.settle();
  r.media.done(r.callerLeg(0));
  await r.settle();
  const phone = r.agent('a1', '2001', 5070);
  dialer.start();
  await r.advance(0);
  const invites = r.agentInvites();
  t.equal(invites.length, 1);
  t.equal(invites[0]!.headers.get('x-onair-callback-task'), undefined, 'the live caller is offered, not the callback');
  r.phoneAnswers(invites[0]!, phone);
  await r.settle();
  await r.settle();
  t.equal((await r.store.callbacks.get(id))?.status, 'done', 'the customer called in and was served: task done');
  t.equal(dials.length, 0);
});

t.test('surge mode: the previous airing\'s task is offered before an older task of another airing; live callers still first', async (t) => {
  const { r, dialer } = setup(t);
  const older = await r.store.callbacks.create({
    caller: '13800000011', queue: 'orders', arrivedAt: r.clock.now() - 600_000, callId: 'c-q', reason: 'abandoned_queue', dialled: '4008001234',
    programme: 'Q', customerId: null, airing: 'Q#1',
  }, r.clock.now());
  const previous = await r.store.callbacks.create({
    caller: '13800000012', queue: 'orders', arrivedAt: r.clock.now() - 60_000, callId: 'c-p', reason: 'abandoned_queue', dialled: '4008001234',
    programme: 'P', customerId: null, airing: 'P#1',
  }, r.clock.now());
  t.equal(previous.task.airing, 'P#1', 'the task carries its airing');
  // Airing P#2 surges: P#1's callbacks go first (engine.ts: firstAirings of the schedule and the surge).
  dialer.setFirstAirings(new Set(['P#1']));
  r.agent('a1', '2001', 5070);
  dialer.start();
  await r.advance(0);
  await r.settle();
  const invites = r.agentInvites();
  t.equal(invites.length, 1);
  t.equal(invites[0]!.headers.get('x-onair-callback-task'), String(previous.task.id), 'P#1\'s task, though the other gave up earlier');
  t.equal(dialer.stats.entries, 1, 'the other airing\'s task waits outside the ACD while P#1\'s is due');
  t.not(older.task.id, previous.task.id);
});

t.test('two predictive dialers over the same auto-answer agent dial for it once between them (one share)', async (t) => {
  // The callback dialer and a campaign's predictive dialer, each with its own tasks (here: even and
  // odd task ids of one store), pacing for the one agent a1. Alone, a pacer with no history and a
  // 50 % ceiling dials two customers for one idle agent; with the share the second dialer sees the
  // first's two in flight (decided in the same turn, still being started) and dials none.
  const run = async (shared: boolean): Promise<number> => {
    const dials: Dialled[] = [];
    const outbound: OutboundPort = {
      dial: (req, events) => {
        dials.push({ req, events, hungUp: false });
        return { hangup: () => undefined };
      },
    };
    const one = new PredictiveShare();
    const predictive = (): PredictiveDeps => ({
      agentIds: () => ['a1'], pacing: { maxAbandonRatio: 0.5 }, holdPrompt: { items: [{ kind: 'prompt', name: 'en/all-agents-busy' }] },
      share: shared ? one : new PredictiveShare(),
    });
    const made: CallbackDialer[] = [];
    const r = new CallRig({
      logLevel: 'silent', queues: [{ id: 'orders', wrapUpMs: 0, ringTimeoutMs: 10_000 }],
      callbacks: (rig) => {
        const make = (prefix: string, parity: number): CallbackDialer => new CallbackDialer({
          acd: rig.acd, decide: (input) => rig.calls.decide(input), tasks: rig.store.callbacks, store: rig.store, outbound,
          ua: rig.ua, media: rig.media, agents: { contacts: () => [] },
          dialable: (task, now) => task.id % 2 === parity && isDialable(task, now, ALL_DAY, () => false),
          settings: { pollMs: 2000, defaultQueue: 'orders', rtpTimeoutMs: 0, mode: 'predictive', lookupDeadlineMs: 300, entryPrefix: prefix },
          predictive: predictive(), log: pino({ level: 'silent' }), clock: rig.clock,
        });
        made.push(make('cb:', 0), make('cpd:', 1));
        return new DialerOffersMux(made[0]!, [made[1]!]);
      },
    });
    t.teardown(async () => { for (const d of made) await d.stop(); await r.close(); });
    for (let i = 0; i < 4; i++) await task(r, `1380000000${i}`);
    r.agent('a1', '2001', 5070);
    for (const d of made) d.start();
    await r.advance(0);
    await r.settle();
    return dials.length;
  };
  t.equal(await run(false), 4, 'each with its own count: both dial two for the same idle agent (the over-dial)');
  t.equal(await run(true), 2, 'sharing: the two one pacer would dial, between them');
});
