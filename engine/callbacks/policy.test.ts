// The attempt policy: calling hours in IANA zones (properties against an independent oracle:
// the local time read with toLocaleString, windows laid out as minutes of the week), retry delays,
// maxAttempts, results without retry, expiry and the do-not-call check.
import t from 'tap';
import fc from 'fast-check';
import {
  ATTEMPT_RESULTS, DEFAULT_DIALING_POLICY, clockMinutes, decideAfterAttempt, inCallingHours, isDialable, isExpired, isTimeZone,
  nextAttemptAt, nextCallingTime, type CallingWindow, type DialableTask, type DialingPolicy,
} from './index.ts';

const MIN = 60_000;
const ZONES = ['Asia/Shanghai', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'America/Sao_Paulo', 'UTC',
  'Asia/Kolkata', 'Pacific/Chatham', 'Europe/London', 'America/St_Johns'];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** Oracle: local minute of the week (0 = Monday 00:00) read through a different Intl path. */
function minuteOfWeek(t: number, tz: string): number {
  const d = new Date(t);
  const day = DAYS.indexOf(d.toLocaleDateString('en-GB', { timeZone: tz, weekday: 'long' }));
  const hm = d.toLocaleTimeString('en-GB', { timeZone: tz, hour12: false, hour: '2-digit', minute: '2-digit' });
  const [h, m] = hm.split(':').map(Number) as [number, number];
  return day * 1440 + (h % 24) * 60 + m;
}

/** Oracle: windows as intervals of the week, [start, start + length) modulo 10 080 minutes. */
function oracleInside(t: number, windows: readonly CallingWindow[], tz: string): boolean {
  const mw = minuteOfWeek(t, tz);
  return windows.some((w) => {
    const from = Number(w.from.slice(0, 2)) * 60 + Number(w.from.slice(3));
    const to = Number(w.to.slice(0, 2)) * 60 + Number(w.to.slice(3));
    const length = (to - from + 1440) % 1440;
    return w.days.some((d) => {
      const start = (d - 1) * 1440 + from;
      return (mw - start + 10_080) % 10_080 < length;
    });
  });
}

const hhmm = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
const windowArb: fc.Arbitrary<CallingWindow> = fc.record({
  days: fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 7 }),
  from: fc.integer({ min: 0, max: 1439 }),
  length: fc.integer({ min: 1, max: 1439 }),
}).map(({ days, from, length }) => {
  const to = from + length;
  return { days, from: hhmm(from), to: to === 1440 ? '24:00' : hhmm(to % 1440) };
});
const windowsArb = fc.array(windowArb, { minLength: 1, maxLength: 3 });
// 2000-2100: zones have whole-minute offsets (no local mean time of the 19th century).
const instantArb = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) });
const zoneArb = fc.constantFrom(...ZONES);

function openTask(over: Partial<DialableTask> = {}): DialableTask {
  return { status: 'open', caller: '+8613800000000', arrivedAt: 0, nextAttemptAt: 0, attempts: 0, timeZone: null, ...over };
}

t.test('clock and zone parsing', async (t) => {
  t.equal(clockMinutes('00:00'), 0);
  t.equal(clockMinutes('09:30'), 570);
  t.equal(clockMinutes('24:00'), 1440);
  for (const bad of ['24:01', '9:00', '09:60', '25:00', '0900', 'ab:cd', '09:0x', '']) t.equal(clockMinutes(bad), null, bad);
  t.ok(isTimeZone('Asia/Shanghai'));
  t.notOk(isTimeZone('Mars/Olympus'));
  t.notOk(isTimeZone(''));
});

t.test('property: dialable exactly when the local time is inside a window (incl. across midnight and DST)', async () => {
  fc.assert(fc.property(instantArb, windowsArb, zoneArb, (now, callingHours, timeZone) => {
    const policy: DialingPolicy = { ...DEFAULT_DIALING_POLICY, callingHours, timeZone, expiryHours: 1e9 };
    const dialable = isDialable(openTask({ arrivedAt: now }), now, policy, () => false);
    return dialable === oracleInside(now, callingHours, timeZone);
  }), { numRuns: 2000 });
});

t.test('property: the task zone wins over the policy zone', async () => {
  fc.assert(fc.property(instantArb, windowsArb, zoneArb, zoneArb, (now, callingHours, policyZone, taskZone) => {
    const policy: DialingPolicy = { ...DEFAULT_DIALING_POLICY, callingHours, timeZone: policyZone, expiryHours: 1e9 };
    return isDialable(openTask({ arrivedAt: now, timeZone: taskZone }), now, policy, () => false) === oracleInside(now, callingHours, taskZone);
  }), { numRuns: 500 });
});

t.test('property: the next calling time is inside, not before the asked time, and no earlier minute is', async () => {
  fc.assert(fc.property(instantArb, windowsArb, zoneArb, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 16, maxLength: 16 }),
    (from, windows, tz, probes) => {
      const at = nextCallingTime(from, windows, tz);
      if (at === null) return false;
      if (at < from || !oracleInside(at, windows, tz)) return false;
      if (at === from) return true;
      if (at - from > 8 * 1440 * MIN) return false;
      // The minute before the answer is outside, and so are instants sampled in between.
      if (oracleInside(Math.max(from, at - MIN), windows, tz)) return false;
      return probes.every((p) => !oracleInside(from + Math.floor(p * (at - from - 1)), windows, tz));
    }), { numRuns: 400 });
});

t.test('DST and midnight, by hand', async (t) => {
  const berlin = (c: CallingWindow[]) => c;
  // Sunday 29 March 2026, Berlin: 02:00 CET → 03:00 CEST. A 02:00-03:00 window does not exist that day.
  const gap = berlin([{ days: [7], from: '02:00', to: '03:00' }]);
  for (let m = 0; m < 180; m += 5) t.notOk(inCallingHours(Date.UTC(2026, 2, 29, 0, m), gap, 'Europe/Berlin'), `not at 00:00Z+${m}m`);
  // A window 02:30-04:00 on that Sunday opens at 03:00 CEST (01:00Z), its first local minute.
  t.equal(nextCallingTime(Date.UTC(2026, 2, 28, 21, 0), [{ days: [7], from: '02:30', to: '04:00' }], 'Europe/Berlin'), Date.UTC(2026, 2, 29, 1, 0));
  // 25 October 2026: 02:00-03:00 happens twice (CEST, then CET); both are inside.
  t.ok(inCallingHours(Date.UTC(2026, 9, 25, 0, 30), gap, 'Europe/Berlin'), 'first 02:30');
  t.ok(inCallingHours(Date.UTC(2026, 9, 25, 1, 30), gap, 'Europe/Berlin'), 'second 02:30');
  t.notOk(inCallingHours(Date.UTC(2026, 9, 25, 2, 0), gap, 'Europe/Berlin'), '03:00 CET');
  // Friday 21:00 to Saturday 02:00 in Shanghai (UTC+8); 2026-01-09 is a Friday.
  const night = [{ days: [5], from: '21:00', to: '02:00' }];
  const sh = (d: number, h: number, m: number) => Date.UTC(2026, 0, d, h - 8, m);
  t.notOk(inCallingHours(sh(9, 20, 59), night, 'Asia/Shanghai'), 'Fri 20:59');
  t.ok(inCallingHours(sh(9, 21, 0), night, 'Asia/Shanghai'), 'Fri 21:00');
  t.ok(inCallingHours(sh(10, 1, 59), night, 'Asia/Shanghai'), 'Sat 01:59');
  t.notOk(inCallingHours(sh(10, 2, 0), night, 'Asia/Shanghai'), 'Sat 02:00');
  t.notOk(inCallingHours(sh(11, 1, 0), night, 'Asia/Shanghai'), 'Sun 01:00: the window starts on Fridays only');
  t.ok(inCallingHours(sh(10, 23, 59), [{ days: [6], from: '09:00', to: '24:00' }], 'Asia/Shanghai'), 'to 24:00 = end of day');
  t.equal(nextCallingTime(sh(10, 2, 0), night, 'Asia/Shanghai'), sh(16, 21, 0), 'next Friday');
  t.equal(nextCallingTime(0, [{ days: [], from: '09:00', to: '10:00' }], 'UTC'), null, 'a window without days never opens');
});

t.test('property: retry delays per result, maxAttempts, no retry for some results', async () => {
  const always: CallingWindow[] = [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }];
  const policyArb = fc.record({
    maxAttempts: fc.integer({ min: 1, max: 10 }),
    delays: fc.array(fc.option(fc.integer({ min: 0, max: 86_400 }), { nil: null }), { minLength: 10, maxLength: 10 }),
  });
  fc.assert(fc.property(policyArb, fc.constantFrom(...ATTEMPT_RESULTS), fc.integer({ min: 0, max: 12 }), instantArb, ({ maxAttempts, delays }, result, attempts, now) => {
    const unreached = ATTEMPT_RESULTS.filter((r) => r !== 'answered');
    const retryDelaySeconds = Object.fromEntries(unreached.map((r, i) => [r, delays[i] ?? null])) as DialingPolicy['retryDelaySeconds'];
    const policy: DialingPolicy = { ...DEFAULT_DIALING_POLICY, maxAttempts, retryDelaySeconds, callingHours: always };
    const d = decideAfterAttempt({ attempts, timeZone: null }, result, now, policy);
    const counted = result === 'agent_no_answer' || result === 'skipped' ? attempts : attempts + 1;
    if (d.attempts !== counted) return false;
    if (result === 'answered') return d.status === 'done';
    const delay = retryDelaySeconds[result];
    if (delay === null || counted >= maxAttempts) return d.status === 'exhausted';
    return d.status === 'open' && d.nextAttemptAt === now + delay * 1000;
  }), { numRuns: 3000 });
});

t.test('property: a retry lands inside the calling hours, never before its delay', async () => {
  fc.assert(fc.property(instantArb, windowsArb, zoneArb, fc.constantFrom('busy', 'no_answer', 'trunk_error', 'interrupted', 'agent_no_answer', 'failed', 'cancelled') , (now, callingHours, timeZone, result) => {
    const policy: DialingPolicy = { ...DEFAULT_DIALING_POLICY, callingHours, timeZone };
    const at = nextAttemptAt({ timeZone: null }, result, now, policy);
    const delay = policy.retryDelaySeconds[result]!;
    return at !== null && at >= now + delay * 1000 && oracleInside(at, callingHours, timeZone);
  }), { numRuns: 400 });
});

t.test('defaults: busy 5 min, no answer 15 min, invalid number and rejected are not retried', async (t) => {
  const p = DEFAULT_DIALING_POLICY;
  const at = Date.UTC(2026, 0, 5, 2, 0); // 10:00 in Shanghai
  t.same(decideAfterAttempt({ attempts: 0, timeZone: null }, 'busy', at, p), { status: 'open', attempts: 1, nextAttemptAt: at + 300_000 });
  t.same(decideAfterAttempt({ attempts: 1, timeZone: null }, 'no_answer', at, p), { status: 'open', attempts: 2, nextAttemptAt: at + 900_000 });
  t.same(decideAfterAttempt({ attempts: 0, timeZone: null }, 'invalid_number', at, p), { status: 'exhausted', attempts: 1 });
  t.same(decideAfterAttempt({ attempts: 0, timeZone: null }, 'rejected', at, p), { status: 'exhausted', attempts: 1 });
  t.same(decideAfterAttempt({ attempts: 4, timeZone: null }, 'busy', at, p), { status: 'exhausted', attempts: 5 }, 'the fifth attempt is the last');
  t.same(decideAfterAttempt({ attempts: 4, timeZone: null }, 'agent_no_answer', at, p), { status: 'open', attempts: 4, nextAttemptAt: at });
  t.same(decideAfterAttempt({ attempts: 4, timeZone: null }, 'answered', at, p), { status: 'done', attempts: 5 });
});

t.test('property: expiry, the do-not-call list, status and due time gate dialling', async () => {
  const always: CallingWindow[] = [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }];
  fc.assert(fc.property(instantArb, fc.integer({ min: 0, max: 100 * 3_600_000 }), fc.integer({ min: 1, max: 72 }), fc.boolean(),
    fc.constantFrom('open', 'claimed', 'done', 'exhausted'), fc.integer({ min: -3_600_000, max: 3_600_000 }),
    (now, age, expiryHours, listed, status, dueIn) => {
      const policy: DialingPolicy = { ...DEFAULT_DIALING_POLICY, callingHours: always, expiryHours };
      const task = openTask({ status, arrivedAt: now - age, nextAttemptAt: now + dueIn });
      const expired = age >= expiryHours * 3_600_000;
      if (isExpired(task, now, policy) !== expired) return false;
      return isDialable(task, now, policy, (n) => listed && n === task.caller) === (!expired && !listed && status === 'open' && dueIn <= 0);
    }), { numRuns: 2000 });
});
