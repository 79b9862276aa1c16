import t from 'tap';
import { numberReadout, READOUT_MAX, digitsReadout, moneyReadout, MONEY_MAX_FEN } from './index.ts';

const en = (n: number): string => numberReadout(n, 'en').map((x) => x.slice('en/numbers/'.length)).join(' ');
const zh = (n: number): string => numberReadout(n, 'zh').map((x) => x.slice('zh/numbers/'.length)).join(' ')
  .replace(/ten-thousand/g, '万').replace(/thousand/g, '千').replace(/hundred/g, '百');

t.test('English', async (t) => {
  const cases: [number, string][] = [
    [0, '0'], [7, '7'], [13, '13'], [20, '20'], [21, '20 1'], [40, '40'], [99, '90 9'],
    [100, '1 hundred'], [105, '1 hundred 5'], [118, '1 hundred 18'], [345, '3 hundred 40 5'],
    [1000, '1 thousand'], [1001, '1 thousand 1'], [1200, '1 thousand 2 hundred'],
    [21_034, '20 1 thousand 30 4'], [999_999, '9 hundred 90 9 thousand 9 hundred 90 9'],
  ];
  for (const [n, want] of cases) t.equal(en(n), want, String(n));
  t.same(numberReadout(3, 'en'), ['en/numbers/3'], 'full prompt names');
});

t.test('Mandarin', async (t) => {
  const cases: [number, string][] = [
    [0, '0'], [7, '7'], [10, '10'], [15, '10 5'], [20, '2 10'], [25, '2 10 5'],
    [100, '1 百'], [105, '1 百 0 5'], [110, '1 百 1 10'], [115, '1 百 1 10 5'], [250, '2 百 5 10'],
    [1000, '1 千'], [1005, '1 千 0 5'], [1010, '1 千 0 1 10'], [1100, '1 千 1 百'], [2019, '2 千 0 1 10 9'],
    [10_000, '1 万'], [10_005, '1 万 0 5'], [10_015, '1 万 0 1 10 5'], [12_345, '1 万 2 千 3 百 4 10 5'],
    [150_000, '10 5 万'], [100_100, '10 万 0 1 百'], [999_999, '9 10 9 万 9 千 9 百 9 10 9'],
  ];
  for (const [n, want] of cases) t.equal(zh(n), want, String(n));
});

t.test('fractions truncate, out of range throws', async (t) => {
  t.equal(en(7.9), '7');
  t.throws(() => numberReadout(-1, 'en'), RangeError);
  t.throws(() => numberReadout(READOUT_MAX + 1, 'zh'), RangeError);
  t.throws(() => numberReadout(Number.NaN, 'en'), RangeError);
});

t.test('digits one by one, non-digits skipped', async (t) => {
  t.same(digitsReadout('SO2026-07', 'zh'), ['2', '0', '2', '6', '0', '7'].map((d) => `zh/numbers/${d}`));
  t.same(digitsReadout('', 'en'), []);
});

const money = (fen: number, lang: 'en' | 'zh'): string => moneyReadout(fen, lang).map((x) => x.slice(3)).join(' ')
  .replace(/numbers\//g, '').replace(/money\//g, '').replace(/ten-thousand/g, '万').replace(/thousand/g, '千').replace(/hundred/g, '百');

t.test('amounts in 元角分 (zh) and yuan/fen (en)', async (t) => {
  const zh: [number, string][] = [
    [0, '0 yuan'], [50, '5 jiao'], [5, '5 fen'], [55, '5 jiao 5 fen'], [100, '1 yuan'], [1205, '10 2 yuan 0 5 fen'],
    [1250, '10 2 yuan 5 jiao'], [29900, '2 百 9 10 9 yuan'], [12951, '1 百 2 10 9 yuan 5 jiao 1 fen'],
    [1_000_000, '1 万 yuan'],
  ];
  for (const [fen, want] of zh) t.equal(money(fen, 'zh'), want, `zh ${fen}`);
  const en: [number, string][] = [
    [0, '0 yuan'], [50, '50 fen'], [29900, '2 百 90 9 yuan'], [12950, '1 百 20 9 yuan 50 fen'], [105, '1 yuan 5 fen'],
  ];
  for (const [fen, want] of en) t.equal(money(fen, 'en'), want, `en ${fen}`);
  t.same(moneyReadout(100, 'zh'), ['zh/numbers/1', 'zh/money/yuan'], 'full prompt names');
  t.throws(() => moneyReadout(-1, 'zh'), RangeError);
  t.throws(() => moneyReadout(1.5, 'en'), RangeError);
  t.throws(() => moneyReadout(MONEY_MAX_FEN + 1, 'en'), RangeError);
  t.equal(moneyReadout(MONEY_MAX_FEN, 'en').at(-1), 'en/money/fen');
});
