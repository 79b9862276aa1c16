// Properties (fast-check): parse(serialize(m)) equals m for generated requests and responses, and
// neither the parser nor the framer nor any header view throws on random or mutated input.
import t from 'tap';
import fc from 'fast-check';
import { parse } from './parser.ts';
import { serialize } from './serializer.ts';
import { StreamFramer } from './framer.ts';
import { createRequest, createResponse } from './message.ts';
import type { HeaderField, NameAddr, Params, SipMessage, SipUri, Via } from './message.ts';
import { formatNameAddr, formatUri } from './uri.ts';
import { formatVia } from './headers.ts';
import { corpusFiles, plain, snapshot } from './message-testing.ts';

// ---- generators ----

const chars = (s: string): fc.Arbitrary<string> => fc.constantFrom(...s.split(''));
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const LOWER = 'abcdefghijklmnopqrstuvwxyz0123456789';
const str = (alphabet: string, min = 1, max = 12): fc.Arbitrary<string> =>
  fc.string({ unit: chars(alphabet), minLength: min, maxLength: max });

const token = str(ALNUM + "-.!%*_+`'~");
const lowerToken = str(LOWER + '-._');
// A name of digits and dots only is an IPv4 address or nothing (RFC 3261 §25.1; the parser refuses it in a top Via).
const hostname = fc.array(str(LOWER, 1, 8), { minLength: 1, maxLength: 4 }).map((l) => l.join('.')).filter((h) => !/^[0-9.]+$/.test(h));
const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
const ipv6 = fc.ipV6().map((a) => `[${a.toLowerCase()}]`);
const host = fc.oneof(hostname, ipv4, ipv6);
const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });

/** Parameter maps with unique lower-case names; values are tokens or flags. */
function params(keys: fc.Arbitrary<string>, values: fc.Arbitrary<string>, max = 3): fc.Arbitrary<Params> {
  return fc.uniqueArray(fc.tuple(keys, fc.option(values, { nil: null })), { maxLength: max, selector: ([k]) => k })
    .map((e) => new Map(e));
}

const sipUri: fc.Arbitrary<SipUri> = fc.record({
  scheme: fc.constantFrom('sip', 'sips'),
  user: fc.option(str(ALNUM + "-_.!~*'()&=+$,;?/%", 1, 16), { nil: '' }),
  password: fc.option(str(ALNUM + '&=+$,', 1, 8), { nil: undefined }),
  host,
  port,
  params: params(lowerToken, token),
  headers: fc.uniqueArray(fc.tuple(token, str(ALNUM + '-.%', 0, 8)), { maxLength: 2, selector: ([k]) => k }).map((e) => new Map(e)),
  opaque: fc.constant(undefined),
}).map((u) => (u.user === '' ? { ...u, password: undefined } : u));

const telUri: fc.Arbitrary<SipUri> = fc.record({
  scheme: fc.constant('tel'),
  user: str('0123456789-', 1, 14).map((n) => '+' + n),
  password: fc.constant(undefined),
  host: fc.constant(''),
  port: fc.constant(undefined),
  params: params(lowerToken, token, 2),
  headers: fc.constant(new Map<string, string>()),
  opaque: fc.constant(undefined),
});

const otherUri: fc.Arbitrary<SipUri> = fc.record({
  scheme: fc.constantFrom('urn', 'http', 'mailto'),
  user: fc.constant(''),
  password: fc.constant(undefined),
  host: fc.constant(''),
  port: fc.constant(undefined),
  params: fc.constant(new Map()),
  headers: fc.constant(new Map<string, string>()),
  opaque: str(ALNUM + ':/._-@', 1, 20),
});

const anyUri = fc.oneof({ weight: 4, arbitrary: sipUri }, { weight: 1, arbitrary: telUri }, { weight: 1, arbitrary: otherUri });

/** Display names with quotes, backslashes, spaces and latin1 octets (UTF-8 as bytes); no CR/LF. */
const displayName = fc.option(fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 16 }),
  fc.array(token, { minLength: 1, maxLength: 3 }).map((w) => w.join(' ')),
), { nil: undefined });

const nameAddr = (uri: fc.Arbitrary<SipUri>): fc.Arbitrary<NameAddr> =>
  fc.record({ displayName, uri, params: params(lowerToken, token) });

const via: fc.Arbitrary<Via> = fc.record({
  transport: fc.constantFrom('UDP', 'TCP', 'TLS', 'WS'),
  host,
  port,
  branch: token.map((b) => 'z9hG4bK' + b),
  extra: params(lowerToken.filter((k) => k !== 'branch'), token, 2),
}).map((v) => ({
  protocol: 'SIP/2.0', transport: v.transport, host: v.host, port: v.port, branch: v.branch,
  params: new Map<string, string | null>([['branch', v.branch], ...v.extra]),
}));

const method = fc.oneof(fc.constantFrom('INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'INFO', 'UPDATE'), str('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 1, 10));
/** Extra headers, some with comma lists, some repeated. */
const extraHeaders = fc.array(fc.oneof(
  fc.record({ name: fc.constantFrom('Supported', 'Allow', 'Require'), value: fc.array(lowerToken, { minLength: 1, maxLength: 4 }).map((l) => l.join(', ')) }),
  fc.record({ name: fc.constantFrom('Subject', 'User-Agent', 'X-Campaign'), value: str(ALNUM + ' ,;=:"', 1, 30).map((s) => s.trim()).filter((s) => s !== '') }),
  nameAddr(sipUri).map((na) => ({ name: 'Record-Route', value: formatNameAddr(na) })),
), { maxLength: 5 });

interface Generated {
  message: SipMessage;
  vias: Via[];
  from: NameAddr;
  to: NameAddr;
  contact: NameAddr[];
  uri: SipUri | undefined;
}

const message: fc.Arbitrary<Generated> = fc.record({
  isRequest: fc.boolean(),
  method,
  uri: anyUri,
  status: fc.integer({ min: 100, max: 699 }),
  reason: fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 20 })
    .map((s) => s.replace(/^ +| +$/g, '')),
  vias: fc.array(via, { minLength: 1, maxLength: 3 }),
  from: nameAddr(anyUri),
  to: nameAddr(anyUri),
  callId: str(ALNUM + '-.!%*_+`\'~()<>:\\"/[]?{}@', 1, 30),
  seq: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  maxForwards: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
  contact: fc.array(nameAddr(sipUri), { maxLength: 2 }),
  extra: extraHeaders,
  body: fc.uint8Array({ maxLength: 200 }),
}).map((g): Generated => {
  const headers: HeaderField[] = [
    ...g.vias.map((v) => ({ name: 'Via', value: formatVia(v) })),
    { name: 'From', value: formatNameAddr(g.from) },
    { name: 'To', value: formatNameAddr(g.to) },
    { name: 'Call-ID', value: g.callId },
    { name: 'CSeq', value: `${g.seq} ${g.method}` },
  ];
  if (g.maxForwards !== undefined) headers.push({ name: 'Max-Forwards', value: String(g.maxForwards) });
  for (const c of g.contact) headers.push({ name: 'Contact', value: formatNameAddr(c) });
  headers.push(...g.extra);
  const body = Buffer.from(g.body);
  const request = createRequest({ method: g.method, uri: g.uri, headers, body, contentType: 'application/octet-stream' });
  const msg = g.isRequest ? request : createResponse(request, g.status, g.reason, { headers: headers.filter((h) => h.name !== 'Via' && !['From', 'To', 'Call-ID', 'CSeq'].includes(h.name)), body, contentType: 'application/octet-stream' });
  return { message: msg, vias: g.vias, from: g.from, to: g.to, contact: g.contact, uri: g.isRequest ? g.uri : undefined };
});

// ---- properties ----

t.test('parse(serialize(m)) equals m', (t) => {
  fc.assert(fc.property(message, (g) => {
    const wire = serialize(g.message);
    for (const stream of [false, true]) {
      const r = parse(wire, { stream, endpoint: false });
      if (!r.ok) throw new Error(`${r.code}: ${r.reason}\n${wire.toString('latin1')}`);
      t.equal(r.consumed, wire.length);
      const m = r.message;
      // The whole message, views included, against the message we built...
      if (JSON.stringify(snapshot(m)) !== JSON.stringify(snapshot(g.message))) t.same(snapshot(m), snapshot(g.message));
      // ...and the parsed views against the generator's objects (format/parse are inverses).
      const views = plain({ via: m.headers.via, from: m.headers.from, to: m.headers.to, contact: m.headers.contact, uri: m.kind === 'request' ? m.uri : undefined });
      const want = plain({ via: g.vias, from: g.from, to: g.to, contact: g.contact, uri: g.uri });
      if (JSON.stringify(views) !== JSON.stringify(want)) {
        t.same(views, want, wire.toString('latin1'));
        return false;
      }
      if (m.kind === 'request' && m.uriText !== formatUri(g.uri!)) return false;
    }
    return true;
  }), { numRuns: 400 });
  t.end();
});

/** Read every view of a parsed message, as a consumer would. */
function touch(m: SipMessage): void {
  const h = m.headers;
  void [h.via, h.from, h.to, h.callId, h.cseq, h.contentLength, h.maxForwards, h.contact, h.route, h.recordRoute,
    h.auth('Authorization'), h.auth('WWW-Authenticate'), h.getAll('Supported'), h.getAll('Accept')];
}

function parseEverywhere(buf: Buffer, splitAt: number): void {
  for (const opts of [{}, { stream: true }, { maxHeaders: 5, maxHeaderBytes: 40, maxMessageBytes: 300 }]) {
    const r = parse(buf, opts);
    if (r.ok) touch(r.message);
  }
  const f = new StreamFramer({ maxBuffer: 4096 });
  for (const e of [...f.push(buf.subarray(0, splitAt)), ...f.push(buf.subarray(splitAt))]) {
    if (e.type === 'message' && e.result.ok) touch(e.result.message);
  }
}

t.test('random bytes never throw', (t) => {
  const sipish = fc.array(fc.oneof(
    fc.constantFrom('\r\n', '\n', '\r', ' ', '\t', ':', ';', ',', '<', '>', '"', '\\', '@', '[', ']', '=', '%', 'SIP/2.0', 'INVITE ',
      'sip:', 'Via: ', 'v:', 'From:', 'To:', 'Call-ID:', 'CSeq: 1 INVITE', 'Content-Length: ', 'l:', 'Contact: *', ';tag=', ';branch=z9hG4bK',
      '\r\n\r\n', '0', '9999999999', '-1', 'Route: ', 'Authorization: Digest ', '\x00', '\xff'),
    fc.string({ maxLength: 8 }),
  ), { maxLength: 60 }).map((parts) => Buffer.from(parts.join(''), 'latin1'));
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)), sipish), fc.nat(), (buf, k) => {
    parseEverywhere(buf, buf.length === 0 ? 0 : k % buf.length);
  }), { numRuns: 3000 });
  t.pass('no throw');
  t.end();
});

t.test('mutated corpus messages never throw', (t) => {
  const corpus = corpusFiles().map((f) => f.bytes);
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom('\r\n', ' ', ',', ';', '"', '<', '>', '\r\n ', ':', '\x00', '%', '[') }),
    fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 120 }) }),
  );
  fc.assert(fc.property(fc.nat(corpus.length - 1), fc.array(mutation, { minLength: 1, maxLength: 6 }), fc.nat(), (i, muts, k) => {
    let buf = Buffer.from(corpus[i]!);
    for (const m of muts) {
      const at = buf.length === 0 ? 0 : m.at % buf.length;
      if (m.kind === 'set') buf[at] = m.byte;
      else if (m.kind === 'delete') buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + m.len)]);
      else if (m.kind === 'insert') buf = Buffer.concat([buf.subarray(0, at), Buffer.from(m.text, 'latin1'), buf.subarray(at)]);
      else buf = Buffer.concat([buf.subarray(0, at + m.len), buf.subarray(at)]);
    }
    parseEverywhere(buf, buf.length === 0 ? 0 : k % buf.length);
  }), { numRuns: 3000 });
  t.pass('no throw');
  t.end();
});
