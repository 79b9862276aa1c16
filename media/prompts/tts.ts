/**
 * Run-time prompts: text that changes (a product's description from the catalog, a customer's
 * name) spoken by espeak-ng and converted by sox exactly as `generate.sh` makes the shipped set
 * (8 kHz mono µ-law, silence trimmed, -3 dBFS peak), cached on disk by a hash of (voice, text).
 *
 * ```
 *  render(text, lang) ─ clean (NFC, controls out, length cap) ─ sha256(voice \0 text) ─▶ tts/<hash>
 *        │ in the index (a file on disk) ─────────────────────────────────────────▶ hit, no process
 *        │ being rendered already ─────────────────────────────────────────────────▶ same promise
 *        ▼ miss: wait for one of `concurrency` slots ─ espeak-ng --stdin -w raw ─ sox raw → tmp
 *          ─ parseWav(tmp) ─ rename to <hash>.wav ─ evict the least recently used over the bounds
 * ```
 * Everything runs in child processes started with `execFile` and an argument list (never a shell
 * string); the text goes to espeak-ng's stdin, so a text that looks like an option is still text.
 * The whole render has a deadline: a late, failed or refused render is a result with a code (the
 * caller plays its fallback prompt), never an exception. The files are read by the media workers'
 * {@link PromptCache} under the `tts/` mount (`tts/<hash>` → `<dir>/<hash>.wav`).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseWav } from './wav.ts';

/** Prompt-name prefix of run-time prompts (the {@link PromptCache} mount of the cache directory). */
export const TTS_PREFIX = 'tts';

/** Stable error codes of {@link RuntimePrompts.render}. */
export type TtsErrorCode =
  | 'MEDIA_ERR_TTS_TEXT' //     nothing left to say once control characters are out
  | 'MEDIA_ERR_TTS_VOICE' //    no voice configured for the language
  | 'MEDIA_ERR_TTS_TIMEOUT' //  not rendered by the deadline (waiting for a slot included)
  | 'MEDIA_ERR_TTS_RENDER' //   espeak-ng or sox failed, or is not installed
  | 'MEDIA_ERR_TTS_OUTPUT'; //  the output is not a prompt the media layer can play

/** Result of {@link RuntimePrompts.render}: the prompt's name, or why there is none. */
export type TtsResult =
  | { ok: true; name: string; hit: boolean }
  | { ok: false; code: TtsErrorCode; reason: string };

/** Runs one program with arguments and stdin; resolves with an error message or null (the test seam). */
export type TtsExec = (file: string, args: readonly string[], stdin: string | null, timeoutMs: number) => Promise<string | null>;

/** Options of {@link RuntimePrompts}. */
export interface RuntimePromptsOptions {
  /** Cache directory (created). */
  dir: string;
  /** Language → espeak-ng voice (`en` → `en-us`, `zh` → `cmn-latn-pinyin`). */
  voices: Readonly<Record<string, string>>;
  /** espeak-ng speed, words per minute (generate.sh: 150). */
  rate: number;
  /** Most files kept; the least recently used go first. */
  maxEntries: number;
  /** Most bytes kept. */
  maxBytes: number;
  /** Renders at once (each is two short processes). */
  concurrency: number;
  /** Deadline of one render from the call of `render`, ms. */
  timeoutMs: number;
  /** Longest text spoken, in characters; the rest is cut. */
  maxChars: number;
  /** Program runner; default `execFile` without a shell. */
  exec?: TtsExec;
}

/** The options' defaults (config `media.tts` uses the same). */
export const TTS_DEFAULTS = {
  voices: { en: 'en-us', zh: 'cmn-latn-pinyin' }, rate: 150, maxEntries: 2000, maxBytes: 200 * 1024 * 1024,
  concurrency: 2, timeoutMs: 5000, maxChars: 300,
} as const;

// C0/C1 controls, and format characters (bidi overrides, zero-width) that hide what is said.
const UNSPOKEN = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}\u2028\u2029]+/gu;
// espeak-ng reads `[[…]]` as phoneme mnemonics: catalog text must not choose phonemes.
const PHONEME_BRACKETS = /\[\[|\]\]/g;

/**
 * The text as it will be spoken: NFC, control and format characters turned into spaces,
 * whitespace collapsed, `[[`/`]]` out, cut to `maxChars` characters (not UTF-16 units).
 */
export function cleanTtsText(text: string, maxChars: number): string {
  const flat = text.normalize('NFC').replace(UNSPOKEN, ' ').replace(PHONEME_BRACKETS, ' ').replace(/\s+/gu, ' ').trim();
  const chars = Array.from(flat);
  return chars.length <= maxChars ? flat : chars.slice(0, maxChars).join('').trimEnd();
}

/** Default {@link TtsExec}: `execFile`, no shell, killed at the deadline, small output buffers. */
export const execTts: TtsExec = (file, args, stdin, timeoutMs) => new Promise((resolve) => {
  let child: ChildProcess;
  try {
    child = execFile(file, args, { shell: false, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024, windowsHide: true }, (err, _out, stderr) => {
      resolve(err === null ? null : `${path.basename(file)}: ${err.killed ? 'killed at the deadline' : err.message.split('\n')[0]}${stderr ? ` (${String(stderr).trim().slice(0, 200)})` : ''}`);
    });
  } catch (err) {
    resolve(`${path.basename(file)}: ${(err as Error).message}`);
    return;
  }
  // A program that exits before reading stdin must not crash the engine with EPIPE.
  child.stdin?.on('error', () => {});
  child.stdin?.end(stdin ?? '');
});

interface Entry { bytes: number }

/**
 * The run-time prompt renderer and its disk cache. One per process (the main thread); the media
 * workers only read the files.
 */
export class RuntimePrompts {
  /** The cache directory (absolute). */
  readonly dir: string;
  private readonly o: RuntimePromptsOptions;
  private readonly exec: TtsExec;
  /** Hash → entry, least recently used first (Map order). */
  private readonly index = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<TtsResult>>();
  private readonly waiters: (() => void)[] = [];
  private running = 0;
  private bytes = 0;
  private tmpSeq = 0;
  /** Renders started (each two processes). */
  private renders = 0;

  constructor(options: RuntimePromptsOptions) {
    this.o = options;
    this.dir = path.resolve(options.dir);
    this.exec = options.exec ?? execTts;
    mkdirSync(this.dir, { recursive: true });
    this.scan();
  }

  /** Files and bytes in the cache. */
  get stats(): { entries: number; bytes: number; renders: number } {
    return { entries: this.index.size, bytes: this.bytes, renders: this.renders };
  }

  /** The name `text` in `lang` has (or will have) once rendered, or null when there is nothing to say. */
  nameOf(text: string, lang: string): string | null {
    const voice = this.o.voices[lang];
    const clean = cleanTtsText(text, this.o.maxChars);
    if (voice === undefined || clean === '') return null;
    return `${TTS_PREFIX}/${hashOf(voice, clean)}`;
  }

  /** Render `text` in `lang` (or find it in the cache). Never rejects. */
  render(text: string, lang: string): Promise<TtsResult> {
    const voice = this.o.voices[lang];
    if (voice === undefined) return Promise.resolve({ ok: false, code: 'MEDIA_ERR_TTS_VOICE', reason: `no run-time prompt voice for language "${lang}"` });
    const clean = cleanTtsText(String(text), this.o.maxChars);
    if (clean === '') return Promise.resolve({ ok: false, code: 'MEDIA_ERR_TTS_TEXT', reason: 'nothing to say' });
    const hash = hashOf(voice, clean);
    const name = `${TTS_PREFIX}/${hash}`;
    const hit = this.index.get(hash);
    if (hit !== undefined && existsSync(this.file(hash))) {
      this.index.delete(hash);
      this.index.set(hash, hit);
      return Promise.resolve({ ok: true, name, hit: true });
    }
    if (hit !== undefined) this.forget(hash);
    let p = this.inflight.get(hash);
    if (p === undefined) {
      p = this.renderOnce(hash, voice, clean, performance.now() + this.o.timeoutMs)
        .catch((err: unknown): TtsResult => ({ ok: false, code: 'MEDIA_ERR_TTS_RENDER', reason: (err as Error).message }))
        .finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, p);
    }
    return p;
  }

  private async renderOnce(hash: string, voice: string, text: string, deadline: number): Promise<TtsResult> {
    const name = `${TTS_PREFIX}/${hash}`;
    if (!(await this.acquire(deadline))) return timeout(this.o.timeoutMs);
    const seq = this.tmpSeq++;
    const raw = path.join(this.dir, `.${hash}.${process.pid}.${seq}.raw.wav`);
    const tmp = path.join(this.dir, `.${hash}.${process.pid}.${seq}.wav`);
    try {
      this.renders++;
      const left = (): number => Math.max(1, Math.floor(deadline - performance.now()));
      const e1 = await this.exec('espeak-ng', ['-v', voice, '-s', String(this.o.rate), '--stdin', '-w', raw], text, left());
      if (performance.now() >= deadline) return timeout(this.o.timeoutMs);
      if (e1 !== null) return { ok: false, code: 'MEDIA_ERR_TTS_RENDER', reason: e1 };
      // The conversion of generate.sh's say(): trim silence at both ends, normalise, 8 kHz µ-law.
      const e2 = await this.exec('sox', ['-D', raw, '-r', '8000', '-c', '1', '-e', 'u-law', '-b', '8', tmp,
        'silence', '1', '0.02', '0.5%', 'reverse', 'silence', '1', '0.02', '0.5%', 'reverse', 'gain', '-n', '-3'], null, left());
      if (performance.now() >= deadline) return timeout(this.o.timeoutMs);
      if (e2 !== null) return { ok: false, code: 'MEDIA_ERR_TTS_RENDER', reason: e2 };
      const bytes = readFileSync(tmp);
      const wav = parseWav(bytes, tmp, name);
      if (!wav.ok) return { ok: false, code: 'MEDIA_ERR_TTS_OUTPUT', reason: wav.reason };
      if (wav.prompt.durationMs === 0) return { ok: false, code: 'MEDIA_ERR_TTS_OUTPUT', reason: 'the render is silent' };
      renameSync(tmp, this.file(hash));
      this.index.set(hash, { bytes: bytes.length });
      this.bytes += bytes.length;
      this.evict(hash);
      return { ok: true, name, hit: false };
    } finally {
      rmSync(raw, { force: true });
      rmSync(tmp, { force: true });
      this.release();
    }
  }

  private file(hash: string): string {
    return path.join(this.dir, `${hash}.wav`);
  }

  /** Rebuild the index from the directory, oldest first; leftovers of a crash are removed. */
  private scan(): void {
    const found: { hash: string; bytes: number; mtime: number }[] = [];
    for (const f of readdirSync(this.dir)) {
      const full = path.join(this.dir, f);
      if (f.startsWith('.')) { rmSync(full, { force: true }); continue; }
      const m = /^([0-9a-f]{32})\.wav$/.exec(f);
      if (m === null) continue;
      const st = statSync(full);
      found.push({ hash: m[1]!, bytes: st.size, mtime: st.mtimeMs });
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const x of found) {
      this.index.set(x.hash, { bytes: x.bytes });
      this.bytes += x.bytes;
    }
    this.evict(null);
  }

  /** Drop the least recently used files until both bounds hold (never `keep`, the one just made). */
  private evict(keep: string | null): void {
    for (const hash of this.index.keys()) {
      if (this.index.size <= this.o.maxEntries && this.bytes <= this.o.maxBytes) return;
      if (hash === keep) continue;
      this.forget(hash);
      rmSync(this.file(hash), { force: true });
    }
  }

  private forget(hash: string): void {
    const e = this.index.get(hash);
    if (e === undefined) return;
    this.index.delete(hash);
    this.bytes -= e.bytes;
  }

  private acquire(deadline: number): Promise<boolean> {
    if (this.running < this.o.concurrency) {
      this.running++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.running++;
        resolve(true);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, Math.max(0, deadline - performance.now()));
      this.waiters.push(wake);
    });
  }

  private release(): void {
    this.running--;
    this.waiters.shift()?.();
  }
}

function hashOf(voice: string, text: string): string {
  return createHash('sha256').update(voice).update('\0').update(text).digest('hex').slice(0, 32);
}

function timeout(ms: number): TtsResult {
  return { ok: false, code: 'MEDIA_ERR_TTS_TIMEOUT', reason: `not rendered within ${ms} ms` };
}
