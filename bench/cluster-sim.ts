/**
 * `npm run bench -- cluster-sim [--nodes 10] [--agents 20000] [--rate 2000] [--seconds 120]
 *  [--warmup 20] [--design owner,db|owner|db|none|all] [--seed 1] [--queues 120] [--cross 0.15]
 *  [--occupancy 0.9] [--db-scale 1] [--db-backends 16] [--partition affinity|hash] [--max-wall-s 100]`
 *
 * A discrete-event simulation of N active nodes sharing one center (bench/cluster, docs/scaling.md):
 * each node runs the engine's own ACD core on its partition of the queues; agents shared by
 * partitions are kept from two offers at once by one owner per agent (`owner`: queues placed by
 * family, agents cut by the partition reserved in PostgreSQL) or by a reservation of every offer
 * in PostgreSQL (`db`: queues hashed over the nodes); `none` coordinates nothing (the baseline
 * whose double offers show the invariant check works); `--partition` overrides the placement of
 * every design (to tell the placement's effect from the reservation's). Per design, JSON lines:
 * cluster_routing_p50_ms / _p99_ms / _max_ms (first offer decision for a call → offer sent to a
 * phone), cluster_lost_offer_rate (reserves that found the agent taken by another node / offer
 * decisions), double_offers (must be 0 but for `none`), cluster_utilisation, cluster_wait_p50_ms /
 * _p99_ms (arrival → offer sent), cluster_cut_agent_share, cluster_abandon_rate,
 * cluster_db_statements_per_s, cluster_db_utilisation, cluster_sim_seconds, cluster_wall_seconds.
 * Every run stops at `--max-wall-s` of wall time (then `truncated: true`); the exit code is 1 when
 * a coordinated design made a double offer.
 */
import os from 'node:os';
import { emit, machine, say } from './lib.ts';
import { DESIGNS, simulate, type Design, type Partition, type SimResult } from './cluster/index.ts';

function num(args: string[], name: string, d: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return d;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`cluster-sim: --${name} needs a number`);
  return v;
}

function designs(args: string[]): Design[] {
  const i = args.indexOf('--design');
  const text = i >= 0 ? args[i + 1] ?? '' : 'owner,db';
  if (text === 'all') return [...DESIGNS];
  const out = text.split(',').filter((d): d is Design => (DESIGNS as readonly string[]).includes(d));
  if (out.length === 0) throw new Error(`cluster-sim: --design is one or more of ${DESIGNS.join(', ')}, or all`);
  return out;
}

/** Runs the simulation (arguments in the file comment). */
export async function main(args: string[]): Promise<void> {
  const o = {
    nodes: num(args, 'nodes', 10),
    agents: num(args, 'agents', 20_000),
    rate: num(args, 'rate', 2000),
    seconds: num(args, 'seconds', 120),
    warmupSeconds: num(args, 'warmup', 20),
    seed: num(args, 'seed', 1),
    queues: num(args, 'queues', 120),
    crossShare: num(args, 'cross', 0.15),
    occupancy: num(args, 'occupancy', 0.9),
    dbScale: num(args, 'db-scale', 1),
    dbBackends: num(args, 'db-backends', 16),
  };
  const maxWallMs = num(args, 'max-wall-s', 100) * 1000;
  const p = args.indexOf('--partition');
  const partition = p < 0 ? undefined : args[p + 1];
  if (partition !== undefined && partition !== 'affinity' && partition !== 'hash') throw new Error('cluster-sim: --partition is affinity or hash');
  say(`cluster-sim: ${o.nodes} nodes, ${o.agents} agents, ${o.queues} queues, ${o.rate} calls/s, ${o.warmupSeconds} + ${o.seconds} simulated s, seed ${o.seed}; ` +
    `each run bounded to ${maxWallMs / 1000} s of wall time; ${machine()}`);
  let failed = false;
  for (const design of designs(args)) {
    const r = simulate({ ...o, design, maxWallMs, partition: partition as Partition | undefined });
    report(r, maxWallMs);
    if (design !== 'none' && r.doubleOffers > 0) failed = true;
  }
  if (failed) process.exitCode = 1;
}

function report(r: SimResult, maxWallMs: number): void {
  const common = {
    design: r.design, partition: r.partition, nodes: r.nodes, agents: r.agents, queues: r.queues, rate: r.rate, seed: r.seed,
    sim_s: Number(r.simSeconds.toFixed(1)), wall_s: Number(r.wallSeconds.toFixed(1)), wall_bound_s: maxWallMs / 1000, truncated: r.truncated,
    arrivals: r.arrivals, offers_attempted: r.offersAttempted, offers_lost: r.offersLost, talk_mean_ms: Math.round(r.talkMeanMs),
    loadavg_1m: Number(os.loadavg()[0]!.toFixed(2)), machine: machine(),
  };
  const lines: [string, number, string, number][] = [
    ['cluster_routing_p50_ms', r.routingP50Ms, 'ms', 3],
    ['cluster_routing_p99_ms', r.routingP99Ms, 'ms', 3],
    ['cluster_routing_max_ms', r.routingMaxMs, 'ms', 3],
    ['cluster_lost_offer_rate', r.lostOfferRate, 'ratio', 5],
    ['double_offers', r.doubleOffers, 'offers', 0],
    ['cluster_utilisation', r.utilisation, 'ratio', 3],
    ['cluster_wait_p50_ms', r.waitP50Ms, 'ms', 3],
    ['cluster_wait_p99_ms', r.waitP99Ms, 'ms', 3],
    ['cluster_cut_agent_share', r.cutShare, 'ratio', 3],
    ['cluster_abandon_rate', r.abandonRate, 'ratio', 5],
    ['cluster_db_statements_per_s', r.dbStatementsPerS, 'statements/s', 0],
    ['cluster_db_utilisation', r.dbUtilisation, 'ratio', 3],
    ['cluster_sim_seconds', r.simSeconds, 's', 1],
    ['cluster_wall_seconds', r.wallSeconds, 's', 1],
  ];
  for (const [metric, value, unit, digits] of lines) emit({ bench: 'cluster-sim', metric, value: Number(value.toFixed(digits)), unit, ...common });
  say(`${r.design.padEnd(5)} (${r.partition}): cut agents ${(r.cutShare * 100).toFixed(1)} %; routing p50 ${r.routingP50Ms.toFixed(3)} ms, p99 ${r.routingP99Ms.toFixed(3)} ms; ` +
    `lost offers ${r.offersLost} of ${r.offersAttempted} (${(r.lostOfferRate * 100).toFixed(3)} %); double offers ${r.doubleOffers}; utilisation ${(r.utilisation * 100).toFixed(1)} %; ` +
    `wait p99 ${(r.waitP99Ms / 1000).toFixed(2)} s; abandoned ${(r.abandonRate * 100).toFixed(2)} %; db ${r.dbStatementsPerS.toFixed(0)} statements/s; ` +
    `${r.simSeconds.toFixed(0)} simulated s in ${r.wallSeconds.toFixed(1)} s of wall time${r.truncated ? ' (TRUNCATED at the wall-time bound)' : ''}`);
}
