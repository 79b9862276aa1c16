/**
 * End to end, who is offered a call, with real sipp peers: a VIP caller who arrives last is
 * answered before callers who waited longer; an agent who lets the phone ring out is set not
 * ready and the call moves on to the next agent.
 */
import t from 'tap';
import path from 'node:path';
import { requirePeer } from './testing/index.ts';
import {
  SCENARIOS, api, callersFile, demoQueues, startE2e, startSippAgents, waitFor, waitForCdrs, within,
} from './testing/engine-rig.ts';
import { DEMO_CUSTOMERS } from '../crm-adapter/index.ts';

const VIP = DEMO_CUSTOMERS.find((c) => c.vipLevel > 0)!;

interface AgentJson { id: string; status: string; state: string; reason: string | null; callsHandled: number }

t.test('a VIP caller overtakes callers who waited longer', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  // 1009 serves orders and vip. It takes exactly two calls: the VIP, then the next in line.
  const agent = await startSippAgents(rig, ['1009'], 300, 2, { timeoutSec: 40 });
  sipps.add(agent.answer);
  const notReady = await api<AgentJson>(rig, 'POST', '/api/v1/agents/1009/status', { status: 'not_ready', reason: 'briefing' });
  t.equal(notReady.status, 200, 'agent 1009 set not ready through the API');

  const normal = ['+4930720000001', '+4930720000002', '+4930720000003'];
  const waiting = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: normal.length, rate: 10, timeoutSec: 40, args: ['-s', '100', '-d', '14000', '-inf', callersFile(rig, normal, 'normal.csv')],
  });
  const queued = (n: number) => () => rig.engine.calls.list().filter((c) => c.phase === 'queued').length === n;
  await waitFor('the normal callers queued', queued(normal.length), 10_000);
  const vip = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 30, args: ['-s', '100', '-d', '5000', '-inf', callersFile(rig, [VIP.number], 'vip.csv')],
  });
  await waitFor('the VIP queued', queued(normal.length + 1), 10_000);
  const vipCall = rig.engine.calls.list().find((c) => c.caller === VIP.number);
  t.match(vipCall, { queue: 'vip', priority: VIP.vipLevel }, 'the VIP waits in the vip queue with its priority');

  const ready = await api<AgentJson>(rig, 'POST', '/api/v1/agents/1009/status', { status: 'available' });
  t.equal(ready.status, 200, 'agent 1009 available again');

  const v = await within(vip.done, 20_000, 'the VIP caller');
  t.equal(v.successful, 1, `the VIP call completed (stderr: ${v.stderr.slice(0, 300)})`);
  const w = await within(waiting.done, 30_000, 'the normal callers');
  t.equal(w.successful, normal.length, 'the normal callers completed');
  const phone = await within(agent.answer.done, 15_000, 'the agent phone');
  t.equal(phone.successful, 2, 'the agent answered two calls');

  const cdrs = await waitForCdrs(rig, normal.length + 1);
  const answered = cdrs.filter((c) => c.outcome === 'answered').sort((a, b) => a.answeredAt! - b.answeredAt!);
  t.same(answered.map((c) => c.caller), [VIP.number, normal[0]], 'answer order: the VIP first, then the caller who waited longest');
  t.match(answered[0], { queue: 'vip', agent: '1009', customerId: VIP.customerId }, 'the VIP answered by 1009 in the vip queue');
  t.ok(answered[0]!.arrivedAt > Math.max(...cdrs.filter((c) => normal.includes(c.caller)).map((c) => c.arrivedAt)), 'the VIP arrived after every normal caller');
  t.same(cdrs.filter((c) => c.outcome === 'abandoned_queue').map((c) => c.caller).sort(), normal.slice(1).sort(), 'the others gave up in the queue');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
  t.equal(sipps.running, 0, 'no sipp left running');
});

t.test('ring-no-answer: the agent is set not ready and the next agent answers', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t, { queues: demoQueues({ ringTimeoutMs: 1500 }) });
  // 1001 registers first, so it has been idle longest and is offered the call first (longestIdle).
  const sleeper = await startSippAgents(rig, ['1001'], 0, 1, { scenario: 'agent-noanswer.xml', timeoutSec: 30 });
  sipps.add(sleeper.answer);
  const answering = await startSippAgents(rig, ['1002'], 200, 1, { timeoutSec: 30 });
  sipps.add(answering.answer);

  const caller = '+4930730000001';
  const r = await sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 30, args: ['-s', '100', '-d', '7000', '-inf', callersFile(rig, [caller])],
  });
  t.equal(r.successful, 1, `the caller completed (stderr: ${r.stderr.slice(0, 300)})`);
  const slept = await within(sleeper.answer.done, 10_000, 'the phone that never answers');
  t.equal(slept.successful, 1, `1001 rang, then got the CANCEL at the ring timeout (stderr: ${slept.stderr.slice(0, 300)})`);
  const answered = await within(answering.answer.done, 10_000, 'the answering phone');
  t.equal(answered.successful, 1, '1002 answered the call');

  const [cdr] = await waitForCdrs(rig, 1);
  t.match(cdr, { outcome: 'answered', caller, agent: '1002', queue: 'orders', offers: 2 }, 'answered by 1002 after two offers');
  const first = await api<AgentJson>(rig, 'GET', '/api/v1/agents/1001');
  t.equal(first.status, 200);
  t.match(first.body, { status: 'not_ready', reason: 'ringNoAnswer', state: 'idle', callsHandled: 0 }, 'the agent who did not answer is not ready');
  const second = await api<AgentJson>(rig, 'GET', '/api/v1/agents/1002');
  t.match(second.body, { status: 'available', callsHandled: 1 }, 'the agent who answered stays available');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
  t.equal(sipps.running, 0, 'no sipp left running');
});
