/**
 * End to end, the callback dialer through the real engine: a sipp caller gives up in the queue
 * (no agent yet) and becomes a task; a sipp agent registers; the engine rings it, dials the
 * customer (a sipp UAS behind the outbound trunk) on the agent's answer, bridges, and the task
 * ends done with one answered attempt and an outbound CDR in the CRM. The other cases: a busy
 * customer, one who never answers, and attempts used up.
 */
import t from 'tap';
import type { Test } from 'tap';
import path from 'node:path';
import type { CallbackTask } from './store/index.ts';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SCENARIOS, callersFile, listCdrs, startE2e, startSippAgents, waitFor, within } from './testing/engine-rig.ts';

type E2e = Awaited<ReturnType<typeof startE2e>>;

/** Calling hours all day, so that a test's time of day never holds a task back. */
const ALL_DAY = [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }];

/**
 * An engine with one outbound trunk to a sipp customer playing `customerScenario`, a caller who
 * gives up in the queue (its task), then agent 1009 registered to take the callback.
 */
async function callbackOf(t: Test, o: {
  customerScenario: string; number: string; dialing: Record<string, unknown>; trunk?: Record<string, unknown>; customerArgs?: string[];
}): Promise<E2e & { task: CallbackTask; customer: ReturnType<E2e['sipps']['start']> }> {
  const customerPort = await freeUdpPort();
  const control = await freeUdpPort();
  const e2e = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234', ...o.trunk }] },
    callbacks: { dialing: { pollSeconds: 1, callingHours: ALL_DAY, ...o.dialing } },
  } as never);
  const { rig, sipps } = e2e;
  const customer = sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', o.customerScenario), localIp: '127.0.0.1', localPort: customerPort, calls: 1, timeoutSec: 60,
    args: ['-cp', String(control), ...(o.customerArgs ?? [])],
  });
  const gaveUp = await within(sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '100', '-d', '4000', '-inf', callersFile(rig, [o.number], 'abandon.csv')],
  }), 30_000, 'the caller');
  t.equal(gaveUp.successful, 1, `the caller hung up in the queue (stderr: ${gaveUp.stderr.slice(0, 300)})`);
  const task = await waitFor('the callback task', async () => (await rig.engine.store.callbacks.list()).find((c) => c.caller === o.number), 10_000);
  sipps.add((await startSippAgents(rig, ['1009'], 300, 1, { timeoutSec: 60 })).answer);
  return { ...e2e, task, customer };
}

/** The task once `probe` holds for it. */
function taskWhen(e: E2e & { task: CallbackTask }, what: string, probe: (x: CallbackTask) => boolean): Promise<CallbackTask> {
  return waitFor(what, async () => {
    const x = await e.rig.engine.store.callbacks.get(e.task.id);
    return x !== null && probe(x) ? x : undefined;
  }, 40_000);
}

t.test('an abandoned caller is called back: agent first, then the customer, task done', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await callbackOf(t, { customerScenario: 'customer-answer.xml', number: '+4930760000001', dialing: {}, customerArgs: ['-d', '1000'] });
  const done = await taskWhen(e, 'the task done', (x) => x.status === 'done');
  t.equal(done.status, 'done');
  const attempts = await e.rig.engine.store.callbacks.attempts(e.task.id);
  t.match(attempts, [{ result: 'answered', agentId: '1009', trunk: 'carrier-a' }], 'one attempt, answered through the trunk');
  const c = await within(e.customer.done, 30_000, 'the customer');
  t.equal(c.successful, 1, `the customer answered (stderr: ${c.stderr.slice(0, 300)})`);
  // The outbox delivered the records to the CRM (the built-in SQLite one): the outbound CDR is there.
  const cdr = await waitFor('the outbound CDR', async () => (await listCdrs(e.rig)).find((x) => x.callId === attempts[0]!.callId), 10_000);
  t.match(cdr, { direction: 'outbound', callbackId: e.task.id, attempt: 1, trunk: 'carrier-a', dialResult: 'answered', outcome: 'answered', agent: '1009', caller: '+4930760000001' });
});

t.test('a busy customer: the agent is free at once, the task rescheduled with the configured delay', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await callbackOf(t, { customerScenario: 'customer-busy.xml', number: '+4930760000002', dialing: { retryDelaySeconds: { busy: 120 } } });
  const busy = await taskWhen(e, 'the busy result', (x) => x.lastResult === 'busy');
  const attempts = await e.rig.engine.store.callbacks.attempts(e.task.id);
  t.match(attempts, [{ result: 'busy', sipStatus: 486, trunk: 'carrier-a' }]);
  t.equal(busy.status, 'open', 'rescheduled, not closed');
  t.ok(busy.nextAttemptAt >= attempts[0]!.endedAt! + 120_000, 'not before the configured busy delay');
  t.ok(busy.nextAttemptAt < attempts[0]!.endedAt! + 121_000, 'and at it (calling hours all day)');
  const a = e.rig.engine.acd.inspectAgent('1009')!;
  t.equal(a.status, 'available', 'the agent stays available');
  t.equal(a.state, 'idle', 'and is idle at once (no wrap-up)');
  const c = await within(e.customer.done, 30_000, 'the customer');
  t.equal(c.successful, 1, 'the customer answered 486');
});

t.test('attempts exhausted: with maxAttempts 1 a busy customer ends the task exhausted', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await callbackOf(t, { customerScenario: 'customer-busy.xml', number: '+4930760000003', dialing: { maxAttempts: 1 } });
  const over = await taskWhen(e, 'the task closed', (x) => x.status === 'exhausted');
  t.match(over, { status: 'exhausted', attempts: 1, lastResult: 'busy' });
  t.equal((await e.rig.engine.store.callbacks.attempts(e.task.id)).length, 1, 'no second attempt');
});

t.test('a customer who never answers: the ring timeout CANCELs, the agent is free at once, the task rescheduled', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  // The scenario fails unless onair CANCELs (sipp's -timeout): a passing customer proves the CANCEL.
  const e = await callbackOf(t, {
    customerScenario: 'customer-noanswer.xml', number: '+4930760000004', trunk: { ringTimeoutSeconds: 2 }, dialing: { retryDelaySeconds: { no_answer: 300 } },
  });
  const missed = await taskWhen(e, 'the no-answer result', (x) => x.lastResult === 'no_answer');
  const attempts = await e.rig.engine.store.callbacks.attempts(e.task.id);
  t.match(attempts, [{ result: 'no_answer', trunk: 'carrier-a', agentId: '1009' }], 'one attempt, not answered');
  t.equal(missed.status, 'open', 'rescheduled, not closed');
  t.equal(missed.attempts, 1, 'the attempt counts against maxAttempts');
  t.ok(missed.nextAttemptAt >= attempts[0]!.endedAt! + 300_000, 'not before the configured no-answer delay');
  t.ok(missed.nextAttemptAt < attempts[0]!.endedAt! + 301_000, 'and at it (calling hours all day)');
  const a = e.rig.engine.acd.inspectAgent('1009')!;
  t.equal(a.status, 'available', 'a customer who does not answer does not make the agent not-ready');
  t.equal(a.state, 'idle', 'and the agent is idle at once (no wrap-up)');
  const c = await within(e.customer.done, 30_000, 'the customer');
  t.equal(c.successful, 1, `the customer saw the CANCEL (stderr: ${c.stderr.slice(0, 300)})`);
});
