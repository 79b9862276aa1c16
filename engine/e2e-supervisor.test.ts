/**
 * The supervisor's wallboard in real headless Chromium against a real engine process, a sipp
 * caller and a sipp agent phone: a caller waits in `orders` (the wallboard's count rises), the
 * supervisor moves agent 1006 (a service agent below the orders level) into the queue from the
 * page, and the waiting call reaches 1006's phone at once (the count falls); then the supervisor
 * sets the agent not ready with a reason from the page. After the call the supervisor moves 1006
 * out of the queue again (and sets it ready): the next orders caller waits, 1006 stays idle.
 * Screenshots of the wallboard in English and Chinese go to docs/desktop/.
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { requirePeer } from './testing/index.ts';
import { buildUi, signInPage, startDesktopRig } from './testing/desktop.ts';
import { SCENARIOS, callersFile, registerSippAgents } from './testing/engine-rig.ts';
import { freeUdpPort } from './testing/ports.ts';

const shots = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'docs', 'desktop');

t.test('wallboard: a supervisor moves an agent into a queue and its waiting call reaches the agent; moved out, the next call does not', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'chromium')) return;
  const build = buildUi();
  t.equal(build.status, 0, `vite build: ${build.stderr}`);
  const { engine, base, sipps, browser } = await startDesktopRig(t.testdir({}), {}, (fn) => t.teardown(fn));
  // Only 1006 has a phone: service 80, orders 30 (orders serves level 50 and up for its first minute).
  const phonePort = await freeUdpPort();
  sipps.start({ scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: phonePort, calls: 1, timeoutSec: 120, args: ['-d', '500', '-mp', String(await freeUdpPort())] });
  await registerSippAgents({ sipPort: engine.sipPort }, ['1006'], phonePort);

  const signIn = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'demo-admin' }) });
  const admin = signIn.headers.get('set-cookie')!.split(';')[0]!;
  const agent = async (): Promise<{ status: string; state: string; reason: string | null; skills: Record<string, number> }> =>
    await (await fetch(`${base}/api/v1/agents/1006`, { headers: { cookie: admin } })).json() as never;
  for (let i = 0; i < 100 && (await agent()).status !== 'available'; i++) await sleep(100);
  t.equal((await agent()).status, 'available', '1006 is ready (auto-ready on register)');

  const page = await browser.newPage({ viewport: { width: 1200, height: 1100 }, locale: 'en-US' });
  await signInPage(page, base, '#/wallboard', 'supervisor', 'demo-supervisor');
  await page.locator('[data-queue=orders]').waitFor();

  const caller = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${engine.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile({ dir: t.testdirName }, ['+4915110000004']), '-d', '12000', '-mp', String(await freeUdpPort())],
  });
  const waiting = page.locator('[data-testid=waiting-orders]');
  await waiting.filter({ hasText: '1' }).waitFor({ timeout: 30_000 });
  t.equal(await waiting.textContent(), '1', 'the caller waits: nobody serves orders');
  t.equal((await agent()).state, 'idle', '1006 stays idle meanwhile');
  await page.screenshot({ path: path.join(shots, 'wallboard-en.png'), fullPage: true });

  await page.selectOption('[data-testid=sup-agent]', '1006');
  await page.selectOption('[data-testid=sup-queue]', 'orders');
  t.equal(await page.inputValue('[data-testid=sup-level]'), '50', "the queue's level is proposed");
  await page.click('[data-testid=sup-move]');
  await page.locator('[data-testid=sup-done]').waitFor();
  await waiting.filter({ hasText: '0' }).waitFor({ timeout: 30_000 });
  t.equal((await agent()).skills.orders, 50, '1006 has the orders skill at 50');
  let calls: Array<{ agent: string | null; queue: string | null; phase: string }> = [];
  for (let i = 0; i < 100; i++) {
    calls = ((await (await fetch(`${base}/api/v1/calls`, { headers: { cookie: admin } })).json()) as { items: typeof calls }).items;
    if (calls.some((c) => c.phase === 'talking')) break;
    await sleep(100);
  }
  t.same(calls.map((c) => [c.agent, c.queue, c.phase]), [['1006', 'orders', 'talking']], "the waiting orders call reached 1006's phone");
  await page.locator('[data-agent="1006"]').filter({ hasText: 'On a call' }).waitFor();

  // Not ready with a reason, set by the supervisor during the call: pending until the wrap-up ends.
  await page.selectOption('[data-testid=sup-status]', 'not_ready');
  await page.selectOption('[data-testid=sup-reason]', 'meeting');
  await page.click('[data-testid=sup-set-status]');
  await page.locator('[data-testid=sup-done]').waitFor();
  const after = await (await fetch(`${base}/api/v1/agents/1006`, { headers: { cookie: admin } })).json() as { pendingStatus: string | null };
  t.equal(after.pendingStatus, 'not_ready', 'applies after the call');
  await page.click('[data-lang=zh-CN]');
  await page.waitForSelector('text=调入队列');
  await page.screenshot({ path: path.join(shots, 'wallboard-zh.png'), fullPage: true });

  const audit = await (await fetch(`${base}/api/v1/audit?actor=supervisor`, { headers: { cookie: admin } })).json() as { items: Array<{ action: string; target: string; detail: Record<string, unknown> }> };
  t.same(audit.items.map((e) => `${e.action}:${e.target}`), ['agent.status:1006', 'agent.skills:1006'], "the supervisor's two changes are audited");
  // The caller hangs up after its 12 s: 1006's wrap-up, then the pending not ready.
  await caller.done;

  // Out of the queue again, from the page; ready again: the next orders caller no longer reaches 1006.
  for (let i = 0; i < 200 && (await agent()).state !== 'idle'; i++) await sleep(100);
  await page.selectOption('[data-testid=sup-agent]', '1006');
  await page.selectOption('[data-testid=sup-queue]', 'orders');
  await page.click('[data-testid=sup-move-out]');
  for (let i = 0; i < 100 && (await agent()).skills.orders !== undefined; i++) await sleep(100);
  t.same((await agent()).skills, { service: 80 }, '1006 is out of orders (its configured orders 30 removed too)');
  await page.selectOption('[data-testid=sup-status]', 'available');
  await page.click('[data-testid=sup-set-status]');
  for (let i = 0; i < 100 && (await agent()).status !== 'available'; i++) await sleep(100);
  t.match(await agent(), { status: 'available', state: 'idle' }, '1006 is ready and idle');
  const next = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${engine.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile({ dir: t.testdirName }, ['+4915110000005']), '-d', '12000', '-mp', String(await freeUdpPort())],
  });
  // A caller waits only when no eligible agent is idle: the ACD offers at the queue entry otherwise.
  await waiting.filter({ hasText: '1' }).waitFor({ timeout: 30_000 });
  t.match(await agent(), { status: 'available', state: 'idle' }, 'the next orders call does not reach 1006');
  const log = await (await fetch(`${base}/api/v1/audit?actor=supervisor`, { headers: { cookie: admin } })).json() as { items: Array<{ action: string; target: string; detail: Record<string, unknown> }> };
  t.same(log.items.map((e) => `${e.action}:${e.target}`), ['agent.status:1006', 'agent.skills:1006', 'agent.status:1006', 'agent.skills:1006'], 'the move out audited like the move in');
  next.kill();
  await next.done;
});
