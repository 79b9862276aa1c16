/**
 * The report of a surge run: JSON metric lines (ARCHITECTURE.md's bench format), a markdown
 * summary a manager can read, the per-second samples (`samples.json`) and the chart (`chart.png`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchResult } from '../lib.ts';
import type { RunResult } from './run.ts';
import { surgeChart } from './chart.ts';

const BENCH = 'surge';

/** The JSON lines of a run (durations in replay seconds; `compression` turns them into broadcast time). */
export function metricLines(r: RunResult): BenchResult[] {
  const base = { bench: BENCH, profile: r.profile.name, agents: r.agents, compression: r.profile.compression, seed: r.seed };
  const line = (metric: string, value: number, unit: string, extra: Record<string, unknown> = {}): BenchResult =>
    ({ ...base, metric, value: Number.isFinite(value) ? round(value) : null as unknown as number, unit, ...extra });
  return [
    line('offered', r.offered, 'calls', { expected: Math.round(r.expected) }),
    line('answered', r.fates.served, 'calls'),
    line('abandoned', r.abandoned, 'calls'),
    line('captured', r.fates.captured, 'calls', { callbackTasksAndRequests: r.captured }),
    line('rejected', r.fates.rejected, 'calls', { reason: 'blacklisted' }),
    line('lost', r.fates.lost, 'calls', { by: r.lostBy, sample: r.lostNumbers.slice(0, 5) }),
    line('peak_offered', r.peakOfferedPerSecond, 'calls/s'),
    line('peak_waiting', r.peakWaiting, 'calls'),
    line('peak_in_progress', r.peakInProgress, 'calls'),
    line('service_level', r.serviceLevel, 'ratio', { withinSeconds: r.profile.serviceLevel.seconds / r.profile.compression }),
    line('avg_wait_s', r.avgWaitS, 's'),
    line('max_wait_s', r.maxWaitS, 's'),
    line('first_media_p99_s', r.firstMediaP99S, 's', { source: 'engine onair_first_media_seconds' }),
    line('early_media_p99_s', r.earlyMediaP99S, 's', { source: 'sipp: INVITE to 183 with SDP' }),
    line('routing_p99_s', r.routingP99S, 's', { source: 'engine onair_offer_latency_seconds' }),
    line('cpu_peak', r.peakCpuCores, 'cores'),
    line('cpu_avg', r.avgCpuCores, 'cores'),
    line('rss_peak', r.peakRssMiB, 'MiB'),
    line('event_loop_p99_peak', r.peakEventLoopP99Ms, 'ms'),
    line('wall', r.wallSeconds, 's', { replaySeconds: r.replaySeconds, machine: r.machine }),
  ];
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : 'n/a';
}

function sec(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${x.toFixed(digits)} s` : 'n/a';
}

/** The markdown summary. */
export function markdown(r: RunResult, chartFile: string): string {
  const p = r.profile;
  const c = p.compression;
  const verdict = r.fates.lost === 0 ? '**No caller lost.**' : `**${r.fates.lost} callers lost** (numbers in samples.json).`;
  const rows: [string, string][] = [
    ['Callers offered', `${r.offered} (expected ${Math.round(r.expected)})`],
    ['Served by an agent', `${r.fates.served}`],
    ['Hung up before an agent, captured for callback', `${r.fates.captured} (abandoned ${r.abandoned})`],
    ['Rejected on purpose (blacklisted)', `${r.fates.rejected}`],
    ['**Lost** (neither served nor captured nor rejected)', `**${r.fates.lost}**`],
    ['Peak offered', `${r.peakOfferedPerSecond} calls/s (replay), ${(r.peakOfferedPerSecond / c).toFixed(1)} calls/s broadcast`],
    ['Peak callers waiting at once', `${r.peakWaiting} in queue (${r.peakInProgress} calls in progress)`],
    ['Service level', `${pct(r.serviceLevel)} answered within ${p.serviceLevel.seconds} s (target ${pct(p.serviceLevel.target)})`],
    ['Average / longest wait', `${sec(r.avgWaitS * c)} / ${sec(r.maxWaitS * c)} broadcast time`],
    ['First media p99 (caller: INVITE → 183 with SDP)', sec(r.earlyMediaP99S, 3)],
    ['First media p99 (engine histogram)', sec(r.firstMediaP99S, 3)],
    ['Routing p99 (matchable → INVITE to agent)', sec(r.routingP99S, 3)],
    ['Engine CPU peak / average', `${r.peakCpuCores.toFixed(2)} / ${r.avgCpuCores.toFixed(2)} cores`],
    ['Engine RSS peak', `${r.peakRssMiB.toFixed(0)} MiB`],
    ['Event-loop delay p99, worst second', `${r.peakEventLoopP99Ms.toFixed(1)} ms`],
  ];
  const outcomes = Object.entries(r.outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  return `# Surge report: ${p.name}

${p.description}

${verdict} ${r.agents} agents, ${p.durationMinutes} broadcast minutes replayed in ${r.replaySeconds} s
(compression ${c}); the whole run took ${r.wallSeconds.toFixed(0)} s on ${r.machine}.

![offered, answered and abandoned per second, callers waiting, agents busy](${chartFile})

| | |
|---|---|
${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}

CDR outcomes: ${outcomes}.
sipp's view: ${Object.entries(r.sipp).map(([k, v]) => `${k} ${v}`).join(', ')}.

Times are broadcast time unless marked: replay seconds × ${c}. "Lost" joins every number sipp
dialled with the engine's CDRs and callback tasks (docs/surge.md).
`;
}

/** Write report.md, chart.png, samples.json and metrics.jsonl into `dir`; returns their paths. */
export async function writeReport(r: RunResult, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const chart = path.join(dir, 'chart.png');
  writeFileSync(chart, surgeChart(r));
  const md = path.join(dir, 'report.md');
  writeFileSync(md, markdown(r, 'chart.png'));
  const samples = path.join(dir, 'samples.json');
  const { samples: series, ...summary } = r;
  writeFileSync(samples, JSON.stringify({ summary, samples: series }, null, 1));
  const jsonl = path.join(dir, 'metrics.jsonl');
  writeFileSync(jsonl, metricLines(r).map((l) => JSON.stringify(l)).join('\n') + '\n');
  return [md, chart, samples, jsonl];
}
