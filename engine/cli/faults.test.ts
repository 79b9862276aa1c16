/**
 * The process policy for faults nothing handled (issue 11): a real `onair` process (the real
 * `run` and `processIo`, a stand-in engine) that throws from a timer and rejects a promise keeps
 * running, logs both, counts them, and still stops cleanly on SIGTERM. Before the policy, Node's
 * default ended the process at the first one, with every call in progress.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { faultPolicy, run, type CliIo, type FaultCounts, type ProcessFaultKind } from './index.ts';
import { pino } from 'pino';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

t.test('a real process survives an uncaught exception and an unhandled rejection, then stops on SIGTERM', async (t) => {
  const dir = t.testdir({});
  const script = path.join(dir, 'faulty.ts');
  const runTs = path.join(root, 'engine/cli/run.ts');
  writeFileSync(script, `
import { processIo, run } from ${JSON.stringify(runTs)};
const io = processIo();
let faults = () => ({ uncaughtException: -1, unhandledRejection: -1 });
io.startEngine = async (_config, opts) => {
  faults = opts.faults;
  const alive = setInterval(() => {}, 1000); // the real engine's sockets keep the process up
  setTimeout(() => { throw new Error('a bug in a timer'); }, 10);
  setTimeout(() => { void Promise.reject(new Error('a promise nobody awaited')); }, 20);
  setTimeout(() => { process.stdout.write('ALIVE ' + JSON.stringify(faults()) + '\\n'); }, 200);
  return { stop: async () => { clearInterval(alive); process.stdout.write('STOPPED\\n'); } };
};
process.exitCode = await run([], io);
`);
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env: { ...process.env, ONAIR_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  let signalled = false;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!signalled && out.includes('ALIVE ')) {
      signalled = true;
      child.kill('SIGTERM');
    }
  });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.equal(code, 0, 'exit 0 after SIGTERM, not 1 at the first fault');
  t.match(out, /ALIVE \{"uncaughtException":1,"unhandledRejection":1\}/, 'alive after both, each counted once');
  t.match(out, /STOPPED/, 'the engine was stopped by the signal');
  const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(lines.some((l) => l.kind === 'uncaughtException' && l.level === 50 && (l.err as { message?: string })?.message === 'a bug in a timer'), 'the exception is logged at error with its stack');
  t.ok(lines.some((l) => l.kind === 'unhandledRejection' && (l.err as { message?: string })?.message === 'a promise nobody awaited'), 'the rejection is logged');
});

t.test('faultPolicy: counts every fault, logs at most 10 per 10 s, says how many it held back', async (t) => {
  const logs: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, new Writable({ write(c: Buffer, _e, cb) { logs.push(JSON.parse(c.toString()) as Record<string, unknown>); cb(); } }));
  let now = 0;
  const policy = faultPolicy(log, () => now);
  for (let i = 0; i < 25; i++) policy.handle('uncaughtException', new Error(`e${i}`));
  await new Promise((r) => setImmediate(r));
  t.equal(policy.counts.uncaughtException, 25, 'every one counted');
  t.equal(logs.length, 10, 'ten lines in the window');
  now = 10_000;
  policy.handle('unhandledRejection', new Error('later'));
  await new Promise((r) => setImmediate(r));
  t.equal(logs.length, 11);
  t.match(logs[10], { kind: 'unhandledRejection', suppressed: 15 }, 'the next line says how many were held back');
});

t.test('run: the policy listens only while the engine runs', async (t) => {
  let listener: ((k: ProcessFaultKind, e: unknown) => void) | undefined;
  const signals = new Set<() => void>();
  let faults: (() => Readonly<FaultCounts>) | undefined;
  const io: CliIo = {
    stdout: () => {}, stderr: () => {}, env: {},
    onSignal: (_s, l) => signals.add(l), offSignal: (_s, l) => signals.delete(l), exit: () => t.fail('must not exit'),
    logDestination: new Writable({ write(_c, _e, cb) { cb(); } }),
    onFault: (l) => { listener = l; return () => { listener = undefined; }; },
    startEngine: async (_c, opts) => {
      t.equal(listener, undefined, 'not yet listening while the engine starts');
      faults = opts?.faults;
      return { stop: async () => {} };
    },
  };
  const done = run([], io);
  while (signals.size < 2) await new Promise((r) => setImmediate(r));
  t.ok(listener, 'listening once started');
  listener!('uncaughtException', new Error('x'));
  t.same(faults?.(), { uncaughtException: 1, unhandledRejection: 0 }, 'the engine reads the counts');
  for (const s of [...signals]) { s(); break; }
  t.equal(await done, 0);
  t.equal(listener, undefined, 'no longer listening after the stop');
});
