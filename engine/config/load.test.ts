import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Acd } from '../acd/index.ts';
import { exampleDeployment, EXAMPLE_TLS, requirePeer, selfSignedCertificate } from '../testing/index.ts';
import { configurationMarkdown } from './doc.ts';
import { demoConfig, formatPath, loadConfig, parseConfig, toAcdConfig, toListenSpecs } from './index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const YAML_OK = `
sip:
  listen:
    - { transport: udp, address: 127.0.0.1, port: 5070 }
agents:
  - { id: 3001, extension: 3001, password: pw-3001, skills: { orders: 10 } }
queues:
  - id: orders
    strategy: roundRobin
flows:
  main:
    - play: welcome
    - queue: orders
numbers:
  default: { flow: main }
trunks:
  - { id: t, allow: [127.0.0.1] }
`;

t.test('YAML and JSON files load to the same configuration', async (t) => {
  const dir = t.testdir({
    'a.yaml': YAML_OK,
    'a.yml': YAML_OK,
    'a.json': JSON.stringify({
      sip: { listen: [{ transport: 'udp', address: '127.0.0.1', port: 5070 }] },
      agents: [{ id: '3001', extension: '3001', password: 'pw-3001', skills: { orders: 10 } }],
      queues: [{ id: 'orders', strategy: 'roundRobin' }],
      flows: { main: [{ play: 'welcome' }, { queue: 'orders' }] },
      numbers: { default: { flow: 'main' } },
      trunks: [{ id: 't', allow: ['127.0.0.1'] }],
    }),
  });
  const results = ['a.yaml', 'a.yml', 'a.json'].map((f) => loadConfig(path.join(dir, f), { env: {} }));
  for (const r of results) {
    t.ok(r.ok, 'loads');
    if (!r.ok) continue;
    t.same(r.warnings, []);
    t.equal(r.config.queues[0]?.strategy, 'roundRobin');
    t.equal(r.config.agents[0]?.id, '3001', 'YAML number ids become text');
  }
  if (results[0]?.ok && results[2]?.ok) t.same(results[0].config, results[2].config);
});

t.test('the result is deep-frozen', async (t) => {
  const r = parseConfig({}, { env: {} });
  t.ok(r.ok);
  if (!r.ok) return;
  t.ok(Object.isFrozen(r.config) && Object.isFrozen(r.config.sip.listen[0]) && Object.isFrozen(r.config.http.auth.tokens));
  t.throws(() => { (r.config.http as { port: number }).port = 1; }, TypeError);
});

t.test('errors name the field, its YAML line and the problem', async (t) => {
  const dir = t.testdir({
    'bad.yaml': 'queues:\n  - id: orders\n  - id: service\n    strategy: fastest\nsip:\n  maxCals: 10\nhttp: { port: "80" }\n',
  });
  const r = loadConfig(path.join(dir, 'bad.yaml'), { env: {} });
  t.notOk(r.ok);
  if (r.ok) return;
  t.same([...r.errors].sort(), [
    'http.port (line 7): expected number, got string "80"',
    'queues[1].strategy (line 4): expected one of longestIdle, leastCalls, leastTalkTime, skillLevel, roundRobin',
    'sip.maxCals (line 6): unknown field',
  ]);
});

t.test('YAML integers with a leading 0 or + keep their text', async (t) => {
  const dir = t.testdir({
    'n.yaml': YAML_OK.replace('numbers:\n', 'numbers:\n  0800123456: { flow: main }\n  +4930123: { flow: main }\n')
      .replace('extension: 3001', 'extension: 03001'),
    'port.yaml': 'http: { port: 08080 }\n',
  });
  const r = loadConfig(path.join(dir, 'n.yaml'), { env: {} });
  t.ok(r.ok);
  if (r.ok) {
    t.same(Object.keys(r.config.numbers).sort(), ['+4930123', '0800123456', 'default']);
    t.equal(r.config.agents[0]?.extension, '03001');
  }
  const p = loadConfig(path.join(dir, 'port.yaml'), { env: {} });
  t.same(p.ok ? [] : p.errors, ['http.port (line 1): expected number, got string "08080"']);
});

t.test('file-level problems', async (t) => {
  const dir = t.testdir({
    'broken.yaml': 'queues: [\n',
    'dup.yaml': 'log: { level: info }\nlog: { level: debug }\n',
    'broken.json': '{ "queues": ',
    'empty.yaml': '  \n',
    'config.toml': 'x = 1',
    'list.yaml': '- 1\n- 2\n',
  });
  const errs = (f: string): string => {
    const r = loadConfig(path.join(dir, f), { env: {} });
    return r.ok ? 'ok' : r.errors.join('\n');
  };
  t.match(errs('broken.yaml'), /broken\.yaml: not valid YAML: .*line 2/);
  t.match(errs('dup.yaml'), /dup\.yaml: not valid YAML: Map keys must be unique/);
  t.match(errs('broken.json'), /broken\.json: not valid JSON: /);
  t.match(errs('empty.yaml'), /empty\.yaml: the file is empty/);
  t.match(errs('config.toml'), /config\.toml: unknown file type '\.toml'; use \.yaml, \.yml or \.json/);
  t.match(errs('missing.yaml'), /missing\.yaml: cannot read: ENOENT/);
  t.equal(errs('list.yaml'), '(top level) (line 1): expected a mapping, got a list');
});

t.test('environment overrides', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const env = { ONAIR_HTTP_PORT: '9090', ONAIR_SIP_PORT: '5080', ONAIR_DB_PATH: '/tmp/x.db', ONAIR_LOG_LEVEL: 'debug' };
  const tls = selfSignedCertificate(t.testdir({}));
  const r = parseConfig({
    sip: { listen: [{ transport: 'udp', address: '127.0.0.1' }, { transport: 'tls', address: '127.0.0.1', port: 5061, tls }] },
  }, { env });
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.config.http.port, 9090);
  t.same(r.config.sip.listen.map((l) => l.port), [5080, 5061], 'tls keeps its port');
  t.same(r.config.database, { kind: 'sqlite', path: '/tmp/x.db', synchronous: 'normal', commitWindowMs: 5 });
  t.equal(r.config.log.level, 'debug');
  t.same(r.overrides, [
    'ONAIR_HTTP_PORT → http.port = 9090',
    'ONAIR_SIP_PORT → sip.listen[].port = 5080 (udp, tcp)',
    'ONAIR_DB_PATH → database.path = /tmp/x.db',
    'ONAIR_LOG_LEVEL → log.level = debug',
  ]);

  const empty = parseConfig({}, { env: { ONAIR_HTTP_PORT: '' } });
  t.ok(empty.ok && empty.config.http.port === 8080 && empty.overrides.length === 0, 'empty values are ignored');

  const bad = parseConfig({ database: { kind: 'postgres', url: 'postgres://db/x' } }, {
    env: { ONAIR_HTTP_PORT: 'eighty', ONAIR_SIP_PORT: '70000', ONAIR_LOG_LEVEL: 'loud', ONAIR_DB_PATH: 'x.db' },
  });
  t.notOk(bad.ok);
  if (bad.ok) return;
  t.same(bad.errors, [
    'ONAIR_HTTP_PORT (http.port): expected a port number 0..65535, got "eighty"',
    'ONAIR_SIP_PORT (sip.listen[].port): expected a port number 0..65535, got "70000"',
    'ONAIR_LOG_LEVEL (log.level): expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
  ]);

  // With postgres the SQLite file keeps the tables not in PostgreSQL: ONAIR_DB_PATH sets it too.
  const pg = parseConfig({ database: { kind: 'postgres', url: 'postgres://db/x' } }, { env: { ONAIR_DB_PATH: '/tmp/y.db' } });
  t.equal(pg.ok && pg.config.database.path, '/tmp/y.db');

  const clash = parseConfig({}, { env: { ONAIR_SIP_PORT: '20000' } });
  t.same(clash.ok ? [] : clash.errors, ['sip.listen[0].port: 20000 lies in the RTP range 20000-29999'], 'overrides go through the checks');
});

t.test('the demo configuration validates and builds an ACD', async (t) => {
  const r = loadConfig(undefined, { env: {} });
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.warnings, [], 'the demo raises no warning');
  const c = r.config;
  t.same(c.sip.listen.map((l) => `${l.transport}:${l.address}:${l.port}`), ['udp:127.0.0.1:5060', 'tcp:127.0.0.1:5060']);
  t.same([c.http.address, c.http.port], ['127.0.0.1', 8080]);
  t.same(c.database, { kind: 'sqlite', path: './var/onair.db', synchronous: 'normal', commitWindowMs: 5 });
  t.same(c.trunks.map((x) => [x.id, x.allow]), [['local', ['127.0.0.1/32', '::1/128']]]);
  t.same(c.queues.map((q) => q.id), ['orders', 'service', 'vip']);
  t.same(c.agents.map((a) => a.extension), ['1001', '1002', '1003', '1004', '1005', '1006', '1007', '1008', '1009', '1010']);
  t.ok(c.agents.every((a) => a.password === `demo${a.extension}` && a.autoReadyOnRegister));
  t.same(c.agents.filter((a) => a.skills.vip !== undefined).map((a) => a.id), ['1009', '1010']);
  t.same(c.numbers['100']?.flow, 'greeting-orders');
  t.same(c.flows['greeting-orders'], [{ type: 'play', prompts: ['welcome'] }, { type: 'queue', queue: 'orders', vipQueue: 'vip' }]);
  t.same(c.numbers['200']?.flow, 'main-menu');
  t.same(c.numbers.default?.flow, 'main-menu');
  const menu = c.flows['main-menu']?.[1];
  t.ok(menu?.type === 'menu');
  if (menu?.type === 'menu') {
    t.same(menu.options['1'], { type: 'queue', queue: 'orders', vipQueue: 'vip' });
    t.same(menu.options['2'], { type: 'queue', queue: 'service', vipQueue: null });
    t.same(menu.options['3'], { type: 'callback', queue: 'orders', prompt: 'callback-confirmed' });
  }

  const acdConfig = toAcdConfig(c);
  const acd = new Acd(acdConfig);
  const snap = acd.snapshot(0);
  t.same(snap.queues.map((q) => q.queueId), ['orders', 'service', 'vip']);
  t.equal(acd.inspectAgent('1009')?.skills.vip, 100);
  t.equal(acdConfig.queues[0]?.maxLength, undefined, 'null (unlimited) becomes absent');
  t.same(acdConfig.queues[2]?.expansion, [{ afterMs: 15000, add: [{ skill: 'orders', minLevel: 50 }] }]);
  t.same(toListenSpecs(c), [
    { transport: 'UDP', address: '127.0.0.1', port: 5060 },
    { transport: 'TCP', address: '127.0.0.1', port: 5060 },
  ]);

  t.not(demoConfig(), demoConfig(), 'a fresh copy each time');
});

t.test('the demo passwords warn loudly off loopback', async (t) => {
  const demo = demoConfig();
  demo.sip = { listen: [{ transport: 'udp', address: '0.0.0.0' }] };
  demo.media = { bindAddress: '0.0.0.0', address: '192.0.2.1' };
  const r = parseConfig(demo, { env: {} });
  t.ok(r.ok);
  if (r.ok) t.match(r.warnings, [/^SECURITY: agents 1001, 1002, .*1010 use the demo password demo<extension> while SIP listens on 0\.0\.0\.0/]);
});

t.test('the example deployment validates without warnings (with its TLS files present)', async (t) => {
  const missing = loadConfig(path.join(root, 'docs/examples/onair.yaml'), { env: {} });
  t.same(missing.ok ? [] : missing.errors, [
    `sip.listen[2].tls.cert: file '${EXAMPLE_TLS.cert}' does not exist`,
    `sip.listen[2].tls.key: file '${EXAMPLE_TLS.key}' does not exist`,
  ], 'as committed, only the server\'s certificate files are missing here');
  if (!requirePeer(t, 'openssl')) return;
  const r = loadConfig(exampleDeployment(t.testdir({})), { env: {} });
  t.same(r.ok ? r.warnings : r.errors, []);
  if (r.ok) t.doesNotThrow(() => new Acd(toAcdConfig(r.config)));
});

t.test('docs/configuration.md is the output of doc.ts', async (t) => {
  const committed = readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');
  t.ok(committed === configurationMarkdown(), 'regenerate with: npm run docs');
  t.match(committed, /\| `queues\[\]\.strategy` \| `longestIdle`, `leastCalls`/);
});

t.test('formatPath', async (t) => {
  t.equal(formatPath(['queues', 1, 'strategy']), 'queues[1].strategy');
  t.equal(formatPath(['flows', 'main-menu', 0, 'menu', 'options', '1']), 'flows["main-menu"][0].menu.options["1"]');
  t.equal(formatPath([]), '(top level)');
});
