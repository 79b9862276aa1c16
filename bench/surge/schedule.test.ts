import t from 'tap';
import fc from 'fast-check';
import { parseProfile, loadProfile, type Profile, type ProfileInput } from './profile.ts';
import {
  callsBetween, drawCallers, expectedCalls, injectionFile, lognormalParameters, rateAt, rateCommands, rateSchedule,
  sample, seededRandom, sippPause, wholeCallsSchedule, CALLBACK_PATIENCE_MS,
} from './schedule.ts';

function profile(over: Partial<ProfileInput> = {}): Profile {
  const r = parseProfile({
    name: 'p', durationMinutes: 10, compression: 10,
    arrivals: [{ minute: 0, perSecond: 1 }, { minute: 4, perSecond: 9 }, { minute: 10, perSecond: 3 }],
    patience: { distribution: 'fixed', seconds: 50 },
    ivr: { menu: [{ digit: '1', share: 0.6, action: 'orders' }, { digit: '3', share: 0.3, action: 'callback' }, { digit: null, share: 0.1, action: 'orders' }] },
    callers: { vipShare: 0.1, blacklistedShare: 0.05 },
    agents: {
      count: 5, groups: [{ share: 1, skills: { orders: 50 } }],
      answerDelay: { distribution: 'fixed', seconds: 1 }, talk: { distribution: 'fixed', seconds: 60 }, wrapUp: { distribution: 'fixed', seconds: 5 },
    },
    ...over,
  });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.profile;
}

t.test('the curve is linear between the profile points', async (t) => {
  const p = profile();
  t.equal(rateAt(p, 0), 1);
  t.equal(rateAt(p, 2), 5);
  t.equal(rateAt(p, 4), 9);
  t.equal(rateAt(p, 7), 6);
  t.equal(rateAt(p, 10), 3);
  t.equal(rateAt(p, 11), 3, 'flat after the last point');
  // Trapezoids: (1+9)/2·240 s + (9+3)/2·360 s
  t.equal(callsBetween(p, 0, 10), 1200 + 2160);
  t.equal(expectedCalls(p), 3360);
  t.equal(callsBetween(p, 3, 5), ((7 + 9) / 2) * 60 + ((9 + 8) / 2) * 60, 'a span across a point is split at it');
});

t.test('the rate schedule sent to sipp matches the profile', async (t) => {
  const p = profile();
  const steps = rateSchedule(p);
  t.equal(steps.length, 60, '10 broadcast minutes at ×10 = 60 replay seconds');
  t.ok(steps.every((s, i) => s.atMs === i * 1000), 'one step per second');
  for (const [i, s] of steps.entries()) {
    // Replay second i stands for broadcast seconds [10i, 10i+10): its calls are that span's integral.
    const from = (i * 10) / 60;
    const exact = callsBetween(p, from, from + 10 / 60);
    t.ok(Math.abs(s.rate - exact) < 1e-9, `second ${i}: ${s.rate} = ∫ over broadcast [${(from * 60).toFixed(0)} s, +10 s)`);
  }
  // The peak is at minute 4: replay second 24 carries 10 s of ~9 calls/s.
  const peak = steps.reduce((a, b) => (b.rate > a.rate ? b : a));
  t.ok(peak.atMs === 23_000 || peak.atMs === 24_000, `peak at replay second 23-24 (got ${peak.atMs / 1000})`);
  t.ok(Math.abs(steps.reduce((a, s) => a + s.rate, 0) - expectedCalls(p)) < 1e-6, 'the steps add up to the expected callers');

  const commands = rateCommands(p);
  t.equal(commands.length, 60);
  t.match(commands[0], /^cset rate \d+$/, 'whole calls per second in sipp command syntax');
  const told = commands.map((c) => Number(c.split(' ')[2]));
  let exactSum = 0;
  let toldSum = 0;
  for (let i = 0; i < steps.length; i++) {
    exactSum += steps[i]!.rate;
    toldSum += told[i]!;
    if (Math.abs(toldSum - exactSum) > 0.5 + 1e-9) t.fail(`cumulative drift at ${i}: told ${toldSum}, curve ${exactSum}`);
  }
  t.equal(toldSum, Math.round(expectedCalls(p)), 'sipp is told exactly the expected callers in total');
});

t.test('presets reach the issue\'s targets on paper', async (t) => {
  for (const name of ['home-shopping-60', 'special-offer-30']) {
    const r = loadProfile(name);
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const steps = rateSchedule(r.profile);
    t.ok(steps.length <= 6 * 60, `${name}: replay fits in 6 minutes (${steps.length} s)`);
    t.ok(Math.max(...steps.map((s) => s.rate)) >= 200, `${name}: peak at least 200 calls/s`);
    t.equal(r.profile.agents.count, 200, `${name}: 200 agents`);
  }
  const hs = loadProfile('home-shopping-60');
  if (!hs.ok) throw new Error('home-shopping-60');
  // The final countdown is the highest wave; the earlier waves are at ~5-6 and ~20-22 min.
  const top = (from: number, to: number): number => Math.max(...Array.from({ length: 100 }, (_, i) => rateAt(hs.profile, from + ((to - from) * i) / 99)));
  t.ok(top(45, 60) > top(19, 23) && top(19, 23) > top(4, 7) && top(4, 7) > top(8, 18), 'countdown > second wave > first wave > lull');
});

t.test('whole-call schedule carries fractions', async (t) => {
  fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 300, noNaN: true }), { maxLength: 200 }), (rates) => {
    const steps = rates.map((rate, i) => ({ atMs: i * 1000, rate }));
    const whole = wholeCallsSchedule(steps);
    let a = 0;
    let b = 0;
    for (let i = 0; i < steps.length; i++) {
      a += steps[i]!.rate;
      b += whole[i]!.rate;
      if (!Number.isInteger(whole[i]!.rate) || whole[i]!.rate < 0 || Math.abs(a - b) > 0.5 + 1e-6) return false;
    }
    return true;
  }));
  t.pass('integers, never negative, cumulative error under half a call');
});

t.test('callers: deterministic, unique, shares and patience from the profile', async (t) => {
  const p = profile();
  const a = drawCallers(p, 5000, 7);
  const b = drawCallers(p, 5000, 7);
  t.same(a, b, 'same seed, same callers');
  t.notSame(drawCallers(p, 50, 8), a.slice(0, 50), 'another seed, other callers');
  t.equal(new Set(a.map((c) => c.number)).size, a.length, 'numbers are unique (the join key)');
  const share = (f: (c: (typeof a)[number]) => boolean): number => a.filter(f).length / a.length;
  t.ok(Math.abs(share((c) => c.kind === 'vip') - 0.1) < 0.02, 'vip share');
  t.ok(Math.abs(share((c) => c.kind === 'blacklisted') - 0.05) < 0.015, 'blacklisted share');
  t.ok(Math.abs(share((c) => c.digit === '1') - 0.6) < 0.03, 'menu choice 1');
  t.ok(Math.abs(share((c) => c.digit === null) - 0.1) < 0.02, 'no digit');
  t.ok(a.filter((c) => c.digit !== '3').every((c) => c.patienceMs === 5000), 'patience 50 s at ×10 = 5000 ms');
  t.ok(a.filter((c) => c.digit === '3').every((c) => c.patienceMs === CALLBACK_PATIENCE_MS), 'callback choosers wait for the goodbye');
  const file = injectionFile(a.slice(0, 3)).split('\n');
  t.equal(file[0], 'SEQUENTIAL');
  t.match(file[1], /^\+49157\d{10};[0-9x];\d+$/, 'number;digit;patienceMs');
});

t.test('distributions sample what they say', async (t) => {
  const random = seededRandom(3);
  const n = 20000;
  const mean = (d: Parameters<typeof sample>[0]): number => {
    let s = 0;
    for (let i = 0; i < n; i++) s += sample(d, random);
    return s / n;
  };
  t.ok(Math.abs(mean({ distribution: 'exponential', meanSeconds: 60, minSeconds: 0, maxSeconds: null }) - 60) < 2, 'exponential mean');
  t.ok(Math.abs(mean({ distribution: 'lognormal', meanSeconds: 150, stdevSeconds: 60 }) - 150) < 3, 'log-normal mean');
  t.ok(Math.abs(mean({ distribution: 'uniform', minSeconds: 2, maxSeconds: 6 }) - 4) < 0.1, 'uniform mean');
  for (let i = 0; i < 1000; i++) {
    const x = sample({ distribution: 'exponential', meanSeconds: 60, minSeconds: 10, maxSeconds: 100 }, random);
    if (x < 10 || x > 100) t.fail(`exponential out of [10, 100]: ${x}`);
  }
  const { mu, sigma } = lognormalParameters(150, 60);
  t.ok(Math.abs(Math.exp(mu + sigma * sigma / 2) - 150) < 1e-9, 'log-normal μ, σ give the mean back');
});

t.test('sipp pause attributes are compressed', async (t) => {
  t.equal(sippPause({ distribution: 'fixed', seconds: 20 }, 10), 'milliseconds="2000"');
  t.equal(sippPause({ distribution: 'uniform', minSeconds: 2, maxSeconds: 6 }, 10), 'distribution="uniform" min="200" max="600"');
  t.equal(sippPause({ distribution: 'exponential', meanSeconds: 30, minSeconds: 0, maxSeconds: null }, 10), 'distribution="exponential" mean="3000"');
  const { mu, sigma } = lognormalParameters(15000, 6000);
  t.equal(sippPause({ distribution: 'lognormal', meanSeconds: 150, stdevSeconds: 60 }, 10),
    `distribution="lognormal" mean="${mu.toFixed(4)}" stdev="${sigma.toFixed(4)}"`);
});
