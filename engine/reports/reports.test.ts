import t, { type Test } from 'tap';
import { migrate, openDatabase, SqliteWriter } from '../db/index.ts';
import {
  MAX_MEASURES, REPORT_MIGRATIONS, ReportQueries, SUM_MEASURES, SqliteReports, ordersApply, zeroFigures,
  type Dimension, type Figures, type ReportCdr, type ReportQuery, type ReportRow,
} from './index.ts';
import { column } from './schema.ts';
import { T, agentChanges, context, records, teamOf } from './testdata/fixtures.ts';

function setup(t: Test) {
  const db = openDatabase({ path: ':memory:' });
  t.teardown(() => db.close());
  const reports = new SqliteReports({ db, writer: new SqliteWriter(db, false), context, now: T });
  const queries = new ReportQueries({ db, teamOf });
  return { db, reports, queries };
}

function figures(o: Partial<Figures>): Figures {
  return { ...zeroFigures(), ...o };
}

const END = T + 30 * 60_000;

// Every figure of bucket 20:00, worked out by hand from testdata/fixtures.ts.
const BUCKET1 = figures({
  records: 9, offered: 8, answered: 3, answeredInSl: 2 /* c1 10 s ≤ 20, c9 25 s ≤ 30 (service); c2 30 s > 20 */,
  queued: 5 /* c1 c2 c3 c5 c9 */, waitMs: 10_000 + 30_000 + 45_000 + 6000 + 25_000, waitMaxMs: 45_000,
  answerWaitMs: 10_000 + 30_000 + 25_000,
  abandonedIvr: 1, abandonIvrMs: 8000, abandonedQueue: 1, abandonQueueMs: 50_000, abandonedRinging: 1, abandonRingingMs: 6000, abandonMaxMs: 50_000,
  handled: 4 /* c1 c2 c8 c9 */, talkMs: 180_000 + 60_000 + 60_000 + 60_000, acwMs: 30_000 + 10_000 + 5000, holdMs: 20_000, transfers: 1,
  callbacksCaptured: 1, callbacksReached: 1, callbackReachN: 1, callbackReachMs: 320_000,
  blacklistRejections: 1, capacityRejections: 1,
});
const BUCKET2 = figures({ records: 1, offered: 1, answered: 1, answeredInSl: 1, queued: 1, waitMs: 5000, waitMaxMs: 5000, answerWaitMs: 5000, handled: 1, talkMs: 60_000, acwMs: 3000 });

t.test('every figure of the fixtures by 15-minute interval, hand-computed', async (t) => {
  const { reports, queries } = setup(t);
  for (const r of records) reports.ingestSync(r);
  const rows = queries.run({ group: [], interval: '15m', from: T, to: END });
  t.equal(rows.length, 2);
  const [a, b] = rows as [ReportRow, ReportRow];
  t.same(a.figures, BUCKET1);
  t.same(b.figures, BUCKET2);
  t.equal(a.start, T);
  t.equal(a.end, T + 15 * 60_000);
  // Derived figures (docs/reports.md), by hand:
  t.equal(a.derived.abandoned, 3);
  t.equal(a.derived.abandonRate, 3 / 8);
  t.equal(a.derived.serviceLevel, 2 / 5);
  t.equal(a.derived.asaMs, 65_000 / 3);
  t.equal(a.derived.avgWaitMs, 116_000 / 5);
  t.equal(a.derived.avgAbandonIvrMs, 8000);
  t.equal(a.derived.avgAbandonQueueMs, 50_000);
  t.equal(a.derived.avgAbandonRingingMs, 6000);
  t.equal(a.derived.ahtMs, (360_000 + 45_000) / 4);
  t.equal(a.derived.avgTalkMs, 90_000);
  t.equal(a.derived.avgAcwMs, 11_250);
  t.equal(a.derived.avgHoldMs, 5000);
  t.equal(a.derived.avgCallbackReachMs, 320_000);
});

t.test('rollups: 30 min, 60 min, day, all, by queue, programme, airing, direction', async (t) => {
  const { reports, queries } = setup(t);
  for (const r of records) reports.ingestSync(r);
  const both = figures({});
  for (const m of Object.keys(both) as (keyof Figures)[]) both[m] = m.endsWith('MaxMs') ? Math.max(BUCKET1[m], BUCKET2[m]) : BUCKET1[m] + BUCKET2[m];
  for (const interval of ['30m', '60m', 'day', 'all'] as const) {
    const rows = queries.run({ group: [], interval, from: T, to: END });
    t.equal(rows.length, 1, interval);
    t.same(rows[0]!.figures, both, interval);
  }
  t.equal(queries.run({ group: [], interval: 'day', from: T, to: END })[0]!.start, Date.UTC(2026, 0, 1));
  // UTC+8: 20:00 UTC is 04:00 on 2 January in Beijing, whose day starts at 16:00 UTC on 1 January.
  t.equal(queries.run({ group: [], interval: 'day', from: T, to: END, utcOffsetMinutes: 480 })[0]!.start, Date.UTC(2026, 0, 1, 16));
  const byQueue = queries.run({ group: ['queue'], interval: 'all', from: T, to: END });
  t.same(byQueue.map((r) => [r.keys.queue, r.figures.records, r.figures.offered, r.figures.answered]),
    [[null, 3, 3, 0], ['orders', 6, 5, 3], ['service', 1, 1, 1]]);
  const service = byQueue.find((r) => r.keys.queue === 'service')!;
  t.equal(service.figures.answeredInSl, 1, 'the service queue is measured against its own 30 s threshold');
  const byProg = queries.run({ group: ['programme', 'airing'], interval: 'all', from: T, to: END });
  t.same(byProg.map((r) => [r.keys.programme, r.keys.airing, r.figures.offered, r.figures.handled]),
    [[null, null, 0, 1], ['garden', 'garden-2000', 1, 1], ['kitchen', 'kitchen-2000', 8, 3]]);
  const byDir = queries.run({ group: ['direction'], interval: 'all', from: T, to: END });
  t.same(byDir.map((r) => [r.keys.direction, r.figures.records, r.figures.callbacksReached]), [['inbound', 9, 0], ['outbound', 1, 1]]);
  const filtered = queries.run({ group: [], interval: 'all', from: T, to: END, filter: { queue: 'orders', programme: 'kitchen' } });
  t.equal(filtered[0]!.figures.records, 5);
});

t.test('by agent and team with agent time: occupancy, not ready by reason, calls per agent hour', async (t) => {
  const { reports, queries } = setup(t);
  for (const r of records) reports.ingestSync(r);
  for (const e of agentChanges) reports.agentStateSync(e);
  const rows = queries.run({ group: ['agent'], interval: '15m', from: T, to: END });
  const a1 = rows.find((r) => r.keys.agent === '1001' && r.start === T)!;
  // busy 10 s..224 s = 214 s; idle 0..10 s + 224..300 s + 600..900 s = 386 s; lunch 300..600 s.
  t.same(a1.agentTime, { staffedMs: 900_000, busyMs: 214_000, idleMs: 386_000, notReadyMs: { lunch: 300_000 } });
  t.equal(a1.derived.occupancy, 214_000 / 600_000);
  t.equal(a1.figures.handled, 2, 'c1 and the callback c8');
  t.equal(a1.derived.callsPerAgentHour, 2 / 0.25);
  const a1b = rows.find((r) => r.keys.agent === '1001' && r.start === T + 900_000)!;
  t.same(a1b.agentTime, { staffedMs: 60_000, busyMs: 0, idleMs: 60_000, notReadyMs: {} });
  const team = queries.run({ group: ['team'], interval: 'all', from: T, to: END });
  const sales = team.find((r) => r.keys.team === 'sales')!;
  t.equal(sales.figures.handled, 5, 'c1 c2 c8 c9 c10');
  t.equal(sales.agentTime?.staffedMs, 960_000);
  t.equal(team.find((r) => r.keys.team === null)?.figures.records, 5, 'records without an agent: no team');
  const byQueue = queries.run({ group: ['queue'], interval: 'all', from: T, to: END });
  t.equal(byQueue[0]!.agentTime, null, 'agent time belongs to no queue');
  // A range not on a bucket boundary: the agent's calls and time are still one row.
  const whole = queries.run({ group: ['agent'], interval: 'all', from: T + 1, to: END }).filter((r) => r.keys.agent === '1001');
  t.equal(whole.length, 1);
  t.same([whole[0]!.figures.handled, whole[0]!.agentTime?.staffedMs], [3, 960_000]);
});

t.test('a redelivered or corrected record replaces its contribution (late records land in their bucket)', async (t) => {
  const { reports, queries } = setup(t);
  const c2 = records[1]!;
  // First version: wrong agent, another queue, a long wait; then the corrected record.
  reports.ingestSync({ ...c2, agent: '1003', queue: 'service', queuedAt: c2.arrivedAt, answeredAt: c2.arrivedAt + 200_000, talkMs: 999 });
  for (const r of records) reports.ingestSync(r);
  reports.ingestSync(records[2]!); // c3 delivered twice
  const rows = queries.run({ group: [], interval: '15m', from: T, to: END });
  t.same(rows[0]!.figures, BUCKET1, 'the old wait max (200 s) is gone, c3 counted once');
  const agents = queries.run({ group: ['agent'], interval: 'all', from: T, to: END });
  t.notOk(agents.some((r) => r.keys.agent === '1003'), 'the wrong agent row is removed');
  const late = { ...records[0]!, callId: 'late', arrivedAt: T - 86_400_000, queuedAt: null, answeredAt: T - 86_390_000, endedAt: T - 86_300_000 };
  reports.ingestSync(late);
  const day = queries.run({ group: [], interval: 'day', from: T - 86_400_000, to: END });
  t.same(day.map((r) => r.figures.records), [1, 10], 'the late record is in its own day');
});

t.test('agent and team reports over whole days come from report_agent_days, corrections included (hand-computed)', async (t) => {
  const { db, reports, queries } = setup(t);
  const D = Date.UTC(2026, 0, 1);
  const END2 = D + 2 * 86_400_000;
  const [c1, c2, c3] = records as [ReportCdr, ReportCdr, ReportCdr];
  for (const r of records) reports.ingestSync(r);
  // c11: agent 1001 the next evening, 10 s in the queue.
  const c11 = { ...c1, callId: 'c11', arrivedAt: T + 86_400_000, queuedAt: T + 86_402_000, answeredAt: T + 86_412_000, endedAt: T + 86_472_000, talkMs: 60_000, wrapUpMs: 0 };
  reports.ingestSync(c11);
  // Corrections: c2 was 1002's, then 1001's with a 3 s wait (its 30 s was the day's maximum);
  // c1's wait 10 s → 2 s (the maximum left is c10's 5 s, in the next bucket); c3 gave up after 20 s.
  reports.ingestSync({ ...c2, agent: '1001' });
  reports.ingestSync({ ...c2, agent: '1001', answeredAt: T + 68_000 });
  reports.ingestSync({ ...c1, answeredAt: T + 6000 });
  reports.ingestSync({ ...c3, endedAt: T + 140_000 });
  const days = db.prepare<Record<string, number | string>>(
    'SELECT bucket, agent, queue, direction, records, handled, answered_in_sl, wait_ms, talk_ms, wait_max_ms, abandon_max_ms FROM report_agent_days ORDER BY bucket, agent, queue, direction').all();
  const row = (bucket: number, agent: string, queue: string, direction: string, n: number, handled: number, inSl: number, waitMs: number, talkMs: number, waitMax: number, abandonMax: number) => ({
    bucket, agent, queue, direction, records: n, handled, answered_in_sl: inSl, wait_ms: waitMs, talk_ms: talkMs, wait_max_ms: waitMax, abandon_max_ms: abandonMax,
  });
  t.same(days, [
    row(D, '', '', 'inbound', 3, 0, 0, 0, 0, 0, 8000), // c4 c6 c7
    row(D, '', 'orders', 'inbound', 2, 0, 0, 15_000 + 6000, 0, 15_000, 20_000), // c3 (corrected) c5
    row(D, '1001', 'orders', 'inbound', 3, 3, 3, 2000 + 3000 + 5000, 180_000 + 60_000 + 60_000, 5000, 0), // c1 c2 c10
    row(D, '1001', 'orders', 'outbound', 1, 1, 0, 0, 60_000, 0, 0), // c8
    row(D, '1002', 'service', 'inbound', 1, 1, 1, 25_000, 60_000, 25_000, 0), // c9; 1002's orders row left with c2
    row(D + 86_400_000, '1001', 'orders', 'inbound', 1, 1, 1, 10_000, 60_000, 10_000, 0), // c11
  ]);
  const byAgent = (): unknown[] => queries.run({ group: ['agent'], interval: 'all', from: D, to: END2 })
    .map((r) => [r.keys.agent, r.figures.records, r.figures.handled, r.figures.talkMs, r.figures.waitMaxMs, r.figures.abandonMaxMs]);
  const expected = [[null, 5, 0, 0, 15_000, 20_000], ['1001', 5, 5, 180_000 + 4 * 60_000, 10_000, 0], ['1002', 1, 1, 60_000, 25_000, 0]];
  t.same(byAgent(), expected);
  const perDay = queries.run({ group: ['team'], interval: 'day', from: D, to: END2 }).map((r) => [r.start, r.keys.team, r.figures.records]);
  t.same(perDay, [[D, null, 5], [D, 'sales', 5], [D + 86_400_000, 'sales', 1]]);
  const coarse = queries.run({ group: [], interval: 'all', from: D, to: END2 })[0]!;
  t.same([coarse.figures.records, coarse.figures.waitMaxMs, coarse.figures.abandonMaxMs], [11, 25_000, 20_000], 'c9 holds the wait maximum now, c3 the abandon one');
  // Without the 15-minute agent rows of those days the same report stands: it reads the day table.
  db.exec(`DELETE FROM report_agent_intervals WHERE bucket >= ${D} AND bucket < ${END2}`);
  t.same(byAgent(), expected);
  t.same(queries.run({ group: ['agent'], interval: 'all', from: D, to: END2, filter: { programme: 'kitchen' } }), [],
    'by agent and programme: the 15-minute table (the day table has no programme)');
});

t.test('a failing reports write does not throw into the CDR write', async (t) => {
  const { db, reports } = setup(t);
  const errors: string[] = [];
  const r2 = new SqliteReports({ db, writer: new SqliteWriter(db, false), context: { ...context, serviceLevelMs: () => { throw new Error('boom'); } }, onError: (_e, what) => errors.push(what) });
  r2.ingestSync(records[0]!);
  t.same(errors, ['cdr']);
  t.equal((db.prepare<{ n: number }>('SELECT count(*) AS n FROM report_calls').get())!.n, 0, 'nothing half-written');
  reports.ingestSync(records[0]!);
  t.equal((db.prepare<{ n: number }>('SELECT count(*) AS n FROM report_calls').get())!.n, 1);
});

t.test('callers served by the IVR (completed_ivr) are their own measure: offered, neither answered nor abandoned', async (t) => {
  const { reports, queries } = setup(t);
  const served = { ...records[3]!, callId: 'ivr1', outcome: 'completed_ivr' as const, arrivedAt: T + 30_000, endedAt: T + 75_000 };
  reports.ingestSync(served);
  reports.ingestSync(records[3]!); // c4: abandoned in the IVR
  const [row] = queries.run({ group: [], interval: 'all', from: T, to: END });
  t.match(row, { figures: { offered: 2, completedIvr: 1, abandonedIvr: 1, answered: 0 }, derived: { abandoned: 1, abandonRate: 0.5 } });
});

t.test('migration 3 fills report_agent_days from the 15-minute agent rows and indexes report_calls by the whole key', async (t) => {
  const db = openDatabase({ path: ':memory:' });
  t.teardown(() => db.close());
  migrate(db, 'reports', REPORT_MIGRATIONS.filter((m) => m.version <= 2), T);
  const insert = (bucket: number, agent: string, records: number, talk: number, waitMax: number): void => {
    db.exec(`INSERT INTO report_agent_intervals (bucket, agent, queue, programme, airing, direction, records, talk_ms, wait_max_ms)
      VALUES (${bucket}, '${agent}', 'orders', 'kitchen', 'kitchen-2000', 'inbound', ${records}, ${talk}, ${waitMax})`);
  };
  insert(T, '1001', 2, 100_000, 9000);
  insert(T + 900_000, '1001', 1, 50_000, 12_000);
  insert(T - 86_400_000, '1001', 4, 7, 1);
  insert(T, '1002', 1, 10, 3);
  new SqliteReports({ db, writer: new SqliteWriter(db, false), context, now: T });
  const D = Date.UTC(2026, 0, 1);
  t.same(db.prepare('SELECT bucket, agent, records, talk_ms, wait_max_ms FROM report_agent_days ORDER BY bucket, agent').all(), [
    { bucket: D - 86_400_000, agent: '1001', records: 4, talk_ms: 7, wait_max_ms: 1 },
    { bucket: D, agent: '1001', records: 3, talk_ms: 150_000, wait_max_ms: 12_000 },
    { bucket: D, agent: '1002', records: 1, talk_ms: 10, wait_max_ms: 3 },
  ]);
  t.same(db.prepare<{ name: string }>('PRAGMA index_list(report_calls)').all().map((i) => i.name).filter((n) => n.startsWith('report_calls_')), ['report_calls_key']);
});

t.test('migration 2 adds completed_ivr to every figure table; rows filed before keep their figures', async (t) => {
  const db = openDatabase({ path: ':memory:' });
  t.teardown(() => db.close());
  migrate(db, 'reports', REPORT_MIGRATIONS.filter((m) => m.version === 1), T);
  db.exec(`INSERT INTO report_intervals (bucket, queue, programme, airing, direction, records, offered) VALUES (${T}, 'orders', 'kitchen', 'kitchen-2000', 'inbound', 4, 4)`);
  const reports = new SqliteReports({ db, writer: new SqliteWriter(db, false), context, now: T });
  for (const table of ['report_calls', 'report_intervals', 'report_agent_intervals', 'report_days', 'report_agent_days']) {
    const cols = new Set(db.prepare<{ name: string }>(`PRAGMA table_info(${table})`).all().map((c) => c.name));
    t.same([...SUM_MEASURES, ...MAX_MEASURES].filter((m) => !cols.has(column(m))), [], `${table} has a column for every measure`);
  }
  reports.ingestSync({ ...records[3]!, callId: 'ivr1', outcome: 'completed_ivr' });
  const [row] = new ReportQueries({ db }).run({ group: [], interval: 'all', from: T, to: END });
  t.match(row!.figures, { records: 5, offered: 5, completedIvr: 1 }, 'the old row counted, the new record with its measure');
});

t.test('orders apply to a report by programme, airing or nothing, filtered by those (or inbound) only', async (t) => {
  const q = (group: Dimension[], filter: ReportQuery['filter'] = {}): ReportQuery => ({ group, interval: 'all', from: T, to: END, filter });
  t.ok(ordersApply(q([])));
  t.ok(ordersApply(q(['programme', 'airing'], { programme: 'kitchen', direction: 'inbound' })));
  t.notOk(ordersApply(q(['queue'])), 'an order has no queue');
  t.notOk(ordersApply(q(['programme', 'agent'])), 'nor is it split by agent here');
  t.notOk(ordersApply(q([], { team: 'sales' })));
  t.notOk(ordersApply(q([], { direction: 'outbound' })), 'outbound calls convert no inbound orders');
});
