/**
 * End to end through the real engine process with `media.relay: rtpengine` (issue 19): a sipp
 * caller bridged to a sipp agent is moved by re-INVITE to a real rtpengine (Debian
 * `rtpengine-daemon`, userspace), the engine's media worker stops relaying that call, and after
 * the engine is killed with SIGKILL the two phones keep exchanging RTP through rtpengine.
 *
 * sipp does the signalling; each phone's RTP is a socket of this test on the port its SDP names,
 * sending 50 packets/s to the address of the last SDP its sipp received (the sipp scenario writes
 * it to a file) and counting what arrives by source. With onair's own relay (the default) the
 * second test fails: nothing reaches either phone once the engine is dead.
 */
import t from 'tap';
import type { Test } from 'tap';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePeer, startSipp, type SippRun } from './testing/index.ts';
import { startRtpengine, type Rtpengine } from './testing/rtpengine.ts';
import { spawnEngine, type EngineProcess } from './testing/engine-process.ts';
import { SCENARIOS, freeUdpPort, registerSippAgents, waitFor, within } from './testing/engine-rig.ts';

const RELAY_SCENARIOS = path.join(SCENARIOS, 'rtpengine');

/** A phone's RTP: sends PCMU every 20 ms to where its SDP says, counts packets by source port. */
interface RtpPhone {
  port: number;
  /** Packets received from a source port in [min, max]. */
  receivedFrom(min: number, max: number): number;
  /** Packets received from anywhere. */
  received(): number;
  close(): void;
}

async function rtpPhone(destFile: string): Promise<RtpPhone> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const bySource = new Map<number, number>();
  s.on('message', (_m, rinfo) => bySource.set(rinfo.port, (bySource.get(rinfo.port) ?? 0) + 1));
  // RTP version 2, PCMU (payload type 0), 160 bytes of µ-law silence.
  const packet = Buffer.alloc(172, 0xff);
  packet[0] = 0x80;
  packet[1] = 0;
  packet.writeUInt32BE(0x5eed0000 + (s.address() as AddressInfo).port, 8);
  let seq = 0;
  const timer = setInterval(() => {
    let dest: string;
    try {
      dest = readFileSync(destFile, 'latin1').trim();
    } catch {
      return; // no SDP received yet
    }
    const [address, port] = dest.split(' ');
    if (address === undefined || !(Number(port) > 0)) return;
    packet.writeUInt16BE(seq & 0xffff, 2);
    packet.writeUInt32BE((seq * 160) >>> 0, 4);
    seq++;
    s.send(packet, Number(port), address);
  }, 20);
  return {
    port: (s.address() as AddressInfo).port,
    receivedFrom: (min, max) => [...bySource].reduce((n, [p, c]) => (p >= min && p <= max ? n + c : n), 0),
    received: () => [...bySource.values()].reduce((a, b) => a + b, 0),
    close: () => {
      clearInterval(timer);
      s.close();
    },
  };
}

function sample(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

interface RelayCall {
  rtp: Rtpengine;
  engine: EngineProcess;
  caller: RtpPhone;
  agent: RtpPhone;
  callerSipp: SippRun;
  agentSipp: SippRun;
}

/** rtpengine, the engine with `media.relay`, a registered sipp agent and a sipp caller that talks `talkMs`. */
async function relayCall(t: Test, relay: 'onair' | 'rtpengine', talkMs: number, ngPort?: number): Promise<RelayCall> {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-rtpengine-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rtp = await startRtpengine();
  t.teardown(() => rtp.stop());
  const engine = await spawnEngine({
    dir, startTimeoutMs: 90_000, overrides: { media: { relay, rtpengine: { address: rtp.address, port: ngPort ?? rtp.ngPort, timeoutMs: 1000 } } },
  });
  t.teardown(() => engine.stop('SIGKILL'));
  const caller = await rtpPhone(path.join(dir, 'caller.dest'));
  const agent = await rtpPhone(path.join(dir, 'agent.dest'));
  t.teardown(() => { caller.close(); agent.close(); });
  const agentPort = await freeUdpPort();
  const agentSipp = startSipp({
    scenario: path.join(RELAY_SCENARIOS, 'agent-relay.xml'), transport: 'u1', localPort: agentPort, calls: 1, timeoutSec: 60,
    args: ['-d', '300', '-key', 'rtp_port', String(agent.port), '-key', 'dest', path.join(dir, 'agent.dest')],
  });
  t.teardown(() => agentSipp.kill());
  await registerSippAgents({ sipPort: engine.sipPort }, ['1001'], agentPort);
  const callerSipp = startSipp({
    scenario: path.join(RELAY_SCENARIOS, 'caller-relay.xml'), target: `127.0.0.1:${engine.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 60,
    args: ['-s', '100', '-d', String(talkMs), '-key', 'rtp_port', String(caller.port), '-key', 'dest', path.join(dir, 'caller.dest')],
  });
  t.teardown(() => callerSipp.kill());
  return { rtp, engine, caller, agent, callerSipp, agentSipp };
}

t.test('a bridged call is relayed by rtpengine, not by the engine\'s media worker', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'rtpengine')) return;
  const { rtp, engine, caller, agent, callerSipp, agentSipp } = await relayCall(t, 'rtpengine', 6000);
  const fromRtpengine = (p: RtpPhone): number => p.receivedFrom(rtp.portMin, rtp.portMax);
  await waitFor('the call relayed by rtpengine', async () => sample(await engine.get<string>('/metrics'), 'onair_rtpengine_calls') === 1, 20_000);
  await waitFor('RTP from rtpengine at both phones', () => fromRtpengine(caller) >= 25 && fromRtpengine(agent) >= 25, 10_000);
  const before = await engine.get<string>('/metrics');
  const [c0, a0] = [fromRtpengine(caller), fromRtpengine(agent)];
  await waitFor('50 more packets through rtpengine', () => fromRtpengine(caller) >= c0 + 50 && fromRtpengine(agent) >= a0 + 50, 10_000);
  const after = await engine.get<string>('/metrics');
  for (const m of ['onair_media_packets_sent_total', 'onair_media_packets_received_total']) {
    t.equal(sample(after, m), sample(before, m), `${m} did not move while 100 packets went through rtpengine`);
  }
  t.equal(sample(after, 'onair_rtpengine_fallbacks_total'), 0, 'no fallback');
  const list = (await engine.get<{ items: { callId: string }[] }>('/api/v1/calls')).items;
  t.equal(list.length, 1, 'one call in progress');
  const session = `${list[0]!.callId}.1`;
  const q = await rtp.ng.query({ callId: session });
  t.ok(q.ok, `rtpengine knows the call (${q.ok ? '' : q.reason})`);
  if (q.ok) t.ok(q.value.packets >= 100, `rtpengine counted the call's packets (${q.value.packets})`);

  const c = await within(callerSipp.done, 30_000, 'the caller');
  t.equal(c.successful, 1, `the caller was moved by re-INVITE and hung up normally (${c.stderr.slice(0, 300)})`);
  const a = await within(agentSipp.done, 10_000, 'the agent');
  t.equal(a.successful, 1, `the agent was moved by re-INVITE and got the engine's BYE (${a.stderr.slice(0, 300)})`);
  await waitFor('the session deleted', async () => {
    const gone = await rtp.ng.query({ callId: session });
    return !gone.ok && gone.code === 'RTPENGINE_ERR_REFUSED';
  });
  const end = await engine.get<string>('/metrics');
  t.equal(sample(end, 'onair_rtpengine_calls'), 0);
  t.equal(sample(end, 'onair_rtpengine_relayed_total'), 1);
});

t.test('SIGKILL of the engine while bridged: the phones keep talking through rtpengine', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'rtpengine')) return;
  const { rtp, engine, caller, agent } = await relayCall(t, 'rtpengine', 30_000);
  // Bridged first (RTP at both phones from anywhere), then however the engine relays it.
  await waitFor('the call bridged', () => caller.received() >= 50 && agent.received() >= 50, 20_000);
  await waitFor('the move done', async () => sample(await engine.get<string>('/metrics'), 'onair_rtpengine_calls') === 1, 10_000);
  t.equal(await engine.stop('SIGKILL'), 'SIGKILL', 'the engine is gone');
  const [c0, a0] = [caller.received(), agent.received()];
  // 100 packets each way after the kill: two seconds of conversation with no engine at all.
  await waitFor('100 packets at each phone after the kill', () => caller.received() >= c0 + 100 && agent.received() >= a0 + 100, 10_000);
  t.ok(caller.receivedFrom(rtp.portMin, rtp.portMax) >= 100 && agent.receivedFrom(rtp.portMin, rtp.portMax) >= 100, 'from rtpengine\'s ports');
});

t.test('rtpengine not answering: the bridged call stays on onair\'s relay, counted, not dropped', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'rtpengine')) return;
  // A port nobody answers on: every ng request times out.
  const { rtp, engine, caller, agent } = await relayCall(t, 'rtpengine', 30_000, await freeUdpPort());
  await waitFor('the fallback counted', async () => sample(await engine.get<string>('/metrics'), 'onair_rtpengine_fallbacks_total{reason="unreachable"}') === 1, 30_000);
  const [c0, a0] = [caller.received(), agent.received()];
  await waitFor('onair relays the call', () => caller.received() >= c0 + 50 && agent.received() >= a0 + 50, 10_000);
  t.equal(caller.receivedFrom(rtp.portMin, rtp.portMax) + agent.receivedFrom(rtp.portMin, rtp.portMax), 0, 'nothing from rtpengine');
  const metrics = await engine.get<string>('/metrics');
  t.equal(sample(metrics, 'onair_rtpengine_calls'), 0);
  t.equal((await engine.get<{ items: { phase: string }[] }>('/api/v1/calls')).items.length, 1, 'the call goes on');
});
