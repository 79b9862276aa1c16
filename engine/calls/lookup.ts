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
  /** Most numbers cached. Default 100 000. */
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

/** {@link CallerLookup} over a CRM adapter with cache, deadline, metrics and rate-limited logs. */
export class CachedCallerLookup implements CallerLookup {
  private readonly o: CachedLookupOptions;
  private readonly cache: LRUCache<string, CallerInfo> | undefined;
  private readonly now: () => number;
  private readonly failureLog: FailureLog;
  /** Look-ups that timed out or failed since start. */
  failures = 0;

  constructor(options: CachedLookupOptions) {
    this.o = options;
    this.now = options.now ?? (() => performance.now());
    this.failureLog = new FailureLog(options.log, options.logEveryMs ?? 10_000, this.now);
    this.cache = options.cacheTtlMs > 0 ? new LRUCache({ max: options.cacheMax ?? 100_000, ttl: options.cacheTtlMs }) : undefined;
  }

  async lookup(number: string, dialled: string, deadlineMs: number, callId: string): Promise<CallerInfo> {
    if (number === '') return unknownCaller();
    const cached = this.cache?.get(number);
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
