/**
 * `npm run bench -- dialer [--minutes 60] [--seeds 5]`: predictive pacing over a grid of floors
 * (50-200 agents, customer answer rates 20-80 %), simulated with the engine's PredictivePacer
 * (bench/dialer/sim.ts), against progressive dialing (each idle agent dials one customer and
 * waits) on the same seeds. JSON lines: per cell `occupancy` and `dialer_abandon_ratio` (median and
 * worst over the seeds), then the worst case over the grid under the same two names, `grid: "worst"`.
 * Pure CPU and deterministic per seed: the figures do not depend on the machine's load.
 */
import { emit, machine, median, say } from './lib.ts';
import { simulate } from './dialer/sim.ts';

export async function main(args: string[]): Promise<void> {
  const arg = (name: string, def: number): number => {
    const i = args.indexOf(name);
    const v = i >= 0 ? Number(args[i + 1]) : def;
    return Number.isFinite(v) && v > 0 ? v : def;
  };
  const minutes = arg('--minutes', 60);
  const seeds = Math.floor(arg('--seeds', 5));
  const base = { bench: 'dialer', minutes, seeds, machine: machine() };
  let worstOccupancy = Infinity;
  let worstAbandon = 0;
  for (const agents of [50, 100, 200]) {
    for (const answerRate of [0.2, 0.4, 0.6, 0.8]) {
      const occ: number[] = [];
      const ab: number[] = [];
      const prog: number[] = [];
      for (let seed = 1; seed <= seeds; seed++) {
        const r = simulate({ agents, answerRate, seed, mode: 'predictive', minutes });
        occ.push(r.occupancy);
        ab.push(r.abandonRatio);
        prog.push(simulate({ agents, answerRate, seed, mode: 'progressive', minutes }).occupancy);
      }
      const cell = { ...base, agents, answerRate };
      const minOcc = Math.min(...occ);
      const maxAb = Math.max(...ab);
      emit({ ...cell, metric: 'occupancy', value: round(median(occ)), unit: 'ratio', worst: round(minOcc), progressive: round(median(prog)) });
      emit({ ...cell, metric: 'dialer_abandon_ratio', value: round(median(ab)), unit: 'ratio', worst: round(maxAb) });
      say(`${agents} agents, answer rate ${answerRate}: occupancy ${round(median(occ))} (progressive ${round(median(prog))}), abandons ${round(median(ab))} (worst ${round(maxAb)})`);
      worstOccupancy = Math.min(worstOccupancy, minOcc);
      worstAbandon = Math.max(worstAbandon, maxAb);
    }
  }
  emit({ ...base, grid: 'worst', metric: 'occupancy', value: round(worstOccupancy), unit: 'ratio', target: 0.85 });
  emit({ ...base, grid: 'worst', metric: 'dialer_abandon_ratio', value: round(worstAbandon), unit: 'ratio', target: 0.03 });
}

const round = (v: number): number => Math.round(v * 10_000) / 10_000;
