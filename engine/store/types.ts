/**
 * The storage interfaces of the engine: the durable outbox, callback tasks and the journal of
 * calls in progress. The SQLite implementation is the default; a PostgreSQL one can implement the
 * same interfaces later, which is why every method returns a promise even though better-sqlite3
 * is synchronous (a resolved promise costs far less than the write behind it).
 *
 * Methods take `now` (epoch ms) instead of reading a clock, so that tests and crash recovery
 * control time. When a returned promise resolves, the write is committed (durable as configured).
 */
import type { CallEvent, CallTreatment, Cdr } from '../../crm-adapter/index.ts';
import type { AttemptResult } from '../callbacks/index.ts';

export type { AttemptResult } from '../callbacks/index.ts';

/** Stable error codes of the store. */
export type StoreErrorCode = 'STORE_ERR_NOT_FOUND' | 'STORE_ERR_INVALID_STATE';

/** Result of an operation that can be refused by the current state (not a programmer error). */
export type StoreResult<T> = { ok: true; value: T } | { ok: false; code: StoreErrorCode; reason: string };

// ---------------------------------------------------------------------------------------------
// Outbox

/** What an outbox item carries. */
export type OutboxKind = 'event' | 'cdr';

/** `pending` items are delivered; `dead` letters stay in the table until requeued. */
export type OutboxStatus = 'pending' | 'dead';

/** Fields common to every outbox item. */
interface OutboxItemBase {
  /** Increasing id: the order of items of one call. */
  id: number;
  callId: string;
  status: OutboxStatus;
  createdAt: number;
  /** Delivery attempts made so far. */
  attempts: number;
  /** Earliest time of the next attempt. */
  nextAttemptAt: number;
  lastError: string | null;
}

/** An item in the outbox, its payload typed by kind. */
export type OutboxItem =
  | (OutboxItemBase & { kind: 'event'; payload: CallEvent })
  | (OutboxItemBase & { kind: 'cdr'; payload: Cdr });

/** The payload type of a kind. */
export type OutboxPayload<K extends OutboxKind> = K extends 'event' ? CallEvent : Cdr;

/** Retry schedule: exponential backoff with jitter, capped, and a dead-letter threshold. */
export interface RetryPolicy {
  /** Delay after the first failure. Default 1000 ms. */
  baseDelayMs: number;
  /** Cap of the delay. Default 300 000 ms (5 minutes). */
  maxDelayMs: number;
  /** Multiplier per failure. Default 2. */
  factor: number;
  /** Fraction of the delay removed at random (0 = none, 0.5 = up to half). Default 0.2. */
  jitter: number;
  /** An item becomes a dead letter after this many failed attempts. Default 20. */
  maxAttempts: number;
}

/** Outcome of recording a failed delivery. */
export interface FailureOutcome {
  /** True when the item became a dead letter. */
  dead: boolean;
  /** When it will be tried again, or null when dead. */
  nextAttemptAt: number | null;
}

/** Counts for metrics. */
export interface OutboxBacklog {
  /** Items waiting to be delivered. */
  pending: number;
  /** Dead letters. */
  dead: number;
  /** Calls with pending items (delivery lanes). */
  calls: number;
}

/**
 * The durable outbox: at-least-once delivery in order per call.
 *
 * Each call is a lane. Only the oldest pending item of a lane (its head) is ever handed out, so
 * a failing item of call X holds back the later items of X and nothing else. A dead letter
 * leaves the lane (otherwise the call would be stuck forever); the items after it go on.
 */
export interface OutboxStore {
  /** Append an item in its own transaction; resolves with its id once committed ("accepted"). */
  append<K extends OutboxKind>(callId: string, kind: K, payload: OutboxPayload<K>, now: number): Promise<number>;
  /**
   * Heads of the lanes due at `now`, oldest first, at most `limit`, skipping the calls in
   * `exclude` (lanes already being delivered).
   */
  due(now: number, limit: number, exclude?: ReadonlySet<string>): Promise<OutboxItem[]>;
  /** The item was delivered: remove it and let its lane go on. */
  ack(id: number, now: number): Promise<void>;
  /**
   * The delivery failed: count the attempt, keep the error, schedule the retry by the policy,
   * or make it a dead letter (after `maxAttempts`, or at once when `permanent`).
   */
  fail(id: number, now: number, error: string, permanent: boolean): Promise<FailureOutcome>;
  /** Earliest `nextAttemptAt` of any lane, or null when nothing is pending. */
  nextDueAt(): Promise<number | null>;
  backlog(): Promise<OutboxBacklog>;
  /** Items of one call (pending and dead), in order. */
  listCall(callId: string): Promise<OutboxItem[]>;
  /** Dead letters, oldest first. They are never deleted by the engine. */
  deadLetters(limit: number, offset: number): Promise<OutboxItem[]>;
  /** Put a dead letter back in line with a fresh attempt count. False when `id` is not dead. */
  requeue(id: number, now: number): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// Callback tasks

/**
 * `open` waits for its next attempt, `claimed` is being dialled (or handled by hand); the rest are
 * final: `done` (reached, or the customer called in and was served), `cancelled` (by hand, or the
 * number is on the do-not-call list), `exhausted` (the attempt policy gave up), `expired` (older
 * than the policy's expiry).
 */
export type CallbackStatus = 'open' | 'claimed' | 'done' | 'cancelled' | 'exhausted' | 'expired';

/** Every {@link CallbackStatus}, in a stable order (metrics, validation). */
export const CALLBACK_STATUSES = ['open', 'claimed', 'done', 'cancelled', 'exhausted', 'expired'] as const satisfies readonly CallbackStatus[];

/** Why a callback task exists. */
export type CallbackReason =
  | 'abandoned_queue' | 'abandoned_ivr' | 'requested' | 'engine_restart' | 'rejected_capacity' | 'failed'
  /** The queue released the caller at its maximum wait (see CdrOutcome `released_max_wait`). */
  | 'released_max_wait';

/** What the engine knows when a caller becomes a callback. */
export interface CallbackInput {
  caller: string;
  queue: string;
  /** Arrival of the call (not the time of the hang-up). */
  arrivedAt: number;
  callId: string;
  reason: CallbackReason;
  dialled: string | null;
  programme: string | null;
  customerId: string | null;
  /** The customer's IANA time zone when known (calling hours are theirs); absent or null = the policy's. */
  timeZone?: string | null;
  /**
   * The airing the call came from (engine/reports schedule.ts: resolved from the dialled number
   * and the arrival time); absent or null = none. Surge mode dials the previous airing's first.
   */
  airing?: string | null;
}

/** A callback task. */
export interface CallbackTask {
  id: number;
  caller: string;
  /** Queue of the first call; kept when the caller abandons again. */
  queue: string;
  reason: CallbackReason;
  status: CallbackStatus;
  /** Arrival of the first call: the caller's place in line. Never moves later. */
  arrivedAt: number;
  /** Arrival of the latest call merged into this task. */
  lastArrivalAt: number;
  /** Calls of this number merged into the task (1 when new). */
  abandons: number;
  firstCallId: string;
  lastCallId: string;
  dialled: string | null;
  programme: string | null;
  customerId: string | null;
  createdAt: number;
  updatedAt: number;
  claimedBy: string | null;
  claimedAt: number | null;
  /**
   * Attempts that rang (or may have rung) the customer, toward the policy's `maxAttempts`; a
   * manual {@link CallbackStore.release} counts one too. (Was `dialAttempts`.)
   */
  attempts: number;
  /** When the task is due (epoch ms): its next attempt may start from then on. */
  nextAttemptAt: number;
  /** Result of the last attempt, or null before the first. */
  lastResult: AttemptResult | null;
  /** The customer's IANA time zone, or null = the policy's. */
  timeZone: string | null;
  /** The airing of the first call merged into the task (schema version 4), or null; absent in older fakes. */
  airing?: string | null;
  closedAt: number | null;
  /** Free text given at complete/cancel/release, or what closed the task (`dnc`, `inbound`, `expired`, a result). */
  note: string | null;
}

/** One attempt to call a task back: from the offer to an agent to its result. */
export interface CallbackAttempt {
  id: number;
  taskId: number;
  /** onair call id of the attempt (the outbound leg's X-Onair-Call-ID, CDR). */
  callId: string;
  agentId: string | null;
  /** Trunk the customer was dialled through, when it got that far. */
  trunk: string | null;
  startedAt: number;
  /** Null while the attempt is in progress. */
  endedAt: number | null;
  result: AttemptResult | null;
  /** Final SIP status of the customer leg, when there was one. */
  sipStatus: number | null;
  note: string | null;
}

/** How an attempt ended, for {@link CallbackStore.finishAttempt}. */
export interface AttemptEnd {
  result: AttemptResult;
  trunk: string | null;
  sipStatus: number | null;
  note?: string;
}

/** Figures of the callback tasks, read at metrics scrape time. */
export interface CallbackFigures {
  /** Tasks by status (every status present). */
  byStatus: Record<CallbackStatus, number>;
  /** Attempts ended by this process since it started, by result (every result present). */
  attemptsByResult: Record<AttemptResult, number>;
  /** Age of the oldest open task's first arrival (s), 0 when none is open. */
  oldestOpenSeconds: number;
}

/** Filter for listing callback tasks. */
export interface CallbackFilter {
  status?: CallbackStatus | readonly CallbackStatus[];
  queue?: string;
  /** Default 100. */
  limit?: number;
  offset?: number;
}

/** Callback tasks: one open task per caller number. */
export interface CallbackStore {
  /**
   * Create a task, or merge into the open (or claimed) task of the same number: the merged task
   * keeps its original arrival time and queue, and its `abandons` counter goes up.
   */
  create(input: CallbackInput, now: number): Promise<{ task: CallbackTask; created: boolean }>;
  get(id: number): Promise<CallbackTask | null>;
  /** Ordered by original arrival (the callback order), then id. */
  list(filter?: CallbackFilter): Promise<CallbackTask[]>;
  count(filter?: Omit<CallbackFilter, 'limit' | 'offset'>): Promise<number>;
  /** open → claimed by `by` (a dialer or agent id). */
  claim(id: number, by: string, now: number): Promise<StoreResult<CallbackTask>>;
  /** Claim the oldest open task (of `queue` when given); null when none. */
  claimNext(by: string, now: number, queue?: string): Promise<CallbackTask | null>;
  /** claimed → open (not reached; try later); counts a dial attempt. */
  release(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>>;
  /** claimed → done. */
  complete(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>>;
  /** open or claimed → cancelled. */
  cancel(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>>;
  /**
   * Open tasks with `nextAttemptAt <= now`, oldest original arrival first (the first to give up is
   * the first called back), at most `limit`, skipping `excludeIds` (already in the ACD).
   */
  due(now: number, limit: number, excludeIds?: ReadonlySet<number>): Promise<CallbackTask[]>;
  /** {@link due}, only the tasks of these airings (surge mode: the previous airing's first). */
  dueOfAirings(now: number, limit: number, airings: readonly string[], excludeIds?: ReadonlySet<number>): Promise<CallbackTask[]>;
  /** open → claimed (by the agent, or `dialer`) and a new attempt, in one transaction. Refused when not open. */
  startAttempt(taskId: number, a: { callId: string; agentId: string | null }, now: number): Promise<StoreResult<{ task: CallbackTask; attempt: CallbackAttempt }>>;
  /**
   * End an attempt (refused unless it is in progress: never a double completion) and apply the
   * attempt policy to its task in the same transaction: answered → done; otherwise open again at
   * the policy's next attempt time, or exhausted (no retry for the result, or `maxAttempts`
   * reached). A task closed meanwhile (by hand, by an inbound call) keeps its status.
   */
  finishAttempt(attemptId: number, r: AttemptEnd, now: number): Promise<StoreResult<CallbackTask>>;
  /** Attempts of a task, oldest first. */
  attempts(taskId: number): Promise<CallbackAttempt[]>;
  /** open, or claimed with no attempt in progress → open and due at `at`. */
  reschedule(id: number, at: number, now: number, note?: string): Promise<StoreResult<CallbackTask>>;
  /**
   * At start: every attempt without an end (the engine stopped during it) ends `interrupted`, and
   * its task goes through the policy (default: open and due now). Returns how many.
   */
  recoverInterrupted(now: number): Promise<number>;
  /** Open tasks whose first arrival is older than the policy's expiry → expired (note `expired`). Returns how many. */
  expire(now: number): Promise<number>;
  /** Open tasks whose number is on the do-not-call list → cancelled (note `dnc`). Returns how many. */
  cancelDoNotCall(now: number): Promise<number>;
  /**
   * An inbound call of `number` (call `callId`) was answered by an agent: its open task is done
   * (note `inbound`). Null when the number had no open task.
   */
  satisfiedByInbound(number: string, callId: string, now: number): Promise<CallbackTask | null>;
  /** Figures for metrics. */
  figures(now: number): Promise<CallbackFigures>;
}

// ---------------------------------------------------------------------------------------------
// Do-not-call list

/** How a number came onto the do-not-call list. */
export type DncSource = 'api' | 'import';

/** One number on the do-not-call list. */
export interface DncEntry {
  /** As the engine stores caller numbers (see {@link normalizeDncNumber}). */
  number: string;
  addedAt: number;
  source: DncSource;
  note: string | null;
}

/** The do-not-call list: numbers never called back. */
export interface DncStore {
  /** Synchronous: asked for every due task before it is dialled (a prepared point look-up). */
  has(number: string): boolean;
  /** Add a number (again: keeps the first entry); its open callback task is cancelled (note `dnc`) in the same transaction. */
  add(number: string, now: number, source: DncSource, note?: string | null): Promise<{ entry: DncEntry; added: boolean; cancelled: number }>;
  /** Add many in one transaction; returns how many were new and how many open tasks were cancelled. */
  addMany(numbers: readonly string[], now: number, source: DncSource, note?: string | null): Promise<{ added: number; already: number; cancelled: number }>;
  /** Remove a number; false when it was not listed. */
  remove(number: string): Promise<boolean>;
  get(number: string): Promise<DncEntry | null>;
  /** Ordered by number. */
  list(limit: number, offset: number): Promise<DncEntry[]>;
  count(): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// Journal of calls in progress

/** Last recorded stage of a call in progress. */
export type JournalState = 'arrived' | 'ivr_exited' | 'queued' | 'offered' | 'answered';

/** What is known of a call when it arrives. */
export interface ArrivalInfo {
  caller: string;
  dialled: string;
  programme: string | null;
  airing: string | null;
  customerId: string | null;
  /** Queue the dialled number leads to, if known before the IVR (used if the engine dies in the IVR). */
  queue: string | null;
}

/** One call in progress. */
export interface JournalEntry extends ArrivalInfo {
  callId: string;
  state: JournalState;
  agent: string | null;
  arrivedAt: number;
  ivrExitAt: number | null;
  queuedAt: number | null;
  offeredAt: number | null;
  answeredAt: number | null;
  offers: number;
  updatedAt: number;
  /** What the caller got on arrival (the CDR's `treatment`). */
  treatment: CallTreatment;
  /** Held in ringing since (null when not held now). */
  ringingSince: number | null;
  /** Ringing time of a hold that ended. */
  ringingMs: number;
  /**
   * A bridged call whose media rtpengine relays: what another node needs to end it (the two
   * dialogs and the rtpengine call id, JSON written by engine/calls/rtpengine-relay.ts), else null.
   */
  relay: string | null;
}

/** Options of crash recovery. */
export interface RecoveryOptions {
  /** Queue for a callback of a caller who died in the IVR with no queue known. */
  fallbackQueue: string;
  /**
   * Leave answered calls relayed by rtpengine (`relay` set) in the journal and report them in
   * {@link RecoveryReport.relayed}: their audio goes on, the caller adopts and ends them. Default
   * false: they get a `failed` CDR like every other call.
   */
  keepRelayed?: boolean;
}

/** What crash recovery did. */
export interface RecoveryReport {
  /** Best estimate of when the engine died (last heartbeat or last journal write). */
  diedAt: number;
  /** Callers who were waiting: one callback each (merged by number). */
  callbacks: CallbackTask[];
  /** Call ids whose CDR (`failed`) was appended to the outbox. */
  cdrs: string[];
  /** With `keepRelayed`: the answered calls relayed by rtpengine, left in the journal (no CDR yet). */
  relayed: JournalEntry[];
}

/**
 * Calls in progress, so that a restarted engine can turn every caller who was waiting into a
 * callback. One row per call; each method is one small transaction on a prepared statement.
 * Unknown call ids are ignored by the stage methods (the call already ended).
 */
export interface CallJournal {
  arrived(callId: string, info: ArrivalInfo, at: number): Promise<void>;
  ivrExited(callId: string, at: number): Promise<void>;
  queued(callId: string, queue: string, at: number): Promise<void>;
  offered(callId: string, agent: string, at: number): Promise<void>;
  answered(callId: string, agent: string, at: number): Promise<void>;
  /** Held in `180 Ringing` without media from `at` (media-aware admission). */
  ringingHeld(callId: string, at: number): Promise<void>;
  /** The hold ended after `ringingMs` (media, an agent). */
  ringingEnded(callId: string, ringingMs: number, at: number): Promise<void>;
  /** The call's media moved to rtpengine (`relay`: what ends it elsewhere), or came back (null). */
  relayed(callId: string, relay: string | null, at: number): Promise<void>;
  get(callId: string): Promise<JournalEntry | null>;
  list(): Promise<JournalEntry[]>;
  /** Record that the engine is alive (once a second): the estimate of the crash time. */
  heartbeat(now: number): Promise<void>;
}

/** What the engine hands over when a call is over. */
export interface CallEnd {
  cdr: Cdr;
  /**
   * Events to deliver before the CDR that were not already handed over with
   * {@link Store.callEvent}. Call control sends every event as it happens and passes none here;
   * the field stays for bulk writers (benches, imports) that produce a whole call at once.
   */
  events?: CallEvent[];
  /** Set when the caller becomes (or joins) a callback task. */
  callback: CallbackInput | null;
}

/** The whole store: repositories plus the operations that must span them atomically. */
export interface Store {
  readonly outbox: OutboxStore;
  readonly callbacks: CallbackStore;
  readonly dnc: DncStore;
  readonly journal: CallJournal;
  /**
   * A call event for the CRM, as it happens: appended to the durable outbox at once (resolves when
   * committed). Events of one call are delivered in the order of these calls, and before the CDR
   * and `callback_created` of a later {@link finishCall} for the same call (one writer, increasing
   * outbox ids per lane).
   */
  callEvent(event: CallEvent, now: number): Promise<void>;
  /**
   * In one transaction: remove the call from the journal, create/merge its callback task, append
   * any remaining events, a `callback_created` event and the CDR (its `callbackId` filled in).
   */
  finishCall(end: CallEnd, now: number): Promise<{ callback: CallbackTask | null }>;
  /**
   * After an unclean stop: every journal call that had not been answered becomes a callback task
   * and gets a `failed` CDR; answered calls (cut off by the crash) get a `failed` CDR. The journal
   * is then empty. Safe to run on every start (a clean stop leaves the journal empty).
   */
  recoverAfterCrash(now: number, options: RecoveryOptions): Promise<RecoveryReport>;
  /** Close the database. Idempotent. */
  close(): Promise<void>;
}
