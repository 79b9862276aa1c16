/**
 * End to end, predictive (customer-first) callback dialing through the real engine: every agent on
 * auto-answer (`agents[].autoAnswer`), three callers give up in the queue (tasks), one sipp agent
 * that answers at once, sipp customers who all answer. The pacer dials ahead of the one agent
 * (the abandon ceiling set high so that it does); the first customer to answer is put through to
 * the agent, the others wait: after 2 s each is a dialer abandon (the `onair_dialer_abandon_ratio`
 * gauge) and hears "please hold". And `mode: predictive` is refused at config load while an agent
 * of a queue is not on auto-answer.
 */
import t from 'tap';
import path from 'node:path';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SCENARIOS, callersFile, listCdrs, startE2e, startSippAgents, waitFor, within } from './testing/engine-rig.ts';
import { demoConfig, parseConfig } from './config/index.ts';

const ALL_DAY = [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }];
const NUMBERS = ['+4930760000021', '+4930760000022', '+4930760000023'];

t.test('predictive needs auto-answer agents: refused at config load otherwise', async (t) => {
  const base = demoConfig();
  const check = (autoAnswer: (id: string) => boolean): string[] => {
    const r = parseConfig({
      ...base, agents: base.agents!.map((a) => ({ ...a, autoAnswer: autoAnswer(String(a.id)) })), callbacks: { dialing: { mode: 'predictive' } },
    }, { env: {} });
    return r.ok ? [] : r.errors.filter((e) => e.startsWith('callbacks.dialing.mode'));
  };
  t.same(check(() => true), [], 'every agent on auto-answer: accepted');
  t.match(check((id) => id !== '1002'), [/agents 1002 of queue orders are not on autoAnswer/], 'one agent of a queue rings by hand: refused');
  t.match(check(() => false), [/needs agents with autoAnswer/], 'nobody on auto-answer: refused');
});

t.test('predictive: customers dialled ahead, one put through to the auto-answer agent, the others abandoned with please-hold', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const customerPort = await freeUdpPort();
  const { rig, sipps } = await startE2e(t, {
    agents: demoConfig().agents!.map((a) => ({ ...a, autoAnswer: true })),
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234', callsPerSecond: 100 }] },
    callbacks: { dialing: { mode: 'predictive', pollSeconds: 1, callingHours: ALL_DAY, maxAttempts: 1, maxAbandonRatio: 0.5 } },
  } as never);
  const customers = sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-answer.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 3, timeoutSec: 60,
    args: ['-cp', String(await freeUdpPort()), '-d', '300'],
  });
  const gaveUp = await within(sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 3, timeoutSec: 30,
    args: ['-s', '100', '-d', '2000', '-inf', callersFile(rig, NUMBERS, 'abandon.csv')],
  }), 30_000, 'the callers');
  t.equal(gaveUp.successful, 3, `the callers hung up in the queue (stderr: ${gaveUp.stderr.slice(0, 300)})`);
  await waitFor('three tasks', async () => (await rig.engine.store.callbacks.list()).length === 3 || undefined, 10_000);
  sipps.add((await startSippAgents(rig, ['1001'], 0, 100, { timeoutSec: 60 })).answer);

  const closed = await waitFor('every task closed', async () => {
    const tasks = await rig.engine.store.callbacks.list();
    return tasks.every((x) => x.status !== 'open' && x.status !== 'claimed') ? tasks : undefined;
  }, 40_000);
  const attempts = (await Promise.all(closed.map((x) => rig.engine.store.callbacks.attempts(x.id)))).flat();
  t.ok(attempts.length >= 2, `customers were dialled ahead of the one agent (${attempts.length} attempts)`);
  t.ok(attempts.every((a) => a.agentId === null), 'each attempt began without an agent (customer first)');
  const done = closed.filter((x) => x.status === 'done');
  t.ok(done.length >= 1, `a customer was put through to the agent (${done.length} done)`);
  const text = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
  const ratio = Number(/^onair_dialer_abandon_ratio (\S+)$/m.exec(text)?.[1]);
  t.ok(ratio > 0 && ratio <= 1, `a customer waited more than 2 s: a dialer abandon (ratio ${ratio})`);
  // Issue 14: the please-hold prompt is what such a customer hears — the outbound CDR's `played` says so.
  const held = await waitFor('an outbound CDR whose customer was played please-hold', async () =>
    (await listCdrs(rig)).find((x) => x.direction === 'outbound' && x.played?.includes('en/all-agents-busy') === true), 20_000);
  t.match(held, { direction: 'outbound', played: ['en/all-agents-busy'] }, 'the waiting customer heard "all our agents are busy, please stay on the line"');
  const c = await within(customers.done, 40_000, 'the customers');
  t.ok(c.successful >= 1, `the customers answered (${c.successful}; stderr ${c.stderr.slice(0, 200)})`);
});
