/**
 * The surge through the active-standby pair (`--pair`, issue 19 must-show 3): the same run as
 * against one engine, with the engine replaced by two nodes on one PostgreSQL database behind
 * Kamailio, and the active killed with SIGKILL at the start of a wave.
 *
 * ```
 *  sipp callers ──INVITE──▶ Kamailio 127.0.0.1 ──▶ node A 127.0.0.2 (active)  ─┐
 *  sipp agents ──REGISTER─▶   (dispatcher,     └─▶ node B 127.0.0.3 (standby) ─┴─▶ PostgreSQL (throwaway):
 *     (from the port they      Path, RR)                                           lease, journal, outbox,
 *      answer on)          node ──INVITE──▶ Kamailio ──▶ agent (along the Path)    callback tasks, bindings
 *  callbacks: node ──INVITE──▶ sipp customers (the outbound trunk, straight)
 *
 *  replay second of the wave's start: kill -9 A ─▶ A's journal read (its calls in progress)
 *    ─▶ B takes the lease, recovers A's journal (waiting callers become callback tasks), opens
 *    ─▶ Kamailio's probe routes to B; the bench samples B from then on
 *  records: B's CDRs (API) ∪ A's CDRs (its SQLite file, read after its death) ∪ tasks and
 *           journal/outbox of the shared database
 * ```
 *
 * The callers' INVITEs refused with 503 while no node is up (Kamailio's "No active onair node"
 * with Retry-After, or the standby's 503) are sent again after the Retry-After, a few times, as a
 * carrier does (the retry blocks of the caller scenario, {@link callerRetry}); every retry is
 * logged and counted.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { SqliteCrmAdapter } from '../../crm-adapter/index.ts';
import { openDatabase } from '../../engine/db/index.ts';
import { haRole, startKamailio, type KamailioProxy } from '../../engine/testing/index.ts';
import { SCENARIOS } from '../../engine/testing/engine-rig.ts';
import { startPostgres, type PostgresCluster } from '../../engine/testing/postgres.ts';
import type { Profile } from './profile.ts';
import type { Caller } from './schedule.ts';
import { crmCustomers, engineConfig, surgeAgents, SURGE_NUMBER } from './engine-config.ts';
import { freePort, sleep, startEngineProcess, startSipp, type EngineBuild, type EngineProcess } from './processes.ts';
import type { Cdr, Fate, TaskView } from './truth.ts';

/** Where a wave of the arrival curve starts. */
export interface WaveStart {
  /** 1 = the first wave. */
  wave: number;
  /** Broadcast minute where the rise towards the wave's peak begins. */
  minute: number;
  /** The same in replay seconds (minute × 60 ÷ compression): the index of the rate schedule. */
  replaySecond: number;
  /** The wave's peak: minute and calls/s (broadcast). */
  peakMinute: number;
  peakPerSecond: number;
}

/**
 * The waves of a profile's arrival curve. A wave is a local maximum of the curve (a point higher
 * than the one before and not lower than the one after; a flat top counts once, at its first
 * point); it starts where the rise towards it begins: walking back from the peak while each point
 * is lower than the next. home-shopping-60: peaks at minutes 5, 20 and 58.5, rises from 0, 19
 * and 44 — the third wave (the final countdown) starts at minute 44, replay second 264.
 */
export function waveStarts(profile: Pick<Profile, 'arrivals' | 'compression'>): WaveStart[] {
  const p = profile.arrivals;
  const out: WaveStart[] = [];
  for (let i = 1; i < p.length; i++) {
    const next = p[i + 1];
    if (!(p[i]!.perSecond > p[i - 1]!.perSecond && (next === undefined || next.perSecond <= p[i]!.perSecond))) continue;
    let j = i;
    while (j > 0 && p[j - 1]!.perSecond < p[j]!.perSecond) j--;
    const minute = p[j]!.minute;
    out.push({ wave: out.length + 1, minute, replaySecond: Math.round((minute * 60) / profile.compression), peakMinute: p[i]!.minute, peakPerSecond: p[i]!.perSecond });
  }
  return out;
}

/** The replay second of the kill: `--failover-at` when given, else the start of wave `wave`. */
export function failoverSecond(profile: Pick<Profile, 'arrivals' | 'compression' | 'durationMinutes'>, wave: number, atSeconds?: number):
  { ok: true; second: number; wave: WaveStart | null } | { ok: false; error: string } {
  const replayEnd = (profile.durationMinutes * 60) / profile.compression;
  if (atSeconds !== undefined) {
    if (!(atSeconds >= 1 && atSeconds < replayEnd)) return { ok: false, error: `--failover-at must be within the curve's replay, 1..${Math.floor(replayEnd)} s, not ${atSeconds}` };
    return { ok: true, second: Math.round(atSeconds), wave: null };
  }
  const waves = waveStarts(profile);
  const w = waves[wave - 1];
  if (w === undefined) return { ok: false, error: `the profile's curve has ${waves.length} waves, not ${wave} (peaks at minutes ${waves.map((x) => x.peakMinute).join(', ')})` };
  // A wave that starts at the first second: the kill one second in, with callers on the node.
  return { ok: true, second: Math.max(1, w.replaySecond), wave: w };
}

/** Retries of a refused INVITE: how many, and the pause before each (Kamailio's Retry-After, wall-clock ms). */
export const CALLER_RETRIES = { attempts: 5, delayMs: 2000 } as const;

/**
 * The caller scenario's two retry fields: `on503`, the label a 503 to the INVITE (before any 183)
 * goes to, and `retries`, the XML of the blocks. One engine: `rejected`, none. The pair: a
 * dispatch on the CSeq so far (`refused`), then per attempt k (CSeq k): ACK the 503, log
 * `retry503;NUMBER;CALL-ID;TICK;k`, wait `delayMs`, and send the scenario's own INVITE again with
 * CSeq k (a new transaction, a new branch: sipp's branch names the message) — back to its answers.
 * After `attempts` retries the last 503 is final (`rejected`).
 */
export function callerRetry(template: string, retry: { attempts: number; delayMs: number } | null): { on503: string; retries: string } {
  if (retry === null || retry.attempts === 0) return { on503: 'rejected', retries: '' };
  const invite = /<send retrans="500">\s*<!\[CDATA\[\s*INVITE [\s\S]*?<\/send>/.exec(template)?.[0];
  if (invite === undefined || !invite.includes('CSeq: [$cseq] INVITE')) throw new Error('caller scenario: no INVITE with CSeq [$cseq] to retry');
  const again = invite.replace('<send retrans="500">', '<send retrans="500" next="invited">');
  const ack = [
    '  <send>', '    <![CDATA[', '', '      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0', '      [last_Via:]',
    '      From: <sip:[field0]@[local_ip]>;tag=[pid]SIPpTag00[call_number]', '      [last_To:]', '      Call-ID: [call_id]',
    '      CSeq: [$cseq] ACK', '      Max-Forwards: 70', '      Content-Length: 0', '', '    ]]>', '  </send>',
  ].join('\n');
  const lines = ['  <label id="refused"/>'];
  for (let k = 1; k <= retry.attempts; k++) {
    lines.push(`  <nop><action><strcmp assign_to="cmp" variable="cseq" value="${k}"/><test assign_to="again" variable="cmp" compare="equal" value="0"/></action></nop>`);
    lines.push(`  <nop test="again" next="retry${k + 1}"/>`);
  }
  lines.push('  <nop next="rejected"/>');
  for (let k = 2; k <= retry.attempts + 1; k++) {
    lines.push(`  <label id="retry${k}"/>`, ack);
    lines.push(`  <nop><action><assignstr assign_to="cseq" value="${k}"/><log message="retry503;[field0];[call_id];[clock_tick];${k}"/></action></nop>`);
    lines.push(`  <pause milliseconds="${retry.delayMs}"/>`, `  ${again}`);
  }
  return { on503: 'refused', retries: lines.join('\n') };
}

/** Retried INVITEs of the callers' `-trace_logs` text, by number (the number of retries). */
export function parseRetries(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const f = line.trim().split(';');
    if (f[0] !== 'retry503' || f[1] === undefined || f[1] === '') continue;
    out.set(f[1], (out.get(f[1]) ?? 0) + 1);
  }
  return out;
}

/** One node of the pair the bench started. */
export interface PairNode {
  nodeId: string;
  address: string;
  sipPort: number;
  /** Its own SQLite file (the CRM with its CDRs, the reports). */
  dbPath: string;
  engine: EngineProcess;
}

/** A running pair behind Kamailio. */
export interface Pair {
  a: PairNode;
  b: PairNode;
  kamailio: KamailioProxy;
  /** The shared database (a client of the bench's own, for reads). */
  db: pg.Client;
  postgresUrl: string;
  /** Stop everything (nodes, Kamailio, the database). Idempotent, never throws. */
  stop(): Promise<void>;
}

/** Options of {@link startPair}. */
export interface PairOptions {
  profile: Profile;
  agentCount: number;
  dir: string;
  /** The callers drawn (the VIP and blacklisted ones are CRM customers of both nodes). */
  callers: readonly Caller[];
  customerPort: number | undefined;
  build: EngineBuild;
  airing: string;
  leaseMs?: number | undefined;
  renewIntervalMs?: number | undefined;
  /** Longest start of one node (ms): /healthz, then its role. Default 180 s (a loaded machine). */
  startTimeoutMs?: number | undefined;
  log: (line: string) => void;
}

async function until(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${Math.round(ms / 1000)} s: ${what}`);
    await sleep(100);
  }
}

/** The role a node reports in its /metrics (engine/testing's reading of `onair_ha_role`). */
export function roleOf(e: EngineProcess): Promise<string | undefined> {
  return haRole({ get: async <T>(p: string) => (await (await fetch(`${e.baseUrl}${p}`)).text()) as T });
}

/**
 * Start the pair: a throwaway PostgreSQL cluster, node A (127.0.0.2) until it is active, node B
 * (127.0.0.3) until it is standby — one after the other, each with a generous start (a node at
 * load 28 once needed more than 30 s), Kamailio in front of both (the shipped configuration). Each
 * node runs the surge's engine configuration (engine-config.ts) with its own address, the shared
 * database and the lease. Cleaned up on failure.
 */
export async function startPair(o: PairOptions): Promise<Pair> {
  const stops: (() => Promise<void> | void)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) {
      try { await s(); } catch { /* keep stopping */ }
    }
  };
  try {
    const cluster: PostgresCluster | undefined = await startPostgres();
    if (cluster === undefined) throw new Error('PostgreSQL is not installed (Debian: postgresql)');
    stops.push(() => cluster.stop());
    const postgresUrl = await cluster.createDatabase('onair_surge');
    const leaseMs = o.leaseMs ?? 2000;
    const renewIntervalMs = o.renewIntervalMs ?? 250;
    const startMs = o.startTimeoutMs ?? 180_000;
    const node = async (nodeId: string, address: string): Promise<PairNode> => {
      const sipPort = await freePort();
      const httpPort = await freePort();
      if (sipPort < 32000 || httpPort < 32000) throw new Error(`free ports ${sipPort}/${httpPort} fall in the RTP range 2000-31999`);
      const nodeDir = path.join(o.dir, nodeId);
      const dbPath = path.join(nodeDir, 'onair.db');
      const config = engineConfig(o.profile, o.agentCount, {
        sipPort, httpPort, dbPath, rtpPortMin: 2000, rtpPortMax: 31999, customerPort: o.customerPort,
        pairNode: { address, nodeId, postgresUrl, leaseMs, renewIntervalMs },
      }, o.airing);
      mkdirSync(nodeDir, { recursive: true });
      writeFileSync(path.join(nodeDir, 'engine.json'), JSON.stringify(config, null, 2));
      // Each node's built-in CRM is its own SQLite file: both know the VIP and blacklisted callers.
      const crm = new SqliteCrmAdapter({ path: dbPath });
      await crm.init();
      crm.upsertCustomers(crmCustomers(o.callers));
      await crm.close();
      const engine = await startEngineProcess({
        configFile: path.join(nodeDir, 'engine.json'), httpPort, logFile: path.join(nodeDir, 'engine.log'), build: o.build, startTimeoutMs: startMs,
      });
      stops.push(() => engine.stop(5000));
      o.log(`node ${nodeId} pid ${engine.pid}: sip ${address}:${sipPort}, http ${engine.baseUrl}`);
      return { nodeId, address, sipPort, dbPath, engine };
    };
    const a = await node('node-a', '127.0.0.2');
    await until('node A active', startMs, async () => (await roleOf(a.engine)) === 'active');
    const b = await node('node-b', '127.0.0.3');
    await until('node B standby', startMs, async () => (await roleOf(b.engine)) === 'standby');
    const kamailio = await startKamailio({ nodes: [{ address: a.address, port: a.sipPort }, { address: b.address, port: b.sipPort }] });
    stops.push(() => kamailio.stop());
    const db = new pg.Client({ connectionString: postgresUrl });
    await db.connect();
    stops.push(() => db.end());
    // Kamailio's first probes (every second) mark A up and B down.
    await sleep(2500);
    o.log(`kamailio ${kamailio.target} in front of ${a.nodeId} (active) and ${b.nodeId} (standby), lease ${leaseMs} ms`);
    return { a, b, kamailio, db, postgresUrl, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Register every agent's phone through Kamailio from `agentPort`, the port the answering sipp
 * then takes: Kamailio's Path records the address a REGISTER came from (`received`), and the
 * nodes' INVITEs to an agent go there. One sipp for all (digest, per-agent credentials from an
 * injection file), again for those the active did not show registered, up to 5 rounds.
 */
export async function registerThroughProxy(o: { pair: Pair; agentCount: number; agentPort: number; dir: string; log: (line: string) => void }): Promise<void> {
  const agents = surgeAgents(o.agentCount);
  const csv = path.join(o.dir, 'agents-register.csv');
  for (let round = 0; ; round++) {
    const list = await (await fetch(`${o.pair.a.engine.baseUrl}/api/v1/agents`)).json() as { items: { id: string; registered: boolean }[] };
    const registered = new Set(list.items.filter((x) => x.registered).map((x) => x.id));
    const missing = agents.filter((x) => !registered.has(x.id));
    if (missing.length === 0) return;
    if (round === 5) throw new Error(`agents not registered through Kamailio: ${missing.map((x) => x.id).join(' ')}`);
    writeFileSync(csv, `SEQUENTIAL\n${missing.map((x) => `${x.id};[authentication username=${x.id} password=${x.password}]`).join('\n')}\n`);
    const reg = await startSipp([
      '-sf', path.join(SCENARIOS, 'agents-register.xml'), o.pair.kamailio.target, '-t', 'u1', '-i', '127.0.0.1', '-p', String(o.agentPort),
      '-inf', csv, '-key', 'agent_port', String(o.agentPort), '-m', String(missing.length), '-r', '50', '-timeout', '60s', '-timeout_error',
    ], { cwd: o.dir, logFile: '/dev/null' });
    const code = await reg.done;
    o.log(`agents registered through Kamailio: round ${round + 1}, ${missing.length} sent, sipp exit ${code}`);
  }
}

/** A call in progress on the active at the kill (the shared journal, read right after it). */
export interface JournalRow {
  callId: string;
  caller: string;
  state: string;
}

/** Calls in the shared journal now. */
export async function readJournal(db: pg.Client): Promise<JournalRow[]> {
  const rows = (await db.query<{ call_id: string; caller: string; state: string }>('SELECT call_id, caller, state FROM call_journal ORDER BY call_id')).rows;
  return rows.map((r) => ({ callId: r.call_id, caller: r.caller, state: r.state }));
}

/**
 * Numbers the pair still holds, with where (as heldByEngine for one engine): a live call of the
 * active node (`live`, its API), a row of the shared journal, a CDR pending in the shared outbox.
 */
export async function heldByPair(live: readonly { caller: string; phase: string }[], db: pg.Client): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const c of live) out.set(c.caller, `call ${c.phase}`);
  for (const r of await readJournal(db)) if (!out.has(r.caller)) out.set(r.caller, `journal ${r.state}`);
  const pending = await db.query<{ caller: string | null }>("SELECT payload::json->>'caller' AS caller FROM outbox WHERE kind = 'cdr' AND status = 'pending'");
  for (const r of pending.rows) if (r.caller !== null && !out.has(r.caller)) out.set(r.caller, 'CDR pending in the outbox');
  return out;
}

/** The CDRs a node's built-in CRM holds (its SQLite file; read-only, also after the node's death). */
export function nodeCdrs(dbPath: string): Cdr[] {
  if (!existsSync(dbPath)) return [];
  const db = openDatabase({ path: dbPath, busyTimeoutMs: 2000 });
  try {
    return db.prepare<{ payload: string }>('SELECT payload FROM crm_cdrs').all().map((r) => JSON.parse(r.payload) as Cdr);
  } finally {
    db.close();
  }
}

/**
 * The CDRs of both nodes as one list: a call's CDR once, whichever node delivered it (the outbox
 * delivers at least once: an item A delivered but had not marked reaches B's CRM again).
 */
export function mergeCdrs(...lists: readonly (readonly Cdr[])[]): Cdr[] {
  const seen = new Set<string>();
  const out: Cdr[] = [];
  for (const list of lists) {
    for (const c of list) {
      const key = c.callId === undefined ? null : `${c.callId}/${c.direction ?? 'inbound'}`;
      if (key !== null && seen.has(key)) continue;
      if (key !== null) seen.add(key);
      out.push(c);
    }
  }
  return out;
}

/** What the kill did and how the standby took over. */
export interface FailoverFigures {
  /** The wave the kill started (null: `--failover-at`). */
  wave: WaveStart | null;
  /** Replay second of the kill. */
  atReplayS: number;
  killedAt: number;
  /** From the kill to B reporting role `active` (s; null: not within the watch). */
  leaseTakenS: number | null;
  /** From the kill to the first new caller on B (s): its INVITE came through Kamailio and B holds the call. */
  takeoverS: number | null;
  /** A had exited at the end (the kill took), B was active at the end. */
  aDead: boolean;
  bRoleAtEnd: string | null;
  /** Calls in progress on A at the kill (the shared journal), by journal state. */
  callsAtKill: number;
  byStateAtKill: Record<string, number>;
  /** How each of those ended: `state → fate (CDR outcome)` with a count. */
  endings: Record<string, number>;
  /** The calls at the kill, each with its ending (at most 500). */
  calls: { callId: string; caller: string; state: string; ending: string }[];
  /** Callers talking to an agent at the kill, their call cut (a `failed` CDR with an answer): counted served. */
  servedCut: number;
  /** Callers who arrived after the kill and were answered by an agent (on B). */
  servedAfterKill: number;
  /** Callers whose INVITE was refused with 503 and sent again, and the retries in all. */
  retriedCallers: number;
  retries: number;
  /** Of the retried callers, those lost (their INVITE never reached a node that recorded it). */
  retriedLost: number;
  /** CDRs each node's CRM holds at the end (A's: delivered before its death). */
  cdrsOnA: number;
  cdrsOnB: number;
}

/**
 * Watch B after the kill: when it reports `active` and when it holds its first new caller (an
 * inbound call to the surge number that arrived after the kill), polling every 100 ms for up to
 * `ms`. Never throws (an unanswered poll is a poll again).
 */
export async function watchTakeover(b: EngineProcess, killedAt: number, ms: number): Promise<{ leaseTakenS: number | null; takeoverS: number | null }> {
  let leaseTakenS: number | null = null;
  const end = killedAt + ms;
  while (Date.now() < end) {
    if (leaseTakenS === null && (await roleOf(b).catch(() => undefined)) === 'active') leaseTakenS = (Date.now() - killedAt) / 1000;
    if (leaseTakenS !== null) {
      const calls = await fetch(`${b.baseUrl}/api/v1/calls`).then(async (r) => (r.ok ? (await r.json() as { items: { dialled: string; arrivedAt: number }[] }).items : []), () => []);
      if (calls.some((c) => c.dialled === SURGE_NUMBER && c.arrivedAt >= killedAt)) return { leaseTakenS, takeoverS: (Date.now() - killedAt) / 1000 };
    }
    await sleep(100);
  }
  return { leaseTakenS, takeoverS: null };
}

/**
 * How each call in progress at the kill ended: its journal state, the caller's fate in the run,
 * and the outcome of that call's own CDR (by Call-ID; `no CDR` when none), with the callback task's
 * status when the caller has one. Pure.
 */
export function endingsAtKill(journal: readonly JournalRow[], fateOf: ReadonlyMap<string, Fate>, cdrs: readonly Cdr[], tasks: ReadonlyMap<string, TaskView> | undefined):
  Pick<FailoverFigures, 'callsAtKill' | 'byStateAtKill' | 'endings' | 'calls'> {
  const byCall = new Map<string, Cdr>();
  for (const c of cdrs) if (c.callId !== undefined && c.direction !== 'outbound') byCall.set(c.callId, c);
  const byStateAtKill: Record<string, number> = {};
  const endings: Record<string, number> = {};
  const calls: FailoverFigures['calls'] = [];
  for (const j of journal) {
    byStateAtKill[j.state] = (byStateAtKill[j.state] ?? 0) + 1;
    const task = tasks?.get(j.caller);
    const ending = `${j.state} → ${fateOf.get(j.caller) ?? 'not dialled'} (CDR ${byCall.get(j.callId)?.outcome ?? 'none'}${task ? `, task ${task.status}` : ''})`;
    endings[ending] = (endings[ending] ?? 0) + 1;
    if (calls.length < 500) calls.push({ ...j, ending });
  }
  return { callsAtKill: journal.length, byStateAtKill, endings, calls };
}
