/**
 * The staffing check: the smallest number of agents whose surge run meets the profile's
 * service-level target, found by bisection over real runs, next to the Erlang C estimate for the
 * same arrival curve. Each probe is a whole run; use a short or strongly compressed profile.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchResult } from '../lib.ts';
import type { Profile } from './profile.ts';
import { runSurge, type RunResult } from './run.ts';
import { erlangEstimate, type ErlangEstimate } from './erlang.ts';

/** Options of the search. */
export interface StaffingOptions {
  profile: Profile;
  dir: string;
  min: number;
  max: number;
  seed?: number | undefined;
  target?: { sip: string; http: string } | undefined;
  /** The engine started for each probe (run.ts `engineBuild`). */
  engineBuild?: 'dist' | 'source' | undefined;
  log?: ((line: string) => void) | undefined;
}

/** One probe of the search. */
export interface Probe {
  agents: number;
  serviceLevel: number;
  lost: number;
  abandoned: number;
}

/** What the search found. */
export interface StaffingResult {
  /** Smallest agents meeting the target, or null when even `max` did not. */
  measured: number | null;
  erlang: ErlangEstimate;
  probes: Probe[];
  lines: BenchResult[];
  /** Write `staffing.md` into a folder. */
  write(dir: string): void;
}

/**
 * Bisect [min, max] for the smallest staff whose run reaches the target service level. Service
 * level grows with staff up to run-to-run noise; the search trusts that, as a planner would.
 */
export async function staffingSearch(o: StaffingOptions, run: (agents: number, dir: string) => Promise<RunResult> = (agents, dir) =>
  // The service level is the curve's: no callback phase (it would only lengthen every probe).
  runSurge({ profile: { ...o.profile, callbacks: undefined }, dir, agents, seed: o.seed, target: o.target, engineBuild: o.engineBuild, log: o.log })): Promise<StaffingResult> {
  const target = o.profile.serviceLevel.target;
  const probes: Probe[] = [];
  const probe = async (n: number): Promise<boolean> => {
    const r = await run(n, path.join(o.dir, `agents-${n}`));
    probes.push({ agents: n, serviceLevel: r.serviceLevel, lost: r.fates.lost, abandoned: r.abandoned });
    o.log?.(`staffing: ${n} agents → service level ${(r.serviceLevel * 100).toFixed(1)} %, lost ${r.fates.lost}`);
    return r.serviceLevel >= target;
  };
  let measured: number | null = null;
  if (await probe(o.max)) {
    let lo = o.min;
    let hi = o.max;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (await probe(mid)) hi = mid;
      else lo = mid + 1;
    }
    measured = lo;
  }
  const erlang = erlangEstimate(o.profile);
  const base = { bench: 'surge', profile: o.profile.name, target, withinSeconds: o.profile.serviceLevel.seconds };
  const lines: BenchResult[] = [
    { ...base, metric: 'staffing_measured', value: measured ?? NaN, unit: 'agents', searched: [o.min, o.max], probes },
    { ...base, metric: 'staffing_erlang_c_programme', value: erlang.programmeAgents, unit: 'agents', ahtSeconds: erlang.aht },
    { ...base, metric: 'staffing_erlang_c_peak', value: erlang.peakAgents, unit: 'agents', intervalMinutes: erlang.intervalMinutes },
  ];
  return {
    measured, erlang, probes, lines,
    write: (dir) => writeFileSync(path.join(dir, 'staffing.md'), staffingMarkdown(o.profile, measured, erlang, probes, o)),
  };
}

function staffingMarkdown(p: Profile, measured: number | null, e: ErlangEstimate, probes: Probe[], o: StaffingOptions): string {
  const rows = [...probes].sort((a, b) => a.agents - b.agents)
    .map((x) => `| ${x.agents} | ${(x.serviceLevel * 100).toFixed(1)} % | ${x.abandoned} | ${x.lost} |`).join('\n');
  return `# Staffing check: ${p.name}

Target: ${(p.serviceLevel.target * 100).toFixed(0)} % of answered calls within ${p.serviceLevel.seconds} s.

- Measured (bisection over surge runs, ${o.min}..${o.max} agents): **${measured ?? `not reached with ${o.max}`}**
- Erlang C, one fixed staff for the whole programme (call-weighted service level): **${e.programmeAgents}**
- Erlang C, staffing the worst ${e.intervalMinutes}-minute interval: **${e.peakAgents}**
- Handle time used by Erlang C: ${e.aht.toFixed(1)} s (answer delay + talk + wrap-up means)

Erlang C assumes steady Poisson traffic within each interval, exponential handle times and callers
who never hang up. The surge differs on each count: callers abandon (fewer agents needed), the
curve moves inside an interval and handle times are log-normal with ring-no-answers (more agents
needed). The gap between the two figures is what the replay adds to the formula.

| agents | service level | abandoned | lost |
|---|---|---|---|
${rows}
`;
}
