import t from 'tap';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { ENGINE_ENV, ENGINE_NODE_FLAGS, EXIT, hasEngineNodeFlags, parseCommand, run, version } from './index.ts';
import type { CliIo, EngineHandle, StopSignal } from './index.ts';
import type { Config } from '../config/index.ts';
import { exampleDeployment, requirePeer } from '../testing/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The real executable, as `npm start` / the bin would run it (from source, through tsx). */
function onair(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'engine/cli/main.ts', ...args], {
    cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('the engine\'s node flags are on every way it starts', async (t) => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const shebang = readFileSync(path.join(root, 'engine/cli/main.ts'), 'utf8').split('\n')[0]!;
  t.match(shebang, /^#!\/usr\/bin\/env -S (\S+=\S+ )*node /, 'the bin passes flags (env -S)');
  for (const [k, v] of Object.entries(ENGINE_ENV)) {
    t.ok(pkg.scripts.start!.startsWith(`${k}=${v} `) || pkg.scripts.start!.includes(` ${k}=${v} `), `npm start sets ${k}`);
    t.ok(shebang.split(' ').includes(`${k}=${v}`), `the onair executable sets ${k}`);
  }
  for (const f of ENGINE_NODE_FLAGS) {
    t.ok(pkg.scripts.start!.split(' ').includes(f), `npm start passes ${f}`);
    t.ok(shebang.split(' ').includes(f), `the onair executable passes ${f}`);
  }
  t.ok(hasEngineNodeFlags([...ENGINE_NODE_FLAGS], ''));
  t.ok(hasEngineNodeFlags([], ` ${ENGINE_NODE_FLAGS.join(' ')} --enable-source-maps`), 'from NODE_OPTIONS');
  t.notOk(hasEngineNodeFlags(['--enable-source-maps'], ''));
});

t.test('executable: --help, --version, usage errors', async (t) => {
  const help = onair(['--help']);
  t.equal(help.code, 0);
  for (const s of ['--config FILE', '--check-config FILE', '--version', 'ONAIR_HTTP_PORT', 'ONAIR_SIP_PORT', 'ONAIR_DB_PATH', 'ONAIR_LOG_LEVEL', 'SIGTERM']) {
    t.ok(help.stdout.includes(s), `help mentions ${s}`);
  }
  const v = onair(['--version']);
  t.same([v.code, v.stdout], [0, `${version()}\n`]);
  t.match(version(), /^\d+\.\d+\.\d+/);
  const bad = onair(['--bogus']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /onair: Unknown option '--bogus'/);
});

t.test('executable: --check-config', async (t) => {
  if (!requirePeer(t, 'openssl')) return;
  const dir = t.testdir({
    'bad.yaml': 'queues:\n  - id: orders\n    strategy: fastest\n',
    'refs.json': JSON.stringify({ queues: [{ id: 'orders' }], flows: { main: [{ queue: 'sales' }] } }),
  });
  const example = exampleDeployment(dir);
  const ok = onair(['--check-config', example]);
  t.same([ok.code, ok.stdout, ok.stderr], [0, `${example}: OK\n`, '']);

  const bad = onair(['--check-config', path.join(dir, 'bad.yaml')]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /invalid configuration \(1 problem\):\n {2}- queues\[0\]\.strategy \(line 3\): expected one of longestIdle, /);

  const refs = onair(['--check-config', path.join(dir, 'refs.json')]);
  t.equal(refs.code, 2);
  t.match(refs.stderr, /flows\.main\[0\]\.queue: 'sales' is not a queue/);

  const warn = onair(['--check-config', example], { ONAIR_HTTP_PORT: '8181' });
  t.equal(warn.code, 0);
  t.match(warn.stdout, /override: ONAIR_HTTP_PORT → http\.port = 8181/);

  const badEnv = onair(['--check-config', example], { ONAIR_LOG_LEVEL: 'chatty' });
  t.equal(badEnv.code, 2);
  t.match(badEnv.stderr, /ONAIR_LOG_LEVEL \(log\.level\): expected one of/);

  const startBad = onair(['--config', path.join(dir, 'bad.yaml')]);
  t.equal(startBad.code, 2, 'a bad configuration never starts the engine');
  t.match(startBad.stderr, /queues\[0\]\.strategy/);
});

t.test('parseCommand', async (t) => {
  t.same(parseCommand([]), { kind: 'start', file: undefined });
  t.same(parseCommand(['-c', 'a.yaml']), { kind: 'start', file: 'a.yaml' });
  t.same(parseCommand(['--config=a.yaml']), { kind: 'start', file: 'a.yaml' });
  t.same(parseCommand(['--check-config', 'a.yaml']), { kind: 'check', file: 'a.yaml' });
  t.same(parseCommand(['-h']), { kind: 'help' });
  t.same(parseCommand(['-v']), { kind: 'version' });
  t.match(parseCommand(['--config']), { kind: 'usage' });
  t.match(parseCommand(['extra']), { kind: 'usage' });
  t.match(parseCommand(['--config', 'a', '--check-config', 'b']), { kind: 'usage', message: 'use either --config or --check-config' });
});

/** A CLI world in memory: output, signals, exit, log lines and a fake engine. */
function fakeWorld(engine: { fail?: boolean; stop?: () => Promise<void> } = {}) {
  const listeners = new Map<StopSignal, Set<() => void>>([['SIGTERM', new Set()], ['SIGINT', new Set()]]);
  const w = {
    out: '', err: '', logs: [] as Array<Record<string, unknown>>, exits: [] as number[],
    started: [] as Config[], stops: [] as Array<string | undefined>, loggerLevel: '',
    signal(s: StopSignal): void { for (const l of [...(listeners.get(s) ?? [])]) l(); },
    listening(): number { return [...listeners.values()].reduce((n, s) => n + s.size, 0); },
  };
  const io: CliIo = {
    stdout: (s) => { w.out += s; },
    stderr: (s) => { w.err += s; },
    env: {},
    onSignal: (s, l) => listeners.get(s)?.add(l),
    offSignal: (s, l) => listeners.get(s)?.delete(l),
    exit: (code) => { w.exits.push(code); },
    logDestination: new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString().split('\n')) if (line !== '') w.logs.push(JSON.parse(line) as Record<string, unknown>);
        cb();
      },
    }),
    startEngine: async (config, opts): Promise<EngineHandle> => {
      w.started.push(config);
      w.loggerLevel = opts?.log?.level ?? '';
      if (engine.fail === true) throw new Error('port in use');
      return { stop: async (reason) => { w.stops.push(reason); await engine.stop?.(); } };
    },
  };
  return { w, io };
}

/** Resolves once `cond` holds, checking after each turn of the event loop. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

t.test('start: SIGTERM stops the engine, then exit 0', async (t) => {
  const { w, io } = fakeWorld();
  const done = run([], { ...io, env: { ONAIR_LOG_LEVEL: 'debug' } });
  await until(() => w.listening() === 2);
  t.equal(w.started.length, 1, 'the engine started with the demo');
  t.equal(w.started[0]?.queues.length, 3);
  t.ok(Object.isFrozen(w.started[0]), 'the engine gets the frozen configuration');
  t.equal(w.loggerLevel, 'debug', 'the logger passed down has the configured level');
  w.signal('SIGTERM');
  t.equal(await done, EXIT.ok);
  t.same(w.stops, ['SIGTERM']);
  t.same(w.exits, []);
  t.equal(w.listening(), 0, 'signal listeners removed');
  const msgs = w.logs.map((l) => l.msg);
  t.ok(msgs.includes('configuration loaded') && msgs.includes('stopped'));
  t.ok(msgs.includes('environment override: ONAIR_LOG_LEVEL → log.level = debug'));
});

t.test('start: a second signal while draining exits at once', async (t) => {
  let release = (): void => {};
  const { w, io } = fakeWorld({ stop: () => new Promise<void>((r) => { release = r; }) });
  const done = run([], io);
  await until(() => w.listening() === 2);
  w.signal('SIGINT');
  t.same(w.stops, ['SIGINT']);
  w.signal('SIGINT');
  t.same(w.exits, [130], 'exit 128+SIGINT without waiting');
  w.signal('SIGTERM');
  t.same(w.exits, [130, 143]);
  release();
  t.equal(await done, EXIT.ok);
});

t.test('start: engine failures', async (t) => {
  const failing = fakeWorld({ fail: true });
  t.equal(await run([], failing.io), EXIT.failure);
  t.match(failing.w.logs.find((l) => l.msg === 'engine failed to start'), { level: 60, err: { message: 'port in use' } });
  t.equal(failing.w.listening(), 0);

  const badStop = fakeWorld({ stop: () => Promise.reject(new Error('outbox stuck')) });
  const done = run([], badStop.io);
  await until(() => badStop.w.listening() === 2);
  badStop.w.signal('SIGTERM');
  t.equal(await done, EXIT.failure);
});

t.test('start: warnings are logged; SECURITY ones also on stderr', async (t) => {
  const dir = t.testdir({
    'public.yaml': [
      'sip: { listen: [{ transport: udp, address: 0.0.0.0 }] }',
      'media: { address: 192.0.2.1 }',
      'agents: [{ id: a, extension: 2001, password: demo2001, skills: { q: 1 } }]',
      'queues: [{ id: q }]',
      'flows: { f: [{ queue: q }] }',
      'numbers: { default: { flow: f } }',
      'trunks: [{ id: t, allow: [192.0.2.0/24] }]',
      '',
    ].join('\n'),
  });
  const { w, io } = fakeWorld();
  const done = run(['--config', path.join(dir, 'public.yaml')], io);
  await until(() => w.listening() === 2);
  t.match(w.logs.find((l) => l.level === 40), { msg: /^SECURITY: agents 2001 use the demo password/ });
  t.match(w.err, /SECURITY: agents 2001 use the demo password/);
  w.signal('SIGTERM');
  t.equal(await done, EXIT.ok);
});

t.test('check and start write nothing but their report', async (t) => {
  const { w, io } = fakeWorld();
  if (!requirePeer(t, 'openssl')) return;
  t.equal(await run(['--check-config', exampleDeployment(t.testdir({}))], io), EXIT.ok);
  t.same(w.started, [], 'checking never starts the engine');
  t.match(w.out, /onair\.yaml: OK\n$/);
});
