import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadProfile, parseProfile, meanSeconds, type ProfileInput } from './profile.ts';

/** A small valid profile; tests break one thing at a time. */
function valid(): ProfileInput {
  return {
    name: 'test',
    durationMinutes: 10,
    compression: 5,
    arrivals: [{ minute: 0, perSecond: 1 }, { minute: 5, perSecond: 10 }, { minute: 10, perSecond: 2 }],
    patience: { distribution: 'exponential', meanSeconds: 60 },
    ivr: { menu: [{ digit: '1', share: 0.9, action: 'orders' }, { digit: null, share: 0.1, action: 'orders' }] },
    agents: {
      count: 20,
      groups: [{ share: 1, skills: { orders: 80 } }],
      answerDelay: { distribution: 'fixed', seconds: 2 },
      talk: { distribution: 'lognormal', meanSeconds: 120, stdevSeconds: 30 },
      wrapUp: { distribution: 'uniform', minSeconds: 5, maxSeconds: 15 },
    },
  };
}

function errorsOf(input: unknown): string[] {
  const r = parseProfile(input);
  return r.ok ? [] : r.errors;
}

t.test('a valid profile gets its defaults and is frozen', async (t) => {
  const r = parseProfile(valid());
  if (!r.ok) throw new Error(r.errors.join('\n'));
  t.equal(r.profile.serviceLevel.seconds, 20, 'service level default');
  t.equal(r.profile.callers.vipShare, 0, 'vip share default');
  t.equal(r.profile.agents.ringTimeoutSeconds, 15, 'ring timeout default');
  t.ok(Object.isFrozen(r.profile) && Object.isFrozen(r.profile.arrivals[0]), 'deeply frozen');
});

t.test('bad profiles get clear errors naming the field', async (t) => {
  const cases: [string, (p: Record<string, any>) => void, RegExp][] = [
    ['shares not adding up', (p) => { p.ivr.menu[0].share = 0.5; }, /^ivr\.menu: shares must add up to 1 \(they add up to 0\.6\)/],
    ['agent group shares', (p) => { p.agents.groups[0].share = 0.7; }, /^agents\.groups: shares must add up to 1/],
    ['minutes not increasing', (p) => { p.arrivals[2].minute = 5; }, /^arrivals\.2\.minute: minutes must increase strictly/],
    ['curve not starting at 0', (p) => { p.arrivals[0].minute = 1; }, /^arrivals\.0\.minute: the curve must start at minute 0/],
    ['curve shorter than the programme', (p) => { p.durationMinutes = 20; }, /^arrivals: the curve ends at minute 10, before durationMinutes 20/],
    ['negative rate', (p) => { p.arrivals[1].perSecond = -1; }, /^arrivals\.1\.perSecond: /],
    ['unknown distribution', (p) => { p.patience = { distribution: 'gamma', meanSeconds: 3 }; }, /^patience(\.distribution)?: .*fixed \| uniform \| exponential \| lognormal/],
    ['uniform upside down', (p) => { p.agents.wrapUp = { distribution: 'uniform', minSeconds: 9, maxSeconds: 3 }; }, /^agents\.wrapUp: maxSeconds must be >= minSeconds/],
    ['a two-digit key', (p) => { p.ivr.menu[0].digit = '12'; }, /^ivr\.menu\.0\.digit: expected one DTMF digit 0-9/],
    ['the same digit twice', (p) => { p.ivr.menu[1].digit = '1'; }, /^ivr\.menu: each digit \(and null\) may appear once/],
    ['unknown field (typo)', (p) => { p.agent = p.agents; }, /^\(profile\): .*agent/],
    ['missing agents', (p) => { delete p.agents; }, /^agents: /],
    ['shares of callers over 1', (p) => { p.callers = { vipShare: 0.7, blacklistedShare: 0.5 }; }, /^callers: vipShare \+ blacklistedShare must be <= 1/],
    ['no caller ever', (p) => { for (const a of p.arrivals) a.perSecond = 0; }, /^arrivals: no caller would ever arrive/],
    ['compression out of range', (p) => { p.compression = 0.5; }, /^compression: /],
  ];
  for (const [what, change, expected] of cases) {
    const p = valid() as Record<string, any>;
    change(p);
    const errors = errorsOf(p);
    t.ok(errors.some((e) => expected.test(e)), `${what}: ${JSON.stringify(errors)}`);
  }
});

t.test('loadProfile reads the presets and names the file in errors', async (t) => {
  for (const name of ['home-shopping-60', 'special-offer-30', 'smoke']) {
    const r = loadProfile(name);
    t.ok(r.ok, `${name} is valid${r.ok ? '' : `: ${r.errors.join('; ')}`}`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'surge-profile-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'name: bad\ndurationMinutes: 0\n');
  const r = loadProfile(bad);
  t.notOk(r.ok);
  if (!r.ok) {
    t.ok(r.errors.every((e) => e.startsWith('bad.yaml: ')), 'every error names the file');
    t.ok(r.errors.some((e) => e.startsWith('bad.yaml: durationMinutes: ')), 'and the field');
  }
  const broken = path.join(dir, 'broken.json');
  writeFileSync(broken, '{ "name": ');
  const b = loadProfile(broken);
  t.ok(!b.ok && /not valid JSON/.test(b.errors[0]!), 'syntax errors are reported as such');
  const missing = loadProfile('no-such-profile');
  t.ok(!missing.ok && /no such profile/.test(missing.errors[0]!), 'unknown preset');
});

t.test('distribution means', async (t) => {
  t.equal(meanSeconds({ distribution: 'fixed', seconds: 3 }), 3);
  t.equal(meanSeconds({ distribution: 'uniform', minSeconds: 2, maxSeconds: 6 }), 4);
  t.equal(meanSeconds({ distribution: 'lognormal', meanSeconds: 150, stdevSeconds: 60 }), 150);
  t.equal(meanSeconds({ distribution: 'exponential', meanSeconds: 60, minSeconds: 0, maxSeconds: null }), 60);
  // min + m(1 - e^{-(max-min)/m}): 10 + 120(1 - e^{-590/120})
  t.ok(Math.abs(meanSeconds({ distribution: 'exponential', meanSeconds: 120, minSeconds: 10, maxSeconds: 600 }) - (10 + 120 * (1 - Math.exp(-590 / 120)))) < 1e-9);
});
