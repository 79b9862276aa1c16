// Header names (canonical and compact forms), the SipHeaders list and its cached views.
import t from 'tap';
import { MissingHeaderError, SipHeaders, canonicalName, formatVia, knownNameAt, parseAuthInto, parseCSeq, parseViaInto, splitList } from './headers.ts';
import type { AuthHeader, Via } from './message.ts';

t.test('compact forms (RFC 3261 §7.3.3 and extensions)', (t) => {
  const table: Record<string, string> = {
    i: 'Call-ID', m: 'Contact', e: 'Content-Encoding', l: 'Content-Length', c: 'Content-Type', f: 'From', s: 'Subject',
    k: 'Supported', t: 'To', v: 'Via', r: 'Refer-To', b: 'Referred-By', x: 'Session-Expires', u: 'Allow-Events',
    o: 'Event', y: 'Identity', a: 'Accept-Contact', j: 'Reject-Contact', d: 'Request-Disposition',
  };
  for (const [k, v] of Object.entries(table)) {
    t.equal(canonicalName(k), v, k);
    t.equal(canonicalName(k.toUpperCase()), v, k.toUpperCase());
    t.equal(knownNameAt(Buffer.from(k), 0, 1), v);
  }
  t.equal(canonicalName('z'), 'z', 'unknown single letter kept');
  t.end();
});

t.test('canonical capitalisation', (t) => {
  t.equal(canonicalName('call-id'), 'Call-ID');
  t.equal(canonicalName('CSEQ'), 'CSeq');
  t.equal(canonicalName('www-authenticate'), 'WWW-Authenticate');
  t.equal(canonicalName('p-asserted-identity'), 'P-Asserted-Identity');
  t.equal(canonicalName('X-Custom-Thing'), 'X-Custom-Thing', 'unknown names as given');
  const buf = Buffer.from('xxMaX-fOrWaRdSyy');
  t.equal(knownNameAt(buf, 2, 14), 'Max-Forwards');
  t.equal(knownNameAt(buf, 2, 13), undefined);
  // Every known name in its canonical case, lower case, upper case; one octet off is unknown.
  for (const name of ['Accept', 'Call-ID', 'Call-Info', 'Contact', 'Content-Length', 'Content-Type', 'CSeq', 'From', 'To', 'Via',
    'Record-Route', 'P-Asserted-Identity', 'WWW-Authenticate', 'Session-Expires', 'Supported']) {
    for (const spelt of [name, name.toLowerCase(), name.toUpperCase()]) t.equal(knownNameAt(Buffer.from(spelt), 0, spelt.length), name, spelt);
    const last = name.charCodeAt(name.length - 1);
    const off = name.slice(0, -1) + String.fromCharCode(last === 0x2d ? 0x0d : last + 1);
    t.equal(knownNameAt(Buffer.from(off, 'latin1'), 0, off.length), undefined, JSON.stringify(off));
    const cr = name.replace('-', '\r');
    if (cr !== name) t.equal(knownNameAt(Buffer.from(cr, 'latin1'), 0, cr.length), undefined, 'CR is not a dash');
  }
  t.end();
});

t.test('known names: the four-octet comparison and the octet-by-octet one near the end of a buffer agree', (t) => {
  for (const name of ['To', 'Via', 'From', 'CSeq', 'Allow', 'Call-ID', 'Contact', 'Require', 'Max-Forwards', 'Content-Length',
    'Session-Expires', 'WWW-Authenticate', 'P-Asserted-Identity', 'P-Access-Network-Info']) {
    for (const spelt of [name, name.toLowerCase(), name.toUpperCase(), name.replace('-', '_'), name.slice(0, -1) + '\r']) {
      const expected = spelt.toLowerCase() === name.toLowerCase() ? name : undefined;
      // With octets after the name the comparison reads whole words; at the end of the buffer, single octets.
      t.equal(knownNameAt(Buffer.from(spelt + ': x', 'latin1'), 0, spelt.length), expected, `${JSON.stringify(spelt)} in a line`);
      t.equal(knownNameAt(Buffer.from(spelt, 'latin1'), 0, spelt.length), expected, `${JSON.stringify(spelt)} at the end`);
    }
  }
  t.end();
});

t.test('get, getAll, has, set, append, remove', (t) => {
  const h = new SipHeaders([
    { name: 'Via', value: 'SIP/2.0/UDP a;branch=z9hG4bK1' },
    { name: 'X-Thing', value: 'one' },
    { name: 'Supported', value: 'timer, 100rel' },
    { name: 'Supported', value: 'replaces' },
    { name: 'Date', value: 'Sat, 13 Nov 2010 23:29:00 GMT' },
  ]);
  t.equal(h.get('x-thing'), 'one', 'case-insensitive for unknown names');
  t.equal(h.get('k'), 'timer, 100rel', 'compact form lookup');
  t.same(h.getAll('Supported'), ['timer', '100rel', 'replaces'], 'list headers split');
  t.same(h.getAll('Date'), ['Sat, 13 Nov 2010 23:29:00 GMT'], 'non-list headers are not split');
  t.ok(h.has('VIA'));
  t.notOk(h.has('Route'));
  h.set('supported', 'path');
  t.same(h.fields.map((f) => f.name), ['Via', 'X-Thing', 'Supported', 'Date'], 'set replaces in place, canonical name');
  t.equal(h.get('Supported'), 'path');
  h.append('v', 'SIP/2.0/TCP b;branch=z9hG4bK2', { first: true });
  t.same(h.fields.map((f) => f.name)[0], 'Via');
  t.same(h.via.map((v) => v.host), ['b', 'a'], 'new top Via');
  h.append('X-Thing', 'two');
  t.same(h.getAll('X-THING'), ['one', 'two']);
  h.remove('x-thing');
  t.notOk(h.has('X-Thing'));
  t.end();
});

t.test('views are cached and mutations invalidate them', (t) => {
  const h = new SipHeaders([
    { name: 'From', value: '<sip:a@x>;tag=1' },
    { name: 'To', value: '<sip:b@y>' },
    { name: 'Call-ID', value: 'c' },
    { name: 'CSeq', value: '7 INVITE' },
    { name: 'Contact', value: '<sip:a@10.0.0.1>' },
  ]);
  const from = h.from;
  t.equal(h.from, from, 'same object on the second read');
  t.equal(h.to.params.has('tag'), false);
  h.set('To', '<sip:b@y>;tag=99');
  t.equal(h.to.params.get('tag'), '99');
  t.same(h.cseq, { seq: 7, method: 'INVITE' });
  h.set('CSeq', '8 BYE');
  t.same(h.cseq, { seq: 8, method: 'BYE' });
  t.equal(h.contact.length, 1);
  h.append('m', '<sip:a@10.0.0.2>');
  t.equal(h.contact.length, 2);
  t.equal(h.maxForwards, undefined);
  h.set('Max-Forwards', '70');
  t.equal(h.maxForwards, 70);
  h.set('Content-Length', '12');
  t.equal(h.contentLength, 12);
  h.remove('Call-ID');
  t.throws(() => h.callId, MissingHeaderError, 'a mandatory view of a message built without it');
  t.end();
});

t.test('lazy views: malformed reads as empty, never throws', (t) => {
  const h = new SipHeaders([
    { name: 'Route', value: '<sip:p1.example.com;lr>, <sip:p2.example.com;lr>' },
    { name: 'Record-Route', value: '<sip:broken' },
    { name: 'Authorization', value: 'Digest username="bob", realm="atlanta.com", nonce="ea9c8e88df84f1cec4341ae6cbe5a359", uri="sip:bob@biloxi.com", response="dfe56131d1958046689d83306477ecc", qop=auth, nc=00000001, cnonce="0a4f113b", algorithm=MD5' },
    { name: 'WWW-Authenticate', value: 'Digest realm="a", nonce="b", Basic realm="c"' },
    { name: 'Proxy-Authenticate', value: 'Digest realm="a", nonce="unterminated' },
  ]);
  t.same(h.route.map((r) => r.uri.host), ['p1.example.com', 'p2.example.com']);
  t.same(h.recordRoute, []);
  const a = h.auth('Authorization');
  t.equal(a.length, 1);
  t.equal(a[0]!.scheme, 'Digest');
  t.equal(a[0]!.params.get('username'), 'bob');
  t.equal(a[0]!.params.get('uri'), 'sip:bob@biloxi.com');
  t.equal(a[0]!.params.get('nc'), '00000001');
  t.equal(a[0]!.params.get('algorithm'), 'MD5');
  t.same(h.auth('WWW-Authenticate').map((c) => [c.scheme, [...c.params]]), [['Digest', [['realm', 'a'], ['nonce', 'b']]], ['Basic', [['realm', 'c']]]]);
  t.same(h.auth('Proxy-Authenticate'), [], 'malformed credentials read as empty');
  t.same(h.auth('Proxy-Authorization'), []);
  t.end();
});

t.test('Via values', (t) => {
  const out: Via[] = [];
  t.ok(parseViaInto('SIP / 2.0 / udp  host.example.com : 5061 ;branch = z9hG4bKa ;rport;received=192.0.2.1 , SIP/2.0/TLS [2001:db8::1]', out));
  t.same(out.map((v) => [v.protocol, v.transport, v.host, v.port, v.branch]), [
    ['SIP/2.0', 'UDP', 'host.example.com', 5061, 'z9hG4bKa'], ['SIP/2.0', 'TLS', '[2001:db8::1]', undefined, undefined]]);
  t.same([...out[0]!.params], [['branch', 'z9hG4bKa'], ['rport', null], ['received', '192.0.2.1']]);
  t.equal(formatVia(out[0]!), 'SIP/2.0/UDP host.example.com:5061;branch=z9hG4bKa;rport;received=192.0.2.1');
  for (const bad of ['SIP/2.0/UDP', 'SIP/2.0 UDP h', 'SIP/2.0/UDP h;;', 'SIP/2.0/UDP h,,SIP/2.0/UDP g', 'SIP/2.0/UDP h:99999', 'SIP/2.0/UDPh',
    'SIP/2.0/UDP 2001:db8::1', '']) {
    t.notOk(parseViaInto(bad, []), JSON.stringify(bad));
  }
  t.end();
});

t.test('CSeq, lists, credentials', (t) => {
  t.same(parseCSeq(' 0009  INVITE '), { seq: 9, method: 'INVITE' });
  t.equal(parseCSeq('2147483647 ACK')?.seq, 2 ** 31 - 1);
  t.equal(parseCSeq('2147483648 ACK'), undefined, 'must be below 2**31');
  t.equal(parseCSeq('1INVITE'), undefined);
  t.equal(parseCSeq('1 INVITE x'), undefined);
  const items: string[] = [];
  splitList(' a , "b, c" , <sip:x@y;p=1,2>, ,d', items);
  t.same(items, ['a', '"b, c"', '<sip:x@y;p=1,2>', 'd']);
  t.notOk(parseAuthInto('', []));
  const out: AuthHeader[] = [];
  t.ok(parseAuthInto('Digest realm="a\\"b"', out));
  t.equal(out[0]!.params.get('realm'), 'a"b', 'quoted-pair unescaped');
  t.end();
});
