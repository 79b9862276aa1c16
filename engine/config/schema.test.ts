import t from 'tap';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { configSchema, isCidr, isLoopback } from './index.ts';
import { defaultPromptDir } from '../../media/index.ts';
import { DEFAULT_DIALING_POLICY } from '../callbacks/index.ts';

t.test('an empty document gets every default', async (t) => {
  const c = configSchema.parse({});
  t.same(c.sip.listen, [
    { transport: 'udp', address: '127.0.0.1', port: 5060, tls: null },
    { transport: 'tcp', address: '127.0.0.1', port: 5060, tls: null },
  ]);
  t.same(c.sip.timers, { T1: 500, T2: 4000, T4: 5000 });
  t.equal(c.sip.limits.maxMessageBytes, 65535);
  t.equal(c.sip.limits.maxServerTransactionsPerSource, 20000);
  t.equal(c.sip.maxCalls, 1000);
  t.equal(c.sip.retryAfterSeconds, 5);
  t.same(c.http, { address: '127.0.0.1', port: 8080, auth: { tokens: [], openPaths: ['/healthz', '/metrics'] }, tls: null });
  t.equal(c.media.workers, availableParallelism(), 'workers default to the number of cores');
  t.equal(c.media.promptsDir, path.resolve(defaultPromptDir()), 'prompts default to the shipped set');
  t.equal(c.media.rtpPortMin, 20000);
  t.equal(c.media.rtpPortMax, 29999);
  t.same(c.database, { kind: 'sqlite', path: './var/onair.db', synchronous: 'normal', commitWindowMs: 5 });
  t.same(c.crm, {
    adapter: 'sqlite', strikeThreshold: 3, seedDemo: false, lookupDeadlineMs: 300, lookupCacheSeconds: 60,
    blacklistAction: 'reject-603', vipPriorityPerLevel: 10,
  });
  t.same(c.registrar, {
    realm: 'onair', minExpires: 60, maxExpires: 3600, defaultExpires: 3600, nonceTtlSeconds: 300, allowNoQop: false,
    sourceBlock: { maxFailures: 20, windowSeconds: 60, blockSeconds: 300 },
    accountLockout: { maxFailures: 10, windowSeconds: 600, lockSeconds: 900 }, refusalIntervalMs: 1000,
  });
  t.same(c.featureCodes, { login: '*60', ready: '*61', notReady: '*62', logout: '*63' });
  t.same(c.shutdown, { drainSeconds: 30 });
  t.same(c.log, { level: 'info' });
  t.same([c.trunks, c.agents, c.queues, c.flows, c.numbers], [[], [], [], {}, {}]);
});

t.test('list entries get their defaults', async (t) => {
  const c = configSchema.parse({
    trunks: [{ id: 'a', allow: ['10.0.0.0/8'] }],
    agents: [{ id: 'x', extension: '100', password: 'p' }],
    queues: [{ id: 'q' }],
  });
  t.match(c.trunks[0], {
    name: null, auth: null, earlyMedia: false, answerAfterSeconds: 45, callerFrom: 'pai', dialledFrom: 'ruri',
    codecs: ['PCMU', 'PCMA'], inbandDtmf: null, maxCallsPerSecond: null,
  });
  t.match(c.agents[0], { name: null, skills: {}, autoReadyOnRegister: false, maxRegistrations: 3 });
  t.match(c.queues[0], {
    skill: null, minLevel: 1, strategy: 'longestIdle', serviceLevelMs: 20000, maxLength: null, maxWaitMs: null,
    wrapUpMs: 0, ringTimeoutMs: 20000, consultRingTimeoutMs: 30000, announcePeriodMs: 0, holdMusic: 'hold/music', expansion: [],
    abandonToCallback: true, admission: { callbackAboveMs: null, overflowAboveMs: null, overflowQueueId: null, callbackDigit: '3' },
  });
});

t.test('YAML numbers are accepted where identities are text', async (t) => {
  const c = configSchema.parse({ agents: [{ id: 1001, extension: 1001, password: 1234 }], featureCodes: { ready: 61 } });
  t.same([c.agents[0]?.id, c.agents[0]?.extension, c.agents[0]?.password, c.featureCodes.ready], ['1001', '1001', '1234', '61']);
});

t.test('flow steps: the one-key input form becomes a typed step', async (t) => {
  const c = configSchema.parse({
    flows: {
      f: [
        { play: 'welcome' },
        { play: ['a', 'en/b'] },
        { menu: { options: { 1: { queue: 'q' }, 2: { callback: { queue: 'q', prompt: null } }, '#': { goto: 'g' }, 9: { hangup: null } } } },
        { queue: { id: 'q', vipQueue: 'v' } },
      ],
      g: [{ callback: 'q' }],
      h: [{ hangup: { prompt: 'goodbye' } }],
    },
  });
  t.same(c.flows.f, [
    { type: 'play', prompts: ['welcome'] },
    { type: 'play', prompts: ['a', 'en/b'] },
    {
      type: 'menu', prompt: 'menu', timeoutSeconds: 5, retries: 2, invalidPrompt: 'invalid-choice',
      options: {
        1: { type: 'queue', queue: 'q', vipQueue: null },
        2: { type: 'callback', queue: 'q', prompt: null },
        '#': { type: 'goto', flow: 'g' },
        9: { type: 'hangup', prompt: null },
      },
    },
    { type: 'queue', queue: 'q', vipQueue: 'v' },
  ]);
  t.same(c.flows.g, [{ type: 'callback', queue: 'q', prompt: 'callback-confirmed' }]);
  t.same(c.flows.h, [{ type: 'hangup', prompt: 'goodbye' }]);
});

t.test('structural errors carry the path', async (t) => {
  const issues = (input: unknown): string[] => {
    const r = configSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}|${i.code}`);
  };
  t.same(issues({ sip: { listne: [] } }), ['sip|unrecognized_keys'], 'unknown fields are refused');
  t.same(issues({ flows: { f: [{ play: 'a', queue: 'q' }] } }), ['flows.f.0|custom'], 'two kinds in one step');
  t.same(issues({ flows: { f: [{}] } }), ['flows.f.0|custom'], 'no kind');
  t.same(issues({ flows: { f: [{ menu: { options: { 1: { play: 'x' } } } }] } }), ['flows.f.0.menu.options.1|unrecognized_keys'], 'play is no action');
  t.same(issues({ sip: { listen: [{ transport: 'tls', address: '0.0.0.0' }] } }), ['sip.listen.0.tls|custom'], 'tls needs files');
  t.same(issues({ queues: [{ id: 'q', expansion: [{ add: [{ skill: 's' }] }] }] }), ['queues.0.expansion.0|custom'], 'a step needs a trigger');
  t.same(issues({ database: { kind: 'mysql' } }), ['database.kind|invalid_union']);
  t.same(issues({ crm: { adapter: 'webhook', url: 'ftp://x', secret: 's' } }), ['crm.url|invalid_format']);
  t.same(issues({ trunks: [{ id: 't', allow: ['10.0.0.0/33'] }] }), ['trunks.0.allow.0|custom']);
  t.same(issues({ http: { port: 70000 } }), ['http.port|too_big']);
});

t.test('isCidr and isLoopback', async (t) => {
  for (const ok of ['127.0.0.1', '127.0.0.1/32', '10.0.0.0/8', '0.0.0.0/0', '::1', '::1/128', '2001:db8::/32', '::/0']) t.ok(isCidr(ok), ok);
  for (const bad of ['', '10.0.0.0/', '10.0.0.0/33', '::1/129', '10.0.0/8', 'host/8', '10.0.0.0/8/8', '1.2.3.4/-1']) t.notOk(isCidr(bad), bad);
  for (const lo of ['127.0.0.1', '127.1.2.3', '::1']) t.ok(isLoopback(lo), lo);
  for (const no of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1']) t.notOk(isLoopback(no), no);
});

t.test('callbacks.dialing: the attempt policy defaults; unavailable modes, unknown zones and empty windows refused', async (t) => {
  const d = configSchema.parse({}).callbacks.dialing;
  t.same(d, { ...DEFAULT_DIALING_POLICY, mode: 'progressive', pollSeconds: 2, maxAbandonRatio: 0.03 }, 'defaults are the policy module\'s');
  const issues = (dialing: unknown): string[] => {
    const r = configSchema.safeParse({ callbacks: { dialing } });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  // predictive is refused at load (engine/config/check.ts) unless the agents are on auto-answer: e2e-dialer-predictive.test.ts.
  t.same(issues({ mode: 'predictive' }), [], 'predictive parses; the load check decides');
  t.same(issues({ mode: 'preview' }), [], 'preview dialing is available');
  t.match(issues({ timeZone: 'Mars/Olympus' }), [/timeZone: expected an IANA time zone/]);
  t.match(issues({ callingHours: [{ from: '09:00', to: '09:00' }] }), [/callingHours\.0\.to: from and to are equal/]);
  t.match(issues({ callingHours: [{ from: '9:00', to: '21:00' }] }), [/callingHours\.0\.from: expected HH:MM/]);
  t.match(issues({ callingHours: [] }), [/callingHours/]);
  t.same(issues({ callingHours: [{ days: [5], from: '21:00', to: '02:00' }, { from: '00:00', to: '24:00', days: [7] }], timeZone: 'Europe/Berlin',
    retryDelaySeconds: { busy: null, rejected: 3600 } }), [], 'across midnight, whole days, per-result delays');
});
