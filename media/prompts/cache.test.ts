import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PromptCache, defaultPromptDir, numberReadout, HOLD_MUSIC, READOUT_MAX } from './index.ts';

const shipped = defaultPromptDir();

t.test('prompts by name, loaded once, evicted by LRU', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-prompts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'en'));
  for (const n of ['a', 'b', 'c']) copyFileSync(path.join(shipped, 'en/goodbye.wav'), path.join(dir, 'en', `${n}.wav`));
  const cache = new PromptCache({ dir, max: 2 });
  const a = cache.get('en/a');
  t.ok(a);
  t.equal(a?.name, 'en/a');
  t.equal(cache.get('en/a'), a, 'same object from the cache');
  rmSync(path.join(dir, 'en/a.wav'));
  t.equal(cache.get('en/a'), a, 'a cached prompt survives its file');
  cache.get('en/b');
  cache.get('en/c'); // evicts en/a, the least recently used
  t.equal(cache.size, 2);
  t.equal(cache.get('en/a'), undefined, 'evicted and the file is gone');
  const r = cache.load('en/a');
  t.equal(r.ok, false);
  if (!r.ok) t.equal(r.code, 'MEDIA_ERR_WAV_READ');
});

t.test('names cannot leave the prompt directory', async (t) => {
  const cache = new PromptCache({ dir: shipped });
  for (const bad of ['../package', '/etc/passwd', 'en/../../x', '', 'en\\x', 'a\0b']) {
    const r = cache.load(bad);
    t.equal(r.ok, false, JSON.stringify(bad));
    if (!r.ok) t.equal(r.code, 'MEDIA_ERR_PROMPT_NAME');
  }
});

t.test('a bad file in the set is reported by preload', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-prompts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'en'));
  copyFileSync(path.join(shipped, 'en/goodbye.wav'), path.join(dir, 'en/goodbye.wav'));
  writeFileSync(path.join(dir, 'en/broken.wav'), 'not a wav');
  const cache = new PromptCache({ dir });
  const r = cache.preload();
  t.same(r.loaded, ['en/goodbye']);
  t.equal(r.failed.length, 1);
  t.match(r.failed[0]!.reason, /broken\.wav: not a RIFF\/WAVE file/);
  t.match(cache.preload('nope').failed[0]?.reason ?? '', /nope/);
});

t.test('the shipped prompt set is complete and small', async (t) => {
  t.ok(existsSync(path.join(shipped, 'en')), `prompt dir ${shipped}`);
  const cache = new PromptCache({ dir: shipped });
  const r = cache.preload();
  t.same(r.failed, [], 'every shipped WAV loads');
  const names = ['welcome', 'menu', 'you-are-number', 'in-queue', 'estimated-wait', 'minutes', 'seconds',
    'callback-offer', 'callback-confirmed', 'goodbye', 'invalid-choice', 'all-agents-busy'];
  for (const lang of ['en', 'zh']) {
    for (const n of names) {
      const p = cache.get(`${lang}/${n}`);
      t.ok(p !== undefined && p.durationMs > 200 && p.durationMs < 10_000, `${lang}/${n}: ${p?.durationMs} ms`);
    }
  }
  const hold = cache.get(HOLD_MUSIC);
  t.ok(hold !== undefined && hold.durationMs >= 4000, 'hold music loop of a few seconds');
  t.equal(hold!.pcmu.length % 160, 0);
  const bytes = r.loaded.reduce((n, name) => n + cache.get(name)!.pcmu.length, 0);
  // 1.5 MB before the IVR product introductions' prompts (products-intro, product-for, ...); the bound keeps the set small.
    t.ok(bytes < 1_700_000, `${bytes} bytes of audio per law`);
});

t.test('every name the number read-out can produce exists', async (t) => {
  const cache = new PromptCache({ dir: shipped });
  const missing = new Set<string>();
  const check = (n: number): void => {
    for (const lang of ['en', 'zh'] as const) {
      for (const name of numberReadout(n, lang)) if (!missing.has(name) && cache.get(name) === undefined) missing.add(name);
    }
  };
  for (let n = 0; n <= 12_000; n++) check(n);
  for (let n = 12_000; n <= READOUT_MAX; n += 997) check(n);
  check(READOUT_MAX);
  t.same([...missing], []);
});
