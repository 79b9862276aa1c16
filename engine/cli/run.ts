/**
 * The `onair` command: argument parsing, configuration check, logger, engine start, and the
 * signal-driven graceful stop. Everything the process touches (output, environment, signals, exit,
 * the engine itself) comes in through {@link CliIo}, so the whole command runs in a test.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import { ENV_OVERRIDES, loadConfig } from '../config/index.ts';
import { packageVersion } from '../api/index.ts';
import type { Config, LoadResult } from '../config/index.ts';
import { LogRateLimit } from '../sip/index.ts';

/** What `startEngine` returns: the running engine. */
export interface EngineHandle {
  /** Stop taking calls, drain up to `shutdown.drainSeconds`, flush, close. */
  stop(reason?: string): Promise<void>;
}

/** The signature of `startEngine` in engine/engine.ts; `faults` feeds `onair_process_faults_total`. */
export type StartEngine = (config: Config, opts?: { log?: Logger; faults?: () => Readonly<FaultCounts> }) => Promise<EngineHandle>;

/** What reached the process with nothing to handle it. */
export type ProcessFaultKind = 'uncaughtException' | 'unhandledRejection';

/** Faults the policy survived since start, by kind. */
export interface FaultCounts {
  uncaughtException: number;
  unhandledRejection: number;
}

/** Signals the command stops on. */
export type StopSignal = 'SIGTERM' | 'SIGINT';

/** The outside world of the command. {@link processIo} is the real one. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  onSignal(signal: StopSignal, listener: () => void): void;
  offSignal(signal: StopSignal, listener: () => void): void;
  /** Leave at once (a second signal while draining). */
  exit(code: number): void;
  /** Where the engine's logs go; default stdout. */
  logDestination?: DestinationStream;
  /** The engine; default: `startEngine` of engine/engine.ts, imported when needed. */
  startEngine?: StartEngine;
  /**
   * Hear of exceptions and rejections nothing handled (the process's `uncaughtException` and
   * `unhandledRejection`); returns the function that stops listening. Without it no policy is
   * installed and Node's default (exit) applies.
   */
  onFault?(listener: (kind: ProcessFaultKind, err: unknown) => void): () => void;
}

/**
 * The running engine's answer to an exception nothing caught (issue 11: never one bad packet → an
 * outage): log it (rate-limited: a fault repeated per packet must not flood the log; held-back
 * lines are counted in the next one), count it, keep serving. Every inbound SIP message is guarded
 * where it enters (engine/sip transport), so what reaches this is a bug elsewhere — a timer, a
 * promise — and losing that one piece of work beats dropping every call in progress. An operator
 * sees it as `onair_process_faults_total` and in the log at level error.
 */
export function faultPolicy(log: Logger, now: () => number = () => performance.now()): {
  counts: Readonly<FaultCounts>;
  handle(kind: ProcessFaultKind, err: unknown): void;
} {
  const counts: FaultCounts = { uncaughtException: 0, unhandledRejection: 0 };
  const limit = new LogRateLimit(now);
  return {
    counts,
    handle(kind, err) {
      counts[kind]++;
      const held = limit.take();
      if (held === undefined) return;
      log.error({ err, kind, total: counts[kind], ...(held > 0 ? { suppressed: held } : {}) },
        `${kind === 'uncaughtException' ? 'uncaught exception' : 'unhandled promise rejection'}: logged and counted; the engine keeps running`);
    },
  };
}

/** Exit codes: 0 success, 1 the engine failed, 2 bad configuration or usage. */
export const EXIT = { ok: 0, failure: 1, badConfig: 2 } as const;

/** The package's version, from the nearest package.json named onair (source tree or dist/). */
export function version(): string {
  return packageVersion();
}

/** The `--help` text. */
export function helpText(): string {
  const env = ENV_OVERRIDES.map((e) => `  ${e.name.padEnd(18)}${e.field.padEnd(20)}${e.doc}`).join('\n');
  return `onair ${version()} — SIP/RTP ACD engine for TV-shopping call centers

Usage:
  onair                        start with the embedded demo configuration
                               (SIP 127.0.0.1:5060 udp+tcp, HTTP 127.0.0.1:8080, SQLite ./var/onair.db)
  onair --config FILE          start with FILE (.yaml, .yml or .json)
  onair --check-config FILE    validate FILE: prints OK and the warnings, or every error
  onair --help                 this text
  onair --version              the version

Options:
  -c, --config FILE
      --check-config FILE
  -h, --help
  -v, --version

Environment (overrides the file or the demo):
${env}

Signals: SIGTERM or SIGINT stops taking calls, lets calls in progress finish for up to
shutdown.drainSeconds, flushes the CRM outbox and exits 0; a second signal exits at once.

Exit codes: 0 ok, 1 the engine failed to start or stop, 2 bad configuration or usage.
Configuration reference: docs/configuration.md
`;
}

type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'check'; file: string }
  | { kind: 'start'; file: string | undefined }
  | { kind: 'usage'; message: string };

/** Parse the arguments; never throws. */
export function parseCommand(argv: readonly string[]): Command {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string', short: 'c' },
        'check-config': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return { kind: 'usage', message: (err as Error).message };
  }
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  const check = values['check-config'];
  if (check !== undefined) {
    if (values.config !== undefined) return { kind: 'usage', message: 'use either --config or --check-config' };
    return { kind: 'check', file: check };
  }
  return { kind: 'start', file: values.config };
}

function printErrors(io: CliIo, source: string, result: Extract<LoadResult, { ok: false }>): void {
  const n = result.errors.length;
  io.stderr(`${source}: invalid configuration (${n} problem${n === 1 ? '' : 's'}):\n${result.errors.map((e) => `  - ${e}\n`).join('')}`);
}

/**
 * V8 flags the engine runs with (`npm start`, the `onair` executable's `#!` line, the test and
 * bench harness; a test keeps them in step). A 2 MB young-generation semi-space keeps each
 * scavenge short: every call's state outlives a scavenge, so a scavenge copies what the calls of
 * its interval allocated, and Node's default 16 MB made 10-20 ms pauses at 300 calls/s — the
 * largest part of the first-media p99 (docs/bench.md, issue 5). V8 flags are per process, so the
 * media workers get both too.
 *
 * `--heap-growing-percent=30`: after each full collection V8 lets the old generation grow to 1.3×
 * what survived, instead of its own factor of up to 4× on a machine with this much memory. At a
 * surge's peak the engine's heap held ~76 MB live in a 235 MB heap, and each media worker ~7.5 MB
 * live in 120-140 MB: the rest was garbage waiting for a full collection, and it was most of the
 * resident memory (docs/bench.md, "Memory at the peak", issue 13).
 */
export const ENGINE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=30'];

/**
 * Environment the engine runs with, beside {@link ENGINE_NODE_FLAGS} and given the same ways
 * (`npm start`, the `#!` line, the test and bench harness). `MALLOC_ARENA_MAX=2`: glibc gives
 * each thread that allocates its own malloc arena, up to 8 per core, and the engine has many
 * (main, two media workers, the checkpointer, libuv's pool, V8's helpers); each arena keeps the
 * memory its thread freed. Two arenas for all: 8-9 MiB less resident memory idle and with 1,000
 * callers on hold (docs/surge.md, "Memory at the peak"). glibc reads it at start only, so it
 * cannot be set from inside the process.
 */
export const ENGINE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** True when this process was started with {@link ENGINE_NODE_FLAGS} (on the command line or NODE_OPTIONS). */
export function hasEngineNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  return ENGINE_NODE_FLAGS.every((f) => given.includes(f));
}

async function importEngine(): Promise<StartEngine> {
  // Loaded lazily so that --help and --check-config start fast.
  const mod = await import('../engine.ts');
  return mod.startEngine;
}

/** Start the engine, then wait for SIGTERM/SIGINT and stop it. Resolves to the exit code. */
async function serve(io: CliIo, config: Readonly<Config>, log: Logger): Promise<number> {
  let handle: EngineHandle;
  const policy = faultPolicy(log);
  try {
    const startEngine = io.startEngine ?? (await importEngine());
    handle = await startEngine(config, { log, faults: () => policy.counts });
  } catch (err) {
    log.fatal({ err }, 'engine failed to start');
    return EXIT.failure;
  }
  // Only once the engine runs: a fault while starting must still fail the start.
  const stopListening = io.onFault?.((kind, err) => policy.handle(kind, err));
  log.info('engine started; SIGTERM or SIGINT stops it');
  if (!hasEngineNodeFlags()) {
    log.warn({ flags: ENGINE_NODE_FLAGS.join(' ') }, 'node runs without the engine\'s flags: longer GC pauses delay calls under load (docs/operations.md)');
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: StopSignal): void => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting without waiting for the drain');
        io.exit(signal === 'SIGINT' ? 130 : 143);
        return;
      }
      stopping = true;
      log.info({ signal, drainSeconds: config.shutdown.drainSeconds }, 'stopping: no new calls, draining calls in progress');
      handle.stop(signal).then(
        () => {
          log.info('stopped');
          done(EXIT.ok);
        },
        (err: unknown) => {
          log.error({ err }, 'engine failed to stop cleanly');
          done(EXIT.failure);
        },
      );
    };
    const term = (): void => onSignal('SIGTERM');
    const int = (): void => onSignal('SIGINT');
    const done = (code: number): void => {
      stopListening?.();
      io.offSignal('SIGTERM', term);
      io.offSignal('SIGINT', int);
      resolve(code);
    };
    io.onSignal('SIGTERM', term);
    io.onSignal('SIGINT', int);
  });
}

/** Run the `onair` command with `argv` (without node and the script). Resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const cmd = parseCommand(argv);
  switch (cmd.kind) {
    case 'help':
      io.stdout(helpText());
      return EXIT.ok;
    case 'version':
      io.stdout(`${version()}\n`);
      return EXIT.ok;
    case 'usage':
      io.stderr(`onair: ${cmd.message}\nTry 'onair --help'.\n`);
      return EXIT.badConfig;
    case 'check': {
      const result = loadConfig(cmd.file, { env: io.env });
      if (!result.ok) {
        printErrors(io, cmd.file, result);
        return EXIT.badConfig;
      }
      io.stdout(`${cmd.file}: OK${result.warnings.length > 0 ? ` (${result.warnings.length} warning${result.warnings.length === 1 ? '' : 's'})` : ''}\n`);
      for (const o of result.overrides) io.stdout(`  override: ${o}\n`);
      for (const w of result.warnings) io.stdout(`  warning: ${w}\n`);
      return EXIT.ok;
    }
    case 'start': {
      const source = cmd.file ?? 'embedded demo configuration';
      const result = loadConfig(cmd.file, { env: io.env });
      if (!result.ok) {
        printErrors(io, source, result);
        return EXIT.badConfig;
      }
      const log = pino({ name: 'onair', level: result.config.log.level }, io.logDestination ?? pino.destination(1));
      log.info({ config: source, version: version() }, 'configuration loaded');
      for (const o of result.overrides) log.info(`environment override: ${o}`);
      for (const w of result.warnings) {
        log.warn(w);
        // Whatever the log level or destination, an operator starting the engine by hand sees these.
        if (w.startsWith('SECURITY')) io.stderr(`onair: warning: ${w}\n`);
      }
      return serve(io, result.config, log);
    }
  }
}

/** The real process: stdout/stderr, `process.env`, process signals and `process.exit`. */
export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    onSignal: (signal, listener) => process.on(signal, listener),
    offSignal: (signal, listener) => process.off(signal, listener),
    exit: (code) => process.exit(code),
    onFault: (listener) => {
      const uncaught = (err: unknown): void => listener('uncaughtException', err);
      const rejected = (reason: unknown): void => listener('unhandledRejection', reason);
      process.on('uncaughtException', uncaught);
      process.on('unhandledRejection', rejected);
      return () => {
        process.off('uncaughtException', uncaught);
        process.off('unhandledRejection', rejected);
      };
    },
  };
}
