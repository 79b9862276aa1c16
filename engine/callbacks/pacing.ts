/**
 * Predictive pacing (issue 14): how many customers to dial now so that agents about to be free
 * find a customer on the line, while answered customers left without an agent (dialer abandons)
 * stay under a ceiling, as regulators require (default 3 % of answered calls over a rolling window).
 *
 * ```
 *  observations ──▶ answer rate p, time to answer, handle-time sample, abandon window
 *  state now    ──▶ F = idle agents + Σ busy agents' P(free within the time to answer | busy so far)
 *                   X = answers among the calls in flight and n new ones  ~ Binomial(d + n, p)
 *  dials(state) = the largest n with  E[(X − F)⁺] ≤ r · E[X]       (normal approximation)
 *                 r = 60 % of the ceiling, tightened while the measured ratio is above that
 * ```
 *
 * E[(X − F)⁺] is the expected number of customers who answer with no agent free: the abandons a
 * dial decision buys. Bounding it by a share of the expected answers is the ceiling applied to one
 * decision; the feedback on the measured ratio corrects what the model gets wrong. Pure: no clock,
 * no I/O; the runtime and `npm run bench -- dialer` use the same class.
 */

/** The share of the ceiling one decision aims at (the margin keeps a window's ratio under it). */
const AIM = 0.6;

/** Settings of one pacer (one queue or campaign). */
export interface PacingSettings {
  /** Dialer abandons allowed, as a share of answered customers over the window. */
  maxAbandonRatio: number;
  /** The rolling window of answered customers the ratio is measured over (ms). */
  windowMs: number;
  /** At most this many customer calls in flight per logged-in agent (a safety cap). */
  maxLinesPerAgent: number;
  /** Answer rate assumed before any attempt was observed. */
  initialAnswerRate: number;
  /** Time to answer (ms) assumed before any answer was observed. */
  initialAnswerDelayMs: number;
  /** Handle time (talk + wrap-up, ms) assumed before any was observed. */
  initialHandleMs: number;
}

/** Defaults: 3 % over 30 minutes, at most 3 lines per agent. */
export const DEFAULT_PACING: PacingSettings = {
  maxAbandonRatio: 0.03, windowMs: 30 * 60_000, maxLinesPerAgent: 3,
  initialAnswerRate: 0.3, initialAnswerDelayMs: 8_000, initialHandleMs: 120_000,
};

/** What the runtime knows at a decision. */
export interface PacingState {
  now: number;
  /** Agents logged in to the dialer's queue (available or busy). */
  agentsLoggedIn: number;
  /** Available agents with nothing to do now. */
  agentsIdle: number;
  /** Start times of the current handle (talk + wrap-up) of every busy agent. */
  busySince: readonly number[];
  /** Customer calls dialled and not yet answered or failed. */
  dialing: number;
  /** Answered customers waiting for an agent ("please hold"). */
  held: number;
}

/** A reservoir of recent samples, for an empirical distribution (sorted on demand). */
class Samples {
  private readonly values: number[] = [];
  private next = 0;
  private sorted: number[] | null = null;
  constructor(private readonly size: number) {}

  add(v: number): void {
    if (this.values.length < this.size) this.values.push(v);
    else this.values[this.next] = v;
    this.next = (this.next + 1) % this.size;
    this.sorted = null;
  }

  get count(): number {
    return this.values.length;
  }

  mean(): number {
    let sum = 0;
    for (const v of this.values) sum += v;
    return sum / this.values.length;
  }

  /** Share of samples at or below `x` (the empirical CDF). */
  cdf(x: number): number {
    const s = (this.sorted ??= [...this.values].sort((a, b) => a - b));
    let lo = 0;
    let hi = s.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo / s.length;
  }
}

/** The standard normal density and distribution function (Abramowitz-Stegun 7.1.26 for erf). */
function phi(z: number): number {
  return Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
}
function bigPhi(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** E[max(0, Z)] for Z normal with mean `mu` and standard deviation `sigma`. */
function positivePart(mu: number, sigma: number): number {
  if (sigma <= 0) return Math.max(0, mu);
  const z = mu / sigma;
  return sigma * phi(z) + mu * bigPhi(z);
}

/** Predictive pacing for one queue or campaign: feed it outcomes, ask it how many to dial. */
export class PredictivePacer {
  private readonly s: PacingSettings;
  private attempts = 0;
  private answers = 0;
  private readonly answerDelays = new Samples(500);
  private readonly handles = new Samples(500);
  /** Answered customers in the window: [time, abandoned]. */
  private readonly window: { at: number; abandoned: boolean }[] = [];
  private windowAbandons = 0;

  constructor(settings: Partial<PacingSettings> = {}) {
    this.s = { ...DEFAULT_PACING, ...settings };
  }

  /** A customer call ended its ringing: answered (after `delayMs`) or not (busy, no answer...). */
  attemptEnded(answered: boolean, delayMs: number): void {
    // Exponential forgetting: the answer rate follows the time of day and the list being dialled.
    const keep = 1 - 1 / 500;
    this.attempts = this.attempts * keep + 1;
    this.answers = this.answers * keep + (answered ? 1 : 0);
    if (answered) this.answerDelays.add(Math.max(0, delayMs));
  }

  /** An answered customer got an agent (`abandoned` false) or not in time (a dialer abandon). */
  answeredCustomer(now: number, abandoned: boolean): void {
    this.window.push({ at: now, abandoned });
    if (abandoned) this.windowAbandons++;
    this.expire(now);
  }

  /** A handle (talk + wrap-up) of a dialled customer ended after `ms`. */
  handleEnded(ms: number): void {
    this.handles.add(Math.max(0, ms));
  }

  /** The measured abandon ratio over the window (0 with no answered customer yet). */
  abandonRatio(now: number): number {
    this.expire(now);
    return this.window.length === 0 ? 0 : this.windowAbandons / this.window.length;
  }

  /** The answer rate in use (measured, or the initial assumption until 20 attempts are seen). */
  answerRate(): number {
    if (this.attempts < 20) return this.s.initialAnswerRate;
    return Math.min(1, Math.max(0.01, this.answers / this.attempts));
  }

  /** How many customers to dial now (0 or more). */
  dials(state: PacingState): number {
    const cap = Math.floor(this.s.maxLinesPerAgent * state.agentsLoggedIn) - state.dialing;
    if (cap <= 0 || state.agentsLoggedIn <= 0) return 0;
    const p = this.answerRate();
    const horizon = this.answerDelays.count >= 10 ? this.answerDelays.mean() : this.s.initialAnswerDelayMs;
    // Agents free by the time a call dialled now is answered: the idle ones, minus those the held
    // customers take, plus each busy one with the chance its handle ends within the horizon.
    let freeMean = state.agentsIdle - state.held;
    let freeVar = 0;
    for (const since of state.busySince) {
      const q = this.freeWithin(state.now - since, horizon);
      freeMean += q;
      freeVar += q * (1 - q);
    }
    const ratio = this.allowedRatio(state.now);
    const fits = (n: number): boolean => {
      const calls = state.dialing + n;
      const mean = calls * p;
      const sd = Math.sqrt(calls * p * (1 - p) + freeVar);
      return positivePart(mean - freeMean, sd) <= ratio * mean;
    };
    if (!fits(1)) return 0;
    let lo = 1;
    let hi = cap;
    if (fits(hi)) return hi;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (fits(mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The share of expected answers one decision may risk. Above the ceiling the pacer tightens in
   * proportion (down to a tenth), so a run of bad luck is paid back, not repeated.
   */
  private allowedRatio(now: number): number {
    // Aim under the ceiling: it is a hard limit, and the ratio of a window is a random figure.
    const aim = this.s.maxAbandonRatio * AIM;
    const measured = this.abandonRatio(now);
    if (this.window.length < 20 || measured <= aim) return aim;
    return Math.max(aim / 10, aim * (aim / measured) ** 2);
  }

  /** P(a handle that has lasted `elapsed` ends within `horizon` more). */
  private freeWithin(elapsed: number, horizon: number): number {
    if (this.handles.count < 20) {
      // Exponential handle time until enough are observed: memoryless.
      return 1 - Math.exp(-horizon / this.s.initialHandleMs);
    }
    const survived = 1 - this.handles.cdf(elapsed);
    if (survived <= 0) return 1; // longer than every handle seen: likely to end soon
    return Math.min(1, Math.max(0, (this.handles.cdf(elapsed + horizon) - this.handles.cdf(elapsed)) / survived));
  }

  private expire(now: number): void {
    const from = now - this.s.windowMs;
    let drop = 0;
    while (drop < this.window.length && this.window[drop]!.at < from) {
      if (this.window[drop]!.abandoned) this.windowAbandons--;
      drop++;
    }
    if (drop > 0) this.window.splice(0, drop);
  }
}
