/**
 * The simulated contact center: queues grouped in families (a product line's order, service, VIP
 * and returns queues), agents trained in 1-4 queues mostly of their own family, and the placement
 * of queues on nodes (the partition Kamailio routes by). Everything is drawn from a seed.
 *
 * ```
 *  family f (traffic share w_f, Zipf-like)     agent: home family ∝ w_f
 *   ├── q(4f)   55 % of the family's calls       queue 1: of the home family
 *   ├── q(4f+1) 25 %                             queues 2-4: home family, or (crossShare)
 *   ├── q(4f+2) 12 %                                         any queue ∝ its traffic
 *   └── q(4f+3)  8 %
 * ```
 *
 * Partition `affinity` puts whole families on nodes (largest first on the least-loaded node), so
 * only cross-trained agents span nodes; `hash` puts each queue on `fnv1a(queueId) mod nodes`, as a
 * hash of the dialled number in Kamailio would.
 */
import type { AcdConfig, AgentConfig, QueueConfig } from '../../engine/acd/index.ts';
import { seededRandom } from '../lib.ts';

/** How queues are placed on nodes. */
export type Partition = 'affinity' | 'hash';

/** What a center is drawn from. */
export interface CenterOptions {
  nodes: number;
  agents: number;
  queues: number;
  /** Share of an agent's second to fourth queues drawn from the whole center, not its family. */
  crossShare: number;
  partition: Partition;
  /** Wrap-up after each call, every queue. */
  wrapUpMs: number;
  seed: number;
}

/** A drawn center: the whole configuration and, per node, the part its ACD core holds. */
export interface Center {
  queues: QueueConfig[];
  /** Node of each queue (index = queue number). */
  queueNode: Int32Array;
  /** Cumulative arrival share of the queues, last = 1: a caller's queue is a binary search. */
  queueCum: Float64Array;
  agents: AgentConfig[];
  /** Nodes whose core holds each agent (ascending): the nodes of its queues. */
  agentNodes: number[][];
  /** Agents whose queues live on more than one node. */
  cutAgents: number;
  /** Per node: its queues, and its agents with their skills of those queues only. */
  nodeConfigs: AcdConfig[];
}

const QUEUES_PER_FAMILY = 4;
const IN_FAMILY_SHARE = [0.55, 0.25, 0.12, 0.08];
/** Built-in strategies in turn, so the simulation exercises more than one comparator. */
const STRATEGIES = ['longestIdle', 'skillLevel', 'leastCalls', 'roundRobin'];

/** 32-bit FNV-1a of a string: the stand-in for Kamailio's hash of the dialled number. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Index of the first cumulative share above `u` (u in [0, 1)). */
export function pick(cum: Float64Array, u: number): number {
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid]! > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Draw a center. Pure: the same options give the same center. */
export function buildCenter(o: CenterOptions): Center {
  if (o.nodes < 1 || o.agents < 1 || o.queues < 1) throw new Error('cluster-sim: nodes, agents and queues must be at least 1');
  const rnd = seededRandom(o.seed ^ 0x5eed);
  const families = Math.ceil(o.queues / QUEUES_PER_FAMILY);
  // Zipf-like family traffic: a few hot products carry most of the calls.
  const famWeight = new Float64Array(families);
  let famSum = 0;
  for (let f = 0; f < families; f++) famSum += famWeight[f] = 1 / (f + 1) ** 0.8;
  const queueWeight = new Float64Array(o.queues);
  const famQueues: number[][] = [];
  for (let f = 0; f < families; f++) {
    const qs: number[] = [];
    for (let k = 0; k < QUEUES_PER_FAMILY && f * QUEUES_PER_FAMILY + k < o.queues; k++) qs.push(f * QUEUES_PER_FAMILY + k);
    const shareSum = qs.reduce((s, _q, k) => s + IN_FAMILY_SHARE[k]!, 0);
    qs.forEach((q, k) => (queueWeight[q] = (famWeight[f]! / famSum) * (IN_FAMILY_SHARE[k]! / shareSum)));
    famQueues.push(qs);
  }
  const queueCum = cumulative(queueWeight);
  const famCum = cumulative(famWeight);

  const queueNode = new Int32Array(o.queues);
  if (o.partition === 'hash') {
    for (let q = 0; q < o.queues; q++) queueNode[q] = fnv1a(`q${q}`) % o.nodes;
  } else {
    // Greedy: the heaviest family first, each on the node with the least traffic so far.
    const load = new Float64Array(o.nodes);
    const order = [...famWeight.keys()].sort((a, b) => famWeight[b]! - famWeight[a]! || a - b);
    for (const f of order) {
      let best = 0;
      for (let n = 1; n < o.nodes; n++) if (load[n]! < load[best]!) best = n;
      load[best]! += famWeight[f]!;
      for (const q of famQueues[f]!) queueNode[q] = best;
    }
  }

  const queues: QueueConfig[] = [];
  for (let q = 0; q < o.queues; q++) {
    queues.push({ id: `q${q}`, skill: `q${q}`, strategy: STRATEGIES[q % STRATEGIES.length], wrapUpMs: o.wrapUpMs, ringTimeoutMs: 20_000 });
  }

  const agents: AgentConfig[] = [];
  const agentNodes: number[][] = [];
  const nodeAgents: AgentConfig[][] = Array.from({ length: o.nodes }, () => []);
  let cutAgents = 0;
  for (let a = 0; a < o.agents; a++) {
    const home = famQueues[pick(famCum, rnd())]!;
    const r = rnd();
    const want = r < 0.3 ? 1 : r < 0.65 ? 2 : r < 0.9 ? 3 : 4;
    const mine = new Set<number>();
    for (let tries = 0; mine.size < want && tries < want * 4; tries++) {
      if (mine.size > 0 && rnd() < o.crossShare) mine.add(pick(queueCum, rnd()));
      else mine.add(home[pick(familyCum(home, queueWeight), rnd())]!);
    }
    const skills: Record<string, number> = {};
    const nodes = new Set<number>();
    for (const q of mine) {
      skills[`q${q}`] = 1 + Math.floor(rnd() * 5);
      nodes.add(queueNode[q]!);
    }
    const id = `a${a}`;
    agents.push({ id, skills });
    const list = [...nodes].sort((x, y) => x - y);
    agentNodes.push(list);
    if (list.length > 1) cutAgents++;
    for (const n of list) {
      const local: Record<string, number> = {};
      for (const q of mine) if (queueNode[q] === n) local[`q${q}`] = skills[`q${q}`]!;
      nodeAgents[n]!.push({ id, skills: local });
    }
  }
  const nodeConfigs: AcdConfig[] = [];
  for (let n = 0; n < o.nodes; n++) {
    nodeConfigs.push({ queues: queues.filter((_q, i) => queueNode[i] === n), agents: nodeAgents[n]! });
  }
  return { queues, queueNode, queueCum, agents, agentNodes, cutAgents, nodeConfigs };
}

function cumulative(w: Float64Array): Float64Array {
  const out = new Float64Array(w.length);
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += w[i]!;
  let acc = 0;
  for (let i = 0; i < w.length; i++) out[i] = acc += w[i]! / sum;
  out[w.length - 1] = 1;
  return out;
}

function familyCum(qs: readonly number[], weight: Float64Array): Float64Array {
  const w = new Float64Array(qs.length);
  qs.forEach((q, k) => (w[k] = weight[q]!));
  return cumulative(w);
}
