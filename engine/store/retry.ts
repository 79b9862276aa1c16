/** Retry schedule of the outbox: exponential backoff with jitter, capped. Pure. */
import type { RetryPolicy } from './types.ts';

/** The defaults: 1 s, doubling, capped at 5 min, 20% jitter, dead letter after 20 attempts (~1.3 h). */
export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  baseDelayMs: 1000,
  maxDelayMs: 300_000,
  factor: 2,
  jitter: 0.2,
  maxAttempts: 20,
});

/**
 * Delay before the next attempt after `attempts` failed ones (1 = first failure):
 * `min(max, base * factor^(attempts-1)) * (1 - jitter * random)`. `random` is in [0, 1);
 * jitter spreads the retries of many calls that failed together (a CRM outage) so that they do
 * not hit the CRM in one burst when it comes back.
 */
export function backoffDelay(policy: RetryPolicy, attempts: number, random: number): number {
  const exp = policy.baseDelayMs * Math.pow(policy.factor, Math.max(0, attempts - 1));
  const capped = Math.min(policy.maxDelayMs, exp);
  return Math.max(0, Math.round(capped * (1 - policy.jitter * random)));
}

/** Validate a policy (programmer error on nonsense values). */
export function checkRetryPolicy(p: RetryPolicy): RetryPolicy {
  if (!(p.baseDelayMs >= 0 && p.maxDelayMs >= p.baseDelayMs && p.factor >= 1 && p.jitter >= 0 && p.jitter <= 1 && p.maxAttempts >= 1)) {
    throw new RangeError(`invalid retry policy ${JSON.stringify(p)}`);
  }
  return p;
}
