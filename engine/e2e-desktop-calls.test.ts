/**
 * The desktop's hold, transfer and consultation buttons (ui/src/call-controls.tsx) in real
 * headless Chromium against a real engine process, a sipp caller and two sipp agent phones: agent
 * 1001 signs in, goes ready, takes the call, holds and resumes it and transfers it to the service
 * queue from the browser; agent 1006 answers there. In a second call 1001 consults 1006 from the
 * browser, joins the caller in (a three-way conference: screenshots docs/desktop/conference-en.png
 * and -zh.png) and leaves it, which completes the attended transfer. What the engine did is read
 * back from the CDR the CRM got: the hold time and the legs.
 */
import t, { type Test } from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cdr } from '../crm-adapter/index.ts';
import { demoConfig } from './config/index.ts';
import { requirePeer } from './testing/index.ts';
import { buildUi, signInReady, startDesktopRig } from './testing/desktop.ts';
import { SCENARIOS, callersFile, registerSippAgents, waitFor } from './testing/engine-rig.ts';
import { freeUdpPort } from './testing/ports.ts';

const shots = path.join(path.dirname(path.dirname(fileURLToPath(import.meta.url))), 'docs', 'desktop');

/**
 * Agents 1001 (signed in and ready in the browser) and 1006 (ready by the API) on sipp phones
 * (1006 rings `ringMs6`), a sipp caller to number 100 who hangs up 20 s after the engine answered
 * it, and the desktop showing the call's controls.
 */
async function onCall(t: Test, ringMs6: number, callerNumber: string) {
  const build = buildUi();
  t.equal(build.status, 0, `vite build: ${build.stderr}`);
  const dir = t.testdir({});
  // Agents log in not ready when their phone registers: 1001 goes ready in the browser, 1006 by the API.
  const agents = (demoConfig().agents ?? []).map((a) => ({ ...a, autoReadyOnRegister: false }));
  const { engine, base, sipps, browser } = await startDesktopRig(dir, { agents }, (fn) => t.teardown(fn));
  const phone1 = await freeUdpPort();
  const phone6 = await freeUdpPort();
  sipps.start({ scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: phone1, calls: 1, timeoutSec: 120, args: ['-d', '300', '-mp', String(await freeUdpPort())] });
  sipps.start({ scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: phone6, calls: 1, timeoutSec: 120, args: ['-d', String(ringMs6), '-mp', String(await freeUdpPort())] });
  await registerSippAgents({ sipPort: engine.sipPort }, ['1001'], phone1);
  await registerSippAgents({ sipPort: engine.sipPort }, ['1006'], phone6);
  const boss = (await fetch(`${base}/api/v1/session`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'supervisor', password: 'demo-supervisor' }),
  })).headers.get('set-cookie')!.split(';')[0]!;
  const ready = await fetch(`${base}/api/v1/agents/1006/status`, {
    method: 'POST', headers: { cookie: boss, 'content-type': 'application/json', origin: base }, body: JSON.stringify({ status: 'available' }),
  });
  t.equal(ready.status, 200, 'agent 1006 is ready');

  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
  await signInReady(page, base, '1001', 'demo1001');
  const caller = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${engine.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile({ dir }, [callerNumber]), '-d', '20000', '-mp', String(await freeUdpPort())],
  });
  await page.locator('[data-testid=call-controls]').waitFor({ timeout: 30_000 });
  const cdr = async (): Promise<Cdr> => {
    await caller.done;
    return waitFor('the CDR', async () => {
      const r = await fetch(`${base}/api/v1/cdrs`, { headers: { cookie: boss } });
      return ((await r.json()) as { items: Cdr[] }).items[0];
    }, 20_000);
  };
  return { page, cdr };
}

t.test('desktop: hold, resume and transfer to a queue from the browser reach the engine', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'chromium')) return;
  // The caller hangs up 20 s after the engine answered it: greeting, ringing, the buttons, agent 1006.
  const { page, cdr: lastCdr } = await onCall(t, 300, '+4915110000004');
  await page.click('[data-testid=hold]');
  await page.locator('[data-testid=on-hold]').waitFor();
  t.equal(await page.textContent('[data-testid=hold]'), 'Resume', 'held: the button resumes');
  await sleep(1000);
  await page.click('[data-testid=hold]');
  await page.locator('[data-testid=on-hold]').waitFor({ state: 'detached' });
  await page.selectOption('[data-testid=transfer-kind]', 'queue');
  await page.fill('[data-testid=transfer-target]', 'orders');
  await page.click('[data-testid=transfer]');
  await page.locator('[role=alert]', { hasText: 'CALLS_ERR_LOOP' }).waitFor();
  t.pass('the engine\'s refusal (the queue the call is in) is shown');
  await page.fill('[data-testid=transfer-target]', 'service');
  await page.click('[data-testid=transfer]');
  await page.locator('[data-testid=transferred]').waitFor();
  t.equal(await page.textContent('[data-testid=transferred]'), 'Transferred: service');

  const cdr = await lastCdr();
  t.ok(cdr.holdMs !== undefined && cdr.holdMs >= 1000, `the hold from the browser is in the CDR (${cdr.holdMs} ms)`);
  t.match(cdr, { agent: '1006', queue: 'service', transfers: 1 });
  t.match(cdr.legs, [{ kind: 'agent', agent: '1001', endedBy: 'transfer' }, { kind: 'agent', agent: '1006', endedBy: 'hangup' }]);
});

t.test('desktop: consult another agent, join the caller in (conference), leave: the transfer completes (attended transfer)', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'chromium')) return;
  // B rings 1.5 s: the desktop shows the consultation ringing, then talking.
  const { page, cdr: lastCdr } = await onCall(t, 1500, '+4915110000005');
  await page.fill('[data-testid=consult-agent]', '1001');
  await page.click('[data-testid=consult]');
  await page.locator('[role=alert]', { hasText: 'CALLS_ERR_LOOP' }).waitFor();
  t.pass('the engine\'s refusal (its own agent) is shown');
  await page.fill('[data-testid=consult-agent]', '1006');
  await page.click('[data-testid=consult]');
  await page.locator('[data-testid=consulting]', { hasText: 'ringing' }).waitFor();
  t.ok(await page.isDisabled('[data-testid=consult-complete]'), 'no completion while B rings');
  t.ok(await page.isDisabled('[data-testid=consult-conference]'), 'no conference while B rings');
  await page.locator('[data-testid=consulting]', { hasText: 'talking' }).waitFor({ timeout: 15_000 });
  t.notOk(await page.isDisabled('[data-testid=consult-complete]'), 'completion once A and B talk');
  await page.click('[data-testid=consult-conference]');
  await page.locator('[data-testid=consulting]', { hasText: 'conference' }).waitFor();
  t.equal(await page.locator('[data-testid=consult-complete]').count(), 0, 'in conference: leave, not complete');
  await page.screenshot({ path: path.join(shots, 'conference-en.png') });
  await page.click('[data-lang=zh-CN]');
  await page.locator('[data-testid=conference-leave]', { hasText: '退出三方' }).waitFor();
  t.match(await page.textContent('[data-testid=consulting]'), /三方通话/);
  await page.screenshot({ path: path.join(shots, 'conference-zh.png') });
  await page.click('[data-testid=conference-leave]');
  await page.locator('[data-testid=transferred]').waitFor();
  t.equal(await page.textContent('[data-testid=transferred]'), '已转接：1006');

  const cdr = await lastCdr();
  t.match(cdr, { agent: '1006', queue: 'orders', transfers: 1 });
  t.match(cdr.legs, [
    { kind: 'agent', agent: '1001', endedBy: 'transfer' }, { kind: 'consult', agent: '1006', endedBy: 'transfer' },
    { kind: 'conference', agent: '1006', endedBy: 'transfer' }, { kind: 'agent', agent: '1006', endedBy: 'hangup' },
  ], 'the consultation, the conference and both agents in the CDR');
});
