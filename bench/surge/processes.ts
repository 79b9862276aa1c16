/**
 * The processes of a surge: the engine under test (a child `onair --config`, so that its CPU and
 * memory are its own) and sipp instances steered through their UDP control sockets. Everything
 * binds to loopback; every process is killed by `close()`, also after a failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, existsSync } from 'node:fs';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINE_ENV, ENGINE_NODE_FLAGS } from '../../engine/cli/index.ts';
import { engineEntry, type EngineBuild } from '../../engine/testing/engine-process.ts';

export type { EngineBuild } from '../../engine/testing/engine-process.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A port that was free on 127.0.0.1 a moment ago (UDP and TCP both checked). */
export async function freePort(): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const port = udp.address().port;
    const tcpFree = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    if (tcpFree) return port;
  }
}

/** A child process that is ended with SIGKILL if it has not exited; idempotent. */
function killer(child: ChildProcess): () => void {
  return () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
}

/** Resolves when the child exits (at once if it already has). */
function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** The engine as a child process. */
export interface EngineProcess {
  pid: number;
  baseUrl: string;
  /** True until the process has exited. */
  alive(): boolean;
  /** SIGTERM (graceful drain), then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Start `onair --config FILE` and wait for `/healthz`: by default the build in `dist/`, as
 * `npm start` runs it (the source tree through tsx adds its loader threads, ~100 MiB of RSS the
 * product does not have, and transpiles at start); `build: 'source'` for tests, which must not
 * depend on a build being fresh. `cpuProfDir` adds `--cpu-prof` (the profile is written when the
 * engine stops). Output goes to `logFile`. `startTimeoutMs` (default 30 s) bounds the wait for
 * `/healthz`: a node of the pair on a loaded machine needs more (it migrates the shared database).
 */
export async function startEngineProcess(o: {
  configFile: string; httpPort: number; logFile: string; cpuProfDir?: string | undefined; build?: EngineBuild | undefined; startTimeoutMs?: number | undefined;
}): Promise<EngineProcess> {
  // The engine's own V8 flags and environment, as `npm start` and the test harness give them:
  // without them the bench measured a heap (young generation, growth, malloc arenas) the product
  // does not run with.
  const args = [...ENGINE_NODE_FLAGS];
  if (o.cpuProfDir) args.push('--cpu-prof', '--cpu-prof-dir', o.cpuProfDir);
  args.push(...engineEntry(o.build ?? 'dist'), '--config', o.configFile);
  const log = createWriteStream(o.logFile);
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...ENGINE_ENV } });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const kill = killer(child);
  const baseUrl = `http://127.0.0.1:${o.httpPort}`;
  const startMs = o.startTimeoutMs ?? 30_000;
  const deadline = Date.now() + startMs;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`engine exited with ${child.exitCode} before it was healthy; log:\n${tail(o.logFile)}`);
    }
    try {
      const r = await fetch(`${baseUrl}/healthz`);
      if (r.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      kill();
      throw new Error(`engine not healthy after ${Math.round(startMs / 1000)} s; log:\n${tail(o.logFile)}`);
    }
    await sleep(100);
  }
  return {
    pid: child.pid!,
    baseUrl,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: async (graceMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(kill, graceMs);
      await exited(child);
      clearTimeout(t);
    },
  };
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').slice(-2000) : '(no log)';
}

/** Sleep `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A running sipp with a control socket. */
export interface Sipp {
  pid: number;
  controlPort: number;
  /** Send a control command (`cset rate 150`, `q`). */
  command(text: string): Promise<void>;
  /** Resolves with the exit code when sipp exits. */
  done: Promise<number | null>;
  /** SIGKILL if still running. */
  kill(): void;
  /** Everything sipp wrote on stderr (the last 100 kB). */
  stderr(): string;
}

/**
 * sipp's socket buffers (`-buff_size`, bytes; the kernel caps it at net.core.rmem_max, 4 MiB on
 * Debian 12). sipp's default of 64 KiB overflowed under a surge: the kernel dropped responses at the
 * caller's SIP socket while sipp was busy, and a dropped 183 is never retransmitted (RFC 3261
 * §17.2.1 retransmits only the final response), so that caller's first media became its 200.
 */
export const SIPP_SOCKET_BUFFER = 4 * 1024 * 1024;

/**
 * Datagrams the kernel dropped at a process's UDP sockets because their receive buffer was full
 * (`ss -uanmp`, skmem `d`), summed over every socket of `pid` except the ports in `skip` (sipp's
 * media ports, which nobody reads). 0 when `ss` is missing or the process is gone.
 */
export function udpReceiveDrops(pid: number, skip: ReadonlySet<number>): number {
  let out: string;
  try {
    out = execFileSync('ss', ['-uanmp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return 0;
  }
  const lines = out.split('\n');
  let drops = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.includes(`pid=${pid},`)) continue;
    const local = line.trim().split(/\s+/)[3] ?? '';
    const port = Number(local.slice(local.lastIndexOf(':') + 1));
    const mem = /\bd(\d+)\)/.exec(lines[i + 1] ?? '');
    if (mem !== null && !skip.has(port)) drops += Number(mem[1]);
  }
  return drops;
}

/**
 * Start sipp with `args` plus its control port (`-cp`), no keyboard, errors to stderr. Bounded by
 * the caller's `-timeout`; killed by {@link Sipp.kill}.
 */
export async function startSipp(args: string[], o: { cwd: string; logFile: string }): Promise<Sipp> {
  const controlPort = await freePort();
  const child = spawn('sipp', [...args, '-cp', String(controlPort), '-nostdin'], { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(o.logFile);
  child.stdout.pipe(log);
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-100_000);
  });
  const control = dgram.createSocket('udp4');
  const done = exited(child).then((code) => {
    control.close();
    return code;
  });
  return {
    pid: child.pid!,
    controlPort,
    command: (text) => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      control.send(text, controlPort, '127.0.0.1', () => resolve());
    }),
    done,
    kill: killer(child),
    stderr: () => err,
  };
}
