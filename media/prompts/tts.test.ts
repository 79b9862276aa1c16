import t from 'tap';
import type { Test } from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PromptCache, RuntimePrompts, cleanTtsText, execTts, parseWav, TTS_DEFAULTS, type RuntimePromptsOptions, type TtsExec } from './index.ts';

import { requirePeer } from '../../engine/testing/index.ts';

const tools = (t: Test): boolean => requirePeer(t, 'espeak-ng') && requirePeer(t, 'sox');

/** A renderer over a fresh directory, counting the processes it starts and the stdin they get. */
function rig(t: Test, over: Partial<RuntimePromptsOptions> = {}): { tts: RuntimePrompts; dir: string; spawned: { file: string; args: readonly string[]; stdin: string | null }[] } {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-tts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const spawned: { file: string; args: readonly string[]; stdin: string | null }[] = [];
  const inner = over.exec ?? execTts;
  const exec: TtsExec = (file, args, stdin, ms) => {
    spawned.push({ file, args, stdin });
    return inner(file, args, stdin, ms);
  };
  const tts = new RuntimePrompts({ ...TTS_DEFAULTS, dir, timeoutMs: 20_000, ...over, exec });
  return { tts, dir, spawned };
}

t.test('a zh and an en text render to valid 8 kHz µ-law prompts; the second ask is a cache hit', async (t) => {
  if (!tools(t)) return;
  const { tts, dir, spawned } = rig(t);
  const zh = await tts.render('铸铁炒锅，不粘不锈，一锅多用。', 'zh');
  const en = await tts.render('A cast-iron wok that lasts a lifetime.', 'en');
  t.ok(zh.ok && en.ok, JSON.stringify([zh, en]));
  if (!zh.ok || !en.ok) return;
  t.match(zh.name, /^tts\/[0-9a-f]{32}$/);
  t.not(zh.name, en.name);
  t.equal(zh.hit, false);
  for (const r of [zh, en]) {
    const file = path.join(dir, `${r.name.slice(4)}.wav`);
    const bytes = readFileSync(file);
    // RIFF/WAVE with format tag 7 (µ-law), one channel, 8000 Hz, 8 bits: what generate.sh makes.
    t.equal(bytes.readUInt16LE(20), 7, 'µ-law');
    t.equal(bytes.readUInt16LE(22), 1, 'mono');
    t.equal(bytes.readUInt32LE(24), 8000, '8 kHz');
    const wav = parseWav(bytes, file, r.name);
    t.ok(wav.ok && wav.prompt.durationMs > 500, `${r.name} is speech: ${wav.ok ? wav.prompt.durationMs : wav.reason} ms`);
  }
  t.equal(spawned.length, 4, 'espeak-ng and sox once per text');
  t.same(spawned.map((s) => s.file), ['espeak-ng', 'sox', 'espeak-ng', 'sox']);
  t.same(spawned[0]?.args.slice(0, 2), ['-v', 'cmn-latn-pinyin']);
  const again = await tts.render('铸铁炒锅，不粘不锈，一锅多用。', 'zh');
  t.same(again, { ok: true, name: zh.name, hit: true });
  t.equal(spawned.length, 4, 'a hit spawns no process');
  t.equal(tts.nameOf('铸铁炒锅，不粘不锈，一锅多用。', 'zh'), zh.name);

  // A restart finds the files (the index is the directory), and the workers' cache reads them.
  const opts = { ...TTS_DEFAULTS, dir, timeoutMs: 20_000 };
  let count = 0;
  const restarted = new RuntimePrompts({ ...opts, exec: (...a) => { count++; return execTts(...a); } });
  t.same(await restarted.render('A cast-iron wok that lasts a lifetime.', 'en'), { ok: true, name: en.name, hit: true });
  t.equal(count, 0);
  const cache = new PromptCache({ dir: mkdtempSync(path.join(tmpdir(), 'onair-none-')), mounts: { tts: dir } });
  const p = cache.load(en.name);
  t.ok(p.ok, 'PromptCache loads tts/<hash> from the mount');
  if (p.ok) t.equal(p.prompt.pcmu.length % 160, 0);
});

t.test('hostile text: no shell, no options, controls out, length capped', async (t) => {
  if (!tools(t)) return;
  const { tts, dir, spawned } = rig(t, { maxChars: 40 });
  const marker = path.join(dir, 'pwned');
  const hostile = `--version $(touch ${marker}) \`touch ${marker}\`; rm -rf / \u0000\u001b[31m\u202e[[h@l@U]]`;
  const r = await tts.render(hostile, 'en');
  t.ok(r.ok, JSON.stringify(r));
  t.notOk(existsSync(marker), 'nothing ran the text as a command');
  const said = spawned[0]?.stdin ?? '';
  t.notMatch(said, /[\u0000-\u001f\u007f\u202e]/u, 'control and bidi characters are out');
  t.notMatch(said, /\[\[|\]\]/, 'no phoneme brackets');
  t.ok(Array.from(said).length <= 40, `capped: ${said.length}`);
  t.notOk(spawned[0]?.args.includes(hostile), 'the text goes by stdin, never as an argument');
  t.notOk(spawned[0]?.args.some((a) => a.includes('touch')), 'no argument carries the text');

  t.same(await tts.render('\u0000\u0007 \u200b\t', 'en'), { ok: false, code: 'MEDIA_ERR_TTS_TEXT', reason: 'nothing to say' });
  const unknown = await tts.render('hello', 'fr');
  t.equal(unknown.ok ? '' : unknown.code, 'MEDIA_ERR_TTS_VOICE');
  t.equal(cleanTtsText('ａ\u0301 b\n\nc', 10), 'ａ́ b c');
  t.equal(cleanTtsText('一二三四五六', 3), '一二三', 'cut in characters');
});

t.test('failures are results: a missing program, a deadline, a full slot queue', async (t) => {
  const failing = rig(t, { exec: () => Promise.resolve('espeak-ng: spawn espeak-ng ENOENT') });
  const r = await failing.tts.render('hello', 'en');
  t.same(r, { ok: false, code: 'MEDIA_ERR_TTS_RENDER', reason: 'espeak-ng: spawn espeak-ng ENOENT' });
  t.same(readdirSync(failing.dir), [], 'no file left behind');

  const real = execTts('/nonexistent/espeak-ng', [], 'x', 1000);
  t.match(await real, /ENOENT/, 'a missing program resolves with the reason');

  // A render that hangs holds its slot until the deadline; the one waiting for the slot times out too.
  const slow = rig(t, { concurrency: 1, timeoutMs: 80, exec: () => new Promise((resolve) => setTimeout(() => resolve(null), 300)) });
  const [a, b] = await Promise.all([slow.tts.render('one', 'en'), slow.tts.render('two', 'en')]);
  t.equal(a.ok ? '' : a.code, 'MEDIA_ERR_TTS_TIMEOUT');
  t.equal(b.ok ? '' : b.code, 'MEDIA_ERR_TTS_TIMEOUT');
  t.equal(slow.spawned.length, 1, 'the second never started: the slot was taken until its deadline');

  const bogus = rig(t, { exec: (file, args) => { if (file === 'sox') writeFileSync(args[10]!, 'not a wav'); return Promise.resolve(null); } });
  const o = await bogus.tts.render('hello', 'en');
  t.equal(o.ok ? '' : o.code, 'MEDIA_ERR_TTS_OUTPUT');
});

t.test('the cache keeps at most maxEntries files, least recently used out first', async (t) => {
  if (!tools(t)) return;
  const { tts, dir } = rig(t, { maxEntries: 2 });
  const one = await tts.render('one', 'en');
  const two = await tts.render('two', 'en');
  await tts.render('one', 'en'); // one is now the most recently used
  const three = await tts.render('three', 'en');
  t.ok(one.ok && two.ok && three.ok);
  t.equal(tts.stats.entries, 2);
  t.same(readdirSync(dir).sort(), [one, three].map((r) => (r.ok ? `${r.name.slice(4)}.wav` : '')).sort(), 'two was evicted');
  const again = await tts.render('two', 'en');
  t.equal(again.ok && again.hit, false, 'an evicted text is rendered again');

  const small = rig(t, { maxBytes: 1 });
  const big = await small.tts.render('this one is kept even past the byte bound', 'en');
  t.ok(big.ok, 'the file just made stays');
  await small.tts.render('and this replaces it', 'en');
  t.equal(small.tts.stats.entries, 1);
});
