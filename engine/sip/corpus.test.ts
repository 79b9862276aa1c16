// RFC 4475 / RFC 5118 torture messages (fixtures in testdata/corpus, sources in its README): every
// file gives the outcome the README's table lists, and the fields of those that parse are read correctly.
import t from 'tap';
import type { Test } from 'tap';
import { parse } from './parser.ts';
import type { ParseResult } from './parser.ts';
import type { SipMessage, SipRequest, SipResponse } from './message.ts';
import { fromByteString } from './message.ts';
import { formatUri, parseUri, unescapeUri, uriEquals } from './uri.ts';
import { corpusFiles } from './message-testing.ts';

type Check = (t: Test, m: SipMessage, r: ParseResult & { ok: true }) => void;
type Outcome = { parse: Check } | { status: 400 | 505 } | 'discard';

function req(t: Test, m: SipMessage): SipRequest {
  if (m.kind !== 'request') t.fail('expected a request');
  return m as SipRequest;
}
function res(t: Test, m: SipMessage): SipResponse {
  if (m.kind !== 'response') t.fail('expected a response');
  return m as SipResponse;
}
const param = (p: Map<string, string | null>, k: string): string | null | undefined => p.get(k);

const SDP150 = 150;

const expected: Record<string, Outcome> = {
  // ---- RFC 4475 §3.1.1: valid messages ----
  wsinv: { parse: (t, m) => {
    const r = req(t, m);
    const h = m.headers;
    t.equal(r.method, 'INVITE');
    t.equal(r.uri.user, 'vivekg');
    t.equal(r.uri.host, 'chair-dnrc.example.com');
    t.equal(param(r.uri.params, 'unknownparam'), null);
    t.equal(h.to.uri.user, 'vivekg');
    t.equal(h.to.params.get('tag'), '1918181833n');
    t.equal(h.from.displayName, 'J Rosenberg \\"');
    t.equal(h.from.uri.user, 'jdrosen');
    t.equal(h.from.params.get('tag'), '98asjd8');
    t.equal(h.maxForwards, 68);
    t.equal(h.callId, 'wsinv.ndaksdj@192.0.2.1');
    t.same(h.cseq, { seq: 9, method: 'INVITE' });
    t.same(h.via.map((v) => [v.protocol, v.transport, v.host, v.port, v.branch]), [
      ['SIP/2.0', 'UDP', '192.0.2.2', undefined, '390skdjuw'],
      ['SIP/2.0', 'TCP', 'spindle.example.com', undefined, 'z9hG4bK9ikj8'],
      ['SIP/2.0', 'UDP', '192.168.255.111', undefined, 'z9hG4bK30239'],
    ]);
    t.equal(h.contact.length, 1);
    t.equal(h.contact[0]!.displayName, 'Quoted string ""');
    t.same([...h.contact[0]!.params], [['newparam', 'newvalue'], ['secondparam', null], ['q', '0.33']]);
    t.equal(h.get('NewFangledHeader'), 'newfangled value continued newfangled value');
    t.equal(h.get('unknownheaderwithunusualvalue'), ';;,,;;,;');
    t.equal(h.get('Subject'), '', 'compact s with an empty folded value');
    t.equal(h.route.length, 1);
    t.equal(h.route[0]!.uri.host, 'services.example.com');
    t.same([...h.route[0]!.uri.params], [['lr', null], ['unknownwith', 'value'], ['unknown-no-value', null]]);
    t.equal(h.contentLength, SDP150);
    t.equal(m.body.length, SDP150);
    t.ok(m.body.toString('latin1').startsWith('v=0\r\n'));
  } },
  intmeth: { parse: (t, m) => {
    const r = req(t, m);
    const h = m.headers;
    t.equal(r.method, "!interesting-Method0123456789_*+`.%indeed'~");
    t.equal(r.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    t.equal(r.uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
    t.equal(r.uri.host, 'example.com');
    t.equal(h.via[0]!.branch, "z9hG4bK-.!%66*_+`'~");
    t.equal(h.to.displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
    t.equal(h.to.uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
    t.equal(h.from.displayName, "token1~` token2'+_ token3*%!.-");
    t.equal(h.from.params.get('tag'), "_token~1'+`*%!-.");
    t.equal(fromByteString(h.from.params.get("fromparam''~+*_!.-%") ?? ''), '"работающий"');
    t.equal(h.callId, "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
    t.same(h.cseq, { seq: 139122385, method: r.method });
    t.equal(h.maxForwards, 255);
    t.equal(fromByteString(h.get("extensionHeader-!.%*+_`'~") ?? ''), '\uFEFF大停電');
    t.equal(m.body.length, 0);
  } },
  esc01: { parse: (t, m) => {
    const r = req(t, m);
    const h = m.headers;
    t.equal(unescapeUri(r.uri.user), 'sips:user@example.com');
    t.equal(r.uri.host, 'example.net');
    t.ok(uriEquals(h.to.uri, parseUri('sip:user@example.com')!), 'To: escaped user equals unescaped');
    t.notOk(uriEquals(h.to.uri, parseUri('sip:User@example.com')!), 'user part stays case-sensitive');
    t.equal(h.from.uri.user, 'I%20have%20spaces');
    // v%61lue%25%34%31 unescapes once to value%41, as does value%2541.
    t.ok(uriEquals(h.contact[0]!.uri, parseUri('sip:caller@host5.example.net;lr;name=value%2541')!), 'Contact: escaped params equal');
    t.notOk(uriEquals(h.contact[0]!.uri, parseUri('sip:caller@host5.example.net;lr;name=valueA')!), 'escapes are decoded once');
    t.equal(h.callId, 'esc01.239409asdfakjkn23onasd0-3234');
    t.equal(h.get('Content-Type'), 'application/sdp', 'compact c');
    t.equal(m.body.length, SDP150);
  } },
  escnull: { parse: (t, m) => {
    const h = m.headers;
    t.equal(h.to.uri.user, 'null-%00-null');
    t.equal(unescapeUri(h.to.uri.user), 'null-\x00-null');
    t.same(h.contact.map((c) => c.uri.user), ['%00', '%00%00']);
    t.equal(h.contentLength, 0);
  } },
  esc02: { parse: (t, m) => {
    const r = req(t, m);
    const h = m.headers;
    t.equal(r.method, 'RE%47IST%45R');
    t.equal(h.cseq.method, 'RE%47IST%45R');
    t.equal(h.to.displayName, '%Z%45');
    t.equal(h.via[0]!.branch, 'z9hG4bK209%fzsnel234');
    t.same(h.contact.map((c) => c.uri.host), ['host1.example.com', 'host3.example.com'], 'C%6Fntact is not Contact');
    t.equal(h.get('C%6Fntact'), '<sip:alias2@host2.example.com>');
  } },
  lwsdisp: { parse: (t, m) => {
    t.equal(m.headers.from.displayName, 'caller');
    t.equal(m.headers.from.uri.user, 'caller');
    t.equal(m.headers.from.params.get('tag'), '323');
  } },
  longreq: { parse: (t, m) => {
    const h = m.headers;
    t.match(h.to.displayName, /^I have a user name of (extreme){10} proportion$/);
    t.equal(h.to.uri.port, 6000);
    t.equal(h.to.uri.params.size, 3);
    t.match(h.from.params.get('tag'), /^12982982982982982982/);
    t.equal(h.via.length, 34);
    t.equal(h.via[33]!.params.get('received'), '192.0.2.5');
    t.match(h.via[33]!.branch, /^verylong(long)+branchvalue$/);
    t.equal(h.contentLength, SDP150);
  } },
  dblreq: { parse: (t, m, r) => {
    t.equal(req(t, m).method, 'REGISTER', 'first message only');
    t.equal(m.headers.callId, 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
    t.equal(m.body.length, 0);
    t.ok(r.consumed < 400, 'the INVITE after it is not consumed');
  } },
  semiuri: { parse: (t, m) => {
    const r = req(t, m);
    t.equal(r.uri.user, 'user;par=u%40example.net');
    t.equal(r.uri.host, 'example.com');
    t.equal(r.uri.params.size, 0);
    t.same(m.headers.getAll('Accept'), ['application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag']);
  } },
  transports: { parse: (t, m) => {
    t.same(m.headers.via.map((v) => v.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
    t.equal(m.headers.callId, 'transports.kijh4akdnaqjkwendsasfdj');
  } },
  mpart01: { parse: (t, m) => {
    t.equal(m.headers.contentLength, 553);
    t.equal(m.body.length, 553);
    t.equal(m.headers.get('Content-Type'), 'multipart/mixed;boundary=7a9cbec02ceef655');
    t.ok(m.body.toString('latin1').endsWith('--7a9cbec02ceef655--\r\n'));
  } },
  unreason: { parse: (t, m) => {
    t.equal(res(t, m).status, 200);
    t.equal(fromByteString(res(t, m).reason), '= 2**3 * 5**2 но сто девяносто девять - простое');
    t.equal(m.body.length, 154);
  } },
  noreason: { parse: (t, m) => {
    t.equal(res(t, m).status, 100);
    t.equal(res(t, m).reason, '');
  } },
  // ---- RFC 4475 §3.1.2: invalid messages ----
  badinv01: { status: 400 },
  clerr: { status: 400 },
  ncl: { status: 400 },
  scalar02: { status: 400 },
  scalarlg: 'discard',
  quotbal: { status: 400 },
  ltgtruri: { status: 400 },
  lwsruri: { status: 400 },
  lwsstart: { status: 400 },
  trws: { parse: (t, m) => t.equal(req(t, m).uri.user, 'remote-target', 'trailing SP tolerated') },
  escruri: { parse: (t, m) => t.equal(req(t, m).uri.headers.get('Route'), '%3Csip:example.com%3E', 'lenient: URI header kept') },
  baddate: { parse: (t, m) => t.equal(m.headers.get('Date'), 'Fri, 01 Jan 2010 16:00:00 EST', 'Date is not interpreted') },
  regbadct: { parse: (t, m) => t.equal(m.headers.contact[0]!.uri.headers.get('Route'), '%3Csip:sip.example.com%3E', 'lenient addr-spec with ?') },
  badaspec: { status: 400 },
  baddn: { status: 400 },
  badvers: { status: 505 },
  mismatch01: { status: 400 },
  mismatch02: { status: 400 },
  bigcode: 'discard',
  // ---- RFC 4475 §3.2 - §3.4 ----
  badbranch: { parse: (t, m) => t.equal(m.headers.via[0]!.branch, 'z9hG4bK') },
  insuf: { status: 400 },
  unkscm: { parse: (t, m) => {
    const r = req(t, m);
    t.equal(r.uri.scheme, 'nobodyknowsthisscheme', 'the UA answers 416 from the scheme');
    t.equal(r.uri.opaque, 'totallyopaquecontent');
  } },
  novelsc: { parse: (t, m) => {
    t.equal(req(t, m).uri.scheme, 'soap.beep');
    t.equal(req(t, m).uri.opaque, '//192.0.2.103:3002');
  } },
  unksm2: { parse: (t, m) => {
    const h = m.headers;
    t.same([h.to.uri.scheme, h.to.uri.opaque], ['isbn', '2983792873']);
    t.same([h.from.uri.scheme, h.from.uri.opaque], ['http', '//www.example.com']);
    t.equal(h.from.params.get('tag'), '3234233');
    t.same([h.contact[0]!.uri.scheme, h.contact[0]!.uri.opaque], ['name', 'John_Smith']);
  } },
  bext01: { parse: (t, m) => {
    t.same(m.headers.getAll('Require'), ['nothingSupportsThis', 'nothingSupportsThisEither'], 'the UA answers 420 from Require');
    t.same(m.headers.getAll('Proxy-Require'), ['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']);
  } },
  invut: { parse: (t, m) => {
    t.equal(m.headers.get('Content-Type'), 'application/unknownformat', 'the UA answers 415 from Content-Type');
    t.equal(m.body.length, 40);
  } },
  regaut01: { parse: (t, m) => {
    const a = m.headers.auth('Authorization');
    t.equal(a.length, 1);
    t.equal(a[0]!.scheme, 'NoOneKnowsThisScheme', 'the UA answers 401 from the scheme');
    t.equal(a[0]!.params.get('opaque-data'), 'here');
  } },
  multi01: { status: 400 },
  mcl01: { status: 400 },
  bcast: 'discard',
  zeromf: { parse: (t, m) => t.equal(m.headers.maxForwards, 0) },
  cparam01: { parse: (t, m) => {
    const c = m.headers.contact[0]!;
    t.equal(c.uri.user, '+19725552222');
    t.equal(c.uri.host, 'gw1.example.net');
    t.equal(c.uri.params.size, 0, 'addr-spec: the parameter belongs to the header');
    t.equal(c.params.get('unknownparam'), null);
  } },
  cparam02: { parse: (t, m) => {
    const c = m.headers.contact[0]!;
    t.equal(c.uri.params.get('unknownparam'), null, 'name-addr: the parameter belongs to the URI');
    t.equal(c.params.size, 0);
  } },
  regescrt: { parse: (t, m) => {
    const c = m.headers.contact[0]!;
    t.equal(c.uri.headers.get('Route'), '%3Csip:sip.example.com%3E');
    t.equal(unescapeUri(c.uri.headers.get('Route')!), '<sip:sip.example.com>');
    t.equal(m.headers.contentLength, 0, 'compact L');
  } },
  sdp01: { parse: (t, m) => t.same(m.headers.getAll('Accept'), ['text/nobodyKnowsThis'], 'the UA answers 406 from Accept') },
  inv2543: { parse: (t, m, r) => {
    const h = m.headers;
    t.equal(h.via[0]!.branch, undefined, 'RFC 2543 peer: no branch');
    t.equal(h.via[0]!.host, 'iftgw.example.com');
    t.equal(h.maxForwards, undefined);
    t.equal(h.contentLength, undefined);
    t.equal(m.body.length, 105, 'no Content-Length over UDP: the rest of the datagram');
    t.equal(r.consumed, 445);
    t.equal(h.recordRoute[0]!.uri.params.get('maddr'), 'ss1.example.com');
    t.equal(h.from.uri.params.get('user'), 'phone');
    t.equal(h.to.params.get('user'), 'phone', 'addr-spec To: ;user=phone is a header parameter');
    t.equal(h.to.uri.params.size, 0);
    t.equal(h.to.uri.user, '+16505552222');
  } },
  // ---- RFC 5118 ----
  'ipv4-mapped-ipv6': { parse: (t, m) => {
    const h = m.headers;
    t.same(h.via.map((v) => [v.host, v.port]), [['[::ffff:192.0.2.10]', 19823], ['[::ffff:192.0.2.2]', undefined]]);
    t.equal(formatUri(h.contact[0]!.uri), 'sip:ted@[::ffff:192.0.2.2]');
    t.equal(m.body.length, 236);
  } },
  'ipv6-bad': { status: 400 },
  'ipv6-bug-abnf-3-colons': { status: 400 },
  'ipv6-correct-abnf-2-colons': { parse: (t, m) => {
    t.equal(req(t, m).uri.host, '[2001:db8::192.0.2.1]');
    t.equal(formatUri(m.headers.to.uri), 'sip:user@[2001:db8::192.0.2.1]');
  } },
  'ipv6-good': { parse: (t, m) => {
    const r = req(t, m);
    t.same([r.uri.host, r.uri.port], ['[2001:db8::10]', undefined]);
    t.equal(formatUri(r.uri), 'sip:[2001:db8::10]');
    t.same([m.headers.via[0]!.host, m.headers.via[0]!.port], ['[2001:db8::9:1]', undefined]);
    t.equal(m.headers.contact[0]!.uri.host, '[2001:db8::1]');
  } },
  'ipv6-in-sdp': { parse: (t, m) => {
    t.equal(req(t, m).uri.host, '[2001:db8::10]');
    t.equal(m.body.length, 241);
  } },
  'mult-ip-in-header': { parse: (t, m) => {
    t.same(m.headers.via.map((v) => [v.transport, v.host, v.port]), [
      ['UDP', '[2001:db8::9:1]', 6050], ['UDP', '192.0.2.1', undefined], ['TCP', '[2001:db8::9:255]', undefined]]);
    t.equal(m.headers.via[2]!.params.get('received'), '192.0.2.200');
  } },
  'mult-ip-in-sdp': { parse: (t, m) => t.equal(m.body.length, 181) },
  'port-ambiguous': { parse: (t, m) => {
    const r = req(t, m);
    t.same([r.uri.host, r.uri.port], ['[2001:db8::10:5070]', undefined], 'no port read from inside the brackets');
  } },
  'port-unambiguous': { parse: (t, m) => {
    const r = req(t, m);
    t.same([r.uri.host, r.uri.port], ['[2001:db8::10]', 5070]);
    t.equal(formatUri(r.uri), 'sip:[2001:db8::10]:5070');
  } },
  'via-received-param-no-delim': { parse: (t, m) => {
    t.equal(m.headers.via[0]!.params.get('received'), '2001:db8::9:255');
    t.equal(m.headers.via[0]!.branch, 'z9hG4bKas3');
  } },
  'via-received-param-with-delim': { parse: (t, m) => {
    t.equal(m.headers.via[0]!.params.get('received'), '[2001:db8::9:255]');
    t.equal(m.headers.via[0]!.branch, 'z9hG4bKas3-111');
  } },
};

const files = corpusFiles();
t.equal(files.length, 61, 'all 49 + 12 corpus files found');

for (const f of files) {
  t.test(`${f.set}/${f.name}`, (t) => {
    const outcome = expected[f.name];
    if (outcome === undefined) {
      t.fail('no expectation for this file');
      t.end();
      return;
    }
    const r = parse(f.bytes);
    if (outcome === 'discard') {
      t.equal(r.ok, false, 'rejected');
      if (!r.ok) {
        t.equal(r.isRequest, false, 'a response');
        t.equal(r.status, undefined, 'no answer: discarded');
      }
    } else if ('status' in outcome) {
      t.equal(r.ok, false, 'rejected');
      if (!r.ok) {
        t.equal(r.isRequest, true);
        t.equal(r.status, outcome.status, r.reason);
        t.ok(r.fields.some((x) => x.name === 'Via'), 'Via recovered so the answer can be built');
        t.ok(r.fields.every((x) => ['Via', 'From', 'To', 'Call-ID', 'CSeq'].includes(x.name)), 'only the fields a response copies');
      }
    } else {
      t.equal(r.ok, true, r.ok ? 'parsed' : `${r.code}: ${r.reason}`);
      if (r.ok) {
        // Every cached and lazy view can be read without throwing.
        const h = r.message.headers;
        t.doesNotThrow(() => [h.via, h.from, h.to, h.callId, h.cseq, h.contact, h.route, h.recordRoute, h.auth('Authorization')]);
        outcome.parse(t, r.message, r);
      }
    }
    t.end();
  });
}
