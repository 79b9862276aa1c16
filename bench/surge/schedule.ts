/**
 * The pure part of a surge: the rate schedule sent to sipp, and the callers it dials. No I/O, no
 * clock: the same profile and seed give the same schedule and the same callers.
 *
 * ```
 *  broadcast time  0 ─────────── c s ─────────── 2c s ───▶      (c = compression)
 *  replay time     0 ─── 1 s ───────── 2 s ──────────────▶
 *  sipp rate       r0 = ∫₀^c λ(t) dt   r1 = ∫_c^{2c} λ(t) dt      (calls in that replay second)
 * ```
 */
import { meanSeconds, type Distribution, type Profile } from './profile.ts';
import { seededRandom } from '../lib.ts';

export { seededRandom };

/** Offered calls per second of broadcast time at `minute` (linear between the profile's points). */
export function rateAt(profile: Profile, minute: number): number {
  const pts = profile.arrivals;
  if (minute <= pts[0]!.minute) return pts[0]!.perSecond;
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1]!;
    const b = pts[i]!;
    if (minute <= b.minute) return a.perSecond + ((b.perSecond - a.perSecond) * (minute - a.minute)) / (b.minute - a.minute);
  }
  return pts[pts.length - 1]!.perSecond;
}

/** Expected calls between broadcast minutes `from` and `to`: the exact integral of the curve. */
export function callsBetween(profile: Profile, from: number, to: number): number {
  if (to <= from) return 0;
  // Integrate piecewise linear segments exactly: split at the curve's own points.
  const cuts = [from, ...profile.arrivals.map((p) => p.minute).filter((m) => m > from && m < to), to];
  let calls = 0;
  for (let i = 1; i < cuts.length; i++) {
    const a = cuts[i - 1]!;
    const b = cuts[i]!;
    calls += ((rateAt(profile, a) + rateAt(profile, b)) / 2) * (b - a) * 60;
  }
  return calls;
}

/** One step of the schedule: from `atMs` after the start (replay time), sipp runs at `rate` calls/s. */
export interface RateStep {
  atMs: number;
  /** Calls per second of replay time (what sipp is told). */
  rate: number;
}

/**
 * The rate sipp follows: one step per replay second, each the mean of the curve over the
 * broadcast seconds that replay second stands for, times the compression. The steps' sum is the
 * curve's integral: the expected number of callers.
 */
export function rateSchedule(profile: Profile): RateStep[] {
  const replaySeconds = Math.ceil((profile.durationMinutes * 60) / profile.compression);
  const steps: RateStep[] = [];
  for (let s = 0; s < replaySeconds; s++) {
    const from = (s * profile.compression) / 60;
    const to = Math.min(profile.durationMinutes, ((s + 1) * profile.compression) / 60);
    // A last, partial second keeps its calls: the rate covers the whole second.
    steps.push({ atMs: s * 1000, rate: callsBetween(profile, from, to) });
  }
  return steps;
}

/**
 * The schedule as whole calls per second, the fractions carried from second to second so that the
 * total equals the curve's integral (rounded). sipp restarts its pacing at every rate change and
 * drops a fractional rate's remainder, so it is told whole numbers.
 */
export function wholeCallsSchedule(steps: readonly RateStep[]): RateStep[] {
  let acc = 0;
  let sent = 0;
  return steps.map((s) => {
    acc += s.rate;
    const n = Math.round(acc) - sent;
    sent += n;
    return { atMs: s.atMs, rate: n };
  });
}

/** The control-socket command that sets sipp's rate (calls per `-rp 1000`, i.e. per second). */
export function rateCommand(callsPerSecond: number): string {
  return `cset rate ${callsPerSecond}`;
}

/** Every rate command of a replay, one per second, in order: what sipp is told. */
export function rateCommands(profile: Profile): string[] {
  return wholeCallsSchedule(rateSchedule(profile)).map((s) => rateCommand(s.rate));
}

/** Length of the replay in milliseconds. */
export function replayMs(profile: Profile): number {
  return rateSchedule(profile).length * 1000;
}

/** Expected callers over the whole programme. */
export function expectedCalls(profile: Profile): number {
  return callsBetween(profile, 0, profile.durationMinutes);
}

/** One draw of `d`, in seconds of broadcast time. */
export function sample(d: Distribution, random: () => number): number {
  switch (d.distribution) {
    case 'fixed': return d.seconds;
    case 'uniform': return d.minSeconds + random() * (d.maxSeconds - d.minSeconds);
    case 'exponential': {
      const x = d.minSeconds - d.meanSeconds * Math.log(1 - random());
      return d.maxSeconds === null ? x : Math.min(d.maxSeconds, x);
    }
    case 'lognormal': {
      const { mu, sigma } = lognormalParameters(d.meanSeconds, d.stdevSeconds);
      // Box-Muller; 1 - random() keeps the logarithm finite.
      const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      return Math.exp(mu + sigma * z);
    }
  }
}

/** μ and σ of the normal under a log-normal with this mean and standard deviation. */
export function lognormalParameters(mean: number, stdev: number): { mu: number; sigma: number } {
  const sigma2 = Math.log(1 + (stdev * stdev) / (mean * mean));
  return { mu: Math.log(mean) - sigma2 / 2, sigma: Math.sqrt(sigma2) };
}

/**
 * sipp `<pause>` attributes for `d` in replay milliseconds (sipp samples it per call). sipp's
 * log-normal takes the underlying normal's μ and σ (of the value in ms).
 */
export function sippPause(d: Distribution, compression: number): string {
  const ms = (s: number): number => Math.max(0, Math.round((s * 1000) / compression));
  switch (d.distribution) {
    case 'fixed': return `milliseconds="${ms(d.seconds)}"`;
    case 'uniform': return `distribution="uniform" min="${ms(d.minSeconds)}" max="${ms(d.maxSeconds)}"`;
    // sipp's exponential has no shift or cap; its mean is the distribution's mean with both applied.
    case 'exponential': return `distribution="exponential" mean="${ms(meanSeconds(d))}"`;
    case 'lognormal': {
      const { mu, sigma } = lognormalParameters(ms(d.meanSeconds), ms(d.stdevSeconds));
      return `distribution="lognormal" mean="${mu.toFixed(4)}" stdev="${sigma.toFixed(4)}"`;
    }
  }
}

/** Patience of a caller who chose a callback: long enough to hear the confirmation out. */
export const CALLBACK_PATIENCE_MS = 120_000;

/** What kind of customer a caller is to the CRM. */
export type CallerKind = 'regular' | 'vip' | 'blacklisted';

/** One caller of the replay: a unique number and what that person does. */
export interface Caller {
  /** E.164-style number, unique within the run (the join key with CDRs and callbacks). */
  number: string;
  kind: CallerKind;
  /** Digit pressed in the menu, or null for none. */
  digit: string | null;
  /** Patience in replay milliseconds: without an agent by then, the caller hangs up. */
  patienceMs: number;
}

/**
 * The callers of a run, in dialling order: `count` of them, kinds and digits drawn by the profile's
 * shares, patience from its distribution (compressed), all from `seed`.
 */
export function drawCallers(profile: Profile, count: number, seed: number): Caller[] {
  const random = seededRandom(seed);
  const out: Caller[] = [];
  const prefix = `+49157${String(seed % 1000).padStart(3, '0')}`;
  for (let i = 0; i < count; i++) {
    const k = random();
    const kind: CallerKind = k < profile.callers.blacklistedShare ? 'blacklisted'
      : k < profile.callers.blacklistedShare + profile.callers.vipShare ? 'vip' : 'regular';
    const m = random();
    let acc = 0;
    let chosen = profile.ivr.menu[profile.ivr.menu.length - 1]!;
    for (const choice of profile.ivr.menu) {
      acc += choice.share;
      if (m < acc) {
        chosen = choice;
        break;
      }
    }
    const waitedMs = Math.max(1, Math.round((sample(profile.patience, random) * 1000) / profile.compression));
    // Who asked for a callback listens to the confirmation and lets the IVR hang up.
    const patienceMs = chosen.action === 'callback' ? CALLBACK_PATIENCE_MS : waitedMs;
    const digit = chosen.digit;
    out.push({ number: `${prefix}${String(i).padStart(7, '0')}`, kind, digit, patienceMs });
  }
  return out;
}

/**
 * sipp injection file of the callers (`-inf`): `SEQUENTIAL`, then `number;digit;patienceMs` per
 * line, where digit `x` means none.
 */
export function injectionFile(callers: readonly Caller[]): string {
  const lines = ['SEQUENTIAL'];
  for (const c of callers) lines.push(`${c.number};${c.digit ?? 'x'};${c.patienceMs}`);
  return lines.join('\n') + '\n';
}
