/**
 * The one clock interface of the engine (CONVENTIONS.md 11, 12): every layer that keeps time or
 * timers takes a {@link Clock}, so that each is tested on the same {@link FakeClock}. Two real
 * clocks: a monotonic one for protocol timers and rates (SIP transactions, digest nonces, limits),
 * an epoch one where times are stored or sent (the outbox, CDRs).
 */

/** Opaque timer handle. */
export type TimerHandle = unknown;

/** Time source and timers, injected so tests run on a fake clock. */
export interface Clock {
  /** Milliseconds: monotonic ({@link monotonicClock}) or since the epoch ({@link epochClock}). */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Node timers, unref'd: a pending timer never keeps the process alive. */
function setTimer(ms: number, fn: () => void): TimerHandle {
  const t = setTimeout(fn, ms);
  t.unref();
  return t;
}

function clearTimer(h: TimerHandle): void {
  clearTimeout(h as NodeJS.Timeout);
}

/** `performance.now()`: never jumps with the wall clock (NTP steps), for durations and timers. */
export const monotonicClock: Clock = { now: () => performance.now(), setTimer, clearTimer };

/** `Date.now()`: for times that are stored or sent to other systems. */
export const epochClock: Clock = { now: () => Date.now(), setTimer, clearTimer };
