/**
 * Wrap-up codes end to end, in real headless Chromium against a real engine process, a sipp caller
 * and a sipp agent phone: the agent signs in and goes ready, the screen pop shows while its phone
 * rings, the phone answers, the caller hangs up, the agent picks a wrap-up code and types a note,
 * ends the wrap-up, and the CDR the built-in CRM received (through the outbox) carries the
 * disposition. Screenshots of ringing, on a call and wrap-up, in English and Chinese, go to
 * docs/desktop/.
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { demoConfig } from './config/index.ts';
import { requirePeer } from './testing/index.ts';
import { buildUi, signInReady, startDesktopRig } from './testing/desktop.ts';
import { SCENARIOS, callersFile, registerSippAgents } from './testing/engine-rig.ts';
import { freeUdpPort } from './testing/ports.ts';

const shots = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'docs', 'desktop');

t.test('wrap-up: the code and note chosen on the desktop are in the CDR the CRM got', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'chromium')) return;
  const build = buildUi();
  t.equal(build.status, 0, `vite build: ${build.stderr}`);
  const dir = t.testdir({});
  const demo = demoConfig();
  const agents = (demo.agents ?? []).map((a) => ({ ...a, autoReadyOnRegister: false }));
  // A wrap-up long enough that only the agent's "end wrap-up" can end it within the test.
  const queues = (demo.queues ?? []).map((q) => ({ ...q, wrapUpMs: 600_000 }));
  const { engine, base, sipps, browser } = await startDesktopRig(dir, { agents, queues }, (fn) => t.teardown(fn));

  const phonePort = await freeUdpPort();
  sipps.start({ scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: phonePort, calls: 1, timeoutSec: 120, args: ['-d', '5000', '-mp', String(await freeUdpPort())] });
  await registerSippAgents({ sipPort: engine.sipPort }, ['1001'], phonePort);

  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
  await signInReady(page, base, '1001', 'demo1001');

  // The caller hangs up 16 s after the engine answered it (greeting, queue, ringing, a few seconds of talk).
  const caller = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${engine.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile({ dir }, ['+4915110000004']), '-d', '16000', '-mp', String(await freeUdpPort())],
  });
  await page.locator('[data-testid=call-ringing]').waitFor({ timeout: 30_000 });
  t.equal(await page.textContent('[data-testid=customer]'), 'Rita Gular', 'the pop while the phone rings');
  await page.screenshot({ path: path.join(shots, 'ringing-en.png') });
  await page.click('[data-lang=zh-CN]');
  await page.locator('[data-testid=call-ringing]', { hasText: '来电' }).waitFor();
  await page.screenshot({ path: path.join(shots, 'ringing-zh.png') });
  await page.click('[data-lang=en]');
  await page.locator('[data-testid=call-talking]').waitFor({ timeout: 30_000 });
  await page.screenshot({ path: path.join(shots, 'on-call-en.png') });
  await page.click('[data-lang=zh-CN]');
  await page.waitForSelector('text=当前通话');
  await page.screenshot({ path: path.join(shots, 'on-call-zh.png') });
  await page.click('[data-lang=en]');

  await caller.done;
  await page.locator('[data-testid=state]').filter({ hasText: 'Wrap-up' }).waitFor({ timeout: 30_000 });
  const panel = page.locator('[data-testid=wrap-up]');
  await panel.waitFor();
  await page.selectOption('[data-testid=wrap-up-code]', 'complaint');
  await page.click('[data-testid=wrap-up-save]');
  await page.locator('text=This code needs a note.').waitFor();
  await page.fill('[data-testid=wrap-up-note]', 'parcel arrived damaged');
  await page.click('[data-testid=wrap-up-save]');
  await page.locator('[data-testid=wrap-up-saved]').waitFor();
  t.equal(await page.textContent('[data-testid=wrap-up-saved]'), 'Saved: Complaint');
  await page.screenshot({ path: path.join(shots, 'wrap-up-en.png'), fullPage: true });
  await page.click('[data-lang=zh-CN]');
  await page.waitForSelector('text=话后处理');
  await page.screenshot({ path: path.join(shots, 'wrap-up-zh.png'), fullPage: true });
  await page.click('[data-lang=en]');

  // Nothing has left yet: the CDR waits for the wrap-up's end.
  const boss = await (await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'supervisor', password: 'demo-supervisor' }) })).headers.get('set-cookie')!.split(';')[0]!;
  const cdrs = async (): Promise<Array<{ callId: string; agent: string | null; disposition?: unknown; wrapUpMs: number }>> =>
    ((await (await fetch(`${base}/api/v1/cdrs`, { headers: { cookie: boss } })).json()) as { items: Array<{ callId: string; agent: string | null; disposition?: unknown; wrapUpMs: number }> }).items;
  t.same((await cdrs()).filter((c) => c.agent === '1001'), [], 'no CDR during the wrap-up');

  await page.click('[data-testid=wrap-up-end]');
  await page.locator('[data-testid=state]').filter({ hasText: 'Idle' }).waitFor({ timeout: 10_000 });
  let mine: { disposition?: unknown; wrapUpMs: number } | undefined;
  for (let i = 0; i < 100 && mine === undefined; i++) {
    mine = (await cdrs()).find((c) => c.agent === '1001');
    if (mine === undefined) await sleep(100);
  }
  t.same(mine?.disposition, { code: 'complaint', note: 'parcel arrived damaged' }, "the CRM's CDR carries the disposition");
  t.ok(mine !== undefined && mine.wrapUpMs < 600_000, 'the wrap-up was ended early');
  const audit = await fetch(`${base}/api/v1/audit?action=call.disposition`, { headers: { cookie: boss } });
  t.equal(audit.status, 403, 'a supervisor does not read the audit log');
});
