/**
 * Per-source limit on failed authentications. A source (an IP address, not a port: a guesser
 * changes ports for free) that fails more than `maxFailures` times within `windowMs` is blocked
 * for `blockMs`: its requests are answered without any digest work, so a flood of bad passwords
 * costs a map look-up per packet, not a hash.
 *
 * ```
 *  failures in window ─▶ 1 2 3 … maxFailures ─▶ (one more) blocked until now + blockMs
 *  window restarts when windowMs has passed since its first failure
 * ```
 *
 * The table is an LRU bounded by `maxSources`, so spraying from many addresses cannot grow it
 * without limit (the oldest sources are forgotten first).
 */
import { LRUCache } from 'lru-cache';
import type { Clock } from '../sip/index.ts';

/** Options of a {@link FailureLimiter}. */
export interface FailureLimiterOptions {
  /** Failures tolerated within one window; the next one blocks the source. Default 20. */
  maxFailures?: number;
  /** Length of the counting window in ms. Default 60 000. */
  windowMs?: number;
  /** How long a source stays blocked, in ms. Default 300 000. */
  blockMs?: number;
  /** Most sources remembered at once (LRU). Default 10 000. */
  maxSources?: number;
}

/** What one source has done lately. Created with all fields so its shape never changes. */
interface SourceRecord {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

/** Result of {@link FailureLimiter.fail}. */
export type FailureOutcome = 'counted' | 'blocked';

/** Counts failed authentications per source address and blocks floods. */
export class FailureLimiter {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly blockMs: number;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly sources: LRUCache<string, SourceRecord>;

  constructor(opts: FailureLimiterOptions, clock: Pick<Clock, 'now'>) {
    this.maxFailures = opts.maxFailures ?? 20;
    this.windowMs = opts.windowMs ?? 60_000;
    this.blockMs = opts.blockMs ?? 300_000;
    this.clock = clock;
    this.sources = new LRUCache({ max: opts.maxSources ?? 10_000 });
    if (!(this.maxFailures >= 0 && this.windowMs > 0 && this.blockMs >= 0)) {
      throw new RangeError('FailureLimiter: maxFailures >= 0, windowMs > 0 and blockMs >= 0 are required');
    }
  }

  /** Milliseconds the source must still wait; 0 when it is not blocked. */
  retryAfterMs(address: string): number {
    const r = this.sources.get(address);
    if (r === undefined || r.blockedUntil === 0) return 0;
    const left = r.blockedUntil - this.clock.now();
    return left > 0 ? left : 0;
  }

  /** Count one failure; `blocked` when this failure starts a block. */
  fail(address: string): FailureOutcome {
    const now = this.clock.now();
    let r = this.sources.get(address);
    if (r === undefined) {
      r = { windowStart: now, failures: 0, blockedUntil: 0 };
      this.sources.set(address, r);
    }
    if (now - r.windowStart >= this.windowMs) {
      r.windowStart = now;
      r.failures = 0;
    }
    r.failures++;
    if (r.failures > this.maxFailures) {
      r.blockedUntil = now + this.blockMs;
      r.failures = 0;
      r.windowStart = now;
      return 'blocked';
    }
    return 'counted';
  }

  /** Sources remembered now (for metrics and tests). */
  get size(): number {
    return this.sources.size;
  }
}

/**
 * At most one answered refusal per source address per `intervalMs`. A blocked source or a guesser
 * naming a locked account gets one 503 now and then, not one per packet: the rest are dropped
 * unanswered (their server transaction absorbs retransmissions and ends quietly after 64*T1), so a
 * flood costs a map look-up per packet and sends almost nothing back, even to a spoofed address.
 */
export class RefusalLimiter {
  readonly intervalMs: number;
  private readonly clock: Pick<Clock, 'now'>;
  /** Source address → clock time of the last refusal answered. */
  private readonly answered: LRUCache<string, { at: number }>;

  constructor(intervalMs: number, clock: Pick<Clock, 'now'>, maxSources = 10_000) {
    if (!(intervalMs >= 0)) throw new RangeError('RefusalLimiter: intervalMs >= 0 is required');
    this.intervalMs = intervalMs;
    this.clock = clock;
    this.answered = new LRUCache({ max: maxSources });
  }

  /** True when a refusal to this source may be answered now (and counts it); false: drop it. */
  allow(address: string): boolean {
    const now = this.clock.now();
    const r = this.answered.get(address);
    if (r === undefined) {
      this.answered.set(address, { at: now });
      return true;
    }
    if (now - r.at < this.intervalMs) return false;
    r.at = now;
    return true;
  }
}
