/**
 * The reports page and the wallboard's surge state in real headless Chromium against a real
 * engine process (issue 18). The engine's database is seeded before it starts with the
 * hand-written CDRs of engine/reports/testdata/fixtures.ts (filed by the real aggregator): the
 * supervisor picks the day and 15-minute intervals, the table shows the hand-computed figures
 * (bucket 20:00 UTC: offered 8, answered 3, 2 within the service level, 3 abandoned), the uPlot chart
 * is drawn with its legend, switching to Chinese changes the table's and the chart's labels, the
 * CSV button's link answers the same report, and an agent is refused. Then the supervisor turns
 * surge mode on from the wallboard (one action), the wallboard shows it (airing, queue, agents,
 * held), and a release by the API takes it away (the `surge` event). Screenshots in
 * English and Chinese go to docs/ui/.
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, SqliteWriter } from './db/index.ts';
import { SqliteReports } from './reports/index.ts';
import { T, context, records } from './reports/testdata/fixtures.ts';
import { requirePeer } from './testing/index.ts';
import { buildUi, signInPage, startDesktopRig } from './testing/desktop.ts';

const shots = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'docs', 'ui');

t.test('reports page: the hand-made CDRs in the table and the chart, in English and Chinese; the wallboard shows a surge', async (t) => {
  if (!requirePeer(t, 'chromium')) return;
  const build = buildUi();
  t.equal(build.status, 0, `vite build: ${build.stderr}`);
  const dir = t.testdir({});
  // The engine's own file, filed by the real aggregator before the engine opens it.
  const db = openDatabase({ path: path.join(dir, 'onair.db') });
  const reports = new SqliteReports({ db, writer: new SqliteWriter(db, false), context, now: T });
  for (const r of records) reports.ingestSync(r);
  db.close();
  const { base, browser } = await startDesktopRig(dir, {}, (fn) => t.teardown(fn));

  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 }, locale: 'en-US' });
  await signInPage(page, base, '#/reports', 'supervisor', 'demo-supervisor');
  await page.locator('[data-testid=rp-run]').waitFor();
  // T is 2026-01-01 20:00 UTC = 2026-01-02 04:00 in the center's time zone (Asia/Shanghai).
  await page.fill('[data-testid=rp-from]', '2026-01-02');
  await page.fill('[data-testid=rp-to]', '2026-01-02');
  await page.selectOption('[data-testid=rp-interval]', '15m');
  await page.click('[data-testid=rp-run]');
  const first = page.locator(`[data-start="${T}"]`);
  await first.waitFor();
  const cell = async (start: number, col: string): Promise<string | null> => page.locator(`[data-start="${start}"] [data-col=${col}]`).textContent();
  t.equal(await cell(T, 'rp_offered'), '8', 'offered, hand-computed');
  t.equal(await cell(T, 'rp_answered'), '3');
  t.equal(await cell(T, 'rp_inSl'), '2');
  t.equal(await cell(T, 'rp_abandoned'), '3', 'IVR, queue and ringing abandons');
  t.equal(await cell(T, 'rp_sl'), '40%', '2 within the service level of 5 queued');
  t.equal(await cell(T, 'rp_asa'), '0:21', '(10 + 30 + 25) s / 3 answered');
  t.equal(await cell(T + 900_000, 'rp_offered'), '1', 'the second interval');
  t.match(await first.locator('td').first().textContent(), /04:00/, 'the interval in the center\'s time zone');
  t.equal(await page.locator('[data-testid=rp-chart] canvas').count(), 1, 'the chart is drawn');
  t.match(await page.locator('[data-testid=rp-chart] .u-legend').textContent(), /Offered.*Answered.*Abandoned.*Service level/s, 'the chart\'s series');
  await page.screenshot({ path: path.join(shots, 'reports-en.png'), fullPage: true });

  // The export button's link: the same report as CSV with the session cookie.
  const href = await page.getAttribute('[data-testid=rp-csv]', 'href');
  const csv = await page.evaluate(async (h) => (await fetch(h!)).text(), href);
  const [header, row] = csv.split('\r\n') as [string, string];
  const cols = header.split(',');
  t.equal(row.split(',')[cols.indexOf('offered')], '8', 'the CSV export of the same choice');

  await page.click('[data-lang=zh-CN]');
  await page.locator('[data-testid=rp-table] th', { hasText: '呼入量' }).waitFor();
  t.match(await page.locator('[data-testid=rp-chart] .u-legend').textContent(), /呼入量.*接通量.*放弃量.*服务水平/s, 'the chart\'s labels in Chinese');
  t.equal(await page.locator('[data-testid=rp-table] th', { hasText: 'Offered' }).count(), 0, 'no English label left in the table');
  await page.selectOption('[data-testid=rp-group]', 'queue');
  await page.click('[data-testid=rp-run]');
  await page.locator('[data-testid=rp-table] th', { hasText: '队列' }).waitFor();
  t.ok(await page.locator('[data-col=group]', { hasText: 'orders' }).count() > 0, 'grouped by queue');
  await page.screenshot({ path: path.join(shots, 'reports-zh.png'), fullPage: true });

  // An agent has no reports: no link, and the page says so (the route refuses it too).
  const agentPage = await browser.newPage({ viewport: { width: 1000, height: 600 }, locale: 'en-US' });
  await signInPage(agentPage, base, '#/reports', '1001', 'demo1001');
  await agentPage.locator('text=Your role may not see reports.').waitFor();
  t.equal(await agentPage.locator('[data-testid=nav-reports]').count(), 0);
  t.equal(await agentPage.evaluate(async () => (await fetch('/api/v1/reports?from=0&to=1000')).status), 403);

  // Surge mode on the wallboard: a programme with surge settings, started by the supervisor's API call.
  const send = (method: string, p: string, body: unknown) => page.evaluate(async ([m, u, b]) => (await fetch(u as string, { method: m as string, headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) })).status, [method, p, body] as const);
  t.equal(await send('PUT', '/api/v1/schedule/programmes/gold-hour', { id: 'gold-hour', name: 'Gold hour', surge: { leadMinutes: 10, queue: 'vip', level: 50, agents: ['1006', '1007'] } }), 200);
  t.equal(await send('PUT', '/api/v1/schedule/airings/gold-9', { id: 'gold-9', programme: 'gold-hour', channel: 'ch1', start: Date.now() + 86_400_000, end: Date.now() + 90_000_000, numbers: ['100'] }), 200);
  await page.click('[data-lang=en]');
  await page.goto(`${base}/#/wallboard`);
  await page.locator('[data-testid=surge]').waitFor();
  t.match(await page.locator('[data-testid=surge]').textContent(), /No surge/);
  // One action from the wallboard: every programme's surge on (gold-hour's next airing), held.
  await page.fill('[data-testid=surge-reason]', 'breaking: gold price');
  await page.click('[data-testid=surge-start]');
  const on = page.locator('[data-testid=surge] [data-airing=gold-9]');
  await on.waitFor();
  t.match(await on.textContent(), /gold-9 \(gold-hour\) → queue vip: 1006, 1007 · held until released/, 'the wallboard shows the surge');
  t.match(await page.evaluate(async () => (await fetch('/api/v1/agents/1006')).json()), { skills: { vip: 50 } }, 'the back office is in the vip queue');
  await page.locator('[data-testid=surge-campaigns]').waitFor();
  await page.locator('[data-agent="1006"]').waitFor();
  await page.screenshot({ path: path.join(shots, 'wallboard-surge-en.png'), fullPage: true });
  await page.click('[data-lang=zh-CN]');
  await page.locator('[data-testid=surge]', { hasText: '保持至手动解除' }).waitFor();
  await page.screenshot({ path: path.join(shots, 'wallboard-surge-zh.png'), fullPage: true });
  // Released by the API: the wallboard follows the `surge` event.
  t.equal(await send('POST', '/api/v1/surge', { action: 'release', reason: 'over' }), 200);
  await page.locator('[data-testid=surge]', { hasText: '未处于高峰模式' }).waitFor();
  const signIn = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'demo-admin' }) });
  const admin = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const audit = await (await fetch(`${base}/api/v1/audit?actor=supervisor`, { headers: { cookie: admin } })).json() as { items: Array<{ action: string; detail: { reason?: string } }> };
  t.same(audit.items.filter((e) => e.action.startsWith('surge.')).map((e) => [e.action, e.detail.reason]), [['surge.release', 'over'], ['surge.start', 'breaking: gold price']], 'both overrides audited with their reasons');
});
