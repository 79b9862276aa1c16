/**
 * The fuzzer's inputs, all from one seeded generator so a run is repeated by its `--seed`:
 * the RFC 4475/5118 torture corpus (fuzz/corpus/), well-formed seed requests, mutations of
 * either (byte flips, truncations, header duplication, huge values, bad %-escapes, bad numbers,
 * bad Via sent-by/port/params, SDP mutations in INVITE bodies, CRLF and Content-Length games),
 * and PROTOS c07-sip style INVITEs (one field of a fixed INVITE replaced by one anomaly).
 *
 * Every message's top Via names a loopback sender (the corpus' hosts are rewritten), so that the
 * engine's answers stay on 127.0.0.0/8 and need no DNS; mutations may then break that Via.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** mulberry32: a small, fast, seeded PRNG (uniform in [0, 1)). */
export class Rng {
  private s: number;
  constructor(seed: number) { this.s = seed >>> 0; }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let x = this.s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(list: readonly T[]): T { return list[this.int(list.length)]!; }
}

/** One corpus message and where it came from. */
export interface CorpusMessage { name: string; bytes: Buffer }

/** Every `*.dat` under `dir`'s sub-folders (rfc4475/, rfc5118/), sorted by name. */
export function loadCorpus(dir: string): CorpusMessage[] {
  const out: CorpusMessage[] = [];
  for (const set of readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    for (const f of readdirSync(path.join(dir, set)).filter((f) => f.endsWith('.dat')).sort()) {
      out.push({ name: `${set}/${f.slice(0, -4)}`, bytes: readFileSync(path.join(dir, set, f)) });
    }
  }
  return out;
}

/** Where a generated message goes and comes from. */
export interface Target {
  /** Engine SIP port (UDP and TCP). */
  port: number;
  /** The sender's loopback address and port, written into the top Via. */
  from: string;
  fromPort: number;
  transport: 'UDP' | 'TCP';
}

const CRLF = '\r\n';

/** A valid SDP offer from `host`. */
function sdp(host: string): string {
  return ['v=0', `o=fuzz 1 1 IN IP4 ${host}`, 's=fuzz', `c=IN IP4 ${host}`, 't=0 0', 'm=audio 49170 RTP/AVP 0 8 101',
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv', ''].join(CRLF);
}

/** Well-formed requests the engine handles (INVITE to the demo numbers, REGISTER, OPTIONS, ...). */
export function seedRequest(rng: Rng, t: Target, n: number): string {
  const method = rng.pick(['INVITE', 'INVITE', 'INVITE', 'REGISTER', 'OPTIONS', 'BYE', 'CANCEL', 'ACK', 'INFO', 'NOTIFY', 'SUBSCRIBE', 'MESSAGE']);
  const user = method === 'REGISTER' ? '' : rng.pick(['100', '200', '300', '*60', '*61', '*62', '*63', '1001', '+4930123456']);
  const host = `127.0.0.1:${t.port}`;
  const uri = user ? `sip:${user}@${host}` : `sip:${host}`;
  const ext = rng.pick(['1001', '1002', '1005', '1010', '+4930111222', 'anonymous']);
  const body = method === 'INVITE' ? sdp(t.from) : '';
  const lines = [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/${t.transport} ${t.from}:${t.fromPort};rport;branch=z9hG4bKfz${n.toString(36)}`,
    'Max-Forwards: 70',
    `From: "Fuzz ${n}" <sip:${ext}@${t.from}>;tag=f${n.toString(36)}`,
    `To: <${method === 'REGISTER' ? `sip:${ext}@127.0.0.1` : uri}>`,
    `Call-ID: fz${n.toString(36)}@${t.from}`,
    `CSeq: ${1 + rng.int(1000)} ${method}`,
    `Contact: <sip:${ext}@${t.from}:${t.fromPort}>`,
    ...(method === 'REGISTER' ? ['Expires: 60'] : []),
    ...(method === 'SUBSCRIBE' ? ['Event: presence'] : []),
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
  ];
  return lines.join(CRLF) + CRLF + CRLF + body;
}

/**
 * Rewrite the top Via's sent-by of a corpus message to the loopback sender (keeping its
 * parameters), and of its Request-URI nothing: the engine may answer, but only on loopback.
 */
export function loopbackVia(text: string, t: Target): string {
  const at = text.search(/\r?\n(Via|v)\s*:/i);
  if (at < 0) return text;
  const colon = text.indexOf(':', at + 1);
  const end = text.indexOf('\n', colon);
  const value = text.slice(colon + 1, end < 0 ? undefined : end);
  const m = /^(\s*SIP\s*\/\s*2\.0\s*\/\s*[A-Za-z]+\s+)(\[[^\]]*\]|[^;,\s:]+)(:\d+)?/.exec(value);
  if (!m) return text;
  const replaced = `${m[1]}${t.from}:${t.fromPort}` + value.slice(m[0].length);
  return text.slice(0, colon + 1) + replaced + text.slice(end < 0 ? text.length : end);
}

/** PROTOS-style anomalies: overflows, format strings, signedness, separators, NULs, odd bytes. */
function anomaly(rng: Rng): string {
  const n = rng.pick([1, 2, 16, 64, 128, 256, 1024, 4096, 16384, 65535]);
  return rng.pick([
    'a'.repeat(n), '%s'.repeat(Math.min(n, 500)), '%n%n%n%n', '%x%x%x%x', '\0', '\0'.repeat(Math.min(n, 2000)), CRLF, `${CRLF}${CRLF}`,
    '\x1b[2J', '-1', '0', '4294967296', '18446744073709551616', '-2147483649', '99999999999999999999', '0x7fffffff', '1e309', 'NaN', '',
    ' ', '"', '<', '>', ':', ';', '@', '%', '%zz', '%0', '%00', '%%', '\\', ',', '[', ']', '\xc0\xaf', '\xff\xfe', '\x7f',
    ':'.repeat(Math.min(n, 3000)), '.'.repeat(Math.min(n, 3000)), '['.repeat(Math.min(n, 100)), '<sip:<sip:<sip:',
  ]);
}

/**
 * A PROTOS c07-sip style INVITE: the suite's fixed INVITE with one element replaced by an anomaly
 * (the suite's cases are that grid: element × anomaly).
 */
export function protosInvite(rng: Rng, t: Target, n: number): string {
  const f: Record<string, string> = {
    method: 'INVITE', ruser: '100', rhost: `127.0.0.1:${t.port}`, version: 'SIP/2.0', viaTransport: t.transport,
    viaHost: t.from, viaPort: String(t.fromPort), branch: `z9hG4bKprotos${n.toString(36)}`, fromDisplay: '0', fromUser: '+4930777',
    tag: String(n), toDisplay: 'Receiver', toUser: '100', callId: `${n}@${t.from}`, cseq: String(n + 1), cseqMethod: 'INVITE',
    contactUser: 'protos', expires: '1200', maxForwards: '70', contentType: 'application/sdp', sdpV: '0', sdpO: `0 0 0 IN IP4 ${t.from}`,
    sdpS: 'Session SDP', sdpC: `IN IP4 ${t.from}`, sdpT: '0 0', sdpMPort: '9876', sdpMProto: 'RTP/AVP', sdpMFmt: '0', sdpA: 'rtpmap:0 PCMU/8000',
  };
  const keys = Object.keys(f);
  const key = rng.pick(keys);
  // Via host and port anomalies stay IP-shaped or numeric: an answer must not need DNS.
  f[key] = key === 'viaHost' ? rng.pick(['0.0.0.0', '255.255.255.255', '127.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '127.1'])
    : key === 'viaPort' ? rng.pick(['0', '65536', '-1', '99999', '4294967296', '', '00000000000005060'])
      : anomaly(rng);
  const body = [`v=${f['sdpV']}`, `o=${f['sdpO']}`, `s=${f['sdpS']}`, `c=${f['sdpC']}`, `t=${f['sdpT']}`,
    `m=audio ${f['sdpMPort']} ${f['sdpMProto']} ${f['sdpMFmt']}`, `a=${f['sdpA']}`, ''].join(CRLF);
  const lenRight = rng.next() < 0.9;
  return [
    `${f['method']} sip:${f['ruser']}@${f['rhost']} ${f['version']}`,
    `Via: SIP/2.0/${f['viaTransport']} ${f['viaHost']}:${f['viaPort']};branch=${f['branch']}`,
    `From: ${f['fromDisplay']} <sip:${f['fromUser']}@${t.from}>;tag=${f['tag']}`,
    `To: ${f['toDisplay']} <sip:${f['toUser']}@127.0.0.1>`,
    `Call-ID: ${f['callId']}`,
    `CSeq: ${f['cseq']} ${f['cseqMethod']}`,
    `Contact: 0 <sip:${f['contactUser']}@${t.from}:${t.fromPort}>`,
    `Expires: ${f['expires']}`,
    `Max-Forwards: ${f['maxForwards']}`,
    `Content-Type: ${f['contentType']}`,
    `Content-Length: ${lenRight ? Buffer.byteLength(body, 'latin1') : anomaly(rng)}`,
  ].join(CRLF) + CRLF + CRLF + body;
}

/** The names of the mutations, as counted in the harness's summary. */
export const MUTATIONS = ['flip', 'truncate', 'duplicate', 'huge', 'escape', 'number', 'via', 'sdp', 'crlf', 'length'] as const;
export type Mutation = (typeof MUTATIONS)[number];

function lines(text: string): string[] { return text.split(CRLF); }
function headerEnd(ls: string[]): number { const i = ls.indexOf(''); return i < 0 ? ls.length : i; }

/** Replace the value of the first header named one of `names` (case-insensitive) with `f(value)`. */
function withHeader(text: string, names: string[], f: (v: string) => string): string {
  const ls = lines(text);
  const end = headerEnd(ls);
  for (let i = 1; i < end; i++) {
    const l = ls[i]!;
    const c = l.indexOf(':');
    if (c > 0 && names.includes(l.slice(0, c).trim().toLowerCase())) {
      ls[i] = `${l.slice(0, c)}: ${f(l.slice(c + 1).trim())}`;
      return ls.join(CRLF);
    }
  }
  return text;
}

/** Apply one mutation to a message text (latin1: one char per byte). */
export function mutate(rng: Rng, text: string, kind: Mutation, t: Target): string {
  switch (kind) {
    case 'flip': {
      const b = Buffer.from(text, 'latin1');
      for (let k = 1 + rng.int(8); k > 0 && b.length > 0; k--) { const i = rng.int(b.length); b[i] = (b[i] ?? 0) ^ (1 << rng.int(8)); }
      return b.toString('latin1');
    }
    case 'truncate':
      return text.slice(0, rng.int(text.length + 1));
    case 'duplicate': {
      const ls = lines(text);
      const end = headerEnd(ls);
      if (end < 2) return text;
      const i = 1 + rng.int(end - 1);
      const copies = rng.pick([1, 2, 10, 50, 200]);
      ls.splice(i, 0, ...Array.from({ length: copies }, () => ls[i]!));
      return ls.join(CRLF);
    }
    case 'huge': {
      const size = rng.pick([1024, 8192, 8193, 16384, 65000, 70000]);
      const names = [rng.pick(['via', 'from', 'to', 'call-id', 'cseq', 'contact', 'subject', 'user-agent', 'authorization', 'route', 'record-route'])];
      const filler = rng.pick(['a', ';p', ',<sip:x>', '%41', ' ']);
      const huge = withHeader(text, names, (v) => v + filler.repeat(Math.ceil(size / filler.length)).slice(0, size));
      return huge === text ? text.replace(CRLF, `${CRLF}X-Huge: ${'b'.repeat(size)}`) : huge;
    }
    case 'escape': {
      const bad = rng.pick(['%zz', '%', '%4', '%G0', '%00', '%c0%af', '%ff', '%25%', '%%41']);
      if (rng.next() < 0.6) {
        // In the Request-URI user (or as one, when there is none).
        const sp = text.indexOf(' ');
        const at = text.indexOf('@');
        const colon = text.indexOf(':', sp);
        if (sp > 0 && colon > sp && at > colon && at < text.indexOf(CRLF)) return text.slice(0, at) + bad + text.slice(at);
        if (sp > 0 && colon > sp) return text.slice(0, colon + 1) + bad + '@' + text.slice(colon + 1);
        return text;
      }
      return withHeader(text, [rng.pick(['from', 'to', 'contact', 'f', 't', 'm'])], (v) => v.replace('sip:', `sip:${bad}`));
    }
    case 'number': {
      const value = rng.pick(['-1', '0', '4294967296', '99999999999999999999', '1e3', '0x10', ' 7 ', '', 'NaN', '00000000000000000000001', '2147483648', '-0']);
      const name = rng.pick(['cseq', 'content-length', 'max-forwards', 'expires', 'retry-after', 'rseq', 'session-expires', 'min-se']);
      if (name === 'cseq') return withHeader(text, ['cseq'], (v) => `${value} ${v.split(' ').pop() ?? 'INVITE'}`);
      const out = withHeader(text, [name, name === 'content-length' ? 'l' : name], () => value);
      return out === text ? text.replace(CRLF, `${CRLF}${name}: ${value}`) : out;
    }
    case 'via': {
      const sentBy = rng.pick([
        `${t.from}:0`, `${t.from}:65536`, `${t.from}:-1`, `${t.from}:99999`, `${t.from}:`, `${t.from}:0x13c4`, '[::1]:0', '[::1', '::1:5060',
        '0.0.0.0:5060', '255.255.255.255:5060', `${t.from}:${t.fromPort}`, `${t.from}:${t.fromPort}`,
      ]);
      const params = rng.pick([
        '', ';rport', ';rport=0', ';rport=70000', ';rport=abc', ';received=', ';received=garbage', ';received=127.0.0.99', ';maddr=127.0.0.98',
        ';maddr=', ';ttl=300', ';branch=', ';branch=z9hG4bK', ';branch', `;branch=${'z'.repeat(5000)}`, ';;;;', ';rport;rport;rport',
      ]);
      const transport = rng.pick([t.transport, t.transport, 'XYZ', 'SCTP', 'WS', '', 'UDP/extra']);
      return withHeader(text, ['via', 'v'], (v) => {
        const branch = /;branch=[^;,]*/.exec(v)?.[0] ?? '';
        const extra = rng.next() < 0.2 ? `, SIP/2.0/UDP ${t.from}:1` : '';
        return `SIP/2.0/${transport} ${sentBy}${params}${params.includes('branch') ? '' : branch}${extra}`;
      });
    }
    case 'sdp': {
      const split = text.indexOf(CRLF + CRLF);
      if (split < 0 || !text.startsWith('INVITE')) return mutate(rng, text, 'via', t);
      let body = text.slice(split + 4);
      const line = rng.pick(['m=', 'c=', 'o=', 'a=rtpmap', 'v=', 't=', 'b=', 'a=fmtp']);
      const bad = rng.pick([
        'm=audio 0 RTP/AVP 0', 'm=audio 65536 RTP/AVP 0', 'm=audio -1 RTP/AVP 0', 'm=audio 49170 RTP/AVP', 'm=audio 49170/0 RTP/AVP 0',
        `m=audio 49170 RTP/AVP ${Array.from({ length: 2000 }, (_, i) => i % 128).join(' ')}`, 'm=video 49170 RTP/SAVP 0', 'm=',
        'c=IN IP4 999.1.1.1', 'c=IN IP6 ::1', 'c=IN IP4', 'c=IN IP4 0.0.0.0', 'c=IN IP4 224.0.0.1/127/3', 'c=',
        'a=rtpmap:0', 'a=rtpmap:abc PCMU/8000', 'a=rtpmap:101 telephone-event/0', `a=rtpmap:0 ${'P'.repeat(10000)}/8000`,
        'a=fmtp:101 0-9999999999', 'b=AS:-1', 'v=1', 't=-1 -1', 'o=', '\0\0\0\0',
      ]);
      if (rng.next() < 0.3) body = body.slice(0, rng.int(body.length + 1));
      else if (rng.next() < 0.5) body = body.split(CRLF).map((l) => (l.startsWith(line) ? bad : l)).join(CRLF);
      else body = body + bad + CRLF;
      const head = text.slice(0, split);
      const fixLength = rng.next() < 0.8;
      const h = fixLength ? withHeader(head, ['content-length', 'l'], () => String(Buffer.byteLength(body, 'latin1'))) : head;
      return h + CRLF + CRLF + body;
    }
    case 'crlf': {
      const choice = rng.int(5);
      if (choice === 0) return text.replaceAll(CRLF, '\n');
      if (choice === 1) return text.replaceAll(CRLF, '\r');
      if (choice === 2) return text.replace(CRLF + CRLF, CRLF);
      if (choice === 3) return text.replace(CRLF, `${CRLF} `);
      return CRLF.repeat(1 + rng.int(20)) + text;
    }
    case 'length': {
      const v = rng.pick(['0', '1', '100000', '-5', '65535', String(text.length), '18446744073709551617']);
      return withHeader(text, ['content-length', 'l'], () => v);
    }
  }
}
