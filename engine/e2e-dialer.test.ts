/**
 * End to end, the callback dialer through the real engine: a sipp caller gives up in the queue
 * (no agent yet) and becomes a task; a sipp agent registers; the engine rings it, dials the
 * customer (a sipp UAS behind the outbound trunk) on the agent's answer, bridges, and the task
 * ends done with one answered attempt and an outbound CDR in the CRM.
 */
import t from 'tap';
import path from 'node:path';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SCENARIOS, callersFile, listCdrs, startE2e, startSippAgents, waitFor, within } from './testing/engine-rig.ts';

t.test('an abandoned caller is called back: agent first, then the customer, task done', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const customerPort = await freeUdpPort();
  const control = await freeUdpPort();
  const { rig, sipps } = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234' }] },
    callbacks: { dialing: { pollSeconds: 1, callingHours: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }] } },
  } as never);
  const customer = sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-answer.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 1, timeoutSec: 60,
    args: ['-cp', String(control), '-d', '1000'],
  });
  const number = '+4930760000001';
  const gaveUp = await within(sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '100', '-d', '4000', '-inf', callersFile(rig, [number], 'abandon.csv')],
  }), 30_000, 'the caller');
  t.equal(gaveUp.successful, 1, `the caller hung up in the queue (stderr: ${gaveUp.stderr.slice(0, 300)})`);
  const task = await waitFor('the callback task', async () => (await rig.engine.store.callbacks.list()).find((c) => c.caller === number), 10_000);
  const agent = await startSippAgents(rig, ['1009'], 300, 1, { timeoutSec: 60 });
  sipps.add(agent.answer);
  const done = await waitFor('the task done', async () => {
    const x = await rig.engine.store.callbacks.get(task.id);
    return x?.status === 'done' ? x : undefined;
  }, 40_000);
  t.equal(done.status, 'done');
  const attempts = await rig.engine.store.callbacks.attempts(task.id);
  t.match(attempts, [{ result: 'answered', agentId: '1009', trunk: 'carrier-a' }], 'one attempt, answered through the trunk');
  const c = await within(customer.done, 30_000, 'the customer');
  t.equal(c.successful, 1, `the customer answered (stderr: ${c.stderr.slice(0, 300)})`);
  // The outbox delivered the records to the CRM (the built-in SQLite one): the outbound CDR is there.
  const cdr = await waitFor('the outbound CDR', async () => (await listCdrs(rig)).find((x) => x.callId === attempts[0]!.callId), 10_000);
  t.match(cdr, { direction: 'outbound', callbackId: task.id, attempt: 1, trunk: 'carrier-a', dialResult: 'answered', outcome: 'answered', agent: '1009', caller: number });
});

t.test('a busy customer: the agent is free at once, the task rescheduled with the configured delay', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const customerPort = await freeUdpPort();
  const control = await freeUdpPort();
  const { rig, sipps } = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234' }] },
    callbacks: { dialing: { pollSeconds: 1, retryDelaySeconds: { busy: 120 }, callingHours: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }] } },
  } as never);
  const customer = sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-busy.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 1, timeoutSec: 60,
    args: ['-cp', String(control)],
  });
  const number = '+4930760000002';
  const gaveUp = await within(sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '100', '-d', '4000', '-inf', callersFile(rig, [number], 'abandon.csv')],
  }), 30_000, 'the caller');
  t.equal(gaveUp.successful, 1, 'the caller hung up in the queue');
  const task = await waitFor('the callback task', async () => (await rig.engine.store.callbacks.list()).find((c) => c.caller === number), 10_000);
  const agent = await startSippAgents(rig, ['1009'], 300, 1, { timeoutSec: 60 });
  sipps.add(agent.answer);
  const busy = await waitFor('the busy result', async () => {
    const x = await rig.engine.store.callbacks.get(task.id);
    return x?.lastResult === 'busy' ? x : undefined;
  }, 40_000);
  const attempts = await rig.engine.store.callbacks.attempts(task.id);
  t.match(attempts, [{ result: 'busy', sipStatus: 486, trunk: 'carrier-a' }]);
  t.equal(busy.status, 'open', 'rescheduled, not closed');
  t.ok(busy.nextAttemptAt >= attempts[0]!.endedAt! + 120_000, 'not before the configured busy delay');
  t.ok(busy.nextAttemptAt < attempts[0]!.endedAt! + 121_000, 'and at it (calling hours all day)');
  const a = rig.engine.acd.inspectAgent('1009')!;
  t.equal(a.status, 'available', 'the agent stays available');
  t.equal(a.state, 'idle', 'and is idle at once (no wrap-up)');
  const c = await within(customer.done, 30_000, 'the customer');
  t.equal(c.successful, 1, 'the customer answered 486');
});

t.test('attempts exhausted: with maxAttempts 1 a busy customer ends the task exhausted', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const customerPort = await freeUdpPort();
  const control = await freeUdpPort();
  const { rig, sipps } = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234' }] },
    callbacks: { dialing: { pollSeconds: 1, maxAttempts: 1, callingHours: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }] } },
  } as never);
  sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-busy.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 1, timeoutSec: 60,
    args: ['-cp', String(control)],
  });
  const number = '+4930760000003';
  await within(sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '100', '-d', '4000', '-inf', callersFile(rig, [number], 'abandon.csv')],
  }), 30_000, 'the caller');
  const task = await waitFor('the callback task', async () => (await rig.engine.store.callbacks.list()).find((c) => c.caller === number), 10_000);
  sipps.add((await startSippAgents(rig, ['1009'], 300, 1, { timeoutSec: 60 })).answer);
  const over = await waitFor('the task closed', async () => {
    const x = await rig.engine.store.callbacks.get(task.id);
    return x?.status === 'exhausted' ? x : undefined;
  }, 40_000);
  t.match(over, { status: 'exhausted', attempts: 1, lastResult: 'busy' });
  t.equal((await rig.engine.store.callbacks.attempts(task.id)).length, 1, 'no second attempt');
});

t.test('a customer who never answers: the ring timeout CANCELs, the agent is free at once, the task rescheduled', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const customerPort = await freeUdpPort();
  const control = await freeUdpPort();
  const { rig, sipps } = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234', ringTimeoutSeconds: 2 }] },
    callbacks: { dialing: { pollSeconds: 1, retryDelaySeconds: { no_answer: 300 }, callingHours: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }] } },
  } as never);
  // The scenario fails unless onair CANCELs (sipp's -timeout): a passing customer proves the CANCEL.
  const customer = sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-noanswer.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 1, timeoutSec: 60,
    args: ['-cp', String(control)],
  });
  const number = '+4930760000004';
  const gaveUp = await within(sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '100', '-d', '4000', '-inf', callersFile(rig, [number], 'abandon.csv')],
  }), 30_000, 'the caller');
  t.equal(gaveUp.successful, 1, 'the caller hung up in the queue');
  const task = await waitFor('the callback task', async () => (await rig.engine.store.callbacks.list()).find((c) => c.caller === number), 10_000);
  const agent = await startSippAgents(rig, ['1009'], 300, 1, { timeoutSec: 60 });
  sipps.add(agent.answer);
  const missed = await waitFor('the no-answer result', async () => {
    const x = await rig.engine.store.callbacks.get(task.id);
    return x?.lastResult === 'no_answer' ? x : undefined;
  }, 40_000);
  const attempts = await rig.engine.store.callbacks.attempts(task.id);
  t.match(attempts, [{ result: 'no_answer', trunk: 'carrier-a', agentId: '1009' }], 'one attempt, not answered');
  t.equal(missed.status, 'open', 'rescheduled, not closed');
  t.equal(missed.attempts, 1, 'the attempt counts against maxAttempts');
  t.ok(missed.nextAttemptAt >= attempts[0]!.endedAt! + 300_000, 'not before the configured no-answer delay');
  t.ok(missed.nextAttemptAt < attempts[0]!.endedAt! + 301_000, 'and at it (calling hours all day)');
  const a = rig.engine.acd.inspectAgent('1009')!;
  t.equal(a.status, 'available', 'a customer who does not answer does not make the agent not-ready');
  t.equal(a.state, 'idle', 'and the agent is idle at once (no wrap-up)');
  const c = await within(customer.done, 30_000, 'the customer');
  t.equal(c.successful, 1, `the customer saw the CANCEL (stderr: ${c.stderr.slice(0, 300)})`);
});
