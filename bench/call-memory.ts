/**
 * `npm run bench -- call-memory [--calls N] [--rate R] [--state early|answered|no-ack] [--engine dist|source]
 * [--snapshots yes|no] [--max-streams none|auto|N] [--node-args "FLAGS"] [--env K=V,...] [--keep DIR] [--top K]`:
 * what one call in progress keeps alive in the engine (issue 13, "Memory at the peak"): the
 * resident memory by part (main isolate, each media worker's isolate, the rest: native), and the
 * main isolate's live heap by constructor from two heap snapshots.
 *
 * The engine runs as `npm start` runs it (`dist/`, its own V8 flags) with
 * `--heapsnapshot-signal=SIGUSR2`. A heap snapshot is taken idle (after a settle), then a sipp
 * caller (`caller-bench.xml`, no RTP sent, as the surge bench's callers) places `--calls` calls
 * at `--rate` per second to a queue nobody staffs, and once the engine reports them all in
 * progress a second snapshot is taken. V8 collects garbage before it writes a snapshot, so each
 * snapshot is the live heap; (live at N calls − live idle) / N is the main isolate's bytes per
 * call in progress, and the same difference per node kind and constructor says where they are.
 *
 * Three states:
 * - `early` (default; the surge bench's peak): the carrier trunk queues in early media (183 with
 *   SDP, answered only when an agent answers): every caller keeps its INVITE server transaction
 *   in Proceeding, its call, its media leg playing hold audio;
 * - `answered`: the trunk answers at once (200, ACKed), the snapshot is taken past timer L
 *   (32 s): a confirmed dialog, the call, its leg, for as long as the call lasts;
 * - `no-ack`: answered at once and never ACKed (`bench/memory/caller-no-ack.xml`), the snapshot
 *   within the 64*T1 the engine waits for the ACK: what a fuzzed or forged INVITE from an
 *   address a trunk admits costs (issue 11's fuzz RSS).
 *
 * RSS (from /proc) at both points is printed beside it, idle after the first snapshot (writing a
 * snapshot leaves its working memory in malloc's arenas) and loaded before the second, split by
 * part: anonymous and file-backed (`/proc/PID/status`), the main isolate's heap committed and used
 * (`onair_nodejs_heap_size_*`), each media worker's (`onair_media_worker_heap_bytes`: a main-thread
 * snapshot does not see the workers), and what is left of the anonymous memory, native (glibc
 * heaps of every thread, sockets, SQLite, thread stacks). Each is the mean of `--samples` reads
 * one second apart (RSS moves with every collection), the RSS maximum beside it.
 *
 * `--snapshots no` takes no snapshot: the RSS figures are then the process's own, without the
 * ~100-180 MiB a snapshot leaves in malloc's arenas (the figure to compare with the surge bench's
 * `rss_peak`, and the quick one: a few seconds instead of a minute per snapshot). `--max-streams`:
 * the engine's `media.maxStreams` (default `none`: every caller gets hold audio, as at the
 * surge's peak without a limit; `auto` as the engine ships). `--node-args` adds V8/Node flags after
 * the engine's own (`ENGINE_NODE_FLAGS`; a later flag wins), `--env` environment variables (e.g.
 * `MALLOC_ARENA_MAX=2`): what a flag does to RSS, measured.
 *
 * `--abandon-after S` (state `early`): each caller CANCELs S seconds after its 183
 * (`caller-cancel.xml`), as a surge's callers give up, so calls end at `--rate` per second while
 * about rate × S wait: the loaded point is taken once every call was placed, with the ended calls'
 * transactions still waiting out their 32 s, and the per-call figures divide by the calls in
 * progress then (what a waiting caller costs with its share of the churn).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emit, machine, say, SIPP_LOAD_BUFFERS } from './lib.ts';
import { benchConfig } from './engine-calls.ts';
import { startSipp, type SippRun } from '../engine/testing/sipp.ts';
import { SCENARIOS } from '../engine/testing/engine-rig.ts';
import { spawnEngine, staleBuild, type EngineBuild, type EngineProcess } from '../engine/testing/engine-process.ts';
import type { ConfigInput } from '../engine/config/index.ts';

const BENCH = 'call-memory';
const here = path.dirname(fileURLToPath(import.meta.url));

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Live heap of one snapshot: totals per node kind and per `kind:constructor`, bytes and counts. */
export interface HeapSummary {
  total: number;
  count: number;
  /** `kind:name` (objects, closures, natives by constructor / function name; strings and arrays by kind) → [bytes, count]. */
  byName: Map<string, [number, number]>;
  byKind: Map<string, [number, number]>;
}

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Kinds whose node name is a constructor or function name worth grouping by. */
const NAMED_KINDS = new Set(['object', 'closure', 'native', 'hidden', 'array', 'code']);

/** Sum a `.heapsnapshot` (V8's JSON format) by node kind and constructor. */
export function summarizeSnapshot(file: string): HeapSummary {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as SnapshotJson;
  const fields = snap.snapshot.meta.node_fields;
  const kinds = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const out: HeapSummary = { total: 0, count: 0, byName: new Map(), byKind: new Map() };
  const add = (m: Map<string, [number, number]>, key: string, size: number): void => {
    const e = m.get(key);
    if (e) {
      e[0] += size;
      e[1]++;
    } else m.set(key, [size, 1]);
  };
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const kind = kinds[nodes[i + fType]!] ?? 'unknown';
    const size = nodes[i + fSize]!;
    out.total += size;
    out.count++;
    add(out.byKind, kind, size);
    const name = NAMED_KINDS.has(kind) ? snap.strings[nodes[i + fName]!] ?? '' : '';
    add(out.byName, name === '' ? kind : `${kind}:${name.length > 60 ? name.slice(0, 60) : name}`, size);
  }
  return out;
}

/** Per-call growth between two summaries, largest first. */
export function perCall(before: Map<string, [number, number]>, after: Map<string, [number, number]>, calls: number): { key: string; bytes: number; count: number }[] {
  const rows: { key: string; bytes: number; count: number }[] = [];
  for (const [key, [size, count]] of after) {
    const [s0, c0] = before.get(key) ?? [0, 0];
    rows.push({ key, bytes: (size - s0) / calls, count: (count - c0) / calls });
  }
  for (const [key, [s0, c0]] of before) if (!after.has(key)) rows.push({ key, bytes: -s0 / calls, count: -c0 / calls });
  return rows.sort((a, b) => b.bytes - a.bytes);
}

/** The process's memory by part at one moment, bytes (see the file comment). */
export interface MemoryParts {
  rss: number;
  /** `/proc/PID/status` RssAnon and RssFile (+ RssShmem): heaps and stacks vs. the node binary's and libraries' pages. */
  anon: number;
  file: number;
  /** The main isolate: V8 heap committed and used, external (array buffers and other off-heap memory V8 is told of). */
  mainTotal: number;
  mainUsed: number;
  external: number;
  /** Every media worker's isolate, summed (`onair_media_worker_heap_bytes`). */
  workersTotal: number;
  workersUsed: number;
  /** Anonymous memory not in any V8 heap: anon − main committed − workers committed. */
  native: number;
  /** Callers held in ringing without media (`onair_calls_ringing_held`) and streams playing in the workers. */
  ringingHeld: number;
}

/** One gauge sample of a Prometheus text, by name and optional label text (`worker="0",kind="total"`); NaN when absent. */
export function sample(text: string, name: string, labels = ''): number {
  const head = labels === '' ? `${name} ` : `${name}{${labels}} `;
  const line = text.split('\n').find((l) => l.startsWith(head));
  return line === undefined ? NaN : Number(line.slice(head.length));
}

/** Sum of every sample of a family whose labels contain `match` (`kind="total"`). */
export function sumSamples(text: string, name: string, match: string): number {
  let n = 0;
  for (const l of text.split('\n')) if (l.startsWith(`${name}{`) && l.includes(match)) n += Number(l.slice(l.lastIndexOf(' ') + 1));
  return n;
}

/** Resident memory of a process by kind from `/proc/PID/status`, bytes. */
export function residentParts(pid: number): { rss: number; anon: number; file: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m === null ? 0 : Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') + kb('RssShmem') };
}

async function memoryParts(e: EngineProcess): Promise<MemoryParts> {
  const text = await e.get<string>('/metrics');
  const r = residentParts(e.pid);
  const mainTotal = sample(text, 'onair_nodejs_heap_size_total_bytes');
  const workersTotal = sumSamples(text, 'onair_media_worker_heap_bytes', 'kind="total"');
  return {
    ...r, mainTotal, mainUsed: sample(text, 'onair_nodejs_heap_size_used_bytes'), external: sample(text, 'onair_nodejs_external_memory_bytes'),
    workersTotal, workersUsed: sumSamples(text, 'onair_media_worker_heap_bytes', 'kind="used"'),
    native: r.anon - mainTotal - workersTotal, ringingHeld: sample(text, 'onair_calls_ringing_held'),
  };
}

/** `n` reads of {@link memoryParts} one second apart: their mean, and the largest RSS. */
async function meanParts(e: EngineProcess, n: number): Promise<MemoryParts & { rssMax: number }> {
  const all: MemoryParts[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) await sleep(1000);
    all.push(await memoryParts(e));
  }
  const out = { ...all[0]!, rssMax: 0 };
  for (const k of Object.keys(out) as (keyof MemoryParts)[]) out[k] = all.reduce((a, p) => a + p[k], 0) / all.length;
  out.rssMax = Math.max(...all.map((p) => p.rss));
  return out;
}

const mib = (x: number): string => (x / 2 ** 20).toFixed(1);

function partsLine(p: MemoryParts & { rssMax: number }): string {
  return `RSS ${mib(p.rss)} MiB (max ${mib(p.rssMax)}; anon ${mib(p.anon)}, file ${mib(p.file)}): main heap ${mib(p.mainTotal)} committed / ` +
    `${mib(p.mainUsed)} used, external ${mib(p.external)}; workers ${mib(p.workersTotal)} / ${mib(p.workersUsed)}; native ${mib(p.native)}`;
}

/** Ask the engine for a heap snapshot (SIGUSR2) and wait until the new file is complete. */
async function snapshot(e: EngineProcess, dir: string, timeoutMs: number): Promise<string> {
  const known = new Set(readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot')));
  process.kill(e.pid, 'SIGUSR2');
  const t0 = Date.now();
  let file: string | undefined;
  let size = -1;
  while (Date.now() - t0 < timeoutMs) {
    await sleep(500);
    file ??= readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !known.has(f));
    if (file === undefined) continue;
    const s = statSync(path.join(dir, file)).size;
    // Written by the engine's main thread, which answers HTTP again once it is done.
    if (s === size && s > 0) {
      try {
        await e.get('/healthz');
        return path.join(dir, file);
      } catch {
        // still writing
      }
    }
    size = s;
  }
  throw new Error(`no complete heap snapshot within ${timeoutMs} ms`);
}

/** The engine's configuration: one queue nobody staffs, the carrier trunk in early media or answering at once. */
function config(answer: boolean, maxStreams: number | 'auto' | null): Partial<ConfigInput> {
  const base = benchConfig(0, 2, undefined);
  return {
    ...base,
    // The random port range of spawnEngine (other engines on the machine keep theirs); two workers as in production.
    media: { bindAddress: '127.0.0.1', workers: 2, rtpTimeoutSeconds: 0, maxStreams },
    sip: {
      maxCalls: 50_000,
      limits: { maxServerTransactions: 50_000, maxServerTransactionsPerSource: 50_000 },
    },
    trunks: [{
      id: 'carrier', name: 'call-memory carrier (sipp)', allow: ['127.0.0.1/32'], maxCallsPerSecond: 10_000,
      ...(answer ? {} : { earlyMedia: true, answerAfterSeconds: 86_400 }),
    }],
  };
}

const USAGE = 'usage: npm run bench -- call-memory [--calls N] [--rate R] [--state early|answered|no-ack] [--engine dist|source] ' +
  '[--snapshots yes|no] [--max-streams none|auto|N] [--node-args "FLAGS"] [--env K=V,...] [--samples N] [--abandon-after S] [--keep DIR] [--top K]';

/** `K=V,K2=V2` → an object; throws on an entry without `=`. */
export function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of text.split(',')) {
    if (kv === '') continue;
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--env: "${kv}" is not K=V\n${USAGE}`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

/** Runs the measurement (arguments in the file comment) and prints the JSON metrics. */
export async function main(args: string[]): Promise<void> {
  const calls = Number(arg(args, 'calls', '1000'));
  const rate = Number(arg(args, 'rate', '100'));
  const state = arg(args, 'state', 'early');
  const answer = state !== 'early';
  const build = arg(args, 'engine', 'dist') as EngineBuild;
  const keep = args.includes('--keep') ? path.resolve(arg(args, 'keep', 'var/call-memory')) : undefined;
  const top = Number(arg(args, 'top', '25'));
  const snapshots = arg(args, 'snapshots', 'yes');
  const streamsArg = arg(args, 'max-streams', 'none');
  const maxStreams = streamsArg === 'none' ? null : streamsArg === 'auto' ? 'auto' : Number(streamsArg);
  const nodeArgs = arg(args, 'node-args', '').split(/\s+/).filter((a) => a !== '');
  const env = parseEnv(arg(args, 'env', ''));
  const samples = Number(arg(args, 'samples', '5'));
  const abandonS = Number(arg(args, 'abandon-after', '0'));
  if (!(abandonS >= 0) || (abandonS > 0 && state !== 'early')) throw new Error(`--abandon-after needs --state early\n${USAGE}`);
  if (!(calls > 0) || !(rate > 0) || (build !== 'dist' && build !== 'source') || !['early', 'answered', 'no-ack'].includes(state) ||
    !['yes', 'no'].includes(snapshots) || (typeof maxStreams === 'number' && !(maxStreams > 0)) || !(samples >= 1)) {
    throw new Error(USAGE);
  }
  const withSnapshots = snapshots === 'yes';
  if (build === 'dist') {
    const stale = staleBuild();
    if (stale !== null) throw new Error(`${stale}; or --engine source`);
  }
  const what = { early: 'early media (183), waiting in queue', answered: 'answered (200, ACKed), waiting in queue', 'no-ack': 'answered (200), never ACKed' }[state];
  const load0 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const flags = [...nodeArgs, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(' ');
  say(`${BENCH}: ${machine()}; ${calls} calls at ${rate}/s, ${what}, engine ${build}, maxStreams ${streamsArg}` +
    `${withSnapshots ? '' : ', no snapshots'}${flags === '' ? '' : `, ${flags}`}; load ${load0}`);
  const dir = keep ?? mkdtempSync(path.join(tmpdir(), 'onair-bench-mem-'));
  mkdirSync(dir, { recursive: true });
  let engine: EngineProcess | undefined;
  let caller: SippRun | undefined;
  try {
    engine = await spawnEngine({
      dir, build, overrides: config(answer, maxStreams), startTimeoutMs: 60_000, env,
      nodeArgs: [...nodeArgs, ...(withSnapshots ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] : [])],
    });
    const e = engine;
    await sleep(3000);
    const idle = withSnapshots ? summarizeSnapshot(await snapshot(e, dir, 120_000)) : undefined;
    // RSS after the first snapshot: writing one leaves the memory it took in malloc's arenas
    // (~100 MiB here), which the kernel still counts; measured before it, that would pass for calls.
    if (withSnapshots) await sleep(2000);
    const p0 = await meanParts(e, samples);
    say(`idle: ${idle === undefined ? '' : `live heap ${mib(idle.total)} MiB in ${idle.count} nodes; `}${partsLine(p0)}`);

    const file = path.join(dir, 'callers.csv');
    const lines: string[] = [];
    // The SDP's media port: nobody listens there; hold audio to it is dropped by the kernel.
    for (let i = 0; i < calls; i++) lines.push(`+86138${String(i).padStart(8, '0')};${20000 + (i % 20000) * 2}`);
    writeFileSync(file, `SEQUENTIAL\n${lines.join('\n')}\n`);
    const scenario = abandonS > 0 ? path.join(SCENARIOS, 'caller-cancel.xml')
      : state === 'no-ack' ? path.join(here, 'memory', 'caller-no-ack.xml') : path.join(SCENARIOS, 'caller-bench.xml');
    caller = startSipp({
      scenario, target: `127.0.0.1:${e.sipPort}`, transport: 'u1', calls, rate, limit: calls, timeoutSec: 3600,
      // -nd: the 2xx retransmissions a caller that never ACKs receives must not make sipp hang up.
      args: ['-s', '300', '-inf', file, '-d', String(abandonS > 0 ? abandonS * 1000 : 3_600_000), ...(state === 'no-ack' ? ['-nd'] : []), ...SIPP_LOAD_BUFFERS],
    });
    const t0 = Date.now();
    let inProgress = 0;
    // What a flag costs in latency beside what it saves in memory: the event-loop delay p99 of each
    // second of the ramp (prom-client's histogram restarts at every scrape) and the GC time.
    const gc0 = sumSamples(await e.get<string>('/metrics'), 'onair_nodejs_gc_duration_seconds_sum', '');
    let loopP99Max = 0;
    const placedMs = (calls / rate) * 1000;
    while (Date.now() - t0 < 120_000 + placedMs) {
      inProgress = (await e.get<{ calls?: number }>('/healthz')).calls ?? 0;
      if (abandonS > 0 ? Date.now() - t0 >= placedMs : inProgress >= calls) break;
      await sleep(1000);
      const lag = sample(await e.get<string>('/metrics'), 'onair_nodejs_eventloop_lag_p99_seconds');
      if (lag > loopP99Max) loopP99Max = lag;
    }
    const gcRamp = sumSamples(await e.get<string>('/metrics'), 'onair_nodejs_gc_duration_seconds_sum', '') - gc0;
    if (abandonS === 0 && inProgress < calls) throw new Error(`only ${inProgress} of ${calls} calls in progress\n${e.output().slice(-1500)}`);
    // Answered calls: past timer L (32 s), so that what is left is what a call keeps for its life;
    // unacknowledged ones: well within the 64*T1 the engine waits for their ACK. With churn: now.
    if (abandonS === 0) await sleep(state === 'answered' ? 40_000 : 3000);
    const p1 = await meanParts(e, samples);
    const held = withSnapshots ? summarizeSnapshot(await snapshot(e, dir, 300_000)) : undefined;
    const load1 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const inAfter = (await e.get<{ calls?: number }>('/healthz')).calls ?? 0;
    // With churn, per call in progress at the loaded point (its share of the ended calls included).
    const divisor = abandonS > 0 ? Math.max(1, inAfter) : calls;
    const per = (a: number, b: number): number => Math.round((b - a) / divisor);
    const ended = abandonS > 0 ? Math.round(rate * Math.min(32, Math.max(0, placedMs / 1000 - abandonS))) : 0;
    if (abandonS > 0) say(`churn: callers cancel ${abandonS} s after their 183; ~${ended} calls ended within the last 32 s`);
    const rssPerCall = per(p0.rss, p1.rss);
    say(`at ${inAfter} calls in progress (${p1.ringingHeld} held in ringing without media): ${partsLine(p1)}; load ${load1}`);
    say(`ramp: event-loop delay p99 worst second ${(loopP99Max * 1000).toFixed(1)} ms, main-thread GC ${(gcRamp * 1000).toFixed(0)} ms`);
    say(`per call in progress: RSS ${rssPerCall} B = main heap committed ${per(p0.mainTotal, p1.mainTotal)} (used ${per(p0.mainUsed, p1.mainUsed)}) + ` +
      `workers committed ${per(p0.workersTotal, p1.workersTotal)} (used ${per(p0.workersUsed, p1.workersUsed)}) + native ${per(p0.native, p1.native)} + ` +
      `file ${per(p0.file, p1.file)}; external ${per(p0.external, p1.external)}`);
    const perCallBytes = idle !== undefined && held !== undefined ? (held.total - idle.total) / divisor : NaN;
    if (idle !== undefined && held !== undefined) {
      say(`main isolate live heap ${mib(idle.total)} → ${mib(held.total)} MiB: ${Math.round(perCallBytes)} B live per call; per call, by kind:`);
      for (const r of perCall(idle.byKind, held.byKind, divisor).slice(0, 12)) say(`  ${r.key.padEnd(24)} ${Math.round(r.bytes).toString().padStart(7)} B  ${r.count.toFixed(2).padStart(7)} nodes`);
      say(`per call, top ${top} by kind:constructor:`);
      for (const r of perCall(idle.byName, held.byName, divisor).slice(0, top)) say(`  ${r.key.padEnd(60)} ${Math.round(r.bytes).toString().padStart(7)} B  ${r.count.toFixed(2).padStart(7)} nodes`);
    }
    const parts = (p: MemoryParts & { rssMax: number }): Record<string, number> => ({
      rss_mib: round(p.rss / 2 ** 20), rss_max_mib: round(p.rssMax / 2 ** 20), anon_mib: round(p.anon / 2 ** 20), file_mib: round(p.file / 2 ** 20),
      main_heap_committed_mib: round(p.mainTotal / 2 ** 20), main_heap_used_mib: round(p.mainUsed / 2 ** 20), external_mib: round(p.external / 2 ** 20),
      workers_heap_committed_mib: round(p.workersTotal / 2 ** 20), workers_heap_used_mib: round(p.workersUsed / 2 ** 20), native_mib: round(p.native / 2 ** 20),
    });
    emit({
      bench: BENCH, metric: 'rss_bytes_per_call', value: rssPerCall, unit: 'B', state,
      calls, in_progress: inAfter, abandon_after_s: abandonS, ended_last_32s: ended, ringing_held: p1.ringingHeld, rate, engine: build, max_streams: streamsArg, node_args: nodeArgs.join(' '), env,
      snapshots: withSnapshots, idle: parts(p0), loaded: parts(p1),
      per_call: {
        main_heap_committed: per(p0.mainTotal, p1.mainTotal), main_heap_used: per(p0.mainUsed, p1.mainUsed),
        workers_heap_committed: per(p0.workersTotal, p1.workersTotal), workers_heap_used: per(p0.workersUsed, p1.workersUsed),
        native: per(p0.native, p1.native), file: per(p0.file, p1.file), external: per(p0.external, p1.external),
        ...(idle !== undefined && { main_live_heap: Math.round(perCallBytes) }),
      },
      ramp_eventloop_p99_max_ms: round(loopP99Max * 1000), ramp_gc_ms: Math.round(gcRamp * 1000),
      loadavg_start: load0, loadavg_end: load1, machine: machine(),
      ...(idle !== undefined && held !== undefined && {
        idle_live_mib: round(idle.total / 2 ** 20), held_live_mib: round(held.total / 2 ** 20),
        by_kind: Object.fromEntries(perCall(idle.byKind, held.byKind, divisor).slice(0, 12).map((r) => [r.key, Math.round(r.bytes)])),
        top: perCall(idle.byName, held.byName, divisor).slice(0, top).map((r) => ({ name: r.key, bytes: Math.round(r.bytes), count: round(r.count) })),
      }),
    });
  } finally {
    caller?.kill();
    if (engine) await engine.stop('SIGKILL');
    if (keep === undefined) rmSync(dir, { recursive: true, force: true });
    else if (existsSync(dir)) say(`snapshots kept in ${dir}`);
  }
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
