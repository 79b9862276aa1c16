/**
 * Transfers and hold from the HTTP API, end to end through the real engine (issue 16, must-show 1):
 * - to another queue: sipp agent 1001 (orders) talks to a sipp caller; `POST /calls/:id/transfer
 *   {to:{queue:'service'}}` hangs 1001 up and sipp agent 1006 (service) answers; one CDR, both legs;
 * - to an external number: a sipp customer behind the outbound trunk rings 2 s (the caller hears
 *   hold music: RTP counted) and answers with `-rtp_echo`;
 *   the caller (a raw RTP socket sending 697 Hz) hears its own tone back, which only the customer
 *   can have sent (the engine never echoes): the caller's RTP flows to the customer and back; the
 *   CDR's second leg is `external`;
 * - hold / resume: the RTP packets the caller receives while held (the queue's hold music) are
 *   counted, the agent's phone receives none, and the agent's tone is heard again after resume;
 *   `holdMs` in the CDR.
 */
import t from 'tap';
import path from 'node:path';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import {
  SCENARIOS, api, callersFile, registerSippAgents, startE2e, startSippAgents, waitFor, waitForCdrs, within, type EngineRig,
} from './testing/engine-rig.ts';
import { RawUdp } from './testing/attack.ts';
import { ToneSocket, answeringPhone, goertzel, rawCaller } from './testing/tones.ts';

const CALLER_HZ = 697;
const AGENT_HZ = 1209;
/** Power of an 8000-amplitude tone over a second is about 1e14; quantisation noise far under 1e11. */
const PRESENT = 1e12;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Agent 1001 on a raw phone sending 1209 Hz (registered with sipp), a raw carrier caller sending
 * 697 Hz to number 100, bridged: the sockets (closed when the test ends) and the call.
 */
async function toneCall(t: { teardown(fn: () => unknown): void }, rig: EngineRig, from: string) {
  const socks: { close(): unknown }[] = [];
  t.teardown(async () => { for (const s of socks) await s.close(); });
  const [phoneSip, callerSip] = await Promise.all([RawUdp.open(), RawUdp.open()]);
  const [agent, caller] = await Promise.all([ToneSocket.open(AGENT_HZ), ToneSocket.open(CALLER_HZ)]);
  socks.push(phoneSip, callerSip, agent, caller);
  answeringPhone(phoneSip, agent);
  await registerSippAgents(rig, ['1001'], phoneSip.port);
  agent.start();
  caller.start();
  const dial = await rawCaller(rig, callerSip, caller, from, '100');
  const call = await waitFor('the call bridged to the agent', () => rig.engine.calls.list().find((c) => c.phase === 'talking'), 20_000);
  await waitFor('the caller hears the agent', () => caller.heard.length >= 8000 && goertzel(caller.heard.slice(-4000), AGENT_HZ) > PRESENT, 10_000);
  return { phoneSip, agent, caller, dial, call };
}

t.test('API transfer to another queue: the second sipp agent answers; one CDR with both legs', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  const engine = rig.engine;
  const first = await startSippAgents(rig, ['1001'], 200, 1, { timeoutSec: 40 });
  sipps.add(first.answer);
  const second = await startSippAgents(rig, ['1006'], 200, 1, { timeoutSec: 40 });
  sipps.add(second.answer);
  const caller = '+4930760000021';
  const callerRun = sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 40, args: ['-s', '100', '-d', '9000', '-inf', callersFile(rig, [caller])],
  });
  const talking = await waitFor('agent 1001 talking', () => engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'), 15_000);

  t.equal((await api(rig, 'POST', `/api/v1/calls/${talking.id}/transfer`, { to: { queue: 'service', agent: '1006' } })).status, 400, 'two targets: 400');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${talking.id}/transfer`, { to: { queue: 'service' }, mode: 'attended' })).status, 400, 'attended by API: 400');
  t.equal((await api(rig, 'POST', '/api/v1/calls/c1-1/transfer', { to: { queue: 'service' } })).status, 404, 'no such call: 404');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${talking.id}/transfer`, { to: { queue: 'orders' } })).status, 409, 'the queue it is in: 409');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${talking.id}/transfer`, { to: { queue: 'nowhere' } })).status, 409, 'no such queue: 409');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${talking.id}/transfer`, { to: { number: '+4930760000099' } })).status, 503, 'no outbound trunk: 503');

  const r = await api<{ kind: string; queue: string }>(rig, 'POST', `/api/v1/calls/${talking.id}/transfer`, { to: { queue: 'service' } });
  t.match(r, { status: 200, body: { kind: 'api_queue', queue: 'service' } }, 'transferred');
  const moved = await waitFor('agent 1006 talking', () => engine.calls.list().find((c) => c.id === talking.id && c.phase === 'talking' && c.agentId === '1006'), 15_000);
  t.equal(moved.queue, 'service');
  const a1 = await within(first.answer.done, 10_000, 'agent 1001');
  t.equal(a1.successful, 1, 'the engine hung up agent 1001 (its sipp got the BYE)');

  const c = await within(callerRun, 30_000, 'the caller');
  t.equal(c.successful, 1, `the caller stayed up through the transfer (stderr: ${c.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.match(cdr, { callId: talking.id, outcome: 'answered', caller, agent: '1006', queue: 'service', transfers: 1, releasedBy: 'caller' });
  t.match(cdr?.legs, [
    { kind: 'agent', agent: '1001', queue: 'orders', endedBy: 'transfer' },
    { kind: 'agent', agent: '1006', queue: 'service', endedBy: 'hangup' },
  ], 'both legs in the one CDR');
  const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
  t.match(metrics, /onair_transfers_total\{kind="api_queue",result="ok"\} 1/, 'counted in /metrics');
  t.match(metrics, /onair_transfers_total\{kind="api_queue",result="refused"\} 2/, 'the two refusals after validation too');
});

t.test('API transfer to an external number: the sipp customer answers and the caller\'s RTP flows to it and back', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const customerPort = await freeUdpPort();
  const customerMedia = await freeUdpPort();
  const { rig, sipps } = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234' }] },
  } as never);
  const customer = sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-transfer.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 1, timeoutSec: 60,
    args: ['-cp', String(await freeUdpPort()), '-mp', String(customerMedia), '-rtp_echo', '-d', '2000'],
  });
  const { phoneSip, caller, dial, call } = await toneCall(t, rig, '+4930760000022');

  const r = await api(rig, 'POST', `/api/v1/calls/${call.id}/transfer`, { to: { number: '+4930760000099' } });
  t.match(r, { status: 200, body: { kind: 'api_external', number: '+4930760000099' } });
  await waitFor('the agent phone hung up by the engine', () => phoneSip.heard.some((h) => h.text.startsWith('BYE ')), 5000);
  // The customer rings 2 s: meanwhile the caller hears its queue's hold music (counted from 300 ms on, for 1 s).
  await sleep(300);
  const ringing = caller.heard.length;
  await sleep(1000);
  const ringPackets = (caller.heard.length - ringing) / 160;
  t.ok(ringPackets >= 25, `the caller hears hold music while the number rings (${ringPackets} packets in 1 s)`);
  const mark = caller.heard.length;
  await waitFor('the caller hears its own tone echoed by the customer', () => {
    const s = caller.heard.slice(mark);
    return s.length >= 8000 && goertzel(s.slice(-4000), CALLER_HZ) > PRESENT;
  }, 15_000);
  const heard = caller.heard.slice(mark).slice(-4000);
  t.ok(goertzel(heard, CALLER_HZ) > PRESENT, 'the caller\'s tone went to the customer and came back (rtp_echo)');
  t.ok(goertzel(heard, AGENT_HZ) < PRESENT / 100, 'the agent is no longer in the call');

  t.equal(await within(dial.bye(), 5000, 'BYE answered'), 200, 'the caller hangs up');
  const c = await within(customer.done, 20_000, 'the customer');
  t.equal(c.successful, 1, `the customer received the call (X-Onair-Call-ID, SDP), and the engine's BYE (stderr: ${c.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.match(cdr, { callId: call.id, outcome: 'answered', transfers: 1, releasedBy: 'caller' });
  t.match(cdr?.legs, [
    { kind: 'agent', agent: '1001', endedBy: 'transfer' },
    { kind: 'external', number: '+4930760000099', endedBy: 'hangup' },
  ], 'the CDR: the agent leg, then the external leg');
});

t.test('hold and resume from the API: the caller receives the hold music, the agent nothing; holdMs in the CDR', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig } = await startE2e(t);
  const { agent, caller, dial, call } = await toneCall(t, rig, '+4930760000023');
  t.ok(agent.heard.length > 0, 'the agent hears the caller before the hold');

  t.equal((await api(rig, 'POST', '/api/v1/calls/c1-1/hold')).status, 404, 'no such call: 404');
  t.match(await api(rig, 'POST', `/api/v1/calls/${call.id}/hold`), { status: 200, body: { held: true } });
  // The hold reaches the worker within a few packets; count from 300 ms on, for 2 s.
  await sleep(300);
  const [c0, a0] = [caller.heard.length, agent.heard.length];
  await sleep(2000);
  const callerPackets = (caller.heard.length - c0) / 160;
  const agentPackets = (agent.heard.length - a0) / 160;
  t.ok(callerPackets >= 50, `the held caller receives the hold music (${callerPackets} packets in 2 s; 100 at 20 ms)`);
  t.equal(agentPackets, 0, 'the agent\'s phone receives no RTP while the caller is held');

  t.match(await api(rig, 'POST', `/api/v1/calls/${call.id}/resume`), { status: 200, body: { held: false } });
  const mark = caller.heard.length;
  await waitFor('the caller hears the agent again', () => caller.heard.length - mark >= 4000 && goertzel(caller.heard.slice(-4000), AGENT_HZ) > PRESENT, 10_000);
  const a1 = agent.heard.length;
  await waitFor('the agent hears the caller again', () => agent.heard.length - a1 >= 4000, 10_000);
  t.pass('bridged again both ways');

  t.equal(await within(dial.bye(), 5000, 'BYE answered'), 200, 'the caller hangs up');
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.ok(cdr !== undefined && cdr.holdMs !== undefined && cdr.holdMs >= 2300, `holdMs in the CDR (${cdr?.holdMs})`);
  t.match(cdr, { outcome: 'answered', agent: '1001', transfers: 0 });
});
