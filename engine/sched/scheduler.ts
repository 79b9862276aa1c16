/**
 * Work classes on the main thread (issue 13, contract C4): work waits in one bounded FIFO per
 * class instead of running in arrival order, and each turn of the event loop drains the highest
 * class first within a time budget, then yields so that timers and the poll phase (which reads
 * the next datagrams, libuv takes at most 32 per socket per poll) run again.
 *
 * ```
 *   post(class, handler, item) ─▶ agent ▕▏▕▏▕▏      turn (setImmediate, check phase):
 *                                record ▕▏            1. late(): items waiting ≥ lateAfterMs, once
 *                            signalling ▕▏▕▏▕▏▕▏▕▏    2. highest non-empty class first, until the
 *                                 media ▕▏▕▏             budget is spent (at least one item)
 *   a full class: handler.shed(item) — the caller's   3. every class still waiting that got nothing
 *   overload rule answers it, never a silent drop        this turn gets one item (no starvation)
 * ```
 *
 * A turn right after a full read of the sockets (`readAheadPosts`) runs only the top class and
 * the one item of each other class, so the loop is back at the sockets at once.
 *
 * Sojourn admission (CoDel's idea, per item): a class may have a deadline. An item whose wait
 * (since the time its poster gives, e.g. the transport's parse of a datagram) has reached it when
 * its turn comes is handed to its handler's `overdue` instead of `run`: the poster answers it
 * cheaply (a new INVITE: 503 + Retry-After and a callback task) so that the class drains and the
 * items behind it are worked while they are still worth it. Classes without a deadline (agent,
 * record) are never cut short.
 *
 * The guarantee against starvation: in every turn each non-empty class is served at least one
 * item, so an item at position p of its class is handed on within p + 1 turns, however busy the
 * higher classes are; a turn lasts at most the budget plus one item per class.
 */

/** The work classes, highest first (C4). */
export type WorkClass = 'agent' | 'record' | 'signalling' | 'media';

/** Every {@link WorkClass}, highest first: the order a turn drains them in. */
export const WORK_CLASSES: readonly WorkClass[] = ['agent', 'record', 'signalling', 'media'];

/** Whoever posts work says how to run it, how to refuse it and (optionally) what to do when it is late. */
export interface WorkHandler<T> {
  /** Do the work. A throw costs this item only (counted in `failed`). */
  run(item: T, cls: WorkClass): void;
  /** The class is full: refuse the item by the poster's own overload rule (a 503, a counted drop). */
  shed(item: T, cls: WorkClass): void;
  /**
   * The item has waited `lateAfterMs` and is still queued (called once per item, before it runs):
   * e.g. a new INVITE's 100 Trying, which RFC 3261 §17.2.1 wants within 200 ms.
   */
  late?(item: T, cls: WorkClass): void;
  /**
   * The item waited `waitedMs` ≥ its class's deadline (`deadlines`) before its turn: answer it
   * cheaply instead of running it and return true, or return false (not an item to cut short)
   * and it runs as usual. Without it an overdue item runs as usual.
   */
  overdue?(item: T, cls: WorkClass, waitedMs: number): boolean;
}

/** Options of a {@link WorkScheduler}. */
export interface WorkSchedulerOptions {
  /** Time a turn spends before it yields (ms); the first item of a turn always runs. Default 2. */
  turnBudgetMs?: number;
  /** Most items waiting per class; one more is shed. Default 20 000 each. */
  limits?: Partial<Record<WorkClass, number>>;
  /** An item still queued this long (ms) gets its handler's `late` once. Default 100. */
  lateAfterMs?: number;
  /**
   * A turn that finds at least this many items posted since the previous one (a full read of the
   * sockets: libuv hands over at most 32 datagrams per socket per poll, so more are likely still
   * in the kernel) spends its budget on the top class only and gives each lower class just its
   * one item: reading the backlog, where an agent's answer may wait behind thousands of new
   * INVITEs, comes before working it off. Default 32; 0 = off.
   */
  readAheadPosts?: number;
  /**
   * Most time (ms) an item of the class may wait before its turn and still be run; an item past
   * it goes to its handler's `overdue`. Absent or 0 = no deadline (the default for every class).
   */
  deadlines?: Partial<Record<WorkClass, number>>;
  /** Every item handed on (run or overdue) with how long it waited (ms): the sojourn histogram. */
  observe?: (cls: WorkClass, waitedMs: number) => void;
  /** Monotonic milliseconds (tests pass a fake). */
  now?: () => number;
  /** How a turn is scheduled: `setImmediate` by default (tests run turns by hand). */
  defer?: (turn: () => void) => void;
  /** A handler threw (a bug): the item is dropped, the drain goes on. */
  onError?: (err: unknown, cls: WorkClass) => void;
}

/** Counters of one class since start, and what waits now. */
export interface WorkClassStats {
  queued: number;
  posted: number;
  run: number;
  shed: number;
  late: number;
  /** Items handed to `overdue` instead of `run` (waited past the class's deadline). */
  overdue: number;
  failed: number;
}

/** A FIFO ring of (handler, item, enqueue time), grown by doubling up to its limit. */
class ClassQueue {
  handlers: (WorkHandler<unknown> | undefined)[] = new Array<WorkHandler<unknown> | undefined>(16);
  items: unknown[] = new Array<unknown>(16);
  times = new Float64Array(16);
  head = 0;
  size = 0;
  /** Items from the head already given `late` (all older than the rest: FIFO). */
  lateDone = 0;
  readonly stats: WorkClassStats = { queued: 0, posted: 0, run: 0, shed: 0, late: 0, overdue: 0, failed: 0 };

  /** `deadline`: most wait (ms) before an item goes to `overdue`; 0 = none. */
  constructor(readonly limit: number, readonly deadline: number) {}

  push(handler: WorkHandler<unknown>, item: unknown, at: number): void {
    if (this.size === this.handlers.length) this.grow();
    const i = (this.head + this.size) & (this.handlers.length - 1);
    this.handlers[i] = handler;
    this.items[i] = item;
    this.times[i] = at;
    this.size++;
  }

  /** The slot of the n-th waiting item (0 = head). */
  at(n: number): number {
    return (this.head + n) & (this.handlers.length - 1);
  }

  shift(): void {
    const i = this.head;
    this.handlers[i] = undefined;
    this.items[i] = undefined;
    this.head = (i + 1) & (this.handlers.length - 1);
    this.size--;
    if (this.lateDone > 0) this.lateDone--;
  }

  private grow(): void {
    const n = this.handlers.length;
    const handlers = new Array<WorkHandler<unknown> | undefined>(n * 2);
    const items = new Array<unknown>(n * 2);
    const times = new Float64Array(n * 2);
    for (let k = 0; k < this.size; k++) {
      const i = (this.head + k) & (n - 1);
      handlers[k] = this.handlers[i];
      items[k] = this.items[i];
      times[k] = this.times[i]!;
    }
    this.handlers = handlers;
    this.items = items;
    this.times = times;
    this.head = 0;
  }
}

const DEFAULT_LIMIT = 20_000;
/** Position of each class in {@link WORK_CLASSES}. */
const CLASS_INDEX: Readonly<Record<WorkClass, number>> = { agent: 0, record: 1, signalling: 2, media: 3 };

/**
 * The main thread's work queues by class (see the file comment). One instance per process, built
 * by the composition root; layers post work with the class it is.
 */
export class WorkScheduler {
  readonly turnBudgetMs: number;
  readonly lateAfterMs: number;
  private readonly queues: ClassQueue[];
  private readonly now: () => number;
  private readonly defer: (turn: () => void) => void;
  private readonly onError: ((err: unknown, cls: WorkClass) => void) | undefined;
  private readonly observe: ((cls: WorkClass, waitedMs: number) => void) | undefined;
  private readonly turnBound: () => void;
  private pending = false;
  private turns = 0;
  private readonly readAheadPosts: number;
  private postedSinceTurn = 0;

  constructor(opts: WorkSchedulerOptions = {}) {
    this.turnBudgetMs = opts.turnBudgetMs ?? 2;
    this.lateAfterMs = opts.lateAfterMs ?? 100;
    this.readAheadPosts = opts.readAheadPosts ?? 32;
    this.queues = WORK_CLASSES.map((c) => new ClassQueue(Math.max(1, opts.limits?.[c] ?? DEFAULT_LIMIT), Math.max(0, opts.deadlines?.[c] ?? 0)));
    this.observe = opts.observe;
    this.now = opts.now ?? (() => performance.now());
    this.defer = opts.defer ?? ((turn) => setImmediate(turn));
    this.onError = opts.onError;
    this.turnBound = () => this.turn();
  }

  /**
   * Queue `item` in class `cls`; false when the class was full and the item was shed (its
   * handler's `shed` has run). `since` (this scheduler's clock, ms) is when the item's wait
   * began, if earlier than now (an inbound message: when the transport parsed it); its wait
   * counts from there for `late`, the deadline and the sojourn. Within a class such times must
   * not go back (the transport parses and posts in read order): `late` scans from the head.
   */
  post<T>(cls: WorkClass, handler: WorkHandler<T>, item: T, since?: number): boolean {
    const q = this.queues[CLASS_INDEX[cls]]!;
    q.stats.posted++;
    if (q.size >= q.limit) {
      q.stats.shed++;
      try {
        handler.shed(item, cls);
      } catch (err) {
        this.failed(err, q, cls);
      }
      return false;
    }
    const now = this.now();
    q.push(handler as WorkHandler<unknown>, item, since === undefined ? now : Math.min(since, now));
    this.postedSinceTurn++;
    if (!this.pending) {
      this.pending = true;
      this.defer(this.turnBound);
    }
    return true;
  }

  /** Items waiting in `cls`. */
  queued(cls: WorkClass): number {
    return this.queues[CLASS_INDEX[cls]]!.size;
  }

  /** Counters of `cls` since start. */
  stats(cls: WorkClass): WorkClassStats {
    const q = this.queues[CLASS_INDEX[cls]]!;
    q.stats.queued = q.size;
    return { ...q.stats };
  }

  /** Turns run since start. */
  get turnCount(): number {
    return this.turns;
  }

  /**
   * One turn (the deferred callback; tests call it through `defer`). Runs late notices, then the
   * highest non-empty class until the budget is spent, then one item of every class that got
   * none; schedules the next turn while anything waits.
   */
  turn(): void {
    this.pending = false;
    this.turns++;
    const start = this.now();
    const readAhead = this.readAheadPosts > 0 && this.postedSinceTurn >= this.readAheadPosts;
    this.postedSinceTurn = 0;
    this.notifyLate(start);
    const n = this.queues.length;
    let servedMask = 0;
    let ran = 0;
    for (;;) {
      let c = 0;
      while (c < n && this.queues[c]!.size === 0) c++;
      if (c === n) break;
      if (ran > 0 && (c > 0 && readAhead || this.now() - start >= this.turnBudgetMs)) break;
      this.runHead(c);
      servedMask |= 1 << c;
      ran++;
    }
    // No starvation: a class still waiting that this turn did not reach gets one item.
    for (let c = 1; c < n; c++) {
      if ((servedMask & (1 << c)) === 0 && this.queues[c]!.size > 0) this.runHead(c);
    }
    let left = 0;
    for (const q of this.queues) left += q.size;
    if (left > 0 && !this.pending) {
      this.pending = true;
      this.defer(this.turnBound);
    }
  }

  private runHead(c: number): void {
    const q = this.queues[c]!;
    const i = q.head;
    const handler = q.handlers[i]!;
    const item = q.items[i];
    const waited = q.deadline > 0 || this.observe !== undefined ? this.now() - q.times[i]! : 0;
    q.shift();
    const cls = WORK_CLASSES[c]!;
    try {
      if (q.deadline > 0 && waited >= q.deadline && handler.overdue?.(item, cls, waited) === true) {
        q.stats.overdue++;
      } else {
        q.stats.run++;
        handler.run(item, cls);
      }
    } catch (err) {
      this.failed(err, q, cls);
    }
    if (this.observe === undefined) return;
    try {
      this.observe(cls, waited);
    } catch (err) {
      this.failed(err, q, cls);
    }
  }

  /** Items queued `lateAfterMs` or longer, oldest first, each once. */
  private notifyLate(now: number): void {
    const bound = now - this.lateAfterMs;
    for (let c = 0; c < this.queues.length; c++) {
      const q = this.queues[c]!;
      while (q.lateDone < q.size) {
        const i = q.at(q.lateDone);
        if (q.times[i]! > bound) break;
        q.lateDone++;
        const handler = q.handlers[i]!;
        if (handler.late === undefined) continue;
        q.stats.late++;
        const item = q.items[i];
        const cls = WORK_CLASSES[c]!;
        try {
          handler.late(item, cls);
        } catch (err) {
          this.failed(err, q, cls);
        }
      }
    }
  }

  /** A handler threw (no closure per item: the call sites catch and come here). */
  private failed(err: unknown, q: ClassQueue, cls: WorkClass): void {
    q.stats.failed++;
    try {
      this.onError?.(err, cls);
    } catch {
      // A failing error reporter must not stop the drain either.
    }
  }
}
