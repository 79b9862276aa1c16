/**
 * Call control's network edge through the real engine (in process, demo configuration on free
 * loopback ports), with a raw UDP socket as the peer: a hostile Request-URI cannot kill the engine,
 * and a feature code from anywhere but the agent's registered phone changes nothing.
 */
import t from 'tap';
import { startEngineRig, within } from '../testing/engine-rig.ts';
import { RawUdp, rawRequest, statusOf, token } from '../testing/attack.ts';

/** A loopback UDP peer (the attack kit's {@link RawUdp}) that sends raw requests and waits for their final answers. */
async function peer(t: { teardown(fn: () => unknown): void }, target: number) {
  const udp = await RawUdp.open('127.0.0.1');
  t.teardown(() => udp.close());
  return {
    send(method: string, ruri: string, fromUser: string): string {
      const callId = `${token('raw-')}@127.0.0.1`;
      void udp.send(rawRequest({
        method, uri: ruri, headers: [
          `Via: SIP/2.0/UDP 127.0.0.1:${udp.port};branch=${token()}`, `From: <sip:${fromUser}@127.0.0.1>;tag=${token('t')}`,
          `To: <${ruri}>`, `Call-ID: ${callId}`, `CSeq: 1 ${method}`, `Contact: <sip:${fromUser}@127.0.0.1:${udp.port}>`, 'Max-Forwards: 70',
        ],
      }), target);
      return callId;
    },
    /** The first final response for `callId` (its status). */
    async final(callId: string): Promise<{ status: number }> {
      for (;;) {
        const h = await udp.finalFor(callId, 60_000);
        if (h) return { status: statusOf(h.text)! };
      }
    },
  };
}

t.test('INVITE sip:%zz@… is answered and the engine stays up', async (t) => {
  const rig = await startEngineRig();
  t.teardown(() => rig.close());
  const p = await peer(t, rig.sipPort);
  const bad = p.send('INVITE', 'sip:%zz@127.0.0.1', '+41791234567');
  const res = await within(p.final(bad), 5000, 'a final response to the %zz INVITE');
  t.ok(res.status >= 400, `refused with a status (${res.status}), not a crash`);
  const alive = p.send('OPTIONS', `sip:onair@127.0.0.1:${rig.sipPort}`, 'probe');
  t.equal((await within(p.final(alive), 5000, 'OPTIONS answered')).status, 200, 'the engine still answers');
});

t.test('a feature code from a source that is not the agent\'s registered phone: 403, the agent unchanged', async (t) => {
  const rig = await startEngineRig();
  t.teardown(() => rig.close());
  const agentId = rig.engine.registrar.agentOf('1001');
  t.ok(agentId, 'the demo has extension 1001');
  const before = rig.engine.acd.inspectAgent(agentId!)?.status;
  const p = await peer(t, rig.sipPort);
  for (const code of ['*63', '*61', '%2A61']) {
    const id = p.send('INVITE', `sip:${code}@127.0.0.1`, '1001');
    t.equal((await within(p.final(id), 5000, `answer to ${code}`)).status, 403, `${code} spoofed from 1001: 403`);
  }
  t.equal(rig.engine.acd.inspectAgent(agentId!)?.status, before, 'status untouched');
});
