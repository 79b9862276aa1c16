/**
 * Address parsing and CIDR matching: hand-picked forms, malformed input, longest-prefix choice,
 * and properties against oracles (arithmetic for IPv4, the WHATWG URL parser for IPv6 text).
 */
import t from 'tap';
import fc from 'fast-check';
import { CidrMatcher, isIpAddress, parseAddressInto } from './cidr.ts';

function words(text: string): number[] | undefined {
  const out = new Uint32Array(4);
  return parseAddressInto(text, out) === 0 ? undefined : [...out];
}

t.test('address forms', async (t) => {
  t.same(words('10.1.2.3'), [0, 0, 0xffff, 0x0a010203]);
  t.same(words('::ffff:10.1.2.3'), [0, 0, 0xffff, 0x0a010203], 'IPv4-mapped is the same address');
  t.same(words('2001:db8::1'), [0x20010db8, 0, 0, 1]);
  t.same(words('[2001:DB8::1]'), [0x20010db8, 0, 0, 1], 'brackets and upper case');
  t.same(words('fe80::1%eth0'), [0xfe800000, 0, 0, 1], 'zone id ignored');
  t.same(words('::'), [0, 0, 0, 0]);
  t.same(words('::1'), [0, 0, 0, 1]);
  t.same(words('1::'), [0x00010000, 0, 0, 0]);
  t.same(words('1:2:3:4:5:6:7:8'), [0x00010002, 0x00030004, 0x00050006, 0x00070008]);
  t.same(words('1:2:3:4:5:6:1.2.3.4'), [0x00010002, 0x00030004, 0x00050006, 0x01020304]);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.', '01234.1.1.1', 'a.b.c.d', '1:2', ':1', '1:', '1:::2',
    '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '[1.2.3.4]', '1:2:3:4:5:6:7:1.2.3.4', 'localhost', '1.2.3.4 ']) {
    t.equal(words(bad), undefined, `rejects ${JSON.stringify(bad)}`);
  }
  t.equal(isIpAddress('192.0.2.1'), true);
  t.equal(isIpAddress('carrier.example'), false);
});

t.test('matching: v4, v6, longest prefix, host bits, /0', async (t) => {
  const m = new CidrMatcher([
    { cidr: '10.0.0.0/8', value: 'wide' },
    { cidr: '10.1.0.0/16', value: 'narrow' },
    { cidr: '192.0.2.7', value: 'host' },
    { cidr: '2001:db8::/32', value: 'v6' },
    { cidr: '2001:db8:1::/48', value: 'v6-narrow' },
    { cidr: '172.16.5.9/12', value: 'hostbits' },
  ]);
  t.equal(m.match('10.2.3.4'), 'wide');
  t.equal(m.match('10.1.3.4'), 'narrow', 'longest prefix wins whatever the order');
  t.equal(m.match('::ffff:10.1.3.4'), 'narrow', 'mapped form');
  t.equal(m.match('192.0.2.7'), 'host');
  t.equal(m.match('192.0.2.8'), undefined);
  t.equal(m.match('2001:db8:ffff::1'), 'v6');
  t.equal(m.match('2001:db8:1:2::3'), 'v6-narrow');
  t.equal(m.match('2001:db9::1'), undefined);
  t.equal(m.match('172.31.255.255'), 'hostbits', 'host bits in a rule are masked off');
  t.equal(m.match('11.0.0.1'), undefined);
  t.equal(m.match('not an address'), undefined);
  const all = new CidrMatcher([{ cidr: '0.0.0.0/0', value: 'any4' }, { cidr: '::/0', value: 'any' }]);
  t.equal(all.match('203.0.113.9'), 'any4', 'v4 /0 is the mapped range, more specific than ::/0');
  t.equal(all.match('2001:db8::9'), 'any');
  const tie = new CidrMatcher([{ cidr: '10.0.0.0/8', value: 'first' }, { cidr: '10.0.0.0/8', value: 'second' }]);
  t.equal(tie.match('10.0.0.1'), 'first', 'the first configured among equals');
});

t.test('malformed rules are configuration errors', async (t) => {
  for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/x', 'carrier.example/24', '::1/-1']) {
    t.throws(() => new CidrMatcher([{ cidr: bad, value: 1 }]), { code: 'TRUNK_ERR_CIDR', name: 'CidrError' }, bad);
  }
});

t.test('property: IPv4 membership equals prefix arithmetic', async () => {
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
  const toInt = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  fc.assert(fc.property(v4, v4, fc.integer({ min: 0, max: 32 }), (net, addr, len) => {
    const m = new CidrMatcher([{ cidr: `${net}/${len}`, value: true }]);
    const shift = 32 - len;
    const expected = len === 0 || Math.floor(toInt(net) / 2 ** shift) === Math.floor(toInt(addr) / 2 ** shift);
    return (m.match(addr) === true) === expected;
  }), { numRuns: 2000 });
});

t.test('property: IPv6 text in any compression parses like its full form', async () => {
  const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
  fc.assert(fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (g) => {
    const full = g.map((x) => x.toString(16)).join(':');
    const compressed = new URL(`http://[${full}]/`).hostname; // WHATWG canonical form, with ::
    const a = words(full);
    const b = words(compressed);
    const expected = [0, 1, 2, 3].map((w) => ((g[2 * w]! << 16) | g[2 * w + 1]!) >>> 0);
    return a !== undefined && b !== undefined && a.join() === expected.join() && b.join() === expected.join();
  }), { numRuns: 2000 });
});
