/**
 * The agent desktop in real headless Chromium (Debian's chromium driven by playwright-core)
 * against a real engine process, a sipp caller and a sipp agent phone: sign in, go ready, the
 * screen pop with the masked number while the phone rings, the call once the phone answers,
 * English and Chinese, and an agent refused another agent's data (403). Screenshots go to
 * docs/ui/ (signin.png, desktop-en.png, desktop-zh.png, wallboard-en.png).
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { demoConfig, demoUsers } from './config/index.ts';
import { requirePeer, which } from './testing/index.ts';
import { spawnEngine, type EngineProcess } from './testing/engine-process.ts';
import { SCENARIOS, SippGroup, callersFile, registerSippAgents } from './testing/engine-rig.ts';
import { freeUdpPort } from './testing/ports.ts';
import { buildUi } from './testing/desktop.ts';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const shots = path.join(root, 'docs', 'ui');

t.test('desktop: sign in, ready, screen pop while ringing, the call, 中文, 403 for another agent', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'chromium')) return;
  // The test drives the UI as built now, not a stale build.
  const build = buildUi();
  t.equal(build.status, 0, `vite build: ${build.stderr}`);

  const dir = t.testdir({});
  // Agents log in not ready when their phone registers: the agent goes ready in the browser.
  const agents = (demoConfig().agents ?? []).map((a) => ({ ...a, autoReadyOnRegister: false }));
  let engine: EngineProcess | undefined;
  let browser: Browser | undefined;
  const sipps = new SippGroup();
  t.teardown(async () => {
    await browser?.close();
    await sipps.close();
    await engine?.stop('SIGKILL');
  });
  engine = await spawnEngine({ dir, overrides: { agents, users: { accounts: demoUsers() } }, startTimeoutMs: 60_000 });
  const base = `http://127.0.0.1:${engine.httpPort}`;

  const phonePort = await freeUdpPort();
  // The phone rings 8 s before answering: the pop is looked at while it rings.
  sipps.start({ scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: phonePort, calls: 1, timeoutSec: 120, args: ['-d', '8000', '-mp', String(await freeUdpPort())] });
  await registerSippAgents({ sipPort: engine.sipPort }, ['1001'], phonePort);

  browser = await chromium.launch({ executablePath: which('chromium')!, headless: true, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 }, locale: 'en-US' });
  await page.goto(base + '/');
  await page.click('[data-lang=en]');
  await page.waitForSelector('text=Sign in');
  await page.fill('input[name=username]', '1001');
  await page.fill('input[name=password]', 'wrong');
  await page.click('button[type=submit]');
  await page.waitForSelector('text=Unknown user or wrong password.');
  await page.fill('input[name=password]', 'demo1001');
  await page.screenshot({ path: path.join(shots, 'signin.png') });
  await page.click('button[type=submit]');

  const status = page.locator('[data-testid=status]');
  await status.filter({ hasText: 'Not ready' }).waitFor();
  t.equal(await status.textContent(), 'Not ready', 'registered phone, logged in not ready');
  await page.click('[data-testid=ready]');
  await status.filter({ hasText: 'Ready' }).waitFor();

  // A known demo customer calls the demo-shopping-hour number.
  const caller = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${engine.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile({ dir }, ['+4915110000004']), '-d', '30000', '-mp', String(await freeUdpPort())],
  });
  const ringing = page.locator('[data-testid=call-ringing]');
  await ringing.waitFor({ timeout: 30_000 });
  t.equal(await page.textContent('[data-testid=caller]'), '+49*******0004', 'the number masked for an agent');
  t.equal(await page.textContent('[data-testid=customer]'), 'Rita Gular', "the CRM's customer name");
  t.equal(await page.textContent('[data-testid=queue]'), 'orders');
  t.equal(await page.textContent('[data-testid=programme]'), 'demo-shopping-hour');
  t.equal(await page.textContent('[data-testid=attempt]'), '1');
  await page.screenshot({ path: path.join(shots, 'desktop-ringing-en.png') });

  await page.locator('[data-testid=call-talking]').waitFor({ timeout: 30_000 });
  await page.locator('[data-testid=state]').filter({ hasText: 'On a call' }).waitFor();
  await page.waitForTimeout(1500);
  await page.screenshot({ path: path.join(shots, 'desktop-en.png') });

  await page.click('[data-lang=zh-CN]');
  await page.waitForSelector('text=当前通话');
  t.equal(await page.locator('[data-testid=state]').textContent(), '通话中');
  t.ok(await page.isVisible('text=坐席'), 'Chinese labels from the message table');
  await page.screenshot({ path: path.join(shots, 'desktop-zh.png') });

  // The same session cookie, used by hand: another agent's data is refused by the engine.
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'onair_session');
  t.ok(session?.httpOnly, 'the session cookie is HttpOnly');
  t.equal(session?.sameSite, 'Strict');
  t.equal(await page.evaluate('document.cookie'), '', 'no script reads it');
  const cookie = `onair_session=${session?.value}`;
  const other = await fetch(`${base}/api/v1/agents/1002`, { headers: { cookie } });
  t.equal(other.status, 403, "an agent cannot read another agent's data");
  t.equal((await fetch(`${base}/api/v1/cdrs`, { headers: { cookie } })).status, 403);
  const calls = await (await fetch(`${base}/api/v1/calls`, { headers: { cookie } })).json() as { items: Array<{ caller: string; agent: string }> };
  t.same(calls.items.map((c) => [c.agent, c.caller]), [['1001', '+49*******0004']], 'its own call, masked');

  // The supervisor's wallboard, in another browser context.
  const boss = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  await boss.goto(base + '/#/wallboard');
  await boss.click('[data-lang=en]');
  await boss.fill('input[name=username]', 'supervisor');
  await boss.fill('input[name=password]', 'demo-supervisor');
  await boss.click('button[type=submit]');
  await boss.locator('[data-queue=orders]').waitFor();
  await boss.locator('.tile', { hasText: '1001' }).filter({ hasText: 'On a call' }).waitFor();
  await boss.waitForTimeout(2500);
  await boss.screenshot({ path: path.join(shots, 'wallboard-en.png'), fullPage: true });

  caller.kill();
  await caller.done;
});
