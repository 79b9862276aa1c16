/**
 * The shop's reports (docs/shop.md, Shop reports) on SQLite and PostgreSQL against figures
 * computed by hand below: orders by agent and by product per day (UTC and Beijing days) and for
 * the period, filtered by programme; delivery outcomes and rates per courier and per product,
 * an exchanged order's two parcels told apart. On SQLite the query plans show the period filter
 * on its index. (Conversion per agent with the engine's report rows: reports.test.ts.)
 */
import t, { type Test } from 'tap';
import { CompiledQuery, type RawBuilder } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePostgres } from '../../engine/testing/postgres.ts';
import {
  ShopStore, deliveryOutcomes, deliveryQuery, ordersByAgent, ordersByAgentQuery, ordersByProduct, ordersByProductQuery, withAnswered,
  type DeliveryMethod, type OrderAction, type ShopReportFilter, type ShopStoreConfig,
} from './index.ts';

/** 2026-12-07 00:00 UTC. */
const D = Date.UTC(2026, 11, 7);
const H = 3_600_000;
const PERIOD = { from: D, to: D + 48 * H, utcOffsetMinutes: 0 };

async function suite(t: Test, config: ShopStoreConfig): Promise<void> {
  let clock = D - 2 * H;
  const store = await ShopStore.open(config, { now: () => clock });
  t.teardown(() => store.close());
  await store.upsertProducts([
    { sku: 'WOK', nameZh: '炒锅', nameEn: 'Wok', priceFen: 39900, stock: 100, ivrZh: '炒锅', ivrEn: 'Wok', active: true },
    { sku: 'APRON', nameZh: '围裙', nameEn: 'Apron', priceFen: 4900, stock: 100, ivrZh: '围裙', ivrEn: 'Apron', active: true },
  ]);
  // Every wok comes with a free apron (any programme): gift lines, not sold units.
  t.ok((await store.addPromotion({ sku: 'WOK', kind: 'gift', title: '买锅送围裙', priceFen: null, giftSku: 'APRON', programme: null, airing: null, startsAt: D - 24 * H, endsAt: D + 100 * H })).ok);
  const made = await store.createCustomer({ name: '王丽', numbers: ['+8613800000001'] });
  if (!made.ok) throw new Error(made.reason);
  await store.addAddress(made.value.id, { recipient: '王丽', phone: '13800000001', region: '上海市', city: '上海市', line: '世纪大道100号', postcode: '200120' });
  const order = async (at: number, agent: string | null, programme: string | null, items: { sku: string; quantity: number }[], deliveryMethod: DeliveryMethod): Promise<string> => {
    clock = at;
    const r = await store.createOrder({ customerId: made.value.id, items, deliveryMethod, paymentMethod: 'card', programme, airing: programme === null ? null : `${programme}-1`, callId: null, agent }, agent === null ? 'user:boss' : `agent:${agent}`);
    if (!r.ok) throw new Error(r.reason);
    return r.value.id;
  };
  const step = async (id: string, action: Exclude<OrderAction, 'edit'>, at: number): Promise<void> => {
    clock = at;
    const r = await store.transition(id, action, 'user:boss', 'staff', null);
    if (!r.ok) throw new Error(`${id} ${action}: ${r.reason}`);
  };
  const WOK = (quantity: number) => ({ sku: 'WOK', quantity });
  const APRON = (quantity: number) => ({ sku: 'APRON', quantity });
  const o7 = await order(D - H, '1001', 'kitchen', [WOK(1)], 'express'); // the day before: in no report of the period
  const o1 = await order(D + 1 * H, '1001', 'kitchen', [WOK(1)], 'express'); // 39 900; + 1 gift apron; SF
  const o2 = await order(D + 2 * H, '1001', 'kitchen', [APRON(2)], 'standard'); // 9 800; EMS
  const o3 = await order(D + 3 * H, '1002', 'garden', [WOK(2), APRON(1)], 'express'); // 84 700; + 2 gift aprons; SF
  const o4 = await order(D + 4 * H, '1002', 'kitchen', [WOK(1)], 'express'); // cancelled: not counted
  const o6 = await order(D + 5 * H, null, null, [WOK(1)], 'standard'); // 39 900 by staff, no programme; + 1 gift apron; EMS
  const o8 = await order(D + 20 * H, '1002', 'kitchen', [APRON(1)], 'express'); // 4 900; 04:00 of 12-08 in Beijing; SF
  const o5 = await order(D + 25 * H, '1001', 'kitchen', [APRON(1)], 'post'); // 4 900, the second UTC day; POST
  await step(o4, 'cancel', D + 4 * H + 1);
  for (const id of [o7, o1, o2, o3, o6, o8, o5]) await step(id, 'review', D + 26 * H);
  // Parcels, shipped on the second day: A o1, B o2, C o3 (D+27h), D o6 (D+28h), F o8, G o5 (D+29h),
  // E o6 again after its exchange (D+32h); o7's before the period (left out).
  await step(o7, 'ship', D - H / 2);
  for (const id of [o1, o2, o3]) await step(id, 'ship', D + 27 * H);
  await step(o6, 'ship', D + 28 * H);
  await step(o8, 'ship', D + 29 * H);
  await step(o5, 'ship', D + 29 * H + 1);
  await step(o1, 'deliver', D + 30 * H); // A delivered
  await step(o2, 'refuse', D + 30 * H); // B refused ...
  await step(o2, 'return', D + 31 * H); // ... and back at the warehouse: still a refusal, not a return
  await step(o3, 'deliver', D + 30 * H); // C delivered ...
  await step(o3, 'return', D + 40 * H); // ... and returned after delivery
  await step(o6, 'deliver', D + 30 * H); // D delivered ...
  await step(o6, 'exchange', D + 31 * H); // ... exchanged: parcel E
  await step(o6, 'ship', D + 32 * H);
  await step(o6, 'refuse', D + 33 * H); // E refused (not D)
  await step(o5, 'deliver', D + 60 * H); // G delivered after the period: its outcome still counts (shipped in it)
  await step(o7, 'deliver', D + 30 * H); // o7's parcel: shipped before the period

  const f = (extra: Partial<ShopReportFilter> = {}): ShopReportFilter => ({ ...PERIOD, interval: 'all', ...extra });
  t.same(await ordersByAgent(store.db, f({ interval: 'day' })), [
    { start: D, agent: null, orders: 1, units: 1, valueFen: 39_900 },
    { start: D, agent: '1001', orders: 2, units: 3, valueFen: 49_700 },
    { start: D, agent: '1002', orders: 2, units: 4, valueFen: 89_600 },
    { start: D + 24 * H, agent: '1001', orders: 1, units: 1, valueFen: 4900 },
  ], 'by agent per UTC day: cancelled and the day before left out, gift lines not units');
  t.same(await ordersByAgent(store.db, f()), [
    { start: D, agent: null, orders: 1, units: 1, valueFen: 39_900 },
    { start: D, agent: '1001', orders: 3, units: 4, valueFen: 54_600 },
    { start: D, agent: '1002', orders: 2, units: 4, valueFen: 89_600 },
  ], 'by agent for the period');
  const beijing = await ordersByAgent(store.db, { from: D - 8 * H, to: D + 40 * H, interval: 'day', utcOffsetMinutes: 480 });
  t.same(beijing.filter((r) => r.agent === '1002'), [
    { start: D - 8 * H, agent: '1002', orders: 1, units: 3, valueFen: 84_700 },
    { start: D + 16 * H, agent: '1002', orders: 1, units: 1, valueFen: 4900 },
  ], 'Beijing days: o8 (20:00 UTC) is on the next day');
  t.same(await ordersByAgent(store.db, f({ programme: 'kitchen' })), [
    { start: D, agent: '1001', orders: 3, units: 4, valueFen: 54_600 },
    { start: D, agent: '1002', orders: 1, units: 1, valueFen: 4900 },
  ], 'programme kitchen');
  t.same(await ordersByAgent(store.db, f({ programme: null })), [{ start: D, agent: null, orders: 1, units: 1, valueFen: 39_900 }], 'orders without a programme');
  t.same((await ordersByAgent(store.db, f({ airing: 'garden-1' }))).map((r) => r.agent), ['1002'], 'by airing');

  t.same(await ordersByProduct(store.db, f()), [
    { start: D, sku: 'APRON', nameZh: '围裙', nameEn: 'Apron', orders: 4, units: 5, giftUnits: 4, valueFen: 24_500 },
    { start: D, sku: 'WOK', nameZh: '炒锅', nameEn: 'Wok', orders: 3, units: 4, giftUnits: 0, valueFen: 159_600 },
  ], 'by product for the period: an order with the product paid, units, gifts apart, line value');
  t.same(await ordersByProduct(store.db, f({ interval: 'day' })), [
    { start: D, sku: 'APRON', nameZh: '围裙', nameEn: 'Apron', orders: 3, units: 4, giftUnits: 4, valueFen: 19_600 },
    { start: D, sku: 'WOK', nameZh: '炒锅', nameEn: 'Wok', orders: 3, units: 4, giftUnits: 0, valueFen: 159_600 },
    { start: D + 24 * H, sku: 'APRON', nameZh: '围裙', nameEn: 'Apron', orders: 1, units: 1, giftUnits: 0, valueFen: 4900 },
  ], 'by product per day');

  // Parcels shipped in [D+24h, D+48h): A B C D E F G (not o7's).
  t.same(await deliveryOutcomes(store.db, { ...PERIOD, from: D + 24 * H, interval: 'all' }, 'courier'), [
    { key: 'EMS', shipped: 3, delivered: 1, refused: 2, returned: 0, deliveryRate: 1 / 3, refusalRate: 2 / 3, returnRate: 0 },
    { key: 'POST', shipped: 1, delivered: 1, refused: 0, returned: 0, deliveryRate: 1, refusalRate: 0, returnRate: 0 },
    { key: 'SF', shipped: 3, delivered: 2, refused: 0, returned: 1, deliveryRate: 2 / 3, refusalRate: 0, returnRate: 1 / 3 },
  ], 'per courier: B refused then back is a refusal; C returned after delivery; D delivered and E refused (one exchanged order)');
  t.same(await deliveryOutcomes(store.db, { ...PERIOD, from: D + 24 * H, interval: 'all' }, 'product'), [
    { key: 'APRON', shipped: 4, delivered: 2, refused: 1, returned: 1, deliveryRate: 0.5, refusalRate: 0.25, returnRate: 0.25 },
    { key: 'WOK', shipped: 4, delivered: 3, refused: 1, returned: 1, deliveryRate: 0.75, refusalRate: 0.25, returnRate: 0.25 },
  ], 'per product: parcels with the product on a paid line (gift aprons not counted)');
  t.same(await deliveryOutcomes(store.db, { ...PERIOD, from: D + 24 * H, interval: 'all', programme: 'garden' }, 'courier'), [
    { key: 'SF', shipped: 1, delivered: 1, refused: 0, returned: 1, deliveryRate: 1, refusalRate: 0, returnRate: 1 },
  ], 'filtered by programme');
  t.same(await deliveryOutcomes(store.db, { from: D + 100 * H, to: D + 101 * H, interval: 'all', utcOffsetMinutes: 0 }, 'courier'), [], 'nothing shipped: no rows');
  t.same(withAnswered([{ start: D, agent: '1001', orders: 2, units: 2, valueFen: 1 }, { start: D, agent: null, orders: 1, units: 1, valueFen: 1 }], null).map((r) => [r.answered, r.conversion]), [[null, null], [null, null]], 'no engine report: conversion unknown');

  if (config.kind !== 'sqlite') return;
  const plan = async (q: RawBuilder<unknown>): Promise<string> => {
    const c = q.compile(store.db);
    const r = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${c.sql}`, [...c.parameters]));
    return r.rows.map((x) => x.detail).join('\n');
  };
  t.match(await plan(ordersByAgentQuery(f({ interval: 'day' }))), /SEARCH o USING INDEX shop_orders_by_created \(created_at>\? AND created_at<\?\)/, 'orders by agent: the period on its index');
  t.match(await plan(ordersByProductQuery(f({ programme: 'kitchen' }))), /SEARCH o USING INDEX shop_orders_by_created \(created_at>\? AND created_at<\?\)/, 'orders by product: the same');
  for (const by of ['courier', 'product'] as const) {
    t.match(await plan(deliveryQuery(f(), by)), /SEARCH s USING INDEX shop_shipments_by_shipped \(shipped_at>\? AND shipped_at<\?\)/, `delivery by ${by}: shipments by their index`);
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  t.test(kind, async (t) => {
    if (kind === 'postgres') {
      const cluster = await requirePostgres(t);
      if (cluster !== undefined) await suite(t, { kind, url: await cluster.createDatabase('shopownreports') });
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'onair-shop-own-reports-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    await suite(t, { kind, path: path.join(dir, 'shop.db') });
  });
}
