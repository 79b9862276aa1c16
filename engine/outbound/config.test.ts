/**
 * The `outbound` configuration section: defaults, what the schema refuses (addresses the dialer
 * could not reach, half credentials) and the cross-field checks (duplicate ids, a transport with
 * no socket to send from). Addresses are parsed by the same function the dialer uses.
 */
import t from 'tap';
import { parseConfig } from '../config/index.ts';
import { parseTrunkAddress } from './index.ts';

function errorsOf(outbound: unknown, extra: Record<string, unknown> = {}): string[] {
  const r = parseConfig({ outbound, ...extra } as never, { env: {} });
  return r.ok ? [] : r.errors;
}

t.test('defaults', async (t) => {
  const r = parseConfig({}, { env: {} });
  if (!r.ok) throw new Error(r.errors.join('; '));
  t.same(r.config.outbound, { trunks: [], numbering: { countryCode: '86', nationalPrefix: '0', internationalPrefix: '00', format: 'national' } });
  const one = parseConfig({ outbound: { trunks: [{ id: 'a', address: '127.0.0.1:5070', callerId: 4008001234 }] } } as never, { env: {} });
  if (!one.ok) throw new Error(one.errors.join('; '));
  t.same(one.config.outbound.trunks[0], {
    id: 'a', address: '127.0.0.1:5070', transport: 'udp', username: null, password: null, domain: null, callerId: '4008001234',
    maxConcurrent: 30, callsPerSecond: 5, ringTimeoutSeconds: 30,
  }, 'every field filled; a YAML number as caller id is taken as its digits');
});

t.test('refused', async (t) => {
  const trunk = { id: 'a', address: '127.0.0.1:5070', callerId: '1' };
  const cases: [string, unknown, RegExp][] = [
    ['a host name (no DNS)', { trunks: [{ ...trunk, address: 'carrier.example:5060' }] }, /outbound\.trunks\[0\]\.address: expected host:port with an IP literal/],
    ['port 0', { trunks: [{ ...trunk, address: '127.0.0.1:0' }] }, /address/],
    ['user without password', { trunks: [{ ...trunk, username: 'u' }] }, /outbound\.trunks\[0\]\.password: username and password go together/],
    ['caller id with letters', { trunks: [{ ...trunk, callerId: 'ACME' }] }, /callerId/],
    ['ring timeout above the INVITE guard', { trunks: [{ ...trunk, ringTimeoutSeconds: 200 }] }, /ringTimeoutSeconds/],
    ['country code 0', { numbering: { countryCode: '049' } }, /countryCode/],
    ['duplicate trunk id', { trunks: [trunk, trunk] }, /outbound\.trunks\[1\]\.id: duplicate outbound trunk id 'a'/],
    ['tls without a tls socket', { trunks: [{ ...trunk, transport: 'tls' }] }, /outbound\.trunks\[0\]\.transport: no sip\.listen socket of transport tls/],
  ];
  for (const [what, outbound, expected] of cases) t.match(errorsOf(outbound).join('\n'), expected, what);
});

t.test('trunk addresses', async (t) => {
  t.same(parseTrunkAddress('127.0.0.1:5070'), { host: '127.0.0.1', address: '127.0.0.1', port: 5070 });
  t.same(parseTrunkAddress('192.0.2.7'), { host: '192.0.2.7', address: '192.0.2.7', port: undefined });
  t.same(parseTrunkAddress('[2001:db8::1]:5060'), { host: '[2001:db8::1]', address: '2001:db8::1', port: 5060 });
  t.same(parseTrunkAddress('[::1]'), { host: '[::1]', address: '::1', port: undefined });
  for (const bad of ['', 'localhost:5060', '2001:db8::1', '[2001:db8::1', '[127.0.0.1]:5060', '1.2.3.4:', '1.2.3.4:65536', '1.2.3.4:50x0', '1.2.3.4:5060:1', '999.1.1.1']) {
    t.equal(parseTrunkAddress(bad), undefined, JSON.stringify(bad));
  }
});
