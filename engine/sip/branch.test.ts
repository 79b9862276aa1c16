import t from 'tap';
import { MAGIC_COOKIE, isRfc3261Branch, newBranch, newCallId, newTag } from './branch.ts';

t.test('shapes', async (t) => {
  const b = newBranch();
  t.match(b, /^z9hG4bK[a-z2-7]{16}$/, 'cookie + 16 base32 chars (80 bits)');
  t.match(newTag(), /^[a-z2-7]{16}$/);
  t.match(newCallId(), /^[a-z2-7]{24}$/);
  t.ok(isRfc3261Branch(b));
  t.notOk(isRfc3261Branch(undefined));
  t.notOk(isRfc3261Branch('1234abcd'), 'RFC 2543 branch');
  t.notOk(isRfc3261Branch(MAGIC_COOKIE), 'the cookie alone identifies nothing');
  t.notOk(isRfc3261Branch('Z9HG4BKabc'), 'the cookie is case-sensitive');
});

t.test('unique across many pool refills, every symbol used', async (t) => {
  const seen = new Set<string>();
  const symbols = new Set<string>();
  const n = 50_000; // 50k x 16 bytes = 800 KiB: about 200 refills of the 4 KiB pool
  for (let i = 0; i < n; i++) {
    const b = newBranch();
    seen.add(b);
    for (const c of b.slice(MAGIC_COOKIE.length)) symbols.add(c);
    seen.add(newTag());
    seen.add(newCallId());
  }
  t.equal(seen.size, 3 * n, 'no collision');
  t.equal(symbols.size, 32, 'all 32 symbols appear');
});

t.test('symbol frequencies are flat (5 uniform bits per character)', async (t) => {
  const counts = new Map<string, number>();
  const n = 20_000;
  for (let i = 0; i < n; i++) for (const c of newTag()) counts.set(c, (counts.get(c) ?? 0) + 1);
  const expected = (n * 16) / 32;
  // Chi-square with 31 degrees of freedom; 70 is far beyond p = 0.0001 (about 61).
  let chi = 0;
  for (const c of counts.values()) chi += (c - expected) ** 2 / expected;
  t.ok(chi < 70, `chi-square ${chi.toFixed(1)}`);
});
