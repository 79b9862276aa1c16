/**
 * Recording end to end through the real engine (issue 16, must-show 2): a carrier caller sends a
 * 697 Hz tone in PCMU, the agent's phone a 1209 Hz tone; the call is recorded by policy, paused and
 * resumed from the API. The WAV holds the caller's tone on the left, the agent's on the right
 * (Goertzel), and a silent gap as long as the pause (± one frame); the CDR names the file, its
 * length and the paused time; GET /api/v1/recordings/:callId streams the same bytes and refuses a
 * path. SIP and RTP are raw loopback sockets (engine/testing's RawUdp), the agent registers with sipp.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePeer } from './testing/index.ts';
import { api, registerSippAgents, startEngineRig, waitFor, waitForCdrs, within, type EngineRig } from './testing/engine-rig.ts';
import { RawUdp, headerOf, rawRequest, statusOf, token } from './testing/attack.ts';
import { linearToUlaw, ULAW_TO_LINEAR } from '../media/codec/index.ts';

const CALLER_HZ = 697;
const AGENT_HZ = 1209;

/** Power of frequency `hz` in `samples` (Goertzel, 8 kHz). */
export function goertzel(samples: ArrayLike<number>, hz: number): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / 8000);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]! + k * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return s1 * s1 + s2 * s2 - k * s1 * s2;
}

/** An RTP socket that sends a sine tone in PCMU every 20 ms once it knows where to, and keeps what it hears. */
export class ToneSocket {
  readonly heard: number[] = [];
  target: { address: string; port: number } | undefined;
  private seq = 1;
  private ts = 0;
  private phase = 0;
  private timer: NodeJS.Timeout | undefined;
  private constructor(readonly socket: dgram.Socket, readonly port: number, private readonly hz: number) {
    socket.on('message', (msg) => {
      if (msg.length < 12 || (msg[1]! & 0x7f) !== 0) return;
      for (let i = 12; i < msg.length; i++) this.heard.push(ULAW_TO_LINEAR[msg[i]!]!);
      if (this.heard.length > 8000 * 60) this.heard.splice(0, 8000 * 30);
    });
  }

  static async open(hz: number): Promise<ToneSocket> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    return new ToneSocket(s, s.address().port, hz);
  }

  start(): void {
    const ssrc = Math.floor(Math.random() * 0xffffffff);
    const t0 = performance.now();
    let sent = 0;
    // Paced by the wall clock like a phone (a bare 20 ms interval drifts late, and the RTP clock with it).
    this.timer = setInterval(() => {
      const due = Math.floor((performance.now() - t0) / 20);
      while (sent < due) {
        sent++;
        this.sendFrame(ssrc);
      }
    }, 5);
  }

  private sendFrame(ssrc: number): void {
    {
      if (this.target === undefined) {
        this.ts += 160;
        return;
      }
      const b = Buffer.alloc(172);
      b[0] = 0x80;
      b[1] = 0;
      b.writeUInt16BE(this.seq++ & 0xffff, 2);
      b.writeUInt32BE(this.ts >>> 0, 4);
      b.writeUInt32BE(ssrc >>> 0, 8);
      for (let i = 0; i < 160; i++) b[12 + i] = linearToUlaw(Math.round(8000 * Math.sin(this.phase + (2 * Math.PI * this.hz * i) / 8000)));
      this.phase += (2 * Math.PI * this.hz * 160) / 8000;
      this.ts += 160;
      this.socket.send(b, this.target.port, this.target.address);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.close();
  }
}

/** The audio address of an SDP body. */
export function sdpTarget(sdp: string): { address: string; port: number } {
  const c = /c=IN IP4 ([0-9.]+)/.exec(sdp);
  const m = /m=audio ([0-9]+)/.exec(sdp);
  return { address: c?.[1] ?? '127.0.0.1', port: Number(m?.[1] ?? 0) };
}

function pcmuSdp(port: number): string {
  return ['v=0', 'o=t 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', ''].join('\r\n');
}

/** A phone that answers every INVITE on `sip` with 200 and `rtp`'s SDP (the engine's leg becomes the tone's target), and BYE with 200. */
export function answeringPhone(sip: RawUdp, rtp: ToneSocket): void {
  sip.socket.on('message', (buf, rinfo) => {
    const text = buf.toString('latin1');
    const method = text.slice(0, text.indexOf(' '));
    if (method !== 'INVITE' && method !== 'BYE') return;
    const head = text.slice(0, text.indexOf('\r\n\r\n')).split('\r\n');
    const keep = head.filter((l) => /^(via|from|call-id|cseq):/i.test(l));
    const to = head.find((l) => /^to:/i.test(l)) ?? '';
    let body = '';
    if (method === 'INVITE') {
      rtp.target = sdpTarget(text.slice(text.indexOf('\r\n\r\n') + 4));
      body = pcmuSdp(rtp.port);
    }
    const lines = ['SIP/2.0 200 OK', ...keep, to.includes('tag=') ? to : `${to};tag=phone${rtp.port}`, `Contact: <sip:phone@127.0.0.1:${sip.port}>`];
    if (body !== '') lines.push('Content-Type: application/sdp');
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`, '', body);
    sip.socket.send(lines.join('\r\n'), rinfo.port, rinfo.address);
  });
}

/** A carrier caller: INVITE with `rtp`'s SDP, ACK the 200, and `bye()` later. */
export async function rawCaller(rig: EngineRig, sip: RawUdp, rtp: ToneSocket, from: string, dialled: string): Promise<{ bye(): Promise<number | undefined> }> {
  const callId = `${token('rec-')}@127.0.0.1`;
  const fromTag = token('f');
  const uri = `sip:${dialled}@127.0.0.1:${rig.sipPort}`;
  const common = (method: string, cseq: number, to: string): string[] => [
    `Via: SIP/2.0/UDP 127.0.0.1:${sip.port};branch=${token()};rport`, 'Max-Forwards: 70',
    `From: <sip:${from}@127.0.0.1>;tag=${fromTag}`, `To: ${to}`, `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`,
  ];
  await sip.send(rawRequest({
    method: 'INVITE', uri, headers: [...common('INVITE', 1, `<${uri}>`), `Contact: <sip:${from}@127.0.0.1:${sip.port}>`, 'Content-Type: application/sdp'],
    body: pcmuSdp(rtp.port),
  }), rig.sipPort);
  const ok = await sip.next((h) => statusOf(h.text) === 200 && headerOf(h.text, 'Call-ID') === callId && (headerOf(h.text, 'CSeq') ?? '').endsWith('INVITE'), 20_000);
  if (ok === undefined) throw new Error('the engine did not answer the caller');
  const to = headerOf(ok.text, 'To')!;
  rtp.target = sdpTarget(ok.text.slice(ok.text.indexOf('\r\n\r\n') + 4));
  await sip.send(rawRequest({ method: 'ACK', uri, headers: common('ACK', 1, to) }), rig.sipPort);
  return {
    bye: async () => {
      await sip.send(rawRequest({ method: 'BYE', uri, headers: common('BYE', 2, to) }), rig.sipPort);
      const r = await sip.next((h) => headerOf(h.text, 'Call-ID') === callId && (headerOf(h.text, 'CSeq') ?? '').endsWith('BYE') && statusOf(h.text) !== undefined, 5000);
      return r === undefined ? undefined : statusOf(r.text);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('a recorded call: caller\'s tone left, agent\'s right, the pause a silent gap of its length; fetched by id', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-rec-'));
  const rig = await startEngineRig({ recording: { dir, policy: 'never', numbers: { 100: 'always' } } });
  const socks: { close(): unknown }[] = [];
  t.teardown(async () => {
    for (const s of socks) await s.close();
    await rig.close();
  });
  const phoneSip = await RawUdp.open('127.0.0.1');
  const callerSip = await RawUdp.open('127.0.0.1');
  const phoneRtp = await ToneSocket.open(AGENT_HZ);
  const callerRtp = await ToneSocket.open(CALLER_HZ);
  socks.push(phoneSip, callerSip, phoneRtp, callerRtp);
  answeringPhone(phoneSip, phoneRtp);
  await registerSippAgents(rig, ['1001'], phoneSip.port);
  phoneRtp.start();
  callerRtp.start();
  const caller = await rawCaller(rig, callerSip, callerRtp, '+4930123456', '100');
  const call = await waitFor('the call bridged to the agent', () => rig.engine.calls.list().find((c) => c.phase === 'talking'), 20_000);
  await sleep(1500);
  const paused = await api<{ state: string }>(rig, 'POST', `/api/v1/calls/${call.id}/recording/pause`);
  t.match(paused, { status: 200, body: { state: 'paused' } }, 'paused from the API');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/recording/pause`)).status, 409, 'pausing twice: 409');
  await sleep(1000);
  const resumed = await api<{ state: string; pausedMs: number }>(rig, 'POST', `/api/v1/calls/${call.id}/recording/resume`);
  t.match(resumed, { status: 200, body: { state: 'recording' } }, 'resumed');
  await sleep(1500);
  t.equal(await within(caller.bye(), 5000, 'BYE answered'), 200, 'the caller hangs up');
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  const rec = cdr?.recording;
  t.ok(rec, 'the CDR has the recording');
  if (!rec) return;
  t.equal(rec.path, path.join(dir, `${call.id}.wav`), 'named by call id in the configured directory');
  t.ok(Math.abs(rec.pausedMs - 1000) < 200, `paused about 1 s (${rec.pausedMs} ms)`);
  const wav = await waitFor('the file finished', () => {
    const b = readFileSync(rec.path);
    return b.readUInt32LE(40) > 0 && b.length === 44 + b.readUInt32LE(40) ? b : undefined;
  });
  t.equal(wav.readUInt16LE(22), 2, 'stereo');
  const frames = wav.readUInt32LE(40) / 4;
  t.ok(Math.abs(frames / 8 - rec.durationMs) < 100, `file length ${frames / 8} ms ≈ CDR ${rec.durationMs} ms`);
  const left = new Int16Array(frames);
  const right = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    left[i] = wav.readInt16LE(44 + i * 4);
    right[i] = wav.readInt16LE(46 + i * 4);
  }
  // 200 ms from before the pause: the caller's tone dominates the left, the agent's the right.
  const at = 4000;
  const l = left.subarray(at, at + 1600);
  const r = right.subarray(at, at + 1600);
  t.ok(goertzel(l, CALLER_HZ) > 100 * goertzel(l, AGENT_HZ), 'left: the caller\'s 697 Hz, not the agent\'s');
  t.ok(goertzel(r, AGENT_HZ) > 100 * goertzel(r, CALLER_HZ), 'right: the agent\'s 1209 Hz, not the caller\'s');
  t.ok(goertzel(l, CALLER_HZ) > 1e9, 'and the tone is really there');
  // The longest run where both channels are silent is the pause.
  let best = 0;
  let run = 0;
  for (let i = 0; i < frames; i++) {
    if (left[i] === 0 && right[i] === 0) run++;
    else run = 0;
    if (run > best) best = run;
  }
  t.ok(Math.abs(best / 8 - rec.pausedMs) <= 20, `silent gap ${best / 8} ms = paused ${rec.pausedMs} ms ± one frame`);

  const got = await fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/recordings/${call.id}`);
  t.equal(got.status, 200);
  t.equal(got.headers.get('content-type'), 'audio/wav');
  t.ok(Buffer.from(await got.arrayBuffer()).equals(wav), 'the API streams the file');
  for (const bad of ['..%2F..%2Fetc%2Fpasswd', 'c1-1.wav', '%2Fetc%2Fpasswd']) {
    const res = await fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/recordings/${bad}`);
    t.equal(res.status, 400, `${bad}: refused as no call id`);
  }
  t.equal((await fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/recordings/c1-1`)).status, 404, 'a call id without a recording: 404');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/recording/start`)).status, 404, 'the call is over: 404');
});
