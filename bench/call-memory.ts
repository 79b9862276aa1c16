/**
 * `npm run bench -- call-memory [--calls N] [--rate R] [--state early|answered|no-ack] [--engine dist|source] [--keep DIR] [--top K]`:
 * what one call in progress keeps alive in the engine's main isolate (issue 13, "Memory at the
 * peak"), by constructor, from two heap snapshots.
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
 * snapshot leaves its working memory in malloc's arenas) and loaded before the second, with the
 * main isolate's heap committed from /metrics: the rest of RSS is mostly the media workers (whose
 * heaps a main-thread snapshot does not see) and native memory.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emit, machine, say, SIPP_LOAD_BUFFERS } from './lib.ts';
import { benchConfig } from './engine-calls.ts';
import { startSipp, type SippRun } from '../engine/testing/sipp.ts';
import { SCENARIOS } from '../engine/testing/engine-rig.ts';
import { processUsage, spawnEngine, staleBuild, type EngineBuild, type EngineProcess } from '../engine/testing/engine-process.ts';
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

/** The main isolate's V8 heap committed and used and its external memory, from the engine's /metrics (prom-client), bytes. */
async function mainHeap(e: EngineProcess): Promise<{ total: number; used: number; external: number }> {
  const text = await e.get<string>('/metrics');
  const value = (name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? NaN : Number(line.slice(name.length + 1));
  };
  return { total: value('onair_nodejs_heap_size_total_bytes'), used: value('onair_nodejs_heap_size_used_bytes'), external: value('onair_nodejs_external_memory_bytes') };
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
function config(answer: boolean): Partial<ConfigInput> {
  const base = benchConfig(0, 2, undefined);
  return {
    ...base,
    // The random port range of spawnEngine (other engines on the machine keep theirs); two workers as in production.
    media: { bindAddress: '127.0.0.1', workers: 2, rtpTimeoutSeconds: 0 },
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

/** Runs the two snapshots (arguments in the file comment) and prints the JSON metrics. */
export async function main(args: string[]): Promise<void> {
  const calls = Number(arg(args, 'calls', '1000'));
  const rate = Number(arg(args, 'rate', '100'));
  const state = arg(args, 'state', 'early');
  const answer = state !== 'early';
  const build = arg(args, 'engine', 'dist') as EngineBuild;
  const keep = args.includes('--keep') ? path.resolve(arg(args, 'keep', 'var/call-memory')) : undefined;
  const top = Number(arg(args, 'top', '25'));
  if (!(calls > 0) || !(rate > 0) || (build !== 'dist' && build !== 'source') || !['early', 'answered', 'no-ack'].includes(state)) {
    throw new Error('usage: npm run bench -- call-memory [--calls N] [--rate R] [--state early|answered|no-ack] [--engine dist|source] [--keep DIR] [--top K]');
  }
  if (build === 'dist') {
    const stale = staleBuild();
    if (stale !== null) throw new Error(`${stale}; or --engine source`);
  }
  const what = { early: 'early media (183), waiting in queue', answered: 'answered (200, ACKed), waiting in queue', 'no-ack': 'answered (200), never ACKed' }[state];
  const load0 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  say(`${BENCH}: ${machine()}; ${calls} calls at ${rate}/s, ${what}, engine ${build}; load ${load0}`);
  const dir = keep ?? mkdtempSync(path.join(tmpdir(), 'onair-bench-mem-'));
  let engine: EngineProcess | undefined;
  let caller: SippRun | undefined;
  try {
    engine = await spawnEngine({
      dir, build, overrides: config(answer), startTimeoutMs: 60_000,
      nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`],
    });
    const e = engine;
    await sleep(3000);
    const idle = summarizeSnapshot(await snapshot(e, dir, 120_000));
    // RSS after the first snapshot: writing one leaves the memory it took in malloc's arenas
    // (~100 MiB here), which the kernel still counts; measured before it, that would pass for calls.
    await sleep(2000);
    const rss0 = processUsage(e.pid).rssBytes;
    const heap0 = await mainHeap(e);
    say(`idle: live heap ${(idle.total / 2 ** 20).toFixed(1)} MiB in ${idle.count} nodes, RSS ${(rss0 / 2 ** 20).toFixed(1)} MiB`);

    const file = path.join(dir, 'callers.csv');
    const lines: string[] = [];
    // The SDP's media port: nobody listens there; hold audio to it is dropped by the kernel.
    for (let i = 0; i < calls; i++) lines.push(`+86138${String(i).padStart(8, '0')};${20000 + (i % 20000) * 2}`);
    writeFileSync(file, `SEQUENTIAL\n${lines.join('\n')}\n`);
    caller = startSipp({
      scenario: state === 'no-ack' ? path.join(here, 'memory', 'caller-no-ack.xml') : path.join(SCENARIOS, 'caller-bench.xml'),
      target: `127.0.0.1:${e.sipPort}`, transport: 'u1', calls, rate, limit: calls, timeoutSec: 3600,
      // -nd: the 2xx retransmissions a caller that never ACKs receives must not make sipp hang up.
      args: ['-s', '300', '-inf', file, '-d', '3600000', ...(state === 'no-ack' ? ['-nd'] : []), ...SIPP_LOAD_BUFFERS],
    });
    const t0 = Date.now();
    let inProgress = 0;
    while (Date.now() - t0 < 120_000 + (calls / rate) * 1000) {
      inProgress = (await e.get<{ calls?: number }>('/healthz')).calls ?? 0;
      if (inProgress >= calls) break;
      await sleep(500);
    }
    if (inProgress < calls) throw new Error(`only ${inProgress} of ${calls} calls in progress\n${e.output().slice(-1500)}`);
    // Answered calls: past timer L (32 s), so that what is left is what a call keeps for its life;
    // unacknowledged ones: well within the 64*T1 the engine waits for their ACK.
    await sleep(state === 'answered' ? 40_000 : 3000);
    const rss1 = processUsage(e.pid).rssBytes;
    const heap1 = await mainHeap(e);
    const held = summarizeSnapshot(await snapshot(e, dir, 300_000));
    const load1 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const inAfter = (await e.get<{ calls?: number }>('/healthz')).calls ?? 0;
    const perCallBytes = (held.total - idle.total) / calls;
    const rssPerCall = (rss1 - rss0) / calls;
    say(`at ${inAfter} calls in progress: live heap ${(held.total / 2 ** 20).toFixed(1)} MiB, RSS ${(rss1 / 2 ** 20).toFixed(1)} MiB; ` +
      `${Math.round(perCallBytes)} B live heap per call, ${Math.round(rssPerCall)} B RSS per call; load ${load1}`);
    const mib = (x: number): string => (x / 2 ** 20).toFixed(1);
    // What RSS holds beyond the main isolate's heap: the media workers' heaps, native memory, the code.
    const rest0 = rss0 - heap0.total;
    const rest1 = rss1 - heap1.total;
    say(`main heap committed ${mib(heap0.total)} → ${mib(heap1.total)} MiB (used ${mib(heap0.used)} → ${mib(heap1.used)}), ` +
      `the rest of RSS (workers, native) ${mib(rest0)} → ${mib(rest1)} MiB: ${Math.round((rest1 - rest0) / calls)} B per call`);
    say('per call, by kind:');
    for (const r of perCall(idle.byKind, held.byKind, calls).slice(0, 12)) say(`  ${r.key.padEnd(24)} ${Math.round(r.bytes).toString().padStart(7)} B  ${r.count.toFixed(2).padStart(7)} nodes`);
    say(`per call, top ${top} by kind:constructor:`);
    const rows = perCall(idle.byName, held.byName, calls);
    for (const r of rows.slice(0, top)) say(`  ${r.key.padEnd(60)} ${Math.round(r.bytes).toString().padStart(7)} B  ${r.count.toFixed(2).padStart(7)} nodes`);
    emit({
      bench: BENCH, metric: 'heap_bytes_per_call', value: Math.round(perCallBytes), unit: 'B', state,
      calls, in_progress: inAfter, rate, engine: build, rss_bytes_per_call: Math.round(rssPerCall),
      idle_live_mib: round(idle.total / 2 ** 20), held_live_mib: round(held.total / 2 ** 20),
      idle_rss_mib: round(rss0 / 2 ** 20), held_rss_mib: round(rss1 / 2 ** 20),
      main_heap_committed_mib: [round(heap0.total / 2 ** 20), round(heap1.total / 2 ** 20)],
      rest_of_rss_bytes_per_call: Math.round((rest1 - rest0) / calls), loadavg_start: load0, loadavg_end: load1, machine: machine(),
      by_kind: Object.fromEntries(perCall(idle.byKind, held.byKind, calls).slice(0, 12).map((r) => [r.key, Math.round(r.bytes)])),
      top: rows.slice(0, top).map((r) => ({ name: r.key, bytes: Math.round(r.bytes), count: round(r.count) })),
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
