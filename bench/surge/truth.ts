/**
 * The pure joins of a surge run: what sipp saw per caller against what the engine recorded per
 * caller, and the figures made of them. No I/O here; the runner reads the files and the API.
 *
 * ```
 *  sipp callers' -trace_logs (caller.xml <log>)     engine: CDRs, callback tasks, calls still held
 *    invite;NUMBER;CALL-ID;TICK                         │
 *    183;NUMBER;CALL-ID;TICK;m=audio?                   │
 *    200;NUMBER;CALL-ID;TICK                            │
 *    cancel200;NUMBER;CALL-ID;TICK;INVITE|CANCEL        │
 *          └──────────── joined by the caller's number (unique per caller) ───┘
 *   ─▶ fates (served / captured / rejected / in_progress / lost), answered_mismatch per number,
 *      first media per caller
 *  after a callback phase, each captured caller's task decides further: done ─▶ reached,
 *  exhausted / expired / cancelled ─▶ unreached (the policy gave up), still open ─▶ in_progress;
 *  outbound CDRs (the callbacks' own records) never make a caller served
 * ```
 */
import type { Caller } from './schedule.ts';
import type { Profile } from './profile.ts';

/** A CDR as the bench reads it from `GET /api/v1/cdrs` (C2's fields optional: older engines lack them). */
export interface Cdr {
  caller: string;
  outcome: string;
  queue: string | null;
  waitMs: number;
  answeredAt: number | null;
  arrivedAt: number;
  callId?: string | undefined;
  /** C2: `media` | `ringing` | `refused`; absent before C2. */
  treatment?: string | undefined;
  ringingMs?: number | undefined;
  /** `inbound` | `outbound` (issue 14); absent on older engines (inbound). */
  direction?: string | undefined;
  /** The callback task an outbound CDR dialled for. */
  callbackId?: number | null | undefined;
}

/** A callback task as the bench reads it from `GET /api/v1/callbacks` (the fields it uses). */
export interface TaskView {
  id: number;
  caller: string;
  status: string;
  attempts: number;
  /** When the caller was captured (the abandon), epoch ms. */
  createdAt: number;
  lastResult: string | null;
  note: string | null;
}

/**
 * Every caller's fate, from the engine's records. `reached` and `unreached` replace `captured`
 * once a callback phase ran (the tasks' statuses are known).
 */
export type Fate = 'served' | 'captured' | 'reached' | 'unreached' | 'rejected' | 'in_progress' | 'lost';

/** Task statuses in which the policy gave the caller up on purpose (docs/dialer.md). */
const GIVEN_UP = new Set(['exhausted', 'expired', 'cancelled']);

/** The fates of the dialled callers. */
export interface Classified {
  fates: Record<Fate, number>;
  /** Lost numbers (every one, in dialling order). */
  lost: string[];
  /** Lost callers by what the engine recorded for them (CDR outcomes joined by `+`, or `no CDR`). */
  lostBy: Record<string, number>;
  /** Numbers the engine still holds without a final record, with where it holds them. */
  inProgress: { number: string; where: string }[];
  /** Every dialled number's fate. */
  fateOf: Map<string, Fate>;
  /** Of the served, those whose answered call was cut (`cutIsServed`: a `failed` CDR with an answer). */
  servedCut: number;
}

/** Inbound CDRs by caller: an outbound CDR is a callback's record, never the caller's own call. */
export function byCaller(cdrs: readonly Cdr[]): Map<string, Cdr[]> {
  const out = new Map<string, Cdr[]>();
  for (const c of cdrs) {
    if (c.direction === 'outbound') continue;
    const list = out.get(c.caller);
    if (list) list.push(c);
    else out.set(c.caller, [c]);
  }
  return out;
}

/**
 * Each dialled caller's fate: served (an answered inbound CDR), captured (a callback task or a
 * callback-requested CDR), rejected (blacklisted: refused on purpose); without any of these, in
 * progress when the engine still holds the caller (`open`: a live call, a journal entry, a CDR in
 * the outbox), else lost. A final record wins over "still held": the record is what counts.
 *
 * With `tasks` (the callback phase ran: every task by caller) a captured caller is `reached` when
 * the task is done, `unreached` when the policy gave up (exhausted, expired, cancelled), in progress
 * while the task is still open or claimed (the engine holds it), and lost when it has no task at
 * all: lost is then neither served, nor reached by a callback, nor given up under the policy.
 *
 * `cutIsServed` (the pair's failover): a caller whose call an agent had answered when the node
 * died has a `failed` CDR with its answer time (the new active's recovery writes it, and does not
 * call an answered caller back): served, its conversation cut; counted in `servedCut`.
 */
export function classify(dialled: readonly Pick<Caller, 'number'>[], cdrs: readonly Cdr[], callbackNumbers: ReadonlySet<string>,
  open: ReadonlyMap<string, string> = new Map(), tasks?: ReadonlyMap<string, TaskView>, cutIsServed = false): Classified {
  const mineOf = byCaller(cdrs);
  const fates: Record<Fate, number> = { served: 0, captured: 0, reached: 0, unreached: 0, rejected: 0, in_progress: 0, lost: 0 };
  const lost: string[] = [];
  const lostBy: Record<string, number> = {};
  const inProgress: { number: string; where: string }[] = [];
  const fateOf = new Map<string, Fate>();
  let servedCut = 0;
  for (const caller of dialled) {
    const mine = mineOf.get(caller.number) ?? [];
    let fate: Fate;
    let where = open.get(caller.number);
    const task = tasks?.get(caller.number);
    if (mine.some((c) => c.outcome === 'answered')) fate = 'served';
    else if (cutIsServed && mine.some((c) => c.outcome === 'failed' && c.answeredAt !== null)) {
      fate = 'served';
      servedCut++;
    } else if (tasks !== undefined && task !== undefined) {
      fate = task.status === 'done' ? 'reached' : GIVEN_UP.has(task.status) ? 'unreached' : 'in_progress';
      if (fate === 'in_progress') where = `callback task ${task.status} after ${task.attempts} attempts`;
    } else if (tasks === undefined && (callbackNumbers.has(caller.number) || mine.some((c) => c.outcome === 'callback_requested'))) fate = 'captured';
    else if (mine.some((c) => c.outcome === 'rejected_blacklist')) fate = 'rejected';
    else if (where !== undefined) fate = 'in_progress';
    else fate = 'lost';
    fates[fate]++;
    fateOf.set(caller.number, fate);
    if (fate === 'in_progress') inProgress.push({ number: caller.number, where: where! });
    if (fate === 'lost') {
      lost.push(caller.number);
      const why = recorded(mine);
      lostBy[why] = (lostBy[why] ?? 0) + 1;
    }
  }
  return { fates, lost, lostBy, inProgress, fateOf, servedCut };
}

function recorded(mine: readonly Cdr[]): string {
  return mine.length > 0 ? mine.map((c) => c.outcome).join('+') : 'no CDR';
}

/** What sipp saw of one caller (times: sipp's clock ticks, ms since sipp started). */
export interface SippCall {
  number: string;
  callId: string;
  inviteAt: number | null;
  /** First 183 carrying SDP. */
  sdp183At: number | null;
  /** The 200 to the INVITE, in the answered path of the scenario. */
  answeredAt: number | null;
  /** A 200 to the INVITE that crossed the caller's CANCEL (the scenario took it for the CANCEL's). */
  answeredAfterCancelAt: number | null;
  /** The caller's patience ran out: CANCEL sent. */
  cancelAt: number | null;
}

/**
 * The caller scenario's `-trace_logs` file, one record per number. Lines that are not one of the
 * scenario's records (sipp writes nothing else there, but a truncated last line is possible) are
 * skipped.
 */
export function parseCallerLog(text: string): Map<string, SippCall> {
  const out = new Map<string, SippCall>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(';');
    const [kind, number, callId, tickText] = f;
    if (kind === undefined || number === undefined || number === '' || callId === undefined || tickText === undefined) continue;
    const tick = Number(tickText);
    if (!Number.isFinite(tick) || tickText === '') continue;
    let c = out.get(number);
    if (!c) {
      c = { number, callId, inviteAt: null, sdp183At: null, answeredAt: null, answeredAfterCancelAt: null, cancelAt: null };
      out.set(number, c);
    }
    if (kind === 'invite') c.inviteAt ??= tick;
    else if (kind === '183') {
      if ((f[4] ?? '') !== '') c.sdp183At ??= tick;
    } else if (kind === '200') c.answeredAt ??= tick;
    else if (kind === 'cancel') c.cancelAt ??= tick;
    else if (kind === 'cancel200') {
      if (f[4] === 'INVITE') c.answeredAfterCancelAt ??= tick;
    }
  }
  return out;
}

/**
 * Errors of sipp's `-trace_err` text about a call, by Call-ID: the first line of each entry naming
 * it as `Call-Id '...'` (`Aborting call on unexpected message for Call-Id '27-1@127.0.0.1': while in
 * message type 5 (index 48), received 'SIP/2.0 200 OK`). Entries start `DATE\tTIME\tEPOCH: `, not
 * always on a new line (sipp's timeout notes have none); an offending message follows on its own
 * lines and is left out. `complete` false: the text is a chunk, an entry whose first line does not
 * end inside it is left for the next chunk. The first error of a call wins.
 */
export function parseSippErrors(text: string, into: Map<string, string> = new Map(), complete = true): Map<string, string> {
  const marker = "Call-Id '";
  for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + marker.length)) {
    const idEnd = text.indexOf("'", at + marker.length);
    const lineEnd = text.indexOf('\n', at);
    if (idEnd < 0 || (lineEnd < 0 && !complete)) continue;
    const callId = text.slice(at + marker.length, idEnd);
    const tab = text.lastIndexOf('\t', at);
    const start = tab >= 0 && text.indexOf(': ', tab) >= 0 && text.indexOf(': ', tab) < at ? text.indexOf(': ', tab) + 2 : Math.max(0, text.lastIndexOf('\n', at) + 1);
    if (!into.has(callId)) into.set(callId, text.slice(start, lineEnd < 0 ? text.length : lineEnd).trim());
  }
  return into;
}

/** One number on which sipp and the engine disagree about "answered". */
export interface AnsweredDisagreement {
  number: string;
  callId: string | null;
  /** What sipp saw: `200`, `200 after CANCEL`, `no 200 (CANCEL sent)` (the caller gave up), or `no 200`. */
  sipp: string;
  /** What the engine recorded: CDR outcomes, `callback task`, or `no CDR`. */
  engine: string;
  /** sipp's error for the call (`-trace_err`), when it had one. */
  sippError?: string | undefined;
}

/** sipp's answered count against the engine's answered CDRs, per number. */
export interface AnsweredMismatch {
  /** Callers who got a 200 for their INVITE at sipp. */
  sippAnswered: number;
  /** Dialled callers with an answered CDR. */
  engineAnswered: number;
  /** sippAnswered − engineAnswered. */
  value: number;
  /** Numbers left out because the engine still holds them without a final record (in_progress). */
  held: number;
  /** Every number on which the two disagree (either way). */
  numbers: AnsweredDisagreement[];
}

/**
 * Join sipp's per-caller 200s with the engine's answered CDRs. The value is the difference of the
 * counts; `numbers` lists each disagreeing number (non-zero even when the counts cancel out).
 * Numbers the engine still holds without an answered CDR (`open`) are left out and counted in
 * `held`: their record is not written yet, they are in_progress.
 */
export function answeredMismatch(dialled: readonly Pick<Caller, 'number'>[], sipp: ReadonlyMap<string, SippCall>, cdrs: readonly Cdr[],
  callbackNumbers: ReadonlySet<string> = new Set(), open: ReadonlyMap<string, string> = new Map(),
  sippErrors: ReadonlyMap<string, string> = new Map()): AnsweredMismatch {
  const mineOf = byCaller(cdrs);
  let sippAnswered = 0;
  let engineAnswered = 0;
  let held = 0;
  const numbers: AnsweredDisagreement[] = [];
  for (const { number } of dialled) {
    const s = sipp.get(number);
    const mine0 = mineOf.get(number) ?? [];
    // A number still held has no final record yet: it is in_progress, not a disagreement.
    if (open.has(number) && !mine0.some((c) => c.outcome === 'answered')) {
      held++;
      continue;
    }
    const atSipp = s !== undefined && (s.answeredAt !== null || s.answeredAfterCancelAt !== null);
    const mine = mineOf.get(number) ?? [];
    const atEngine = mine.some((c) => c.outcome === 'answered');
    if (atSipp) sippAnswered++;
    if (atEngine) engineAnswered++;
    if (atSipp === atEngine) continue;
    const engine = [
      ...(mine.length > 0 ? [recorded(mine)] : []),
      ...(callbackNumbers.has(number) ? ['callback task'] : []),
    ];
    const sippError = s === undefined ? undefined : sippErrors.get(s.callId);
    numbers.push({
      number, callId: s?.callId ?? null,
      sipp: !atSipp ? (s?.cancelAt != null ? 'no 200 (CANCEL sent)' : 'no 200') : s.answeredAt !== null ? '200' : '200 after CANCEL',
      engine: engine.length > 0 ? engine.join(', ') : 'no CDR',
      ...(sippError !== undefined ? { sippError } : {}),
    });
  }
  return { sippAnswered, engineAnswered, value: sippAnswered - engineAnswered, held, numbers };
}

/**
 * Seconds from INVITE to first media at the caller (a 183 with SDP, else the 200), for callers who
 * got media, excluding those the engine held in ringing (CDR `treatment: 'ringing'`, C2): their
 * wait for media is the admission's choice, measured as `ringingMs`. When no CDR carries
 * `treatment` (an engine before C2), every caller with media counts.
 */
export function firstMediaTimes(sipp: ReadonlyMap<string, SippCall>, cdrs: readonly Cdr[]): { seconds: number[]; treatmentKnown: boolean; excludedRinging: number; by200: number } {
  const treatmentKnown = cdrs.some((c) => typeof c.treatment === 'string');
  const ringing = new Set(cdrs.filter((c) => c.treatment === 'ringing').map((c) => c.caller));
  const seconds: number[] = [];
  let excludedRinging = 0;
  let by200 = 0;
  for (const c of sipp.values()) {
    const media = c.sdp183At ?? c.answeredAt;
    if (c.inviteAt === null || media === null) continue;
    if (ringing.has(c.number)) {
      excludedRinging++;
      continue;
    }
    if (c.sdp183At === null) by200++;
    seconds.push(Math.max(0, media - c.inviteAt) / 1000);
  }
  return { seconds, treatmentKnown, excludedRinging, by200 };
}

/** The part of a per-second sample the idle-while-waiting figure reads. */
export interface AgentSecond {
  /** Live callers in queues (`onair_queue_waiting`). */
  waiting: number;
  /** Agents with status available and state idle (`GET /api/v1/agents`). */
  agentsIdleAvailable: number;
  /** C1's `onair_agents_offer_pending`: reserved for an offer whose INVITE has not left (0 when absent). */
  offerPending: number;
  /** Agents not logged out. */
  agentsLoggedIn: number;
}

/**
 * Agent-seconds wasted while callers waited: over the sampled seconds in which a caller waited,
 * the sum of (idle available agents + agents reserved for an offer not yet sent), each sample
 * standing for one second; the share divides by the logged-in agent-seconds of those same seconds.
 * The share is NaN when no caller ever waited.
 */
export function idleWhileWaiting(samples: readonly AgentSecond[]): { seconds: number; share: number; waitingSeconds: number } {
  let idle = 0;
  let loggedIn = 0;
  let waitingSeconds = 0;
  for (const s of samples) {
    if (s.waiting <= 0) continue;
    waitingSeconds++;
    idle += s.agentsIdleAvailable + s.offerPending;
    loggedIn += s.agentsLoggedIn;
  }
  return { seconds: idle, share: loggedIn > 0 ? idle / loggedIn : NaN, waitingSeconds };
}

/** Quantile q of a list (nearest rank); NaN when empty. */
export function quantileOf(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

/** The profile with its arrival curve multiplied by `scale` (1.5: half as many callers again). */
export function scaleProfile(profile: Profile, scale: number): Profile {
  if (scale === 1) return profile;
  return { ...profile, arrivals: profile.arrivals.map((p) => ({ ...p, perSecond: p.perSecond * scale })) };
}

/**
 * `--seeds`: `1-5` (a range), `1,4,9` (a list) or `7`. Returns the problems instead when the text
 * is not that (non-integers, a range going down, more than 100 runs).
 */
export function parseSeeds(text: string): { ok: true; seeds: number[] } | { ok: false; error: string } {
  const seeds: number[] = [];
  const int = (s: string): number | null => (/^\d+$/.test(s) ? Number(s) : null);
  for (const part of text.split(',')) {
    const dash = part.indexOf('-');
    if (dash < 0) {
      const n = int(part.trim());
      if (n === null) return { ok: false, error: `--seeds: "${part}" is not a seed (an integer)` };
      seeds.push(n);
      continue;
    }
    const a = int(part.slice(0, dash).trim());
    const b = int(part.slice(dash + 1).trim());
    if (a === null || b === null || b < a) return { ok: false, error: `--seeds: "${part}" is not a range A-B with A <= B` };
    for (let n = a; n <= b; n++) seeds.push(n);
    if (seeds.length > 100) break;
  }
  if (seeds.length === 0 || seeds.length > 100) return { ok: false, error: '--seeds: between 1 and 100 seeds' };
  return { ok: true, seeds };
}

/** One run's JSON line: the C3 names at the top level (a metric is a number or null). */
export type RunLine = Record<string, unknown> & {
  bench: string; metric: string; value: number; unit: string; seed: number; loadavg_before: number[]; loadavg_after: number[];
};

/** Median, min and max of one figure over the runs (null when no run measured it). */
export interface Spread {
  median: number | null;
  min: number | null;
  max: number | null;
}

function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: null, min: null, max: null };
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length % 2 === 1 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

/**
 * The seeds summary: for every numeric field of the run lines (the `metrics` named), its median,
 * min and max over the runs that measured it (null values are left out, and counted in `runs`);
 * the load averages element by element (1, 5, 15 minutes).
 */
export function summarizeRuns(lines: readonly RunLine[], metrics: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { runs: lines.length, seeds: lines.map((l) => l.seed) };
  for (const m of metrics) {
    const values = lines.map((l) => l[m]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    out[m] = { ...spread(values), measured: values.length };
  }
  for (const k of ['loadavg_before', 'loadavg_after'] as const) {
    const per = [0, 1, 2].map((i) => spread(lines.map((l) => l[k][i]).filter((v): v is number => typeof v === 'number')));
    out[k] = { median: per.map((p) => p.median), min: per.map((p) => p.min), max: per.map((p) => p.max) };
  }
  return out;
}

/** An unreached caller: the policy gave the task up. */
export interface Unreached {
  number: string;
  status: string;
  attempts: number;
  lastResult: string | null;
}

/** The callback phase's figures (times in broadcast seconds: replay × compression). */
export interface CallbackFigures {
  /** Tasks of the dialled callers. */
  tasks: number;
  /** Tasks done: the customer was reached (`callbacks_completed`). */
  completed: number;
  /** completed / tasks (NaN without tasks). */
  reachRate: number;
  /** Capture (the abandon) → the customer connected to an agent (the outbound CDR's answer), per reached task. */
  delaysS: number[];
  delayP50S: number;
  delayP90S: number;
  /**
   * Of the tasks an agent could have taken (reached, or a second with a free agent came after the
   * capture), the share whose customer was connected within 5 broadcast minutes of the first such
   * second (a reached task with no free-agent second before its connection counts as within).
   */
  withinFiveMinutesOfFreeAgentShare: number;
  /** Tasks the policy gave up (exhausted, expired, cancelled), every one. */
  unreached: Unreached[];
  /** Tasks still open or claimed. */
  open: number;
}

/** Five broadcast minutes. */
const FIVE_MINUTES_MS = 5 * 60_000;

/**
 * The callback phase joined: each task of a dialled caller with the outbound CDRs dialled for it
 * (`callbackId`) and with the seconds in which an agent was free (`freeAgentAt`: epoch ms of the
 * samples with an idle available agent and no live caller waiting, ascending).
 */
export function callbackFigures(dialled: readonly Pick<Caller, 'number'>[], tasks: ReadonlyMap<string, TaskView>, cdrs: readonly Cdr[],
  freeAgentAt: readonly number[], compression: number): CallbackFigures {
  const connectedAt = new Map<number, number>();
  for (const c of cdrs) {
    if (c.direction !== 'outbound' || c.callbackId == null || c.answeredAt === null) continue;
    const before = connectedAt.get(c.callbackId);
    if (before === undefined || c.answeredAt < before) connectedAt.set(c.callbackId, c.answeredAt);
  }
  let count = 0;
  let completed = 0;
  let open = 0;
  let eligible = 0;
  let within = 0;
  const delaysS: number[] = [];
  const unreached: Unreached[] = [];
  const windowMs = FIVE_MINUTES_MS / compression;
  for (const { number } of dialled) {
    const task = tasks.get(number);
    if (task === undefined) continue;
    count++;
    const reached = task.status === 'done';
    if (reached) completed++;
    else if (GIVEN_UP.has(task.status)) unreached.push({ number, status: task.status, attempts: task.attempts, lastResult: task.lastResult });
    else open++;
    const at = connectedAt.get(task.id);
    if (reached && at !== undefined) delaysS.push((Math.max(0, at - task.createdAt) / 1000) * compression);
    const free = firstAtOrAfter(freeAgentAt, task.createdAt);
    if (free === undefined && !(reached && at !== undefined)) continue;
    eligible++;
    if (reached && at !== undefined && (free === undefined || at <= free + windowMs)) within++;
  }
  return {
    tasks: count, completed, reachRate: count > 0 ? completed / count : NaN, delaysS,
    delayP50S: quantileOf(delaysS, 0.5), delayP90S: quantileOf(delaysS, 0.9),
    withinFiveMinutesOfFreeAgentShare: eligible > 0 ? within / eligible : NaN, unreached, open,
  };
}

/** The first value >= `t` of an ascending list (binary search). */
function firstAtOrAfter(xs: readonly number[], t: number): number | undefined {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return xs[lo];
}

/** Epoch ms of the samples in which an agent was free for a callback: idle and available, no live caller waiting. */
export function freeAgentSeconds(samples: readonly { at: number; waiting: number; agentsIdleAvailable: number }[]): number[] {
  return samples.filter((s) => s.waiting === 0 && s.agentsIdleAvailable > 0).map((s) => s.at).sort((a, b) => a - b);
}
