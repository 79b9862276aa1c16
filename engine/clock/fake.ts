/**
 * A deterministic {@link Clock} for tests: time moves only when the test calls `advance`, and timers
 * fire in due-time order (ties in the order they were set), each seeing `now()` equal to its due time.
 */
import type { Clock, TimerHandle } from './clock.ts';

interface FakeTimer {
  due: number;
  seq: number;
  fn: () => void;
  /** Position in the heap, -1 once fired or cleared. */
  index: number;
}

/**
 * Fake clock with a binary heap of timers.
 *
 * ```ts
 * const clock = new FakeClock();
 * clock.setTimer(500, fire);
 * clock.advance(499); // nothing
 * clock.advance(1);   // fire() runs with clock.now() === 500
 * ```
 */
export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly heap: FakeTimer[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { due: this.time + Math.max(0, ms), seq: this.seq++, fn, index: this.heap.length };
    this.heap.push(timer);
    this.up(timer.index);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle as FakeTimer | undefined;
    if (!timer || timer.index < 0) return;
    this.removeAt(timer.index);
  }

  /** Timers not yet fired nor cleared. */
  get pending(): number {
    return this.heap.length;
  }

  /** Due time of the next timer, or undefined. */
  nextDue(): number | undefined {
    return this.heap[0]?.due;
  }

  /** Due time of the next timer, or null. */
  nextTimerAt(): number | null {
    return this.heap[0]?.due ?? null;
  }

  /** Move time forward by `ms`, firing every timer due on the way (including ones set while firing). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      const next = this.heap[0];
      if (!next || next.due > target) break;
      this.fire(next);
    }
    this.time = target;
  }

  /** Move time to an absolute instant (never backwards). */
  advanceTo(instant: number): void {
    if (instant > this.time) this.advance(instant - this.time);
  }

  /** Fire timers one by one, moving time to each, until none is left or `limit` have fired. */
  runAll(limit = 100_000): number {
    let fired = 0;
    for (; fired < limit; fired++) {
      const next = this.heap[0];
      if (!next) break;
      this.fire(next);
    }
    return fired;
  }

  private fire(timer: FakeTimer): void {
    this.removeAt(timer.index);
    this.time = timer.due;
    timer.fn();
  }

  private less(a: FakeTimer, b: FakeTimer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private removeAt(i: number): void {
    const heap = this.heap;
    const removed = heap[i]!;
    const last = heap.pop()!;
    removed.index = -1;
    if (last !== removed) {
      heap[i] = last;
      last.index = i;
      this.down(i);
      this.up(last.index);
    }
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (!this.less(item, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = item;
    item.index = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && this.less(heap[r]!, heap[l]!)) c = r;
      const child = heap[c]!;
      if (!this.less(child, item)) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = item;
    item.index = i;
  }
}
