/**
 * Surge profiles: what one airing looks like to the call center, as a file (YAML or JSON) read
 * once, validated, frozen. Times in a profile are real broadcast time; `compression` says how much
 * faster the bench replays them (10: a 60-minute programme in 6 minutes, every rate ×10 and every
 * duration ÷10 — arrivals, patience, ring, talk and wrap-up alike).
 *
 * ```
 *  calls/s ▲            arrivals: piecewise linear between (minute, perSecond) points
 *          │       ╱╲                                   ╱‾‾‾‾╲
 *          │      ╱  ╲          ╱╲                     ╱      ╲
 *          │ ____╱    ╲________╱  ╲___________________╱        ╲__
 *          └──────────────────────────────────────────────────────▶ minute
 * ```
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const seconds = z.number().positive();
const share = z.number().min(0).max(1);
const digit = z.string().regex(/^[0-9]$/, 'expected one DTMF digit 0-9');
const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected an id: letters, digits, _ . -');

/**
 * A duration distribution (seconds of broadcast time). `exponential` may be cut to
 * [minSeconds, maxSeconds] so that a handful of extreme draws do not decide a short replay.
 */
const distributionSchema = z.discriminatedUnion('distribution', [
  z.strictObject({ distribution: z.literal('fixed'), seconds }),
  z.strictObject({ distribution: z.literal('uniform'), minSeconds: z.number().min(0), maxSeconds: seconds })
    .refine((d) => d.maxSeconds >= d.minSeconds, { message: 'maxSeconds must be >= minSeconds' }),
  z.strictObject({
    distribution: z.literal('exponential'), meanSeconds: seconds,
    minSeconds: z.number().min(0).default(0), maxSeconds: seconds.nullable().default(null),
  }).refine((d) => d.maxSeconds === null || d.maxSeconds > d.minSeconds, { message: 'maxSeconds must be > minSeconds' }),
  z.strictObject({ distribution: z.literal('lognormal'), meanSeconds: seconds, stdevSeconds: seconds }),
], { error: 'expected distribution: fixed | uniform | exponential | lognormal' });

/** A duration distribution (see the schema). */
export type Distribution = z.infer<typeof distributionSchema>;

const arrivalPoint = z.strictObject({
  minute: z.number().min(0),
  perSecond: z.number().min(0),
});

const menuChoice = z.strictObject({
  /** The digit pressed; null = the caller presses nothing and the menu times out. */
  digit: digit.nullable(),
  share,
  /** What the digit does in the generated engine configuration. */
  action: z.enum(['orders', 'service', 'callback']),
});

const agentGroup = z.strictObject({
  share,
  skills: z.record(id, z.number().int().min(1).max(100)),
});

/** The profile schema: every field documented, defaults where a sensible one exists. */
export const profileSchema = z.strictObject({
  name: id.describe('Profile name (reports are named after it).'),
  description: z.string().default('').describe('One line for the report.'),
  durationMinutes: seconds.describe('Length of the programme in broadcast minutes.'),
  compression: z.number().min(1).max(120).default(1).describe('Replay speed-up: 10 replays 60 minutes in 6.'),
  arrivals: z.array(arrivalPoint).min(2).describe('Offered calls per second (broadcast time) at minute marks, linear in between.'),
  patience: distributionSchema.describe('How long a caller waits for an agent before hanging up.'),
  ivr: z.strictObject({
    menu: z.array(menuChoice).min(1).describe('Menu choices by share of callers.'),
    menuTimeoutSeconds: seconds.default(5).describe('The menu waits this long for a digit (broadcast seconds).'),
  }).describe('IVR behaviour of the callers.'),
  callers: z.strictObject({
    vipShare: share.default(0).describe('Share of callers the CRM knows as VIP.'),
    blacklistedShare: share.default(0).describe('Share of callers the CRM has blacklisted (rejected before media).'),
  }).default({ vipShare: 0, blacklistedShare: 0 }),
  agents: z.strictObject({
    count: z.number().int().min(1).max(5000).describe('Simulated agents.'),
    groups: z.array(agentGroup).min(1).describe('Skill groups by share of the agents.'),
    answerDelay: distributionSchema.describe('Ringing before the agent answers.'),
    talk: distributionSchema.describe('Conversation length; the agent hangs up at its end.'),
    wrapUp: distributionSchema.describe('After-call work; the engine applies its mean per queue.'),
    ringNoAnswerShare: share.default(0).describe('Share of offers the agent lets ring out.'),
    ringTimeoutSeconds: seconds.default(15).describe('Ring-no-answer timeout of an offer.'),
    readyAgainSeconds: seconds.default(30).describe('An agent set not-ready by a ring-no-answer is made ready again after this.'),
  }),
  callbacks: z.strictObject({
    answerProbability: share.describe('Share of called-back customers who answer (each attempt draws anew).'),
    answerDelay: distributionSchema.describe('Ringing before a customer who answers picks up.'),
    busyShare: share.default(0.5).describe('Of the customers who do not answer, the share who are busy (486); the others ring until the trunk gives up.'),
    ringTimeoutSeconds: seconds.default(30).describe('The outbound trunk rings a customer this long, then CANCELs (no_answer).'),
    maxAttempts: z.number().int().min(1).max(100).default(5).describe('The policy\'s attempts per task.'),
    busyRetrySeconds: seconds.default(300).describe('The policy\'s retry delay after a busy customer.'),
    noAnswerRetrySeconds: seconds.default(900).describe('The policy\'s retry delay after a customer who did not answer.'),
    expiryHours: seconds.default(4).describe('A task still open this long after the first call is closed as expired.'),
    phaseMinutes: seconds.default(120).describe('Longest callback phase after the curve (broadcast minutes): it ends earlier once every task is closed.'),
  }).optional().describe('The callback phase: the customers behind the outbound trunk (absent: no outbound trunk, the tasks are only counted).'),
  serviceLevel: z.strictObject({
    seconds: seconds.default(20).describe('Answered within this wait counts as in service level.'),
    target: share.default(0.8).describe('Share of answered calls that must be within it (staffing search).'),
  }).default({ seconds: 20, target: 0.8 }),
}).superRefine((p, ctx) => {
  for (let i = 1; i < p.arrivals.length; i++) {
    if (p.arrivals[i]!.minute <= p.arrivals[i - 1]!.minute) {
      ctx.addIssue({ code: 'custom', path: ['arrivals', i, 'minute'], message: 'minutes must increase strictly' });
    }
  }
  if (p.arrivals[0]!.minute !== 0) ctx.addIssue({ code: 'custom', path: ['arrivals', 0, 'minute'], message: 'the curve must start at minute 0' });
  const last = p.arrivals[p.arrivals.length - 1]!;
  if (last.minute < p.durationMinutes) {
    ctx.addIssue({ code: 'custom', path: ['arrivals'], message: `the curve ends at minute ${last.minute}, before durationMinutes ${p.durationMinutes}` });
  }
  const sumShares = (xs: { share: number }[], where: (string | number)[]): void => {
    const s = xs.reduce((a, x) => a + x.share, 0);
    if (Math.abs(s - 1) > 1e-6) ctx.addIssue({ code: 'custom', path: where, message: `shares must add up to 1 (they add up to ${round(s)})` });
  };
  sumShares(p.ivr.menu, ['ivr', 'menu']);
  sumShares(p.agents.groups, ['agents', 'groups']);
  const digits = p.ivr.menu.map((m) => m.digit);
  if (new Set(digits).size !== digits.length) ctx.addIssue({ code: 'custom', path: ['ivr', 'menu'], message: 'each digit (and null) may appear once' });
  if (p.callers.vipShare + p.callers.blacklistedShare > 1) {
    ctx.addIssue({ code: 'custom', path: ['callers'], message: 'vipShare + blacklistedShare must be <= 1' });
  }
  if (!p.arrivals.some((a) => a.perSecond > 0)) ctx.addIssue({ code: 'custom', path: ['arrivals'], message: 'no caller would ever arrive' });
});

/** A validated, frozen profile. */
export type Profile = z.infer<typeof profileSchema>;
/** A profile as written in a file (defaults may be omitted). */
export type ProfileInput = z.input<typeof profileSchema>;

/** Result of reading a profile: the profile, or every problem as `path: message`. */
export type ProfileResult = { ok: true; profile: Profile } | { ok: false; errors: string[] };

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Validate a parsed profile object. */
export function parseProfile(input: unknown): ProfileResult {
  const r = profileSchema.safeParse(input);
  if (!r.success) {
    return {
      ok: false,
      errors: r.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(profile)'}: ${i.message}`),
    };
  }
  return { ok: true, profile: deepFreeze(r.data) };
}

/** Folder of the shipped presets. */
export const PROFILE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'profiles');

/**
 * Read a profile by preset name (`home-shopping-60`) or file path (.yaml, .yml, .json). Errors
 * name the file and every problem found.
 */
export function loadProfile(nameOrFile: string): ProfileResult {
  const candidates = [nameOrFile, path.join(PROFILE_DIR, `${nameOrFile}.yaml`)];
  const file = candidates.find((f) => (f.endsWith('.yaml') || f.endsWith('.yml') || f.endsWith('.json')) && existsSync(f));
  if (!file) return { ok: false, errors: [`${nameOrFile}: no such profile (presets: ${PROFILE_DIR}/*.yaml)`] };
  let data: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    return { ok: false, errors: [`${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`] };
  }
  const r = parseProfile(data);
  return r.ok ? r : { ok: false, errors: r.errors.map((e) => `${path.basename(file)}: ${e}`) };
}

/** Mean of a distribution, in seconds (of broadcast time). */
export function meanSeconds(d: Distribution): number {
  switch (d.distribution) {
    case 'fixed': return d.seconds;
    case 'uniform': return (d.minSeconds + d.maxSeconds) / 2;
    case 'lognormal': return d.meanSeconds;
    case 'exponential': {
      // Mean of min + Exp(mean) cut at max: E = min + m(1 - e^{-(max-min)/m}).
      const span = d.maxSeconds === null ? Infinity : d.maxSeconds - d.minSeconds;
      return d.minSeconds + d.meanSeconds * (span === Infinity ? 1 : 1 - Math.exp(-span / d.meanSeconds));
    }
  }
}
