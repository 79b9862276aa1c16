/**
 * dialResultOf: the D1 table, case by case, and over every status (total, in the result set,
 * classes as the contract says).
 */
import t from 'tap';
import fc from 'fast-check';
import { DIAL_RESULTS, dialResultOf, triesNextTrunk, type DialResult } from './index.ts';

t.test('the D1 mapping, case by case', async (t) => {
  const cases: [number | 'timeout' | 'transport', DialResult][] = [
    [200, 'answered'], [202, 'answered'],
    [486, 'busy'], [600, 'busy'],
    [480, 'no_answer'], [408, 'no_answer'], [487, 'no_answer'],
    [404, 'invalid_number'], [484, 'invalid_number'], [410, 'invalid_number'], [604, 'invalid_number'],
    [603, 'rejected'],
    [500, 'trunk_error'], [502, 'trunk_error'], [503, 'trunk_error'], [504, 'trunk_error'], [599, 'trunk_error'],
    ['timeout', 'trunk_error'], ['transport', 'trunk_error'],
    [401, 'trunk_error'], [407, 'trunk_error'],
    [403, 'rejected'], [488, 'rejected'], [400, 'rejected'], [606, 'rejected'], [302, 'rejected'],
    [100, 'trunk_error'], [180, 'trunk_error'], [700, 'trunk_error'], [Number.NaN, 'trunk_error'], [486.5, 'trunk_error'],
  ];
  for (const [status, result] of cases) t.equal(dialResultOf(status), result, `${String(status)} → ${result}`);
});

t.test('every status maps into the result set; only 2xx answers; only trunk errors fail over', async (t) => {
  fc.assert(fc.property(fc.integer({ min: -1000, max: 2000 }), (status) => {
    const r = dialResultOf(status);
    if (!DIAL_RESULTS.includes(r)) return false;
    if ((r === 'answered') !== (status >= 200 && status < 300)) return false;
    if (status >= 500 && status < 600 && r !== 'trunk_error') return false;
    // A final status never says the call was cancelled: only our own hang-up does.
    if (r === 'cancelled') return false;
    return triesNextTrunk(r) === (r === 'trunk_error');
  }));
});
