/**
 * The browser tests' rig (issue 15): the UI built as it is now, a real engine process with the
 * demo users, a sipp group and headless Chromium, all closed by the test's teardown; and signing
 * in on the page. Test and bench support only.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { ConfigInput } from '../config/index.ts';
import { demoUsers } from '../config/index.ts';
import { spawnEngine, type EngineProcess } from './engine-process.ts';
import { SippGroup } from './engine-rig.ts';
import { which } from './peers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Build the UI (vite) so a test drives the code as it is, not a stale build. Test files run in
 * parallel processes and vite refuses a second build of the same project while one runs ("Found
 * another Vite build process"): builds take turns through an exclusive lock file (one left by a
 * killed process is taken over after two minutes). A build empties `dist/ui` first, and an engine
 * another test starts meanwhile would load a half-written UI (a CI run saw a page with no
 * language buttons): so it builds only when the UI's sources changed since the last build, and
 * every later test of the run finds the build done.
 */
export function buildUi(): { status: number | null; stderr: string } {
  const lock = path.join(root, 'node_modules', '.onair-ui-build.lock');
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { force: true });
      } catch { /* released meanwhile */ }
      Atomics.wait(pause, 0, 0, 200);
    }
  }
  try {
    const stampFile = path.join(root, 'dist', '.ui-build.stamp'); // beside dist/ui, not in it: the engine serves every file there
    const stamp = uiSourceStamp();
    const built = existsSync(path.join(root, 'dist', 'ui', 'index.html')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp;
    if (built) return { status: 0, stderr: '' };
    rmSync(stampFile, { force: true });
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'ui/vite.config.ts', '--logLevel', 'warn'], { cwd: root, encoding: 'utf8' });
    if (r.status === 0) writeFileSync(stampFile, stamp);
    return { status: r.status, stderr: r.stderr };
  } finally {
    rmSync(lock, { force: true });
  }
}

/** A hash of every file the UI is built from (`ui/`, and the lock file for the dependencies' versions). */
function uiSourceStamp(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) hash.update(path.relative(root, full)).update('\0').update(readFileSync(full)).update('\0');
    }
  };
  walk(path.join(root, 'ui'));
  hash.update(readFileSync(path.join(root, 'package-lock.json')));
  return hash.digest('hex');
}

/** A running rig. */
export interface DesktopRig {
  engine: EngineProcess;
  base: string;
  sipps: SippGroup;
  browser: Browser;
}

/** Start the engine (demo users on top of `overrides`) and Chromium; `teardown` closes them, failing or not. */
export async function startDesktopRig(dir: string, overrides: Partial<ConfigInput>, teardown: (fn: () => Promise<void>) => void): Promise<DesktopRig> {
  const sipps = new SippGroup();
  let engine: EngineProcess | undefined;
  let browser: Browser | undefined;
  teardown(async () => {
    await browser?.close();
    await sipps.close();
    await engine?.stop('SIGKILL');
  });
  engine = await spawnEngine({ dir, overrides: { ...overrides, users: { accounts: demoUsers() } }, startTimeoutMs: 60_000 });
  browser = await chromium.launch({ executablePath: which('chromium')!, headless: true, args: ['--no-sandbox'] });
  return { engine, base: `http://127.0.0.1:${engine.httpPort}`, sipps, browser };
}

/** Sign in on the page at `hash` (`''` desktop, `#/wallboard`), in English. */
export async function signInPage(page: Page, base: string, hash: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/${hash}`);
  await page.click('[data-lang=en]');
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}

/** Sign an agent in on the desktop (English) and go ready: the page shows Not ready, then Ready. */
export async function signInReady(page: Page, base: string, username: string, password: string): Promise<void> {
  await signInPage(page, base, '', username, password);
  const status = page.locator('[data-testid=status]');
  await status.filter({ hasText: 'Not ready' }).waitFor();
  await page.click('[data-testid=ready]');
  await status.filter({ hasText: 'Ready' }).waitFor();
}
