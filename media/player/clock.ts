/**
 * The pacing clock: one per media worker, it sends the next 20 ms frame of every playing stream.
 */
import { performance } from 'node:perf_hooks';

/**
 * A stream the clock paces. The clock calls {@link PacedStream.pace} once per frame that is due
 * and {@link PacedStream.skip} for frames it had to drop after a stall. Implementations keep
 * `clockSlot`/`clockIndex` untouched: they are the clock's bookkeeping (O(1) removal).
 */
export interface PacedStream {
  /** Send one frame. `dueMs` is when it should have gone out, for lateness accounting. */
  pace(dueMs: number): void;
  /** Frames that were due but will never be sent (the clock stalled): advance media and time. */
  skip(frames: number): void;
  /** Bookkeeping of the clock; -1 when not attached. */
  clockSlot: number;
  /** Bookkeeping of the clock; -1 when not attached. */
  clockIndex: number;
}

/** Options of a {@link PacingClock}. */
export interface PacingClockOptions {
  /** Frame period in ms. Default 20 (G.711 ptime 20). */
  periodMs?: number;
  /**
   * Phases per period. Streams are spread over the phases so each wake-up sends a share of
   * them: less lateness for the last stream of a batch and smoother output. Default 20 (1 ms):
   * at 2,000 hold streams on two workers, send lateness p99 1.7 ms against 2.5 ms with 10
   * (medians of 5 alternating runs, docs/bench.md).
   */
  slots?: number;
  /** Frames a stream may send back to back after a stall before the rest are skipped. Default 3. */
  maxBurst?: number;
  /**
   * Sleep the thread (`Atomics.wait`: no CPU, ~0.1 ms precision) at most this long before a
   * deadline instead of letting the 1 ms `setTimeout` overshoot it. The event loop is held while
   * sleeping: packets waiting to be relayed sit in the kernel for at most this long. Default 0.
   */
  sleepMs?: number;
  /** Busy-wait at most this long before a deadline (after any sleep). Default 0. */
  spinMs?: number;
  /**
   * Where this clock's phases fall inside a slot, as a fraction (0..1) of it, on a time line that
   * every thread of the process shares (`originMs + now()`). Clocks of different workers given
   * 0, 1/n, 2/n… wake up in turn instead of at random offsets, so their batches seldom compete for
   * the same cores. Default (or outside 0..1): unaligned, phases start when the first stream is
   * added.
   */
  phase?: number;
  /**
   * When the clock is behind (more hold/IVR streams than the thread can pace), a wake-up returns
   * to the event loop after this long (ms) and goes on at the next turn (`setImmediate`), so that
   * the poll phase reads the sockets in between: packets of bridged legs are relayed when they
   * arrive, and the streams on the clock are the ones late (issue 13, "bridged legs before hold
   * streams"). Default 2. 0 = never yield while behind (the behaviour before: a clock over its
   * capacity held the thread, and the relay with it, until it caught up).
   */
  yieldAfterMs?: number;
  /** `now()` = 0 on the shared time line, ms. Default `performance.timeOrigin`. */
  originMs?: number;
  /** Monotonic time source in ms (tests inject a fake one). Default `performance.now`. */
  now?: () => number;
}

/** Lateness histogram resolution: 0.05 ms buckets up to 100 ms, one overflow bucket. */
const BUCKET_MS = 0.05;
const BUCKETS = 2001;

/**
 * Send lateness (actual send time − scheduled time) in a fixed histogram: recording costs one
 * array increment, quantiles cost a scan of 2,001 buckets at read time.
 */
export class LatenessHistogram {
  /** Frames recorded. */
  count = 0;
  /** Largest lateness seen, ms. */
  maxMs = 0;
  private readonly buckets = new Uint32Array(BUCKETS);

  /** Record one frame `lateMs` late (negative = early, counted as 0). */
  record(lateMs: number): void {
    let i = lateMs > 0 ? Math.floor(lateMs / BUCKET_MS) : 0;
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.buckets[i]!++;
    this.count++;
    if (lateMs > this.maxMs) this.maxMs = lateMs;
  }

  /** Lateness at quantile q (0..1), ms, as the upper edge of its bucket; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return i === BUCKETS - 1 ? this.maxMs : (i + 1) * BUCKET_MS;
    }
    return this.maxMs;
  }

  /** Forget everything (e.g. after a warm-up). */
  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.maxMs = 0;
  }
}

/**
 * One clock for all streams of a worker, on an absolute schedule so errors never accumulate:
 *
 * ```
 *  period k:  |s0 |s1 |s2 | ... |s19|   phase due = start + k·20 ms + s·1 ms (20 slots)
 *              ^ streams of slot 0 send their frame k
 *  wake-up:   setTimeout until ~1 ms before the next due phase, then optionally Atomics.wait
 *             (sleepMs) and busy-wait (spinMs) the rest, so the 1 ms timer grain is not lateness
 *  stall:     L frames owed: skip the L−b oldest, send the newest b (b = maxBurst at most once a
 *             second, else 1), so overload degrades to dropping frames instead of bursting
 * ```
 *
 * Streams are assigned to the emptiest slot when added. The clock runs only while it has streams.
 */
export class PacingClock {
  /** Lateness of every frame sent (from the due time of its phase to the moment it is paced). */
  readonly lateness = new LatenessHistogram();
  /** Frames skipped after stalls. */
  skipped = 0;
  /** Wake-ups that found nothing due yet (timer fired early). */
  earlyWakeups = 0;
  readonly periodMs: number;
  readonly slotCount: number;
  private readonly slotMs: number;
  private readonly maxBurst: number;
  private readonly spinMs: number;
  private readonly sleepMs: number;
  private readonly yieldAfterMs: number;
  /** Wake-ups that returned to the event loop while behind (see {@link PacingClockOptions.yieldAfterMs}). */
  yields = 0;
  /** What `Atomics.wait` waits on: nothing ever notifies it, it only times out. */
  private readonly sleeper = new Int32Array(new SharedArrayBuffer(4));
  private readonly now: () => number;
  /** Phase offset inside a slot, ms on the shared time line; -1 = unaligned. */
  private readonly alignMs: number;
  private readonly originMs: number;
  private readonly slots: PacedStream[][];
  private size = 0;
  private startMs = 0;
  /** Next phase to run, counted from `startMs` (phase p is due at start + p·slotMs). */
  private phase = 0;
  private lastCatchUpMs = -Infinity;
  private timer: NodeJS.Timeout | undefined = undefined;
  private immediate: NodeJS.Immediate | undefined = undefined;
  private running = false;
  private readonly wakeBound: () => void;

  constructor(opts: PacingClockOptions = {}) {
    this.periodMs = opts.periodMs ?? 20;
    this.slotCount = Math.max(1, Math.floor(opts.slots ?? 20));
    this.slotMs = this.periodMs / this.slotCount;
    this.maxBurst = Math.max(1, opts.maxBurst ?? 3);
    // Never hold the thread across a whole phase: the loop must still run between phases.
    this.spinMs = Math.min(Math.max(0, opts.spinMs ?? 0), this.slotMs / 2);
    this.sleepMs = Math.min(Math.max(0, opts.sleepMs ?? 0), this.slotMs / 2 - this.spinMs);
    this.now = opts.now ?? performance.now.bind(performance);
    this.yieldAfterMs = Math.max(0, opts.yieldAfterMs ?? 2);
    const phase = opts.phase;
    this.alignMs = phase !== undefined && phase >= 0 && phase < 1 ? phase * this.slotMs : -1;
    this.originMs = opts.originMs ?? performance.timeOrigin;
    this.slots = [];
    for (let s = 0; s < this.slotCount; s++) this.slots.push([]);
    this.wakeBound = this.wake.bind(this);
  }

  /** Number of streams attached. */
  get streams(): number {
    return this.size;
  }

  /**
   * Attach a stream: its first frame goes out at its slot's next phase. The slot is the soonest
   * one among those within a small margin of the least loaded: a caller's first media waits for
   * this phase (INVITE to first packet is a target of its own), while the margin keeps the slots
   * balanced — arrivals are spread in time, so the soonest slot keeps moving.
   */
  add(stream: PacedStream): void {
    if (stream.clockSlot >= 0) return;
    const n = this.slotCount;
    let min = this.slots[0]!.length;
    for (let s = 1; s < n; s++) if (this.slots[s]!.length < min) min = this.slots[s]!.length;
    const limit = min + Math.max(1, Math.ceil(this.size / n / 10));
    // A stopped clock restarts at phase 0 (start()).
    const next = this.running ? this.phase : 0;
    let best = next % n;
    for (let k = 0; k < n; k++) {
      const s = (next + k) % n;
      if (this.slots[s]!.length <= limit) {
        best = s;
        break;
      }
    }
    const slot = this.slots[best]!;
    stream.clockSlot = best;
    stream.clockIndex = slot.length;
    slot.push(stream);
    this.size++;
    if (!this.running) this.start();
  }

  /** Detach a stream (O(1): the last stream of its slot takes its place). Idempotent. */
  remove(stream: PacedStream): void {
    const s = stream.clockSlot;
    if (s < 0) return;
    const slot = this.slots[s]!;
    const last = slot.pop()!;
    if (last !== stream) {
      slot[stream.clockIndex] = last;
      last.clockIndex = stream.clockIndex;
    }
    stream.clockSlot = -1;
    stream.clockIndex = -1;
    this.size--;
  }

  /**
   * Run every phase due at `nowMs` (the timer loop calls this; tests call it with a fake time),
   * or stop after the phase during which `now()` reaches `yieldAtMs`. Returns the due time of the
   * next phase (at or before `nowMs` when it stopped early).
   */
  poll(nowMs: number, yieldAtMs = Infinity): number {
    const lastDue = Math.floor((nowMs - this.startMs) / this.slotMs);
    if (lastDue - this.phase >= this.slotCount) this.catchUp(nowMs, lastDue);
    while (this.phase <= lastDue) {
      const due = this.startMs + this.phase * this.slotMs;
      const slot = this.slots[this.phase % this.slotCount]!;
      // Iterate backwards: a stream that ends during pace() removes itself, moving the last
      // stream (already paced) into its index.
      for (let j = slot.length - 1; j >= 0; j--) {
        const st = slot[j];
        if (st === undefined) continue;
        st.pace(due);
        this.lateness.record(this.now() - due);
      }
      this.phase++;
      if (yieldAtMs !== Infinity && this.now() >= yieldAtMs) break;
    }
    return this.startMs + this.phase * this.slotMs;
  }

  /**
   * More than a period of phases is due (the thread stalled: GC, preemption, overload). Each
   * stream skips its older owed frames and keeps the newest `burst` ones, sent back to back by
   * the phase loop (a receiver can still use those). The burst is granted once per second at
   * most: under sustained overload a burst would itself make the clock late again and feed on
   * itself, so then streams keep only their newest frame and the rest is skipped. The kept
   * frames are left to the phase loop (phases `start..lastDue` hold exactly each slot's newest
   * ones, at their own due times), which can yield between phases: a catch-up does not hold the
   * thread for a whole period's work.
   */
  private catchUp(nowMs: number, lastDue: number): void {
    const burst = nowMs - this.lastCatchUpMs >= 1000 ? this.maxBurst : 1;
    this.lastCatchUpMs = nowMs;
    const first = this.phase;
    const n = this.slotCount;
    const start = Math.max(first, lastDue - burst * n + 1);
    for (let s = 0; s < n; s++) {
      // Phases q in [first, lastDue] with q ≡ s (mod n), and those of them from `start` on.
      const owed = Math.floor((lastDue - s) / n) - Math.floor((first - 1 - s) / n);
      const kept = Math.floor((lastDue - s) / n) - Math.floor((start - 1 - s) / n);
      if (owed <= kept) continue;
      const slot = this.slots[s]!;
      for (let j = slot.length - 1; j >= 0; j--) slot[j]?.skip(owed - kept);
      this.skipped += (owed - kept) * slot.length;
    }
    this.phase = start;
  }

  /** Stop the timer loop (streams stay attached; `add` restarts it). Idempotent. */
  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
  }

  private start(): void {
    this.running = true;
    let start = this.now();
    if (this.alignMs >= 0) {
      // Move the start forward (less than a slot) onto this clock's place in the shared grid.
      const past = (((this.originMs + start - this.alignMs) % this.slotMs) + this.slotMs) % this.slotMs;
      if (past > 0) start += this.slotMs - past;
    }
    this.startMs = start;
    this.phase = 0;
    // Not synchronously: add() must not send from inside the caller's command handling.
    this.timer = setTimeout(this.wakeBound, 0);
  }

  private wake(): void {
    this.timer = undefined;
    this.immediate = undefined;
    if (!this.running) return;
    if (this.size === 0) {
      this.running = false;
      return;
    }
    const hold = this.sleepMs + this.spinMs;
    let due = this.startMs + this.phase * this.slotMs;
    let now = this.now();
    if (due > now + hold) this.earlyWakeups++;
    const yieldAt = this.yieldAfterMs > 0 ? now + this.yieldAfterMs : Infinity;
    // Run what is due; a deadline inside the hold window is waited for here (asleep, then busy),
    // not left to the timer.
    // `running` too: a stream may stop the clock from inside pace().
    while (due <= now + hold && this.running) {
      if (now < due - this.spinMs && this.sleepMs > 0) {
        Atomics.wait(this.sleeper, 0, 0, due - this.spinMs - now);
        now = this.now();
      }
      while (now < due) now = this.now();
      due = this.poll(now, yieldAt);
      now = this.now();
      if (now >= yieldAt && due <= now) {
        // Behind and out of budget: let the poll phase relay what arrived, then go on.
        this.yields++;
        this.immediate = setImmediate(this.wakeBound);
        return;
      }
    }
    // setTimeout has 1 ms granularity and does not fire before its delay by its own clock (which
    // is stale by up to one loop iteration): aim at the deadline minus the hold window, rounded
    // up, so the wake-up lands inside the window (sleep/spin) or late by under ~1 ms (none).
    const wait = due - now - hold;
    this.timer = setTimeout(this.wakeBound, wait > 1 ? Math.ceil(wait) : 1);
  }
}
