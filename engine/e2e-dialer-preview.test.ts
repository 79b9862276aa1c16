/**
 * End to end, preview dialing (`callbacks.dialing.mode: preview`) through the real engine: a sipp
 * caller gives up in the queue (its task), a sipp agent registers, the task is offered to the
 * agent's desktop first (a `callback.preview` event on the agent's event stream with the screen
 * pop), and the agent answers through the API: accept rings the agent's phone, then the customer
 * (a sipp UAS behind the outbound trunk), skip and reschedule free the agent at once, a preview
 * nobody answers lapses back to the queue by the queue's ring timeout.
 */
import t from 'tap';
import type { Test } from 'tap';
import path from 'node:path';
import type { CallbackTask } from './store/index.ts';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SCENARIOS, api, callersFile, demoQueues, startE2e, startSippAgents, waitFor, within } from './testing/engine-rig.ts';
import { connectEvents, type EventClient } from './api/testkit.ts';

type E2e = Awaited<ReturnType<typeof startE2e>>;

const ALL_DAY = [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }];
const AGENT = '1009';

/** An engine in preview mode with a task of `number`, agent 1009 registered and its event stream open. */
async function previewOf(t: Test, o: { number: string; dialing?: Record<string, unknown>; ringTimeoutMs?: number; customer?: boolean }): Promise<E2e & {
  task: CallbackTask; events: EventClient; customer: ReturnType<E2e['sipps']['start']> | undefined;
}> {
  const customerPort = await freeUdpPort();
  const e2e = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234' }] },
    callbacks: { dialing: { mode: 'preview', pollSeconds: 1, callingHours: ALL_DAY, ...o.dialing } },
    ...(o.ringTimeoutMs !== undefined ? { queues: demoQueues({ ringTimeoutMs: o.ringTimeoutMs }) } : {}),
  } as never);
  const { rig, sipps } = e2e;
  const customer = o.customer === true ? sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-answer.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 1, timeoutSec: 60,
    args: ['-cp', String(await freeUdpPort()), '-d', '500'],
  }) : undefined;
  const gaveUp = await within(sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '100', '-d', '3000', '-inf', callersFile(rig, [o.number], 'abandon.csv')],
  }), 30_000, 'the caller');
  t.equal(gaveUp.successful, 1, `the caller hung up in the queue (stderr: ${gaveUp.stderr.slice(0, 300)})`);
  const task = await waitFor('the callback task', async () => (await rig.engine.store.callbacks.list()).find((c) => c.caller === o.number), 10_000);
  const events = await connectEvents(`ws://127.0.0.1:${rig.httpPort}/api/v1/events?agent=${AGENT}`);
  t.teardown(() => events.close());
  sipps.add((await startSippAgents(rig, [AGENT], 300, 1, { timeoutSec: 60 })).answer);
  return { ...e2e, task, events, customer };
}

function taskWhen(e: E2e & { task: CallbackTask }, what: string, probe: (x: CallbackTask) => boolean): Promise<CallbackTask> {
  return waitFor(what, async () => {
    const x = await e.rig.engine.store.callbacks.get(e.task.id);
    return x !== null && probe(x) ? x : undefined;
  }, 40_000);
}

const offered = (m: { type: string; state?: unknown }): boolean => m.type === 'callback.preview' && m.state === 'offered';

t.test('preview: the task reaches the desktop first; accept rings the agent, then the customer; the task done', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await previewOf(t, { number: '+4930760000011', customer: true });
  const pop = await within(e.events.waitFor(offered), 15_000, 'the preview event');
  t.match(pop, {
    type: 'callback.preview', state: 'offered', callbackId: e.task.id, agentId: AGENT, queue: e.task.queue, caller: '+4930760000011',
    attempt: 1, abandons: 1, calledAt: e.task.arrivedAt,
  }, 'the screen pop: task, customer number, when they called, how many times');
  t.ok(typeof pop['expiresAt'] === 'number' && (pop['expiresAt'] as number) > (pop['at'] as number), 'the preview says when it lapses');
  t.equal(e.rig.engine.acd.inspectAgent(AGENT)!.state, 'reserved', 'the agent is reserved for the previewed task');
  t.same((await e.rig.engine.store.callbacks.attempts(e.task.id)).map((a) => a.result), [null], 'one attempt in progress');
  // Nobody has been dialled yet: the phone rings only after the accept.
  t.equal(e.rig.engine.calls.size, 0, 'no call while the agent previews');

  const wrong = await api(e.rig, 'POST', `/api/v1/callbacks/${e.task.id}/preview`, { agent: '1001', action: 'accept' });
  t.equal(wrong.status, 409, 'another agent cannot answer the preview');
  const accepted = await api(e.rig, 'POST', `/api/v1/callbacks/${e.task.id}/preview`, { agent: AGENT, action: 'accept' });
  t.equal(accepted.status, 200, JSON.stringify(accepted.body));
  t.same(accepted.body, { taskId: e.task.id, agentId: AGENT, action: 'accept' });
  const done = await taskWhen(e, 'the task done', (x) => x.status === 'done');
  t.equal(done.status, 'done');
  t.match(await e.rig.engine.store.callbacks.attempts(e.task.id), [{ result: 'answered', agentId: AGENT, trunk: 'carrier-a' }]);
  const c = await within(e.customer!.done, 30_000, 'the customer');
  t.equal(c.successful, 1, `the customer answered (stderr: ${c.stderr.slice(0, 300)})`);
  t.ok(e.events.messages.some((m) => m.type === 'callback.preview' && m.state === 'accepted'), 'the accept is on the stream');
  const again = await api(e.rig, 'POST', `/api/v1/callbacks/${e.task.id}/preview`, { agent: AGENT, action: 'skip' });
  t.equal(again.status, 404, 'a task not in preview any more');
});

t.test('preview: skip frees the agent at once; the task waits the skip delay and is not counted', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await previewOf(t, { number: '+4930760000012', dialing: { retryDelaySeconds: { skipped: 120 } } });
  await within(e.events.waitFor(offered), 15_000, 'the preview event');
  const r = await api(e.rig, 'POST', `/api/v1/callbacks/${e.task.id}/preview`, { agent: AGENT, action: 'skip' });
  t.equal(r.status, 200, JSON.stringify(r.body));
  const skipped = await taskWhen(e, 'the skip recorded', (x) => x.lastResult === 'skipped');
  const [attempt] = await e.rig.engine.store.callbacks.attempts(e.task.id);
  t.match(attempt, { result: 'skipped', agentId: AGENT, trunk: null });
  t.equal(skipped.status, 'open', 'back in the queue');
  t.equal(skipped.attempts, 0, 'a skip does not count toward maxAttempts');
  t.ok(skipped.nextAttemptAt >= attempt!.endedAt! + 120_000 && skipped.nextAttemptAt < attempt!.endedAt! + 121_000, 'due again after the skip delay');
  const a = e.rig.engine.acd.inspectAgent(AGENT)!;
  t.match(a, { status: 'available', state: 'idle' }, 'the agent is free at once');
});

t.test('preview: reschedule puts the task at the agent\'s time', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await previewOf(t, { number: '+4930760000013' });
  await within(e.events.waitFor(offered), 15_000, 'the preview event');
  const at = Date.now() + 3_600_000;
  const r = await api(e.rig, 'POST', `/api/v1/callbacks/${e.task.id}/preview`, { agent: AGENT, action: 'reschedule', at, note: 'customer asked for 3 pm' });
  t.equal(r.status, 200, JSON.stringify(r.body));
  const moved = await taskWhen(e, 'the task rescheduled', (x) => x.nextAttemptAt === at);
  t.match(moved, { status: 'open', attempts: 0, lastResult: 'skipped', note: 'customer asked for 3 pm' });
  t.ok(e.events.messages.some((m) => m.type === 'callback.preview' && m.state === 'rescheduled'), 'the reschedule is on the stream');
  t.match(e.rig.engine.acd.inspectAgent(AGENT)!, { status: 'available', state: 'idle' });
  const bad = await api(e.rig, 'POST', `/api/v1/callbacks/${e.task.id}/preview`, { agent: AGENT, action: 'reschedule' });
  t.equal(bad.status, 400, 'reschedule needs a time');
});

t.test('preview: nobody answers within the queue\'s ring timeout: back to the queue, the agent not ready', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await previewOf(t, { number: '+4930760000014', ringTimeoutMs: 2000 });
  await within(e.events.waitFor(offered), 15_000, 'the preview event');
  const withdrawn = await within(e.events.waitFor((m) => m.type === 'callback.preview' && m.state === 'withdrawn'), 15_000, 'the preview lapses');
  t.match(withdrawn, { callbackId: e.task.id, agentId: AGENT });
  const lapsed = await taskWhen(e, 'the lapse recorded', (x) => x.lastResult === 'agent_no_answer');
  t.match(lapsed, { status: 'open', attempts: 0 });
  t.match(e.rig.engine.acd.inspectAgent(AGENT)!, { status: 'notReady', reason: 'ringNoAnswer' }, 'as for a phone nobody answers');
});
