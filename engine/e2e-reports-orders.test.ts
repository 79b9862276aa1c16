/**
 * Orders and conversion per programme on the reports page (issue 18 with the shop adapter), in
 * real headless Chromium against a real engine process with `crm.adapter: shop`. Before the engine
 * starts, its database gets the hand-written CDRs of engine/reports/testdata/fixtures.ts (filed by
 * the real aggregator) and the shop's file the three orders of engine/reports/testdata/orders.ts: grouped by programme, the page shows kitchen 3 answered, 2 orders,
 * ¥1197.00, 66.7 %; garden 1 answered, 1 order, ¥399.00, 100 %. Grouped by queue, no orders columns.
 */
import t from 'tap';
import path from 'node:path';
import { openDatabase, SqliteWriter } from './db/index.ts';
import { SqliteReports } from './reports/index.ts';
import { T, context, records } from './reports/testdata/fixtures.ts';
import { ORDERS_AT, enterFixtureOrders } from './reports/testdata/orders.ts';
import { ShopStore } from '../crm-adapter/shop/index.ts';
import { requirePeer } from './testing/index.ts';
import { buildUi, signInPage, startDesktopRig } from './testing/desktop.ts';

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
  const shop = await ShopStore.open({ kind: 'sqlite', path: path.join(dir, 'shop.db') }, { now: () => ORDERS_AT });
  await enterFixtureOrders(shop);
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
});
