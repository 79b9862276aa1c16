// URIs and name-addrs: parsing, formatting, RFC 3261 §19.1.4 equality.
import t from 'tap';
import { formatNameAddr, formatUri, parseNameAddr, parseNameAddrListInto, parseUri, unescapeUri, uriEquals } from './uri.ts';
import type { NameAddr } from './message.ts';

t.test('sip URI with every part', (t) => {
  const u = parseUri('SIP:alice:secret@Atlanta.COM:5061;Transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
  t.ok(u);
  t.equal(u!.scheme, 'sip');
  t.equal(u!.user, 'alice');
  t.equal(u!.password, 'secret');
  t.equal(u!.host, 'atlanta.com', 'host lower-cased');
  t.equal(u!.port, 5061);
  t.same([...u!.params], [['transport', 'TCP'], ['lr', null], ['maddr', '239.255.255.1']], 'names lower-cased, values kept');
  t.same([...u!.headers], [['subject', 'project%20x'], ['priority', 'urgent']]);
  t.equal(formatUri(u!), 'sip:alice:secret@atlanta.com:5061;transport=TCP;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
  t.end();
});

t.test('hosts: IPv4, IPv6 in brackets, never a port from inside brackets', (t) => {
  t.same(parseUri('sips:1.2.3.4:5')?.host, '1.2.3.4');
  const v6 = parseUri('sip:u@[2001:DB8::10]:5070;transport=udp');
  t.same([v6?.host, v6?.port], ['[2001:db8::10]', 5070]);
  t.equal(formatUri(v6!), 'sip:u@[2001:db8::10]:5070;transport=udp');
  const amb = parseUri('sip:[2001:db8::10:5070]');
  t.same([amb?.host, amb?.port], ['[2001:db8::10:5070]', undefined]);
  t.equal(parseUri('sip:2001:db8::10'), undefined, 'unbracketed IPv6 is rejected');
  t.equal(parseUri('sip:u@[2001:db8:::1]'), undefined, 'three colons are not IPv6');
  t.equal(parseUri('sip:u@[2001:db8::1'), undefined, 'unterminated bracket');
  t.equal(parseUri('sip:u@[::ffff:192.0.2.1]')?.host, '[::ffff:192.0.2.1]');
  t.end();
});

t.test('rejects', (t) => {
  for (const bad of ['', 'sip:', 'sip', ':x', '1sip:a@b', 'sip:a b@c', 'sip:a@b c', 'sip:a@b\tc', 'sip:a@<b>', 'sip:a@b:99999',
    'sip:a@b:5x', 'sip:a@b;;lr', 'sip:a@b;=x', 'sip:@b', 'sip:a@', 'sip:a@b?', 'sip:a@b?=v', 'tel:', 'tel:;x', 'sip:a@b"c',
    'sip:a@b\r\n']) {
    t.equal(parseUri(bad), undefined, JSON.stringify(bad));
  }
  t.end();
});

t.test('tel and other schemes', (t) => {
  const tel = parseUri('tel:+1-201-555-0123;ext=1234;phone-context=example.com');
  t.same([tel?.scheme, tel?.user, tel?.host, tel?.opaque], ['tel', '+1-201-555-0123', '', undefined]);
  t.same([...tel!.params], [['ext', '1234'], ['phone-context', 'example.com']]);
  t.equal(formatUri(tel!), 'tel:+1-201-555-0123;ext=1234;phone-context=example.com');
  const urn = parseUri('URN:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
  t.same([urn?.scheme, urn?.opaque], ['urn', 'uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6']);
  t.equal(formatUri(urn!), 'urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6');
  t.end();
});

t.test('uriEquals: RFC 3261 §19.1.4 examples', (t) => {
  const eq = (a: string, b: string): boolean => uriEquals(parseUri(a)!, parseUri(b)!);
  t.ok(eq('sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'));
  t.ok(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'));
  t.ok(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'));
  t.ok(eq('sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'));
  t.ok(eq('sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com',
    'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com'));
  t.ok(eq('sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x'));
  t.notOk(eq('SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'), 'different usernames');
  t.notOk(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'), 'different ports');
  t.notOk(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'), 'different transports');
  t.notOk(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp'));
  t.notOk(eq('sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting'), 'header component');
  t.notOk(eq('sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4'));
  t.notOk(eq('sip:a@b', 'sips:a@b'), 'scheme');
  t.notOk(eq('sip:a@b;user=phone', 'sip:a@b'), 'user= in one only');
  t.notOk(eq('sip:a@b;maddr=1.2.3.4', 'sip:a@b'), 'maddr in one only');
  t.notOk(eq('sip:a:x@b', 'sip:a@b'), 'password in one only');
  t.ok(eq('sip:[2001:DB8::1]', 'sip:[2001:db8::1]'));
  t.ok(eq('tel:+1-201-555-0123', 'tel:+12015550123'), 'tel: visual separators ignored');
  t.notOk(eq('tel:+12015550123;ext=1', 'tel:+12015550123'));
  t.ok(eq('urn:x:%41', 'urn:x:A'));
  t.end();
});

t.test('unescapeUri', (t) => {
  t.equal(unescapeUri('%41%2a%zz%4'), 'A*%zz%4', 'a % that is no escape stays');
  t.equal(unescapeUri('plain'), 'plain');
  t.end();
});

t.test('name-addr forms', (t) => {
  const q = parseNameAddr('"Alice \\"A\\" \\\\ Smith" <sip:alice@example.com;transport=tcp>;tag=88sja8x;expires=60');
  t.equal(q?.displayName, 'Alice "A" \\ Smith');
  t.equal(q?.uri.params.get('transport'), 'tcp');
  t.same([...q!.params], [['tag', '88sja8x'], ['expires', '60']]);
  const tok = parseNameAddr('Bob  Smith<sip:bob@b.example>');
  t.equal(tok?.displayName, 'Bob  Smith', 'token display name kept as received');
  const spec = parseNameAddr('sip:carol@c.example;tag=x;lr');
  t.same([spec?.displayName, spec?.uri.params.size, spec?.params.get('tag'), spec?.params.get('lr')], [undefined, 0, 'x', null]);
  const quotedParam = parseNameAddr('<sip:d@e>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"');
  t.equal(quotedParam?.params.get('+sip.instance'), '"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"', 'quoted value kept with quotes');
  for (const bad of ['"unterminated <sip:a@b>', 'Bell, Alexander <sip:a@b>', '< sip:a@b >', '<sip:a@b', 'sip:a@b;', 'sip:a@b;;x',
    '"x" sip:a@b', '<sip:a@b>;tag=', '<sip:a@b> junk', '']) {
    t.equal(parseNameAddr(bad), undefined, JSON.stringify(bad));
  }
  t.end();
});

t.test('name-addr lists and the Contact wildcard', (t) => {
  const out: NameAddr[] = [];
  t.ok(parseNameAddrListInto('<sip:a@x>;q=0.5, "B, the second" <sip:b@y> ,sip:c@z;expires=0', out));
  t.same(out.map((n) => [n.displayName, n.uri.user, [...n.params]]), [
    [undefined, 'a', [['q', '0.5']]], ['B, the second', 'b', []], [undefined, 'c', [['expires', '0']]]]);
  const star: NameAddr[] = [];
  t.ok(parseNameAddrListInto('*', star));
  t.same([star[0]?.uri.host, star[0]?.uri.scheme, formatUri(star[0]!.uri)], ['*', '', '*']);
  const starName: NameAddr[] = [];
  t.ok(parseNameAddrListInto('*a a <sip:a@b>', starName));
  t.same([starName[0]?.displayName, starName[0]?.uri.host], ['*a a', 'b'], 'a display name may start with *');
  t.notOk(parseNameAddrListInto('*;expires=0', []), 'the wildcard takes no parameters');
  t.notOk(parseNameAddrListInto('<sip:a@x>,,<sip:b@y>', []), 'empty element');
  t.notOk(parseNameAddrListInto('<sip:a@x>,', []), 'trailing comma');
  t.end();
});

t.test('formatNameAddr round-trips', (t) => {
  for (const text of ['"Alice \\"A\\"" <sip:alice@example.com>;tag=1', 'Bob <sip:bob@[2001:db8::1]:5060;lr>', '<tel:+4989123;phone-context=x>;q=1',
    '"" <sip:x@y>', '<urn:uuid:123>']) {
    const na = parseNameAddr(text)!;
    t.ok(na, text);
    t.same(parseNameAddr(formatNameAddr(na)), na, text);
  }
  t.equal(formatNameAddr(parseNameAddr('sip:a@b;tag=t')!), '<sip:a@b>;tag=t', 'the URI always goes in <>');
  t.end();
});

t.test('parsed parameters are built on first use and behave as a Map', (t) => {
  const u = parseUri('sip:a@b;Transport=TCP;lr;x=1;x=2?h=v&k=w')!;
  t.ok(u.params instanceof Map, 'instanceof Map');
  t.equal(Object.prototype.toString.call(u.params), '[object Map]');
  t.equal(u.params.size, 3, 'a repeated name keeps one entry');
  t.same([...u.params], [['transport', 'TCP'], ['lr', null], ['x', '2']], 'as Map#set would leave them');
  t.same([...u.params.keys()], ['transport', 'lr', 'x']);
  t.same([...u.params.values()], ['TCP', null, '2']);
  t.same([...new Map(u.params)], [...u.params.entries()], 'new Map(params) copies it');
  const seen: [string, string | null][] = [];
  u.params.forEach((v, k, m) => {
    seen.push([k, v]);
    t.equal(m, u.params, 'forEach passes the map itself');
  });
  t.same(seen, [['transport', 'TCP'], ['lr', null], ['x', '2']]);
  t.same([...u.headers], [['h', 'v'], ['k', 'w']]);

  // Written before it was ever read: the parsed entries are still there.
  const w = parseUri('sip:a@b;lr;maddr=x')!;
  t.equal(w.params.set('received', '192.0.2.1'), w.params, 'set returns the map');
  t.same([...w.params], [['lr', null], ['maddr', 'x'], ['received', '192.0.2.1']]);
  t.equal(w.params.delete('lr'), true);
  t.equal(w.params.has('lr'), false);
  t.equal(w.params.get('maddr'), 'x');
  w.params.clear();
  t.equal(w.params.size, 0);
  const empty = parseUri('sip:b')!;
  t.equal(empty.headers.size, 0);
  empty.headers.set('subject', 'x');
  t.equal(formatUri(empty), 'sip:b?subject=x', 'URI headers written to are formatted');
  t.end();
});

t.test('Contact list parameters (built on first use) equal those parsed at once', (t) => {
  const text = '"A" <sip:a@x;transport=tcp>;expires=60;q=0.5;+sip.instance="<urn:x>", <sip:b@y>;Expires=0';
  const out: NameAddr[] = [];
  t.ok(parseNameAddrListInto(text, out));
  const eager = [parseNameAddr('"A" <sip:a@x;transport=tcp>;expires=60;q=0.5;+sip.instance="<urn:x>"')!, parseNameAddr('<sip:b@y>;Expires=0')!];
  t.same(out.map((n) => [[...n.params], [...n.uri.params]]), eager.map((n) => [[...n.params], [...n.uri.params]]));
  t.equal(out[0]!.params.get('+sip.instance'), '"<urn:x>"', 'quoted value kept with its quotes');
  t.end();
});
