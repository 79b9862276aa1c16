/** The pure parts of call control: refusal bounds, DTMF in INFO, the cached look-up, settings. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CachedCallerLookup, RefusalRecorder, isPlausibleCaller, parseDtmfInfo, settingsFromConfig, DEFAULT_QUEUE_CALL_SETTINGS } from './index.ts';
import { parseConfig } from '../config/index.ts';
import { unknownCaller, type CallerInfo } from '../../crm-adapter/index.ts';

t.test('plausible caller numbers', async (t) => {
  for (const n of ['+41791234567', '0791234567', '112', '+12345678901234567890']) t.ok(isPlausibleCaller(n), n);
  for (const n of ['', 'anonymous', '+', '12', '+123456789012345678901', '41 79', '%2B4179', '+41-79', '４１７９']) t.notOk(isPlausibleCaller(n), JSON.stringify(n));
});

t.test('refusals: a token bucket per trunk, a de-dup window per number', async (t) => {
  const r = new RefusalRecorder({ recordsPerSecond: 2, burst: 3, dedupeMs: 10_000 });
  const at = 1_000_000;
  t.same(r.admit('a', '+41791', at), { record: true, callback: true });
  t.same(r.admit('a', '+41791', at), { record: true, callback: false }, 'same number in the window');
  t.same(r.admit('a', 'anonymous', at), { record: true, callback: false }, 'junk number: a CDR only');
  t.same(r.admit('a', '+41792', at), { record: false, callback: false }, 'bucket empty');
  t.same(r.admit('b', '+41792', at), { record: true, callback: true }, 'another trunk has its own bucket');
  t.same(r.admit('a', '+41792', at + 499), { record: false, callback: false }, 'less than one token refilled');
  t.same(r.admit('a', '+41792', at + 500), { record: true, callback: false }, 'refilled; the number was seen on trunk b');
  t.same(r.admit('a', '+41791', at + 10_000), { record: true, callback: true }, 'window passed');
  t.same(r.admit('a', '+41793', at + 1_000_000), { record: true, callback: true });
  t.same([r.admit('a', '1', at + 1_000_000), r.admit('a', '2', at + 1_000_000), r.admit('a', '3', at + 1_000_000)].map((v) => v.record),
    [true, true, false], 'refill capped at the burst');
});

t.test('refusals of callers the engine was too late for (sojourn admission) skip the bucket, not the de-dup', async (t) => {
  const r = new RefusalRecorder({ recordsPerSecond: 1, burst: 1, dedupeMs: 10_000 });
  const at = 1_000_000;
  t.same(r.admit('a', '+41791', at), { record: true, callback: true }, 'the bucket\'s one token');
  t.same(r.admit('a', '+41792', at), { record: false, callback: false }, 'bounded: bucket empty');
  t.same(r.admit('a', '+41793', at, false), { record: true, callback: true }, 'unbounded: recorded with its callback');
  t.same(r.admit('a', '+41794', at, false), { record: true, callback: true }, 'and the next');
  t.same(r.admit('a', '+41793', at, false), { record: true, callback: false }, 'the same number in the window: a CDR, no second task');
  t.same(r.admit('a', '+41795', at + 999), { record: false, callback: false }, 'unbounded refusals took no token');
  t.same(r.admit('a', '+41795', at + 1000), { record: true, callback: true }, 'the bucket refills as before');
});

t.test('DTMF INFO bodies', async (t) => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  t.same(parseDtmfInfo('application/dtmf-relay', b('Signal=5\r\nDuration=160\r\n')), { kind: 'digit', digit: '5' });
  t.same(parseDtmfInfo('Application/DTMF-Relay; charset=x', b('Duration=100\nsignal = #\n')), { kind: 'digit', digit: '#' });
  t.same(parseDtmfInfo('application/dtmf-relay', b('Signal=b')), { kind: 'digit', digit: 'B' });
  t.same(parseDtmfInfo('application/dtmf', b('*\r\n')), { kind: 'digit', digit: '*' });
  t.same(parseDtmfInfo('application/dtmf', b(' 0 ')), { kind: 'digit', digit: '0' });
  t.same(parseDtmfInfo('application/media_control+xml', b('<x/>')), { kind: 'other' });
  t.same(parseDtmfInfo(undefined, b('Signal=5')), { kind: 'other' });
  for (const [type, body] of [
    ['application/dtmf-relay', 'Signal=55'], ['application/dtmf-relay', 'Signal='], ['application/dtmf-relay', ''],
    ['application/dtmf-relay', 'Signal=1\nSignal=2'], ['application/dtmf-relay', 'garbage'], ['application/dtmf-relay', 'Signal=E'],
    ['application/dtmf', ''], ['application/dtmf', '12'], ['application/dtmf', '\u00ff'],
    ['application/dtmf-relay', `Signal=1\n${'x=y\n'.repeat(100)}`],
  ] as const) {
    t.equal(parseDtmfInfo(type, b(body)).kind, 'malformed', `${type} ${JSON.stringify(body.slice(0, 20))}`);
  }
});

/** A CRM adapter whose answers the test releases by hand. */
function slowCrm() {
  const waiting: { number: string; resolve: (c: CallerInfo) => void; reject: (e: Error) => void; signal: AbortSignal }[] = [];
  return {
    waiting,
    lookupCaller: (number: string, ctx: { signal: AbortSignal }) => new Promise<CallerInfo>((resolve, reject) => {
      waiting.push({ number, resolve, reject, signal: ctx.signal });
    }),
  };
}

t.test('cached look-up: deadline, cache, failures counted and logged at most once per period', async (t) => {
  const crm = slowCrm();
  const results: string[] = [];
  const warnings: { notLogged?: number }[] = [];
  let clock = 0;
  const lookup = new CachedCallerLookup({
    adapter: crm, cacheTtlMs: 60_000, metrics: { crmLookup: (_ms, r) => results.push(r) },
    log: { warn: (o) => warnings.push(o as { notLogged?: number }) }, logEveryMs: 10_000, now: () => clock,
  });
  t.same(await lookup.lookup('', '800', 50, 'c0'), unknownCaller(), 'no number: no CRM');
  t.equal(crm.waiting.length, 0);
  const p = lookup.lookup('+41791', '800', 10_000, 'c1');
  crm.waiting[0]!.resolve({ ...unknownCaller(), known: true, name: 'Ada' });
  t.equal((await p).name, 'Ada');
  t.equal((await lookup.lookup('+41791', '800', 10_000, 'c2')).name, 'Ada', 'cached');
  t.equal(crm.waiting.length, 1, 'the second look-up did not reach the CRM');
  const late = lookup.lookup('+41792', '800', 5, 'c3');
  t.same(await late, unknownCaller(), 'past the deadline: unknown caller');
  t.ok(crm.waiting[1]!.signal.aborted, 'the CRM call is aborted');
  const e1 = lookup.lookup('+41793', '800', 10_000, 'c4');
  crm.waiting[2]!.reject(new Error('down'));
  await e1;
  clock = 10_000;
  const e2 = lookup.lookup('+41794', '800', 10_000, 'c5');
  crm.waiting[3]!.reject(new Error('down'));
  await e2;
  t.same(results, ['ok', 'timeout', 'error', 'error']);
  t.equal(lookup.failures, 3);
  t.same(warnings.map((w) => w.notLogged), [0, 1], 'one line per period, with the count it did not log');
});

t.test('cached look-up: stale answers of numbers never asked again are purged once per TTL', async (t) => {
  // Not 0: the LRU takes an entry set at time 0 for one without a start.
  let clock = 1_000;
  let asked = 0;
  const lookup = new CachedCallerLookup({
    adapter: { lookupCaller: async () => { asked++; return unknownCaller(); } }, cacheTtlMs: 60_000,
    metrics: { crmLookup: () => {} }, log: { warn: () => {} }, now: () => clock,
  });
  // A surge: every caller a new number.
  for (let i = 0; i < 50; i++) await lookup.lookup(`+8613800000${String(i).padStart(3, '0')}`, '500', 300, `c${i}`);
  t.equal(lookup.cached, 50);
  clock = 31_000;
  await lookup.lookup('+8613800000000', '500', 300, 'again');
  t.equal(asked, 50, 'within the TTL: answered from the cache');
  clock = 61_001;
  await lookup.lookup('+8613900000001', '500', 300, 'later');
  t.equal(lookup.cached, 1, 'the 50 stale answers are gone, the new one is kept');
  await lookup.lookup('+8613800000001', '500', 300, 'after');
  t.equal(asked, 52, 'a purged number goes to the CRM again');
});

t.test('settingsFromConfig: per-queue settings, the callback digit matches the prompt, refusal bounds', async (t) => {
  const r = parseConfig({
    queues: [{ id: 'orders', holdMusic: 'hold/music', announcePosition: false, abandonToCallback: false }, { id: 'vip', admission: { callbackDigit: 7 } }],
    agents: [], flows: { main: [{ play: 'welcome' }, { queue: 'orders' }] },
  });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const s = settingsFromConfig(r.config);
  t.same(s.queues['orders'], { holdMusic: 'hold/music', announcePosition: false, announceWait: true, abandonToCallback: false, callbackDigit: '3', consultRingTimeoutMs: 30_000 });
  t.equal(s.queues['vip']?.callbackDigit, '7', 'a number in YAML is a digit');
  t.same(s.refusals, { recordsPerSecond: 5, burst: 50, dedupeMs: 600_000 });
  t.same(DEFAULT_QUEUE_CALL_SETTINGS, s.queues['vip'] && { ...s.queues['vip'], callbackDigit: '3' }, 'the defaults are the schema\'s');
  // The prompt the offer plays says which digit: the default must be that one.
  const script = readFileSync(path.join(import.meta.dirname, '../../media/prompts/generate.sh'), 'utf8');
  const line = script.split('\n').find((l) => l.startsWith('en callback-offer'))!;
  t.match(line, new RegExp(`Press ${s.queues['orders']?.callbackDigit} `));
  t.notOk('callbackShare' in r.config.queues[0]!, 'callbackShare is gone (nothing could honour it)');
});

t.test('settingsFromConfig: collect and branch steps from YAML-shaped config, patterns anchored, bad ones refused', async (t) => {
  const r = parseConfig({
    queues: [{ id: 'orders' }], agents: [],
    flows: {
      main: [
        { collect: { into: 'orderNumber', prompt: 'enter-order', minDigits: 6, maxDigits: 12, pattern: '20\\d+' } },
        { branch: { when: [{ var: 'orderNumber', matches: '2026\\d+' }, { hours: [{ days: [1, 2, 3, 4, 5], from: '09:00', to: '18:00' }] }], then: { queue: 'orders' } } },
        { hangup: { prompt: 'goodbye' } },
      ],
    },
  });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const [collect, branch] = settingsFromConfig(r.config).flows['main']!.steps;
  t.match(collect, { type: 'collect', into: 'orderNumber', minDigits: 6, maxDigits: 12, terminator: '#', firstDigitTimeoutMs: 8000, interDigitTimeoutMs: 3000 });
  if (collect?.type !== 'collect' || branch?.type !== 'branch') throw new Error('steps');
  t.ok(collect.pattern?.test('2012345') && !collect.pattern.test('x2012345'), 'anchored at both ends');
  t.match(branch.when, [{ kind: 'var', var: 'orderNumber' }, { kind: 'hours', timeZone: 'Asia/Shanghai' }]);
  t.same(branch.else, null);
  const bad = parseConfig({ queues: [{ id: 'orders' }], agents: [], flows: { main: [{ collect: { into: '1x', prompt: 'p', minDigits: 5, maxDigits: 2, pattern: '(' } }, { queue: 'orders' }] } });
  t.notOk(bad.ok);
  const text = JSON.stringify(bad);
  t.match(text, /expected a variable name/);
  t.match(text, /minDigits is above maxDigits/);
  t.match(text, /expected a regular expression/);
  const twoKinds = parseConfig({ queues: [{ id: 'orders' }], agents: [], flows: { main: [{ branch: { when: [{ var: 'x', equals: '1', present: true }], then: { queue: 'orders' } } }, { queue: 'orders' }] } });
  t.match(JSON.stringify(twoKinds), /exactly one of equals, matches, present/);
});
