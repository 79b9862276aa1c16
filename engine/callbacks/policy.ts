/**
 * The attempt policy of callback tasks, pure: when a task may be dialled (calling hours in the
 * customer's time zone, the do-not-call list, expiry) and what an attempt's result does to it
 * (done, retried after the result's delay, or exhausted). The store applies {@link decideAfterAttempt}
 * in the transaction that ends the attempt, the runtime asks {@link isDialable} before it dials.
 */
import { inCallingHours, nextCallingTime, type CallingWindow } from './hours.ts';

/**
 * What an attempt ended with: the dial results of the outbound client (engine/outbound
 * `DialResult`; `answered` = the customer was reached and talked to an agent) plus what the
 * runtime sees itself: the agent did not answer the offer (the customer was never dialled), the
 * agent skipped a preview (or rescheduled it: `skipped` with the agent's time), the engine
 * stopped mid-attempt (`interrupted`), or the attempt failed inside the engine.
 */
export type AttemptResult =
  | 'answered' | 'busy' | 'no_answer' | 'invalid_number' | 'rejected' | 'trunk_error' | 'cancelled'
  | 'agent_no_answer' | 'skipped' | 'interrupted' | 'failed';

/** Every {@link AttemptResult}, in a stable order (metrics, validation). */
export const ATTEMPT_RESULTS = [
  'answered', 'busy', 'no_answer', 'invalid_number', 'rejected', 'trunk_error', 'cancelled',
  'agent_no_answer', 'skipped', 'interrupted', 'failed',
] as const satisfies readonly AttemptResult[];

/** Results that leave the customer unreached (each has a retry delay, or none = no retry). */
export type UnreachedResult = Exclude<AttemptResult, 'answered'>;

/** The attempt policy (config `callbacks.dialing`). */
export interface DialingPolicy {
  /** Attempts that rang the customer, at most; the task is exhausted after the last. */
  maxAttempts: number;
  /** Delay before the next attempt, per result (s); null = that result closes the task at once. */
  retryDelaySeconds: Readonly<Record<UnreachedResult, number | null>>;
  /** Windows in which a customer may be called, in the task's time zone. */
  callingHours: readonly CallingWindow[];
  /** IANA zone of the calling hours when the task carries none. */
  timeZone: string;
  /** An open task whose first call arrived longer ago than this is closed as expired (h). */
  expiryHours: number;
}

/** The defaults of `callbacks.dialing` (engine/config/schema.ts uses these values). */
export const DEFAULT_DIALING_POLICY: DialingPolicy = {
  maxAttempts: 5,
  retryDelaySeconds: {
    busy: 300, no_answer: 900, trunk_error: 60, cancelled: 60, agent_no_answer: 0, skipped: 300, interrupted: 0, failed: 60,
    rejected: null, invalid_number: null,
  },
  callingHours: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '09:00', to: '21:00' }],
  timeZone: 'Asia/Shanghai',
  expiryHours: 24,
};

/** What the policy reads of a task (a `CallbackTask` of engine/store fits). */
export interface DialableTask {
  status: string;
  caller: string;
  /** Original arrival (epoch ms): the age that expires a task. */
  arrivedAt: number;
  /** Earliest next attempt (epoch ms). */
  nextAttemptAt: number;
  /** Attempts that counted so far. */
  attempts: number;
  /** The customer's IANA zone, or null for the policy's. */
  timeZone: string | null;
}

/**
 * True when the customer's phone rang (or may have) in an attempt with this result, so it counts
 * toward `maxAttempts`. An offer the agent did not answer, or a preview the agent skipped, never
 * dialled the customer.
 */
export function countsAsAttempt(result: AttemptResult): boolean {
  return result !== 'agent_no_answer' && result !== 'skipped';
}

/** The time zone that applies to a task. */
export function zoneOf(task: Pick<DialableTask, 'timeZone'>, policy: DialingPolicy): string {
  return task.timeZone ?? policy.timeZone;
}

/** True when the task is past its expiry at `now`. */
export function isExpired(task: Pick<DialableTask, 'arrivedAt'>, now: number, policy: DialingPolicy): boolean {
  return now - task.arrivedAt >= policy.expiryHours * 3_600_000;
}

/**
 * May the task be dialled at `now`? Open, due, not expired, its number not on the do-not-call
 * list, and `now` inside the calling hours of its time zone.
 */
export function isDialable(task: DialableTask, now: number, policy: DialingPolicy, dnc: (number: string) => boolean): boolean {
  return task.status === 'open' && task.nextAttemptAt <= now && !isExpired(task, now, policy) && !dnc(task.caller)
    && inCallingHours(now, policy.callingHours, zoneOf(task, policy));
}

/** What ending an attempt does to its task. */
export type AttemptDecision =
  | { status: 'done'; attempts: number }
  | { status: 'open'; attempts: number; nextAttemptAt: number }
  | { status: 'exhausted'; attempts: number };

/**
 * The policy after an attempt ended at `now` with `result`: answered → done; a result without a
 * retry delay, or the last allowed attempt → exhausted; otherwise open again at
 * {@link nextAttemptAt}. `attempts` is the task's count after this attempt.
 */
export function decideAfterAttempt(
  task: Pick<DialableTask, 'attempts' | 'timeZone'>, result: AttemptResult, now: number, policy: DialingPolicy,
): AttemptDecision {
  const attempts = task.attempts + (countsAsAttempt(result) ? 1 : 0);
  if (result === 'answered') return { status: 'done', attempts };
  const next = nextAttemptAt(task, result, now, policy);
  if (next === null || attempts >= policy.maxAttempts) return { status: 'exhausted', attempts };
  return { status: 'open', attempts, nextAttemptAt: next };
}

/**
 * When a task unreached with `result` at `now` may be tried again: after the result's delay, at
 * the first instant inside the calling hours. Null when the result is not retried (or no calling
 * window ever opens).
 */
export function nextAttemptAt(
  task: Pick<DialableTask, 'timeZone'>, result: UnreachedResult, now: number, policy: DialingPolicy,
): number | null {
  const delay = policy.retryDelaySeconds[result];
  if (delay === null) return null;
  return nextCallingTime(now + delay * 1000, policy.callingHours, zoneOf(task, policy));
}
