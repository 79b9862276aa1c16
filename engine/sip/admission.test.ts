/**
 * Per-source admission (issue 11): the token buckets alone on an injected clock (with a
 * fast-check property that a source under its rate is never dropped), then inside the
 * transaction layer (a dropped request gets no answer and creates no transaction), then a real
 * UserAgent on loopback (a live call's BYE passes while its source floods INVITEs).
 */
import t from 'tap';
import dgram from 'node:dgram';
import fc from 'fast-check';
import {
  SourceAdmission, sourceKey, TransactionLayer, TransportLayer, UserAgent, parse,
  type AdmissionLimits, type SipRequest, type SipResponse,
} from './index.ts';
import { FakeTransport } from './testing/fake-transport.ts';
import { FakeClock } from '../clock/index.ts';
import { arrival, peerRequest } from './testing/transaction-harness.ts';

const A = '192.0.2.10';
const B = '198.51.100.20';

function limiter(limits: Partial<AdmissionLimits> = {}, extra: { ceilingFor?: (a: string) => { invitesPerSecond: number } | undefined } = {}) {
  let now = 0;
  const logs: Array<Record<string, unknown>> = [];
  const admission = new SourceAdmission({
    limits, now: () => now, ...extra,
    logger: { warn: (obj) => logs.push(obj as Record<string, unknown>) },
  });
  return { admission, logs, advance: (ms: number) => { now += ms; }, at: () => now };
}

t.test('a burst is admitted, the next request dropped, a token refilled at the rate', async (t) => {
  const l = limiter({ invitesPerSecond: 2, inviteBurst: 3 });
  for (let i = 0; i < 3; i++) t.equal(l.admission.admit(A, 'INVITE'), 'admit', `INVITE ${i + 1} of the burst`);
  t.equal(l.admission.admit(A, 'INVITE'), 'invite', 'the fourth is over the INVITE bucket');
  t.equal(l.admission.admit(A, 'OPTIONS'), 'admit', 'an OPTIONS from the same source still passes (its own bucket)');
  l.advance(499);
  t.equal(l.admission.admit(A, 'INVITE'), 'invite', 'not yet a whole token after 499 ms at 2/s');
  l.advance(1);
  t.equal(l.admission.admit(A, 'INVITE'), 'admit', 'one token after 500 ms');
  t.same(l.admission.droppedCounts(), { request: 0, invite: 2, register: 0, blocked: 0 });
});

t.test('REGISTER has its own bucket; every method shares the request bucket', async (t) => {
  const l = limiter({ registerBurst: 2, registersPerSecond: 1, requestBurst: 5, requestsPerSecond: 1 });
  t.equal(l.admission.admit(A, 'REGISTER'), 'admit');
  t.equal(l.admission.admit(A, 'REGISTER'), 'admit');
  t.equal(l.admission.admit(A, 'REGISTER'), 'register', 'third REGISTER over its bucket');
  t.equal(l.admission.admit(A, 'MESSAGE'), 'admit');
  t.equal(l.admission.admit(A, 'INFO'), 'admit');
  t.equal(l.admission.admit(A, 'INVITE'), 'admit', 'five requests admitted (a dropped one took no token)');
  t.equal(l.admission.admit(A, 'OPTIONS'), 'request', 'the sixth is over the request bucket');
});

t.test('property: a source sending at or under its rates is never dropped, whatever another source does', async (t) => {
  const limits = { requestsPerSecond: 20, requestBurst: 40, invitesPerSecond: 5, inviteBurst: 10, registersPerSecond: 1, registerBurst: 5 };
  // The paced source spaces each method at its own rate and the whole stream at the request
  // rate: the gap before a request is at least 1/rate of every bucket it draws from.
  const step = fc.record({
    method: fc.constantFrom('INVITE', 'REGISTER', 'OPTIONS', 'MESSAGE'),
    slack: fc.integer({ min: 0, max: 400 }),
    flood: fc.integer({ min: 0, max: 30 }),
  });
  fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 300 }), (steps) => {
    const l = limiter(limits);
    const lastOf = new Map<string, number>();
    let lastAny = -Infinity;
    for (const s of steps) {
      const own = s.method === 'INVITE' ? 1000 / limits.invitesPerSecond : s.method === 'REGISTER' ? 1000 / limits.registersPerSecond : 0;
      const due = Math.max(lastAny + 1000 / limits.requestsPerSecond, (lastOf.get(s.method) ?? -Infinity) + own, l.at());
      l.advance(due - l.at() + s.slack);
      for (let i = 0; i < s.flood; i++) l.admission.admit(B, 'INVITE');
      if (l.admission.admit(A, s.method) !== 'admit') return false;
      lastAny = l.at();
      lastOf.set(s.method, l.at());
    }
    return !l.admission.isBlocked(A);
  }), { numRuns: 300 });
  t.pass('held for every generated sequence');
});

t.test('a source that keeps exceeding is blocked for blockMs, logged once, then unblocked', async (t) => {
  const l = limiter({ invitesPerSecond: 1, inviteBurst: 1, blockAfterDrops: 5, blockWindowMs: 10_000, blockMs: 60_000 });
  t.equal(l.admission.admit(A, 'INVITE'), 'admit');
  for (let i = 0; i < 5; i++) t.equal(l.admission.admit(A, 'INVITE'), 'invite', `drop ${i + 1}`);
  t.ok(l.admission.isBlocked(A), 'blocked after 5 drops within the window');
  t.equal(l.admission.blockedCount(), 1, 'the gauge counts it');
  t.equal(l.logs.length, 1, 'one log line for the newly blocked source');
  t.match(l.logs[0], { source: A, blockSeconds: 60 });
  l.advance(5_000);
  t.equal(l.admission.admit(A, 'OPTIONS'), 'blocked', 'every method is dropped while blocked, even with tokens');
  t.equal(l.admission.admit(B, 'INVITE'), 'admit', 'another source keeps full service');
  t.equal(l.logs.length, 1, 'no more log lines while blocked');
  l.advance(55_000);
  t.notOk(l.admission.isBlocked(A), 'unblocked after blockMs');
  t.equal(l.admission.blockedCount(), 0);
  t.equal(l.admission.admit(A, 'INVITE'), 'admit', 'admitted again');
  t.equal(l.admission.blocksTotal, 1);
});

t.test('drops spread wider than the window never block', async (t) => {
  const l = limiter({ invitesPerSecond: 0.001, inviteBurst: 1, blockAfterDrops: 3, blockWindowMs: 1_000 });
  l.admission.admit(A, 'INVITE');
  for (let i = 0; i < 10; i++) {
    t.equal(l.admission.admit(A, 'INVITE'), 'invite');
    t.equal(l.admission.admit(A, 'INVITE'), 'invite');
    l.advance(1_000);
  }
  t.notOk(l.admission.isBlocked(A), 'two drops per window stay under three');
});

t.test('a trunk address gets its contracted cps as INVITE limit (C6) and is limited, not blocked', async (t) => {
  const trunk = '203.0.113.5';
  const l = limiter({ invitesPerSecond: 1, inviteBurst: 1, requestsPerSecond: 1, requestBurst: 1, blockAfterDrops: 3 }, {
    ceilingFor: (a) => (a === trunk ? { invitesPerSecond: 30 } : undefined),
  });
  let admitted = 0;
  for (let i = 0; i < 100; i++) if (l.admission.admit(trunk, 'INVITE') === 'admit') admitted++;
  t.equal(admitted, 60, 'a burst of two seconds of its 30 cps');
  t.notOk(l.admission.isBlocked(trunk), 'over its ceiling, but a trunk is not blocked by default');
  l.advance(1_000);
  admitted = 0;
  for (let i = 0; i < 100; i++) if (l.admission.admit(trunk, 'INVITE') === 'admit') admitted++;
  t.equal(admitted, 30, '30 more after a second');
  t.equal(l.admission.admit(A, 'INVITE'), 'admit');
  t.equal(l.admission.admit(A, 'INVITE'), 'request', 'other sources keep the defaults (their request bucket of 1)');

  const strict = limiter({ blockAfterDrops: 3, blockTrunkSources: true }, { ceilingFor: () => ({ invitesPerSecond: 1 }) });
  for (let i = 0; i < 5; i++) strict.admission.admit(trunk, 'INVITE');
  t.ok(strict.admission.isBlocked(trunk), 'blockTrunkSources: true blocks a trunk too');
});

t.test('exempt addresses are never limited', async (t) => {
  const admission = new SourceAdmission({ now: () => 0, limits: { requestBurst: 1, requestsPerSecond: 0.001 }, exempt: [A] });
  let dropped = 0;
  for (let i = 0; i < 1000; i++) if (admission.admit(A, 'INVITE') !== 'admit') dropped++;
  t.equal(dropped, 0, 'none of 1000 dropped');
  t.equal(admission.sourceCount, 0, 'no state kept for it');
  t.equal(admission.admit(B, 'INVITE'), 'admit');
  t.equal(admission.admit(B, 'INVITE'), 'request', 'another source is limited');
});

t.test('memory is bounded: a forged-source flood evicts old states, blocks are kept apart', async (t) => {
  const l = limiter({ maxSources: 1000, maxBlockedSources: 100, invitesPerSecond: 1, inviteBurst: 1, blockAfterDrops: 2 });
  l.admission.admit(A, 'INVITE');
  l.admission.admit(A, 'INVITE');
  l.admission.admit(A, 'INVITE');
  t.ok(l.admission.isBlocked(A));
  for (let i = 0; i < 100_000; i++) l.admission.admit(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'INVITE');
  t.equal(l.admission.sourceCount, 1000, 'bucket states capped at maxSources');
  t.ok(l.admission.isBlocked(A), 'the blocked source stays blocked through the flood');
});

// ---- in the transaction layer --------------------------------------------------------------

t.test('transaction layer: a request over the limit gets no answer and creates no transaction', async (t) => {
  const clock = new FakeClock();
  const transport = new FakeTransport({ clock });
  const admission = new SourceAdmission({ now: () => clock.now(), limits: { invitesPerSecond: 1, inviteBurst: 2 } });
  const requests: SipRequest[] = [];
  const layer = new TransactionLayer(transport, {
    onRequest: (_tx, request) => { requests.push(request); },
    onAckFor2xx() {}, onCancel() {}, onServerFailure() {},
  }, { clock, admission });
  t.teardown(() => layer.close());
  for (let i = 0; i < 10; i++) layer.onMessage(arrival(peerRequest({ branch: `z9hG4bKflood${i}`, callId: `c${i}` })));
  t.equal(requests.length, 2, 'the burst reached the TU');
  t.equal(layer.serverCount, 2, 'no transaction for the 8 dropped');
  t.same(transport.sent, [], 'nothing sent: no 503, no 403');
  layer.onMessage(arrival(peerRequest({ branch: 'z9hG4bKflood0', callId: 'c0' })));
  t.equal(admission.droppedCounts().invite, 8, 'a retransmission of an admitted INVITE is absorbed, not charged');
  layer.onMessage(arrival(peerRequest({ method: 'CANCEL', branch: 'z9hG4bKflood1', callId: 'c1' })));
  t.equal(transport.responses(487).length + transport.responses(200).length, 1, 'a CANCEL of a live INVITE passes, over the limit');
});

// ---- a real UserAgent on loopback ------------------------------------------------------------

t.test('UA on loopback: a BYE of a live call passes while its source floods INVITEs; another source is served', async (t) => {
  const transport = new TransportLayer();
  const end = await transport.listen({ transport: 'UDP', address: '127.0.0.1', port: 0 });
  const admission = new SourceAdmission({ now: () => performance.now(), limits: { invitesPerSecond: 0.001, inviteBurst: 1, requestsPerSecond: 0.001, requestBurst: 2, blockAfterDrops: 10 } });
  const ua = new UserAgent(transport, { admission });
  const byes: string[] = [];
  ua.setDelegate({ onInvite: (inv) => { inv.accept({ delegate: { onBye: (d) => byes.push(d.callId) } }); } });
  const peer = dgram.createSocket('udp4');
  const other = dgram.createSocket('udp4');
  t.teardown(async () => { peer.close(); other.close(); ua.close(); await transport.close(); });
  await new Promise<void>((r) => peer.bind(0, '127.0.0.2', () => r()));
  await new Promise<void>((r) => other.bind(0, '127.0.0.3', () => r()));
  const replies: SipResponse[] = [];
  const otherReplies: SipResponse[] = [];
  const collect = (into: SipResponse[]) => (b: Buffer): void => {
    const r = parse(b);
    if (r.ok && r.message.kind === 'response') into.push(r.message);
  };
  peer.on('message', collect(replies));
  other.on('message', collect(otherReplies));
  const invite = (host: string, port: number, callId: string): string =>
    `INVITE sip:q@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${host}:${port};branch=z9hG4bK${callId}\r\nMax-Forwards: 70\r\n` +
    `From: <sip:c@x>;tag=f${callId}\r\nTo: <sip:q@x>\r\nCall-ID: ${callId}\r\nCSeq: 1 INVITE\r\nContact: <sip:c@${host}:${port}>\r\nContent-Length: 0\r\n\r\n`;
  const wait = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  };
  const pPort = peer.address().port;
  peer.send(invite('127.0.0.2', pPort, 'live'), end.port, '127.0.0.1');
  await wait(() => replies.some((r) => r.status === 200));
  const ok = replies.find((r) => r.status === 200)!;
  t.ok(ok, 'the first call is answered');
  const ack = `ACK sip:onair@127.0.0.1:${end.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:${pPort};branch=z9hG4bKack\r\nMax-Forwards: 70\r\n` +
    `From: <sip:c@x>;tag=flive\r\nTo: ${ok.headers.get('To')}\r\nCall-ID: live\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n`;
  peer.send(ack, end.port, '127.0.0.1');
  for (let i = 0; i < 50; i++) peer.send(invite('127.0.0.2', pPort, `flood${i}`), end.port, '127.0.0.1');
  const bye = `BYE sip:onair@127.0.0.1:${end.port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:${pPort};branch=z9hG4bKbye\r\nMax-Forwards: 70\r\n` +
    `From: <sip:c@x>;tag=flive\r\nTo: ${ok.headers.get('To')}\r\nCall-ID: live\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n`;
  await wait(() => admission.isBlocked('127.0.0.2'));
  t.ok(admission.isBlocked('127.0.0.2'), 'the flooding source is blocked');
  peer.send(bye, end.port, '127.0.0.1');
  other.send(invite('127.0.0.3', other.address().port, 'other'), end.port, '127.0.0.1');
  await wait(() => byes.length > 0 && otherReplies.some((r) => r.status === 200));
  t.same(byes, ['live'], 'the BYE of the live call reached the TU');
  t.ok(replies.some((r) => r.status === 200 && r.headers.cseq.method === 'BYE'), 'and was answered 200');
  t.equal(replies.filter((r) => r.headers.cseq.method === 'INVITE' && r.headers.callId !== 'live').length, 0, 'the flood got no answer at all');
  t.ok(otherReplies.some((r) => r.status === 200 && r.headers.callId === 'other'), 'another source is served');
});

t.test('IPv6 sources are limited per /64: a host rotating through its prefix shares one bucket and one block', async (t) => {
  const l = limiter({ invitesPerSecond: 1, inviteBurst: 3, blockAfterDrops: 5, blockWindowMs: 10_000, blockMs: 60_000 });
  // Every INVITE from a new address of 2001:db8:1:2::/64, as a flooder choosing a fresh one per packet would.
  const verdicts = Array.from({ length: 10 }, (_, i) => l.admission.admit(`2001:db8:1:2:${(i + 1).toString(16)}::${i}`, 'INVITE'));
  t.same(verdicts.slice(0, 3), ['admit', 'admit', 'admit'], 'the burst of the /64');
  t.same(verdicts.slice(3, 8), ['invite', 'invite', 'invite', 'invite', 'invite'], 'then over the /64 INVITE bucket');
  t.same(verdicts.slice(8), ['blocked', 'blocked'], 'the fifth drop blocked the whole /64');
  t.ok(l.admission.isBlocked('2001:db8:1:2:ffff:ffff:ffff:ffff'), 'another address of the prefix is blocked too');
  t.equal(l.admission.admit('2001:db8:1:3::1', 'INVITE'), 'admit', 'the neighbouring /64 is another source');
  t.equal(l.admission.sourceCount, 2, 'two bucket states, not one per address');
  t.match(l.logs[0], { source: '2001:0db8:0001:0002:0000:0000:0000:0000:/64' }, 'the log line names the prefix');
});

t.test('sourceKey: one key per prefix whatever the spelling; IPv4 and IPv4-mapped as the IPv4 address', async (t) => {
  t.equal(sourceKey('192.0.2.1', 64), '192.0.2.1');
  t.equal(sourceKey('::ffff:192.0.2.1', 64), '192.0.2.1', 'IPv4-mapped counts as its IPv4 source');
  t.equal(sourceKey('2001:db8::1', 64), sourceKey('2001:0DB8:0:0:0:0:0:2', 64), 'compressed, upper case, full: one /64');
  t.equal(sourceKey('fe80::1%eth0', 64), sourceKey('fe80::2', 64), 'the zone id is not part of the source');
  t.equal(sourceKey('2001:db8::1', 128), '2001:0db8:0000:0000:0000:0000:0000:0001:/128', '/128 keeps the whole address');
  t.not(sourceKey('2001:db8:0:0:8000::', 65), sourceKey('2001:db8::', 65), 'a /65 splits on its 65th bit');
  t.equal(sourceKey('2001:db8:0:0:7fff::', 65), sourceKey('2001:db8::', 65));
  for (const bad of ['1:2:3', 'zz::1', '1::2::3', '1:2:3:4:5:6:7:8:9', '::1.2.3.400', '12345::']) {
    t.equal(sourceKey(bad, 64), bad, `${bad}: not an address, kept as it is (limits only itself)`);
  }
  // Property: the key agrees with the prefix as Node's own parser sees it (BlockList subnets).
  const { BlockList } = await import('node:net');
  fc.assert(fc.property(fc.ipV6(), fc.ipV6(), fc.integer({ min: 16, max: 128 }), (a, b, bits) => {
    const list = new BlockList();
    list.addSubnet(a, bits, 'ipv6');
    const mappedV4 = (x: string) => sourceKey(x, bits).indexOf(':') < 0;
    if (mappedV4(a) || mappedV4(b)) return true;
    return (sourceKey(a, bits) === sourceKey(b, bits)) === list.check(b, 'ipv6');
  }), { numRuns: 2000 });
});
