/**
 * One surge run, end to end:
 *
 * ```
 *  profile ─▶ callers (seeded) ─▶ engine config + CRM rows ─▶ onair (child process)
 *           ─▶ sipp agents: REGISTER (one sipp per phone), one sipp answers every phone
 *           ─▶ sipp callers, rate set every second through the control socket (the schedule)
 *  every second: /metrics + sipp counters ─▶ a Sample; the supervisor makes ring-no-answer agents
 *           ready again
 *  after the curve: callers finish (bounded) ─▶ CDRs + callbacks from the API ─▶ join by number,
 *           again until every dialled number has its final record or the records deadline; a
 *           number the engine still holds then is `in_progress`, one it does not hold is lost
 *  the callers' sipp log (a line per INVITE, 183, 200) joined with the CDRs: answered_mismatch
 *           per number, first media per caller (truth.ts)
 *  with the profile's `callbacks`: the engine dials the captured callers back through an outbound
 *           trunk to one sipp playing every customer (scenarios/customer.xml), during the curve
 *           in the gaps and after it in the callback phase, sampled every second, until no task
 *           is open or the phase's deadline; each task's status then decides reached / unreached
 * ```
 *
 * Bounded in time (every sipp has `-timeout`, the drain has a deadline) and cleaned up in
 * `finally`: every process started is killed, even when a step throws.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../../engine/db/index.ts';
import { SqliteCrmAdapter } from '../../crm-adapter/index.ts';
import type { Profile } from './profile.ts';
import { drawCallers, expectedCalls, injectionFile, rateCommand, rateSchedule, sippPause, wholeCallsSchedule, type Caller } from './schedule.ts';
import { crmCustomers, engineConfig, surgeAgents, SURGE_NUMBER, WALLBOARD_USER, BENCH_TOKEN } from './engine-config.ts';
import { openWallboard, summarizeWallboard, type WallboardSample, type WallboardSummary } from './wallboard.ts';
import { freePort, sleep, startEngineProcess, startSipp, udpReceiveDrops, SIPP_SOCKET_BUFFER, type EngineBuild, type EngineProcess, type Sipp } from './processes.ts';
import { countEnding, histogramQuantile, parsePrometheus, readSippCounts, snapshot, sum, type EngineSnapshot, type PromSeries } from './sampler.ts';
import { readComparison, type ReportComparisonRead } from './compare.ts';
import {
  CALLER_RETRIES, callerRetry, endingsAtKill, failoverSecond, heldByPair, mergeCdrs, nodeCdrs, parseRetries, readJournal, registerThroughProxy, roleOf,
  startPair, watchTakeover, type FailoverFigures, type JournalRow, type Pair,
} from './pair.ts';
import {
  answeredMismatch, callbackFigures, classify, firstMediaTimes, freeAgentSeconds, idleWhileWaiting, parseCallerLog, parseSippErrors, quantileOf,
  type AnsweredMismatch, type CallbackFigures, type Cdr, type Fate, type SippCall, type TaskView,
} from './truth.ts';

export { classify, type Fate } from './truth.ts';

const SCENARIO_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scenarios');
/** sipp's Debian RFC 2833 digit captures. */
export const PCAP_DIR = '/usr/share/sip-tester';
/** Patience countdown step of the caller scenario (replay ms). */
const TICK_MS = 200;

/** Options of one run. */
export interface RunOptions {
  profile: Profile;
  /** Folder for everything the run writes (configs, sipp files, engine log). */
  dir: string;
  /** Agents (default: the profile's). */
  agents?: number | undefined;
  /** Seed of the callers. */
  seed?: number | undefined;
  /** Target an engine already running (its SIP `host:port` and HTTP base URL) instead of starting one. */
  target?: { sip: string; http: string } | undefined;
  /** Profile the engine's CPU (`--cpu-prof`) into this folder. */
  cpuProfDir?: string | undefined;
  /** The engine started: the build in `dist/` (default, what `npm start` runs) or the source tree. */
  engineBuild?: EngineBuild | undefined;
  /** Longest wait for callers to finish after the curve (ms). */
  drainMs?: number | undefined;
  /**
   * Wait, after the drain, for every dialled number's final record (ms; default 60 s): extended
   * by as much again each time fewer records are missing than before, up to 5 times in all.
   */
  recordsMs?: number | undefined;
  /** The arrival curve's multiplier the profile was scaled by (recorded in the result). */
  scale?: number | undefined;
  /** Longest callback phase after the drain (ms; default the profile's `callbacks.phaseMinutes` in replay time). */
  callbackPhaseMs?: number | undefined;
  /**
   * Keep the supervisor wallboard open in headless Chromium for the whole run (issue 15): its
   * liveness and accuracy are reported, with screenshots at the peak into `dir`.
   */
  wallboard?: boolean | undefined;
  /** Where the wallboard's screenshots go (the report's folder; default `dir`). */
  wallboardShotsDir?: string | undefined;
  /**
   * Run against the active-standby pair behind Kamailio instead of one engine, and kill -9 the
   * active at the start of wave `failoverWave` (default 3) or at replay second `failoverAtS`
   * (bench/surge/pair.ts). Not with `target` or `wallboard`.
   */
  pair?: { failoverWave?: number | undefined; failoverAtS?: number | undefined; leaseMs?: number | undefined } | undefined;
  /** Progress lines (stderr). */
  log?: ((line: string) => void) | undefined;
}

/** One second of the run. */
export interface Sample {
  /** Seconds since the callers started (replay time). */
  t: number;
  /** When the sample was taken (epoch ms: the engine's records' clock on this machine). */
  at: number;
  /** Rate sipp was told for this second (calls/s). */
  scheduledRate: number;
  /** INVITEs sipp sent in this second. */
  offered: number;
  answered: number;
  abandoned: number;
  captured: number;
  rejected: number;
  waiting: number;
  inIvr: number;
  inProgress: number;
  agentsBusy: number;
  agentsIdle: number;
  /** Agents with status available and state idle (GET /api/v1/agents at the sample). */
  agentsIdleAvailable: number;
  /** Agents not logged out. */
  agentsLoggedIn: number;
  /** C1's `onair_agents_offer_pending` (0 when the engine has no such gauge). */
  offerPending: number;
  /** C2's `onair_calls_ringing_held` (0 when the engine has no such gauge). */
  ringingHeld: number;
  agentsNotReady: number;
  oldestWaitS: number;
  /** Engine CPU in cores over the second (1.0 = one core). */
  cpuCores: number;
  rssMiB: number;
  eventLoopP99Ms: number;
}

/** What the run measured. */
export interface RunResult {
  profile: Profile;
  agents: number;
  seed: number;
  samples: Sample[];
  /** The wallboard's figures when one was open (`wallboard` option), else null. */
  wallboard: (WallboardSummary & { screenshots: string[] }) | null;
  /** Callers sipp dialled. */
  offered: number;
  expected: number;
  fates: Record<Fate, number>;
  /** Numbers of lost callers (at most 50). */
  lostNumbers: string[];
  /** Lost callers by what the engine recorded for them (a CDR outcome, or `no CDR`). */
  lostBy: Record<string, number>;
  /** What sipp saw of each lost caller (at most 50): its Call-ID and the events it logged. */
  lostSeenBySipp: { number: string; callId: string | null; sipp: string }[];
  /** Callers the engine still held without a final record at the records deadline (at most 50). */
  inProgressNumbers: { number: string; where: string }[];
  /** Of the in_progress callers, those held as a callback task still open or claimed (all of them). */
  inProgressTasks: number;
  /** sipp's 200s against the engine's answered CDRs, per number (at most 50 numbers kept). */
  answeredMismatch: AnsweredMismatch;
  /** Agent-seconds idle (available, or reserved for an offer not yet sent) while a caller waited. */
  idleWhileWaitingS: number;
  /** That over the logged-in agent-seconds of the same seconds (NaN when nobody waited). */
  idleWhileWaitingShare: number;
  /** Sampled seconds in which a caller waited. */
  waitingSeconds: number;
  /** Callers' INVITE → first media (183 with SDP, else 200), p99 over callers given media (s). */
  callerFirstMediaP99S: number;
  /**
   * How many callers that p99 is over, how many ringing-held callers it left out, and how many got
   * the 200 with no 183 before it (their first media was the answer).
   */
  callerFirstMedia: { callers: number; excludedRinging: number; treatmentKnown: boolean; by200: number };
  /** SIP datagrams the kernel dropped at the caller sipp's socket (its receive buffer full). */
  callerSipDrops: number;
  /** Peak of `onair_calls_ringing_held` (0 when absent). */
  ringingHeldPeak: number;
  /** Which of C1's and C2's gauges the engine exposed. */
  gauges: { offerPending: boolean; ringingHeld: boolean };
  /** The arrival curve's multiplier. */
  scale: number;
  /** The callback phase's figures; null when the profile has none (or the engine is a `target`). */
  callbacks: CallbackFigures | null;
  /** Seconds the callback phase ran after the drain (replay time; 0 without one). */
  callbackPhaseSeconds: number;
  /** Inbound CDR outcome counts (the callbacks' outbound CDRs are in `callbacks`). */
  outcomes: Record<string, number>;
  abandoned: number;
  captured: number;
  peakWaiting: number;
  peakInProgress: number;
  peakOfferedPerSecond: number;
  serviceLevel: number;
  answeredWithinSl: number;
  avgWaitS: number;
  maxWaitS: number;
  /** From the engine's histograms (seconds); NaN when the engine recorded none. */
  engineFirstMediaP99S: number;
  routingP99S: number;
  /** INVITE → 183 with SDP, as the callers saw it (sipp), p99 (seconds). */
  earlyMediaP99S: number;
  peakCpuCores: number;
  avgCpuCores: number;
  peakRssMiB: number;
  peakEventLoopP99Ms: number;
  /** sipp's view: INVITEs, 200s (answered), CANCELs (abandoned), final errors. */
  sipp: Record<string, number>;
  /**
   * The engine's report of the run (`GET /api/v1/reports`) against the bench's truth: offered,
   * answered, abandoned and the calls that explain a difference (compare.ts); null when the
   * report could not be read (`reportVsBenchError` says why).
   */
  reportVsBench: ReportComparisonRead | null;
  reportVsBenchError: string | null;
  replaySeconds: number;
  wallSeconds: number;
  machine: string;
  /** Through the pair (`pair` option): the failover and how the calls on the killed node ended; else null. */
  pair: FailoverFigures | null;
}

/** Fill a scenario template's `{{name}}` fields. Every field must be given. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    const v = values[k];
    if (v === undefined) throw new Error(`scenario template field {{${k}}} has no value`);
    return v;
  });
}

/**
 * The bearer token the bench's API calls carry: set when the bench starts the engine with users
 * (`--wallboard`), where the API is no longer open; runs are sequential, so one per process.
 */
const api: { headers: Record<string, string> } = { headers: {} };

/** Fetch JSON from the engine's API. */
async function getJson<T>(base: string, p: string): Promise<T> {
  const r = await fetch(`${base}${p}`, { headers: api.headers });
  if (!r.ok) throw new Error(`GET ${p}: HTTP ${r.status}`);
  return await r.json() as T;
}

/** Every page of a paged API list. */
async function allPages<T>(base: string, p: string): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await getJson<{ items: T[]; hasMore: boolean }>(base, `${p}${p.includes('?') ? '&' : '?'}limit=1000&offset=${offset}`);
    out.push(...page.items);
    if (!page.hasMore) return out;
  }
}

/** Run one surge (see the file comment). */
export async function runSurge(o: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const log = o.log ?? (() => {});
  const profile = o.profile;
  const agentCount = o.agents ?? profile.agents.count;
  const seed = o.seed ?? 1;
  const dir = o.dir;
  mkdirSync(dir, { recursive: true });
  const schedule = wholeCallsSchedule(rateSchedule(profile));
  const expected = expectedCalls(profile);
  // Room for Poisson-free sipp pacing overshoot: sipp stops at the file's length (-m).
  const callers = drawCallers(profile, Math.ceil(expected * 1.05) + 20, seed);
  writeFileSync(path.join(dir, 'callers.csv'), injectionFile(callers));
  const callbackDigits = new Set(profile.ivr.menu.filter((m) => m.action === 'callback').map((m) => m.digit));
  const maxPatienceMs = Math.max(...callers.filter((c) => !callbackDigits.has(c.digit)).map((c) => c.patienceMs));

  const cleanups: (() => Promise<void> | void)[] = [];
  let engine: EngineProcess | undefined;
  // The callback phase needs the outbound trunk in the engine's config: only an engine the bench starts.
  const callbackProfile = o.target ? undefined : profile.callbacks;
  const customerPort = callbackProfile ? await freePort() : undefined;
  const callbackPhaseMs = callbackProfile ? o.callbackPhaseMs ?? (callbackProfile.phaseMinutes * 60_000) / profile.compression : 0;
  if (o.pair && (o.target || o.wallboard)) throw new Error('surge --pair starts its own pair: not with --target or --wallboard');
  const kill = o.pair ? failoverSecond(profile, o.pair.failoverWave ?? 3, o.pair.failoverAtS) : undefined;
  if (kill && !kill.ok) throw new Error(`surge --pair: ${kill.error}`);
  const killSecond = kill?.ok ? kill.second : undefined;
  let pair: Pair | undefined;
  try {
    // ---- the engine --------------------------------------------------------------------------
    let sipTarget: string;
    let http: string;
    if (o.target) {
      sipTarget = o.target.sip;
      http = o.target.http;
      log(`targeting the engine at sip ${sipTarget}, http ${http} (its own config: agents ${surgeAgents(1)[0]!.id}.. must exist)`);
    } else if (o.pair) {
      api.headers = {};
      const p = await startPair({
        profile, agentCount, dir, callers, customerPort, build: o.engineBuild ?? 'dist', airing: `surge-${seed}`, leaseMs: o.pair.leaseMs, log,
      });
      pair = p;
      cleanups.push(() => p.stop());
      sipTarget = p.kamailio.target;
      http = p.a.engine.baseUrl;
      log(`pair: the active node is killed at replay second ${killSecond}${kill?.ok && kill.wave ? ` (wave ${kill.wave.wave} starts at minute ${kill.wave.minute})` : ''}`);
    } else {
      const sipPort = await freePort();
      const httpPort = await freePort();
      // 30,000 ports = 15,000 RTP/RTCP pairs: two legs for each of engineConfig's 7,500 calls.
      // Below Linux's ephemeral range (32768-60999), where free ports and sipp's sockets land.
      const rtpPortMin = 2000;
      if (sipPort < 32000 || httpPort < 32000) throw new Error(`free ports ${sipPort}/${httpPort} fall in the RTP range 2000-31999`);
      const dbPath = path.join(dir, 'onair.db');
      api.headers = o.wallboard ? { authorization: `Bearer ${BENCH_TOKEN}` } : {};
      const config = engineConfig(profile, agentCount, { sipPort, httpPort, dbPath, rtpPortMin, rtpPortMax: rtpPortMin + 29999, customerPort, wallboard: o.wallboard === true }, `surge-${seed}`);
      writeFileSync(path.join(dir, 'engine.json'), JSON.stringify(config, null, 2));
      // VIP and blacklisted callers are CRM customers before the first call.
      const crm = new SqliteCrmAdapter({ path: dbPath });
      await crm.init();
      crm.upsertCustomers(crmCustomers(callers));
      await crm.close();
      engine = await startEngineProcess({ configFile: path.join(dir, 'engine.json'), httpPort, logFile: path.join(dir, 'engine.log'), cpuProfDir: o.cpuProfDir, build: o.engineBuild });
      const e = engine;
      cleanups.push(() => e.stop());
      sipTarget = `127.0.0.1:${sipPort}`;
      http = engine.baseUrl;
      log(`engine pid ${engine.pid}: sip ${sipTarget}, http ${http}`);
    }

    // ---- agents --------------------------------------------------------------------------------
    const c = profile.compression;
    const bound = Math.ceil(schedule.length + (o.drainMs ?? 120_000) / 1000 + 120 + callbackPhaseMs / 1000);
    const agentPort = await freePort();
    // Through the pair the phones register first, from the port the answering sipp then takes (the Path's received address).
    if (pair) await registerThroughProxy({ pair, agentCount, agentPort, dir, log });
    writeFileSync(path.join(dir, 'agent.xml'), fillTemplate(readFileSync(path.join(SCENARIO_DIR, 'agent.xml'), 'utf8'), {
      ringNoAnswer: String(profile.agents.ringNoAnswerShare),
      answerDelay: sippPause(profile.agents.answerDelay, c),
      talk: sippPause(profile.agents.talk, c),
    }));
    const agentSipp = await startSipp([
      '-sf', 'agent.xml', '-t', 'u1', '-i', '127.0.0.1', '-p', String(agentPort), '-mp', String(await freePort()), '-buff_size', String(SIPP_SOCKET_BUFFER),
      '-timeout', `${bound}s`, '-l', '100000', '-max_recv_loops', '10000', '-trace_counts', '-fd', '1',
    ], { cwd: dir, logFile: path.join(dir, 'sipp-agents.log') });
    cleanups.push(() => agentSipp.kill());
    const agents = surgeAgents(agentCount);
    const registerOne = async (a: (typeof agents)[number]): Promise<boolean> => {
      const reg = await startSipp([
        '-sf', path.join(SCENARIO_DIR, 'register.xml'), sipTarget, '-t', 'u1', '-i', '127.0.0.1', '-p', '0',
        '-s', a.id, '-au', a.id, '-ap', a.password, '-key', 'agent_port', String(agentPort), '-m', '1', '-timeout', '20s', '-timeout_error',
      ], { cwd: dir, logFile: '/dev/null' });
      cleanups.push(() => reg.kill());
      const code = await reg.done;
      if (code !== 0) log(`agent ${a.id}: REGISTER failed (sipp exit ${code}): ${reg.stderr().slice(-400)}`);
      return code === 0;
    };
    let registered = pair ? agentCount : 0;
    for (let i = 0; !pair && i < agents.length; i += 25) {
      const ok = await Promise.all(agents.slice(i, i + 25).map(registerOne));
      registered += ok.filter(Boolean).length;
    }
    if (registered !== agentCount) throw new Error(`only ${registered} of ${agentCount} agents registered`);
    log(`${registered} agents registered`);

    // ---- customers (the callback phase) ------------------------------------------------------------
    let customerSipp: Sipp | undefined;
    if (callbackProfile && customerPort !== undefined) {
      const cb = callbackProfile;
      writeFileSync(path.join(dir, 'customer.xml'), fillTemplate(readFileSync(path.join(SCENARIO_DIR, 'customer.xml'), 'utf8'), {
        miss: String(1 - cb.answerProbability), busy: String(cb.busyShare),
        answerDelay: sippPause(cb.answerDelay, c), talk: sippPause(profile.agents.talk, c),
      }));
      const customers = await startSipp([
        '-sf', 'customer.xml', '-t', 'u1', '-i', '127.0.0.1', '-p', String(customerPort), '-mp', String(await freePort()), '-buff_size', String(SIPP_SOCKET_BUFFER),
        '-timeout', `${bound}s`, '-l', '100000', '-max_recv_loops', '10000', '-trace_counts', '-fd', '1',
      ], { cwd: dir, logFile: path.join(dir, 'sipp-customers.log') });
      customerSipp = customers;
      cleanups.push(() => customers.kill());
      log(`customers on 127.0.0.1:${customerPort}: answer ${cb.answerProbability}, busy ${cb.busyShare} of the others`);
    }

    // ---- the wallboard (a supervisor's browser) -------------------------------------------------
    const wallboard = o.wallboard ? await openWallboard(http, WALLBOARD_USER) : undefined;
    if (wallboard) {
      cleanups.push(() => wallboard.close());
      log('wallboard open in headless Chromium (supervisor)');
    }
    const wallboardSamples: Promise<WallboardSample | null>[] = [];
    const wallboardShots: Promise<string[]>[] = [];
    // Screenshots ten seconds after the curve's busiest second, when the most callers wait.
    const peakSecond = schedule.reduce((best, x, i) => (x.rate > (schedule[best]?.rate ?? -1) ? i : best), 0) + 10;

    // ---- callers ---------------------------------------------------------------------------------
    const callerTemplate = readFileSync(path.join(SCENARIO_DIR, 'caller.xml'), 'utf8');
    writeFileSync(path.join(dir, 'caller.xml'), fillTemplate(callerTemplate, {
      pcaps: PCAP_DIR, tick: String(TICK_MS), ...callerRetry(callerTemplate, pair ? CALLER_RETRIES : null),
    }));
    const first = schedule[0]?.rate ?? 0;
    const callerMediaPort = await freePort();
    // The engine report's window starts here (the API rounds it down to its 15-minute bucket).
    const callersFrom = Date.now();
    const callerSipp: Sipp = await startSipp([
      '-sf', 'caller.xml', sipTarget, '-s', SURGE_NUMBER, '-t', 'u1', '-i', '127.0.0.1', '-p', '0', '-mp', String(callerMediaPort),
      '-buff_size', String(SIPP_SOCKET_BUFFER),
      '-inf', 'callers.csv', '-m', String(callers.length), '-r', String(first), '-rp', '1000', '-l', '100000',
      '-timeout', `${bound}s`, '-trace_counts', '-trace_rtt', '-rtt_freq', '1', '-trace_logs', '-trace_err',
      // A reply arriving while a caller sits between two patience ticks (a nop) is "unexpected"
      // to sipp, which by default aborts the call: the engine then records an answer the caller
      // never took. Without abortunexp sipp drops it and the retransmission (RFC 3261 17.2.1)
      // lands in the recv the caller is back at.
      '-default_behaviors', 'all,-abortunexp', '-fd', '1', '-max_recv_loops', '10000', '-max_sched_loops', '10000',
    ], { cwd: dir, logFile: path.join(dir, 'sipp-callers.log') });
    cleanups.push(() => callerSipp.kill());
    const countsFile = path.join(dir, `caller_${callerSipp.pid}_counts.csv`);
    log(`callers: ${callers.length} drawn, ${Math.round(expected)} expected over ${schedule.length} s`);

    // ---- the replay: rate changes, samples, supervisor --------------------------------------------
    const cumulative: number[] = [];
    for (const step of schedule) cumulative.push((cumulative[cumulative.length - 1] ?? 0) + step.rate);
    const samples: Sample[] = [];
    const t0 = Date.now();
    let prev: EngineSnapshot | undefined;
    let prevInvites = 0;
    let prevAt = t0;
    const notReadySince = new Map<string, number>();
    const readyAgainMs = (profile.agents.readyAgainSeconds * 1000) / c;
    let quietSince = 0;
    const drainMs = o.drainMs ?? Math.min(180_000, maxPatienceMs + 30_000);
    let engineSeries = parsePrometheus('');
    /** Sample second s (the rate sipp was told for it); the snapshot and the agents it read. */
    const takeSample = async (s: number, scheduledRate: number): Promise<{ snap: EngineSnapshot; agentList: AgentRow[]; now: number }> => {
      const now = Date.now();
      engineSeries = parsePrometheus(await (await fetch(`${http}/metrics`)).text());
      const snap = snapshot(engineSeries);
      // Every second (not only when someone is not ready): the idle-while-waiting figure needs
      // each agent's status and state, which the gauges give only separately.
      const agentList = await listAgents(http);
      const invites = readSippCounts(countsFile)['1_INVITE_Sent'] ?? prevInvites;
      const dt = (now - prevAt) / 1000;
      const busy = (snap.agentsByState['on_call'] ?? 0) + (snap.agentsByState['reserved'] ?? 0) + (snap.agentsByState['wrap_up'] ?? 0);
      samples.push({
        t: s + 1,
        at: now,
        scheduledRate,
        offered: invites - prevInvites,
        answered: snap.answered - (prev?.answered ?? 0),
        abandoned: snap.abandoned - (prev?.abandoned ?? 0),
        captured: snap.captured - (prev?.captured ?? 0),
        rejected: snap.rejected - (prev?.rejected ?? 0),
        waiting: snap.waiting,
        inIvr: snap.inIvr,
        inProgress: snap.inProgress,
        agentsBusy: busy,
        agentsIdle: snap.agentsByState['idle'] ?? 0,
        agentsIdleAvailable: agentList.filter((a) => a.status === 'available' && a.state === 'idle').length,
        agentsLoggedIn: agentList.filter((a) => a.status !== 'logged_out').length,
        offerPending: sum(engineSeries, 'onair_agents_offer_pending'),
        ringingHeld: sum(engineSeries, 'onair_calls_ringing_held'),
        agentsNotReady: snap.agentsByStatus['not_ready'] ?? 0,
        oldestWaitS: snap.oldestWaitS,
        cpuCores: prev ? (snap.cpuSeconds - prev.cpuSeconds) / dt : 0,
        rssMiB: snap.rssBytes / 2 ** 20,
        eventLoopP99Ms: snap.eventLoopP99S * 1000,
      });
      prev = snap;
      prevInvites = invites;
      prevAt = now;
      return { snap, agentList, now };
    };
    // ---- the failover (the pair): kill -9 the active; from then on the standby is sampled ---------
    let killed: { at: number; journal: JournalRow[]; watch: Promise<{ leaseTakenS: number | null; takeoverS: number | null }> } | undefined;
    const failover = async (p: Pair): Promise<NonNullable<typeof killed>> => {
      const at = Date.now();
      process.kill(p.a.engine.pid, 'SIGKILL');
      // Its calls in progress, from the shared journal: B cannot have recovered it yet (it waits for the lease to run out).
      const journal = await readJournal(p.db);
      http = p.b.engine.baseUrl;
      // B's counters start from its own zero.
      prev = undefined;
      log(`failover: ${p.a.nodeId} (pid ${p.a.engine.pid}) killed with SIGKILL at replay second ${samples.length}; it had ${journal.length} calls in progress`);
      return { at, journal, watch: watchTakeover(p.b.engine, at, 120_000) };
    };
    // B answers its API while it takes over, but slowly: a sample is tried again rather than the run lost.
    const sampleOnce = async (s: number, rate: number): ReturnType<typeof takeSample> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await takeSample(s, rate);
        } catch (err) {
          if (!killed || attempt >= 100) throw err;
          await sleep(300);
        }
      }
    };
    for (let s = 0; ; s++) {
      if (pair && s === killSecond && !killed) killed = await failover(pair);
      const step = schedule[s];
      // Closed loop: sipp restarts its pacing at each rate change and falls a call or so behind
      // per change; telling it what the curve still owes (cumulative) keeps the total on the curve.
      if (step) await callerSipp.command(rateCommand(Math.max(0, cumulative[s]! - prevInvites)));
      else if (s === schedule.length) {
        // The curve is over: no new callers, let those in progress finish.
        await callerSipp.command(rateCommand(0));
        log(`curve over at ${s} s; waiting for callers in progress (up to ${Math.round(drainMs / 1000)} s)`);
      }
      const wake = t0 + (s + 1) * 1000;
      await sleep(Math.max(0, wake - Date.now()));
      const { snap, agentList, now } = await sampleOnce(s, step?.rate ?? 0);
      if (wallboard) {
        // Not awaited: a slow page must not shift the bench's one-second clock.
        wallboardSamples.push(wallboard.sample(s + 1, sum(engineSeries, 'onair_queue_waiting', { queue: 'orders' })));
        if (s === peakSecond) wallboardShots.push(wallboard.screenshots(o.wallboardShotsDir ?? dir).catch((err: unknown) => { log(`wallboard screenshots failed: ${String(err)}`); return []; }));
      }
      if ((s + 1) % 10 === 0) {
        const x = samples[samples.length - 1]!;
        log(`t=${x.t}s rate ${x.scheduledRate.toFixed(0)}/s offered ${x.offered} waiting ${x.waiting} ivr ${x.inIvr} busy ${x.agentsBusy} cpu ${x.cpuCores.toFixed(2)} el99 ${x.eventLoopP99Ms.toFixed(1)}ms`);
      }
      // Supervisor: an agent set not-ready by a ring-no-answer is made ready again, as a team
      // lead would, after readyAgainSeconds.
      if ((snap.agentsByStatus['not_ready'] ?? 0) > 0 || notReadySince.size > 0) await supervise(http, agentList, notReadySince, now, readyAgainMs);
      if (s >= schedule.length) {
        const idle = snap.inProgress === 0;
        if (idle && quietSince === 0) quietSince = now;
        if (idle && now - quietSince >= 2000) break;
        if (now - t0 - schedule.length * 1000 > drainMs) {
          log(`drain deadline: ${snap.inProgress} calls still in progress`);
          break;
        }
      }
    }
    // sipp writes its log and counters on a clean exit only: `q` (after the calls in progress),
    // then `Q` (at once), SIGKILL last.
    // Read before sipp exits: the count lives with the socket.
    const callerSipDrops = udpReceiveDrops(callerSipp.pid, new Set([callerMediaPort, callerMediaPort + 2]));
    await callerSipp.command('q');
    if (await Promise.race([callerSipp.done.then(() => true), sleep(5000).then(() => false)]) === false) {
      await callerSipp.command('Q');
      await Promise.race([callerSipp.done, sleep(5000)]);
    }
    callerSipp.kill();
    const sippCounts = readSippCounts(countsFile);
    const rtts = readRtt(dir, callerSipp.pid);

    // ---- the callback phase -------------------------------------------------------------------------
    // The callers are gone; the engine keeps dialling the captured ones back (it has since the
    // first capture, in the gaps the live callers left). Sampled as the curve was, until no task
    // is open or claimed and no call is left, or the deadline.
    const phaseStart = Date.now();
    if (customerSipp) {
      log(`callback phase: up to ${Math.round(callbackPhaseMs / 1000)} s while tasks are open`);
      for (let s = samples.length; ; s++) {
        await sleep(Math.max(0, t0 + (s + 1) * 1000 - Date.now()));
        const { snap, agentList, now } = await sampleOnce(s, 0);
        if ((snap.agentsByStatus['not_ready'] ?? 0) > 0 || notReadySince.size > 0) await supervise(http, agentList, notReadySince, now, readyAgainMs);
        const openTasks = (await getJson<{ total: number }>(http, '/api/v1/callbacks?status=open,claimed&limit=1')).total;
        if ((s + 1) % 10 === 0) log(`callback phase t=${s + 1}s: ${openTasks} tasks open, busy ${samples[samples.length - 1]!.agentsBusy}`);
        if (openTasks === 0 && snap.inProgress === 0) break;
        if (now - phaseStart > callbackPhaseMs) {
          log(`callback phase deadline: ${openTasks} tasks still open`);
          break;
        }
      }
      await customerSipp.command('Q');
      await Promise.race([customerSipp.done, sleep(5000)]);
      customerSipp.kill();
    }
    const callbackPhaseSeconds = customerSipp ? (Date.now() - phaseStart) / 1000 : 0;

    // ---- the records ------------------------------------------------------------------------------
    // A number is final when the CRM has its answered / callback / blacklist CDR or a callback
    // task. CDRs reach the CRM through the durable outbox, so the join is repeated until every
    // dialled number is final, or none of the missing ones is still held by the engine and the
    // outbox is empty (nothing more is coming), or the deadline. Held at the end: in_progress.
    const offered = sippCounts['1_INVITE_Sent'] ?? 0;
    const dialled = callers.slice(0, offered);
    const dbPath = o.target || pair ? undefined : path.join(dir, 'onair.db');
    // Node A's CDRs: its CRM's SQLite file, final since its death.
    const cdrsOnA = pair && killed ? nodeCdrs(pair.a.dbPath) : [];
    let cdrsOnB = 0;
    const recordsMs = o.recordsMs ?? 60_000;
    const recordsStart = Date.now();
    let recordsDeadline = recordsStart + recordsMs;
    let missingBefore = Infinity;
    let cdrs: Cdr[];
    let callbackNumbers: Set<string>;
    let open: Map<string, string>;
    let joined: ReturnType<typeof classify>;
    let callbacks: TaskView[];
    let tasks: Map<string, TaskView> | undefined;
    for (let round = 0; ; round++) {
      const snap = snapshot(parsePrometheus(await (await fetch(`${http}/metrics`)).text()));
      cdrs = await allPages<Cdr>(http, '/api/v1/cdrs');
      if (pair) {
        cdrsOnB = cdrs.length;
        cdrs = mergeCdrs(cdrsOnA, cdrs);
      }
      callbacks = await allPages<TaskView>(http, '/api/v1/callbacks');
      callbackNumbers = new Set(callbacks.map((cb) => cb.caller));
      tasks = customerSipp ? new Map(callbacks.map((x) => [x.caller, x])) : undefined;
      open = pair
        ? await heldByPair((await getJson<{ items: { caller: string; phase: string }[] }>(http, '/api/v1/calls')).items, pair.db)
        : await heldByEngine(http, dbPath);
      joined = classify(dialled, cdrs, callbackNumbers, open, tasks, pair !== undefined);
      const missing = joined.fates.in_progress + joined.fates.lost;
      // A reached task's connection time is in its outbound CDR, which follows the task through the outbox.
      if (missing === 0 && (tasks === undefined || snap.outboxPending === 0)) break;
      // Tasks left open by the phase's deadline are held by the engine for good: not worth waiting for.
      const heldByTasks = tasks === undefined ? 0 : joined.inProgress.filter((x) => x.where.startsWith('callback task')).length;
      if (joined.fates.in_progress === heldByTasks && snap.outboxPending === 0 && snap.inProgress === 0) break;
      // An engine behind under load is still writing records: wait while that makes progress.
      if (missing < missingBefore) recordsDeadline = Math.min(recordsStart + 5 * recordsMs, Date.now() + recordsMs);
      missingBefore = missing;
      if (Date.now() > recordsDeadline) {
        // The engine writes a CDR through an in-memory write queue before it reaches the outbox, and
        // a caller refused at lookup (blacklisted) has no journal row: while the engine is still
        // writing, a number without any record is not proven lost. Only a quiet engine proves it.
        if (snap.outboxPending > 0 || snap.inProgress > 0) {
          const busy = `no record yet, the engine still busy (outbox ${snap.outboxPending} pending, ${snap.inProgress} calls)`;
          for (const n of joined.lost) open.set(n, busy);
          joined = classify(dialled, cdrs, callbackNumbers, open, tasks, pair !== undefined);
        }
        log(`records deadline: ${joined.fates.in_progress} callers without a final record while the engine still holds or writes them, ${joined.fates.lost} lost`);
        break;
      }
      if (round % 5 === 0) log(`waiting for records: ${joined.fates.in_progress} held by the engine, outbox ${snap.outboxPending} pending`);
      await sleep(2000);
    }
    const finalSeries = parsePrometheus(await (await fetch(`${http}/metrics`)).text());
    // Every dialled number is final (or the deadline passed): the engine's report of the same run.
    let reportVsBench: ReportComparisonRead | null = null;
    let reportVsBenchError: string | null = null;
    if (pair) {
      // Each node files the calls it ended in its own SQLite file (docs/reports.md): no one report covers the run.
      reportVsBenchError = 'not compared through the pair: each node files its own calls in its own SQLite file';
    } else {
      try {
        reportVsBench = await readComparison(http, api.headers, dbPath, dialled, cdrs, { from: callersFrom, to: Date.now() + 1, programme: profile.name });
      } catch (err) {
        reportVsBenchError = err instanceof Error ? err.message : String(err);
        log(`engine report not read: ${reportVsBenchError}`);
      }
    }
    const { fates, lost, lostBy, inProgress } = joined;
    const logFile = path.join(dir, `caller_${callerSipp.pid}_logs.log`);
    const seen = parseCallerLog(existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const errFile = path.join(dir, `caller_${callerSipp.pid}_errors.log`);
    const sippErrors = readSippErrors(errFile);
    const mismatch = answeredMismatch(dialled, seen, cdrs, callbackNumbers, open, sippErrors);
    const media = firstMediaTimes(seen, cdrs);
    const idle = idleWhileWaiting(samples);
    const callbackResult = tasks === undefined ? null : callbackFigures(dialled, tasks, cdrs, freeAgentSeconds(samples), c);
    const inbound = cdrs.filter((x) => x.direction !== 'outbound');
    const outcomes: Record<string, number> = {};
    for (const cdr of inbound) outcomes[cdr.outcome] = (outcomes[cdr.outcome] ?? 0) + 1;
    const answeredCdrs = inbound.filter((x) => x.outcome === 'answered');
    const slMs = (profile.serviceLevel.seconds * 1000) / c;
    const within = answeredCdrs.filter((x) => x.waitMs <= slMs).length;
    const waits = inbound.filter((x) => x.outcome !== 'rejected_blacklist').map((x) => x.waitMs);
    const cpu = samples.map((x) => x.cpuCores);
    const wallboardResult = wallboard
      ? { ...summarizeWallboard(await Promise.all(wallboardSamples), wallboardSamples.length), screenshots: (await Promise.all(wallboardShots)).flat() }
      : null;
    let pairFigures: FailoverFigures | null = null;
    if (pair) {
      const k = killed;
      if (!k) throw new Error(`surge --pair: the run ended before the failover second ${killSecond}`);
      const watched = await k.watch;
      const retried = parseRetries(existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
      pairFigures = {
        wave: kill?.ok ? kill.wave : null, atReplayS: killSecond ?? 0, killedAt: k.at, ...watched,
        aDead: !pair.a.engine.alive(), bRoleAtEnd: (await roleOf(pair.b.engine).catch(() => undefined)) ?? null,
        ...endingsAtKill(k.journal, joined.fateOf, cdrs, tasks),
        servedCut: joined.servedCut,
        servedAfterKill: cdrs.filter((x) => x.direction !== 'outbound' && x.outcome === 'answered' && x.arrivedAt >= k.at).length,
        retriedCallers: retried.size, retries: [...retried.values()].reduce((a, b) => a + b, 0),
        retriedLost: [...retried.keys()].filter((n) => joined.fateOf.get(n) === 'lost').length,
        cdrsOnA: cdrsOnA.length, cdrsOnB,
      };
    }
    const result: RunResult = {
      profile, agents: agentCount, seed, samples, offered, expected, wallboard: wallboardResult,
      fates, lostNumbers: lost.slice(0, 50), lostBy, outcomes, callbacks: callbackResult, callbackPhaseSeconds,
      lostSeenBySipp: lost.slice(0, 50).map((n) => sippView(n, seen.get(n), sippErrors)),
      inProgressNumbers: inProgress.slice(0, 50),
      inProgressTasks: inProgress.filter((h) => h.where.startsWith('callback task')).length,
      answeredMismatch: { ...mismatch, numbers: mismatch.numbers.slice(0, 50) },
      idleWhileWaitingS: idle.seconds,
      idleWhileWaitingShare: idle.share,
      waitingSeconds: idle.waitingSeconds,
      callerFirstMediaP99S: quantileOf(media.seconds, 0.99),
      callerFirstMedia: { callers: media.seconds.length, excludedRinging: media.excludedRinging, treatmentKnown: media.treatmentKnown, by200: media.by200 },
      callerSipDrops,
      ringingHeldPeak: Math.max(0, ...samples.map((x) => x.ringingHeld)),
      gauges: { offerPending: has(finalSeries, 'onair_agents_offer_pending'), ringingHeld: has(finalSeries, 'onair_calls_ringing_held') },
      scale: o.scale ?? 1,
      abandoned: (outcomes['abandoned_ivr'] ?? 0) + (outcomes['abandoned_queue'] ?? 0),
      captured: callbacks.length + (outcomes['callback_requested'] ?? 0) - countRequestedWithTask(cdrs, callbacks),
      peakWaiting: Math.max(0, ...samples.map((x) => x.waiting)),
      peakInProgress: Math.max(0, ...samples.map((x) => x.inProgress)),
      peakOfferedPerSecond: Math.max(0, ...samples.map((x) => x.offered)),
      serviceLevel: answeredCdrs.length > 0 ? within / answeredCdrs.length : NaN,
      answeredWithinSl: within,
      avgWaitS: answeredCdrs.length > 0 ? answeredCdrs.reduce((a, x) => a + x.waitMs, 0) / answeredCdrs.length / 1000 : 0,
      maxWaitS: waits.length > 0 ? Math.max(...waits) / 1000 : 0,
      engineFirstMediaP99S: histogramQuantile(finalSeries, 'onair_first_media_seconds', 0.99),
      routingP99S: histogramQuantile(finalSeries, 'onair_offer_latency_seconds', 0.99),
      earlyMediaP99S: quantileOf(rtts, 0.99),
      peakCpuCores: Math.max(0, ...cpu),
      avgCpuCores: cpu.length > 1 ? cpu.slice(1).reduce((a, b) => a + b, 0) / (cpu.length - 1) : 0,
      peakRssMiB: Math.max(0, ...samples.map((x) => x.rssMiB)),
      peakEventLoopP99Ms: Math.max(0, ...samples.map((x) => x.eventLoopP99Ms)),
      sipp: {
        invites: offered,
        // A served caller is the one the engine BYEs (after the agent's BYE).
        answered: countEnding(sippCounts, '_BYE_Recv'),
        cancels: countEnding(sippCounts, '_CANCEL_Sent'),
        rejected503: countEnding(sippCounts, '_503_Recv'),
        rejected603: countEnding(sippCounts, '_603_Recv'),
        retransmissions: countEnding(sippCounts, '_Retrans'),
        timeouts: countEnding(sippCounts, '_Timeout') - countEnding(sippCounts, 'Pause_Timeout'),
      },
      reportVsBench, reportVsBenchError, pair: pairFigures,
      replaySeconds: schedule.length,
      wallSeconds: (Date.now() - started) / 1000,
      machine: '',
    };
    return result;
  } finally {
    for (const c of cleanups.reverse()) {
      try { await c(); } catch { /* best effort: keep cleaning */ }
    }
  }
}

/** Callback-requested CDRs that also have a task (not to count a caller twice). */
function countRequestedWithTask(cdrs: readonly Cdr[], callbacks: readonly { caller: string }[]): number {
  const tasks = new Set(callbacks.map((c) => c.caller));
  return cdrs.filter((c) => c.outcome === 'callback_requested' && tasks.has(c.caller)).length;
}

/** Response times of sipp's `-trace_rtt` file (seconds). */
function readRtt(dir: string, pid: number): number[] {
  try {
    const lines = readFileSync(path.join(dir, `caller_${pid}_rtt.csv`), 'utf8').trim().split('\n').slice(1);
    // date_ms;response_time_ms;rtd_no
    return lines.map((l) => Number(l.split(';')[1]) / 1000).filter((x) => Number.isFinite(x));
  } catch {
    return [];
  }
}

/** One agent as `GET /api/v1/agents` lists it (the fields the bench reads). */
interface AgentRow {
  id: string;
  status: string;
  state: string;
  reason: string | null;
  registered: boolean;
}

async function listAgents(http: string): Promise<AgentRow[]> {
  return (await getJson<{ items: AgentRow[] }>(http, '/api/v1/agents')).items;
}

/**
 * Numbers the engine still holds, with where: a live call (`GET /api/v1/calls`), and when the
 * bench started the engine (its database at `dbPath`), a call-journal row (the call has not
 * finished) or a CDR still pending in the outbox (finished, not yet in the CRM). Read-only: the
 * engine keeps writing.
 */
async function heldByEngine(http: string, dbPath: string | undefined): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const c of (await getJson<{ items: { caller: string; phase: string }[] }>(http, '/api/v1/calls')).items) out.set(c.caller, `call ${c.phase}`);
  if (dbPath === undefined || !existsSync(dbPath)) return out;
  // A second connection to the engine's WAL database: reads see the last commit, never block it.
  const db = openDatabase({ path: dbPath, busyTimeoutMs: 2000 });
  try {
    for (const r of db.prepare<{ caller: string; state: string }>('SELECT caller, state FROM call_journal').all()) {
      if (!out.has(r.caller)) out.set(r.caller, `journal ${r.state}`);
    }
    for (const r of db.prepare<{ payload: string }>("SELECT payload FROM outbox WHERE kind = 'cdr' AND status = 'pending'").all()) {
      const caller = (JSON.parse(r.payload) as { caller?: unknown }).caller;
      if (typeof caller === 'string' && !out.has(caller)) out.set(caller, 'CDR pending in the outbox');
    }
  } finally {
    db.close();
  }
  return out;
}

/**
 * sipp's error file, read in chunks: with -trace_err sipp notes every patience tick (a recv
 * timeout) of every caller, tens of MB in a preset; only the entries naming a call are kept.
 */
function readSippErrors(file: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!existsSync(file)) return out;
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let carry = '';
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      const text = carry + buf.toString('latin1', 0, n);
      parseSippErrors(text, out, n === 0);
      if (n === 0) return out;
      // Keep the tail: an entry cut at the chunk's end is read whole with the next chunk.
      carry = text.slice(Math.max(0, text.length - 8192));
    }
  } finally {
    closeSync(fd);
  }
}

/** A lost caller as sipp saw it, for the report (the lead matches the Call-ID in the engine log). */
function sippView(number: string, s: SippCall | undefined, errors: ReadonlyMap<string, string>): { number: string; callId: string | null; sipp: string } {
  if (s === undefined) return { number, callId: null, sipp: 'no line in the callers\' log' };
  const events = [
    s.inviteAt !== null ? `INVITE at ${s.inviteAt} ms` : null,
    s.sdp183At !== null ? `183+SDP at ${s.sdp183At} ms` : null,
    s.answeredAt !== null ? `200 at ${s.answeredAt} ms` : null,
    s.cancelAt !== null ? `CANCEL at ${s.cancelAt} ms` : null,
    s.answeredAfterCancelAt !== null ? `200 after CANCEL at ${s.answeredAfterCancelAt} ms` : null,
    errors.has(s.callId) ? `sipp error: ${errors.get(s.callId)!}` : null,
  ].filter((x) => x !== null);
  return { number, callId: s.callId, sipp: events.join(', ') };
}

/** Whether the exposition has a series named `name` (a gauge an older engine lacks). */
function has(series: readonly PromSeries[], name: string): boolean {
  return series.some((x) => x.name === name);
}

/** Make agents that a ring-no-answer set not-ready available again after `afterMs`. */
async function supervise(http: string, list: readonly AgentRow[], since: Map<string, number>, now: number, afterMs: number): Promise<void> {
  const seen = new Set<string>();
  for (const a of list) {
    if (a.status !== 'not_ready' || !a.registered) continue;
    seen.add(a.id);
    const from = since.get(a.id);
    if (from === undefined) {
      since.set(a.id, now);
    } else if (now - from >= afterMs) {
      const r = await fetch(`${http}/api/v1/agents/${a.id}/status`, {
        method: 'POST', headers: { ...api.headers, 'content-type': 'application/json' }, body: JSON.stringify({ status: 'available' }),
      });
      await r.arrayBuffer();
      since.delete(a.id);
    }
  }
  for (const id of since.keys()) if (!seen.has(id)) since.delete(id);
}
