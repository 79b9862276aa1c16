/**
 * Tools of the attack checks (engine/e2e-attacks.test.ts, fuzz/, bench/flood.ts): raw SIP over
 * UDP and TCP from any loopback address (127.0.0.x is all loopback on Linux, so a test can play a
 * trunk, a stranger and an agent's phone at once), hand-written requests, and the one liveness
 * probe every attack ends with. Nothing here goes through the engine's own SIP stack: an attacker
 * does not use our serializer, and a check must not share the code it checks.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** One SIP request, written by hand (the fields an attacker controls; nothing is checked). */
export interface RawRequest {
  method: string;
  /** Request-URI text exactly as sent. */
  uri: string;
  /** Header lines without CRLF (`Via: ...`), in order. Content-Length is added unless present. */
  headers: string[];
  body?: string;
}

/** The bytes of `r`: request line, headers, Content-Length (when not given), blank line, body. */
export function rawRequest(r: RawRequest): Buffer {
  const body = Buffer.from(r.body ?? '', 'latin1');
  const lines = [`${r.method} ${r.uri} SIP/2.0`, ...r.headers];
  if (!r.headers.some((h) => /^(content-length|l)\s*:/i.test(h))) lines.push(`Content-Length: ${body.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]);
}

let serial = 0;

/** A fresh RFC 3261 branch, Call-ID or tag for hand-written requests. */
export function token(prefix = 'z9hG4bK'): string {
  return `${prefix}${process.pid.toString(36)}${(serial++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

/** A minimal SDP offer (PCMU) from `address`, for INVITE bodies. */
export function sdpOffer(address: string, port = 40000): string {
  return [
    'v=0', `o=attacker 1 1 IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0',
    `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', '',
  ].join('\r\n');
}

/** Common headers of a request from `from` (address:port) with a fresh branch, tags and Call-ID. */
export function dialogHeaders(o: {
  via: string; fromUser: string; fromHost: string; toUri: string; method: string; callId?: string; cseq?: number;
}): string[] {
  return [
    `Via: ${o.via.includes('branch=') ? o.via : `${o.via};branch=${token()}`}`,
    'Max-Forwards: 70',
    `From: <sip:${o.fromUser}@${o.fromHost}>;tag=${token('t')}`,
    `To: <${o.toUri}>`,
    `Call-ID: ${o.callId ?? token('c')}`,
    `CSeq: ${o.cseq ?? 1} ${o.method}`,
  ];
}

/** A received datagram or stream chunk as text. */
export interface Heard {
  text: string;
  from: { address: string; port: number };
  /** performance.now() when the socket handed it over (ms). */
  at: number;
}

/** The status code of a SIP response text, or undefined when `text` is no response. */
export function statusOf(text: string): number | undefined {
  if (!text.startsWith('SIP/2.0 ')) return undefined;
  const n = Number(text.slice(8, 11));
  return Number.isInteger(n) ? n : undefined;
}

/** The value of the first header `name` (case-insensitive, full name only) in a message text. */
export function headerOf(text: string, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === lower) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** Every value of header `name` (one per line; comma lists are not split). */
export function headersOf(text: string, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === lower) out.push(line.slice(colon + 1).trim());
  }
  return out;
}

/**
 * A UDP socket on one loopback address that keeps what it hears and can wait for a datagram
 * matching a predicate. `close()` is idempotent.
 */
export class RawUdp {
  readonly heard: Heard[] = [];
  private waiters: { match: (h: Heard) => boolean; resolve: (h: Heard) => void }[] = [];
  private closed = false;

  private constructor(readonly socket: dgram.Socket, readonly address: string, readonly port: number) {
    socket.on('message', (buf, rinfo) => {
      const h: Heard = { text: buf.toString('latin1'), from: { address: rinfo.address, port: rinfo.port }, at: performance.now() };
      this.heard.push(h);
      if (this.heard.length > 100_000) this.heard.splice(0, 50_000);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(h)) return true;
        w.resolve(h);
        return false;
      });
    });
    // An ICMP port unreachable surfaces as an error on some kernels: an attacker ignores it.
    socket.on('error', () => {});
  }

  /** Bind `address:port` (port 0: any free port). */
  static async open(address = '127.0.0.1', port = 0): Promise<RawUdp> {
    const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, address, () => { s.off('error', reject); resolve(); });
    });
    return new RawUdp(s, address, (s.address() as AddressInfo).port);
  }

  /** Send bytes to `port` on `host` (default 127.0.0.1). */
  send(bytes: Buffer, port: number, host = '127.0.0.1'): Promise<void> {
    return new Promise((resolve) => this.socket.send(bytes, port, host, () => resolve()));
  }

  /** The first datagram (already heard or coming) for which `match` is true, or undefined after `ms`. */
  next(match: (h: Heard) => boolean, ms: number): Promise<Heard | undefined> {
    const seen = this.heard.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const w = { match, resolve: (h: Heard | undefined) => { clearTimeout(timer); resolve(h); } };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve(undefined);
      }, ms);
      this.waiters.push(w);
    });
  }

  /** The first final (>= 200) response whose Call-ID is `callId`, or undefined after `ms`. */
  finalFor(callId: string, ms: number): Promise<Heard | undefined> {
    return this.next((h) => (statusOf(h.text) ?? 0) >= 200 && headerOf(h.text, 'Call-ID') === callId, ms);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** What a liveness probe found. */
export interface Liveness {
  alive: boolean;
  /** Why not, for failure messages. */
  detail: string;
}

/** The parts of an engine under attack the probe needs (an EngineProcess fits). */
export interface ProbeTarget {
  sipPort: number;
  httpPort: number;
  child?: { exitCode: number | null; signalCode: NodeJS.Signals | null };
}

/**
 * Is the engine still serving? The process has not exited, `GET /healthz` answers 200, and an
 * OPTIONS from a fresh socket on 127.0.0.1 gets a 200 within `ms` (retransmitted every 500 ms
 * like a UDP client would, so one dropped datagram under load is not a miss).
 */
export async function probeAlive(e: ProbeTarget, ms = 5000): Promise<Liveness> {
  if (e.child && (e.child.exitCode !== null || e.child.signalCode !== null)) {
    return { alive: false, detail: `engine process exited (${e.child.exitCode ?? e.child.signalCode})` };
  }
  try {
    const res = await fetch(`http://127.0.0.1:${e.httpPort}/healthz`, { signal: AbortSignal.timeout(ms) });
    if (res.status !== 200) return { alive: false, detail: `/healthz answered ${res.status}` };
  } catch (err) {
    return { alive: false, detail: `/healthz: ${(err as Error).message}` };
  }
  const sock = await RawUdp.open('127.0.0.1');
  try {
    const callId = token('probe');
    const bytes = rawRequest({
      method: 'OPTIONS', uri: `sip:127.0.0.1:${e.sipPort}`,
      headers: dialogHeaders({
        via: `SIP/2.0/UDP 127.0.0.1:${sock.port};rport`, fromUser: 'probe', fromHost: '127.0.0.1',
        toUri: `sip:127.0.0.1:${e.sipPort}`, method: 'OPTIONS', callId,
      }),
    });
    const end = Date.now() + ms;
    while (Date.now() < end) {
      await sock.send(bytes, e.sipPort);
      const h = await sock.finalFor(callId, Math.min(500, Math.max(1, end - Date.now())));
      if (h) {
        const status = statusOf(h.text);
        return status === 200 ? { alive: true, detail: 'OPTIONS 200' } : { alive: false, detail: `OPTIONS answered ${status}` };
      }
    }
    return { alive: false, detail: `no answer to OPTIONS within ${ms} ms` };
  } finally {
    await sock.close();
  }
}

/**
 * Open `count` TCP connections to `port` from `localAddress`, `batch` at a time, each writing
 * `prefix` (a message that never ends) and then nothing. Returns the sockets and live counters:
 * `accepted` (connected), `closedByPeer` (the engine ended or reset it), `refused` (never
 * connected). `close()` destroys them all.
 */
export async function slowConnections(o: {
  port: number; count: number; localAddress: string; prefix: Buffer; batch?: number;
}): Promise<{ accepted: () => number; closedByPeer: () => number; refused: () => number; close: () => void }> {
  const sockets: net.Socket[] = [];
  let accepted = 0;
  let closedByPeer = 0;
  let refused = 0;
  let closing = false;
  const batch = o.batch ?? 200;
  for (let i = 0; i < o.count; i += batch) {
    const n = Math.min(batch, o.count - i);
    await Promise.all(Array.from({ length: n }, () => new Promise<void>((resolve) => {
      const s = net.connect({ port: o.port, host: '127.0.0.1', localAddress: o.localAddress });
      sockets.push(s);
      let connected = false;
      s.on('connect', () => {
        connected = true;
        accepted++;
        s.write(o.prefix);
        resolve();
      });
      s.on('error', () => {});
      s.on('close', () => {
        if (closing) return;
        if (connected) closedByPeer++;
        else refused++;
        resolve();
      });
    })));
  }
  return {
    accepted: () => accepted,
    closedByPeer: () => closedByPeer,
    refused: () => refused,
    close: () => {
      closing = true;
      for (const s of sockets) s.destroy();
    },
  };
}

/** Resident memory (bytes) of a process, from `VmRSS` in /proc/PID/status; undefined once it is gone. */
export function rssOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'latin1');
    const line = text.split('\n').find((l) => l.startsWith('VmRSS:'));
    return line ? Number(line.replace(/[^0-9]/g, '')) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
