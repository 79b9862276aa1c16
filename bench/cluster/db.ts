/**
 * The shared PostgreSQL database as the simulation models it: one row per agent
 * (`agent_reservations(agent_id, holder_node, version)`), a pool of server backends that execute
 * statements first come first served, and the network between nodes and the server.
 *
 * ```
 *  node ──one-way──▶ [ backend k: execute + commit ] ──one-way──▶ node (reply)
 *                                    └──────────────── one-way ──▶ other nodes (NOTIFY)
 * ```
 *
 * Reserve:  UPDATE agent_reservations SET holder_node = $me, version = version + 1
 *           WHERE agent_id = $a AND (holder_node IS NULL OR holder_node = $me) RETURNING version
 * Release:  UPDATE agent_reservations SET holder_node = NULL, version = version + 1
 *           WHERE agent_id = $a AND holder_node = $me AND version = $heldVersion
 * A reserve that updates no row has lost the agent to another node (a lost offer); the version is
 * the fencing token that keeps a late release from freeing a newer reservation. Both are one
 * autocommit statement; the row's state is checked when a backend starts the statement (in
 * PostgreSQL the second of two concurrent UPDATEs waits for the first's commit and then sees the
 * new row: the same outcome, its answer a little later than modelled here).
 */
import { seededRandom } from '../lib.ts';

/**
 * Latencies, in ms, before `scale`. One-way network on a LAN: log-normal, median 0.12 ms; one
 * message in 500 is late by 2-10 ms (a retransmission, a pause of the receiving node). A
 * statement's execution with its commit (WAL flush, group commit): log-normal, median 0.35 ms.
 */
export const DB_LATENCY = {
  oneWayMedianMs: 0.12,
  oneWaySigma: 0.5,
  lateShare: 0.002,
  lateMinMs: 2,
  lateMaxMs: 10,
  serviceMedianMs: 0.35,
  serviceSigma: 0.6,
} as const;

/** Draws of the modelled latencies; `scale` 0 makes every one of them zero. */
export class Latency {
  private readonly rnd: () => number;
  constructor(seed: number, private readonly scale: number) {
    this.rnd = seededRandom(seed);
  }

  /** A message between a node and the database (either way). */
  oneWay(): number {
    if (this.scale === 0) return 0;
    const L = DB_LATENCY;
    let ms = L.oneWayMedianMs * Math.exp(L.oneWaySigma * this.normal());
    if (this.rnd() < L.lateShare) ms += L.lateMinMs + this.rnd() * (L.lateMaxMs - L.lateMinMs);
    return ms * this.scale;
  }

  /** Execution and commit of one statement on a backend. */
  service(): number {
    if (this.scale === 0) return 0;
    return DB_LATENCY.serviceMedianMs * Math.exp(DB_LATENCY.serviceSigma * this.normal()) * this.scale;
  }

  private normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.rnd())) * Math.cos(2 * Math.PI * this.rnd());
  }
}

/** Outcome of a reserve: `ok` with the new version, or the holder and version that beat it. */
export interface ReserveResult {
  ok: boolean;
  holder: number;
  version: number;
}

/** The reservation table and the backends executing statements on it. */
export class ReservationDb {
  private readonly holder: Int32Array;
  private readonly version: Int32Array;
  private readonly freeAt: Float64Array;
  /** Backend time spent on statements (for utilisation). */
  busyMs = 0;
  statements = 0;

  constructor(agents: number, backends: number, private readonly latency: Latency) {
    this.holder = new Int32Array(agents).fill(-1);
    this.version = new Int32Array(agents);
    this.freeAt = new Float64Array(Math.max(1, backends));
  }

  /** A statement reaching the server at `now` runs on the first free backend; returns its commit time. */
  execute(now: number): number {
    let k = 0;
    for (let i = 1; i < this.freeAt.length; i++) if (this.freeAt[i]! < this.freeAt[k]!) k = i;
    const service = this.latency.service();
    const done = Math.max(now, this.freeAt[k]!) + service;
    this.freeAt[k] = done;
    this.busyMs += service;
    this.statements++;
    return done;
  }

  /** The conditional UPDATE that reserves `agent` for `node`. */
  reserve(node: number, agent: number): ReserveResult {
    const h = this.holder[agent]!;
    if (h !== -1 && h !== node) return { ok: false, holder: h, version: this.version[agent]! };
    this.holder[agent] = node;
    const v = ++this.version[agent]!;
    return { ok: true, holder: node, version: v };
  }

  /** Release of a reservation held at `heldVersion`; returns the new version, or -1 when stale. */
  release(node: number, agent: number, heldVersion: number): number {
    if (this.holder[agent] !== node || this.version[agent] !== heldVersion) return -1;
    this.holder[agent] = -1;
    return ++this.version[agent]!;
  }

  /** Current holder of `agent` (-1 = none): the truth the invariant checks compare with. */
  holderOf(agent: number): number {
    return this.holder[agent]!;
  }
}
