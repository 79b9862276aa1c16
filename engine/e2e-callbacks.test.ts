/**
 * End to end, abandon capture with real sipp callers: with no agent logged in, every caller who
 * hangs up before reaching an agent (in the queue or already in the IVR) becomes a callback task,
 * one per number — a number that gives up twice is one task with `abandons: 2` that keeps its
 * first arrival.
 */
import t from 'tap';
import path from 'node:path';
import { requirePeer } from './testing/index.ts';
import { SCENARIOS, api, callersFile, listCallbacks, startE2e, waitForCdrs, within } from './testing/engine-rig.ts';

t.test('callers who hang up before an agent all become callback tasks, deduplicated by number', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  const twice = '+4930750000001';
  const inQueue = [twice, '+4930750000002', '+4930750000003', '+4930750000004', twice];
  const inIvr = '+4930750000009';
  const target = `127.0.0.1:${rig.sipPort}`;
  const [queued, ivr] = await within(Promise.all([
    // Welcome (2.3 s), then the queue: these hang up 4 s after being answered, while waiting.
    sipps.run({
      scenario: path.join(SCENARIOS, 'caller.xml'), target, transport: 'u1', calls: inQueue.length, rate: 5, timeoutSec: 30,
      args: ['-s', '100', '-d', '4000', '-inf', callersFile(rig, inQueue, 'queue.csv')],
    }),
    // This one hangs up during the welcome prompt.
    sipps.run({
      scenario: path.join(SCENARIOS, 'caller.xml'), target, transport: 'u1', calls: 1, timeoutSec: 30,
      args: ['-s', '100', '-d', '1000', '-inf', callersFile(rig, [inIvr], 'ivr.csv')],
    }),
  ]), 40_000, 'the callers');
  t.equal(queued.successful, inQueue.length, `queue callers completed (stderr: ${queued.stderr.slice(0, 300)})`);
  t.equal(ivr.successful, 1, 'IVR caller completed');

  const cdrs = await waitForCdrs(rig, inQueue.length + 1);
  t.equal(cdrs.filter((c) => c.outcome === 'abandoned_queue').length, inQueue.length, 'every queue caller abandoned in the queue');
  t.match(cdrs.find((c) => c.caller === inIvr), { outcome: 'abandoned_ivr', queuedAt: null }, 'the IVR caller abandoned in the IVR');

  const callbacks = await listCallbacks(rig);
  const numbers = [...new Set([...inQueue, inIvr])];
  t.equal(callbacks.length, numbers.length, 'one task per number');
  t.same(new Set(callbacks.map((c) => c.caller)), new Set(numbers), 'every number that gave up has a task');
  t.ok(callbacks.every((c) => c.status === 'open' && c.queue === 'orders' && c.dialled === '100' && c.programme === 'demo-shopping-hour'),
    'open tasks for the orders queue, attributed to the programme');
  t.equal(callbacks.find((c) => c.caller === inIvr)?.reason, 'abandoned_ivr', 'reason: abandoned in the IVR');

  const calls = cdrs.filter((c) => c.caller === twice).sort((a, b) => a.arrivedAt - b.arrivedAt);
  t.equal(calls.length, 2, 'the repeated number called twice');
  const task = callbacks.find((c) => c.caller === twice);
  t.match(task, {
    abandons: 2, reason: 'abandoned_queue', arrivedAt: calls[0]?.arrivedAt, lastArrivalAt: calls[1]?.arrivedAt,
    firstCallId: calls[0]?.callId, lastCallId: calls[1]?.callId,
  }, 'the repeated number: one task, two abandons, first arrival kept');
  t.ok(callbacks.filter((c) => c.caller !== twice).every((c) => c.abandons === 1), 'the others abandoned once');
  // Callback order is each number's first arrival, as the CDRs saw it.
  const firstArrival = new Map<string, number>();
  for (const c of [...cdrs].reverse()) firstArrival.set(c.caller, c.arrivedAt);
  const expected = [...firstArrival.entries()].sort((a, b) => a[1] - b[1]).map(([n]) => n);
  t.same(callbacks.map((c) => c.caller), expected, 'tasks in the order of first arrival');

  const total = await api<{ total: number }>(rig, 'GET', '/api/v1/callbacks?status=open&queue=orders');
  t.equal(total.body.total, numbers.length, 'the API counts them');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
  t.equal(sipps.running, 0, 'no sipp left running');
});
