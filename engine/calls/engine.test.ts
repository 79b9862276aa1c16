/**
 * Call control's network edge through the real engine (in process, demo configuration on free
 * loopback ports), with a raw UDP socket as the peer: a hostile Request-URI cannot kill the engine,
 * and a feature code from anywhere but the agent's registered phone changes nothing.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { parse, type SipResponse } from '../sip/index.ts';
import { startEngineRig, within } from '../testing/engine-rig.ts';

/** A loopback UDP peer that sends raw requests and collects the responses by Call-ID. */
async function peer(t: { teardown(fn: () => unknown): void }, target: number) {
  const sock = dgram.createSocket('udp4');
  const got: SipResponse[] = [];
  let wake: (() => void) | undefined;
  sock.on('message', (buf) => {
    const r = parse(buf);
    if (r.ok && r.message.kind === 'response') {
      got.push(r.message);
      wake?.();
    }
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => sock.close());
  const port = sock.address().port;
  let n = 0;
  return {
    send(method: string, ruri: string, fromUser: string): string {
      const callId = `raw-${++n}-${port}@127.0.0.1`;
      const text = [
        `${method} ${ruri} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-raw-${n}`,
        `From: <sip:${fromUser}@127.0.0.1>;tag=raw${n}`, `To: <${ruri}>`, `Call-ID: ${callId}`, `CSeq: 1 ${method}`,
        `Contact: <sip:${fromUser}@127.0.0.1:${port}>`, 'Max-Forwards: 70', 'Content-Length: 0', '', '',
      ].join('\r\n');
      sock.send(Buffer.from(text, 'latin1'), target, '127.0.0.1');
      return callId;
    },
    /** The first final response for `callId`. */
    async final(callId: string): Promise<SipResponse> {
      for (;;) {
        const r = got.find((m) => m.headers.callId === callId && m.status >= 200);
        if (r) return r;
        await new Promise<void>((resolve) => { wake = resolve; });
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
