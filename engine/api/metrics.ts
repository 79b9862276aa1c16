/**
 * Prometheus metrics of the engine. One {@link Metrics} object per engine holds its own prom-client
 * `Registry` (never the global one, so tests and several engines in one process do not collide).
 *
 * Two kinds of figures:
 * - **counted** by the engine through typed helpers (`sipMessage`, `queueEntered`, ...). The busiest
 *   ones (SIP messages, media packets, per-queue tallies) are plain numbers in preallocated arrays or
 *   maps, turned into prom-client samples only at scrape time: a labelled `Counter#inc` hashes its
 *   label object on every call (about 1.4 µs measured), an array cell costs about 40 ns.
 * - **computed at scrape time** from {@link MetricSources} (ACD snapshot, transactions alive, calls
 *   by phase, outbox backlog): nothing to keep in sync, nothing on the hot path (CONVENTIONS.md 14).
 *
 * Naming follows Prometheus conventions: `onair_` prefix, base units (`_seconds`), counters end in
 * `_total`, label values are bounded (SIP methods outside the known set count as `other`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AcdSnapshot, AgentState, AgentStatus, QueueSnapshot } from '../acd/index.ts';
import type { AdmissionDropKind, ConnectionRefusal, ParseErrorCode, SipDropReason, SipMessage, TransportObserver } from '../sip/index.ts';
import { ADMISSION_DROP_KINDS, CONNECTION_REFUSALS, SIP_DROP_REASONS } from '../sip/index.ts';
import type { CallbackFigures, OutboxBacklog } from '../store/index.ts';
import type { DialResult } from '../outbound/index.ts';
import { DIAL_RESULTS } from '../outbound/index.ts';
import type { CdrOutcome } from '../../crm-adapter/index.ts';
import { WORK_CLASSES, type WorkClass, type WorkClassStats } from '../sched/index.ts';
import { HA_ROLES, type HaRole } from '../ha/index.ts';
import type { CallPhase, WireAgentState, WireAgentStatus } from './types.ts';

/** Direction of a SIP message or media packet, seen from the engine. */
export type Direction = 'in' | 'out';

/** How a CRM look-up ended: `timeout` and `error` also count as failures. */
export type CrmLookupResult = 'ok' | 'timeout' | 'error';

/** Outcome of a wait in a queue, for the wait-time histogram. */
export type WaitOutcome = 'answered' | 'abandoned';

/** How one CRM delivery (CDR, call event) ended: `dead` = failed for good (dead letter). */
export type DeliveryResult = 'ok' | 'retry' | 'dead';

/** Packet counters of one media worker since it started (the worker's own running totals). */
export interface MediaWorkerCounters {
  worker: number;
  packetsIn: number;
  packetsOut: number;
  packetsLost: number;
  /** The worker's own V8 heap, bytes: committed and in use (absent from a source that does not read it). */
  heapTotal?: number;
  heapUsed?: number;
}

/** The label values known from the configuration: their series exist at 0 before the first event. */
export interface KnownLabels {
  queues: readonly string[];
  trunks: readonly string[];
}

/** `onair_build_info` labels. */
export interface BuildInfo {
  version: string;
  node: string;
}

/** Every code the SIP parser refuses with: each has a series at 0 from the start. */
export const SIP_PARSE_CODES = [
  'SIP_ERR_PARSE', 'SIP_ERR_TOO_LARGE', 'SIP_ERR_TOO_MANY_HEADERS', 'SIP_ERR_HEADER_TOO_LONG', 'SIP_ERR_VERSION',
  'SIP_ERR_MISSING_HEADER', 'SIP_ERR_CONTENT_LENGTH', 'SIP_ERR_INCOMPLETE', 'SIP_ERR_BAD_VIA',
] as const satisfies readonly ParseErrorCode[];
// Fails to compile when the parser gains a code this list lacks.
const allParseCodesListed: Exclude<ParseErrorCode, (typeof SIP_PARSE_CODES)[number]> extends never ? true : false = true;
void allParseCodesListed;
const PARSE_CODES: ReadonlySet<string> = new Set(SIP_PARSE_CODES);

function isParseCode(code: string): code is ParseErrorCode {
  return PARSE_CODES.has(code);
}

const WAIT_OUTCOMES: readonly WaitOutcome[] = ['answered', 'abandoned'];
const CRM_FAILURES: readonly Exclude<CrmLookupResult, 'ok'>[] = ['timeout', 'error'];
const DELIVERY_RESULTS: readonly DeliveryResult[] = ['ok', 'retry', 'dead'];

/** Providers read at scrape time. Any may be missing (the metric then has no samples). */
export interface MetricSources {
  /**
   * Transactions alive in the SIP transaction layer; `evicted`: answered non-INVITE server
   * transactions ended early by `sip.limits.maxRetainedNonInviteTransactions` since start.
   */
  transactions?: () => { client: number; server: number; evicted?: number };
  /** Calls in progress by phase. */
  calls?: () => Partial<Record<CallPhase, number>>;
  /** The ACD snapshot now. */
  acd?: () => AcdSnapshot;
  /** Outbox backlog (the store answers with a promise). */
  outbox?: () => OutboxBacklog | Promise<OutboxBacklog>;
  /** Callback tasks by status, attempts by result, oldest open task (the store answers with a promise). */
  callbacks?: () => CallbackFigures | Promise<CallbackFigures>;
  /** Connected WebSocket event clients (set by the API server). */
  eventClients?: () => number;
  /**
   * Agents' status and state (for `onair_agents_state`: logged-out agents have no system state
   * worth counting, the ACD keeps them `idle`).
   */
  agents?: () => readonly { status: AgentStatus; state: AgentState }[];
  /** Packet counters of every live media worker (asked of the workers at scrape time). */
  media?: () => Promise<readonly MediaWorkerCounters[]>;
  /** Per-source SIP admission: drops by the limit that refused them, sources blocked now. */
  sipAdmission?: () => { dropped: Readonly<Record<AdmissionDropKind, number>>; blockedSources: number };
  /** The main thread's work queues by class (engine/sched), when `scheduler.enabled`. */
  work?: (cls: WorkClass) => WorkClassStats;
  /** Retransmitted requests answered before they were queued (engine/sip inbound-classes.ts). */
  retransmissionsAbsorbed?: () => number;
  /** Exceptions and rejections nothing handled, which the process policy logged and survived. */
  processFaults?: () => { uncaughtException: number; unhandledRejection: number };
  /** The registrar's counters (its `stats`). */
  registrar?: () => RegistrarCounts;
  /**
   * Media-aware admission (contract C2): callers held in ringing now and since start, streams in
   * use, the capacity in force (null = no limit). Structurally `CallController.mediaFigures()`.
   */
  mediaAdmission?: () => MediaAdmissionCounts;
  /** Outbound trunks: calls in progress per trunk and its limit (`OutboundDialer.utilisation`). */
  outbound?: () => ReadonlyArray<{ trunk: string; active: number; maxConcurrent?: number }>;
  /** Mode predictive: the dialer abandon ratio over the pacer's rolling window (`PredictivePacer.abandonRatio`). */
  dialerAbandonRatio?: () => number;
  /** The active-standby node (engine/ha `HaNode.figures`), with `ha.enabled`. */
  ha?: () => { role: HaRole; epoch: number; takeovers: number; leaseUsedMaxMs: number };
  /** Outbound campaigns (engine/campaigns `CampaignStore.figures`): contacts per campaign and status, attempts by result. */
  campaigns?: () => Promise<{ contacts: ReadonlyArray<{ campaign: string; status: string; n: number }>; attemptsByResult: Readonly<Record<string, number>> }>;
  /** Transfers by kind and result (structurally `CallController.transferOutcomes()`; every series present). */
  transfers?: () => Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Bridged calls relayed by rtpengine (`media.relay: rtpengine`; structurally `RtpengineRelay.figures()`). */
  rtpengine?: () => { relayed: number; entered: number; fallbacks: Readonly<Record<string, number>> };
  /** The shop's customer notifications pending and failed, by channel (crm-adapter/shop `ShopStore.notificationCounts`). */
  shopNotifications?: () => Promise<ReadonlyArray<{ channel: string; status: string; n: number }>>;
  /** The shop's notifications delivered by this process, by channel (`NotificationWorker.sentCount`). */
  shopNotificationsSent?: () => Readonly<Record<string, number>>;
}

/** Media-aware admission figures read at scrape time (structurally `MediaAdmissionFigures` of engine/calls). */
export interface MediaAdmissionCounts {
  held: number;
  heldTotal: number;
  inUse: number;
  capacity: number | null;
}

/** Registrar counters read at scrape time (structurally the registrar's `stats`). */
export interface RegistrarCounts {
  authFailures: number;
  accountLockouts: number;
  sourceBlocks: number;
  replays: number;
  refused: number;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** prom-client's process and Node.js metrics (CPU, RSS, event-loop delay, GC), prefixed `onair_`. Default true. */
  defaultMetrics?: boolean;
  sources?: MetricSources;
}

/** Per-queue counts kept by the engine (the ACD counts answers and abandons itself). */
export interface QueueTotals {
  /** Calls that entered the queue. */
  entered: number;
  /** Refused at entry (queue full, nowhere to overflow). */
  rejected: number;
  /** Callers captured as callback tasks from this queue. */
  callbacks: number;
}

/** SIP methods counted by name; anything else is `other` so a hostile peer cannot grow the label set. */
export const SIP_METHOD_LABELS = [
  'INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'UPDATE', 'INFO', 'SUBSCRIBE', 'NOTIFY',
  'REFER', 'MESSAGE', 'PUBLISH', 'other',
] as const;

/** `status` label of `onair_sip_messages_total`: `request`, or the response class. */
export const SIP_STATUS_LABELS = ['request', '1xx', '2xx', '3xx', '4xx', '5xx', '6xx'] as const;

const DIRECTIONS: readonly Direction[] = ['in', 'out'];
const METHOD_INDEX = new Map<string, number>(SIP_METHOD_LABELS.map((m, i) => [m, i]));
const OTHER_METHOD = SIP_METHOD_LABELS.length - 1;
const SIP_CELLS = DIRECTIONS.length * SIP_METHOD_LABELS.length * SIP_STATUS_LABELS.length;

/** Routing decisions take microseconds: buckets from 1 µs to 10 ms. */
const DECISION_BUCKETS = [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2];
/**
 * INVITE to first media: the target is 20 ms p99; up to a minute, so that a surge's p99 (seconds,
 * issue 13) is a figure, not the top bucket.
 */
const FIRST_MEDIA_BUCKETS = [0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Wait of main-thread work before its turn: sub-millisecond when idle, seconds at a surge's peak. */
const SOJOURN_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10];
/** A free agent to the INVITE of its offer: the target is milliseconds. */
const OFFER_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1];
/** Waiting callers: seconds to many minutes. */
const WAIT_BUCKETS = [1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200];
/** CRM look-ups run against a deadline of tens to hundreds of ms. */
const CRM_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** ACD status and state names on the wire and in labels. */
export const WIRE_AGENT_STATUS: Readonly<Record<AgentStatus, WireAgentStatus>> = {
  available: 'available', notReady: 'not_ready', loggedOut: 'logged_out',
};
/** See {@link WIRE_AGENT_STATUS}. */
export const WIRE_AGENT_STATE: Readonly<Record<AgentState, WireAgentState>> = {
  idle: 'idle', reserved: 'reserved', onCall: 'on_call', wrapUp: 'wrap_up',
};

/**
 * The engine's metrics. Create with {@link createMetrics}; attach the scrape-time providers with
 * {@link Metrics.setSources} once the parts they read exist. Helpers take durations in
 * milliseconds (the engine's clock unit) and export seconds.
 */
export class Metrics {
  /** The registry `/metrics` renders. */
  readonly registry: Registry;
  private sources: MetricSources;
  /** [direction][method][status] flattened; see {@link Metrics.sipMessage}. */
  private readonly sipCells = new Float64Array(SIP_CELLS);
  private readonly parseRejects = new Map<string, number>();
  /** By {@link SIP_DROP_REASONS} index. */
  private readonly sipDrops = new Float64Array(SIP_DROP_REASONS.length);
  /** By {@link CONNECTION_REFUSALS} index. */
  private readonly connRefusals = new Float64Array(CONNECTION_REFUSALS.length);
  private readonly queueTallies = new Map<string, QueueTotals>();
  private readonly outcomes = new Map<string, number>();
  private readonly crmFailures = new Map<string, number>();
  /** `<kind> <outcome>` of the IVR's CRM queries (engine/calls/query.ts): both from fixed sets. */
  private readonly crmQueries = new Map<string, number>();
  /** Last counters seen per media worker: a worker that died keeps its last figures (counters never go down). */
  private readonly mediaWorkers = new Map<number, MediaWorkerCounters>();
  /** The workers of the last read: only live workers have a heap. */
  private mediaLive: readonly MediaWorkerCounters[] = [];
  /** `trunk outcome` → calls. */
  private readonly trunkCalls = new Map<string, number>();
  private readonly deliveries = new Map<string, number>();
  private readonly unrecorded = new Map<string, number>();
  /** `trunk result` → INVITEs on outbound trunks. */
  private readonly outboundCalls = new Map<string, number>();
  private known: KnownLabels = { queues: [], trunks: [] };
  private build: BuildInfo | null = null;
  private droppedClients = 0;
  private readonly decision: Histogram;
  private readonly firstMediaHistogram: Histogram;
  private readonly setupStage: Histogram<'stage'>;
  /** `onair_work_sojourn_seconds` by class, its children made once: it is observed per item. */
  private readonly sojourn: Readonly<Record<WorkClass, ReturnType<Histogram<'class'>['labels']>>>;
  private readonly offerHistogram: Histogram;
  private readonly wait: Histogram<'queue' | 'outcome'>;
  private readonly crm: Histogram;

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    this.sources = { ...options.sources };
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: 'onair_' });
      // prom-client names a few gauges `*_total` (active handles, requests, resources); a `_total`
      // that can go down breaks `rate()` and our naming rule, so they are left out. (`type` is
      // declared a numeric enum but holds the type name at run time.)
      for (const m of this.registry.getMetricsAsArray()) {
        if (String(m.type) !== 'counter' && m.name.endsWith('_total')) this.registry.removeSingleMetric(m.name);
      }
    }
    const scraped = (kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[], fill: (emit: Emit) => void | Promise<void>): void =>
      scrapedMetric(registers, kind, name, help, labelNames, fill);
    const sources = (): MetricSources => this.sources;
    const snapshot = (): AcdSnapshot | undefined => this.sources.acd?.();

    // ---- SIP
    const sipCells = this.sipCells;
    scraped('counter', 'onair_sip_messages_total', 'SIP messages by direction, method and status class (request for requests).',
      ['direction', 'method', 'status'], (emit) => {
        for (let i = 0; i < sipCells.length; i++) {
          const v = sipCells[i]!;
          if (v === 0) continue;
          const s = i % SIP_STATUS_LABELS.length;
          const m = ((i - s) / SIP_STATUS_LABELS.length) % SIP_METHOD_LABELS.length;
          const d = Math.floor(i / (SIP_STATUS_LABELS.length * SIP_METHOD_LABELS.length));
          emit({ direction: DIRECTIONS[d]!, method: SIP_METHOD_LABELS[m]!, status: SIP_STATUS_LABELS[s]! }, v);
        }
      });
    const fromMap = (name: string, help: string, label: string, counts: Map<string, number>): void =>
      scraped('counter', name, help, [label], (emit) => { for (const [value, n] of counts) emit({ [label]: value }, n); });
    fromMap('onair_sip_parse_rejects_total', 'SIP messages refused by the parser, by error code.', 'code', this.parseRejects);
    const sipDrops = this.sipDrops;
    scraped('counter', 'onair_sip_dropped_total', 'SIP messages dropped without the normal exchange, by reason (docs/operations.md, Limits and admission).',
      ['reason'], (emit) => { for (let i = 0; i < SIP_DROP_REASONS.length; i++) emit({ reason: SIP_DROP_REASONS[i]! }, sipDrops[i]!); });
    const connRefusals = this.connRefusals;
    scraped('counter', 'onair_sip_connections_refused_total', 'Inbound TCP/TLS connections closed by a limit: over the per-source cap, or no first message (TLS handshake) in time.',
      ['reason'], (emit) => { for (let i = 0; i < CONNECTION_REFUSALS.length; i++) emit({ reason: CONNECTION_REFUSALS[i]! }, connRefusals[i]!); });
    scraped('counter', 'onair_sip_admission_dropped_total', 'SIP requests dropped silently by per-source admission, by the limit that refused them.',
      ['kind'], (emit) => {
        const a = sources().sipAdmission?.();
        if (a !== undefined) for (const kind of ADMISSION_DROP_KINDS) emit({ kind }, a.dropped[kind]);
      });
    scraped('gauge', 'onair_sip_admission_blocked_sources', 'Source addresses blocked now by per-source admission.', [], (emit) => {
      const a = sources().sipAdmission?.();
      if (a !== undefined) emit({}, a.blockedSources);
    });
    scraped('gauge', 'onair_work_queued', 'Work waiting on the main thread by class (agent > record > signalling > media; docs/operations.md, Priorities under load).',
      ['class'], (emit) => { const w = sources().work; if (w) for (const c of WORK_CLASSES) emit({ class: c }, w(c).queued); });
    scraped('counter', 'onair_work_shed_total', 'Work refused because its class queue was full (requests answered 503, responses and ACKs counted as overload_shed drops).',
      ['class'], (emit) => { const w = sources().work; if (w) for (const c of WORK_CLASSES) emit({ class: c }, w(c).shed); });
    scraped('counter', 'onair_work_late_total', 'Work still queued after scheduler.tryingAfterMs (a new INVITE then gets its 100 Trying at once).',
      ['class'], (emit) => { const w = sources().work; if (w) for (const c of WORK_CLASSES) emit({ class: c }, w(c).late); });
    scraped('counter', 'onair_work_overdue_total', 'Work that waited past its class deadline (signalling: scheduler.maxSignallingWaitMs) and got the cheap answer: a new INVITE answered 503 + Retry-After and recorded with a callback task.',
      ['class'], (emit) => { const w = sources().work; if (w) for (const c of WORK_CLASSES) emit({ class: c }, w(c).overdue); });
    scraped('counter', 'onair_sip_retransmissions_absorbed_total', 'Retransmitted requests answered before they were queued (by their transaction, or 100 Trying for an INVITE still queued).',
      [], (emit) => { const r = sources().retransmissionsAbsorbed?.(); if (r !== undefined) emit({}, r); });
    const sojourn = new Histogram({
      name: 'onair_work_sojourn_seconds', help: 'Wait of main-thread work from its arrival (an inbound message: its parse) to its turn, by class (docs/operations.md, Priorities under load).',
      labelNames: ['class'], buckets: SOJOURN_BUCKETS, registers,
    });
    // Every series at 0 from the start (a class may stay empty for a long time).
    for (const c of WORK_CLASSES) sojourn.zero({ class: c });
    this.sojourn = {
      agent: sojourn.labels({ class: 'agent' }), record: sojourn.labels({ class: 'record' }),
      signalling: sojourn.labels({ class: 'signalling' }), media: sojourn.labels({ class: 'media' }),
    };
    scraped('counter', 'onair_process_faults_total', 'Exceptions and promise rejections nothing handled; logged, and the engine kept running.',
      ['kind'], (emit) => {
        const f = sources().processFaults?.();
        if (f === undefined) return;
        emit({ kind: 'uncaught_exception' }, f.uncaughtException);
        emit({ kind: 'unhandled_rejection' }, f.unhandledRejection);
      });
    // ---- active-standby (issue 19)
    scraped('gauge', 'onair_ha_role', 'Role of this node of the active-standby pair: 1 for the role it is in, 0 for the others (only active takes calls).',
      ['role'], (emit) => { const h = sources().ha?.(); if (h !== undefined) for (const role of HA_ROLES) emit({ role }, h.role === role ? 1 : 0); });
    scraped('gauge', 'onair_ha_lease_epoch', 'Fencing epoch of the lease this node holds or last held (0 before its first); it goes up at every takeover.',
      [], (emit) => { const h = sources().ha?.(); if (h !== undefined) emit({}, h.epoch); });
    scraped('counter', 'onair_ha_takeovers_total', 'Leases this node took over from another node since it started.',
      [], (emit) => { const h = sources().ha?.(); if (h !== undefined) emit({}, h.takeovers); });
    scraped('gauge', 'onair_ha_lease_used_max_seconds', 'Most of a lease gone by when a renewal extended it, since start: how close this node came to fencing itself (keep well below ha.leaseMs).',
      [], (emit) => { const h = sources().ha?.(); if (h !== undefined) emit({}, h.leaseUsedMaxMs / 1000); });
    scraped('gauge', 'onair_sip_transactions', 'SIP transactions alive, by side.', ['side'], (emit) => {
      const t = sources().transactions?.();
      if (t === undefined) return;
      emit({ side: 'client' }, t.client);
      emit({ side: 'server' }, t.server);
    });
    scraped('counter', 'onair_sip_transactions_evicted_total', 'Answered non-INVITE server transactions ended before timer J because sip.limits.maxRetainedNonInviteTransactions was reached (docs/operations.md, Limits and admission).',
      [], (emit) => {
        const evicted = sources().transactions?.().evicted;
        if (evicted !== undefined) emit({}, evicted);
      });

    // ---- calls
    scraped('gauge', 'onair_calls', 'Calls in progress by phase.', ['phase'], (emit) => {
      const byPhase = sources().calls?.();
      if (byPhase !== undefined) for (const phase of CALL_PHASES) emit({ phase }, byPhase[phase] ?? 0);
    });
    fromMap('onair_calls_ended_total', 'Calls ended, by CDR outcome.', 'outcome', this.outcomes);
    // Media-aware admission (contract C2, docs/operations.md "Overload"): read at scrape time.
    const admitted = (name: string, kind: 'counter' | 'gauge', help: string, value: (f: MediaAdmissionCounts) => number | null): void =>
      scraped(kind, name, help, [], (emit) => {
        const f = sources().mediaAdmission?.();
        const v = f === undefined ? null : value(f);
        if (v !== null) emit({}, v);
      });
    admitted('onair_calls_ringing_held', 'gauge', 'Callers held in 180 Ringing without media now (the media capacity is reached).', (f) => f.held);
    admitted('onair_calls_ringing_held_total', 'counter', 'Callers ever held in ringing without media.', (f) => f.heldTotal);
    admitted('onair_media_streams_in_use', 'gauge', 'Callers given media (IVR, hold audio) now: streams counted against the media capacity.', (f) => f.inUse);
    admitted('onair_media_capacity_streams', 'gauge', 'The media capacity in force (media.maxStreams, or measured at start for auto); +Inf when unlimited.', (f) => f.capacity ?? Infinity);
    this.firstMediaHistogram = new Histogram({
      name: 'onair_first_media_seconds', help: 'From a carrier INVITE to the first media sent to the caller.',
      buckets: FIRST_MEDIA_BUCKETS, registers,
    });
    this.setupStage = new Histogram({
      name: 'onair_call_setup_stage_seconds',
      help: "A new caller's set-up by stage, up to its media leg: signalling_queue (INVITE parsed to call control), lookup_journal (CRM look-up and journal commit), media_leg (the worker's leg allocation).",
      labelNames: ['stage'], buckets: FIRST_MEDIA_BUCKETS, registers,
    });
    for (const stage of ['signalling_queue', 'lookup_journal', 'media_leg']) this.setupStage.zero({ stage });

    // ---- queues: figures of the ACD snapshot. Answers and abandons are counted by the ACD itself.
    const perQueue = (kind: 'counter' | 'gauge', name: string, help: string, value: (q: QueueSnapshot) => number): void =>
      scraped(kind, name, help, ['queue'], (emit) => {
        for (const q of snapshot()?.queues ?? []) emit({ queue: q.queueId }, value(q));
      });
    perQueue('gauge', 'onair_queue_waiting', 'Live callers waiting in the queue (not ringing).', (q) => q.waiting);
    perQueue('gauge', 'onair_queue_callbacks_waiting', 'Callback tasks waiting in the queue.', (q) => q.callbacksWaiting);
    perQueue('gauge', 'onair_queue_oldest_wait_seconds', 'Wait of the longest-waiting entry, 0 when empty.', (q) => q.oldestWaitMs / 1000);
    perQueue('gauge', 'onair_queue_ewt_seconds', 'Estimated wait of a new caller (+Inf when nobody is staffed).', (q) => q.ewtMs / 1000);
    perQueue('gauge', 'onair_queue_agents_staffed', 'Available agents with the queue skill, whatever their state.', (q) => q.staffed);
    perQueue('gauge', 'onair_queue_agents_idle', 'Available agents with the queue skill who are idle.', (q) => q.idle);
    perQueue('gauge', 'onair_queue_service_level_ratio', 'Answered within the target over answered plus abandoned.', (q) => q.serviceLevel);
    perQueue('gauge', 'onair_queue_handle_time_seconds', 'Average handle time (talk plus wrap-up), EWMA.', (q) => q.handleTimeMs / 1000);
    perQueue('counter', 'onair_queue_answered_total', 'Calls of the queue answered by an agent.', (q) => q.answered);
    perQueue('counter', 'onair_queue_answered_in_service_level_total', 'Calls answered within the service-level target.', (q) => q.answeredInServiceLevel);
    perQueue('counter', 'onair_queue_abandoned_total', 'Callers who hung up while waiting in the queue.', (q) => q.abandoned);

    // ---- queues: counted by the engine
    const tallies = this.queueTallies;
    const tally = (name: string, help: string, field: keyof QueueTotals): void =>
      scraped('counter', name, help, ['queue'], (emit) => { for (const [queue, t] of tallies) emit({ queue }, t[field]); });
    tally('onair_queue_offered_total', 'Calls that entered the queue.', 'entered');
    tally('onair_queue_rejected_total', 'Calls refused at entry (queue full, nowhere to overflow).', 'rejected');
    tally('onair_queue_callbacks_captured_total', 'Callers turned into callback tasks from the queue.', 'callbacks');
    this.wait = new Histogram({
      name: 'onair_queue_wait_seconds', help: 'Time from entering the queue to an answer or a hang-up.',
      labelNames: ['queue', 'outcome'], buckets: WAIT_BUCKETS, registers,
    });

    // ---- agents
    scraped('gauge', 'onair_agents_state', 'Logged-in agents by system state.', ['state'], (emit) => {
      const agents = sources().agents?.();
      if (agents === undefined) return;
      const by: Record<AgentState, number> = { idle: 0, reserved: 0, onCall: 0, wrapUp: 0 };
      for (const a of agents) if (a.status !== 'loggedOut') by[a.state]++;
      for (const s of Object.keys(WIRE_AGENT_STATE) as AgentState[]) emit({ state: WIRE_AGENT_STATE[s] }, by[s]);
    });
    scraped('gauge', 'onair_agents_status', 'Agents by agent-chosen status.', ['status'], (emit) => {
      const snap = snapshot();
      if (snap === undefined) return;
      for (const s of Object.keys(WIRE_AGENT_STATUS) as AgentStatus[]) emit({ status: WIRE_AGENT_STATUS[s] }, snap.agentsByStatus[s]);
    });

    scraped('gauge', 'onair_agents_offer_pending', 'Agents reserved for an offer whose INVITE has not left the engine yet (late offers under load).', [], (emit) => {
      const snap = snapshot();
      if (snap !== undefined) emit({}, snap.offersPendingSend);
    });

    // ---- ACD
    this.decision = new Histogram({
      name: 'onair_acd_decision_seconds', help: 'Time the ACD core takes for one input (routing decision).',
      buckets: DECISION_BUCKETS, registers,
    });

    this.offerHistogram = new Histogram({
      name: 'onair_offer_latency_seconds',
      help: 'From a waiting call and an idle agent being matchable (the later of queue entry and agent idle) to the INVITE sent to the agent.',
      buckets: OFFER_BUCKETS, registers,
    });

    // ---- media
    // One round trip to the workers per scrape: prom-client starts every family's collect at once,
    // so the three packet families share the read in flight.
    let mediaRead: Promise<void> | null = null;
    const readMedia = (): Promise<void> => {
      mediaRead ??= (async () => {
        const source = sources().media;
        if (source === undefined) return;
        this.mediaLive = await source();
        for (const w of this.mediaLive) this.mediaWorkers.set(w.worker, { ...w });
      })().finally(() => { mediaRead = null; });
      return mediaRead;
    };
    const mediaCounter = (name: string, help: string, field: 'packetsIn' | 'packetsOut' | 'packetsLost'): void =>
      scraped('counter', name, help, [], async (emit) => {
        await readMedia();
        let n = 0;
        for (const w of this.mediaWorkers.values()) n += w[field];
        emit({}, n);
      });
    mediaCounter('onair_media_packets_received_total', 'RTP packets received on all legs.', 'packetsIn');
    mediaCounter('onair_media_packets_sent_total', 'RTP packets sent on all legs.', 'packetsOut');
    mediaCounter('onair_media_packets_lost_total', 'RTP packets lost (sequence gaps) on received streams.', 'packetsLost');
    // The workers' isolates are part of the process's RSS but not of onair_nodejs_heap_*
    // (the main isolate's): without this the resident memory a surge adds cannot be split.
    scraped('gauge', 'onair_media_worker_heap_bytes', "Each live media worker's V8 heap: committed (kind=total) and in use (kind=used), bytes.",
      ['worker', 'kind'], async (emit) => {
        await readMedia();
        for (const w of this.mediaLive) {
          if (w.heapTotal !== undefined) emit({ worker: String(w.worker), kind: 'total' }, w.heapTotal);
          if (w.heapUsed !== undefined) emit({ worker: String(w.worker), kind: 'used' }, w.heapUsed);
        }
      });

    // ---- CRM and outbox
    this.crm = new Histogram({
      name: 'onair_crm_lookup_seconds', help: 'Caller look-ups in the CRM, whatever their result.',
      buckets: CRM_BUCKETS, registers,
    });
    fromMap('onair_crm_lookup_failures_total', 'CRM look-ups that timed out or failed.', 'reason', this.crmFailures);
    scraped('counter', 'onair_crm_queries_total', "The IVR's CRM queries (self-service) by kind and outcome (found, notFound, timeout, error, invalid, unsupported).",
      ['kind', 'outcome'], (emit) => {
        for (const [key, n] of this.crmQueries) {
          const i = key.indexOf(' ');
          emit({ kind: key.slice(0, i), outcome: key.slice(i + 1) }, n);
        }
      });
    fromMap('onair_crm_deliveries_total', 'Deliveries of the outbox to the CRM (CDRs, call events), by result (ok, retry, dead).',
      'result', this.deliveries);
    scraped('gauge', 'onair_outbox_items', 'Items in the durable CRM outbox, by status.', ['status'], async (emit) => {
      const source = sources().outbox;
      if (source === undefined) return;
      const b = await source();
      emit({ status: 'pending' }, b.pending);
      emit({ status: 'dead' }, b.dead);
    });
    scraped('gauge', 'onair_outbox_backlog_calls', 'Calls with items waiting in the CRM outbox (delivery lanes).', [], async (emit) => {
      const source = sources().outbox;
      if (source === undefined) return;
      emit({}, (await source()).calls);
    });

    // ---- callback dialer
    const callbackFigures = async (): Promise<CallbackFigures | undefined> => sources().callbacks?.();
    scraped('gauge', 'onair_callback_tasks', 'Callback tasks in the store, by status.', ['status'], async (emit) => {
      const f = await callbackFigures();
      if (f !== undefined) for (const [status, n] of Object.entries(f.byStatus)) emit({ status }, n);
    });
    scraped('counter', 'onair_callback_attempts_total', 'Callback attempts ended by this engine process, by result.', ['result'], async (emit) => {
      const f = await callbackFigures();
      if (f !== undefined) for (const [result, n] of Object.entries(f.attemptsByResult)) emit({ result }, n);
    });
    scraped('gauge', 'onair_callback_oldest_open_seconds', 'Age of the oldest open callback task (since its first call arrived), 0 when none.', [], async (emit) => {
      const f = await callbackFigures();
      if (f !== undefined) emit({}, f.oldestOpenSeconds);
    });

    // ---- trunks
    scraped('counter', 'onair_trunk_calls_total', 'Carrier calls by trunk and CDR outcome.', ['trunk', 'outcome'], (emit) => {
      for (const [key, n] of this.trunkCalls) {
        const i = key.indexOf(' ');
        emit({ trunk: key.slice(0, i), outcome: key.slice(i + 1) }, n);
      }
    });

    // ---- outbound trunks (engine/outbound): every trunk × result exists at 0 once the dialer is a source.
    scraped('counter', 'onair_outbound_calls_total', 'INVITEs on outbound trunks by trunk and dial result (trunk "" when no trunk had room).',
      ['trunk', 'result'], (emit) => {
        for (const u of sources().outbound?.() ?? []) for (const result of DIAL_RESULTS) if (!this.outboundCalls.has(`${u.trunk} ${result}`)) emit({ trunk: u.trunk, result }, 0);
        for (const [key, n] of this.outboundCalls) {
          const i = key.indexOf(' ');
          emit({ trunk: key.slice(0, i), result: key.slice(i + 1) }, n);
        }
      });
    scraped('gauge', 'onair_outbound_active_calls', 'Calls in progress (ringing or talking) per outbound trunk.', ['trunk'], (emit) => {
      for (const u of sources().outbound?.() ?? []) emit({ trunk: u.trunk }, u.active);
    });
    scraped('gauge', 'onair_outbound_utilisation_ratio', 'Calls in progress per outbound trunk over its maxConcurrent (1 = full: new calls fail over).', ['trunk'], (emit) => {
      for (const u of sources().outbound?.() ?? []) if (u.maxConcurrent !== undefined && u.maxConcurrent > 0) emit({ trunk: u.trunk }, u.active / u.maxConcurrent);
    });

    scraped('gauge', 'onair_dialer_abandon_ratio', 'Predictive dialing: answered customers with no agent within 2 s over answered customers, rolling 30 minutes.', [], (emit) => {
      const r = sources().dialerAbandonRatio?.();
      if (r !== undefined && Number.isFinite(r)) emit({}, r);
    });

    // ---- outbound campaigns (engine/campaigns)
    scraped('gauge', 'onair_campaign_contacts', 'Campaign contacts in the store, by campaign and status.', ['campaign', 'status'], async (emit) => {
      const f = await sources().campaigns?.();
      if (f !== undefined) for (const r of f.contacts) emit({ campaign: r.campaign, status: r.status }, r.n);
    });
    scraped('counter', 'onair_campaign_attempts_total', 'Campaign contact attempts ended by this engine process, by result.', ['result'], async (emit) => {
      const f = await sources().campaigns?.();
      if (f !== undefined) for (const [result, n] of Object.entries(f.attemptsByResult)) emit({ result }, n);
    });

    // ---- transfers (engine/calls transfer.ts): REFERs from phones and API transfers.
    scraped('counter', 'onair_transfers_total', 'Transfers of calls by kind (blind REFER, attended REFER, API to a queue, agent or number) and result (ok, failed, refused).', ['kind', 'result'], (emit) => {
      const f = sources().transfers?.();
      if (f !== undefined) for (const [kind, results] of Object.entries(f)) for (const [result, n] of Object.entries(results)) emit({ kind, result }, n);
    });

    // ---- rtpengine as the relay of bridged calls (engine/calls rtpengine-relay.ts)
    scraped('gauge', 'onair_rtpengine_calls', 'Bridged calls whose two phones send their audio to rtpengine now (media.relay rtpengine).', [], (emit) => {
      const f = sources().rtpengine?.();
      if (f !== undefined) emit({}, f.relayed);
    });
    scraped('counter', 'onair_rtpengine_relayed_total', 'Bridged calls moved to rtpengine since start.', [], (emit) => {
      const f = sources().rtpengine?.();
      if (f !== undefined) emit({}, f.entered);
    });
    scraped('counter', 'onair_rtpengine_fallbacks_total', "Bridged calls left on onair's relay because rtpengine did not answer (unreachable), refused (refused) or a phone refused the move (reinvite).", ['reason'], (emit) => {
      const f = sources().rtpengine?.();
      if (f !== undefined) for (const [reason, n] of Object.entries(f.fallbacks)) emit({ reason }, n);
    });

    // ---- the shop's customer notifications (docs/shop.md, Notifications)
    scraped('gauge', 'onair_shop_notifications', 'Shop customer notifications waiting (pending) or given up (failed), by channel (email/sms).', ['channel', 'status'], async (emit) => {
      for (const r of await sources().shopNotifications?.() ?? []) emit({ channel: r.channel, status: r.status }, r.n);
    });
    scraped('counter', 'onair_shop_notifications_sent_total', 'Shop customer notifications delivered by this process, by channel.', ['channel'], (emit) => {
      for (const [channel, n] of Object.entries(sources().shopNotificationsSent?.() ?? {})) emit({ channel }, n);
    });

    fromMap('onair_trunk_refusals_unrecorded_total',
      'Capacity refusals (503 sent) of a flood whose CDR and callback were not written (the trunk\'s refusal bucket was empty).',
      'trunk', this.unrecorded);

    // ---- build
    scraped('gauge', 'onair_build_info', 'Always 1: the engine version and the Node.js version it runs on.', ['version', 'node'], (emit) => {
      if (this.build !== null) emit({ version: this.build.version, node: this.build.node }, 1);
    });

    // ---- registrar
    const registrarCount = (name: string, help: string, field: keyof RegistrarCounts): void =>
      scraped('counter', name, help, [], (emit) => {
        const c = sources().registrar?.();
        if (c !== undefined) emit({}, c[field]);
      });
    registrarCount('onair_registrar_auth_failures_total', 'REGISTER authentications that failed (403).', 'authFailures');
    registrarCount('onair_registrar_account_lockouts_total', 'Agent accounts locked after too many failed authentications.', 'accountLockouts');
    registrarCount('onair_registrar_source_blocks_total', 'Source addresses blocked after too many failed authentications.', 'sourceBlocks');
    registrarCount('onair_registrar_replays_total', 'Correct credentials refused as replays (nonce of another source, nc not rising).', 'replays');
    registrarCount('onair_registrar_refused_total', 'REGISTERs refused unread from blocked sources or for locked accounts.', 'refused');

    // ---- API
    scraped('gauge', 'onair_api_event_clients', 'Connected WebSocket event clients.', [],
      (emit) => emit({}, sources().eventClients?.() ?? 0));
    scraped('counter', 'onair_api_event_clients_dropped_total', 'Event clients disconnected for reading too slowly.', [],
      (emit) => emit({}, this.droppedClients));
  }

  /**
   * Declare the label values the configuration knows (queues, trunks) and every CDR outcome, so
   * each series exists at 0 before its first event: `rate()` and `increase()` need the zero.
   */
  declare(known: KnownLabels, outcomes: readonly CdrOutcome[]): void {
    this.known = { queues: [...known.queues], trunks: [...known.trunks] };
    for (const q of known.queues) {
      this.tallyOf(q);
      for (const outcome of WAIT_OUTCOMES) this.wait.zero({ queue: q, outcome });
    }
    for (const trunk of known.trunks) if (!this.unrecorded.has(trunk)) this.unrecorded.set(trunk, 0);
    for (const o of outcomes) {
      if (!this.outcomes.has(o)) this.outcomes.set(o, 0);
      for (const trunk of known.trunks) if (!this.trunkCalls.has(`${trunk} ${o}`)) this.trunkCalls.set(`${trunk} ${o}`, 0);
    }
    for (const r of CRM_FAILURES) if (!this.crmFailures.has(r)) this.crmFailures.set(r, 0);
    for (const c of SIP_PARSE_CODES) if (!this.parseRejects.has(c)) this.parseRejects.set(c, 0);
    for (const r of DELIVERY_RESULTS) if (!this.deliveries.has(r)) this.deliveries.set(r, 0);
  }

  /** The labels declared with {@link Metrics.declare}. */
  get knownLabels(): KnownLabels {
    return this.known;
  }

  /** Set `onair_build_info`. */
  buildInfo(info: BuildInfo): void {
    this.build = { ...info };
  }

  /** Add or replace scrape-time providers. */
  setSources(sources: MetricSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  /**
   * Count one SIP message. `status` is the response code, or undefined for a request; the method
   * of a response is its CSeq method. Hot path: one map look-up and one array increment.
   */
  sipMessage(direction: Direction, method: string, status?: number): void {
    const m = METHOD_INDEX.get(method) ?? OTHER_METHOD;
    let s = 0;
    if (status !== undefined) {
      s = (status / 100) | 0;
      if (s < 1 || s > 6) return; // the parser never lets such a status through
    }
    const d = direction === 'in' ? 0 : 1;
    this.sipCells[(d * SIP_METHOD_LABELS.length + m) * SIP_STATUS_LABELS.length + s]! += 1;
  }

  /** Count a SIP message dropped by the stack (transport observer `dropped`). */
  sipDropped(reason: SipDropReason): void {
    const i = SIP_DROP_REASONS.indexOf(reason);
    if (i >= 0) this.sipDrops[i]! += 1;
  }

  /** Count an inbound stream connection closed by a limit (transport observer `connectionRefused`). */
  sipConnectionRefused(reason: ConnectionRefusal): void {
    const i = CONNECTION_REFUSALS.indexOf(reason);
    if (i >= 0) this.connRefusals[i]! += 1;
  }

  /**
   * The transport observer that counts SIP messages in and out and parser refusals (give it to
   * `TransportLayer.observe`). Created once: no closure per message.
   */
  sipObserver(): TransportObserver {
    return {
      received: (m) => this.countSip('in', m),
      sent: (m) => this.countSip('out', m),
      // The transport's `rejected` is typed as a plain string: only the parser's codes are labels.
      rejected: (code) => { if (isParseCode(code)) this.sipParseReject(code); },
      dropped: (reason) => this.sipDropped(reason),
      connectionRefused: (reason) => this.sipConnectionRefused(reason),
    };
  }

  private countSip(direction: Direction, m: SipMessage): void {
    if (m.kind === 'request') this.sipMessage(direction, m.method);
    else this.sipMessage(direction, m.headers.cseq.method, m.status);
  }

  /** Count a message the SIP parser refused. */
  sipParseReject(code: ParseErrorCode): void {
    bump(this.parseRejects, code, 1);
  }

  /** A call entered `queue` (counted as offered to the queue). */
  queueEntered(queue: string): void {
    this.tallyOf(queue).entered++;
  }

  /** A call was refused at the entry of `queue`. */
  queueRejected(queue: string): void {
    this.tallyOf(queue).rejected++;
  }

  /** A caller of `queue` became (or joined) a callback task. */
  callbackCaptured(queue: string): void {
    this.tallyOf(queue).callbacks++;
  }

  /** A wait in `queue` ended with an answer or a hang-up after `ms`. */
  queueWait(queue: string, outcome: WaitOutcome, ms: number): void {
    this.wait.observe({ queue, outcome }, ms / 1000);
  }

  /** Counts kept by the engine for `queue` (zeros for a queue never seen). */
  queueTotals(queue: string): QueueTotals {
    const t = this.queueTallies.get(queue);
    return t === undefined ? { entered: 0, rejected: 0, callbacks: 0 } : { ...t };
  }

  /** One ACD input took `ms` (fractional: the engine measures with `performance.now()`). */
  acdDecision(ms: number): void {
    this.decision.observe(ms / 1000);
  }

  /** Work of class `cls` had its turn after waiting `ms` (the scheduler's `observe`). */
  workSojourn(cls: WorkClass, ms: number): void {
    this.sojourn[cls].observe(ms / 1000);
  }

  /** A new caller's set-up stages (ms), see `call.setupStages`. */
  setupStages(queuedMs: number, lookupMs: number, legMs: number): void {
    this.setupStage.observe({ stage: 'signalling_queue' }, queuedMs / 1000);
    this.setupStage.observe({ stage: 'lookup_journal' }, lookupMs / 1000);
    this.setupStage.observe({ stage: 'media_leg' }, legMs / 1000);
  }

  /** A carrier INVITE got its first media after `ms`. */
  firstMedia(ms: number): void {
    this.firstMediaHistogram.observe(ms / 1000);
  }

  /** An offer's INVITE left `ms` after its call and agent could be matched. */
  offerLatency(ms: number): void {
    this.offerHistogram.observe(ms / 1000);
  }


  /** A CRM look-up ended after `ms`. */
  crmLookup(ms: number, result: CrmLookupResult): void {
    this.crm.observe(ms / 1000);
    if (result !== 'ok') bump(this.crmFailures, result, 1);
  }

  /** An IVR query step's CRM query of `kind` ended with `outcome` (the QueryObserver of engine/calls). */
  crmQuery(kind: string, _ms: number, outcome: string): void {
    bump(this.crmQueries, `${kind} ${outcome}`, 1);
  }

  /** A call of `trunk` ended with this CDR outcome. */
  callEnded(outcome: CdrOutcome, trunk: string): void {
    bump(this.outcomes, outcome, 1);
    // Bounded: trunk ids come from the configuration (call control admitted the call on one).
    bump(this.trunkCalls, `${trunk} ${outcome}`, 1);
  }

  /** One INVITE on outbound `trunk` ended with `result` (the dialer's `OutboundMetrics` port). */
  outboundCall(trunk: string, result: DialResult): void {
    // Bounded: trunk ids come from the configuration, results from DIAL_RESULTS.
    bump(this.outboundCalls, `${trunk} ${result}`, 1);
  }

  /** A capacity refusal of `trunk` was not recorded (flood bound). */
  refusalUnrecorded(trunk: string): void {
    bump(this.unrecorded, trunk, 1);
  }

  /** One outbox delivery to the CRM ended. */
  crmDelivery(result: DeliveryResult): void {
    bump(this.deliveries, result, 1);
  }

  /** An event client was dropped for reading too slowly. */
  eventClientDropped(): void {
    this.droppedClients++;
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Content type of {@link Metrics.render}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  private tallyOf(queue: string): QueueTotals {
    let t = this.queueTallies.get(queue);
    if (t === undefined) {
      t = { entered: 0, rejected: 0, callbacks: 0 };
      this.queueTallies.set(queue, t);
    }
    return t;
  }
}

const CALL_PHASES: readonly CallPhase[] = ['lookup', 'ivr', 'queued', 'ringing', 'talking', 'closing'];

/** Hands one sample to a scrape-time metric. */
type Emit = (labels: Record<string, string>, value: number) => void;

/**
 * A counter or gauge whose samples are produced at scrape time by `fill`: the series are cleared
 * first, so a label that is gone (a queue removed) disappears instead of freezing.
 */
function scrapedMetric(
  registers: Registry[], kind: 'counter' | 'gauge', name: string, help: string, labelNames: string[],
  fill: (emit: Emit) => void | Promise<void>,
): void {
  if (kind === 'gauge') {
    new Gauge({ name, help, labelNames, registers, collect() { this.reset(); return fill((l, v) => this.set(l, v)); } });
  } else {
    new Counter({ name, help, labelNames, registers, collect() { this.reset(); return fill((l, v) => this.inc(l, v)); } });
  }
}

function bump(counts: Map<string, number>, key: string, n: number): void {
  counts.set(key, (counts.get(key) ?? 0) + n);
}

/** Create the engine's metrics with their own registry. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  return new Metrics(options);
}
