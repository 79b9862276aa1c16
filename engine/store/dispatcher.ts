/**
 * The outbox dispatcher: pulls due lane heads from the outbox and hands them to the CRM adapter.
 *
 * ```
 *   outbox.due(now, free slots, in-flight calls) ──▶ deliver(item) ──▶ adapter.callEvent / deliverCdr
 *        ▲                                               │ resolve → outbox.ack
 *        └───── wake: kick(), a delivery settled, ◀──────┘ reject / timeout → outbox.fail (backoff or dead)
 *               the next due time, the poll interval
 * ```
 *
 * At most one item per call is in flight (a call's lane is excluded while its head is being
 * delivered), so items of a call are delivered one after the other, in order; up to
 * `concurrency` calls are delivered in parallel. A crash between delivery and ack leaves the
 * item pending: it is delivered again after restart (at least once).
 *
 * Only types come from `crm-adapter/`: that folder's built-in SQLite adapter imports this one,
 * and the runtime import graph stays acyclic.
 */
import type { CrmAdapter } from '../../crm-adapter/index.ts';
import type { OutboxItem, OutboxStore } from './types.ts';

// The engine's one clock (engine/clock): the outbox stores absolute times, so its epoch instance.
export type { Clock, TimerHandle } from '../clock/index.ts';
export { epochClock as systemClock } from '../clock/index.ts';
import type { Clock, TimerHandle } from '../clock/index.ts';
import { epochClock as systemClock } from '../clock/index.ts';

/** What one delivery did, for observers (logs, metrics). */
export interface DeliveryReport {
  item: OutboxItem;
  ok: boolean;
  /** Error text when not ok. */
  error: string | null;
  dead: boolean;
  durationMs: number;
}

/** Options of the dispatcher. */
export interface OutboxDispatcherOptions {
  outbox: OutboxStore;
  adapter: CrmAdapter;
  clock?: Clock;
  /** Calls delivered in parallel. Default 8. */
  concurrency?: number;
  /** A delivery that has not settled after this long counts as failed. Default 30 000 ms. */
  deliveryTimeoutMs?: number;
  /** Longest sleep when nothing is due (picks up items appended without kick()). Default 1000 ms. */
  pollIntervalMs?: number;
  /** Called after each delivery; a throwing observer is ignored. */
  onDelivery?: (report: DeliveryReport) => void;
  /**
   * Called when recording a delivery's result failed (a database error). The item stays
   * pending and is delivered again: at least once still holds. Default: ignored.
   */
  onError?: (err: unknown, item: OutboxItem) => void;
}

/** Counts of one {@link OutboxDispatcher.runOnce} pass. */
export interface PassResult {
  attempted: number;
  delivered: number;
  failed: number;
  dead: number;
}

/** Result of {@link OutboxDispatcher.drain}. */
export interface DrainResult {
  delivered: number;
  /** Items still pending (they stay in the database for the next start). */
  remaining: number;
  /** True when everything pending was delivered or dead-lettered. */
  complete: boolean;
}

const TIMEOUT = Symbol('timeout');

/** Delivers the outbox to a CRM adapter; see the module comment. */
export class OutboxDispatcher {
  readonly #outbox: OutboxStore;
  readonly #adapter: CrmAdapter;
  readonly #clock: Clock;
  readonly #concurrency: number;
  readonly #timeoutMs: number;
  readonly #pollMs: number;
  readonly #onDelivery: ((r: DeliveryReport) => void) | undefined;
  readonly #onError: ((err: unknown, item: OutboxItem) => void) | undefined;
  /** Calls whose head is being delivered. */
  readonly #busy = new Set<string>();
  readonly #inFlight = new Set<Promise<void>>();
  #running = false;
  #filling = false;
  #again = false;
  #timer: TimerHandle | undefined;
  #pass: PassResult = { attempted: 0, delivered: 0, failed: 0, dead: 0 };

  constructor(options: OutboxDispatcherOptions) {
    this.#outbox = options.outbox;
    this.#adapter = options.adapter;
    this.#clock = options.clock ?? systemClock;
    this.#concurrency = Math.max(1, options.concurrency ?? 8);
    this.#timeoutMs = options.deliveryTimeoutMs ?? 30_000;
    this.#pollMs = options.pollIntervalMs ?? 1000;
    this.#onDelivery = options.onDelivery;
    this.#onError = options.onError;
  }

  /** Start delivering in the background. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.kick();
  }

  /** Something was appended: look for due work now instead of at the next poll. */
  kick(): void {
    if (!this.#running) return;
    if (this.#filling) {
      this.#again = true;
      return;
    }
    this.#filling = true;
    void this.#fill().then(
      (launched) => this.#afterFill(launched),
      () => this.#afterFill(0),
    );
  }

  /**
   * One pass for tests and for drain: deliver every lane head due now (up to the concurrency,
   * skipping lanes already in flight) and wait for those deliveries to settle.
   */
  async runOnce(): Promise<PassResult> {
    const before = { ...this.#pass };
    const items = await this.#outbox.due(this.#clock.now(), this.#concurrency, this.#busy);
    await Promise.all(items.map((item) => this.#launch(item)));
    return {
      attempted: this.#pass.attempted - before.attempted, delivered: this.#pass.delivered - before.delivered,
      failed: this.#pass.failed - before.failed, dead: this.#pass.dead - before.dead,
    };
  }

  /**
   * For shutdown: stop the background loop, then deliver what is due and wait for retries whose
   * time comes within `deadlineMs` (a time budget from now, on the injected clock). A pass that
   * started before the deadline is awaited (each delivery is bounded by the delivery timeout).
   * What is left stays in the database and goes out after the next start.
   */
  async drain(deadlineMs: number): Promise<DrainResult> {
    this.stop();
    const end = this.#clock.now() + deadlineMs;
    let delivered = 0;
    await Promise.all([...this.#inFlight]);
    for (;;) {
      const r = await this.runOnce();
      delivered += r.delivered;
      const now = this.#clock.now();
      if (now >= end) break;
      if (r.attempted > 0) continue;
      const next = await this.#outbox.nextDueAt();
      if (next === null || next > end) break;
      if (next > now) await this.#sleep(next - now);
    }
    const remaining = (await this.#outbox.backlog()).pending;
    return { delivered, remaining, complete: remaining === 0 };
  }

  /** Stop the background loop; deliveries in flight finish and are recorded. Idempotent. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = undefined;
  }

  /** Wait for deliveries in flight (after stop()). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  async #fill(): Promise<number> {
    const free = this.#concurrency - this.#busy.size;
    if (free <= 0) return 0;
    const items = await this.#outbox.due(this.#clock.now(), free, this.#busy);
    for (const item of items) {
      void this.#launch(item).then(() => this.kick());
    }
    return items.length;
  }

  #afterFill(launched: number): void {
    this.#filling = false;
    if (!this.#running) return;
    if (this.#again || (launched > 0 && this.#busy.size < this.#concurrency)) {
      this.#again = false;
      this.kick();
      return;
    }
    if (this.#busy.size === 0) void this.#sleepUntilDue();
  }

  async #sleepUntilDue(): Promise<void> {
    const next = await this.#outbox.nextDueAt();
    if (!this.#running) return;
    const now = this.#clock.now();
    const wait = next === null ? this.#pollMs : Math.min(this.#pollMs, Math.max(0, next - now));
    if (this.#timer !== undefined) this.#clock.clearTimer(this.#timer);
    this.#timer = this.#clock.setTimer(wait, () => {
      this.#timer = undefined;
      this.kick();
    });
  }

  /** Deliver one item; the promise never rejects (errors go to onError). */
  #launch(item: OutboxItem): Promise<void> {
    this.#busy.add(item.callId);
    const p = this.#deliver(item).catch((err: unknown) => {
      try {
        this.#onError?.(err, item);
      } catch {
        // An observer must not break delivery.
      }
    }).finally(() => {
      this.#busy.delete(item.callId);
      this.#inFlight.delete(p);
    });
    this.#inFlight.add(p);
    return p;
  }

  async #deliver(item: OutboxItem): Promise<void> {
    const started = this.#clock.now();
    const delivery = { deliveryId: `${item.callId}/${item.id}`, attempt: item.attempts + 1 };
    let error: string | null = null;
    let permanent = false;
    let timer: TimerHandle | undefined;
    try {
      const work = item.kind === 'event'
        ? this.#adapter.callEvent(item.payload, delivery)
        : this.#adapter.deliverCdr(item.payload, delivery);
      const timeout = new Promise<typeof TIMEOUT>((resolve) => {
        timer = this.#clock.setTimer(this.#timeoutMs, () => resolve(TIMEOUT));
      });
      if ((await Promise.race([work, timeout])) === TIMEOUT) {
        error = `delivery timed out after ${this.#timeoutMs} ms`;
        work.catch(() => undefined);
      }
    } catch (err) {
      error = err instanceof Error ? err.message || err.name : String(err);
      // The contract's CrmDeliveryError, or any error that says so (contract.ts).
      permanent = typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
    } finally {
      if (timer !== undefined) this.#clock.clearTimer(timer);
    }
    const now = this.#clock.now();
    let dead = false;
    if (error === null) {
      await this.#outbox.ack(item.id, now);
      this.#pass.delivered++;
    } else {
      dead = (await this.#outbox.fail(item.id, now, error, permanent)).dead;
      this.#pass.failed++;
      if (dead) this.#pass.dead++;
    }
    this.#pass.attempted++;
    if (this.#onDelivery !== undefined) {
      try {
        this.#onDelivery({ item, ok: error === null, error, dead, durationMs: now - started });
      } catch {
        // An observer must not break delivery (CONVENTIONS.md 10).
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimer(ms, resolve));
  }
}
