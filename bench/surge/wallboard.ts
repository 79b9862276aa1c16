/**
 * The wallboard during a surge (issue 15 must-show 4): one headless Chromium signed in as the
 * demo supervisor keeps `/#/wallboard` open for the whole run, as a team lead's screen would. The
 * page's WebSocket messages are counted by a wrapper installed before the page's own script, and
 * each second the bench reads what the page shows (callers waiting in the orders queue) beside
 * what the engine's gauge says, so the report can tell a live wallboard from a frozen one and
 * whether watching it cost the callers anything (first media, lost: compare a run without it).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { signInPage } from '../../engine/testing/desktop.ts';
import { which } from '../../engine/testing/peers.ts';

/** Counts the page's WebSocket messages (every socket it opens) and when the last one came. */
const WS_COUNTER = `
  window.__wb = { messages: 0, last: 0, opened: 0 };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__wb.opened++;
      this.addEventListener('message', () => { window.__wb.messages++; window.__wb.last = Date.now(); });
    }
  };
`;

/** What the page showed at one sample. */
export interface WallboardSample {
  /** Replay second of the run. */
  t: number;
  /** WebSocket messages the page had received so far. */
  messages: number;
  /** Seconds since the page's last message (0 when one came this second). */
  staleS: number;
  /** Callers waiting in the orders queue as the page shows them (null: not on the page). */
  shownWaiting: number | null;
  /** The engine's gauge for the same queue at the same second. */
  engineWaiting: number;
}

/** A wallboard open in a browser. */
export interface Wallboard {
  /** Read the page (bounded: a page that does not answer within 2 s counts as unread). */
  sample(t: number, engineWaiting: number): Promise<WallboardSample | null>;
  /** Screenshots in English and Chinese into `dir` (wallboard-surge-en.png, -zh.png). */
  screenshots(dir: string): Promise<string[]>;
  close(): Promise<void>;
}

/** Open the wallboard of the engine at `base` as the demo supervisor. */
export async function openWallboard(base: string, user: { username: string; password: string }): Promise<Wallboard> {
  const exe = which('chromium');
  if (exe === null) throw new Error('--wallboard needs Debian chromium (apt-get install -y chromium)');
  const browser: Browser = await chromium.launch({ executablePath: exe, headless: true, args: ['--no-sandbox'] });
  let page: Page;
  try {
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.addInitScript(WS_COUNTER);
    await signInPage(page, base, '#/wallboard', user.username, user.password);
    await page.waitForSelector('[data-testid=queues]', { timeout: 30_000 });
  } catch (err) {
    await browser.close();
    throw err;
  }
  const read = async (t: number, engineWaiting: number): Promise<WallboardSample> => {
    // A string, not a function: the bench compiles without the DOM's types.
    const r = await page.evaluate<{ messages: number; last: number; now: number; shown: number | null }>(`(() => {
      const cell = document.querySelector('[data-testid=waiting-orders]');
      return { messages: window.__wb.messages, last: window.__wb.last, now: Date.now(), shown: cell === null ? null : Number(cell.textContent) };
    })()`);
    return {
      t, messages: r.messages, staleS: r.last === 0 ? Infinity : Math.max(0, (r.now - r.last) / 1000),
      shownWaiting: r.shown !== null && Number.isFinite(r.shown) ? r.shown : null, engineWaiting,
    };
  };
  return {
    sample: (t, engineWaiting) =>
      Promise.race([read(t, engineWaiting), new Promise<null>((resolve) => setTimeout(() => resolve(null), 2000))]).catch(() => null),
    async screenshots(dir) {
      mkdirSync(dir, { recursive: true });
      const files: string[] = [];
      for (const [lang, code] of [['en', 'en'], ['zh', 'zh-CN']] as const) {
        // The language switch is on every page. A click that fails must not end the run, but the
        // screenshot is then not in that language: say so (a swallowed failure once saved an
        // English page as wallboard-surge-zh.png).
        const switched = await page.click(`[data-lang="${code}"]`, { timeout: 5000 }).then(() => true, () => false);
        if (!switched) process.stderr.write(`wallboard: could not switch the page to ${code}; no ${lang} screenshot\n`);
        if (!switched) continue;
        await page.locator(`[data-lang="${code}"].on`).waitFor({ timeout: 5000 }).catch(() => undefined);
        await page.waitForTimeout(1500);
        const file = path.join(dir, `wallboard-surge-${lang}.png`);
        await page.screenshot({ path: file, fullPage: true });
        files.push(file);
      }
      await page.click('[data-lang="en"]', { timeout: 5000 }).catch(() => undefined);
      return files;
    },
    close: () => browser.close(),
  };
}

/** The figures of a run's wallboard samples. */
export interface WallboardSummary {
  /** Samples the page answered / samples taken. */
  read: number;
  taken: number;
  /** WebSocket messages per second over the run. */
  messagesPerS: number;
  /** Longest time without a message while callers waited (s). */
  staleMaxS: number;
  /** Median and largest |shown − engine| callers waiting (the page lags the gauge by up to a second). */
  waitingErrorP50: number;
  waitingErrorMax: number;
}

/** Summarise the samples (pure: the report and its test use it). */
export function summarizeWallboard(samples: readonly (WallboardSample | null)[], seconds: number): WallboardSummary {
  const ok = samples.filter((s): s is WallboardSample => s !== null);
  const errors = ok.filter((s) => s.shownWaiting !== null).map((s) => Math.abs(s.shownWaiting! - s.engineWaiting)).sort((a, b) => a - b);
  const waitingStale = ok.filter((s) => s.engineWaiting > 0).map((s) => s.staleS);
  return {
    read: ok.length,
    taken: samples.length,
    messagesPerS: seconds > 0 ? (ok[ok.length - 1]?.messages ?? 0) / seconds : 0,
    staleMaxS: waitingStale.length > 0 ? Math.max(...waitingStale) : 0,
    waitingErrorP50: errors.length > 0 ? errors[Math.floor((errors.length - 1) / 2)]! : NaN,
    waitingErrorMax: errors.length > 0 ? errors[errors.length - 1]! : NaN,
  };
}
