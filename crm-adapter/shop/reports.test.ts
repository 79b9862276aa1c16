/**
 * Orders and conversion per programme and airing (issue 18, docs/reports.md "Orders and
 * conversion"): the shop's orders counted per bucket by `ShopStore.orderBuckets`, joined into the
 * engine's report rows by engine/reports `attachOrders`, on SQLite and on PostgreSQL, against
 * figures computed by hand below.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePostgres } from '../../engine/testing/postgres.ts';
import { openDatabase, SqliteWriter } from '../../engine/db/index.ts';
import { BUCKET_MS, ReportQueries, SqliteReports, measureContext, withOrders, type ReportQuery } from '../../engine/reports/index.ts';
import type { Cdr } from '../contract.ts';
import { ShopStore, ordersByAgent, withAnswered, type ShopStoreConfig } from './index.ts';

/** 2026-12-07 12:00 UTC: the first bucket. */
const T = Date.UTC(2026, 11, 7, 12, 0, 0);
const B2 = T + BUCKET_MS;

/** The engine's records of the three answered calls (the shop stores the same records). */
function cdr(callId: string, programme: string, airing: string, arrivedAt: number): Cdr {
  return {
    contractVersion: 1, callId, caller: '+8613800000001', dialled: '4008', programme, airing, queue: 'orders', agent: '1001', customerId: null,
    outcome: 'answered', arrivedAt, ivrExitAt: null, queuedAt: arrivedAt + 1000, offeredAt: arrivedAt + 2000, answeredAt: arrivedAt + 3000,
    endedAt: arrivedAt + 60_000, wrapUpEndAt: null, waitMs: 3000, talkMs: 57_000, wrapUpMs: 0, offers: 1, releasedBy: 'caller', callbackId: null,
    direction: 'inbound', variables: {},
  };
}
const CALLS = [
  cdr('k1', 'kitchen', 'kitchen-1200', T + 60_000), // bucket T
  cdr('k2', 'kitchen', 'kitchen-1200', T + 16 * 60_000), // bucket B2
  cdr('k3', 'garden', 'garden-1200', T + 5 * 60_000), // bucket T
];

async function suite(t: Test, config: ShopStoreConfig): Promise<void> {
  // Every order is entered at T+20 min: where it is filed comes from its call.
  const store = await ShopStore.open(config, { now: () => T + 20 * 60_000 });
  t.teardown(() => store.close());
  await store.upsertProducts([
    { sku: 'WOK', nameZh: '炒锅', nameEn: 'Wok', priceFen: 39900, stock: 100, ivrZh: '炒锅', ivrEn: 'Wok', active: true },
    { sku: 'APRON', nameZh: '围裙', nameEn: 'Apron', priceFen: 4900, stock: 100, ivrZh: '围裙', ivrEn: 'Apron', active: true },
  ]);
  const made = await store.createCustomer({ name: '王丽', numbers: ['+8613800000001'] });
  if (!made.ok) throw new Error(made.reason);
  await store.addAddress(made.value.id, { recipient: '王丽', phone: '13800000001', region: '上海市', city: '上海市', line: '世纪大道100号', postcode: '200120' });
  for (const c of CALLS) {
    await store.recordCall({
      callId: c.callId, number: c.caller, customerId: null, direction: 'inbound', agent: c.agent, queue: c.queue, programme: c.programme, airing: c.airing,
      outcome: c.outcome, arrivedAt: c.arrivedAt, answeredAt: c.answeredAt, endedAt: c.endedAt, talkMs: c.talkMs, deliveryId: `d-${c.callId}`, payload: JSON.stringify(c),
    });
  }
  const order = async (sku: string, quantity: number, programme: string | null, airing: string | null, callId: string | null): Promise<string> => {
    const r = await store.createOrder({ customerId: made.value.id, items: [{ sku, quantity }], deliveryMethod: 'express', paymentMethod: 'cod', programme, airing, callId, agent: '1001' }, 'agent:1001');
    if (!r.ok) throw new Error(r.reason);
    return r.value.id;
  };
  await order('WOK', 1, 'kitchen', 'kitchen-1200', 'k1'); // o1: 39 900, bucket T (k1)
  await order('APRON', 2, 'kitchen', 'kitchen-1200', 'k1'); // o2: 9 800, bucket T (k1)
  await order('WOK', 1, 'kitchen', 'kitchen-1200', 'k2'); // o3: 39 900, bucket B2 (k2)
  await order('APRON', 1, 'garden', null, null); // o4: 4 900, no call: bucket B2 (entered T+20 min), garden without airing
  const o5 = await order('WOK', 3, 'kitchen', 'kitchen-1200', 'k1'); // o5: cancelled, not counted
  t.ok((await store.transition(o5, 'cancel', 'agent:1001', 'sales', 'changed mind')).ok, 'o5 cancelled');
  await order('APRON', 1, null, null, 'ghost'); // o6: 4 900, a call the shop has no record of: bucket B2, no programme
  await order('WOK', 1, null, null, 'k3'); // o7: 39 900, no media source entered: the call's (garden, garden-1200), bucket T

  const buckets = await store.orderBuckets(T, T + 2 * BUCKET_MS, BUCKET_MS);
  const key = (b: { bucket: number; programme: string | null; airing: string | null }): string => `${b.bucket}|${b.programme}|${b.airing}`;
  t.same([...buckets].sort((a, b) => (key(a) < key(b) ? -1 : 1)), [
    { bucket: B2, programme: 'garden', airing: null, orders: 1, valueFen: 4900 },
    { bucket: B2, programme: 'kitchen', airing: 'kitchen-1200', orders: 1, valueFen: 39_900 },
    { bucket: B2, programme: null, airing: null, orders: 1, valueFen: 4900 },
    { bucket: T, programme: 'garden', airing: 'garden-1200', orders: 1, valueFen: 39_900 },
    { bucket: T, programme: 'kitchen', airing: 'kitchen-1200', orders: 2, valueFen: 49_700 },
  ].sort((a, b) => (key(a) < key(b) ? -1 : 1)), 'orders per bucket, programme and airing, by hand');
  t.same(await store.orderBuckets(B2, B2 + BUCKET_MS, BUCKET_MS).then((x) => x.reduce((n, b) => n + b.orders, 0)), 3, '[from, to) by where the order is filed');
  await t.rejects(store.orderBuckets(T, B2, 0), RangeError, 'a bucket width must be a positive integer');

  // The engine's side: the same three calls in its interval tables, then the report with orders.
  const db = openDatabase({ path: ':memory:' });
  t.teardown(() => db.close());
  const reports = new SqliteReports({ db, writer: new SqliteWriter(db, false), context: measureContext([], () => null), now: T });
  for (const c of CALLS) reports.ingestSync(c);
  const queries = new ReportQueries({ db });
  const run = (q: ReportQuery) => withOrders(queries.run(q), store, q);

  const byProgramme = await run({ group: ['programme', 'airing'], interval: 'all', from: T, to: T + 2 * BUCKET_MS });
  t.same(byProgramme.map((r) => [r.keys.programme, r.keys.airing, r.figures.answered, r.orders]), [
    [null, null, 0, { orders: 1, valueFen: 4900, conversion: null }],
    ['garden', null, 0, { orders: 1, valueFen: 4900, conversion: null }],
    ['garden', 'garden-1200', 1, { orders: 1, valueFen: 39_900, conversion: 1 }],
    ['kitchen', 'kitchen-1200', 2, { orders: 3, valueFen: 89_600, conversion: 1.5 }],
  ], 'by programme and airing: orders, value and orders / answered');
  const kitchen15 = await run({ group: ['programme'], interval: '15m', from: T, to: T + 2 * BUCKET_MS, filter: { programme: 'kitchen' } });
  t.same(kitchen15.map((r) => [r.start, r.figures.answered, r.orders]), [
    [T, 1, { orders: 2, valueFen: 49_700, conversion: 2 }],
    [B2, 1, { orders: 1, valueFen: 39_900, conversion: 1 }],
  ], 'per 15 minutes, orders filed with the call that brought them');
  const totals = await run({ group: [], interval: 'all', from: T, to: T + 2 * BUCKET_MS });
  t.same(totals.map((r) => [r.figures.answered, r.orders]), [[3, { orders: 6, valueFen: 139_300, conversion: 2 }]], 'totals: six orders over three answered calls');
  const byQueue = await run({ group: ['queue'], interval: 'all', from: T, to: T + 2 * BUCKET_MS });
  t.same(byQueue.map((r) => r.orders), [null], 'an order has no queue: no orders in a report by queue');

  // The shop's report by agent (shop-reports.ts) with the engine's answered calls by agent, as the route joins them.
  const byAgent = queries.run({ group: ['agent'], interval: 'all', from: T, to: T + 2 * BUCKET_MS, filter: { direction: 'inbound' } })
    .map((r) => ({ start: r.start, agent: r.keys.agent ?? null, answered: r.figures.answered }));
  t.same(withAnswered(await ordersByAgent(store.db, { from: T, to: T + 2 * BUCKET_MS, interval: 'all', utcOffsetMinutes: 0 }), [...byAgent, { start: T, agent: '1003', answered: 2 }]), [
    { start: T, agent: '1001', orders: 6, units: 7, valueFen: 139_300, answered: 3, conversion: 2 },
    { start: T, agent: '1003', orders: 0, units: 0, valueFen: 0, answered: 2, conversion: 0 },
  ], 'conversion per agent: agent 1001\'s six orders over its three answered calls; an agent who answered and sold nothing: 0');
}

t.test('sqlite', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-shop-reports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await suite(t, { kind: 'sqlite', path: path.join(dir, 'shop.db') });
});

t.test('postgres', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  await suite(t, { kind: 'postgres', url: await cluster.createDatabase('shopreports') });
});
