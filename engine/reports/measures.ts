/**
 * What one call record adds to the interval tables: the report's measures, defined once
 * (docs/reports.md has the same definitions in words and formulas; a test checks every one on
 * hand-computed fixtures). Pure: no I/O, no clock.
 *
 * A measure is either a sum (added per record, subtracted when a corrected record replaces it)
 * or a maximum (recomputed from the stored contributions when a record is replaced).
 */
import type { Cdr } from '../../crm-adapter/index.ts';

/** Bucket width of the interval tables: 15 minutes. Every rollup is a multiple of it. */
export const BUCKET_MS = 15 * 60_000;

/** Start of the 15-minute bucket holding epoch time `t`. */
export function bucketOf(t: number): number {
  return Math.floor(t / BUCKET_MS) * BUCKET_MS;
}

/** Summed measures, in table-column order. */
export const SUM_MEASURES = [
  'records', 'offered', 'answered', 'answeredInSl', 'queued', 'waitMs', 'answerWaitMs',
  'abandonedIvr', 'abandonedQueue', 'abandonedRinging', 'abandonIvrMs', 'abandonQueueMs', 'abandonRingingMs',
  'handled', 'talkMs', 'acwMs', 'holdMs', 'transfers',
  'callbacksCaptured', 'callbacksReached', 'callbackReachN', 'callbackReachMs',
  'blacklistRejections', 'capacityRejections', 'completedIvr',
] as const;
/** Maximum measures, in table-column order. */
export const MAX_MEASURES = ['waitMaxMs', 'abandonMaxMs'] as const;

/** One summed measure. */
export type SumMeasure = typeof SUM_MEASURES[number];
/** One maximum measure. */
export type MaxMeasure = typeof MAX_MEASURES[number];
/** The raw figures of a record, a bucket or a rolled-up report row. */
export type Figures = Record<SumMeasure | MaxMeasure, number>;

/** The dimensions a record is filed under (null stored as ''). */
export interface RecordKey {
  bucket: number;
  queue: string;
  agent: string;
  programme: string;
  airing: string;
  direction: 'inbound' | 'outbound';
}

/** A record as the reports read it: the CDR with the optional fields other helpers add (contract C1). */
export type ReportCdr = Cdr & { holdMs?: number; transfers?: number };

/** What the measures need besides the record. */
export interface MeasureContext {
  /** The queue's service-level threshold (config `queues[].serviceLevelMs`); 20 000 ms for an unknown queue. */
  serviceLevelMs(queue: string | null): number;
  /** First arrival of the callback task (the dedup keeps the original arrival), or null when unknown. */
  callbackArrivedAt(callbackId: number): number | null;
}

/** All-zero figures. */
export function zeroFigures(): Figures {
  const f = {} as Figures;
  for (const m of SUM_MEASURES) f[m] = 0;
  for (const m of MAX_MEASURES) f[m] = 0;
  return f;
}

/** Stage at which an abandoned caller gave up, or null when the record is not an abandon. */
export function abandonStage(cdr: Cdr): 'ivr' | 'queue' | 'ringing' | null {
  if (cdr.outcome !== 'abandoned_ivr' && cdr.outcome !== 'abandoned_queue') return null;
  // Held in 180 Ringing without media until the hang-up (issue 13's overload treatment): the
  // caller never heard the IVR nor the queue's music.
  const ringingMs = cdr.ringingMs ?? 0;
  if (cdr.treatment === 'ringing' && ringingMs > 0 && cdr.endedAt - cdr.arrivedAt <= ringingMs) return 'ringing';
  return cdr.outcome === 'abandoned_ivr' ? 'ivr' : 'queue';
}

/** The key and figures one record contributes. */
export function contribution(cdr: ReportCdr, ctx: MeasureContext): { key: RecordKey; figures: Figures } {
  const f = zeroFigures();
  const inbound = cdr.direction !== 'outbound';
  f.records = 1;
  if (inbound) {
    f.offered = 1;
    if (cdr.queuedAt !== null) {
      f.queued = 1;
      const wait = Math.max(0, (cdr.answeredAt ?? cdr.endedAt) - cdr.queuedAt);
      f.waitMs = wait;
      f.waitMaxMs = wait;
    }
    if (cdr.outcome === 'answered' && cdr.answeredAt !== null) {
      f.answered = 1;
      const asa = Math.max(0, cdr.answeredAt - (cdr.queuedAt ?? cdr.arrivedAt));
      f.answerWaitMs = asa;
      if (asa <= ctx.serviceLevelMs(cdr.queue)) f.answeredInSl = 1;
    }
    const stage = abandonStage(cdr);
    if (stage !== null) {
      const t = Math.max(0, cdr.endedAt - cdr.arrivedAt);
      if (stage === 'ivr') { f.abandonedIvr = 1; f.abandonIvrMs = t; }
      else if (stage === 'queue') { f.abandonedQueue = 1; f.abandonQueueMs = t; }
      else { f.abandonedRinging = 1; f.abandonRingingMs = t; }
      f.abandonMaxMs = t;
    }
    if (cdr.callbackId !== null) f.callbacksCaptured = 1;
    if (cdr.outcome === 'rejected_blacklist') f.blacklistRejections = 1;
    if (cdr.outcome === 'rejected_capacity') f.capacityRejections = 1;
    // Served by the IVR (an announcement, a status read out): offered, neither answered nor abandoned.
    if (cdr.outcome === 'completed_ivr') f.completedIvr = 1;
  } else if (cdr.outcome === 'answered' && cdr.callbackId !== null) {
    f.callbacksReached = 1;
    const first = ctx.callbackArrivedAt(cdr.callbackId);
    if (first !== null && cdr.answeredAt !== null) {
      f.callbackReachN = 1;
      f.callbackReachMs = Math.max(0, cdr.answeredAt - first);
    }
  }
  if (cdr.outcome === 'answered' && cdr.answeredAt !== null) {
    f.handled = 1;
    f.talkMs = cdr.talkMs;
    f.acwMs = cdr.wrapUpMs;
    f.holdMs = cdr.holdMs ?? 0;
    f.transfers = cdr.transfers ?? 0;
  }
  return {
    key: {
      bucket: bucketOf(cdr.arrivedAt), queue: cdr.queue ?? '', agent: cdr.agent ?? '', programme: cdr.programme ?? '',
      airing: cdr.airing ?? '', direction: inbound ? 'inbound' : 'outbound',
    },
    figures: f,
  };
}

/** Add `b` into `a` (sums added, maxima kept). */
export function addFigures(a: Figures, b: Figures): void {
  for (const m of SUM_MEASURES) a[m] += b[m];
  for (const m of MAX_MEASURES) a[m] = Math.max(a[m], b[m]);
}

/** Agent time by category (state intervals), milliseconds. */
export interface AgentTime {
  /** Logged in (any status but loggedOut). */
  staffedMs: number;
  /** Reserved, on a call or in wrap-up. */
  busyMs: number;
  /** Available and idle: waiting for a call. */
  idleMs: number;
  /** Not ready and idle, by reason ('' = no reason given). */
  notReadyMs: Record<string, number>;
}

/** The derived figures of a report row (docs/reports.md). Ratios are null when their divisor is 0. */
export interface Derived {
  abandoned: number;
  abandonRate: number | null;
  serviceLevel: number | null;
  asaMs: number | null;
  avgWaitMs: number | null;
  avgAbandonIvrMs: number | null;
  avgAbandonQueueMs: number | null;
  avgAbandonRingingMs: number | null;
  ahtMs: number | null;
  avgTalkMs: number | null;
  avgAcwMs: number | null;
  avgHoldMs: number | null;
  avgCallbackReachMs: number | null;
  callsPerAgentHour: number | null;
  occupancy: number | null;
}

function ratio(a: number, b: number): number | null {
  return b === 0 ? null : a / b;
}

/** Derive the report's ratios and averages from summed figures (and agent time when known). */
export function derive(f: Figures, time: AgentTime | null): Derived {
  const abandoned = f.abandonedIvr + f.abandonedQueue + f.abandonedRinging;
  return {
    abandoned,
    abandonRate: ratio(abandoned, f.offered),
    serviceLevel: ratio(f.answeredInSl, f.queued),
    asaMs: ratio(f.answerWaitMs, f.answered),
    avgWaitMs: ratio(f.waitMs, f.queued),
    avgAbandonIvrMs: ratio(f.abandonIvrMs, f.abandonedIvr),
    avgAbandonQueueMs: ratio(f.abandonQueueMs, f.abandonedQueue),
    avgAbandonRingingMs: ratio(f.abandonRingingMs, f.abandonedRinging),
    ahtMs: ratio(f.talkMs + f.acwMs, f.handled),
    avgTalkMs: ratio(f.talkMs, f.handled),
    avgAcwMs: ratio(f.acwMs, f.handled),
    avgHoldMs: ratio(f.holdMs, f.handled),
    avgCallbackReachMs: ratio(f.callbackReachMs, f.callbackReachN),
    callsPerAgentHour: time === null ? null : ratio(f.handled, time.staffedMs / 3_600_000),
    occupancy: time === null ? null : ratio(time.busyMs, time.busyMs + time.idleMs),
  };
}

/** The measures' context from the configured queues' thresholds and a callback-task look-up. */
export function measureContext(queues: readonly { id: string; serviceLevelMs: number }[], callbackArrivedAt: (id: number) => number | null): MeasureContext {
  const sl = new Map(queues.map((q) => [q.id, q.serviceLevelMs]));
  return { serviceLevelMs: (q) => (q === null ? undefined : sl.get(q)) ?? 20_000, callbackArrivedAt };
}
