/**
 * Erlang C, the textbook staffing estimate: Poisson arrivals, exponential handle times, callers who
 * never hang up. Used to compare the staffing the surge measures with what the formula predicts
 * for the same arrival curve (interval by interval, the way workforce planning applies it).
 */
import type { Profile } from './profile.ts';
import { meanSeconds } from './profile.ts';
import { callsBetween } from './schedule.ts';

/** Probability that a caller waits: C(N, A), A = offered load in erlangs. 1 when N <= A. */
export function erlangC(agents: number, load: number): number {
  if (agents <= load) return 1;
  // Erlang B by recurrence (stable for thousands of agents), then C from B.
  let b = 1;
  for (let n = 1; n <= agents; n++) b = (load * b) / (n + load * b);
  return (agents * b) / (agents - load * (1 - b));
}

/** Share of callers answered within `t` seconds with `agents`, arrival `rate`/s, handle time `aht` s. */
export function serviceLevel(agents: number, rate: number, aht: number, t: number): number {
  if (rate <= 0) return 1;
  const load = rate * aht;
  if (agents <= load) return 0;
  return 1 - erlangC(agents, load) * Math.exp((-(agents - load) * t) / aht);
}

/** Smallest number of agents reaching `target` service level (answered within t s). */
export function agentsFor(rate: number, aht: number, t: number, target: number): number {
  if (rate <= 0) return 0;
  let n = Math.max(1, Math.floor(rate * aht) + 1);
  while (serviceLevel(n, rate, aht, t) < target) n++;
  return n;
}

/** Average handle time of a profile: answer delay + talk + wrap-up (broadcast seconds). */
export function handleTime(profile: Profile): number {
  return meanSeconds(profile.agents.answerDelay) + meanSeconds(profile.agents.talk) + meanSeconds(profile.agents.wrapUp);
}

/** The Erlang C view of a profile, one interval at a time. */
export interface ErlangEstimate {
  /** Handle time used (broadcast seconds). */
  aht: number;
  /** Interval length (broadcast minutes). */
  intervalMinutes: number;
  /** Agents each interval needs for the target on its own. */
  perInterval: { minute: number; rate: number; agents: number }[];
  /** The largest of them: staff for the worst interval. */
  peakAgents: number;
  /** Smallest fixed staff whose call-weighted service level over the programme meets the target. */
  programmeAgents: number;
}

/** Planning interval: a minute, or a tenth of a programme shorter than ten minutes. */
export function defaultInterval(profile: Profile): number {
  return Math.min(1, profile.durationMinutes / 10);
}

/** Mean arrival rate (calls/s) over the interval starting at minute `m`. */
function intervalRate(profile: Profile, m: number, minutes: number): number {
  const end = Math.min(profile.durationMinutes, m + minutes);
  return callsBetween(profile, m, end) / ((end - m) * 60);
}

/** Call-weighted Erlang C service level of the whole programme with `agents` (intervals of `minutes`). */
export function programmeServiceLevel(profile: Profile, agents: number, minutes = defaultInterval(profile)): number {
  const aht = handleTime(profile);
  let calls = 0;
  let within = 0;
  for (let m = 0; m < profile.durationMinutes; m += minutes) {
    const rate = intervalRate(profile, m, minutes);
    calls += rate * minutes;
    within += rate * minutes * serviceLevel(agents, rate, aht, profile.serviceLevel.seconds);
  }
  return calls > 0 ? within / calls : 1;
}

/** Erlang C staffing of a profile, per `minutes` interval and for the whole programme. */
export function erlangEstimate(profile: Profile, minutes = defaultInterval(profile)): ErlangEstimate {
  const aht = handleTime(profile);
  const { seconds, target } = profile.serviceLevel;
  const perInterval: ErlangEstimate['perInterval'] = [];
  for (let m = 0; m < profile.durationMinutes; m += minutes) {
    const rate = intervalRate(profile, m, minutes);
    perInterval.push({ minute: m, rate, agents: agentsFor(rate, aht, seconds, target) });
  }
  const peakAgents = Math.max(0, ...perInterval.map((p) => p.agents));
  // Service level grows with staff: bisect between 1 and the peak requirement.
  let lo = 1;
  let hi = Math.max(1, peakAgents);
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (programmeServiceLevel(profile, mid, minutes) >= target) hi = mid;
    else lo = mid + 1;
  }
  return { aht, intervalMinutes: minutes, perInterval, peakAgents, programmeAgents: lo };
}
