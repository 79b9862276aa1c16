/**
 * Orders and conversion per programme on the reports page (issue 18 with the shop adapter), in
 * real headless Chromium against a real engine process with `crm.adapter: shop`. Before the engine
 * starts, its database gets the hand-written CDRs of engine/reports/testdata/fixtures.ts (filed by
 * the real aggregator) and the shop's file the three orders of engine/reports/testdata/orders.ts: grouped by programme, the page shows kitchen 3 answered, 2 orders,
 * ¥1197.00, 66.7 %; garden 1 answered, 1 order, ¥399.00, 100 %. Grouped by queue, no orders columns.
 * Below, the shop's own reports (docs/shop.md, Shop reports) with those orders shipped, delivered,
 * returned and more orders refused and on their way: orders by agent with conversion, by product,
 * deliveries by courier and product, in English and Chinese (docs/shop/reports-en.png, -zh.png).
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, SqliteWriter } from './db/index.ts';
import { SqliteReports } from './reports/index.ts';
import { T, context, records } from './reports/testdata/fixtures.ts';
import { ORDERS_AT, enterFixtureOrders } from './reports/testdata/orders.ts';
import { ShopStore, type DeliveryMethod, type OrderAction } from '../crm-adapter/shop/index.ts';
import { requirePeer } from './testing/index.ts';
import { buildUi, signInPage, startDesktopRig } from './testing/desktop.ts';

const shopShots = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'docs', 'shop');

t.test('reports page with the shop: orders, order value in yuan and conversion per programme', async (t) => {
  if (!requirePeer(t, 'chromium')) return;
  const build = buildUi();
  t.equal(build.status, 0, `vite build: ${build.stderr}`);
  const dir = t.testdir({});
  const db = openDatabase({ path: path.join(dir, 'onair.db') });
  const reports = new SqliteReports({ db, writer: new SqliteWriter(db, false), context, now: T });
  for (const r of records) reports.ingestSync(r);
  db.close();
  // The shop's own file, filled before the engine opens it (crm.path).
  let clock = ORDERS_AT;
  const shop = await ShopStore.open({ kind: 'sqlite', path: path.join(dir, 'shop.db') }, { now: () => clock });
  await enterFixtureOrders(shop);
  // For the shop's own reports: the three orders (agent 1001, SF) delivered, returned after
  // delivery, on their way; more orders without a programme, by EMS (refused), by post (on its
  // way) and by staff (not shipped).
  await shop.upsertProducts([{ sku: 'APRON', nameZh: '围裙', nameEn: 'Apron', priceFen: 4900, stock: 10, ivrZh: '', ivrEn: '', active: true }]);
  const [wok1, wok2, wok3] = (await shop.listOrders()).map((o) => o.id).sort();
  const customerId = (await shop.listOrders())[0]!.customerId;
  const order = async (agent: string | null, sku: string, quantity: number, deliveryMethod: DeliveryMethod): Promise<string> => {
    const r = await shop.createOrder({ customerId, items: [{ sku, quantity }], deliveryMethod, paymentMethod: 'card', programme: null, airing: null, callId: null, agent }, 'user:supervisor');
    if (!r.ok) throw new Error(r.reason);
    return r.value.id;
  };
  const steps = async (id: string, ...actions: Exclude<OrderAction, 'edit'>[]): Promise<void> => {
    for (const a of actions) {
      clock += 60_000;
      const r = await shop.transition(id, a, 'user:supervisor', 'staff', null);
      if (!r.ok) throw new Error(`${a}: ${r.reason}`);
    }
  };
  await steps(wok1!, 'review', 'ship', 'deliver');
  await steps(wok2!, 'review', 'ship', 'deliver', 'return');
  await steps(wok3!, 'review', 'ship');
  await steps(await order('1001', 'APRON', 2, 'standard'), 'review', 'ship', 'refuse');
  await steps(await order('1002', 'APRON', 1, 'post'), 'review', 'ship');
  await steps(await order(null, 'WOK', 1, 'express'), 'review');
  await shop.close();
  const { base, browser } = await startDesktopRig(dir, { crm: { adapter: 'shop', path: path.join(dir, 'shop.db') } }, (fn) => t.teardown(fn));

  const page = await browser.newPage({ viewport: { width: 1600, height: 900 }, locale: 'en-US' });
  await signInPage(page, base, '#/reports', 'supervisor', 'demo-supervisor');
  await page.locator('[data-testid=rp-run]').waitFor();
  // T is 2026-01-01 20:00 UTC = 2026-01-02 04:00 in the center's time zone (Asia/Shanghai).
  await page.fill('[data-testid=rp-from]', '2026-01-02');
  await page.fill('[data-testid=rp-to]', '2026-01-02');
  await page.selectOption('[data-testid=rp-interval]', '60m');
  await page.selectOption('[data-testid=rp-group]', 'programme');
  await page.click('[data-testid=rp-run]');
  const row = (programme: string) => page.locator('[data-testid=rp-table] tbody tr', { has: page.locator('[data-col=group]', { hasText: programme }) });
  await row('kitchen').waitFor();
  const cell = async (programme: string, col: string): Promise<string | null> => row(programme).locator(`[data-col=${col}]`).textContent();
  t.equal(await cell('kitchen', 'rp_answered'), '3', 'c1 c2 c10');
  t.equal(await cell('kitchen', 'rp_orders'), '2');
  t.equal(await cell('kitchen', 'rp_orderValue'), '¥1197.00', 'fen shown in yuan');
  t.equal(await cell('kitchen', 'rp_conversion'), '66.7%', 'orders / answered');
  t.equal(await cell('garden', 'rp_orders'), '1');
  t.equal(await cell('garden', 'rp_orderValue'), '¥399.00');
  t.equal(await cell('garden', 'rp_conversion'), '100%');
  t.equal(await page.locator('[data-testid=rp-table] th', { hasText: 'Conversion' }).count(), 1, 'the orders columns');

  await page.selectOption('[data-testid=rp-group]', 'queue');
  await page.click('[data-testid=rp-run]');
  await page.locator('[data-col=group]', { hasText: 'service' }).waitFor();
  t.equal(await page.locator('[data-testid=rp-table] th', { hasText: 'Orders' }).count(), 0, 'by queue: no orders columns');

  // The shop's own reports below (docs/shop.md, Shop reports), for the same day.
  const section = page.locator('[data-testid=shop-reports]');
  await section.locator('[data-testid=sr-couriers] table').waitFor();
  const shopCell = (table: string, key: string, col: string) => section.locator(`[data-testid=${table}] [data-key="${key}"] [data-col=${col}]`).textContent();
  t.equal(await shopCell('sr-agents', '1001', 'rp_orders'), '4', 'agent 1001: the three woks and the aprons');
  t.equal(await shopCell('sr-agents', '1001', 'sr_units'), '6', '1 + 2 + 1 woks, 2 aprons');
  t.equal(await shopCell('sr-agents', 'Staff (no call)', 'rp_orders'), '1', 'the staff order without an agent');
  // The engine's answered calls of 1001 that day, and the conversion it computed: the page lays them out.
  const from = Date.UTC(2026, 0, 1, 16);
  const api = await page.evaluate(async (q) => (await fetch(`/api/v1/shop/reports/orders?by=agent&interval=all&utcOffsetMinutes=480&${q}`)).json(), `from=${from}&to=${from + 86_400_000}`) as { rows: Array<{ agent: string | null; answered: number | null; conversion: number | null }> };
  const a1001 = api.rows.find((r) => r.agent === '1001');
  t.ok(a1001 !== undefined && a1001.answered !== null && a1001.answered > 0, 'agent 1001 answered calls (the CDR fixtures)');
  t.equal(await shopCell('sr-agents', '1001', 'rp_answered'), String(a1001?.answered));
  t.equal(await shopCell('sr-agents', '1001', 'rp_conversion'), `${Math.round((a1001?.conversion ?? 0) * 1000) / 10}%`, 'conversion = orders / answered');
  t.equal(await shopCell('sr-products', 'WOK', 'sr_units'), '5', 'woks: 4 by 1001, 1 by staff');
  t.equal(await shopCell('sr-couriers', 'SF', 'sr_shipped'), '3');
  t.equal(await shopCell('sr-couriers', 'SF', 'sr_returnRate'), '33.3%', 'one of three SF parcels returned after delivery');
  t.equal(await shopCell('sr-couriers', 'EMS', 'sr_refusalRate'), '100%', 'the EMS parcel refused');
  t.equal(await shopCell('sr-couriers', 'POST', 'sr_delivered'), '0', 'the post parcel on its way');
  t.equal(await shopCell('sr-delivered', 'APRON', 'sr_refused'), '1');
  const csvHref = await section.locator('[data-testid=sr-couriers] a').getAttribute('href');
  const csv = await page.evaluate(async (h) => (await fetch(h!)).text(), csvHref);
  t.match(csv, /^courier,shipped,delivered,refused,returned,deliveryRate,refusalRate,returnRate\r\nEMS,1,0,1,0,0,1,0\r\n/, 'the CSV button: the same report');
  await section.screenshot({ path: path.join(shopShots, 'reports-en.png') });
  await page.click('[data-lang=zh-CN]');
  await section.locator('h3', { hasText: '坐席订单' }).waitFor();
  t.equal(await section.locator('th', { hasText: '拒收率' }).count(), 2, 'Chinese labels');
  t.equal(await shopCell('sr-products', 'WOK', 'sr_product'), '炒锅', 'product names in Chinese');
  t.equal(await section.locator('th', { hasText: 'Refusal rate' }).count(), 0, 'no English label left');
  await section.screenshot({ path: path.join(shopShots, 'reports-zh.png') });
});
