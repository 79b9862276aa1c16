/**
 * engine/callbacks — the attempt policy of callback tasks (issue 14), pure: calling hours in an
 * IANA time zone (Intl, no dependency), retry delays per result, maximum attempts, expiry and the
 * do-not-call check. No I/O and no clock: every function takes `now`. The durable tasks and
 * attempts live in engine/store, which applies this policy when an attempt ends.
 */
export {
  ATTEMPT_RESULTS, DEFAULT_DIALING_POLICY, countsAsAttempt, decideAfterAttempt, isDialable, isExpired, nextAttemptAt, zoneOf,
  type AttemptDecision, type AttemptResult, type DialableTask, type DialingPolicy, type UnreachedResult,
} from './policy.ts';
export {
  clockMinutes, inCallingHours, inWindows, isTimeZone, localTime, nextCallingTime, type CallingWindow, type LocalTime,
} from './hours.ts';
export { DEFAULT_PACING, PredictivePacer, type PacingSettings, type PacingState } from './pacing.ts';
export { firstAirings, previousAiring, previousAiringFirst, type AiringSlot } from './order.ts';
