/**
 * The CRM look-up on a call's path: a per-number cache, a hard deadline (a call never waits for
 * the CRM longer than its budget) and metrics. Failures are counted every time and logged at most
 * once per `logEveryMs` with how many were not logged, so that a CRM outage under a surge does not
 * become a log flood.
 */
import { LRUCache } from 'lru-cache';
import type { CallerInfo, CrmAdapter } from '../../crm-adapter/index.ts';
import { unknownCaller } from '../../crm-adapter/index.ts';
import type { CallerLookup } from './types.ts';

/** How a look-up ended, for metrics. */
export type LookupResult = 'ok' | 'timeout' | 'error';

/** What the cached look-up reports to. */
export interface LookupObserver {
  /** One look-up that went to the CRM (cache hits are not timed). */
  crmLookup(ms: number, result: LookupResult): void;
}

/** A pino-compatible logger (only `warn`). */
export interface LookupLogger {
  warn(obj: object, msg: string): void;
}

/** Options of {@link CachedCallerLookup}. */
export interface CachedLookupOptions {
  adapter: Pick<CrmAdapter, 'lookupCaller'>;
  /** How long an answer is reused for the same number (ms); 0 = no cache. */
  cacheTtlMs: number;
  /**
   * Most numbers cached. Default 20 000: a cache of `max` preallocates about 40 bytes a slot, and
   * with stale answers purged (see {@link CachedCallerLookup}) it holds the numbers of one TTL,
   * 15,000 at a surge's 250 calls/s with the default 60 s; past the bound the least recently used
   * answer goes, which costs a CRM look-up, never a wrong answer.
   */
  cacheMax?: number;
  metrics: LookupObserver;
  log: LookupLogger;
  /** Least time between two failure log lines (ms). Default 10 000. */
  logEveryMs?: number;
  /** Monotonic ms (injected by tests). Default `performance.now`. */
  now?: () => number;
}

/**
 * Warnings about a CRM that fails, at most one line per `everyMs` with how many were not logged
 * (`notLogged`): an outage under a surge must not become a log flood. Shared by the look-up and
 * the IVR's queries (query.ts).
 */
export class FailureLog {
  private lastLogAt = -Infinity;
  private unlogged = 0;

  constructor(private readonly log: LookupLogger, private readonly everyMs: number, private readonly now: () => number) {}

  warn(obj: object, msg: string): void {
    const now = this.now();
    if (now - this.lastLogAt < this.everyMs) {
      this.unlogged++;
      return;
    }
    this.log.warn({ ...obj, notLogged: this.unlogged }, msg);
    this.lastLogAt = now;
    this.unlogged = 0;
  }
}

/**
 * {@link CallerLookup} over a CRM adapter with cache, deadline, metrics and rate-limited logs.
 *
 * The LRU drops a stale answer only when that number is asked for again or the bound is reached,
 * and in a TV surge nearly every caller is a new number: every answer of the whole programme then
 * stayed in the heap (~200 bytes each, ~23,000 in a home-shopping-60 replay). So stale answers are
 * purged once per TTL, on the look-up path (one pass over the cache a minute; no timer to stop).
 */
export class CachedCallerLookup implements CallerLookup {
  private readonly o: CachedLookupOptions;
  private readonly cache: LRUCache<string, CallerInfo> | undefined;
  private readonly now: () => number;
  private readonly failureLog: FailureLog;
  /** When the next purge of stale answers is due (`now` ms). */
  private purgeAt: number;
  /** Look-ups that timed out or failed since start. */
  failures = 0;

  constructor(options: CachedLookupOptions) {
    this.o = options;
    this.now = options.now ?? (() => performance.now());
    this.failureLog = new FailureLog(options.log, options.logEveryMs ?? 10_000, this.now);
    // The cache's clock is ours, so that a TTL and the purge agree (and tests can move both);
    // ttlResolution 0: read it at each check, instead of caching it under a timer made per read.
    this.cache = options.cacheTtlMs > 0
      ? new LRUCache({ max: options.cacheMax ?? 20_000, ttl: options.cacheTtlMs, ttlResolution: 0, perf: { now: this.now } })
      : undefined;
    this.purgeAt = this.now() + options.cacheTtlMs;
  }

  /** Answers in the cache now, stale ones not yet purged included. */
  get cached(): number {
    return this.cache?.size ?? 0;
  }

  async lookup(number: string, dialled: string, deadlineMs: number, callId: string): Promise<CallerInfo> {
    if (number === '') return unknownCaller();
    const cache = this.cache;
    if (cache !== undefined) {
      const now = this.now();
      if (now >= this.purgeAt) {
        cache.purgeStale();
        this.purgeAt = now + this.o.cacheTtlMs;
      }
    }
    const cached = cache?.get(number);
    if (cached) return cached;
    const t0 = this.now();
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), deadlineMs); });
    try {
      const r = await Promise.race([this.o.adapter.lookupCaller(number, { dialled, deadlineMs, signal: controller.signal, callId }), deadline]);
      if (r === 'timeout') {
        controller.abort();
        this.failed(t0, 'timeout', callId, undefined);
        return unknownCaller();
      }
      this.o.metrics.crmLookup(this.now() - t0, 'ok');
      this.cache?.set(number, r);
      return r;
    } catch (err) {
      this.failed(t0, 'error', callId, err);
      return unknownCaller();
    } finally {
      clearTimeout(timer);
    }
  }

  private failed(t0: number, result: 'timeout' | 'error', callId: string, err: unknown): void {
    this.o.metrics.crmLookup(this.now() - t0, result);
    this.failures++;
    this.failureLog.warn({ err, callId, result }, 'CRM look-up failed; unknown caller');
  }
}
