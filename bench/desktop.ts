/**
 * `npm run bench -- desktop [calls]`: screen-pop delay (issue 15). A real engine process, one agent
 * signed in to the desktop in headless Chromium, its phone a sipp UAS that logs the wall-clock time
 * each INVITE arrives (bench/desktop/agent-answer-time.xml, gettimeofday), and a sipp caller making
 * one call at a time. The page records when the ringing pop is in the DOM and a frame has passed
 * (a MutationObserver, then requestAnimationFrame, `Date.now()`); both clocks are this host's wall
 * clock, so `pop - invite` is the delay from the agent's INVITE leaving the engine (its arrival at
 * the phone on loopback) to the pop rendered. Calls are sequential, so the n-th pop is the n-th
 * INVITE's. Metric: `screen_pop_p99_ms` (target <= 200 ms), with p50, max and the samples.
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import { emit, machine, quantile, say } from './lib.ts';
import { demoConfig, demoUsers } from '../engine/config/index.ts';
import { spawnEngine } from '../engine/testing/engine-process.ts';
import { SCENARIOS, callersFile, registerSippAgents } from '../engine/testing/engine-rig.ts';
import { freeUdpPort } from '../engine/testing/ports.ts';
import { startSipp } from '../engine/testing/sipp.ts';
import { which } from '../engine/testing/index.ts';

const BENCH = 'desktop';
const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Installed before the page's own script: one timestamp per appearance of the ringing pop, handed
 * to the bench at once (`__pop`, an exposed binding) so a page that reloads or dies keeps the pops
 * it has already shown (a 100-call run once lost all of them with the page).
 */
const POP_OBSERVER = `
  let shown = false;
  new MutationObserver(() => {
    const now = document.querySelector('[data-testid=call-ringing]') !== null;
    if (now && !shown) requestAnimationFrame(() => window.__pop(Date.now()));
    shown = now;
  }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-testid'] });
`;

export async function main(args: string[]): Promise<void> {
  const calls = Number(args[0] ?? 20);
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-bench-desktop-'));
  const logFile = path.join(dir, 'phone.log');
  const demo = demoConfig();
  const agents = (demo.agents ?? []).map((a) => ({ ...a, autoReadyOnRegister: false }));
  // Short wrap-up: the agent is free again well before the next call.
  const queues = (demo.queues ?? []).map((q) => ({ ...q, wrapUpMs: 200 }));
  const engine = await spawnEngine({ dir, overrides: { agents, queues, users: { accounts: demoUsers() } }, startTimeoutMs: 60_000 });
  const browser = await chromium.launch({ executablePath: which('chromium')!, headless: true, args: ['--no-sandbox'] });
  const sipps: ReturnType<typeof startSipp>[] = [];
  try {
    const base = `http://127.0.0.1:${engine.httpPort}`;
    const phonePort = await freeUdpPort();
    sipps.push(startSipp({
      scenario: path.join(here, 'desktop', 'agent-answer-time.xml'), transport: 'u1', localPort: phonePort, calls, timeoutSec: calls * 10 + 60,
      args: ['-d', '300', '-mp', String(await freeUdpPort()), '-trace_logs', '-log_file', logFile],
    }));
    await registerSippAgents({ sipPort: engine.sipPort }, ['1001'], phonePort);
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    const pops: number[] = [];
    let reloads = -1;
    await page.exposeFunction('__pop', (t: number) => { pops.push(t); });
    page.on('load', () => { reloads += 1; });
    page.on('crash', () => say('desktop: the page crashed'));
    page.on('close', () => say('desktop: the page closed'));
    browser.on('disconnected', () => say('desktop: Chromium disconnected'));
    page.on('pageerror', (e) => say(`desktop: page error ${e.message}`));
    await page.addInitScript(POP_OBSERVER);
    await page.goto(base + '/');
    await page.fill('input[name=username]', '1001');
    await page.fill('input[name=password]', 'demo1001');
    await page.click('button[type=submit]');
    await page.locator('[data-testid=ready]').waitFor();
    await page.click('[data-testid=ready]');
    await page.locator('[data-testid=status].st-available').waitFor();
    // One call every 3 s, each hangs up 2 s after the engine answered it (greeting, ring, talk).
    const caller = startSipp({
      scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${engine.sipPort}`, transport: 'u1', calls, rate: 1, limit: 1,
      timeoutSec: calls * 10 + 60, args: ['-rp', '3000', '-s', '100', '-inf', callersFile({ dir }, ['+4915110000004']), '-d', '4000', '-mp', String(await freeUdpPort())],
    });
    sipps.push(caller);
    const r = await caller.done;
    await sleep(1000);
    const invites = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith('INVITE ')).map((l) => {
      const [, s, us] = l.trim().split(/\s+/);
      return Number(s) * 1000 + Number(us) / 1000;
    });
    const n = Math.min(pops.length, invites.length);
    const delays = Array.from({ length: n }, (_, i) => pops[i]! - invites[i]!);
    say(`desktop: ${calls} calls (sipp ${r.successful} ok, ${r.failed} failed), ${invites.length} INVITEs at the phone, ${pops.length} pops, ${reloads} page reloads`);
    say(`  delays ms: ${delays.map((d) => d.toFixed(1)).join(' ')}`);
    const round = (x: number): number => Math.round(x * 10) / 10;
    const sorted = [...delays].sort((a, b) => a - b);
    emit({
      bench: BENCH, metric: 'screen_pop_p99_ms', value: round(quantile(sorted, 0.99)), unit: 'ms', target_ms: 200,
      p50_ms: round(quantile(sorted, 0.5)), max_ms: round(sorted.at(-1) ?? NaN), samples: n, invites: invites.length, pops: pops.length, reloads,
      load: os.loadavg().map((x) => Math.round(x * 100) / 100), machine: machine(),
    });
  } finally {
    for (const s of sipps) s.kill();
    await browser.close();
    await engine.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
