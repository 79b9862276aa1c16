/**
 * The engine's report against the bench's truth (compare.ts): the figures per caller by the
 * reports' definitions, the differences, and the call that explains each.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase, SqliteWriter } from '../../engine/db/index.ts';
import { SqliteReports, ReportQueries, measureContext } from '../../engine/reports/index.ts';
import type { Cdr as EngineCdr } from '../../crm-adapter/index.ts';
import { benchCounts, compareReport, readFiledCalls, reportTotals, type FiledCall } from './compare.ts';
import type { Cdr } from './truth.ts';

const T0 = Date.UTC(2026, 11, 7, 20, 0, 0);
const W = { from: T0, to: T0 + 600_000, programme: 'smoke' };

function cdr(caller: string, outcome: string, callId = `c-${caller}`, direction = 'inbound'): Cdr {
  return { caller, outcome, queue: 'orders', waitMs: 0, answeredAt: outcome === 'answered' ? T0 + 5000 : null, arrivedAt: T0 + 1000, callId, direction };
}

function filed(callId: string, c: Partial<FiledCall> = {}): FiledCall {
  return { callId, bucket: T0, programme: 'smoke', direction: 'inbound', offered: 1, answered: 0, abandoned: 0, ...c };
}

t.test('the bench counts a caller by the reports\' definitions', async (t) => {
  t.same(benchCounts([cdr('a', 'answered')]), { offered: 1, answered: 1, abandoned: 0 });
  t.same(benchCounts([cdr('a', 'abandoned_queue')]), { offered: 1, answered: 0, abandoned: 1 });
  t.same(benchCounts([cdr('a', 'abandoned_ivr')]), { offered: 1, answered: 0, abandoned: 1 });
  for (const o of ['completed_ivr', 'callback_requested', 'released_max_wait', 'rejected_blacklist', 'rejected_capacity', 'failed']) {
    t.same(benchCounts([cdr('a', o)]), { offered: 1, answered: 0, abandoned: 0 }, `${o}: offered, not abandoned`);
  }
  t.same(benchCounts([]), { offered: 1, answered: 0, abandoned: 0 }, 'dialled without a record: offered by the bench');
});

t.test('every call agrees: zero differences, nothing to explain', async (t) => {
  const cdrs = [cdr('a', 'answered'), cdr('b', 'abandoned_queue'), cdr('c', 'completed_ivr'), cdr('a', 'answered', 'out-1', 'outbound')];
  const fc = [filed('c-a', { answered: 1 }), filed('c-b', { abandoned: 1 }), filed('c-c'), filed('out-1', { direction: 'outbound', offered: 0, answered: 1 })];
  const c = compareReport({ dialled: [{ number: 'a' }, { number: 'b' }, { number: 'c' }], cdrs, report: { offered: 3, answered: 1, abandoned: 1 }, window: W, filed: fc });
  t.same(c.diff, { offered: 0, answered: 0, abandoned: 0 });
  t.same(c.bench, { offered: 3, answered: 1, abandoned: 1 }, 'the callback\'s outbound record is no caller\'s');
  t.same(c.explanations, []);
  t.same(c.tablesDrift, { offered: 0, answered: 0, abandoned: 0 });
});

t.test('each kind of difference is explained by its call', async (t) => {
  const dialled = ['a', 'b', 'c', 'd', 'e', 'f'].map((number) => ({ number }));
  const cdrs = [
    cdr('a', 'answered'),
    cdr('b', 'abandoned_queue'), // filed as answered
    cdr('c', 'abandoned_ivr'), // not filed at all
    cdr('d', 'answered'), // filed under another programme
    // e: no record at all (refused without one, or lost)
    cdr('f', 'answered'), cdr('f', 'answered', 'c-f2'), // two records for one caller
  ];
  const fc = [
    filed('c-a', { answered: 1 }), filed('c-b', { answered: 1 }), filed('c-d', { programme: 'other', answered: 1 }),
    filed('c-f', { answered: 1 }), filed('c-f2', { answered: 1 }),
    filed('stray', { abandoned: 1 }), // a call no dialled caller made
    filed('old', { bucket: T0 - 900_000, answered: 1 }), // before the window: not in the report, not a difference
  ];
  // The report is the sum of the filed calls in its window: a, b, f (twice), stray.
  const report = { offered: 5, answered: 4, abandoned: 1 };
  const c = compareReport({ dialled, cdrs, report, window: W, filed: fc });
  t.same(c.bench, { offered: 6, answered: 3, abandoned: 2 });
  t.same(c.diff, { offered: -1, answered: 1, abandoned: -1 });
  const why = new Map(c.explanations.map((x) => [x.number ?? x.callIds[0]!, x.why]));
  t.match(why.get('b'), /abandoned_queue: answered 1 in the report, 0 in the bench, abandoned 0 in the report, 1 in the bench/);
  t.match(why.get('c'), /not filed in the reports/);
  t.match(why.get('d'), /filed outside the report: programme 'other'/);
  t.match(why.get('e'), /no inbound CDR/);
  t.match(why.get('f'), /2 inbound records for one caller/);
  t.match(why.get('stray'), /not the inbound record of any caller this run dialled/);
  t.notOk(why.has('a') || why.has('old'), 'agreeing and out-of-window calls are not listed');
  t.same(c.tablesDrift, { offered: 0, answered: 0, abandoned: 0 }, 'the report is its filed calls');
  const drifted = compareReport({ dialled, cdrs, report: { ...report, offered: 6 }, window: W, filed: fc });
  t.same(drifted.tablesDrift, { offered: 1, answered: 0, abandoned: 0 }, 'a report that is not the sum of its filed calls');
});

t.test('without the engine\'s database only callers without any record are explained', async (t) => {
  const c = compareReport({ dialled: [{ number: 'a' }, { number: 'b' }], cdrs: [cdr('a', 'answered')], report: { offered: 1, answered: 1, abandoned: 0 }, window: W, filed: null });
  t.same(c.diff, { offered: -1, answered: 0, abandoned: 0 });
  t.same(c.explanations.map((x) => x.number), ['b']);
  t.equal(c.tablesDrift, null);
});

t.test('the filed calls and the report read from a real reports database agree with the bench', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-compare-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dbPath = path.join(dir, 'onair.db');
  const db = openDatabase({ path: dbPath });
  const writer = new SqliteWriter(db, false);
  const reports = new SqliteReports({ db, writer, context: measureContext([{ id: 'orders', serviceLevelMs: 20_000 }], () => null) });
  const base = {
    contractVersion: 1, dialled: '4008', programme: 'smoke', airing: 'a1', agent: null, customerId: null, ivrExitAt: null, offeredAt: null,
    wrapUpEndAt: null, waitMs: 0, talkMs: 0, wrapUpMs: 0, offers: 0, releasedBy: 'caller', callbackId: null, direction: 'inbound', variables: {},
  } as const;
  const engineCdrs: EngineCdr[] = [
    { ...base, callId: 'c-a', caller: 'a', queue: 'orders', outcome: 'answered', arrivedAt: T0 + 1000, queuedAt: T0 + 2000, answeredAt: T0 + 3000, endedAt: T0 + 9000, agent: '3001' },
    { ...base, callId: 'c-b', caller: 'b', queue: 'orders', outcome: 'abandoned_queue', arrivedAt: T0 + 1000, queuedAt: T0 + 2000, answeredAt: null, endedAt: T0 + 6000 },
    { ...base, callId: 'c-c', caller: 'c', queue: null, outcome: 'completed_ivr', arrivedAt: T0 + 1000, queuedAt: null, answeredAt: null, endedAt: T0 + 4000 },
    { ...base, callId: 'c-d', caller: 'd', queue: null, outcome: 'abandoned_ivr', arrivedAt: T0 + 1000, queuedAt: null, answeredAt: null, endedAt: T0 + 2000 },
  ];
  for (const x of engineCdrs) reports.ingestSync(x);
  const rows = new ReportQueries({ db }).run({ group: ['queue'], interval: 'all', from: W.from, to: W.to, filter: { programme: 'smoke', direction: 'inbound' } });
  db.close();
  const fc = readFiledCalls(dbPath);
  t.equal(fc?.length, 4, 'every filed call read back');
  const c = compareReport({
    dialled: ['a', 'b', 'c', 'd'].map((number) => ({ number })),
    cdrs: engineCdrs.map((x) => ({ caller: x.caller, outcome: x.outcome, queue: x.queue, waitMs: x.waitMs, answeredAt: x.answeredAt, arrivedAt: x.arrivedAt, callId: x.callId, direction: x.direction })),
    report: reportTotals(rows), window: W, filed: fc,
  });
  t.same(c.engine, { offered: 4, answered: 1, abandoned: 2 }, 'completed_ivr offered, not abandoned; the IVR abandon counted');
  t.same(c.diff, { offered: 0, answered: 0, abandoned: 0 });
  t.same(c.explanations, []);
  t.equal(readFiledCalls(path.join(dir, 'missing.db')), null, 'no database: null');
});
