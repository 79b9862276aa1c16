/**
 * Public vocabulary of the ACD core: configuration, inputs, effects, snapshots and errors.
 * Everything here is plain data so the runtime can log it, journal it or send it over a socket.
 */

/** Milliseconds on the runtime's monotonic clock. Every input carries one; the core never reads a clock. */
export type Millis = number;

/** Names of the built-in routing strategies (see `strategy.ts` and docs/acd.md). */
export type BuiltinStrategyName = 'longestIdle' | 'leastCalls' | 'leastTalkTime' | 'skillLevel' | 'roundRobin';

/** A skill and the lowest proficiency (1..100 by convention; higher is better) an agent needs. */
export interface SkillTarget {
  skill: string;
  minLevel: number;
}

/**
 * One overflow / expansion step ("bullseye ring"). A call reaches the step when it has waited
 * `afterMs` in its queue, or when it arrives while the queue already holds `queueLengthAtLeast`
 * calls, whichever comes first. Steps are cumulative: reaching step k makes the call eligible for the
 * targets of steps 0..k, so lowering a level is written as a target with the same skill and a lower
 * `minLevel`, and adding a group is a target with another skill.
 */
export interface ExpansionStep {
  afterMs?: number;
  queueLengthAtLeast?: number;
  add: readonly SkillTarget[];
}

/**
 * Admission control: thresholds on the estimated wait of a new caller. Above `callbackAboveMs` the
 * caller is offered a callback (`callbackOffer` effect; the call is queued meanwhile); above
 * `overflowAboveMs` the caller goes to `overflowQueueId` instead of this queue.
 */
export interface AdmissionConfig {
  callbackAboveMs?: number;
  overflowAboveMs?: number;
  overflowQueueId?: string;
}

/** A queue (skill group) as configured. Optional fields default as documented. */
export interface QueueConfig {
  id: string;
  /** Skill an agent needs; defaults to the queue id. */
  skill?: string;
  /** Lowest level of `skill` that serves this queue; default 1. */
  minLevel?: number;
  /** Built-in or plugged strategy name; default 'longestIdle'. */
  strategy?: string;
  /** Service-level target: a call answered within this wait counts as "in service level"; default 20 s. */
  serviceLevelMs?: number;
  /** Calls beyond this many waiting are refused (or sent to `fullOverflowQueueId`); default unlimited. */
  maxLength?: number;
  /** Queue to send callers to when full, instead of refusing them. */
  fullOverflowQueueId?: string;
  /** A call waiting this long leaves the queue (to `maxWaitQueueId`, or ends as 'maxWait'); default unlimited. */
  maxWaitMs?: number;
  maxWaitQueueId?: string;
  /** Wrap-up after each call; default 0 (idle at once). */
  wrapUpMs?: number;
  /** Ring-no-answer timeout for an offer; the core times out offers itself via `tick`; default 20 s; 0 = never. */
  ringTimeoutMs?: number;
  /** Period of position / wait announcements to each waiting live caller; default 0 (none). */
  announcePeriodMs?: number;
  /** How long a call with a preferred agent waits for that agent alone before any agent may take it; default 0. */
  preferredAgentTimeoutMs?: number;
  /** Weight of this queue's waiting time when an agent chooses among its queues; default 1. */
  weight?: number;
  /** Expansion steps, ordered as written. */
  expansion?: readonly ExpansionStep[];
  /** A caller who hangs up while waiting becomes a callback task; default false. */
  abandonToCallback?: boolean;
  /**
   * Share (0..1) of this queue's offers that may go to callbacks even while live callers of equal
   * priority wait; default 0 (callbacks only when no live caller of equal or higher priority waits).
   */
  callbackShare?: number;
  admission?: AdmissionConfig;
  /** Starting value of the handle-time average before any call was handled; default 180 s. */
  initialHandleTimeMs?: number;
}

/** An agent as configured or added at run time. Skills map to levels (higher is better). */
export interface AgentConfig {
  id: string;
  skills: Readonly<Record<string, number>>;
}

/**
 * Everything a strategy may look at. These fields never change while an agent is idle, which is what
 * lets idle agents sit in heaps ordered by the strategy.
 */
export interface StrategyCandidate {
  /** Level of the agent in the pool's skill. */
  readonly level: number;
  readonly agent: {
    readonly id: string;
    /** Position in the roster (configuration order, then order added): the last tie-breaker. */
    readonly order: number;
    readonly idleSince: Millis;
    readonly callsHandled: number;
    readonly talkTimeMs: number;
    /** Global sequence number of this agent's last offer (0 = never offered). */
    readonly lastOfferSeq: number;
  };
}

/** A strategy is a comparator: negative when `a` should get the call before `b`. */
export type StrategyComparator = (a: StrategyCandidate, b: StrategyCandidate) => number;

/** The whole ACD configuration, validated once by the constructor. */
export interface AcdConfig {
  queues: readonly QueueConfig[];
  agents?: readonly AgentConfig[];
  /** Extra strategies by name; may not shadow built-ins. */
  strategies?: Readonly<Record<string, StrategyComparator>>;
  /** EWMA weight of the newest handle time; default 0.1. */
  handleTimeAlpha?: number;
}

/** A new caller (or, with `kind: 'callback'`, a callback task). */
export interface CallInput {
  id: string;
  queueId: string;
  callerNumber: string;
  dialledNumber?: string;
  /** Higher first; default 0. VIP callers get a higher number. */
  priority?: number;
  /** Original arrival time; defaults to `now`. Callback tasks keep the caller's. */
  arrivalTime?: Millis;
  preferredAgentId?: string;
}

/** A callback task to add: same fields as a call, arrival time required. */
export interface CallbackInput extends CallInput {
  arrivalTime: Millis;
}

/** What is being routed. */
export type CallKind = 'call' | 'callback';

/** Agent-chosen status. */
export type AgentStatus = 'loggedOut' | 'available' | 'notReady';

/** System-set state. */
export type AgentState = 'idle' | 'reserved' | 'onCall' | 'wrapUp';

/** Lifecycle of a call or callback inside the core. */
export type CallState = 'waiting' | 'offered' | 'talking' | 'ended';

/** Why a call left the core; each call gets exactly one. */
export type CallOutcome =
  | 'completed' // answered, then ended
  | 'abandoned' // caller hung up before being answered
  | 'rejected' // refused at entry: queue full and no overflow queue
  | 'maxWait' // waited `maxWaitMs` and no `maxWaitQueueId`
  | 'callback' // live caller accepted a callback and hung up; a callback task carries on
  | 'merged' // callback task folded into an existing task for the same number
  | 'satisfied' // callback task dropped because the same number was answered live
  | 'unreached'; // callback task whose customer was not reached (busy, no answer...): the store reschedules it

/** Why an offer was withdrawn. */
export type CancelReason = 'ringTimeout' | 'abandoned' | 'agentStatus' | 'transfer';

/** Why a call moved to another queue. */
export type OverflowReason = 'queueFull' | 'maxWait' | 'ewt';

/** Stable codes of {@link AcdError} and of `error` effects. */
export type AcdErrorCode =
  | 'ACD_ERR_INVALID_CONFIG'
  | 'ACD_ERR_UNKNOWN_QUEUE'
  | 'ACD_ERR_UNKNOWN_AGENT'
  | 'ACD_ERR_UNKNOWN_CALL'
  | 'ACD_ERR_DUPLICATE_CALL'
  | 'ACD_ERR_DUPLICATE_AGENT'
  | 'ACD_ERR_INVALID_STATE';

/**
 * Thrown only by the constructor (and `addAgent` on a malformed agent): a bad configuration is a
 * programmer error. Run-time inputs never throw; they return an `error` effect with the same codes.
 */
export class AcdError extends Error {
  readonly code: AcdErrorCode;
  constructor(code: AcdErrorCode, message: string) {
    super(message);
    this.name = 'AcdError';
    this.code = code;
  }
}

/**
 * What the runtime must do, in order. Discriminated on `type`.
 *
 * - `offer`: ring `agentId` with `callId`; the core times the ring itself (`ringTimeoutMs`, via tick).
 * - `cancelOffer`: stop ringing.
 * - `announce`: tell a waiting caller their exact position (1 = next) and estimated wait.
 * - `overflowed`: the call now waits in `toQueueId`.
 * - `callbackOffer`: admission control suggests offering the caller a callback (`acceptCallback`).
 * - `callbackCreated`: a callback task now waits (it keeps `arrivalTime` of the original caller).
 * - `agentStateChanged`: an agent's state or status changed.
 * - `ended`: terminal; exactly one per call id.
 * - `error`: the input was refused and changed nothing.
 */
export type AcdEffect =
  | { type: 'offer'; callId: string; agentId: string; queueId: string; kind: CallKind; ringTimeoutMs: number }
  | { type: 'cancelOffer'; callId: string; agentId: string; reason: CancelReason }
  | { type: 'announce'; callId: string; queueId: string; position: number; ewtMs: number }
  | { type: 'overflowed'; callId: string; fromQueueId: string; toQueueId: string; reason: OverflowReason }
  | { type: 'callbackOffer'; callId: string; queueId: string; ewtMs: number }
  | { type: 'callbackCreated'; callId: string; queueId: string; callerNumber: string; arrivalTime: Millis; fromCallId: string | null }
  | { type: 'agentStateChanged'; agentId: string; state: AgentState; status: AgentStatus; reason: string | null }
  | { type: 'ended'; callId: string; queueId: string; kind: CallKind; outcome: CallOutcome }
  | { type: 'error'; code: AcdErrorCode; message: string };

/** Effect type names. */
export type AcdEffectType = AcdEffect['type'];

/** Per-queue figures in a {@link AcdSnapshot}. */
export interface QueueSnapshot {
  queueId: string;
  /** Live callers waiting (not ringing). */
  waiting: number;
  callbacksWaiting: number;
  /** Wait of the longest-waiting entry (live or callback), 0 when empty. */
  oldestWaitMs: number;
  /** Estimated wait of a new caller; Infinity when no agent is staffed. */
  ewtMs: number;
  /** Available (status) agents with the queue's own skill, whatever their state. */
  staffed: number;
  /** Of those, idle now. */
  idle: number;
  answered: number;
  answeredInServiceLevel: number;
  abandoned: number;
  /** answeredInServiceLevel / (answered + abandoned); 1 when nothing happened yet. */
  serviceLevel: number;
  /** Current handle-time average (talk + wrap-up). */
  handleTimeMs: number;
}

/** Whole-core snapshot; O(queues), never O(calls). */
export interface AcdSnapshot {
  at: Millis;
  queues: QueueSnapshot[];
  agentsByState: Record<AgentState, number>;
  agentsByStatus: Record<AgentStatus, number>;
  /** Agents reserved for an offer whose INVITE has not left the engine yet (late offers under load). */
  offersPendingSend: number;
}

/** Read-only view of one call, for the API and tests. */
export interface CallView {
  id: string;
  kind: CallKind;
  queueId: string;
  state: CallState;
  priority: number;
  arrivalTime: Millis;
  enteredAt: Millis;
  /** Expansion step reached (0 = only the queue's own skill). */
  step: number;
  /** True while only the preferred agent may take the call. */
  preferredOnly: boolean;
  preferredAgentId: string | null;
  /** Sent back to the head of its queue after a ring-no-answer / reject. */
  returnedToHead: boolean;
  agentId: string | null;
  callerNumber: string;
  dialledNumber: string;
}

/** Read-only view of one agent. */
export interface AgentView {
  id: string;
  status: AgentStatus;
  /** Status asked for during a call, applied after wrap-up. */
  pendingStatus: AgentStatus | null;
  reason: string | null;
  state: AgentState;
  callId: string | null;
  skills: Readonly<Record<string, number>>;
  callsHandled: number;
  talkTimeMs: number;
  idleSince: Millis;
}
