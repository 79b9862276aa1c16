/**
 * Test helpers for the store and for adapters: a fake clock and builders of realistic CDRs and
 * call events. Not used by the engine itself.
 */
import type { CallEvent, Cdr } from '../../crm-adapter/index.ts';
import type { Clock, TimerHandle } from './dispatcher.ts';

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A {@link Clock} that only moves when told to. Timers fire in time order during advance(). */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Map<number, FakeTimer>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const seq = ++this.#seq;
    this.#timers.set(seq, { at: this.#now + Math.max(0, ms), seq, fn });
    return seq;
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Number of timers not yet fired. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Time of the earliest timer, or null. */
  nextTimerAt(): number | null {
    let min: number | null = null;
    for (const t of this.#timers.values()) if (min === null || t.at < min) min = t.at;
    return min;
  }

  /** Move time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let first: FakeTimer | undefined;
      for (const t of this.#timers.values()) {
        if (t.at <= end && (first === undefined || t.at < first.at || (t.at === first.at && t.seq < first.seq))) first = t;
      }
      if (first === undefined) break;
      this.#timers.delete(first.seq);
      this.#now = Math.max(this.#now, first.at);
      first.fn();
    }
    this.#now = end;
  }
}

/** A complete answered CDR for `callId`; override any field. */
export function sampleCdr(callId: string, overrides: Partial<Cdr> = {}): Cdr {
  const arrivedAt = Date.UTC(2026, 0, 1, 20, 0, 0);
  return {
    contractVersion: 1, callId, caller: '+4930123456', dialled: '100', programme: 'evening-show', airing: '2026-01-01T20:00Z',
    queue: 'orders', agent: '1001', customerId: 'C-1', outcome: 'answered', arrivedAt, ivrExitAt: arrivedAt + 4000,
    queuedAt: arrivedAt + 4000, offeredAt: arrivedAt + 9000, answeredAt: arrivedAt + 12_000, endedAt: arrivedAt + 192_000,
    wrapUpEndAt: arrivedAt + 222_000, waitMs: 12_000, talkMs: 180_000, wrapUpMs: 30_000, offers: 1, releasedBy: 'caller',
    callbackId: null, ...overrides,
  };
}

/** A `queued` event for `callId` (position `n`). */
export function sampleEvent(callId: string, n = 1): CallEvent {
  return {
    type: 'queued', callId, at: Date.UTC(2026, 0, 1, 20, 0, n), caller: '+4930123456', dialled: '100', customerId: null,
    queue: 'orders', position: n, priority: 0,
  };
}
