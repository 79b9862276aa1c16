/**
 * Trunk choice: in order, skipping tried trunks, never over maxConcurrent, never over the
 * calls-per-second bucket (the SIP admission's token bucket), and every slot comes back.
 */
import t from 'tap';
import fc from 'fast-check';
import { TrunkPool } from './index.ts';

t.test('in order, skipping tried and full trunks', async (t) => {
  let now = 0;
  const pool = new TrunkPool([
    { id: 'a', maxConcurrent: 1, callsPerSecond: 100 },
    { id: 'b', maxConcurrent: 2, callsPerSecond: 100 },
  ], () => now);
  t.equal(pool.acquire(new Set()), 'a');
  t.equal(pool.acquire(new Set()), 'b', 'a is full');
  t.equal(pool.acquire(new Set(['b'])), undefined, 'a full, b tried');
  t.equal(pool.acquire(new Set()), 'b');
  t.equal(pool.acquire(new Set()), undefined, 'both full');
  pool.release('a');
  t.equal(pool.acquire(new Set()), 'a', 'a has room again');
  t.same(pool.utilisation(), [{ trunk: 'a', active: 1, maxConcurrent: 1 }, { trunk: 'b', active: 2, maxConcurrent: 2 }]);
  t.throws(() => { pool.release('c'); }, /without a call in progress/);
  now = 1;
});

t.test('calls per second: one second of burst, then the rate; the next trunk takes the overflow', async (t) => {
  let now = 0;
  const pool = new TrunkPool([
    { id: 'a', maxConcurrent: 100, callsPerSecond: 2 },
    { id: 'b', maxConcurrent: 100, callsPerSecond: 1 },
  ], () => now);
  const got = [0, 1, 2, 3].map(() => pool.acquire(new Set()));
  t.same(got, ['a', 'a', 'b', undefined]);
  now = 500;
  t.equal(pool.acquire(new Set()), 'a', 'half a second later: one token on a');
  t.equal(pool.acquire(new Set()), undefined);
});

t.test('property: limits hold and released slots are reusable', async (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('acquire' as const), skipFirst: fc.boolean() }),
    fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 1500 }) }),
  );
  fc.assert(fc.property(
    fc.array(fc.record({ max: fc.integer({ min: 1, max: 4 }), cps: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 3 }),
    fc.array(op, { maxLength: 80 }),
    (limits, ops) => {
      let now = 0;
      const trunks = limits.map((l, i) => ({ id: `t${i}`, maxConcurrent: l.max, callsPerSecond: l.cps }));
      const pool = new TrunkPool(trunks, () => now);
      const held: string[] = [];
      const starts = new Map<string, number[]>(trunks.map((tr) => [tr.id, []]));
      for (const o of ops) {
        if (o.kind === 'wait') now += o.ms;
        else if (o.kind === 'release') {
          if (held.length === 0) continue;
          const [id] = held.splice(o.pick % held.length, 1);
          pool.release(id!);
        } else {
          const tried = new Set(o.skipFirst ? ['t0'] : []);
          const id = pool.acquire(tried);
          if (id === undefined) continue;
          if (tried.has(id)) return false;
          // In order: every trunk before the chosen one was tried, full, or out of tokens (not checked here).
          held.push(id);
          starts.get(id)!.push(now);
        }
        for (const tr of trunks) {
          const active = held.filter((h) => h === tr.id).length;
          if (pool.active(tr.id) !== active || active > tr.maxConcurrent) return false;
          // Token bucket: within any window [s, s + w], at most burst + cps * w starts.
          const s = starts.get(tr.id)!;
          const burst = Math.max(1, Math.ceil(tr.callsPerSecond));
          for (let i = 0; i < s.length; i++) {
            for (let j = i; j < s.length; j++) {
              if (j - i + 1 > burst + (tr.callsPerSecond * (s[j]! - s[i]!)) / 1000 + 1e-9) return false;
            }
          }
        }
      }
      for (const id of held) pool.release(id);
      return pool.utilisation().every((u) => u.active === 0);
    },
  ), { numRuns: 300 });
});
