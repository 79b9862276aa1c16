/**
 * Work classes through the real engine (issue 13): an agent's 200 OK that reaches the engine's
 * socket right behind a burst of new INVITEs is handled before them. One loopback socket plays
 * both the carrier and agent 1009's phone (registered by sipp with its Contact on that socket),
 * so every datagram of the burst and the answer lands in one kernel buffer, in that order, before
 * the engine reads any of them. The test counts, at the moment the engine's ACK to the agent
 * arrives, how many of the burst's callers the engine has already taken: with classes on, a few
 * (those read and run before the answer's turn); in arrival order (scheduler.enabled = false),
 * all of them. Count order, not time.
 */
import tap, { type Test } from 'tap';
import { requirePeer } from './testing/index.ts';
import { startE2e, registerSippAgents, waitFor } from './testing/engine-rig.ts';
import { RawUdp, dialogHeaders, headerOf, headersOf, rawRequest, sdpOffer, statusOf, token } from './testing/attack.ts';
import type { ConfigInput } from './config/index.ts';
import type { EngineRig } from './testing/engine-rig.ts';

const BURST = 120;
const BURST_PREFIX = '+4930555';

/** A 200 OK with SDP answering the request text `invite` (a UAS's response, RFC 3261 §8.2.6). */
function okFor(invite: string, phone: RawUdp): Buffer {
  const body = sdpOffer('127.0.0.1', 40100);
  const lines = [
    'SIP/2.0 200 OK',
    ...headersOf(invite, 'Via').map((v) => `Via: ${v}`),
    `From: ${headerOf(invite, 'From')}`,
    `To: ${headerOf(invite, 'To')};tag=${token('a')}`,
    `Call-ID: ${headerOf(invite, 'Call-ID')}`,
    `CSeq: ${headerOf(invite, 'CSeq')}`,
    `Contact: <sip:1009@127.0.0.1:${phone.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '', body,
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** A new caller's INVITE to number 300 from `phone`'s socket. */
function inviteFrom(phone: RawUdp, rig: EngineRig, caller: string, callId: string): Buffer {
  return rawRequest({
    method: 'INVITE', uri: `sip:300@127.0.0.1:${rig.sipPort}`,
    headers: [
      ...dialogHeaders({ via: `SIP/2.0/UDP 127.0.0.1:${phone.port}`, fromUser: caller, fromHost: '127.0.0.1', toUri: `sip:300@127.0.0.1:${rig.sipPort}`, method: 'INVITE', callId }),
      `Contact: <sip:${caller}@127.0.0.1:${phone.port}>`, 'Content-Type: application/sdp',
    ],
    body: sdpOffer('127.0.0.1', 40000),
  });
}

const overrides = (enabled: boolean): Partial<ConfigInput> => ({
  scheduler: { enabled },
  sip: { maxCalls: 5000 },
  flows: { direct: [{ queue: { id: 'orders' } }] },
  numbers: { 300: { flow: 'direct', programme: 'test' }, default: { flow: 'direct' } },
  media: { bindAddress: '127.0.0.1', workers: 1, rtpPortMin: 41000, rtpPortMax: 41999, rtpTimeoutSeconds: 0 },
});

/** Callers of the burst the engine had taken when its ACK to the agent arrived. */
async function takenBeforeAnswer(t: Test, enabled: boolean): Promise<number> {
  const { rig, sipps } = await startE2e(t, overrides(enabled));
  const phone = await RawUdp.open();
  t.teardown(() => phone.close());
  // This one socket hears the burst's answers too, and the engine runs on this thread: room for
  // all of them, so that the ACK looked for is never the datagram the kernel drops.
  phone.socket.setRecvBufferSize(4 * 1024 * 1024);
  await registerSippAgents(rig, ['1009'], phone.port);
  void sipps;

  // One caller queues (200 + ACK: the demo trunk answers at once) and is offered to 1009.
  const firstId = token('c');
  await phone.send(inviteFrom(phone, rig, '+4930111000001', firstId), rig.sipPort);
  const answered = await phone.finalFor(firstId, 10_000);
  t.equal(answered && statusOf(answered.text), 200, 'the first caller is answered');
  const ack = rawRequest({
    method: 'ACK', uri: `sip:300@127.0.0.1:${rig.sipPort}`,
    headers: [
      `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${token()}`, 'Max-Forwards: 70',
      `From: ${headerOf(answered!.text, 'From')}`, `To: ${headerOf(answered!.text, 'To')}`,
      `Call-ID: ${firstId}`, 'CSeq: 1 ACK',
    ],
  });
  await phone.send(ack, rig.sipPort);
  const offer = await phone.next((h) => h.text.startsWith('INVITE sip:1009@'), 10_000);
  t.ok(offer, 'the engine offers the call to 1009');
  const agentCallId = headerOf(offer!.text, 'Call-ID')!;

  // The burst and then the agent's answer, all written before the engine reads a byte of them.
  for (let i = 0; i < BURST; i++) {
    void phone.send(inviteFrom(phone, rig, `${BURST_PREFIX}${String(i).padStart(4, '0')}`, token('b')), rig.sipPort);
  }
  void phone.send(okFor(offer!.text, phone), rig.sipPort);

  const burstTaken = () => rig.engine.calls.list().filter((c) => c.caller.startsWith(BURST_PREFIX)).length;
  const acked = await phone.next((h) => h.text.startsWith('ACK ') && headerOf(h.text, 'Call-ID') === agentCallId, 20_000);
  const taken = burstTaken();
  t.ok(acked, 'the engine acknowledged the agent\'s 200 OK');
  // Every caller of the burst is taken in the end, whichever order was used.
  await waitFor('the whole burst taken', () => burstTaken() === BURST || rig.engine.calls.size >= BURST, 20_000);
  return taken;
}

tap.test('with work classes, the agent\'s answer is handled ahead of a queued burst of new INVITEs', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const taken = await takenBeforeAnswer(t, true);
  t.ok(taken < BURST / 2, `the engine had taken ${taken} of ${BURST} burst callers when it acknowledged the agent (fewer than half)`);
});

tap.test('in arrival order (scheduler.enabled = false) the same answer waits for the whole burst', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const taken = await takenBeforeAnswer(t, false);
  t.equal(taken, BURST, 'every burst caller was taken before the agent\'s answer: the behaviour the classes change');
});
