import t from 'tap';
import { numberReadout, READOUT_MAX } from './index.ts';

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
