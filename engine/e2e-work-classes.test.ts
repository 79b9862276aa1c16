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
import { RawUdp } from './testing/attack.ts';
import { answerBehindBurst, offerToPhone } from './testing/agent-burst.ts';
import type { ConfigInput } from './config/index.ts';

const BURST = 120;
const BURST_PREFIX = '+4930555';

const overrides = (enabled: boolean): Partial<ConfigInput> => ({
  scheduler: { enabled },
  sip: { maxCalls: 5000 },
  flows: { direct: [{ queue: { id: 'orders' } }] },
  numbers: { 300: { flow: 'direct', programme: 'test' }, default: { flow: 'direct' } },
  media: { bindAddress: '127.0.0.1', workers: 1, rtpPortMin: 41000, rtpPortMax: 41999, rtpTimeoutSeconds: 0 },
});

/** Callers of the burst the engine had taken when its ACK to the agent arrived. */
async function takenBeforeAnswer(t: Test, enabled: boolean): Promise<number> {
  const { rig } = await startE2e(t, overrides(enabled));
  const phone = await RawUdp.open();
  t.teardown(() => phone.close());
  // This one socket hears the burst's answers too, and the engine runs on this thread: room for
  // all of them, so that the ACK looked for is never the datagram the kernel drops.
  phone.socket.setRecvBufferSize(4 * 1024 * 1024);
  await registerSippAgents(rig, ['1009'], phone.port);

  // One caller queues and is offered to 1009; then the burst and the answer behind it.
  const offer = await offerToPhone(rig, phone, '300', '1009');
  const answer = answerBehindBurst(rig, phone, offer, { n: BURST, number: '300', prefix: BURST_PREFIX, ext: '1009' });
  const burstTaken = () => rig.engine.calls.list().filter((c) => c.caller.startsWith(BURST_PREFIX)).length;
  const { ackAt } = await answer;
  const taken = burstTaken();
  t.ok(ackAt !== undefined, 'the engine acknowledged the agent\'s 200 OK');
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
