/**
 * Internal mutable model of the core: queues, pools of agents, lanes of calls, and their heaps.
 * Nothing here is exported from the folder; the runtime sees views and effects only.
 *
 * ```
 *  Queue q ──steps[k].lanes──▶ Lane(q, pool) ◀──pool.lanes── Pool(skill, minLevel, strategy)
 *    │ waiting: treap by (priority, rank, seq)                    │ idle: heap of Members by strategy
 *    │   with subtree sizes (positions) and min arrival (oldest)  │ members: one Member per agent
 *    ▼                         Lane.live / Lane.callbacks: heaps of CallNodes by (priority, rank, seq)
 *  Call ── laneNodes[i] ──▶ the lanes of steps[step] of its queue
 *  Agent ── members ──▶ pools it qualifies for; lanes = all lanes of those pools
 * ```
 * A call waits in the lanes of every pool it is currently eligible for, so an agent that frees up
 * only peeks the heads of its own lanes, and an arriving call only peeks the idle heads of its pools.
 */
import { IndexedHeap } from './heap.ts';
import type { HeapNode } from './heap.ts';
import { KeyHeap } from './keyheap.ts';
import { RankedSet, treapWeight } from './ranked.ts';
import type { RankedNode } from './ranked.ts';
import type { AgentState, AgentStatus, CallKind, CallState, Millis, StrategyComparator } from './types.ts';

/** One slot of a call in one heap. `lane` is set for lane nodes only. */
export class CallNode implements HeapNode {
  heapIndex = -1;
  lane: Lane | null = null;
  readonly call: Call;
  constructor(call: Call) {
    this.call = call;
  }
}

/**
 * A call's entry in its queue's ranked set (queue order, positions, oldest arrival). It carries a
 * copy of the call's order keys, loaded before each insertion, so a descent compares the node in
 * hand instead of following node → call at every level. A call's keys only change while it is out
 * of the set (a merge removes, re-keys, re-inserts), so the copy cannot go stale.
 */
export class QueueEntry implements RankedNode {
  priority = 0;
  rank = 0;
  seq = 0;
  arrival = 0;
  readonly call: Call;
  minArrival = 0;
  left: RankedNode | null = null;
  right: RankedNode | null = null;
  size = 0;
  readonly weight: number;
  constructor(call: Call) {
    this.call = call;
    this.weight = treapWeight(call.seq);
  }

  /** Copy the call's current keys; call before inserting the entry. */
  load(): void {
    const c = this.call;
    this.priority = c.priority;
    this.rank = c.rank;
    this.seq = c.seq;
    this.arrival = c.arrivalTime;
  }
}

/** Queue order: priority first (higher wins), then rank (earlier wins), then arrival sequence. */
export function entryBefore(x: QueueEntry, y: QueueEntry): boolean {
  if (x.priority !== y.priority) return x.priority > y.priority;
  if (x.rank !== y.rank) return x.rank < y.rank;
  return x.seq < y.seq;
}


/** A timer entry in the core's single timer queue; exactly one of `call` / `agent` is set. */
export class TimerNode implements HeapNode {
  heapIndex = -1;
  /** Arming sequence (the queue keeps its own copy with the due time). */
  seq = 0;
  readonly call: Call | null;
  readonly agent: Agent | null;
  constructor(call: Call | null, agent: Agent | null) {
    this.call = call;
    this.agent = agent;
  }
}

/**
 * Order of timers due at the same instant: call timers in queue order (so that two calls of a queue
 * reaching a step together keep their FIFO order), otherwise arming order, so runs are deterministic.
 */
export function timerBefore(a: TimerNode, b: TimerNode): boolean {
  const x = a.call;
  const y = b.call;
  if (x !== null && y !== null) {
    if (x.priority !== y.priority) return x.priority > y.priority;
    if (x.rank !== y.rank) return x.rank < y.rank;
    if (x.seq !== y.seq) return x.seq < y.seq;
  }
  return a.seq < b.seq;
}

/** A call or a callback task. All fields set in the constructor so the shape never changes. */
export class Call {
  readonly id: string;
  readonly kind: CallKind;
  readonly callerNumber: string;
  readonly dialledNumber: string;
  readonly priority: number;
  readonly seq: number;
  arrivalTime: Millis;
  /** Order key within equal priority: the arrival time, minus a large boost once sent back to the head. */
  rank: number;
  returned = false;
  queue: Queue;
  enteredAt: Millis = 0;
  state: CallState = 'waiting';
  step = 0;
  agent: Agent | null = null;
  preferred: Agent | null = null;
  preferredOnly = false;
  preferredUntil: Millis = Infinity;
  /** A transfer to this agent by name (the API's): offered to `preferred` alone if it is free at entry, once. */
  directed = false;
  /** The agent reserved for a consultation of this talking call (attended transfer), or null. */
  consultant: Agent | null = null;
  /** How far that consultation got (`none` without one). */
  consultStage: ConsultStage = 'none';
  nextStepAt: Millis = Infinity;
  maxWaitAt: Millis = Infinity;
  nextAnnounceAt: Millis = Infinity;
  answeredAt: Millis = 0;
  /** Lane slots in use: laneNodes[0..laneCount) are in the lanes of steps[step]. */
  laneCount = 0;
  readonly laneNodes: CallNode[] = [];
  readonly queueNode: QueueEntry;
  /** Node in the preferred agent's heap; allocated on first use (few calls have a preferred agent). */
  preferredNode: CallNode | null = null;
  readonly timer: TimerNode;

  constructor(id: string, kind: CallKind, callerNumber: string, dialledNumber: string, priority: number,
    arrivalTime: Millis, seq: number, queue: Queue) {
    this.id = id;
    this.kind = kind;
    this.callerNumber = callerNumber;
    this.dialledNumber = dialledNumber;
    this.priority = priority;
    this.arrivalTime = arrivalTime;
    this.rank = arrivalTime;
    this.seq = seq;
    this.queue = queue;
    this.queueNode = new QueueEntry(this);
    this.timer = new TimerNode(this, null);
  }
}

/** An agent's membership of a pool; the node of the pool's idle heap. */
export class Member implements HeapNode {
  heapIndex = -1;
  readonly pool: Pool;
  readonly agent: Agent;
  readonly level: number;
  constructor(pool: Pool, agent: Agent, level: number) {
    this.pool = pool;
    this.agent = agent;
    this.level = level;
  }
}

/** An agent. `status` is chosen by the agent; `state` is set by the core. */
/** Where an agent's current offer is (see {@link Agent.offerStage}). */
export type OfferStage = 'none' | 'pending' | 'sent' | 'ringing';

/**
 * A talking call's consultation of another agent: none, that agent's phone rings, they talk (the
 * caller held), or all three talk in a conference (the consulted agent hears the caller too).
 */
export type ConsultStage = 'none' | 'ringing' | 'talking' | 'conference';

export class Agent {
  readonly id: string;
  readonly order: number;
  /** Replaced as a whole by `Acd.setAgentSkills` (never mutated in place: views hand it out). */
  skills: Readonly<Record<string, number>>;
  readonly members: Member[] = [];
  readonly lanes: Lane[] = [];
  status: AgentStatus = 'loggedOut';
  reason: string | null = null;
  pendingStatus: AgentStatus | null = null;
  pendingReason: string | null = null;
  state: AgentState = 'idle';
  call: Call | null = null;
  idleSince: Millis = 0;
  callsHandled = 0;
  talkTimeMs = 0;
  lastOfferSeq = 0;
  /**
   * How far the current offer got: decided (the INVITE has not left yet), sent, or ringing (the
   * phone said so). Only an offer that rang can be the agent's ring-no-answer.
   */
  offerStage: OfferStage = 'none';
  /** Offers in a row that ended without the phone confirming it rang (late or unreached). */
  unconfirmedOffers = 0;
  /** True while the agent's members sit in their pools' idle heaps. */
  inIdleHeaps = false;
  /** Calls waiting for this agent alone (preferred-agent phase); created on first use. */
  preferredCalls: IndexedHeap<CallNode> | null = null;
  /** The talking call this agent is reserved for as the consulted party (not its own call), or null. */
  consultFor: Call | null = null;
  readonly timer: TimerNode;

  constructor(id: string, order: number, skills: Readonly<Record<string, number>>) {
    this.id = id;
    this.order = order;
    this.skills = skills;
    this.timer = new TimerNode(null, this);
  }
}

/**
 * Agents with `skill` at `minLevel` or above, their idle ones ordered by one strategy. Queues that
 * share skill, level and strategy share the pool.
 */
export class Pool {
  readonly skill: string;
  readonly minLevel: number;
  readonly idle: IndexedHeap<Member>;
  readonly lanes: Lane[] = [];
  readonly members: Member[] = [];
  /** Members whose status is 'available', whatever their state. */
  staffed = 0;

  readonly strategyName: string;

  /** `before` comes from {@link memberBefore}, one function per strategy shared by its pools. */
  constructor(skill: string, minLevel: number, strategyName: string, before: (a: Member, b: Member) => boolean) {
    this.skill = skill;
    this.minLevel = minLevel;
    this.strategyName = strategyName;
    this.idle = new IndexedHeap<Member>(before);
  }
}

/**
 * Heap order of idle members for a strategy: the comparator, then roster order. Built once per
 * strategy and shared by all its pools, so the heap's comparison call site sees a handful of
 * functions rather than one closure per pool (which would keep V8 from inlining it).
 */
export function memberBefore(compare: StrategyComparator): (a: Member, b: Member) => boolean {
  return (a, b) => {
    const c = compare(a, b);
    return c !== 0 ? c < 0 : a.agent.order < b.agent.order;
  };
}

/**
 * The entries of one lane in queue order (keys −priority, rank, seq in a {@link KeyHeap}), with a
 * copy of the head's keys: an agent that frees up compares the heads of a few dozen lanes, and
 * reading them here, instead of through heap → node → call, saves dependent memory loads per lane on
 * the hottest path of the core.
 */
export class LaneHeap {
  readonly queue: Queue;
  private readonly heap = new KeyHeap<CallNode>(8);
  /** The head call, null when empty; the fields below copy its keys. */
  head: Call | null = null;
  priority = 0;
  returned = false;
  arrival = 0;
  rank = 0;
  seq = 0;

  constructor(queue: Queue) {
    this.queue = queue;
  }

  /** Add an entry (a node in no heap), keyed by its call's current keys. */
  push(node: CallNode): void {
    const c = node.call;
    this.heap.set(node, -c.priority, c.rank, c.seq);
    if (node.heapIndex === 0) this.refresh();
  }

  /** Remove an entry if it is here. */
  remove(node: CallNode): void {
    const wasHead = node.heapIndex === 0;
    if (this.heap.remove(node) && wasHead) this.refresh();
  }

  /** Re-key an entry after its call's keys changed. */
  update(node: CallNode): void {
    const c = node.call;
    this.heap.set(node, -c.priority, c.rank, c.seq);
    this.refresh();
  }

  private refresh(): void {
    const node = this.heap.peek();
    if (node === undefined) {
      this.head = null;
      return;
    }
    const call = node.call;
    this.head = call;
    this.priority = call.priority;
    this.returned = call.returned;
    this.arrival = call.arrivalTime;
    this.rank = call.rank;
    this.seq = call.seq;
  }
}

/** The calls of one queue that one pool may take: live callers and callback tasks apart. */
export class Lane {
  readonly queue: Queue;
  readonly pool: Pool;
  readonly live: LaneHeap;
  readonly callbacks: LaneHeap;
  constructor(queue: Queue, pool: Pool) {
    this.queue = queue;
    this.pool = pool;
    this.live = new LaneHeap(queue);
    this.callbacks = new LaneHeap(queue);
  }
}

/**
 * An expansion step, resolved: the pools (and the queue's lanes for them) a call at this step is
 * eligible for, cumulative over the earlier steps but without dominated pools: a pool of the same
 * skill and strategy at a higher level is a subset of the lower-level one, so listing both would only
 * make a call sit in, and be removed from, one more lane.
 */
export interface Step {
  afterMs: number;
  queueLengthAtLeast: number;
  pools: Pool[];
  lanes: Lane[];
}

/** A queue with its resolved configuration, heaps and running figures. */
export class Queue {
  readonly id: string;
  readonly strategy: StrategyComparator;
  readonly serviceLevelMs: number;
  readonly maxLength: number;
  readonly maxWaitMs: number;
  readonly wrapUpMs: number;
  readonly ringTimeoutMs: number;
  readonly announcePeriodMs: number;
  readonly preferredAgentTimeoutMs: number;
  readonly weight: number;
  readonly abandonToCallback: boolean;
  readonly callbackShare: number;
  readonly callbackAboveMs: number;
  readonly overflowAboveMs: number;
  readonly steps: Step[] = [];
  fullOverflow: Queue | null = null;
  maxWaitQueue: Queue | null = null;
  admissionOverflow: Queue | null = null;
  readonly waiting = new RankedSet<QueueEntry>(entryBefore);
  liveWaiting = 0;
  callbacksWaiting = 0;
  handleTimeMs: number;
  answered = 0;
  answeredInServiceLevel = 0;
  abandoned = 0;
  /** Credit toward the next callback offer while live callers wait (see `callbackShare`). */
  callbackCredit = 0;

  constructor(id: string, strategy: StrategyComparator, o: {
    serviceLevelMs: number; maxLength: number; maxWaitMs: number; wrapUpMs: number; ringTimeoutMs: number;
    announcePeriodMs: number; preferredAgentTimeoutMs: number; weight: number; abandonToCallback: boolean;
    callbackShare: number; callbackAboveMs: number; overflowAboveMs: number; handleTimeMs: number;
  }) {
    this.id = id;
    this.strategy = strategy;
    this.serviceLevelMs = o.serviceLevelMs;
    this.maxLength = o.maxLength;
    this.maxWaitMs = o.maxWaitMs;
    this.wrapUpMs = o.wrapUpMs;
    this.ringTimeoutMs = o.ringTimeoutMs;
    this.announcePeriodMs = o.announcePeriodMs;
    this.preferredAgentTimeoutMs = o.preferredAgentTimeoutMs;
    this.weight = o.weight;
    this.abandonToCallback = o.abandonToCallback;
    this.callbackShare = o.callbackShare;
    this.callbackAboveMs = o.callbackAboveMs;
    this.overflowAboveMs = o.overflowAboveMs;
    this.handleTimeMs = o.handleTimeMs;
  }

  /** The queue's own pool (step 0). */
  get primary(): Pool {
    return this.steps[0]!.pools[0]!;
  }
}
