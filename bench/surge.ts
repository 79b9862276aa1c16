/**
 * `npm run bench -- surge [--profile NAME|FILE] [--agents N] [--seed N] [--out DIR]
 *  [--target SIP_HOST:PORT,HTTP_URL] [--cpu-prof] [--keep] [--staffing [--min N] [--max N]]`
 *
 * Replays a broadcast (a profile of bench/surge/profiles/) against the engine with sipp callers and
 * sipp agents, and proves that no caller is lost. Prints one JSON line per metric (offered,
 * answered, abandoned, captured, lost, peak_waiting, service_level, max_wait_s, ...) and writes a
 * markdown report and a PNG chart of the run into `--out` (default docs/surge/<profile>/ of a
 * temporary folder; see docs/surge.md). `--staffing` searches the smallest number of agents that
 * meets the profile's service-level target and compares it with Erlang C.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { emit, machine, say } from './lib.ts';
import { loadProfile } from './surge/profile.ts';
import { runSurge } from './surge/run.ts';
import { writeReport, metricLines } from './surge/report.ts';
import { staffingSearch } from './surge/staffing.ts';

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Runs a surge (arguments in the file comment). */
export async function main(args: string[]): Promise<void> {
  const name = arg(args, 'profile') ?? 'home-shopping-60';
  const loaded = loadProfile(name);
  if (!loaded.ok) {
    say(`surge: invalid profile\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}`);
    process.exitCode = 2;
    return;
  }
  const profile = loaded.profile;
  const out = arg(args, 'out');
  const work = mkdtempSync(path.join(tmpdir(), `onair-surge-${profile.name}-`));
  const target = arg(args, 'target');
  const targetParts = target?.split(',');
  const common = {
    seed: Number(arg(args, 'seed') ?? 1),
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
    const cpuProfDir = args.includes('--cpu-prof') ? path.resolve(out ?? work, 'cpu-prof') : undefined;
    const agents = arg(args, 'agents');
    const result = await runSurge({
      profile, dir: path.join(work, 'run'), agents: agents === undefined ? undefined : Number(agents), cpuProfDir, ...common,
    });
    result.machine = machine();
    for (const line of metricLines(result)) emit(line);
    const dest = out ?? path.join(work, 'report');
    const files = await writeReport(result, dest);
    say(`surge ${profile.name}: offered ${result.offered}, served ${result.fates.served}, captured ${result.fates.captured}, ` +
      `rejected ${result.fates.rejected}, lost ${result.fates.lost}; peak ${result.peakOfferedPerSecond}/s offered, ` +
      `${result.peakWaiting} waiting; wall ${result.wallSeconds.toFixed(0)} s`);
    say(`report: ${files.join(', ')}`);
    if (result.fates.lost > 0) process.exitCode = 1;
  } finally {
    // The work folder (engine log, database, sipp files) is kept with --keep or when it holds the report.
    if (out && !args.includes('--keep')) rmSync(work, { recursive: true, force: true });
    else say(`run files: ${work}`);
  }
}
