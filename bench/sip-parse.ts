/**
 * `npm run bench -- sip-parse [ms]`: parse a typical carrier INVITE with SDP (~900 bytes) and
 * read what the engine reads from it (top Via branch/host/port/rport, From tag and user, To tag,
 * Call-ID, CSeq, Contact URI, Max-Forwards, Content-Length, body, Request-URI user); serialize a
 * 200 OK with SDP. Targets (one core): 400k parses/s, 500k serializations/s. Metrics:
 * parse_invite_per_s, serialize_200_per_s (median of rounds), plus create_and_serialize_200_per_s
 * (the builder cost a UAS pays per answer), and the same parse and serialize rates per second of
 * CPU time of this process (`*_per_cpu_s`): the machine is shared, and wall-clock rates fall with
 * the load of the other processes.
 */
import os from 'node:os';
import { emit, machine, median, rate, say } from './lib.ts';
import { parse } from '../engine/sip/parser.ts';
import { serialize } from '../engine/sip/serializer.ts';
import { createResponse } from '../engine/sip/message.ts';
import type { SipRequest } from '../engine/sip/message.ts';

const SDP = [
  'v=0',
  'o=- 3942183945 3942183945 IN IP4 198.51.100.23',
  's=-',
  'c=IN IP4 198.51.100.23',
  't=0 0',
  'm=audio 31804 RTP/AVP 0 8 101',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  '',
].join('\r\n');

/** A carrier INVITE as a TV-shopping hotline receives it from an SBC. */
export const INVITE = Buffer.from([
  'INVITE sip:+4980012345678@onair.example.net:5060;user=phone SIP/2.0',
  'Via: SIP/2.0/UDP 198.51.100.10:5060;branch=z9hG4bK-7a1c8e5f0b2d4c1e;rport',
  'Record-Route: <sip:198.51.100.10;lr;ftag=as4f7c2e1b>',
  'Max-Forwards: 69',
  'From: "+49891234567" <sip:+49891234567@carrier.example.com;user=phone>;tag=as4f7c2e1b',
  'To: <sip:+4980012345678@onair.example.net;user=phone>',
  'Call-ID: 6f1e0c1a2b3c4d5e@198.51.100.10',
  'CSeq: 102 INVITE',
  'Contact: <sip:+49891234567@198.51.100.10:5060;transport=udp>',
  'P-Asserted-Identity: <sip:+49891234567@carrier.example.com;user=phone>',
  'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO',
  'Supported: timer, 100rel, replaces',
  'Session-Expires: 1800;refresher=uac',
  'Content-Type: application/sdp',
  `Content-Length: ${Buffer.byteLength(SDP)}`,
  '',
  SDP,
].join('\r\n'), 'latin1');

/** Operations per second of process CPU time for `fn(n)`, median of `rounds` rounds of about `ms` ms. */
function cpuRate(fn: (n: number) => void, batch: number, rounds: number, ms: number): number {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let ops = 0;
    const c0 = process.cpuUsage();
    const t0 = Date.now();
    while (Date.now() - t0 < ms / rounds) {
      fn(batch);
      ops += batch;
    }
    const c = process.cpuUsage(c0);
    out.push(ops / ((c.user + c.system) / 1e6));
  }
  return median(out);
}

export async function main(args: string[]): Promise<void> {
  const ms = Number(args[0] ?? 3000);
  const first = parse(INVITE);
  if (!first.ok || first.message.kind !== 'request') throw new Error('benchmark INVITE does not parse');
  const req: SipRequest = first.message;
  let sink = 0;
  const parseN = (n: number): void => {
    for (let i = 0; i < n; i++) {
      const r = parse(INVITE);
      if (!r.ok) throw new Error(r.reason);
      const m = r.message;
      if (m.kind !== 'request') throw new Error('not a request');
      // What the engine reads from an incoming INVITE (transaction match, dialog, routing).
      const h = m.headers;
      const v = h.via[0]!;
      const contact = h.contact[0];
      sink += v.branch!.length + v.host.length + (v.port ?? 0) + (v.params.has('rport') ? 1 : 0)
        + (h.from.params.get('tag') ?? '').length + h.from.uri.user.length + (h.to.params.get('tag') ?? '').length
        + h.callId.length + h.cseq.seq + (contact === undefined ? 0 : contact.uri.host.length + (contact.uri.port ?? 0))
        + (h.maxForwards ?? 0) + (h.contentLength ?? 0) + m.body.length + m.uri.user.length;
    }
  };
  const p = rate(parseN, { ms, rounds: 7 });
  const pCpu = cpuRate(parseN, 1000, 7, ms);
  const ok = createResponse(req, 200, undefined, {
    toTag: '8f3a9c21',
    headers: [
      { name: 'Contact', value: '<sip:hotline@203.0.113.5:5060;transport=udp>' },
      { name: 'Allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY' },
      { name: 'Supported', value: 'timer, replaces' },
      { name: 'Session-Expires', value: '1800;refresher=uac' },
      { name: 'Require', value: 'timer' },
    ],
    body: Buffer.from(SDP.replace(/198\.51\.100\.23/g, '203.0.113.5')),
    contentType: 'application/sdp',
  });
  const serializeN = (n: number): void => {
    for (let i = 0; i < n; i++) sink += serialize(ok).length;
  };
  const s = rate(serializeN, { ms, rounds: 7 });
  const sCpu = cpuRate(serializeN, 1000, 7, ms);
  const cs = rate((n) => {
    for (let i = 0; i < n; i++) {
      const res = createResponse(req, 200, undefined, { toTag: '8f3a9c21', body: ok.body, contentType: 'application/sdp' });
      sink += serialize(res).length;
    }
  }, { ms, rounds: 7 });
  const m = machine();
  emit({ bench: 'sip-parse', metric: 'parse_invite_per_s', value: Math.round(p.median), unit: 'ops/s', bytes: INVITE.length, target: 400000, rounds: p.rounds.map(Math.round), machine: m });
  emit({ bench: 'sip-parse', metric: 'serialize_200_per_s', value: Math.round(s.median), unit: 'ops/s', bytes: serialize(ok).length, target: 500000, rounds: s.rounds.map(Math.round), machine: m });
  emit({ bench: 'sip-parse', metric: 'parse_invite_per_cpu_s', value: Math.round(pCpu), unit: 'ops/cpu-s', machine: m });
  emit({ bench: 'sip-parse', metric: 'serialize_200_per_cpu_s', value: Math.round(sCpu), unit: 'ops/cpu-s', machine: m });
  emit({ bench: 'sip-parse', metric: 'create_and_serialize_200_per_s', value: Math.round(cs.median), unit: 'ops/s', rounds: cs.rounds.map(Math.round), machine: m });
  say(`parse ${INVITE.length}-byte INVITE + hot headers: ${Math.round(p.median).toLocaleString()}/s (target 400,000)`);
  say(`serialize ${serialize(ok).length}-byte 200 OK: ${Math.round(s.median).toLocaleString()}/s (target 500,000)`);
  say(`per CPU-second: parse ${Math.round(pCpu).toLocaleString()}/s, serialize ${Math.round(sCpu).toLocaleString()}/s (load average ${os.loadavg()[0]!.toFixed(1)})`);
  say(`createResponse + serialize: ${Math.round(cs.median).toLocaleString()}/s`);
  if (sink === 0.5) say('');
}
