import t from 'tap';
import fc from 'fast-check';
import type { CdrOutcome } from '../../crm-adapter/index.ts';
import { openDatabase, SqliteWriter } from '../db/index.ts';
import { ReportQueries, SqliteReports, batchReport, type Dimension, type Interval, type ReportCdr } from './index.ts';
import { T, context, teamOf } from './testdata/fixtures.ts';

const OUTCOMES: CdrOutcome[] = ['answered', 'abandoned_queue', 'abandoned_ivr', 'completed_ivr', 'rejected_blacklist', 'rejected_capacity', 'callback_requested', 'failed'];

/** A random record of one of 12 calls within 3 days of T (several versions per call id = corrections). */
interface Version {
  id: number; arrive: number; queueWait: number | null; answerAfter: number | null; talk: number; acw: number; hold: number | undefined;
  outcome: CdrOutcome; queue: string | null; agent: string | null; programme: string | null; outbound: boolean; ringing: boolean; callbackId: number | null;
}
const version: fc.Arbitrary<Version> = fc.record({
  id: fc.integer({ min: 0, max: 11 }),
  // Anywhere in 3 days, or at one of 8 instants 3 h apart: calls of one group on one day in
  // different buckets (a day's maximum then comes from another bucket than the corrected call's).
  arrive: fc.oneof(fc.integer({ min: 0, max: 3 * 86_400_000 }), fc.integer({ min: 0, max: 7 }).map((k) => k * 3 * 3_600_000 + 60_000)),
  queueWait: fc.option(fc.integer({ min: 0, max: 120_000 }), { nil: null }),
  answerAfter: fc.option(fc.integer({ min: 0, max: 90_000 }), { nil: null }),
  talk: fc.integer({ min: 0, max: 600_000 }),
  acw: fc.integer({ min: 0, max: 60_000 }),
  hold: fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: undefined }),
  outcome: fc.constantFrom(...OUTCOMES),
  queue: fc.constantFrom('orders', 'service', null),
  agent: fc.constantFrom('1001', '1002', '1003', null),
  programme: fc.constantFrom('kitchen', 'garden', null),
  outbound: fc.boolean(),
  ringing: fc.boolean(),
  callbackId: fc.constantFrom(7, 8, null),
});

function toCdr(v: Version): ReportCdr {
  const arrivedAt = T + v.arrive;
  const queuedAt = v.queueWait === null ? null : arrivedAt + 1000;
  const answeredAt = v.outcome === 'answered' ? (queuedAt ?? arrivedAt) + (v.answerAfter ?? 0) : null;
  const endedAt = (answeredAt ?? (queuedAt ?? arrivedAt) + (v.queueWait ?? 0)) + (answeredAt === null ? 0 : v.talk);
  return {
    contractVersion: 1, callId: `c${v.id}`, caller: '1', dialled: '2', programme: v.programme, airing: v.programme === null ? null : `${v.programme}-a`,
    queue: v.queue, agent: v.agent, customerId: null, outcome: v.outcome, arrivedAt, ivrExitAt: null, queuedAt, offeredAt: null, answeredAt, endedAt,
    wrapUpEndAt: null, waitMs: 0, talkMs: answeredAt === null ? 0 : v.talk, wrapUpMs: v.acw, offers: 0, releasedBy: 'caller', callbackId: v.callbackId,
    direction: v.outbound ? 'outbound' : 'inbound', treatment: v.ringing ? 'ringing' : 'media', ringingMs: v.ringing ? endedAt - arrivedAt : 0,
    ...(v.hold === undefined ? {} : { holdMs: v.hold }),
  };
}

const GROUPS: Dimension[][] = [[], ['queue'], ['agent'], ['team'], ['programme', 'airing'], ['queue', 'programme', 'direction'], ['agent', 'queue'], ['team', 'direction'], ['agent', 'programme']];
const INTERVALS: Interval[] = ['15m', '30m', '60m', 'day', 'all'];

t.test('incremental tables == batch recomputation, for any order of arrivals and corrections', async (t) => {
  fc.assert(fc.property(fc.array(version, { minLength: 1, maxLength: 40 }), fc.constantFrom(...GROUPS), fc.constantFrom(...INTERVALS), fc.integer({ min: -86_400_000, max: 86_400_000 }), fc.integer({ min: 1, max: 4 * 86_400_000 }), (versions, group, interval, fromOff, len) => {
    const db = openDatabase({ path: ':memory:' });
    try {
      const reports = new SqliteReports({ db, writer: new SqliteWriter(db, false), context, now: T });
      const last = new Map<string, ReportCdr>();
      for (const v of versions) {
        const cdr = toCdr(v);
        reports.ingestSync(cdr);
        last.set(cdr.callId, cdr);
      }
      const q = { group, interval, from: T + fromOff, to: T + fromOff + len };
      const incremental = new ReportQueries({ db, teamOf }).run(q).map((r) => ({ ...r, agentTime: null, derived: null }));
      const batch = batchReport(last.values(), context, q, teamOf).map((r) => ({ ...r, agentTime: null, derived: null }));
      t.strictSame(incremental, batch);
      return true;
    } finally {
      db.close();
    }
  }), { numRuns: 400 });
});
