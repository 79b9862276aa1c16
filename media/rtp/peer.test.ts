import t from 'tap';
import { LatchingPeer, RtpTimeout } from './index.ts';

t.test('latches to the first source, drops others', async (t) => {
  const p = new LatchingPeer('10.0.0.5', 4000);
  t.equal(p.address, '10.0.0.5', 'send to the SDP address before any packet');
  t.equal(p.port, 4000);
  t.ok(p.accept('203.0.113.9', 61002, 0), 'first packet latches');
  t.ok(p.latched);
  t.equal(p.address, '203.0.113.9');
  t.equal(p.port, 61002);
  t.ok(p.accept('203.0.113.9', 61002, 20));
  t.notOk(p.accept('198.51.100.1', 61002, 40), 'other address');
  t.notOk(p.accept('203.0.113.9', 61004, 60), 'other port');
  t.equal(p.dropped, 2);
  t.equal(p.address, '203.0.113.9', 'still latched');
});

t.test('re-latches only after the latched source went silent', async (t) => {
  const p = new LatchingPeer('10.0.0.5', 4000, { relatchAfterMs: 1000 });
  p.accept('a', 1, 0);
  t.notOk(p.accept('b', 2, 999));
  t.ok(p.accept('b', 2, 1000), 'a silent for 1 s: b takes over');
  t.equal(p.address, 'b');
  t.notOk(p.accept('a', 1, 1010));
  const never = new LatchingPeer('x', 1, { relatchAfterMs: 0 });
  never.accept('a', 1, 0);
  t.notOk(never.accept('b', 2, 1e9), 'relatchAfterMs 0 never re-latches');
});

t.test('reset on a new remote SDP', async (t) => {
  const p = new LatchingPeer('10.0.0.5', 4000);
  p.accept('a', 1, 0);
  p.reset('10.0.0.6', 5000);
  t.notOk(p.latched);
  t.equal(p.address, '10.0.0.6');
  t.ok(p.accept('c', 3, 10), 'any source latches again');
  t.equal(p.address, 'c');
});

t.test('RTP timeout fires once per silence', async (t) => {
  const r = new RtpTimeout(30_000, 0, 0);
  t.equal(r.check(29_999), 'ok');
  t.equal(r.check(30_000), 'timeout');
  t.equal(r.check(31_000), 'ok', 'reported once');
  r.received(32_000);
  t.equal(r.check(61_999), 'ok');
  t.equal(r.check(62_000), 'timeout', 'again after the next silence');
});

t.test('on hold the hold timeout applies (0 = never)', async (t) => {
  const r = new RtpTimeout(1000, 0, 0);
  r.setHold(true, 0);
  t.equal(r.check(1e9), 'ok', 'a held peer may stay silent');
  r.setHold(false, 5000);
  t.equal(r.check(5999), 'ok', 'clock restarted when hold ended');
  t.equal(r.check(6000), 'timeout');
  const h = new RtpTimeout(1000, 60_000, 0);
  h.setHold(true, 0);
  t.equal(h.check(59_999), 'ok');
  t.equal(h.check(60_000), 'timeout');
});
