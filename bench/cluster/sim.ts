/**
 * A discrete-event simulation of N active onair nodes sharing one contact center, each node
 * running the engine's own ACD core (engine/acd) on the queues of its partition. Simulated clock,
 * seeded draws, no timers: a run is a pure function of its options.
 *
 * ```
 *  caller ─▶ Kamailio ─(queue → node)─▶ node n: Acd (its queues; every agent of them, a replica
 *                                           │        when the agent also serves other nodes)
 *                                           │ offer(call, agent)
 *                   agent owned by n alone ─┼─▶ INVITE to the agent at once
 *          agent on several nodes (design) ─┴─▶ reserve in PostgreSQL ─ok─▶ INVITE
 *                                                         └─lost─▶ replica: agent busy elsewhere,
 *                                                                  the call is routed again
 * ```
 *
 * Designs: `owner` — queues placed by family (affinity), an agent whose queues are all on one node
 * is that node's alone (no coordination); agents cut by the partition are reserved in the database.
 * `db` — queues hashed over the nodes, every offer reserved in the database. `none` — no
 * coordination at all (the baseline the invariant check must catch: double offers).
 *
 * A replica learns that another node holds an agent from the database's NOTIFY (or from its own
 * failed reserve) and marks it not ready (reason 'elsewhere') in its core; a release makes it
 * available again. A node that holds an agent keeps it while its core offers the agent the next
 * call at wrap-up end, and releases it when the agent is left idle.
 */
import { Acd } from '../../engine/acd/index.ts';
import type { AcdEffect } from '../../engine/acd/index.ts';
import { quantile, seededRandom } from '../lib.ts';
import { buildCenter, pick, type Center, type Partition } from './center.ts';
import { Latency, ReservationDb } from './db.ts';
import { EventQueue } from './events.ts';

/** How agents shared by queues on different nodes are kept from two offers at once. */
export type Design = 'owner' | 'db' | 'none';

/** The designs, in the order the bench runs them. */
export const DESIGNS: readonly Design[] = ['owner', 'db', 'none'];

/** One run. Defaults as in {@link defaults}. */
export interface SimOptions {
  design: Design;
  nodes: number;
  agents: number;
  /** Calls per second, all queues (Poisson). */
  rate: number;
  /** Simulated seconds measured, after the warm-up. */
  seconds: number;
  warmupSeconds?: number;
  seed: number;
  queues?: number;
  /** Default: `affinity` for `owner`, `hash` for the others. */
  partition?: Partition;
  /** Share of an agent's further queues drawn from the whole center (cross-training). */
  crossShare?: number;
  /** Offered load over agents: sets the mean talk time (handle = ring + talk + wrap-up). */
  occupancy?: number;
  wrapUpMs?: number;
  /** Multiplies every modelled database latency; 0 = instantaneous. */
  dbScale?: number;
  /** Database backends executing statements in parallel. */
  dbBackends?: number;
  /** Mean patience of a waiting caller (exponential); they hang up when it runs out. */
  patienceMeanMs?: number;
  /** Stop early (and say so: `truncated`) past this much wall time. */
  maxWallMs?: number;
  /** Keep every offer that reached a phone and every agent freed of it (for tests). */
  recordTimeline?: boolean;
}

/** The defaults of the optional options. */
export const defaults = {
  warmupSeconds: 20,
  queues: 120,
  crossShare: 0.15,
  occupancy: 0.9,
  wrapUpMs: 2000,
  dbScale: 1,
  dbBackends: 16,
  patienceMeanMs: 60_000,
  maxWallMs: Infinity,
} as const;

/** Ring time before an agent answers (auto-answer headsets and a human's reach for the button). */
const ANSWER_MIN_MS = 300;
const ANSWER_MAX_MS = 1500;
/** After the measured window, events still run this long (no new callers) so late offers count. */
const DRAIN_MS = 10_000;
const SAMPLE_MS = 100;

/** An offer that reached an agent's phone, or the agent free of that call again (wrap-up over). */
export interface AgentEvent {
  at: number;
  kind: 'offer' | 'free';
  agentId: string;
  callId: string;
  node: number;
}

/** What a run measured (counts over the measured window). */
export interface SimResult {
  design: Design;
  partition: Partition;
  nodes: number;
  agents: number;
  queues: number;
  rate: number;
  seed: number;
  /** Agents whose queues are on more than one node, and their share. */
  cutAgents: number;
  cutShare: number;
  arrivals: number;
  /** Offer decisions of the cores (each needs the agent: at once, or after a reserve). */
  offersAttempted: number;
  /** Reserves that found the agent held by another node. */
  offersLost: number;
  lostOfferRate: number;
  /** Offers to an agent the node already held (next call at wrap-up end): no round trip. */
  keptReservations: number;
  /** Reserves that succeeded after the core had moved on (released again). */
  wastedReservations: number;
  /** Offers sent to an agent whose phone already had a call: must be 0. */
  doubleOffers: number;
  /** First offer decision for a call → an offer reaching a phone. */
  routingP50Ms: number;
  routingP99Ms: number;
  routingMaxMs: number;
  /** Caller's arrival → offer reaching a phone. */
  waitP50Ms: number;
  waitP99Ms: number;
  /** Mean share of agents with a call (ringing, talking or in wrap-up). */
  utilisation: number;
  abandoned: number;
  abandonRate: number;
  dbStatementsPerS: number;
  /** Backend busy time over backend time. */
  dbUtilisation: number;
  talkMeanMs: number;
  simSeconds: number;
  wallSeconds: number;
  truncated: boolean;
  /** With `recordTimeline`, in time order. */
  timeline: AgentEvent[];
}

/** One caller as the workload draws it. */
export interface Arrival {
  at: number;
  queue: number;
  talkMs: number;
  answerMs: number;
  patienceMs: number;
}

/**
 * The stream of callers: Poisson arrivals over the queues by their traffic share, log-normal talk
 * (sigma 0.5), uniform ring time, exponential patience. Its own random stream, so every design
 * sees the same callers for a seed.
 */
export class Workload {
  private readonly rnd: () => number;
  private t = 0;
  private readonly mu: number;
  constructor(private readonly center: Center, private readonly rate: number, talkMeanMs: number, private readonly patienceMeanMs: number, seed: number) {
    this.rnd = seededRandom(seed);
    this.mu = Math.log(talkMeanMs) - 0.5 ** 2 / 2;
  }

  /** The next caller. */
  next(): Arrival {
    const r = this.rnd;
    this.t += (-Math.log(1 - r()) / this.rate) * 1000;
    const queue = pick(this.center.queueCum, r());
    const normal = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    const talkMs = Math.exp(this.mu + 0.5 * normal);
    const answerMs = ANSWER_MIN_MS + r() * (ANSWER_MAX_MS - ANSWER_MIN_MS);
    const patienceMs = -Math.log(1 - r()) * this.patienceMeanMs;
    return { at: this.t, queue, talkMs, answerMs, patienceMs };
  }
}

/** Mean talk time that makes `rate` calls/s keep `occupancy` of the agents busy. */
export function talkMeanFor(agents: number, rate: number, occupancy: number, wrapUpMs: number): number {
  const cycleMs = (occupancy * agents * 1000) / rate;
  return Math.max(1000, cycleMs - wrapUpMs - (ANSWER_MIN_MS + ANSWER_MAX_MS) / 2);
}

/** A reserve or release on its way. */
interface Request {
  id: number;
  node: number;
  agent: number;
  call: number;
  release: boolean;
  /** Release: the version held; reserve: the version answered. */
  version: number;
  ok: boolean;
  holder: number;
  /** The core withdrew the offer before the answer came. */
  withdrawn: boolean;
}

/** One active node: its core and what it knows of the reservation table. */
class SimNode {
  readonly acd: Acd;
  readonly holds: Uint8Array;
  readonly heldVersion: Int32Array;
  readonly known: Int32Array;
  readonly elsewhere: Uint8Array;
  /** The call from this node the agent's phone has, or -1. */
  readonly busyHere: Int32Array;
  readonly pending = new Map<number, Request>();
  tickAt = Infinity;
  constructor(readonly id: number, center: Center) {
    const n = center.agents.length;
    this.acd = new Acd(center.nodeConfigs[id]!);
    this.holds = new Uint8Array(n);
    this.heldVersion = new Int32Array(n);
    this.known = new Int32Array(n);
    this.elsewhere = new Uint8Array(n);
    this.busyHere = new Int32Array(n).fill(-1);
  }
}

const index = (id: string): number => Number(id.slice(1));

/** The center and the callers a run's options draw (shared with the single-node reference of the tests). */
export function prepare(o: SimOptions): { center: Center; work: Workload; partition: Partition; talkMeanMs: number } {
  const partition = o.partition ?? (o.design === 'owner' ? 'affinity' : 'hash');
  const wrapUpMs = o.wrapUpMs ?? defaults.wrapUpMs;
  const center = buildCenter({
    nodes: o.nodes, agents: o.agents, queues: o.queues ?? defaults.queues, crossShare: o.crossShare ?? defaults.crossShare,
    partition, wrapUpMs, seed: o.seed,
  });
  const talkMeanMs = talkMeanFor(o.agents, o.rate, o.occupancy ?? defaults.occupancy, wrapUpMs);
  const work = new Workload(center, o.rate, talkMeanMs, o.patienceMeanMs ?? defaults.patienceMeanMs, o.seed);
  return { center, work, partition, talkMeanMs };
}

/** Run one simulation. Deterministic for its options (wall time aside). */
export function simulate(o: SimOptions): SimResult {
  const wall0 = performance.now();
  const warm = (o.warmupSeconds ?? defaults.warmupSeconds) * 1000;
  const end = warm + o.seconds * 1000;
  const { center, work, partition, talkMeanMs } = prepare(o);
  const latency = new Latency(o.seed ^ 0xdb, o.dbScale ?? defaults.dbScale);
  const db = new ReservationDb(o.agents, o.dbBackends ?? defaults.dbBackends, latency);
  const maxWallMs = o.maxWallMs ?? defaults.maxWallMs;
  // Which agents go through the database.
  const managed = new Uint8Array(o.agents);
  for (let a = 0; a < o.agents; a++) {
    const spread = center.agentNodes[a]!.length;
    managed[a] = o.design === 'db' ? (spread > 0 ? 1 : 0) : o.design === 'owner' ? (spread > 1 ? 1 : 0) : 0;
  }
  const nodes: SimNode[] = [];
  for (let n = 0; n < o.nodes; n++) nodes.push(new SimNode(n, center));
  const q = new EventQueue();

  // Per call (index = call number).
  const arrivalAt: number[] = [];
  const talk: number[] = [];
  const answer: number[] = [];
  const firstDecision: number[] = [];
  /** Calls the agent's phone has, over all nodes: the double-offer invariant. */
  const active = new Int32Array(o.agents);
  let busyAgents = 0;

  const requests = new Map<number, Request>();
  let nextRequest = 0;
  const inWindow = (t: number): boolean => t >= warm && t < end;
  /** Counts over the measured window (doubleOffers: the whole run). */
  const count = { arrivals: 0, attempted: 0, lost: 0, kept: 0, wasted: 0, doubleOffers: 0, abandoned: 0, statements: 0, dbBusy0: 0, dbBusy1: 0, busySum: 0, samples: 0 };
  const routing: number[] = [];
  const wait: number[] = [];
  const timeline: AgentEvent[] = [];

  const scheduleTick = (node: SimNode, now: number): void => {
    const d = node.acd.nextDeadline();
    if (d !== null && d < node.tickAt) {
      // A tick event runs only if it is still the node's next one (tickAt), so later ones are skipped.
      node.tickAt = Math.max(d, now);
      q.push(node.tickAt, 'tick', node.id);
    }
  };

  const toDb = (req: Request, now: number): void => {
    req.id = nextRequest++;
    requests.set(req.id, req);
    q.push(now + latency.oneWay(), 'dbArrive', req.id);
  };

  const send = (node: SimNode, call: number, agent: number, now: number): void => {
    if (active[agent]! > 0) count.doubleOffers++;
    else busyAgents++;
    active[agent]!++;
    node.busyHere[agent] = call;
    const callId = `c${call}`;
    if (inWindow(arrivalAt[call]!)) {
      routing.push(now - firstDecision[call]!);
      wait.push(now - arrivalAt[call]!);
    }
    if (o.recordTimeline === true) timeline.push({ at: now, kind: 'offer', agentId: `a${agent}`, callId, node: node.id });
    apply(node, node.acd.offerSent(callId, now), now);
    q.push(now + answer[call]!, 'answer', node.id, call);
  };

  const release = (node: SimNode, agent: number, now: number): void => {
    node.holds[agent] = 0;
    const v = node.heldVersion[agent]!;
    // A release of a held row always applies (only the holder changes a held row) unless this
    // node reserved it again meanwhile, and then its own answer carries the newer version.
    node.known[agent] = Math.max(node.known[agent]!, v + 1);
    toDb({ id: -1, node: node.id, agent, call: -1, release: true, version: v, ok: false, holder: -1, withdrawn: false }, now);
  };

  /** What the node learned of an agent's row: another holder makes the agent not ready here. */
  const learn = (node: SimNode, agent: number, version: number, holder: number, now: number): void => {
    if (version <= node.known[agent]!) return;
    node.known[agent] = version;
    if (holder === node.id) return;
    const el = holder === -1 ? 0 : 1;
    if (el === node.elsewhere[agent]) return;
    node.elsewhere[agent] = el;
    const id = `a${agent}`;
    apply(node, el === 1 ? node.acd.setAgentStatus(id, 'notReady', 'elsewhere', now) : node.acd.setAgentStatus(id, 'available', null, now), now);
  };

  /** Carry out a core's effects on node `node`. */
  function apply(node: SimNode, effects: AcdEffect[], now: number): void {
    let idled: number[] | null = null;
    for (const e of effects) {
      switch (e.type) {
        case 'offer': {
          const call = index(e.callId);
          const agent = index(e.agentId);
          if (inWindow(now)) count.attempted++;
          if (Number.isNaN(firstDecision[call]!)) firstDecision[call] = now;
          if (managed[agent] === 0) {
            send(node, call, agent, now);
          } else if (node.holds[agent] === 1) {
            if (inWindow(now)) count.kept++;
            send(node, call, agent, now);
          } else {
            const req: Request = { id: -1, node: node.id, agent, call, release: false, version: 0, ok: false, holder: -1, withdrawn: false };
            node.pending.set(agent, req);
            toDb(req, now);
          }
          break;
        }
        case 'cancelOffer': {
          const agent = index(e.agentId);
          const req = node.pending.get(agent);
          if (req !== undefined && req.call === index(e.callId)) {
            req.withdrawn = true;
            node.pending.delete(agent);
          }
          break;
        }
        case 'agentStateChanged': {
          if (e.state !== 'idle') break;
          const agent = index(e.agentId);
          const had = node.busyHere[agent]!;
          if (had >= 0) {
            node.busyHere[agent] = -1;
            if (o.recordTimeline === true) timeline.push({ at: now, kind: 'free', agentId: e.agentId, callId: `c${had}`, node: node.id });
            if (--active[agent]! === 0) busyAgents--;
          }
          if (node.holds[agent] === 1) (idled ??= []).push(agent);
          break;
        }
        case 'ended':
          if (e.outcome === 'abandoned' && inWindow(now)) count.abandoned++;
          break;
        case 'error':
          throw new Error(`cluster-sim: the core refused an input on node ${node.id}: ${e.code} ${e.message}`);
        default:
          break;
      }
    }
    // A held agent left idle (no next call for it here) goes back to the table.
    if (idled !== null) {
      for (const agent of idled) {
        if (node.holds[agent] === 1 && !node.pending.has(agent) && node.acd.inspectAgent(`a${agent}`)?.state === 'idle') release(node, agent, now);
      }
    }
    scheduleTick(node, now);
  }

  const dbReply = (req: Request, now: number): void => {
    const node = nodes[req.node]!;
    const agent = req.agent;
    const id = `a${agent}`;
    if (req.ok) {
      node.holds[agent] = 1;
      node.heldVersion[agent] = req.version;
      node.known[agent] = Math.max(node.known[agent]!, req.version);
      if (!req.withdrawn && node.pending.get(agent) === req) {
        node.pending.delete(agent);
        send(node, req.call, agent, now);
        return;
      }
      // The core moved on (a NOTIFY older than this answer made the agent busy here): the agent
      // is ours now; offer it here, or give it back.
      if (inWindow(now)) count.wasted++;
      if (node.elsewhere[agent] === 1) {
        node.elsewhere[agent] = 0;
        apply(node, node.acd.setAgentStatus(id, 'available', null, now), now);
      }
      if (node.holds[agent] === 1 && !node.pending.has(agent) && node.acd.inspectAgent(id)?.state === 'idle') release(node, agent, now);
      return;
    }
    if (inWindow(now)) count.lost++;
    learn(node, agent, req.version, req.holder, now);
    if (!req.withdrawn && node.pending.get(agent) === req) {
      // The answer is older than what the node knows (the agent was released since): withdraw
      // this offer and let the core pick again, the agent included.
      node.pending.delete(agent);
      apply(node, node.acd.setAgentStatus(id, 'notReady', 'lost', now), now);
      if (node.elsewhere[agent] === 0) apply(node, node.acd.setAgentStatus(id, 'available', null, now), now);
    }
  };

  const dbArrive = (req: Request, now: number): void => {
    const done = db.execute(now);
    if (inWindow(now)) count.statements++;
    if (now < warm) count.dbBusy0 = db.busyMs;
    if (now < end) count.dbBusy1 = db.busyMs;
    const others = center.agentNodes[req.agent]!;
    if (req.release) {
      const v = db.release(req.node, req.agent, req.version);
      if (v < 0) return;
      for (const n of others) if (n !== req.node) q.push(done + latency.oneWay(), 'notify', n, req.agent, v, -1);
      return;
    }
    const r = db.reserve(req.node, req.agent);
    req.ok = r.ok;
    req.version = r.version;
    req.holder = r.holder;
    if (r.ok) for (const n of others) if (n !== req.node) q.push(done + latency.oneWay(), 'notify', n, req.agent, r.version, req.node);
    q.push(done + latency.oneWay(), 'dbReply', req.id);
  };

  // ---- start: every agent logged in on every node that holds it.
  for (const node of nodes) {
    for (const a of center.nodeConfigs[node.id]!.agents ?? []) apply(node, node.acd.agentLoggedIn(a.id, 0), 0);
  }
  let next = work.next();
  q.push(next.at, 'arrival', 0);
  q.push(warm, 'sample');

  let truncated = false;
  let now = 0;
  let steps = 0;
  for (let e = q.pop(); e !== undefined; e = q.pop()) {
    now = e.t;
    if (now >= end + DRAIN_MS) break;
    if ((++steps & 4095) === 0 && performance.now() - wall0 > maxWallMs) {
      truncated = true;
      break;
    }
    switch (e.kind) {
      case 'arrival': {
        const call = e.a;
        const nodeId = center.queueNode[next.queue]!;
        arrivalAt[call] = now;
        talk[call] = next.talkMs;
        answer[call] = next.answerMs;
        firstDecision[call] = NaN;
        if (inWindow(now)) count.arrivals++;
        const node = nodes[nodeId]!;
        const patience = next.patienceMs;
        apply(node, node.acd.enqueue({ id: `c${call}`, queueId: `q${next.queue}`, callerNumber: `+86${call}` }, now), now);
        q.push(now + patience, 'patience', nodeId, call);
        next = work.next();
        if (next.at < end) q.push(next.at, 'arrival', call + 1);
        break;
      }
      case 'patience': {
        const node = nodes[e.a]!;
        const id = `c${e.b}`;
        // Only a caller still waiting hangs up; once the phone of an agent rings, they hold on.
        if (node.acd.inspectCall(id)?.state === 'waiting') apply(node, node.acd.abandon(id, now), now);
        break;
      }
      case 'answer': {
        const node = nodes[e.a]!;
        apply(node, node.acd.offerAnswered(`c${e.b}`, now), now);
        q.push(now + talk[e.b]!, 'end', e.a, e.b);
        break;
      }
      case 'end': {
        const node = nodes[e.a]!;
        apply(node, node.acd.callEnded(`c${e.b}`, now), now);
        break;
      }
      case 'tick': {
        const node = nodes[e.a]!;
        if (e.t !== node.tickAt) break;
        node.tickAt = Infinity;
        apply(node, node.acd.tick(now), now);
        break;
      }
      case 'dbArrive': {
        const req = requests.get(e.a)!;
        dbArrive(req, now);
        if (req.release) requests.delete(e.a);
        break;
      }
      case 'dbReply': {
        const req = requests.get(e.a)!;
        requests.delete(e.a);
        dbReply(req, now);
        break;
      }
      case 'notify':
        learn(nodes[e.a]!, e.b, e.c, e.d, now);
        break;
      case 'sample':
        count.busySum += busyAgents;
        count.samples++;
        if (now + SAMPLE_MS < end) q.push(now + SAMPLE_MS, 'sample');
        break;
    }
  }

  const seconds = o.seconds;
  return {
    design: o.design, partition, nodes: o.nodes, agents: o.agents, queues: center.queues.length, rate: o.rate, seed: o.seed,
    cutAgents: center.cutAgents, cutShare: center.cutAgents / o.agents,
    arrivals: count.arrivals, offersAttempted: count.attempted, offersLost: count.lost, lostOfferRate: count.attempted === 0 ? 0 : count.lost / count.attempted,
    keptReservations: count.kept, wastedReservations: count.wasted, doubleOffers: count.doubleOffers,
    routingP50Ms: quantile(routing, 0.5), routingP99Ms: quantile(routing, 0.99), routingMaxMs: quantile(routing, 1),
    waitP50Ms: quantile(wait, 0.5), waitP99Ms: quantile(wait, 0.99),
    utilisation: count.samples === 0 ? 0 : count.busySum / count.samples / o.agents,
    abandoned: count.abandoned, abandonRate: count.arrivals === 0 ? 0 : count.abandoned / count.arrivals,
    dbStatementsPerS: count.statements / seconds, dbUtilisation: (count.dbBusy1 - count.dbBusy0) / ((o.dbBackends ?? defaults.dbBackends) * seconds * 1000),
    talkMeanMs, simSeconds: now / 1000, wallSeconds: (performance.now() - wall0) / 1000, truncated, timeline,
  };
}
