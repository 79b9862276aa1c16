/**
 * The desktop's hold and transfer buttons (ui/src/call-controls.tsx) in real headless Chromium
 * against a real engine process, a sipp caller and two sipp agent phones: agent 1001 signs in,
 * goes ready, takes the call, holds and resumes it and transfers it to the service queue from the
 * browser; agent 1006 answers there. What the engine did is read back from the CDR the CRM got:
 * the hold time and both legs.
 */
import t from 'tap';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cdr } from '../crm-adapter/index.ts';
import { demoConfig } from './config/index.ts';
import { requirePeer } from './testing/index.ts';
import { buildUi, signInReady, startDesktopRig } from './testing/desktop.ts';
import { SCENARIOS, callersFile, registerSippAgents, waitFor } from './testing/engine-rig.ts';
import { freeUdpPort } from './testing/ports.ts';

t.test('desktop: hold, resume and transfer to a queue from the browser reach the engine', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'chromium')) return;
  const build = buildUi();
  t.equal(build.status, 0, `vite build: ${build.stderr}`);
  const dir = t.testdir({});
  // Agents log in not ready when their phone registers: 1001 goes ready in the browser, 1006 by the API.
  const agents = (demoConfig().agents ?? []).map((a) => ({ ...a, autoReadyOnRegister: false }));
  const { engine, base, sipps, browser } = await startDesktopRig(dir, { agents }, (fn) => t.teardown(fn));
  const phone1 = await freeUdpPort();
  const phone6 = await freeUdpPort();
  sipps.start({ scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: phone1, calls: 1, timeoutSec: 120, args: ['-d', '300', '-mp', String(await freeUdpPort())] });
  sipps.start({ scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: phone6, calls: 1, timeoutSec: 120, args: ['-d', '300', '-mp', String(await freeUdpPort())] });
  await registerSippAgents({ sipPort: engine.sipPort }, ['1001'], phone1);
  await registerSippAgents({ sipPort: engine.sipPort }, ['1006'], phone6);
  const boss = (await fetch(`${base}/api/v1/session`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'supervisor', password: 'demo-supervisor' }),
  })).headers.get('set-cookie')!.split(';')[0]!;
  const ready = await fetch(`${base}/api/v1/agents/1006/status`, {
    method: 'POST', headers: { cookie: boss, 'content-type': 'application/json', origin: base }, body: JSON.stringify({ status: 'available' }),
  });
  t.equal(ready.status, 200, 'agent 1006 (service) is ready');

  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: 'en-US' });
  await signInReady(page, base, '1001', 'demo1001');

  // The caller hangs up 20 s after the engine answered it: greeting, ringing, the buttons, agent 1006.
  const caller = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${engine.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile({ dir }, ['+4915110000004']), '-d', '20000', '-mp', String(await freeUdpPort())],
  });
  await page.locator('[data-testid=call-controls]').waitFor({ timeout: 30_000 });
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

  await caller.done;
  const cdr = await waitFor('the CDR', async () => {
    const r = await fetch(`${base}/api/v1/cdrs`, { headers: { cookie: boss } });
    return ((await r.json()) as { items: Cdr[] }).items[0];
  }, 20_000);
  t.ok(cdr.holdMs !== undefined && cdr.holdMs >= 1000, `the hold from the browser is in the CDR (${cdr.holdMs} ms)`);
  t.match(cdr, { agent: '1006', queue: 'service', transfers: 1 });
  t.match(cdr.legs, [{ kind: 'agent', agent: '1001', endedBy: 'transfer' }, { kind: 'agent', agent: '1006', endedBy: 'hangup' }]);
});
