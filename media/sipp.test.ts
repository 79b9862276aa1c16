/**
 * Interop with a real peer: sipp plays its Debian G.711 and RFC 2833 pcaps into a leg, and echoes
 * a prompt played by a leg (`-rtp_echo`). No dependency on onair's SIP stack: the SIP side is a
 * tiny UDP responder in this file that answers the INVITE with A's SDP negotiation.
 */
import t from 'tap';
import type { Test } from 'tap';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freeUdpPort as freePort, requirePeer } from '../engine/testing/index.ts';
import type { PeerTest } from '../engine/testing/index.ts';
import { MediaPool, negotiate, defaultPromptDir } from './index.ts';
import type { LegId } from './index.ts';

const PCAPS = '/usr/share/sip-tester';
const DIGITS: [string, string][] = [['1', 'dtmf_2833_1.pcap'], ['5', 'dtmf_2833_5.pcap'], ['#', 'dtmf_2833_pound.pcap']];

/** tap's overloaded skip/fail, narrowed to what requirePeer calls. */
function peerTest(t: Test): PeerTest {
  return t as unknown as PeerTest;
}


function portRange(): { portMin: number; portMax: number } {
  const base = 30000 + 2 * Math.floor(Math.random() * 14000);
  return { portMin: base, portMax: base + 99 };
}

/** Run sipp to completion; resolves with its exit code and output. */
function runSipp(t: Test, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    t.teardown(() => {
      clearTimeout(timer);
      if (p.exitCode === null) p.kill('SIGKILL');
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** A sipp `<send>` of an in-dialog request without a body (ACK, BYE). */
function inDialog(method: 'ACK' | 'BYE', cseq: number, attrs: string): string {
  return `  <send${attrs}>
    <![CDATA[
      ${method} sip:onair@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: ${cseq} ${method}
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>`;
}

/** sipp UAC scenario: INVITE (PCMU, PCMA, telephone-event), ACK, play the pcaps, BYE. */
function uacScenario(pcaps: { file: string; pauseMs: number }[]): string {
  const plays = pcaps
    .map((p) => `  <nop><action><exec play_pcap_audio="${p.file}"/></action></nop>\n  <pause milliseconds="${p.pauseMs}"/>`)
    .join('\n');
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="onair media interop">
  <send retrans="500">
    <![CDATA[
      INVITE sip:onair@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:onair@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 0 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:30

    ]]>
  </send>
  <recv response="200" rtd="true"/>
${inDialog('ACK', 1, '')}
${plays}
${inDialog('BYE', 2, ' retrans="500"')}
  <recv response="200"/>
</scenario>
`;
}

/**
 * The smallest SIP UAS that works with the scenario above: 200 OK with the SDP answer that
 * `onInvite` returns for the INVITE's SDP offer, 200 OK to BYE, ACK ignored.
 */
async function sipResponder(t: Test, onInvite: (offer: string) => string | undefined): Promise<number> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const text = msg.toString('latin1');
    const method = text.slice(0, text.indexOf(' '));
    if (method !== 'INVITE' && method !== 'BYE') return;
    const split = text.indexOf('\r\n\r\n');
    const head = text.slice(0, split).split('\r\n');
    const keep = head.filter((l) => /^(via|from|call-id|cseq):/i.test(l));
    const to = head.find((l) => /^to:/i.test(l)) ?? 'To: <sip:onair@127.0.0.1>';
    let body = '';
    if (method === 'INVITE') body = onInvite(text.slice(split + 4)) ?? '';
    const lines = ['SIP/2.0 200 OK', ...keep, `${to};tag=onair1`, `Contact: <sip:onair@127.0.0.1:${sock.address().port}>`];
    if (body !== '') lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
    sock.send(lines.join('\r\n'), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  return sock.address().port;
}

t.test('sipp plays G.711 and RFC 2833 pcaps into a leg: audio received, digits detected once', async (t) => {
  if (!requirePeer(peerTest(t), 'sipp')) return;
  const missing = ['g711a.pcap', ...DIGITS.map(([, f]) => f)].filter((f) => !existsSync(path.join(PCAPS, f)));
  if (missing.length > 0) {
    t.fail(`sipp is installed but its pcaps are missing: ${missing.join(', ')}`);
    return;
  }
  const digits: string[] = [];
  const pool = await MediaPool.start({
    workers: 1, bindAddress: '127.0.0.1', ...portRange(),
    delegate: { dtmf: (_leg, digit, info) => digits.push(`${digit}:${info.source}`) },
  });
  t.teardown(() => pool.close());
  const alloc = await pool.allocate({ codec: 'PCMA' });
  if (!alloc.ok) throw new Error(alloc.reason);
  const leg: LegId = alloc.value.leg;
  let setRemote: Promise<unknown> = Promise.resolve();
  const sipPort = await sipResponder(t, (offer) => {
    const r = negotiate(offer, { address: alloc.value.address, port: alloc.value.port, codecs: ['PCMA', 'PCMU'], dtmf: true });
    if (!r.ok) {
      t.fail(`negotiate: ${r.reason}`);
      return undefined;
    }
    t.equal(r.remote.codec, 'PCMA');
    t.equal(r.remote.dtmfPayloadType, 101);
    setRemote = pool.setRemote(leg, r.remote);
    return r.answer;
  });
  const dir = t.testdir({});
  const scenario = path.join(dir, 'uac.xml');
  writeFileSync(scenario, uacScenario([
    { file: path.join(PCAPS, 'g711a.pcap'), pauseMs: 7300 },
    ...DIGITS.map(([, f]) => ({ file: path.join(PCAPS, f), pauseMs: 400 })),
  ]));
  const [sipp, mediaPort] = [await freePort(), await freePort()];
  const r = await runSipp(t, [
    `127.0.0.1:${sipPort}`, '-sf', scenario, '-m', '1', '-i', '127.0.0.1', '-p', String(sipp),
    '-mi', '127.0.0.1', '-mp', String(mediaPort), '-timeout', '40s', '-timeout_error', '-nostdin',
  ], 45000);
  t.equal(r.code, 0, `sipp completed the call\n${r.code === 0 ? '' : r.out.slice(-2000)}`);
  await setRemote;
  await new Promise((res) => setTimeout(res, 300));
  t.same(digits, DIGITS.map(([d]) => `${d}:rfc4733`), 'each digit reported once, in order');
  // g711a.pcap: 236 PCMA packets (SSRC dee0ee8f), then 3 × 10 telephone-event packets from three
  // separate captures (SSRC e05384e, sequence numbers not contiguous between captures).
  const [w] = await pool.stats();
  t.equal(w?.packetsIn, 236 + 30, 'every packet of the pcaps arrived');
  t.equal(w?.dropped, 0, 'all of it valid RTP from the latched source');
  const s = await pool.legStats(leg);
  if (s.ok) t.equal(s.value.received, 30, 'receive stats restarted with the DTMF SSRC');
});

t.test('a leg plays a prompt to a sipp -rtp_echo peer and the packets come back in order', async (t) => {
  if (!requirePeer(peerTest(t), 'sipp')) return;
  const done: number[] = [];
  const pool = await MediaPool.start({
    workers: 1, bindAddress: '127.0.0.1', ...portRange(), promptDir: defaultPromptDir(),
    delegate: { playbackDone: (_l, id) => done.push(id) },
  });
  t.teardown(() => pool.close());
  const [sipp, mediaPort] = [await freePort(), await freePort()];
  // sipp as UAS with RTP echo: whatever reaches -mp goes back to its sender. No call is needed.
  const echo = runSipp(t, ['-sn', 'uas', '-rtp_echo', '-i', '127.0.0.1', '-p', String(sipp), '-mi', '127.0.0.1', '-mp', String(mediaPort), '-nostdin', '-timeout', '30s'], 35000);
  void echo;
  await new Promise((res) => setTimeout(res, 500)); // let sipp bind its media port
  const alloc = await pool.allocate({ codec: 'PCMU' });
  if (!alloc.ok) throw new Error(alloc.reason);
  const leg = alloc.value.leg;
  t.ok((await pool.setRemote(leg, { address: '127.0.0.1', port: mediaPort, latch: false })).ok);
  const play = await pool.play(leg, { items: [{ kind: 'prompt', name: 'en/welcome' }] });
  if (!play.ok) throw new Error(play.reason);
  const deadline = Date.now() + 20000;
  while (!done.includes(play.value.playId) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  t.ok(done.includes(play.value.playId), 'prompt finished');
  await new Promise((res) => setTimeout(res, 300));
  const s = await pool.legStats(leg);
  if (!s.ok) throw new Error(s.reason);
  t.ok(s.value.sent > 20, `prompt is ${s.value.sent} packets`);
  t.equal(s.value.received, s.value.sent, 'every packet came back');
  t.equal(s.value.reordered, 0, 'in order');
  t.equal(s.value.lost, 0, 'no sequence gaps');
  t.equal(s.value.duplicates, 0);
});
