import t, { type Test } from 'tap';
import type { CallEvent, Cdr, CrmAdapter, DeliveryInfo } from '../../crm-adapter/index.ts';
import { CrmDeliveryError } from '../../crm-adapter/index.ts';
import { backoffDelay, DEFAULT_RETRY_POLICY, FakeClock, OutboxDispatcher, sampleCdr, sampleEvent, type OutboxStore } from './index.ts';
import { eachBackend, type AnyStore, type Backend } from './backends.ts';

/** An adapter that records what it got and fails for the calls the test says. */
class RecordingAdapter implements CrmAdapter {
  readonly contractVersion = 1;
  readonly name = 'recording';
  readonly got: { callId: string; what: string; delivery: DeliveryInfo }[] = [];
  failing = new Set<string>();
  permanent = false;
  init(): Promise<void> { return Promise.resolve(); }
  close(): Promise<void> { return Promise.resolve(); }
  lookupCaller(): never { throw new Error('not used'); }
  callEvent(e: CallEvent, d: DeliveryInfo): Promise<void> { return this.#take(e.callId, `event:${e.type}:${'position' in e ? e.position : ''}`, d); }
  deliverCdr(c: Cdr, d: DeliveryInfo): Promise<void> { return this.#take(c.callId, 'cdr', d); }
  #take(callId: string, what: string, delivery: DeliveryInfo): Promise<void> {
    if (this.failing.has(callId)) return Promise.reject(new CrmDeliveryError(`CRM down for ${callId}`, this.permanent));
    this.got.push({ callId, what, delivery });
    return Promise.resolve();
  }
  of(callId: string): string[] { return this.got.filter((g) => g.callId === callId).map((g) => g.what); }
}

async function setup(t: Test, b: Backend, retry = {}) {
  const clock = new FakeClock();
  const store = await b.open({ retry: { jitter: 0, ...retry }, random: () => 0 });
  t.teardown(() => store.close());
  const adapter = new RecordingAdapter();
  const dispatcher = new OutboxDispatcher({ outbox: store.outbox, adapter, clock, concurrency: 4 });
  return { clock, store, adapter, dispatcher };
}

async function fill(store: AnyStore, callId: string, events: number, now: number): Promise<void> {
  for (let i = 1; i <= events; i++) await store.outbox.append(callId, 'event', sampleEvent(callId, i), now);
  await store.outbox.append(callId, 'cdr', sampleCdr(callId), now);
}

t.test('backoffDelay jitter stays within [delay*(1-jitter), delay]', async (t) => {
  const p = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 1000, jitter: 0.5 };
  t.equal(backoffDelay(p, 3, 0), 4000);
  t.equal(backoffDelay(p, 3, 0.999999), 2000);
  t.equal(backoffDelay(p, 1, 0.5), 750);
  t.equal(backoffDelay(p, 100, 0), p.maxDelayMs, 'capped, no overflow');
});

// Every case below runs on SQLite and on PostgreSQL (backends.ts).
void eachBackend(t, (t, b) => {
  t.test('per-call order: a failing call blocks only itself, then catches up in order', async (t) => {
    const { clock, store, adapter, dispatcher } = await setup(t, b);
    for (const c of ['A', 'X', 'B']) await fill(store, c, 3, clock.now());
    adapter.failing.add('X');
    for (let i = 0; i < 6; i++) await dispatcher.runOnce();
    t.same(adapter.of('A'), ['event:queued:1', 'event:queued:2', 'event:queued:3', 'cdr']);
    t.same(adapter.of('B'), ['event:queued:1', 'event:queued:2', 'event:queued:3', 'cdr']);
    t.same(adapter.of('X'), [], 'nothing of X went out while its head fails');
    const xs = await store.outbox.listCall('X');
    t.equal(xs.length, 4, 'all of X still pending');
    t.equal(xs[0]!.attempts, 1, 'only the head was tried');
    t.equal(xs[1]!.attempts, 0, 'later items of X were never tried');
    t.match(xs[0]!.lastError, /CRM down for X/);
    t.same(await store.outbox.backlog(), { pending: 4, dead: 0, calls: 1 });

    adapter.failing.clear();
    clock.advance(DEFAULT_RETRY_POLICY.baseDelayMs);
    for (let i = 0; i < 5; i++) await dispatcher.runOnce();
    t.same(adapter.of('X'), ['event:queued:1', 'event:queued:2', 'event:queued:3', 'cdr'], 'X delivered in order');
    const first = adapter.got.find((g) => g.callId === 'X')!;
    t.equal(first.delivery.attempt, 2, 'the retried head says it is attempt 2');
    t.match(first.delivery.deliveryId, /^X\/\d+$/);
    t.same(await store.outbox.backlog(), { pending: 0, dead: 0, calls: 0 });
  });

  t.test('a pass delivers at most one item per call (no reordering by concurrency)', async (t) => {
    const { clock, store, dispatcher } = await setup(t, b);
    await fill(store, 'A', 5, 0);
    const r = await dispatcher.runOnce();
    t.equal(r.attempted, 1);
    t.equal((await store.outbox.due(clock.now(), 10)).length, 1, 'one head per lane');
  });

  t.test('backoff: exponential, capped, honoured by due()', async (t) => {
    const retry = { baseDelayMs: 1000, factor: 2, maxDelayMs: 10_000, maxAttempts: 50 };
    const { clock, store, adapter, dispatcher } = await setup(t, b, retry);
    await fill(store, 'X', 0, clock.now());
    adapter.failing.add('X');
    const expected = [1000, 2000, 4000, 8000, 10_000, 10_000];
    for (const delay of expected) {
      const r = await dispatcher.runOnce();
      t.equal(r.failed, 1, `attempt fails (next delay ${delay})`);
      const [item] = await store.outbox.listCall('X');
      t.equal(item!.nextAttemptAt - clock.now(), delay);
      t.equal(await store.outbox.nextDueAt(), item!.nextAttemptAt, 'lane carries the head time');
      clock.advance(delay - 1);
      t.equal((await dispatcher.runOnce()).attempted, 0, 'not due 1 ms early');
      clock.advance(1);
    }
    t.equal((await store.outbox.listCall('X'))[0]!.attempts, expected.length);
  });

  t.test('dead letters: after maxAttempts, kept and listed, lane moves on; requeue', async (t) => {
    const { clock, store, adapter, dispatcher } = await setup(t, b, { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10 });
    await store.outbox.append('X', 'event', sampleEvent('X', 1), clock.now());
    await store.outbox.append('X', 'cdr', sampleCdr('X'), clock.now());
    adapter.failing.add('X');
    for (let i = 0; i < 3; i++) {
      await dispatcher.runOnce();
      clock.advance(10);
    }
    const dead = await store.outbox.deadLetters(10, 0);
    t.equal(dead.length, 1);
    t.equal(dead[0]!.kind, 'event');
    t.equal(dead[0]!.attempts, 3);
    t.equal(dead[0]!.status, 'dead');
    t.same(await store.outbox.backlog(), { pending: 1, dead: 1, calls: 1 });
    adapter.failing.clear();
    await dispatcher.runOnce();
    t.same(adapter.of('X'), ['cdr'], 'the item after the dead letter was delivered');
    t.same(await store.outbox.backlog(), { pending: 0, dead: 1, calls: 0 }, 'dead letter still there');

    t.equal(await store.outbox.requeue(dead[0]!.id, clock.now()), true);
    t.equal(await store.outbox.requeue(dead[0]!.id, clock.now()), false, 'not dead any more');
    await dispatcher.runOnce();
    t.same(adapter.of('X'), ['cdr', 'event:queued:1']);
    t.same(await store.outbox.backlog(), { pending: 0, dead: 0, calls: 0 });
  });

  t.test('a permanent failure dead-letters at once', async (t) => {
    const { store, adapter, dispatcher } = await setup(t, b);
    await fill(store, 'X', 1, 0);
    adapter.failing.add('X');
    adapter.permanent = true;
    const r = await dispatcher.runOnce();
    t.same(r, { attempted: 1, delivered: 0, failed: 1, dead: 1 });
    t.equal((await store.outbox.deadLetters(10, 0)).length, 1);
  });

  t.test('a delivery that never settles times out on the injected clock', async (t) => {
    const clock = new FakeClock();
    const store = await b.open({ retry: { jitter: 0 } });
    t.teardown(() => store.close());
    const adapter = new RecordingAdapter();
    adapter.callEvent = () => new Promise<void>(() => undefined);
    const dispatcher = new OutboxDispatcher({ outbox: store.outbox, adapter, clock, deliveryTimeoutMs: 5000 });
    await store.outbox.append('H', 'event', sampleEvent('H'), clock.now());
    const pass = dispatcher.runOnce();
    // The delivery starts after due() has read the outbox: at once on SQLite, after a round trip on
    // PostgreSQL. Wait until its timeout is armed on the fake clock, then let it expire.
    while (clock.nextTimerAt() === null) await new Promise((r) => setImmediate(r));
    clock.advance(5000);
    t.same(await pass, { attempted: 1, delivered: 0, failed: 1, dead: 0 });
    t.match((await store.outbox.listCall('H'))[0]!.lastError, /timed out after 5000 ms/);
  });

  /** Run drain() on the fake clock, moving the clock to each timer drain sleeps on. */
  async function drainOnFakeClock(dispatcher: OutboxDispatcher, clock: FakeClock, ms: number) {
    let done = false;
    const run = dispatcher.drain(ms).finally(() => { done = true; });
    while (!done) {
      await new Promise((r) => setImmediate(r));
      const next = clock.nextTimerAt();
      if (next !== null) clock.advance(next - clock.now());
    }
    return run;
  }

  t.test('drain: delivers what is due, waits for retries within the deadline, leaves the rest', async (t) => {
    const { clock, store, adapter, dispatcher } = await setup(t, b, { baseDelayMs: 1000 });
    await fill(store, 'A', 2, clock.now());
    await fill(store, 'X', 1, clock.now());
    adapter.failing.add('X');
    const t0 = clock.now();
    const r = await drainOnFakeClock(dispatcher, clock, 500);
    t.same(r, { delivered: 3, remaining: 2, complete: false }, 'all of A; X stays (its retry is after the deadline)');
    t.equal(clock.now(), t0, 'did not wait for a retry beyond the deadline');

    const r2 = await drainOnFakeClock(dispatcher, clock, 5000);
    t.same(r2, { delivered: 0, remaining: 2, complete: false }, 'X keeps failing through the budget');
    t.ok(clock.now() > t0, 'waited for retries inside the budget');
    t.ok(clock.now() <= t0 + 5000);
    t.ok((await store.outbox.listCall('X'))[0]!.attempts >= 3, 'retried while waiting');

    adapter.failing.clear();
    const r3 = await drainOnFakeClock(dispatcher, clock, 60_000);
    t.same(r3, { delivered: 2, remaining: 0, complete: true });
    t.same(adapter.of('X'), ['event:queued:1', 'cdr']);
  });

  t.test('background loop: start() delivers appended items after kick()', async (t) => {
    const store = await b.open();
    t.teardown(() => store.close());
    const adapter = new RecordingAdapter();
    const seen: boolean[] = [];
    const dispatcher = new OutboxDispatcher({
      outbox: store.outbox, adapter, pollIntervalMs: 5, onDelivery: (r) => { seen.push(r.ok); throw new Error('observer bug'); },
    });
    t.teardown(() => dispatcher.stop());
    dispatcher.start();
    for (const c of ['A', 'B', 'C']) await fill(store, c, 2, Date.now());
    dispatcher.kick();
    while ((await store.outbox.backlog()).pending > 0) await new Promise((r) => setTimeout(r, 2));
    dispatcher.stop();
    await dispatcher.settled();
    for (const c of ['A', 'B', 'C']) t.same(adapter.of(c), ['event:queued:1', 'event:queued:2', 'cdr']);
    t.equal(seen.length, 9, 'observer called for each delivery, its exception ignored');
  });

  t.test('a failing ack goes to onError; the item stays pending and is delivered again', async (t) => {
    const { clock, store, adapter } = await setup(t, b);
    const errors: string[] = [];
    let breakAck = true;
    const real = store.outbox;
    const outbox: OutboxStore = {
      append: (c, k, p, n) => real.append(c, k, p, n), due: (n, l, e) => real.due(n, l, e), fail: (i, n, e, p) => real.fail(i, n, e, p),
      nextDueAt: () => real.nextDueAt(), backlog: () => real.backlog(), listCall: (c) => real.listCall(c),
      deadLetters: (l, o) => real.deadLetters(l, o), requeue: (i, n) => real.requeue(i, n),
      ack: (id, now) => (breakAck ? Promise.reject(new Error('disk I/O error')) : real.ack(id, now)),
    };
    const dispatcher = new OutboxDispatcher({
      outbox, adapter, clock, onError: (err, item) => { errors.push(`${item.callId}: ${(err as Error).message}`); },
    });
    await store.outbox.append('A', 'cdr', sampleCdr('A'), clock.now());
    t.same(await dispatcher.runOnce(), { attempted: 0, delivered: 0, failed: 0, dead: 0 }, 'nothing recorded');
    t.same(errors, ['A: disk I/O error']);
    breakAck = false;
    await dispatcher.runOnce();
    t.same(adapter.of('A'), ['cdr', 'cdr'], 'delivered twice: at least once');
    t.equal((await store.outbox.backlog()).pending, 0);
  });
});
