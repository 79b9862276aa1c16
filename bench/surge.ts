/**
 * `npm run bench -- surge [--profile NAME|FILE | --smoke] [--agents N] [--seed N | --seeds 1-5|1,3,7]
 *  [--scale X] [--out DIR] [--target SIP_HOST:PORT,HTTP_URL] [--engine dist|source] [--cpu-prof] [--keep]
 *  [--callback-minutes M] [--wallboard] [--pair [--failover-wave N] [--failover-at SECONDS]]
 *  [--staffing [--min N] [--max N]]`
 *
 * Replays a broadcast (a profile of bench/surge/profiles/, its arrival curve × `--scale`) against
 * the engine with sipp callers and sipp agents, and proves that no caller is lost. Prints one JSON
 * line per run (lost, in_progress, answered_mismatch, agents_idle_while_waiting_s, ... with seed,
 * profile, scale and the load averages before and after), and with `--seeds` one run per seed, one
 * after the other, then a summary line (median, min, max of every metric). Each run writes a
 * markdown report, a PNG chart and its metric lines into `--out` (`--out/seed-N` with `--seeds`;
 * default a temporary folder; see docs/surge.md). `--staffing` searches the smallest number of
 * agents that meets the profile's service-level target and compares it with Erlang C.
 * `--engine` picks the engine started: `dist` (default) is the build `npm start` runs and must be
 * fresh (`npm run build`); `source` runs the source tree through tsx (its loader adds memory).
 * With the profile's `callbacks` the engine dials the captured callers back through an outbound
 * trunk to sipp customers, and the callback phase after the curve runs until every task is closed
 * (callbacks_completed, callback_reach_rate, callback_delay_p50_s/_p90_s, unreached...). `--smoke`
 * is the `smoke` preset: curve and callback phase in under 2 minutes. `--callback-minutes M` caps the
 * callback phase at M wall-clock minutes (0: none) instead of the profile's `phaseMinutes`: the
 * overload figures of the curve do not need the 20-35 minutes 200 agents take to call 17,000 back;
 * tasks still open at the cap are `in_progress` (listed as open callback tasks), not reached or lost. `--wallboard` keeps
 * the supervisor wallboard open in headless Chromium all the run (wallboard_messages_per_s,
 * wallboard_stale_max_s, wallboard_waiting_error_max; screenshots at the peak in the run's folder).
 * `--pair` runs the same surge against the active-standby pair behind Kamailio (bench/surge/pair.ts,
 * issue 19): PostgreSQL, node A on 127.0.0.2 and B on 127.0.0.3, callers and phones through
 * Kamailio, and node A killed with SIGKILL at the start of the curve's wave `--failover-wave`
 * (default 3) or at replay second `--failover-at`; the run goes on on B to the end of its callback
 * phase, and each caller's fate is read from both nodes' records (pair_* lines: takeover, calls at
 * the kill and how each ended). Not with `--target`, `--wallboard` or `--staffing`.
 * The exit code is 1 when any run lost a caller.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { emit, machine, say } from './lib.ts';
import { loadProfile } from './surge/profile.ts';
import { runSurge } from './surge/run.ts';
import { writeReport, runLine, RUN_METRICS } from './surge/report.ts';
import { parseSeeds, scaleProfile, summarizeRuns, type RunLine } from './surge/truth.ts';
import { staffingSearch } from './surge/staffing.ts';

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Runs a surge (arguments in the file comment). */
export async function main(args: string[]): Promise<void> {
  const name = args.includes('--smoke') ? 'smoke' : arg(args, 'profile') ?? 'home-shopping-60';
  const loaded = loadProfile(name);
  if (!loaded.ok) {
    say(`surge: invalid profile\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}`);
    process.exitCode = 2;
    return;
  }
  const scale = Number(arg(args, 'scale') ?? 1);
  if (!Number.isFinite(scale) || scale <= 0) {
    say(`surge: --scale must be a positive number, not ${arg(args, 'scale')}`);
    process.exitCode = 2;
    return;
  }
  const seedsArg = arg(args, 'seeds');
  const seeds = seedsArg === undefined ? { ok: true as const, seeds: [Number(arg(args, 'seed') ?? 1)] } : parseSeeds(seedsArg);
  if (!seeds.ok) {
    say(`surge: ${seeds.error}`);
    process.exitCode = 2;
    return;
  }
  const profile = scaleProfile(loaded.profile, scale);
  const out = arg(args, 'out');
  const work = mkdtempSync(path.join(tmpdir(), `onair-surge-${profile.name}-`));
  const target = arg(args, 'target');
  const targetParts = target?.split(',');
  const engineBuild = arg(args, 'engine') ?? 'dist';
  if (engineBuild !== 'dist' && engineBuild !== 'source') {
    say(`surge: --engine must be dist or source, not ${engineBuild}`);
    process.exitCode = 2;
    return;
  }
  const callbackMinutes = arg(args, 'callback-minutes');
  const callbackPhaseMs = callbackMinutes === undefined ? undefined : Number(callbackMinutes) * 60_000;
  if (callbackPhaseMs !== undefined && !(callbackPhaseMs >= 0)) {
    say(`surge: --callback-minutes must be a number of minutes >= 0, not ${callbackMinutes}`);
    process.exitCode = 2;
    return;
  }
  const pairRun = args.includes('--pair');
  const failoverWave = Number(arg(args, 'failover-wave') ?? 3);
  const failoverAt = arg(args, 'failover-at');
  if (!pairRun && (failoverAt !== undefined || arg(args, 'failover-wave') !== undefined)) {
    say('surge: --failover-wave and --failover-at need --pair');
    process.exitCode = 2;
    return;
  }
  if (pairRun && (target !== undefined || args.includes('--wallboard') || args.includes('--staffing'))) {
    say('surge: --pair starts its own pair of engines: not with --target, --wallboard or --staffing');
    process.exitCode = 2;
    return;
  }
  if (!Number.isInteger(failoverWave) || failoverWave < 1) {
    say(`surge: --failover-wave must be a wave number 1, 2, ..., not ${arg(args, 'failover-wave')}`);
    process.exitCode = 2;
    return;
  }
  const common = {
    seed: seeds.seeds[0],
    pair: pairRun ? { failoverWave, failoverAtS: failoverAt === undefined ? undefined : Number(failoverAt) } : undefined,
    callbackPhaseMs,
    wallboard: args.includes('--wallboard'),
    engineBuild: engineBuild as 'dist' | 'source',
    target: targetParts && targetParts.length === 2 ? { sip: targetParts[0]!, http: targetParts[1]! } : undefined,
    log: say,
  };
  try {
    if (args.includes('--staffing')) {
      const result = await staffingSearch({
        profile, dir: work, min: Number(arg(args, 'min') ?? 1), max: Number(arg(args, 'max') ?? profile.agents.count), ...common,
      });
      for (const line of result.lines) emit(line);
      if (out) {
        mkdirSync(out, { recursive: true });
        result.write(out);
      }
      return;
    }
    const agents = arg(args, 'agents');
    const lines: RunLine[] = [];
    for (const seed of seeds.seeds) {
      const dest = seedsArg === undefined ? out ?? path.join(work, 'report') : path.join(out ?? work, `seed-${seed}`);
      const cpuProfDir = args.includes('--cpu-prof') ? path.resolve(dest, 'cpu-prof') : undefined;
      const before = os.loadavg();
      const result = await runSurge({
        profile, dir: path.join(work, `run-${seed}`), agents: agents === undefined ? undefined : Number(agents), cpuProfDir, ...common, seed, scale,
        wallboardShotsDir: dest,
      });
      const line = runLine(result, { before, after: os.loadavg() });
      result.machine = machine();
      const files = await writeReport(result, dest, line);
      emit(line);
      lines.push(line);
      say(`surge ${profile.name} ×${scale} seed ${seed}: offered ${result.offered}, served ${result.fates.served}, captured ${result.fates.captured}, ` +
        (result.callbacks ? `reached by callback ${result.fates.reached}, unreached ${result.fates.unreached} (reach rate ${result.callbacks.reachRate.toFixed(3)}), ` : '') +
        `rejected ${result.fates.rejected}, in progress ${result.fates.in_progress}, lost ${result.fates.lost}, answered mismatch ${result.answeredMismatch.value}; ` +
        `peak ${result.peakOfferedPerSecond}/s offered, ${result.peakWaiting} waiting; wall ${result.wallSeconds.toFixed(0)} s`);
      if (result.pair) {
        say(`pair: killed node A at replay second ${result.pair.atReplayS}; takeover ${result.pair.takeoverS?.toFixed(2) ?? 'none'} s; ` +
          `${result.pair.callsAtKill} calls on A at the kill; served and cut ${result.pair.servedCut}; retried callers ${result.pair.retriedCallers}`);
      }
      for (const f of line.findings as string[]) say(`  finding: ${f}`);
      say(`report: ${files.join(', ')}`);
      if (result.fates.lost > 0) process.exitCode = 1;
    }
    if (seedsArg !== undefined) {
      emit({ bench: 'surge', metric: 'summary', value: lines.reduce((a, l) => a + (l.lost as number), 0), unit: 'calls lost (all runs)',
        profile: profile.name, scale, ...summarizeRuns(lines, RUN_METRICS) });
    }
  } finally {
    // The work folder (engine log, database, sipp files) is kept with --keep or when it holds the report.
    if (out && !args.includes('--keep')) rmSync(work, { recursive: true, force: true });
    else say(`run files: ${work}`);
  }
}
