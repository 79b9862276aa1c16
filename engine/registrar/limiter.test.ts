/**
 * The failure limiter on a fake clock: the window, the block and its end, per-address isolation,
 * and the bound on remembered sources; the refusal limiter's one answer per interval per source.
 */
import t from 'tap';
import { FakeClock } from '../clock/index.ts';
import { FailureLimiter, RefusalLimiter } from './limiter.ts';

t.test('window, block, release', async (t) => {
  const clock = new FakeClock();
  const l = new FailureLimiter({ maxFailures: 2, windowMs: 10_000, blockMs: 30_000 }, clock);
  t.equal(l.fail('192.0.2.1'), 'counted');
  t.equal(l.fail('192.0.2.1'), 'counted');
  t.equal(l.retryAfterMs('192.0.2.1'), 0, 'two failures are tolerated');
  t.equal(l.fail('192.0.2.1'), 'blocked', 'the third blocks');
  t.equal(l.retryAfterMs('192.0.2.1'), 30_000);
  t.equal(l.retryAfterMs('192.0.2.2'), 0, 'other addresses are not affected');
  clock.advance(29_999);
  t.equal(l.retryAfterMs('192.0.2.1'), 1);
  clock.advance(1);
  t.equal(l.retryAfterMs('192.0.2.1'), 0, 'released');
});

t.test('failures spread wider than the window never block', async (t) => {
  const clock = new FakeClock();
  const l = new FailureLimiter({ maxFailures: 2, windowMs: 10_000, blockMs: 30_000 }, clock);
  for (let i = 0; i < 20; i++) {
    t.equal(l.fail('198.51.100.7'), 'counted');
    clock.advance(5_000);
  }
  t.equal(l.retryAfterMs('198.51.100.7'), 0, 'a misconfigured phone retrying slowly is not locked out');
});

t.test('the table is bounded', async (t) => {
  const clock = new FakeClock();
  const l = new FailureLimiter({ maxSources: 100 }, clock);
  for (let i = 0; i < 1000; i++) l.fail(`10.0.${i >> 8}.${i & 255}`);
  t.equal(l.size, 100);
  t.throws(() => new FailureLimiter({ windowMs: 0 }, clock), RangeError);
});

t.test('refusal limiter: one answer per interval per source, bounded', async (t) => {
  const clock = new FakeClock();
  const l = new RefusalLimiter(1000, clock, 2);
  t.equal(l.allow('192.0.2.1'), true, 'first refusal answered');
  t.equal(l.allow('192.0.2.1'), false, 'the next within the interval is dropped');
  t.equal(l.allow('192.0.2.2'), true, 'other sources have their own');
  clock.advance(999);
  t.equal(l.allow('192.0.2.1'), false);
  clock.advance(1);
  t.equal(l.allow('192.0.2.1'), true, 'answered again after the interval');
  t.equal(l.allow('192.0.2.3'), true);
  t.equal(l.allow('192.0.2.2'), true, 'forgotten (LRU bound 2): answered, never blocked for longer');
  t.equal(new RefusalLimiter(0, clock).allow('192.0.2.1'), true);
  t.throws(() => new RefusalLimiter(-1, clock), RangeError);
});
