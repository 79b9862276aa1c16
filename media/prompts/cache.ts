/**
 * Prompt cache: prompts by name (`'en/welcome'` → `<dir>/en/welcome.wav`), loaded on first use and
 * kept in an LRU so a large prompt library does not all sit in memory.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import { loadWav } from './wav.ts';
import type { Prompt, WavResult } from './wav.ts';

/** Options of a {@link PromptCache}. */
export interface PromptCacheOptions {
  /** Directory holding `<lang>/<name>.wav` files. */
  dir: string;
  /** Most prompts kept in memory (each ≈ 16 kB per second of audio for both laws). Default 500. */
  max?: number;
}

/** Result of {@link PromptCache.load}. */
export type PromptResult = WavResult | { ok: false; code: 'MEDIA_ERR_PROMPT_NAME'; reason: string };

/**
 * Prompts by name. A miss reads the file synchronously (a prompt is a few kB to a few hundred kB and
 * is read once); call {@link PromptCache.preload} at start-up so the playback clock never waits on a
 * disk read in steady state.
 */
export class PromptCache {
  /** Directory prompts are read from. */
  readonly dir: string;
  private readonly lru: LRUCache<string, Prompt>;

  constructor(opts: PromptCacheOptions) {
    this.dir = path.resolve(opts.dir);
    this.lru = new LRUCache<string, Prompt>({ max: opts.max ?? 500 });
  }

  /** The prompt called `name` (`'en/welcome'`, `'zh/numbers/7'`), or undefined if it cannot be loaded. */
  get(name: string): Prompt | undefined {
    const r = this.load(name);
    return r.ok ? r.prompt : undefined;
  }

  /** Like {@link get} but says why a prompt is missing. */
  load(name: string): PromptResult {
    const hit = this.lru.get(name);
    if (hit !== undefined) return { ok: true, prompt: hit };
    // Names come from configuration and IVR flows; they must not climb out of the prompt directory.
    if (name.length === 0 || name.includes('..') || name.includes('\\') || name.startsWith('/') || name.includes('\0')) {
      return { ok: false, code: 'MEDIA_ERR_PROMPT_NAME', reason: `invalid prompt name "${name}"` };
    }
    const r = loadWav(path.join(this.dir, `${name}.wav`), name);
    if (r.ok) this.lru.set(name, r.prompt);
    return r;
  }

  /**
   * Load every `.wav` under the directory (or under `sub`, e.g. `'en'`) up to the cache size.
   * Returns the names loaded and the failures, for a start-up log line.
   */
  preload(sub = ''): { loaded: string[]; failed: { name: string; reason: string }[] } {
    const loaded: string[] = [];
    const failed: { name: string; reason: string }[] = [];
    const root = path.join(this.dir, sub);
    let entries: string[];
    try {
      entries = readdirSync(root, { recursive: true }) as string[];
    } catch (err) {
      failed.push({ name: sub, reason: `${root}: ${(err as Error).message}` });
      return { loaded, failed };
    }
    for (const entry of entries.sort()) {
      if (!entry.endsWith('.wav')) continue;
      const name = path.join(sub, entry.slice(0, -4)).split(path.sep).join('/');
      const r = this.load(name);
      if (r.ok) loaded.push(name);
      else failed.push({ name, reason: r.reason });
    }
    return { loaded, failed };
  }

  /** Number of prompts in memory. */
  get size(): number {
    return this.lru.size;
  }
}
