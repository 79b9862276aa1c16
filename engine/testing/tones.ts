/**
 * Tone peers for media end-to-end tests (recording, monitoring): an RTP socket that sends a sine
 * tone in PCMU paced by the wall clock and keeps what it hears, a Goertzel power measure, a raw
 * phone that answers INVITEs with its SDP, and a raw carrier caller. Plain sockets, none of the
 * engine's SIP or media code: a check must not share the code it checks.
 */
import dgram from 'node:dgram';
import { RawUdp, headerOf, rawRequest, statusOf, token } from './attack.ts';
import type { EngineRig } from './engine-rig.ts';
import { linearToUlaw, ULAW_TO_LINEAR } from '../../media/codec/index.ts';


/**
 * Goertzel power of a ToneSocket's 8000-amplitude tone over the windows the media tests use:
 * about 1e14 when heard; quantisation noise stays far under 1e11.
 */
export const TONE_PRESENT = 1e12;
/** Under this the tone was not received (a mix without it). */
export const TONE_ABSENT = 1e10;

/** What `sock` heard from sample `from` on, minus the first 300 ms (a change of mix reaching the worker). */
export function heardSince(sock: ToneSocket, from: number): number[] {
  return sock.heard.slice(from + 2400);
}

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

/**
 * A raw carrier caller sending `hz` to `dialled` (number 100: queue orders), answered: its tone
 * socket (what it hears) and its dial; the sockets close when the test ends.
 */
export async function toneCaller(t: { teardown(fn: () => unknown): void }, rig: EngineRig, hz: number, from: string, dialled = '100') {
  const [sip, rtp] = await Promise.all([RawUdp.open(), ToneSocket.open(hz)]);
  t.teardown(async () => { await sip.close(); rtp.close(); });
  rtp.start();
  const dial = await rawCaller(rig, sip, rtp, from, dialled);
  return { rtp, dial };
}

/** One party of a tone test: its raw SIP socket and the RTP socket that sends its tone. */
export interface ToneParty {
  sip: RawUdp;
  rtp: ToneSocket;
}

/**
 * Open one party per tone of `hz`; the first `phones` answer INVITEs ({@link answeringPhone}:
 * agents' and supervisors' phones), the rest are callers. `start()` starts every tone; `close()`
 * closes every socket (call it from the test's teardown).
 */
export async function toneParties(hz: readonly number[], phones: number): Promise<{ parties: ToneParty[]; start(): void; close(): Promise<void> }> {
  const parties = await Promise.all(hz.map(async (f) => ({ sip: await RawUdp.open(), rtp: await ToneSocket.open(f) })));
  for (const p of parties.slice(0, phones)) answeringPhone(p.sip, p.rtp);
  return {
    parties,
    start: () => {
      for (const p of parties) p.rtp.start();
    },
    close: async () => {
      for (const p of parties) {
        await p.sip.close();
        p.rtp.close();
      }
    },
  };
}
