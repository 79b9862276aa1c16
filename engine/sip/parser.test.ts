// Parser: line handling, limits and every error code, byte faithfulness.
import t from 'tap';
import type { Test } from 'tap';
import { parse } from './parser.ts';
import type { ParseFailure, ParseOptions, ParseResult } from './parser.ts';
import type { SipMessage } from './message.ts';
import { fromByteString } from './message.ts';

const HEAD = [
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds',
  'Max-Forwards: 70',
  'To: Bob <sip:bob@biloxi.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710@pc33.atlanta.example.com',
  'CSeq: 314159 INVITE',
  'Contact: <sip:alice@pc33.atlanta.example.com>',
];

function msg(extra: string[] = [], body = '', opts: { cl?: boolean; eol?: string; head?: string[] } = {}): Buffer {
  const lines = [...(opts.head ?? HEAD), ...extra];
  if (opts.cl !== false) lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  const eol = opts.eol ?? '\r\n';
  return Buffer.from(lines.join(eol) + eol + eol + body, 'latin1');
}

function ok(t: Test, r: ParseResult): SipMessage {
  if (!r.ok) {
    t.fail(`${r.code}: ${r.reason}`);
    throw new Error('parse failed');
  }
  return r.message;
}

function fails(t: Test, buf: Buffer, code: ParseFailure['code'], status: number | undefined, opts?: ParseOptions): ParseFailure {
  const r = parse(buf, opts);
  t.equal(r.ok, false, `fails with ${code}`);
  if (r.ok) throw new Error('parsed');
  t.equal(r.code, code, r.reason);
  t.equal(r.status, status, 'status');
  return r;
}

t.test('a plain INVITE', (t) => {
  const m = ok(t, parse(msg([], 'v=0\r\n')));
  if (m.kind !== 'request') throw new Error('request');
  t.equal(m.method, 'INVITE');
  t.equal(m.uriText, 'sip:bob@biloxi.example.com');
  t.equal(m.version, 'SIP/2.0');
  t.equal(m.headers.to.displayName, 'Bob');
  t.equal(m.headers.from.params.get('tag'), '1928301774');
  t.same(m.headers.cseq, { seq: 314159, method: 'INVITE' });
  t.equal(m.headers.maxForwards, 70);
  t.equal(m.headers.contentLength, 5);
  t.equal(m.body.toString(), 'v=0\r\n');
  t.end();
});

t.test('line handling', (t) => {
  const folded = ok(t, parse(msg(['Subject: first', ' \t second', '\tthird'])));
  t.equal(folded.headers.get('Subject'), 'first second third', 'folds joined by one space');
  const foldedVia = ok(t, parse(msg([], '', { head: [HEAD[0]!, 'Via: SIP/2.0/UDP', '  h.example.com', '  ;branch=z9hG4bKx', ...HEAD.slice(2)] })));
  t.equal(foldedVia.headers.via[0]!.branch, 'z9hG4bKx', 'folded hot header parsed');
  const lf = ok(t, parse(msg([], 'body', { eol: '\n' })));
  t.equal(lf.headers.callId, 'a84b4c76e66710@pc33.atlanta.example.com', 'bare LF line ends accepted');
  t.equal(lf.body.toString(), 'body');
  const mixed = Buffer.from(msg([], '', { eol: '\n' }).toString('latin1').replace('Content-Length: 0\n\n', 'Content-Length: 2\n\n\r\n'), 'latin1');
  t.equal(ok(t, parse(mixed)).body.toString(), '\r\n', 'a bare-LF empty line ends the headers even if LF CRLF comes later');
  const leading = ok(t, parse(Buffer.concat([Buffer.from('\r\n\r\n'), msg()])));
  t.equal(leading.headers.callId, 'a84b4c76e66710@pc33.atlanta.example.com', 'CRLFs before the start line ignored');
  const compact = ok(t, parse(msg([], '', { head: ['OPTIONS sip:a@b SIP/2.0', 'v: SIP/2.0/UDP h;branch=z9hG4bK1', 'f: <sip:c@d>;tag=1', 't: <sip:a@b>', 'i: x@y', 'CSeq: 1 OPTIONS', 'm: <sip:c@h>', 'k: timer', 'l: 0'], cl: false })));
  t.same(compact.headers.fields.map((f) => f.name), ['Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Supported', 'Content-Length'], 'compact names expanded');
  t.equal(compact.headers.contact[0]!.uri.host, 'h');
  const spaced = ok(t, parse(msg(['X-Odd   :   value  '])));
  t.equal(spaced.headers.get('X-Odd'), 'value', 'SWS around the colon and trailing whitespace trimmed');
  t.end();
});

t.test('header names: the frequent-name shortcut and the colon search agree', (t) => {
  const m = ok(t, parse(msg([
    'Via : SIP/2.0/UDP p2.example.com;branch=z9hG4bK2', // SWS before the colon: found by the search
    'cALL-iNFO: <http://example.com/x>', // known, not frequent, odd case
    'SUPPORTED: timer', // frequent, upper case
    'Vib: 1', // first octet and length of a frequent name, unknown
    'Tox: 2', // no length fits: the search finds the colon
    'Subject: a:b', // known, not frequent; a colon in the value
    'S: compact', // compact form in upper case
    'Refer-To\t: <sip:c@d>',
    'P-Asserted-Identity: <sip:+4930123@example.com>',
    'X-Via: 3',
  ])));
  t.same(m.headers.fields.slice(HEAD.length - 1).map((f) => [f.name, f.value]), [
    ['Via', 'SIP/2.0/UDP p2.example.com;branch=z9hG4bK2'], ['Call-Info', '<http://example.com/x>'], ['Supported', 'timer'],
    ['Vib', '1'], ['Tox', '2'], ['Subject', 'a:b'], ['Subject', 'compact'], ['Refer-To', '<sip:c@d>'],
    ['P-Asserted-Identity', '<sip:+4930123@example.com>'], ['X-Via', '3'], ['Content-Length', '0'],
  ]);
  t.equal(m.headers.via.length, 2, 'both Via fields parsed');
  t.equal(m.headers.via[1]!.branch, 'z9hG4bK2');
  fails(t, msg(['V\ria: x']), 'SIP_ERR_PARSE', 400);
  t.end();
});

t.test('responses', (t) => {
  const res = (start: string, extra: string[] = []): Buffer =>
    msg(extra, '', { head: [start, ...HEAD.slice(1).filter((l) => !l.startsWith('Max-Forwards'))] });
  const m = ok(t, parse(res('SIP/2.0 180 Ringing')));
  if (m.kind !== 'response') throw new Error('response');
  t.same([m.status, m.reason], [180, 'Ringing']);
  const noSp = ok(t, parse(res('SIP/2.0 200')));
  t.same(noSp.kind === 'response' && [noSp.status, noSp.reason], [200, '']);
  fails(t, res('SIP/2.0 099 Low'), 'SIP_ERR_PARSE', undefined);
  fails(t, res('SIP/2.0 700 High'), 'SIP_ERR_PARSE', undefined);
  fails(t, res('SIP/2.0 2000 Long'), 'SIP_ERR_PARSE', undefined);
  fails(t, res('SIP/3.0 200 OK'), 'SIP_ERR_VERSION', undefined);
  const twoVias = res('SIP/2.0 200 OK', ['Via: SIP/2.0/UDP other;branch=z9hG4bK2']);
  const f = fails(t, twoVias, 'SIP_ERR_PARSE', undefined);
  t.equal(f.isRequest, false);
  t.equal(parse(twoVias, { endpoint: false }).ok, true, 'a proxy keeps responses with several Vias');
  t.end();
});

t.test('request line', (t) => {
  const withStart = (start: string): Buffer => msg([], '', { head: [start, ...HEAD.slice(1)] });
  fails(t, withStart('INVITE sip:bob@biloxi.example.com SIP/2.1'), 'SIP_ERR_VERSION', 505);
  fails(t, withStart('INVITE sip:bob@biloxi.example.com HTTP/1.1'), 'SIP_ERR_PARSE', 400);
  fails(t, withStart('INVITE <sip:bob@biloxi.example.com> SIP/2.0'), 'SIP_ERR_PARSE', 400);
  fails(t, withStart('INVITE  sip:bob@biloxi.example.com SIP/2.0'), 'SIP_ERR_PARSE', 400);
  fails(t, withStart('INV(ITE sip:bob@biloxi.example.com SIP/2.0'), 'SIP_ERR_PARSE', 400);
  fails(t, withStart('INVITE'), 'SIP_ERR_PARSE', 400);
  t.equal(parse(withStart('INVITE sip:bob@biloxi.example.com SIP/2.0 \t')).ok, true, 'trailing whitespace tolerated');
  t.end();
});

t.test('header validation → 400 with the fields a response needs', (t) => {
  const without = (name: string): Buffer => msg([], '', { head: HEAD.filter((l) => !l.startsWith(name)) });
  for (const name of ['Via', 'From', 'To', 'Call-ID', 'CSeq']) fails(t, without(name), 'SIP_ERR_MISSING_HEADER', 400);
  t.equal(parse(without('Max-Forwards')).ok, true, 'Max-Forwards is optional');
  t.equal(parse(without('Contact')).ok, true);
  for (const dup of ['From: <sip:x@y>;tag=2', 'To: <sip:x@y>', 'Call-ID: other', 'CSeq: 1 INVITE', 'Max-Forwards: 1', 'Content-Type: a/b']) {
    const extra = dup.startsWith('Content-Type') ? [dup, dup] : [dup];
    fails(t, msg(extra), 'SIP_ERR_PARSE', 400);
  }
  fails(t, msg(['Max-Forwards: 256'], '', { head: HEAD.filter((l) => !l.startsWith('Max-Forwards')) }), 'SIP_ERR_PARSE', 400);
  const mismatch = fails(t, msg([], '', { head: HEAD.map((l) => l.replace('314159 INVITE', '314159 BYE')) }), 'SIP_ERR_PARSE', 400);
  t.same(mismatch.fields.map((f) => f.name), ['Via', 'To', 'From', 'Call-ID', 'CSeq'], 'recovered fields, in order');
  t.equal(mismatch.fields[4]!.value, '314159 BYE');
  fails(t, msg([], '', { head: HEAD.map((l) => l.replace('314159', '2147483648')) }), 'SIP_ERR_PARSE', 400);
  fails(t, msg([], '', { head: HEAD.map((l) => l.replace('Call-ID: a84b', 'Call-ID: a8 4b')) }), 'SIP_ERR_PARSE', 400);
  fails(t, msg(['Bad Header: x']), 'SIP_ERR_PARSE', 400);
  fails(t, msg(['NoColon']), 'SIP_ERR_PARSE', 400);
  fails(t, Buffer.from(' folded-first: x\r\n' + msg().toString('latin1').split('\r\n').slice(1).join('\r\n')), 'SIP_ERR_PARSE', 400);
  t.end();
});

t.test('Content-Length and bodies', (t) => {
  fails(t, msg(['Content-Length: 5'], '', { cl: false }), 'SIP_ERR_CONTENT_LENGTH', 400, undefined);
  fails(t, msg(['Content-Length: -1'], '', { cl: false }), 'SIP_ERR_CONTENT_LENGTH', 400);
  fails(t, msg(['Content-Length: 1x'], '', { cl: false }), 'SIP_ERR_CONTENT_LENGTH', 400);
  fails(t, msg(['Content-Length: 99999999999'], '', { cl: false }), 'SIP_ERR_CONTENT_LENGTH', 400);
  fails(t, msg(['Content-Length: 0', 'l: 0'], '', { cl: false }), 'SIP_ERR_CONTENT_LENGTH', 400);
  const extra = ok(t, parse(Buffer.concat([msg([], 'abc'), Buffer.from('junk')])));
  t.equal(extra.body.toString(), 'abc', 'octets beyond Content-Length ignored over UDP');
  const none = ok(t, parse(msg([], 'rest of datagram', { cl: false })));
  t.equal(none.body.toString(), 'rest of datagram');
  t.equal(none.headers.contentLength, undefined);
  t.end();
});

t.test('stream mode', (t) => {
  const whole = msg([], 'abcdef');
  const incomplete = fails(t, whole.subarray(0, whole.length - 2), 'SIP_ERR_INCOMPLETE', undefined, { stream: true });
  t.equal(incomplete.needed, whole.length, 'total length known once the headers are in');
  const headOnly = fails(t, whole.subarray(0, 40), 'SIP_ERR_INCOMPLETE', undefined, { stream: true });
  t.equal(headOnly.needed, undefined);
  fails(t, msg([], 'x', { cl: false }), 'SIP_ERR_MISSING_HEADER', 400, { stream: true });
  const two = Buffer.concat([whole, whole]);
  const r = parse(two, { stream: true });
  t.equal(r.ok && r.consumed, whole.length, 'consumes exactly one message');
  const bad = parse(msg([], '', { head: HEAD.map((l) => l.replace('314159 INVITE', '1 BYE')) }), { stream: true });
  t.equal(!bad.ok && bad.consumed, msg([], '', { head: HEAD.map((l) => l.replace('314159 INVITE', '1 BYE')) }).length, 'a bad message with known framing says how long it is');
  t.end();
});

t.test('limits', (t) => {
  fails(t, msg([], 'x'.repeat(200)), 'SIP_ERR_TOO_LARGE', 513, { maxMessageBytes: 300 });
  fails(t, msg([], 'x'.repeat(2000)), 'SIP_ERR_TOO_LARGE', 413, { maxMessageBytes: 1000, stream: true });
  const many = Array.from({ length: 20 }, (_, i) => `X-H${i}: v`);
  const tooMany = fails(t, msg(many), 'SIP_ERR_TOO_MANY_HEADERS', 400, { maxHeaders: 15 });
  t.ok(tooMany.fields.some((f) => f.name === 'Via'), 'fields read before the limit are kept');
  t.equal(parse(msg(many), { maxHeaders: 40 }).ok, true);
  fails(t, msg(['X-Long: ' + 'y'.repeat(300)]), 'SIP_ERR_HEADER_TOO_LONG', 400, { maxHeaderBytes: 256 });
  fails(t, msg(['X-Long: ' + 'y'.repeat(100), ' ' + 'z'.repeat(200)]), 'SIP_ERR_HEADER_TOO_LONG', 400, { maxHeaderBytes: 256 });
  fails(t, Buffer.from('INVITE sip:a@b SIP/2.0\r\nVia: x\r\n'), 'SIP_ERR_PARSE', 400);
  fails(t, Buffer.alloc(0), 'SIP_ERR_PARSE', undefined);
  t.end();
});

t.test('values are byte-faithful (UTF-8 kept as its octets)', (t) => {
  const m = ok(t, parse(Buffer.concat([
    Buffer.from('SIP/2.0 200 '), Buffer.from('Très bien 👍', 'utf8'), Buffer.from('\r\n'),
    Buffer.from(HEAD.slice(1).join('\r\n').replace('To: Bob', 'To: "Jürgen Müller"') + '\r\nContent-Length: 0\r\n\r\n', 'utf8'),
  ])));
  if (m.kind !== 'response') throw new Error('response');
  t.equal(fromByteString(m.reason), 'Très bien 👍');
  t.equal(fromByteString(m.headers.to.displayName!), 'Jürgen Müller');
  t.end();
});

t.test('a message without an end of its header section fails the same way at any size', (t) => {
  // Messages up to 4 KiB are decoded whole and their end found by the header loop; longer ones are
  // searched first. Both must give the answer the search gives, before any error of a header line.
  const pad = 'X-Pad: ' + 'p'.repeat(5000);
  for (const extra of [[], [pad]]) {
    const size = extra.length === 0 ? 'short' : 'long';
    const noEnd = Buffer.from([...HEAD, ...extra, 'Content-Length: 0', ''].join('\r\n'), 'latin1');
    fails(t, noEnd, 'SIP_ERR_PARSE', 400);
    fails(t, noEnd, 'SIP_ERR_INCOMPLETE', undefined, { stream: true });
    const badLineNoEnd = Buffer.from([...HEAD, ...extra, 'not a header line', ' continued', ''].join('\r\n'), 'latin1');
    t.match(fails(t, badLineNoEnd, 'SIP_ERR_PARSE', 400).reason, /no empty line/, `${size}: the missing end is reported, not the bad line`);
    fails(t, badLineNoEnd, 'SIP_ERR_INCOMPLETE', undefined, { stream: true });
    const many = Buffer.from([...HEAD, ...extra, ...Array.from({ length: 20 }, (_, i) => `X-H${i}: v`)].join('\r\n'), 'latin1');
    fails(t, many, 'SIP_ERR_INCOMPLETE', undefined, { stream: true, maxHeaders: 15 });
    fails(t, Buffer.from([...HEAD, ...extra, 'Subject: cut'].join('\r\n'), 'latin1'), 'SIP_ERR_INCOMPLETE', undefined, { stream: true });
    fails(t, Buffer.from([...HEAD, ...extra, 'not a header line'].join('\r\n') + '\r\n\r\n', 'latin1'), 'SIP_ERR_PARSE', 400);
    // Bare LF line ends, and a body after the empty line.
    const lf = msg(extra, 'v=0\n', { eol: '\n' });
    const m = ok(t, parse(lf));
    t.equal(m.body.toString('latin1'), 'v=0\n', `${size}: bare LF`);
    t.equal(m.headers.get('Content-Length'), '4');
  }
  const big = ok(t, parse(msg([], 'b'.repeat(6000))));
  const small = ok(t, parse(msg([], 'b')));
  t.same(big.headers.fields.slice(0, -1), small.headers.fields.slice(0, -1), 'a long body changes nothing before it');
  t.equal(big.body.length, 6000);
  t.end();
});
