import t from 'tap';
import type { CallControlEvent } from '../calls/index.ts';
import { unknownCaller } from '../../crm-adapter/index.ts';
import { CallEventSink, ctiEvent } from './cti.ts';
import { createMetrics } from './metrics.ts';
import { eventAgent } from './views.ts';
import type { CtiEvent } from './types.ts';

const at = 1_700_000_000_000;

t.test('every field of a CTI event carries the call-control value', async (t) => {
  t.same(ctiEvent({
    type: 'call.queued', callId: 'c1', queue: 'orders', caller: '+4930', dialled: '100', programme: 'show', airing: 'a1',
    position: 3, priority: 2, at,
  }), { type: 'call.queued', at, callId: 'c1', queue: 'orders', caller: '+4930', dialled: '100', position: 3, priority: 2 });
  const customer = unknownCaller();
  t.same(ctiEvent({
    type: 'call.offered', callId: 'c1', queue: 'orders', agentId: '1001', caller: '+4930', dialled: '100', programme: 'show',
    airing: 'a1', attempt: 2, customer, variables: { orderNumber: '12345' }, at,
  }), {
    type: 'call.offered', at, callId: 'c1', agentId: '1001', queue: 'orders', caller: '+4930', dialled: '100', programme: 'show', attempt: 2, customer,
    variables: { orderNumber: '12345' },
  });
  t.same(ctiEvent({
    type: 'call.ended', callId: 'c1', agentId: '1001', queue: 'orders', trunk: 'carrier', outcome: 'answered', releasedBy: 'caller', at,
  }), { type: 'call.ended', at, callId: 'c1', agentId: '1001', queue: 'orders', outcome: 'answered', releasedBy: 'caller' });
  t.same(ctiEvent({ type: 'agent.state', agentId: '1001', state: 'wrapUp', status: 'notReady', reason: 'lunch', at }),
    { type: 'agent.state', at, agentId: '1001', status: 'notReady', state: 'wrapUp', reason: 'lunch' });
  t.equal(ctiEvent({ type: 'acd.decision', latencyMs: 0.01 }), null, 'timings are metrics only');
});

t.test('a consultation\'s state, conference included, reaches the call\'s agent\'s stream (no such event before)', async (t) => {
  const e = ctiEvent({ type: 'call.consult', callId: 'c1', agentId: '1001', consulted: '1006', state: 'conference', at });
  t.same(e, { type: 'call.consult', at, callId: 'c1', agentId: '1001', consulted: '1006', state: 'conference' });
  t.equal(e === null ? null : eventAgent(e), '1001');
});

t.test('an agent-filtered stream sees its call end', async (t) => {
  const e = ctiEvent({ type: 'call.ended', callId: 'c1', agentId: '1001', queue: 'orders', trunk: 'carrier', outcome: 'answered', releasedBy: 'agent', at });
  t.equal(e === null ? null : eventAgent(e), '1001');
});

t.test('the sink counts and publishes; a throwing listener does not stop the others', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const errors: unknown[] = [];
  const sink = new CallEventSink(metrics, (err) => errors.push(err));
  const seen: CtiEvent[] = [];
  sink.subscribe(() => { throw new Error('listener bug'); });
  const off = sink.subscribe((e) => seen.push(e));
  const events: CallControlEvent[] = [
    { type: 'call.queued', callId: 'c1', queue: 'orders', caller: '+49', dialled: '100', programme: null, airing: null, position: 1, priority: 0, at },
    { type: 'call.rejected', callId: 'c2', caller: '+49', trunk: 'carrier', queue: 'orders', reason: 'queue_full', status: 0, at },
    { type: 'call.rejected', callId: 'c3', caller: '+49', trunk: 'carrier', queue: null, reason: 'capacity', status: 503, at },
    { type: 'call.abandoned', callId: 'c1', queue: 'orders', stage: 'queue', waitMs: 4000, at },
    { type: 'call.abandoned', callId: 'c4', queue: null, stage: 'ivr', waitMs: 1000, at },
    { type: 'call.ended', callId: 'c1', agentId: null, queue: 'orders', trunk: 'carrier', outcome: 'abandoned_queue', releasedBy: 'caller', at },
    { type: 'call.refusalUnrecorded', trunk: 'carrier', at },
  ];
  for (const e of events) sink.observe(e);
  t.same(seen.map((e) => e.type), ['call.queued', 'call.ended']);
  t.equal(errors.length, 2, 'each throw reported');
  t.same(metrics.queueTotals('orders'), { entered: 1, rejected: 1, callbacks: 0 }, 'queue_full counts as rejected at the queue');
  const text = await metrics.render();
  t.match(text, /^onair_queue_wait_seconds_count\{queue="orders",outcome="abandoned"\} 1$/m, 'an abandon in the queue is a wait');
  t.match(text, /^onair_calls_ended_total\{outcome="rejected_capacity"\} 1$/m, 'a capacity rejection is a call that ended');
  t.match(text, /^onair_trunk_calls_total\{trunk="carrier",outcome="abandoned_queue"\} 1$/m);
  t.match(text, /^onair_trunk_refusals_unrecorded_total\{trunk="carrier"\} 1$/m, 'a refusal not recorded is still counted');
  off();
  sink.observe(events[0]!);
  t.equal(seen.length, 2, 'unsubscribed');
});
