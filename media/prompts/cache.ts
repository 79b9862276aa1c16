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
  /**
   * Other directories by the first part of the name: `{ tts: '/var/tts' }` reads `tts/ab12` from
   * `/var/tts/ab12.wav` (the run-time prompts of tts.ts, kept apart from the shipped set).
   */
  mounts?: Readonly<Record<string, string>>;
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
  private readonly mounts: ReadonlyMap<string, string>;

  constructor(opts: PromptCacheOptions) {
    this.dir = path.resolve(opts.dir);
    this.mounts = new Map(Object.entries(opts.mounts ?? {}).map(([k, v]) => [k, path.resolve(v)]));
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
    const r = loadWav(this.fileOf(name), name);
    if (r.ok) this.lru.set(name, r.prompt);
    return r;
  }

  /** The file of a (checked) name: under its mount when its first part is one, else under `dir`. */
  private fileOf(name: string): string {
    const slash = name.indexOf('/');
    const mount = slash > 0 ? this.mounts.get(name.slice(0, slash)) : undefined;
    return mount === undefined ? path.join(this.dir, `${name}.wav`) : path.join(mount, `${name.slice(slash + 1)}.wav`);
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
