/**
 * The desktop's order-entry panel in real headless Chromium against the engine with the shop, a
 * sipp caller the shop knows and a sipp agent phone: the agent signs in, goes ready, talks to the
 * caller and places an order from the panel; the panel shows the order number and the price the
 * engine decided (the programme's promotion: ¥299.00 and a gift), in English and Chinese; the order
 * is the agent's, for this call, in the shop. Screenshots: docs/ui/desktop-order-en.png, -zh.png.
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { demoConfig, demoUsers } from './config/index.ts';
import { requirePeer, which } from './testing/index.ts';
import { SCENARIOS, SippGroup, callersFile, registerSippAgents, startEngineRig, type EngineRig } from './testing/engine-rig.ts';
import { freeUdpPort } from './testing/ports.ts';
import { buildUi } from './testing/desktop.ts';
import type { Order, OrderHistoryEntry } from '../crm-adapter/shop/index.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const shots = path.join(root, 'docs', 'ui');

t.test('desktop: the agent places an order for its call from the order panel; the engine prices it (en, 中文)', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'chromium')) return;
  // The test drives the UI as built now, not a stale build (the engine reads dist/ui at start).
  const build = buildUi();
  t.equal(build.status, 0, `vite build: ${build.stderr}`);
  let rig: EngineRig | undefined;
  let browser: Browser | undefined;
  const sipps = new SippGroup();
  t.teardown(async () => {
    await browser?.close();
    await sipps.close();
    await rig?.close();
  });
  const agents = (demoConfig().agents ?? []).map((a) => ({ ...a, autoReadyOnRegister: false }));
  rig = await startEngineRig({ crm: { adapter: 'shop', seedDemo: true }, users: { accounts: demoUsers() }, agents });
  const base = `http://127.0.0.1:${rig.httpPort}`;
  const phonePort = await freeUdpPort();
  sipps.start({ scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: phonePort, calls: 1, timeoutSec: 120, args: ['-d', '300', '-mp', String(await freeUdpPort())] });
  await registerSippAgents(rig, ['1001'], phonePort);

  browser = await chromium.launch({ executablePath: which('chromium')!, headless: true, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
  await page.goto(base + '/');
  await page.click('[data-lang=en]');
  await page.fill('input[name=username]', '1001');
  await page.fill('input[name=password]', 'demo1001');
  await page.click('button[type=submit]');
  const status = page.locator('[data-testid=status]');
  await status.filter({ hasText: 'Not ready' }).waitFor();
  await page.click('[data-testid=ready]');
  await status.filter({ hasText: 'Ready' }).waitFor();

  const caller = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile(rig, ['+4915110000004']), '-d', '60000', '-mp', String(await freeUdpPort())],
  });
  await page.locator('[data-testid=call-talking]').waitFor({ timeout: 30_000 });
  t.equal(await page.textContent('[data-testid=customer]'), 'Rita Gular');
  t.ok(await page.isVisible('text=lastOrder: knife block'), 'the shop\'s card in the screen pop');
  await page.locator('[data-testid=order-panel]').waitFor();
  await page.selectOption('[data-testid=order-sku]', 'WOK-01');
  await page.fill('[data-testid=order-qty]', '1');
  await page.selectOption('[data-testid=order-delivery]', 'express');
  await page.selectOption('[data-testid=order-payment]', 'cod');
  await page.fill('[data-testid=order-requests]', 'invoice please');
  await page.click('[data-testid=order-submit]');
  const result = page.locator('[data-testid=order-result]');
  await result.waitFor();
  t.equal(await page.textContent('[data-testid=order-total]'), '¥299.00', 'the promotion price the engine applied');
  t.ok(await result.locator('text=Apron × 1 · gift').isVisible(), 'the gift line');
  await page.screenshot({ path: path.join(shots, 'desktop-order-en.png') });
  const id = /Order (SO\d{14}) placed/.exec((await result.textContent()) ?? '')?.[1];
  t.ok(id !== undefined, 'the order number shown');

  await page.click('[data-lang=zh-CN]');
  await page.waitForSelector('text=合计');
  t.ok(await result.locator(`text=订单 ${id} 已下单`).isVisible(), 'Chinese labels from the message table');
  t.ok(await result.locator('text=围裙 × 1 · 赠品').isVisible(), 'the product names in Chinese');
  await page.screenshot({ path: path.join(shots, 'desktop-order-zh.png') });

  // The engine's record of it, read with the agent's own session.
  const session = (await page.context().cookies()).find((c) => c.name === 'onair_session');
  const cookie = `onair_session=${session?.value}`;
  const order = await (await fetch(`${base}/api/v1/shop/orders/${id}`, { headers: { cookie } })).json() as Order;
  const call = rig.engine.calls.list()[0];
  t.match(order, { status: 'ordered', agent: '1001', callId: call?.id, deliveryMethod: 'express', paymentMethod: 'cod', specialRequests: 'invoice please', totalFen: 29900 });
  const h = await (await fetch(`${base}/api/v1/shop/orders/${id}/history`, { headers: { cookie } })).json() as { items: OrderHistoryEntry[] };
  t.match(h.items, [{ action: 'create', actor: 'agent:1001' }]);
  caller.kill();
  await caller.done;
});
