import t from 'tap';
import { checkConfig, configSchema, parseConfig } from './index.ts';
import type { ConfigInput } from './index.ts';

/** A small valid configuration; each test breaks one thing. */
function base(): Record<string, any> {
  return {
    trunks: [{ id: 'carrier', allow: ['127.0.0.1/32'] }],
    agents: [
      { id: 'a1', extension: '2001', password: 'secret-1', skills: { orders: 50 } },
      { id: 'a2', extension: '2002', password: 'secret-2', skills: { service: 50 } },
    ],
    queues: [{ id: 'orders' }, { id: 'service' }],
    flows: {
      main: [
        { play: 'welcome' },
        { menu: { options: { 1: { queue: 'orders' }, 2: { queue: 'service' } } } },
        { queue: 'orders' },
      ],
    },
    numbers: { default: { flow: 'main' } },
  };
}

function errorsOf(input: ConfigInput): string[] {
  const r = parseConfig(input, { env: {} });
  return r.ok ? [] : r.errors;
}

function warningsOf(input: ConfigInput): string[] {
  const r = parseConfig(input, { env: {} });
  return r.ok ? r.warnings : [`unexpected errors: ${r.errors.join('; ')}`];
}

t.test('the base configuration is clean', async (t) => {
  t.same(errorsOf(base()), []);
  t.same(warningsOf(base()), []);
});

/** [what, mutation, expected error (exact)] */
const cases: Array<[string, (c: Record<string, any>) => void, string]> = [
  ['duplicate socket', (c) => { c.sip = { listen: [{ transport: 'udp', address: '127.0.0.1' }, { transport: 'udp', address: '127.0.0.1' }] }; },
    "sip.listen[1]: duplicate socket 'udp 127.0.0.1:5060' (also sip.listen[0])"],
  ['T1 above T2', (c) => { c.sip = { timers: { T1: 5000, T2: 4000 } }; }, 'sip.timers.T1: 5000 is above T2 (4000)'],
  ['header above message', (c) => { c.sip = { limits: { maxMessageBytes: 4096, maxHeaderBytes: 8192 } }; },
    'sip.limits.maxHeaderBytes: 8192 is above maxMessageBytes (4096)'],
  ['open API on a public address', (c) => { c.http = { address: '0.0.0.0' }; },
    'http.auth.tokens: empty while http.address 0.0.0.0 is not loopback; an open API is allowed only on 127.0.0.1 or ::1'],
  ['odd RTP min', (c) => { c.media = { rtpPortMin: 20001 }; }, 'media.rtpPortMin: 20001 must be even (RTP on even ports, RTCP on the next)'],
  ['even RTP max', (c) => { c.media = { rtpPortMax: 29998 }; }, 'media.rtpPortMax: 29998 must be odd (the range holds whole RTP/RTCP pairs)'],
  ['RTP max below min', (c) => { c.media = { rtpPortMin: 30000, rtpPortMax: 20001 }; }, 'media.rtpPortMax: 20001 must be above rtpPortMin (30000)'],
  ['RTP range too small', (c) => { c.media = { rtpPortMin: 20000, rtpPortMax: 20005, workers: 2 }; },
    'media.rtpPortMax: range 20000-20005 is too small for 2 workers (4 ports each at least)'],
  ['SIP port in the RTP range', (c) => { c.sip = { listen: [{ transport: 'udp', address: '127.0.0.1', port: 20000 }] }; },
    'sip.listen[0].port: 20000 lies in the RTP range 20000-29999'],
  ['language not listed', (c) => { c.media = { language: 'fr' }; }, "media.language: 'fr' is not in media.languages (en, zh)"],
  ['duplicate trunk', (c) => { c.trunks.push({ id: 'carrier', allow: ['::1'] }); }, "trunks[1].id: duplicate trunk id 'carrier' (also trunks[0].id)"],
  ['codec twice', (c) => { c.trunks[0].codecs = ['PCMU', 'PCMU']; }, 'trunks[0].codecs: a codec is listed twice'],
  ['duplicate agent id', (c) => { c.agents[1].id = 'a1'; }, "agents[1].id: duplicate agent id 'a1' (also agents[0].id)"],
  ['duplicate extension', (c) => { c.agents[1].extension = '2001'; }, "agents[1].extension: duplicate extension '2001' (also agents[0].extension)"],
  ['unknown skill', (c) => { c.agents[0].skills.sales = 10; }, "agents[0].skills.sales: no queue uses skill 'sales' (queues: orders, service)"],
  ['expiries out of order', (c) => { c.registrar = { minExpires: 600, maxExpires: 300, defaultExpires: 400 }; },
    'registrar.minExpires: 600 is above maxExpires (300)'],
  ['default expiry outside', (c) => { c.registrar = { minExpires: 60, maxExpires: 300, defaultExpires: 3600 }; },
    'registrar.defaultExpires: 3600 is outside minExpires..maxExpires (60..300)'],
  ['duplicate queue', (c) => { c.queues.push({ id: 'orders' }); }, "queues[2].id: duplicate queue id 'orders' (also queues[0].id)"],
  ['unknown overflow queue', (c) => { c.queues[0].maxWaitQueueId = 'nowhere'; c.queues[0].maxWaitMs = 1000; },
    "queues[0].maxWaitQueueId: 'nowhere' is not a queue"],
  ['overflow to itself', (c) => { c.queues[0].fullOverflowQueueId = 'orders'; c.queues[0].maxLength = 5; },
    'queues[0].fullOverflowQueueId: points to the queue itself'],
  ['admission half set', (c) => { c.queues[0].admission = { overflowAboveMs: 1000 }; },
    'queues[0].admission: overflowAboveMs and overflowQueueId go together'],
  ['unknown callback queue', (c) => { c.callbacks = { defaultQueue: 'nope' }; }, "callbacks.defaultQueue: 'nope' is not a queue"],
  ['flow without an end', (c) => { c.flows.main.pop(); }, 'flows.main: the last step must be queue, callback, hangup or goto'],
  ['step after the end', (c) => { c.flows.main.push({ play: 'goodbye' }); }, 'flows.main[3]: unreachable, step 2 (queue) ends the flow'],
  ['flow to an unknown queue', (c) => { c.flows.main[2] = { queue: 'sales' }; }, "flows.main[2].queue: 'sales' is not a queue"],
  ['menu to an unknown queue', (c) => { c.flows.main[1].menu.options[3] = { callback: 'sales' }; },
    `flows.main[1].menu.options["3"]: 'sales' is not a queue`],
  ['unknown vip queue', (c) => { c.flows.main[2] = { queue: { id: 'orders', vipQueue: 'gold' } }; }, "flows.main[2].queue: 'gold' is not a queue"],
  ['goto an unknown flow', (c) => { c.flows.main[2] = { goto: 'other' }; }, "flows.main[2].goto: 'other' is not a flow"],
  ['goto loop', (c) => { c.flows.a = [{ play: 'welcome' }, { goto: 'b' }]; c.flows.b = [{ goto: 'a' }]; c.numbers['1'] = { flow: 'a' }; },
    'flows.a: goto loop a → b → a with no menu to leave it'],
  ['goto loop through a branch, nothing that waits', (c) => {
    c.flows.a = [{ branch: { when: [{ var: 'x', present: true }], then: { goto: 'b' } } }, { goto: 'b' }];
    c.flows.b = [{ goto: 'a' }];
    c.numbers['1'] = { flow: 'a' };
  }, 'flows.a: goto loop a → b → a with no play, menu or collect to wait in'],
  ['a collect prompt that does not exist', (c) => { c.flows.main.unshift({ collect: { into: 'orderNumber', prompt: 'no-such-prompt' } }); },
    "flows.main[0].collect.prompt: prompt 'no-such-prompt' not found (en/no-such-prompt.wav, zh/no-such-prompt.wav in the prompts directory)"],
  ['missing prompt', (c) => { c.flows.main[0] = { play: 'no-such-prompt' }; },
    "flows.main[0].play[0]: prompt 'no-such-prompt' not found (en/no-such-prompt.wav, zh/no-such-prompt.wav in the prompts directory)"],
  ['missing fixed prompt', (c) => { c.flows.main[1].menu.invalidPrompt = 'fr/invalid-choice'; },
    "flows.main[1].menu.invalidPrompt: prompt 'fr/invalid-choice' not found (fr/invalid-choice.wav in the prompts directory)"],
  ['missing hold music', (c) => { c.queues[0].holdMusic = 'hold/jazz'; },
    "queues[0].holdMusic: prompt 'hold/jazz' not found (hold/jazz.wav in the prompts directory)"],
  ['missing prompt in another language', (c) => { c.media = { languages: ['en', 'zh', 'de'] }; },
    "flows.main[0].play[0]: prompt 'welcome' not found (de/welcome.wav in the prompts directory)"],
  ['number to an unknown flow', (c) => { c.numbers['100'] = { flow: 'nope' }; }, `numbers["100"].flow: 'nope' is not a flow`],
  ['feature codes clash', (c) => { c.featureCodes = { ready: '*62' }; }, "featureCodes.notReady: duplicate feature code '*62' (also featureCodes.ready)"],
  ['a query step with a CRM that has no query', (c) => { c.flows.main.unshift({ query: { kind: 'promotion', failed: { queue: 'orders' } } }); },
    'flows.main[0].query: crm.adapter sqlite has no query (IVR self-service); use shop, webhook with queryUrl, or a module adapter that implements query'],
  ['a query step with a webhook CRM without queryUrl', (c) => {
    c.crm = { adapter: 'webhook', url: 'http://127.0.0.1:9000/hook', secret: '0123456789abcdef' };
    c.flows.main.unshift({ query: { kind: 'promotion', failed: { queue: 'orders' } } });
  }, 'flows.main[0].query: crm.queryUrl is null: the webhook CRM would answer no query'],
  ['an orderSms query with the shop sending no SMS', (c) => {
    c.crm = { adapter: 'shop' };
    c.flows.main.unshift({ query: { kind: 'orderSms', orderNumber: 'orderNumber', failed: { queue: 'orders' } } });
  }, 'flows.main[0].query: crm.notifications.sms is null: the shop sends no SMS, so every caller would be told nothing was sent'],
  ['a query fallback to an unknown queue', (c) => { c.crm = { adapter: 'shop' }; c.flows.main.unshift({ query: { kind: 'promotion', failed: { queue: 'sales' } } }); },
    "flows.main[0].query.failed: 'sales' is not a queue"],
  ['a query readout prompt missing in a language', (c) => {
    c.crm = { adapter: 'shop' };
    c.media = { languages: ['en', 'zh', 'de'] };
    c.flows.main.unshift({ query: { kind: 'promotion', failed: { queue: 'orders' } } });
  }, "flows.main[0].query.readout: prompt 'de/promotion-today' not found (de/promotion-today.wav in the prompts directory)"],
  ['a query goto loop with nothing that waits', (c) => {
    c.crm = { adapter: 'shop' };
    c.flows.a = [{ query: { kind: 'promotion', failed: { goto: 'a' }, failedPrompt: null } }, { queue: 'orders' }];
    c.numbers['1'] = { flow: 'a' };
  }, 'flows.a: goto loop a → a with no play, menu or collect to wait in'],
];

for (const [what, mutate, expected] of cases) {
  t.test(`error: ${what}`, async (t) => {
    const c = base();
    mutate(c);
    const errors = errorsOf(c);
    t.ok(errors.includes(expected), `"${expected}" in ${JSON.stringify(errors)}`);
  });
}

t.test('a query step: order status needs the order-number variable; a variable no collect sets is a warning; shop has query', async (t) => {
  const orderless = base();
  orderless.crm = { adapter: 'shop' };
  orderless.flows.main.unshift({ query: { kind: 'orderStatus', failed: { queue: 'orders' } } });
  t.match(errorsOf(orderless), [/orderStatus needs orderNumber/]);
  const promoWithOrder = base();
  promoWithOrder.crm = { adapter: 'shop' };
  promoWithOrder.flows.main.unshift({ query: { kind: 'promotion', orderNumber: 'orderNumber', failed: { queue: 'orders' } } });
  t.match(errorsOf(promoWithOrder), [/orderNumber and verification go with orderStatus/]);
  const good = base();
  good.crm = { adapter: 'shop' };
  good.flows.main.unshift(
    { collect: { into: 'orderNumber', prompt: 'enter-order' } },
    { query: { kind: 'orderStatus', orderNumber: 'orderNumber', verification: 'pin', failed: { queue: 'orders' } } },
  );
  t.same(errorsOf(good), []);
  t.same(warningsOf(good), ["flows.main[1].query: variable 'pin' is not set by any collect step"]);
  const r = parseConfig(good, { env: {} });
  t.match(r.ok ? r.config.flows['main']?.[1] : null, {
    type: 'query', kind: 'orderStatus', orderNumber: 'orderNumber', verification: 'pin', into: 'order', timeoutMs: 2000, readout: true,
    notFoundPrompt: 'query-not-found', notFound: null, failedPrompt: 'query-failed', failed: { type: 'queue', queue: 'orders' },
  }, 'the defaults');

  // The SMS offer after the readout: a menu whose 1 goes to an orderSms query (docs/shop.md, Notifications on request).
  const sms = base();
  sms.crm = { adapter: 'shop', notifications: { sms: { url: 'http://127.0.0.1:9/sms' } } };
  sms.flows.main.unshift(
    { collect: { into: 'orderNumber', prompt: 'enter-order' } },
    { query: { kind: 'orderStatus', orderNumber: 'orderNumber', failed: { queue: 'orders' } } },
    { menu: { prompt: 'order-sms-offer', options: { 1: { goto: 'order-sms' } } } },
  );
  sms.flows['order-sms'] = [{ query: { kind: 'orderSms', orderNumber: 'orderNumber', failed: { queue: 'orders' } } }, { hangup: { prompt: 'goodbye' } }];
  t.same(errorsOf(sms), [], 'its prompts in both languages, the shop sending SMS');
  const parsed = parseConfig(sms, { env: {} });
  t.match(parsed.ok ? parsed.config.flows['order-sms']?.[0] : null, { type: 'query', kind: 'orderSms', orderNumber: 'orderNumber', into: 'orderSms' });
  const smsOrderless = base();
  smsOrderless.crm = { adapter: 'shop', notifications: { sms: { url: 'http://127.0.0.1:9/sms' } } };
  smsOrderless.flows.main.unshift({ query: { kind: 'orderSms', failed: { queue: 'orders' } } });
  t.match(errorsOf(smsOrderless), [/orderSms needs orderNumber/]);
});

t.test('warnings', async (t) => {
  const demoOnPublic = base();
  demoOnPublic.sip = { listen: [{ transport: 'udp', address: '0.0.0.0' }] };
  demoOnPublic.media = { address: '192.0.2.1' };
  demoOnPublic.agents[0].password = 'demo2001';
  t.same(warningsOf(demoOnPublic), [
    'SECURITY: agents 2001 use the demo password demo<extension> while SIP listens on 0.0.0.0: anyone who can reach it ' +
    'can register as these agents and take calls. Set real passwords.',
  ]);
  const demoOnLoopback = base();
  demoOnLoopback.agents[0].password = 'demo2001';
  t.same(warningsOf(demoOnLoopback), [], 'demo passwords on loopback are fine');

  const webhook = base();
  webhook.crm = { adapter: 'webhook', url: 'http://crm.example.com/hook', secret: 'short' };
  t.match(warningsOf(webhook), [/^crm\.url: plain http to crm\.example\.com/, /^crm\.secret: shorter than 16/]);

  const loopbackHook = base();
  loopbackHook.crm = { adapter: 'webhook', url: 'http://127.0.0.1:9000/hook', secret: '0123456789abcdef' };
  t.same(warningsOf(loopbackHook), []);

  const openTrunk = base();
  openTrunk.trunks[0].allow = ['0.0.0.0/0'];
  t.match(warningsOf(openTrunk), [/^trunks\[0\]\.allow: admits every address without digest auth/]);

  const unused = base();
  unused.flows.spare = [{ hangup: null }];
  unused.queues.push({ id: 'vip' });
  delete unused.numbers.default;
  unused.numbers['100'] = { flow: 'main' };
  t.same(warningsOf(unused), [
    "queues[2]: no agent has skill 'vip' at level 1 or more; callers wait for expansion steps only",
    'numbers.default: absent; calls to numbers not listed are refused (404)',
    'flows.spare: not used by any number or goto',
    "queues[2]: 'vip' is not reached by any flow or overflow",
  ]);

  const small = base();
  small.media = { rtpPortMin: 20000, rtpPortMax: 20099, workers: 1 };
  small.sip = { maxCalls: 100 };
  t.same(warningsOf(small), ['media: RTP range 20000-20099 holds 50 RTP/RTCP pairs, fewer than 2 per call at sip.maxCalls=100']);

  t.match(warningsOf({}), ['trunks: none configured; no carrier call will be admitted', 'agents: none configured; no call can be answered', 'queues: none configured']);
});

t.test('checkConfig is pure: prompts come from the injected lookup', async (t) => {
  const config = configSchema.parse(base());
  const asked: string[] = [];
  const files: string[] = [];
  const report = checkConfig(config, {
    promptExists: (rel) => { asked.push(rel); return rel !== 'zh/menu'; },
    fileProblem: (file, kind) => { files.push(`${kind} ${file}`); return null; },
    tlsProblem: () => 'never asked: no tls socket',
  });
  t.same(report.errors, ["flows.main[1].menu.prompt: prompt 'menu' not found (zh/menu.wav in the prompts directory)"]);
  t.ok(asked.includes('en/welcome') && asked.includes('hold/music') && asked.includes('zh/invalid-choice'));
  t.same(files, [`directory ${config.media.promptsDir}`, `database ${config.database.kind === 'sqlite' ? config.database.path : ''}`],
    'the prompt directory and the database are the files the base opens');
});

t.test('checkConfig: the files the engine opens come from the injected look-ups', async (t) => {
  const input = base();
  input.sip = { listen: [
    { transport: 'udp', address: '127.0.0.1' },
    { transport: 'tls', address: '127.0.0.1', port: 5061, tls: { cert: '/etc/onair/cert.pem', key: '/etc/onair/key.pem', ca: '/etc/onair/ca.pem' } },
    { transport: 'tls', address: '127.0.0.1', port: 5062, tls: { cert: '/ok/cert.pem', key: '/ok/key.pem' } },
  ] };
  const config = configSchema.parse(input);
  const tls: unknown[] = [];
  const report = checkConfig(config, {
    promptExists: () => true,
    fileProblem: (file, kind) => (file.startsWith('/ok/') || kind === 'database' ? null : file.endsWith('key.pem') ? 'is not readable by this user' : kind === 'directory' ? 'is not a directory' : 'does not exist'),
    tlsProblem: (files) => { tls.push(files); return 'key does not match'; },
  });
  t.same(report.errors, [
    "sip.listen[1].tls.cert: file '/etc/onair/cert.pem' does not exist",
    "sip.listen[1].tls.key: file '/etc/onair/key.pem' is not readable by this user",
    "sip.listen[1].tls.ca: file '/etc/onair/ca.pem' does not exist",
    'sip.listen[2].tls: key does not match',
    `media.promptsDir: directory '${config.media.promptsDir}' is not a directory`,
  ], 'each file named once; no prompt reported missing when the directory is; TLS parsed only when its files open');
  t.same(tls, [{ cert: '/ok/cert.pem', key: '/ok/key.pem', ca: null }]);
});
