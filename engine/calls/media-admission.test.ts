/**
 * The hold and promotion rule of media-aware admission (media-admission.ts), alone: who gets a
 * stream, who rings, who is refused, in which order held callers get media, and the ringing limit.
 */
import t from 'tap';
import fc from 'fast-check';
import { DEFAULT_OVERLOAD_POLICY, MediaAdmission, defaultQueueOf } from './media-admission.ts';
import type { Flow, OverloadPolicy } from './types.ts';

const ring: OverloadPolicy = { whenMediaFull: 'ringing', maxRingingMs: 10_000, atRingingLimit: 'refuse' };
const refuse: OverloadPolicy = { ...ring, whenMediaFull: 'refuse' };
const all = (): boolean => true;

t.test('streams up to the capacity, then ringing or refusal by the trunk policy', async (t) => {
  const a = new MediaAdmission(2);
  t.equal(a.arrive('a', ring, 0), 'media');
  t.equal(a.arrive('b', ring, 1), 'media');
  t.equal(a.arrive('c', ring, 2), 'ring', 'the third rings');
  t.equal(a.arrive('d', refuse, 3), 'refuse', "a 'refuse' trunk refuses instead");
  t.ok(a.isHeld('c'));
  t.notOk(a.isHeld('d'), 'a refused caller is not held');
  t.same(a.figures(), { held: 1, inUse: 2, capacity: 2, heldTotal: 1 });
});

t.test('a freed stream goes to the oldest held caller, skipping those an agent is ringing', async (t) => {
  const a = new MediaAdmission(1);
  a.arrive('a', ring, 0);
  a.arrive('b', ring, 10);
  a.arrive('c', ring, 20);
  a.arrive('d', ring, 30);
  t.same(a.promote(40, all), [], 'nothing free, nothing promoted');
  a.streamEnded();
  t.same(a.promote(50, (id) => id !== 'b'), [{ id: 'c', ringingMs: 30 }], "b's agent rings: c, the next oldest, gets it");
  t.ok(a.isHeld('b'), 'b keeps its place');
  a.streamEnded();
  t.same(a.promote(60, all), [{ id: 'b', ringingMs: 50 }], 'then b, the oldest');
  t.same(a.figures(), { held: 1, inUse: 1, capacity: 1, heldTotal: 3 });
});

t.test('leaving the hold (agent answered, hang-up) takes no stream and says how long it rang', async (t) => {
  const a = new MediaAdmission(1);
  a.arrive('a', ring, 0);
  a.arrive('b', ring, 100);
  t.equal(a.leave('b', 350), 250);
  t.equal(a.leave('b', 400), undefined, 'a second leave is nothing');
  t.equal(a.leave('a', 400), undefined, 'a caller with a stream was never held');
  t.same(a.figures(), { held: 0, inUse: 1, capacity: 1, heldTotal: 1 });
});

t.test('at the ringing limit: a free stream, else the policy', async (t) => {
  const a = new MediaAdmission(1);
  a.arrive('a', ring, 0);
  a.arrive('b', ring, 0);
  a.arrive('c', ring, 0);
  t.same(a.atLimit('b', ring, 10_000), { verdict: 'refuse', ringingMs: 10_000 }, 'no stream free: refused');
  t.same(a.atLimit('c', { ...ring, atRingingLimit: 'media' }, 10_000), { verdict: 'media', ringingMs: 10_000 }, "'media': over the capacity");
  t.same(a.figures(), { held: 0, inUse: 2, capacity: 1, heldTotal: 2 }, 'the overbooked stream is counted');
  t.equal(a.atLimit('b', ring, 11_000), undefined, 'not held any more');
  a.streamEnded();
  a.streamEnded();
  a.arrive('d', ring, 0);
  t.equal(a.arrive('e', ring, 0), 'ring');
  a.streamEnded();
  t.same(a.atLimit('e', ring, 5000), { verdict: 'media', ringingMs: 5000 }, 'a stream free at the limit: media');
});

t.test('no capacity: everyone gets media', async (t) => {
  const a = new MediaAdmission(null);
  for (let i = 0; i < 1000; i++) t.equal(a.arrive(String(i), refuse, i), 'media');
  t.same(a.figures(), { held: 0, inUse: 1000, capacity: null, heldTotal: 0 });
  t.throws(() => new MediaAdmission(0), RangeError);
  t.same(DEFAULT_OVERLOAD_POLICY, { whenMediaFull: 'ringing', maxRingingMs: 50_000, atRingingLimit: 'refuse' });
});

t.test('property: streams never exceed the capacity without an overbooking limit; promotion is oldest first', async () => {
  const op = fc.oneof(
    fc.record({ k: fc.constant('arrive' as const) }),
    fc.record({ k: fc.constant('end' as const), i: fc.nat() }),
    fc.record({ k: fc.constant('leave' as const), i: fc.nat() }),
  );
  fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 60 }), (cap, ops) => {
    const a = new MediaAdmission(cap);
    const streaming: string[] = [];
    const held: string[] = [];
    let n = 0;
    for (const [step, o] of ops.entries()) {
      if (o.k === 'arrive') {
        const id = `c${n++}`;
        if (a.arrive(id, ring, step) === 'media') streaming.push(id);
        else held.push(id);
      } else if (o.k === 'end' && streaming.length > 0) {
        streaming.splice(o.i % streaming.length, 1);
        a.streamEnded();
        const promoted = a.promote(step, all).map((p) => p.id);
        // Oldest first: exactly the head of the held list.
        if (promoted.join() !== held.splice(0, promoted.length).join()) return false;
        streaming.push(...promoted);
      } else if (o.k === 'leave' && held.length > 0) {
        const [id] = held.splice(o.i % held.length, 1);
        if (a.leave(id!, step) === undefined) return false;
      }
      const f = a.figures();
      if (f.inUse !== streaming.length || f.inUse > cap || f.held !== held.length) return false;
      // A caller is held only while every stream is taken.
      if (f.held > 0 && f.inUse < cap) return false;
    }
    return true;
  }));
});

t.test('defaultQueueOf: where the flow leads with no key pressed', async (t) => {
  const flows: Record<string, Flow> = {
    main: {
      id: 'main', steps: [
        { type: 'play', prompts: ['welcome'] },
        { type: 'menu', prompts: ['menu'], timeoutMs: 5000, retries: 2, invalidPrompts: [], options: { 1: { type: 'queue', queue: 'sales', vipQueue: null } } },
        { type: 'queue', queue: 'orders', vipQueue: 'vip' },
      ],
    },
    jump: { id: 'jump', steps: [{ type: 'play', prompts: ['x'] }, { type: 'goto', flow: 'main' }] },
    cb: { id: 'cb', steps: [{ type: 'callback', queue: 'orders', prompts: [] }, { type: 'queue', queue: 'orders', vipQueue: null }] },
    loop: { id: 'loop', steps: [{ type: 'goto', flow: 'loop2' }] },
    loop2: { id: 'loop2', steps: [{ type: 'goto', flow: 'loop' }] },
    empty: { id: 'empty', steps: [{ type: 'play', prompts: ['x'] }] },
    keyed: {
      id: 'keyed', steps: [
        { type: 'collect', into: 'order', prompts: ['enter-order'], minDigits: 6, maxDigits: 6, terminator: '#', firstDigitTimeoutMs: 5000, interDigitTimeoutMs: 3000, retries: 1, invalidPrompts: [], pattern: null },
        { type: 'branch', when: [{ kind: 'var', var: 'order', equals: null, matches: null, present: true }], then: { type: 'queue', queue: 'service', vipQueue: null }, else: null },
        { type: 'branch', when: [{ kind: 'hours', windows: [{ days: [1, 2, 3, 4, 5], from: '09:00', to: '18:00' }], timeZone: 'Asia/Shanghai' }], then: { type: 'flow', flow: 'main' }, else: { type: 'callback', queue: 'orders', prompts: [] } },
      ],
    },
  };
  // Monday 2026-12-07 10:00 and 20:00 in Shanghai (UTC+8).
  const open = Date.UTC(2026, 11, 7, 2, 0), closed = Date.UTC(2026, 11, 7, 12, 0);
  t.equal(defaultQueueOf(flows, 'main', false, open), 'orders', 'past the menu to the queue step');
  t.equal(defaultQueueOf(flows, 'main', true, open), 'vip', 'VIP: the step’s VIP queue');
  t.equal(defaultQueueOf(flows, 'jump', false, open), 'orders', 'through a goto');
  t.equal(defaultQueueOf(flows, 'cb', false, open), null, 'a callback step first: no queue');
  t.equal(defaultQueueOf(flows, 'loop', false, open), null, 'a circle of gotos ends');
  t.equal(defaultQueueOf(flows, 'empty', false, open), null, 'the flow ends without a queue');
  t.equal(defaultQueueOf(flows, 'constructor', false, open), null, 'an unknown flow (not a prototype key)');
  t.equal(defaultQueueOf(flows, 'keyed', false, open), 'orders', 'nothing keyed: the branch on the variable is not taken, office hours lead to main');
  t.equal(defaultQueueOf(flows, 'keyed', false, closed), null, 'after hours the same flow ends in a callback: no queue');
});
