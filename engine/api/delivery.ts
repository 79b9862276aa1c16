/**
 * CRM outages are not silent: every outbox delivery (CDR, call event) is counted by result in
 * `onair_crm_deliveries_total`, and failures are logged — at most one warn line per
 * `logEveryMs`, carrying how many failed since the last line, so a CRM that is down for an hour
 * under a surge writes one line a minute, not one per call.
 */
import type { Logger } from 'pino';
import type { DeliveryReport } from '../store/index.ts';
import type { DeliveryResult, Metrics } from './metrics.ts';

/** Options of {@link deliveryObserver}. */
export interface DeliveryObserverOptions {
  /** Shortest time between two warn lines, ms. Default 60 000. */
  logEveryMs?: number;
  /** Monotonic-enough clock, ms. Default `Date.now`. */
  now?: () => number;
}

/** The result label of one delivery. */
export function deliveryResult(r: Pick<DeliveryReport, 'ok' | 'dead'>): DeliveryResult {
  return r.ok ? 'ok' : r.dead ? 'dead' : 'retry';
}

/** An `onDelivery` hook for the outbox dispatcher: counts every delivery, logs failures rate-limited. */
export function deliveryObserver(metrics: Metrics, log: Pick<Logger, 'warn'>, options: DeliveryObserverOptions = {}): (r: DeliveryReport) => void {
  const every = options.logEveryMs ?? 60_000;
  const now = options.now ?? Date.now;
  let lastLogAt = -Infinity;
  let failed = 0;
  let dead = 0;
  return (r) => {
    const result = deliveryResult(r);
    metrics.crmDelivery(result);
    if (result === 'ok') return;
    failed++;
    if (result === 'dead') dead++;
    const t = now();
    if (t - lastLogAt < every) return;
    lastLogAt = t;
    log.warn({ failed, dead, lastError: r.error, kind: r.item.kind, callId: r.item.callId },
      'CRM delivery failing: items stay in the outbox and are retried (dead letters need a requeue)');
    failed = 0;
    dead = 0;
  };
}
