/**
 * Attended (consultative) transfer end to end through the real engine (issue 16, must-show 1;
 * docs/transfer.md, "Attended transfer"):
 * - with Replaces between two sipp agents: a raw carrier caller (sending 697 Hz) talks to sipp
 *   agent 1001 (A); the test consults 1006 (B) by the API; B's sipp answers with `-rtp_echo`; the
 *   test reads the consultation dialog from `GET /api/v1/calls/:id`, and A's phone (a second sipp
 *   on A's port, going on with A's dialog: agent-attended-refer.xml) sends a REFER with a Replaces
 *   naming no dialog (481), then one built from it (202, NOTIFY sipfrag 200, the engine's BYE).
 *   The caller then hears its own tone back, which only B can have sent (the engine never echoes):
 *   its RTP reaches B. The ACD has B on the call, A in wrap-up; one CDR with the legs agent A,
 *   consult, agent B; `onair_transfers_total{kind="attended",result="ok"} 1`.
 *   Before issue 16's consultation, the engine answered every REFER with Replaces 488.
 * - B declines: A (a raw phone sending 1209 Hz) hears the caller again and the caller hears A; B
 *   is free at once with its status unchanged; the CDR has a failed consult leg.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import {
  SCENARIOS, api, attendedLegs, demoQueues, registerSippAgents, startE2e, startEchoAgent, waitFor, waitForCdrs, within,
} from './testing/engine-rig.ts';
import { RawUdp } from './testing/attack.ts';
import { ToneSocket, answeringPhone, goertzel, toneCaller } from './testing/tones.ts';

const CALLER_HZ = 697;
const AGENT_HZ = 1209;
/** Power of an 8000-amplitude tone over half a second is about 1e13; quantisation noise far under 1e11. */
const PRESENT = 1e12;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface CallView {
  callId: string;
  agent: string | null;
  consult: null | {
    agent: string; from: string; state: string; dialog: { callId: string; toTag: string; fromTag: string } | null; referTo: string | null;
  };
}

/** The caller heard `hz` in the last half second of what came after `mark`. */
function hears(rtp: ToneSocket, mark: number, hz: number): boolean {
  const s = rtp.heard.slice(mark);
  return s.length >= 8000 && goertzel(s.slice(-4000), hz) > PRESENT;
}

t.test('attended transfer by REFER with Replaces between two sipp agents: the caller reaches B, one CDR with three legs', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  // A long wrap-up, so that the agents' states can be read after the transfer (the CDR waits for B's).
  const { rig, sipps } = await startE2e(t, { queues: demoQueues({ wrapUpMs: 120_000 }) });
  const engine = rig.engine;
  const [portA, mediaA] = [await freeUdpPort(), await freeUdpPort()];
  const dialogLog = path.join(rig.dir, 'agent-a.log');
  const aAnswer = sipps.start({
    scenario: path.join(SCENARIOS, 'agent-attended-answer.xml'), localPort: portA, calls: 1, timeoutSec: 30,
    args: ['-d', '200', '-mp', String(mediaA), '-cp', String(await freeUdpPort()), '-trace_logs', '-log_file', dialogLog],
  });
  await registerSippAgents(rig, ['1001'], portA);
  const b = await startEchoAgent(rig, sipps, '1006');
  const { rtp, dial } = await toneCaller(t, rig, CALLER_HZ, '+4930760000041');
  const call = await waitFor('agent 1001 talking', () => engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'), 15_000);

  // A's first sipp answered and logged its side of the dialog; the second goes on with it.
  const a1 = await within(aAnswer.done, 15_000, 'agent A, part 1');
  t.equal(a1.successful, 1, `A answered (stderr: ${a1.stderr.slice(0, 300)})`);
  const logged = readFileSync(dialogLog, 'latin1');
  const line = logged.slice(logged.indexOf('DIALOG|')).split('\n')[0] ?? '';
  const [, aCallId, engineContact, engineParty, agentParty, agentTag] = line.trim().split('|');
  t.ok(aCallId && engineContact && engineParty && agentParty && agentTag, `A's dialog logged (${line})`);

  t.match(await api<CallView>(rig, 'GET', `/api/v1/calls/${call.id}`), { status: 200, body: { callId: call.id, agent: '1001', consult: null } });
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/consult`, { agent: '1001' })).status, 409, 'its own agent: 409');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/consult/complete`)).status, 409, 'nothing to complete: 409');
  t.match(await api(rig, 'POST', `/api/v1/calls/${call.id}/consult`, { agent: '1006' }), { status: 200, body: { agent: '1006', state: 'ringing' } });
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/consult`, { agent: '1006' })).status, 409, 'consulting already: 409');
  const view = await waitFor('B answered the consultation', async () => {
    const r = await api<CallView>(rig, 'GET', `/api/v1/calls/${call.id}`);
    return r.body.consult?.state === 'talking' ? r.body.consult : undefined;
  }, 15_000);
  t.match(view, { agent: '1006', from: '1001', dialog: { callId: /.+/, toTag: /.+/, fromTag: /.+/ } });
  t.match(engine.acd.inspectAgent('1006'), { state: 'onCall', callId: call.id }, 'B is busy with the consultation');
  t.match(engine.acd.inspectAgent('1001'), { state: 'onCall', callId: call.id });
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/transfer`, { to: { queue: 'service' } })).status, 409, 'no blind transfer during a consultation');

  const mark = rtp.heard.length;
  const a2 = sipps.start({
    scenario: path.join(SCENARIOS, 'agent-attended-refer.xml'), target: `127.0.0.1:${rig.sipPort}`, localPort: portA, calls: 1, timeoutSec: 30,
    args: [
      '-cid_str', aCallId!, '-cp', String(await freeUdpPort()),
      '-key', 'engine_contact', engineContact!, '-key', 'engine_party', engineParty!, '-key', 'agent_party', agentParty!, '-key', 'agent_tag', agentTag!,
      '-key', 'refer_to', view.referTo!,
      '-key', 'foreign_to', `<sip:1006@onair.invalid?Replaces=${encodeURIComponent(`${view.dialog!.callId}x;to-tag=${view.dialog!.toTag};from-tag=${view.dialog!.fromTag}`)}>`,
    ],
  });
  const a2r = await within(a2.done, 20_000, 'agent A, part 2');
  t.equal(a2r.successful, 1, `A's REFERs got 481 then 202, the final NOTIFY and the engine's BYE (stderr: ${a2r.stderr.slice(0, 500)})`);
  await waitFor('the caller hears its own tone back from B (rtp_echo)', () => hears(rtp, mark, CALLER_HZ), 15_000);
  t.pass('the caller\'s RTP reaches B and comes back');
  t.match(engine.calls.list().find((c) => c.id === call.id), { phase: 'talking', agentId: '1006', queue: 'orders' }, 'B is the call\'s agent');
  t.match(engine.acd.inspectAgent('1006'), { state: 'onCall', callId: call.id });
  t.match(engine.acd.inspectAgent('1001'), { state: 'wrapUp', callId: null }, 'A is in wrap-up');
  t.match(await api<CallView>(rig, 'GET', `/api/v1/calls/${call.id}`), { body: { agent: '1006', consult: null } });

  t.equal(await within(dial.bye(), 5000, 'BYE answered'), 200, 'the caller hangs up');
  const br = await within(b.done, 15_000, 'agent B');
  t.equal(br.successful, 1, `B's sipp got the engine's BYE (stderr: ${br.stderr.slice(0, 300)})`);
  t.equal(engine.acd.inspectAgent('1006')?.state, 'wrapUp', 'B in wrap-up after the call');
  t.match(engine.desk.endWrapUp('1006'), { ok: true }, 'B ends its wrap-up: the CDR goes');
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.match(cdr, { callId: call.id, outcome: 'answered', agent: '1006', queue: 'orders', transfers: 1, releasedBy: 'caller' });
  t.match(cdr?.legs, attendedLegs('1001', '1006'), 'one CDR: agent A, the consultation, agent B');
  t.equal(cdr?.legs?.length, 3);
  t.ok((cdr?.holdMs ?? 0) > 0, `the caller's hold during the consultation is holdMs (${cdr?.holdMs})`);
  const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
  t.match(metrics, /onair_transfers_total\{kind="attended",result="ok"\} 1/, 'counted attended/ok');
  t.match(metrics, /onair_transfers_total\{kind="attended",result="refused"\} 1/, 'the foreign Replaces refused');
  t.match(engine.calls.transferCounters(), { accepted: 1, replacesNoDialog: 1 });
});

t.test('the consulted agent declines: the caller and A talk again, B is free, a failed consult leg', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  const engine = rig.engine;
  const [phoneSip, agentRtp] = await Promise.all([RawUdp.open(), ToneSocket.open(AGENT_HZ)]);
  t.teardown(async () => { await phoneSip.close(); agentRtp.close(); });
  answeringPhone(phoneSip, agentRtp);
  await registerSippAgents(rig, ['1001'], phoneSip.port);
  agentRtp.start();
  const portB = await freeUdpPort();
  const b = sipps.start({
    scenario: path.join(SCENARIOS, 'agent-consult-decline.xml'), localPort: portB, calls: 1, timeoutSec: 30,
    args: ['-d', '3000', '-cp', String(await freeUdpPort())],
  });
  await registerSippAgents(rig, ['1006'], portB);
  const { rtp, dial } = await toneCaller(t, rig, CALLER_HZ, '+4930760000042');
  const call = await waitFor('agent 1001 talking', () => engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'), 15_000);
  await waitFor('the caller hears A', () => hears(rtp, 0, AGENT_HZ), 10_000);

  t.match(await api(rig, 'POST', `/api/v1/calls/${call.id}/consult`, { agent: '1006' }), { status: 200, body: { state: 'ringing' } });
  // B rings 3 s: the caller is held (its queue's music), out of A's bridge. Counted from 300 ms on, for 1 s.
  await sleep(300);
  const held = rtp.heard.length;
  await sleep(1000);
  const heldPackets = (rtp.heard.length - held) / 160;
  t.ok(heldPackets >= 25, `the held caller receives its hold music (${heldPackets} packets in 1 s)`);
  t.ok(goertzel(rtp.heard.slice(held, held + 8000), AGENT_HZ) < PRESENT / 100, 'and not A');
  t.match(engine.acd.inspectAgent('1006'), { state: 'reserved', callId: call.id }, 'B is reserved while its phone rings');

  const br = await within(b.done, 15_000, 'agent B');
  t.equal(br.successful, 1, `B declined with 486 and got the ACK (stderr: ${br.stderr.slice(0, 300)})`);
  const mark = rtp.heard.length;
  await waitFor('the caller hears A again', () => hears(rtp, mark, AGENT_HZ), 10_000);
  const a0 = agentRtp.heard.length;
  await waitFor('A hears the caller again', () => agentRtp.heard.length - a0 >= 8000 && goertzel(agentRtp.heard.slice(-4000), CALLER_HZ) > PRESENT, 10_000);
  t.pass('the caller and A are bridged again');
  t.match(await api<CallView>(rig, 'GET', `/api/v1/calls/${call.id}`), { body: { agent: '1001', consult: null } });
  t.match(engine.acd.inspectAgent('1006'), { state: 'idle', status: 'available', callId: null }, 'B is free at once, status unchanged');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/consult/cancel`)).status, 409, 'no consultation left to cancel');

  t.equal(await within(dial.bye(), 5000, 'BYE answered'), 200, 'the caller hangs up');
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.match(cdr, { callId: call.id, outcome: 'answered', agent: '1001', transfers: 0 });
  t.match(cdr?.legs, [
    { kind: 'agent', agent: '1001', endedBy: 'hangup' },
    { kind: 'consult', agent: '1006', endedBy: 'failed' },
  ], 'the CDR: A\'s leg, and the consultation that failed');
  const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
  t.match(metrics, /onair_transfers_total\{kind="attended",result="ok"\} 0/, 'no transfer');
});
