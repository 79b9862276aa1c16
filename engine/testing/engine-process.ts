/**
 * The engine as a child process, the way operators run it (`onair --config FILE`): a generated
 * JSON configuration on free loopback ports and a database in a folder of the caller's choosing, so
 * a test can `kill -9` it and start another on the same database, and a benchmark can measure it
 * (CPU, RSS, `--cpu-prof`) apart from the load generators.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoConfig, type ConfigInput } from '../config/index.ts';
import { ENGINE_ENV, ENGINE_NODE_FLAGS } from '../cli/index.ts';
import { freeUdpPort, mergeConfig } from './engine-rig.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

import { freeTcpPort } from './ports.ts';

export { freeTcpPort };

/** Options of {@link spawnEngine}. */
export interface EngineProcessOptions {
  /** Folder of the config file and the database (`onair.db`); reuse it to restart on the same data. */
  dir: string;
  /** Replace top-level sections of the demo configuration (merged one level deep). */
  overrides?: Partial<ConfigInput>;
  /** Extra node options before the script (e.g. `--cpu-prof`, `--cpu-prof-dir=…`), after the engine's own flags. */
  nodeArgs?: string[];
  /** How long to wait for `/healthz` (ms). Default 20000. */
  startTimeoutMs?: number;
  /** Also listen on SIP over TCP (a free port, `sipTcpPort`); kept when `overrides.sip` has no `listen`. Default false. */
  tcp?: boolean;
  /** Every chunk of the engine's stdout and stderr as it comes (`output()` keeps only the first 100 kB). */
  onOutput?: (chunk: Buffer) => void;
  /** The engine run: the source tree (default: tests must not depend on a fresh build) or `dist/` (benches: what `npm start` runs). */
  build?: EngineBuild;
  /** Variables added to this process's environment and the engine's own (`ENGINE_ENV`), e.g. a bench comparing `MALLOC_ARENA_MAX`. */
  env?: Readonly<Record<string, string>>;
}

/** A running engine process. */
export interface EngineProcess {
  child: ChildProcess;
  pid: number;
  sipPort: number;
  /** SIP over TCP port when started with `tcp: true`, else undefined. */
  sipTcpPort: number | undefined;
  httpPort: number;
  dbPath: string;
  /** Log output so far (bounded), for failure messages. */
  output(): string;
  /** GET a JSON document of the HTTP API. */
  get<T = unknown>(urlPath: string): Promise<T>;
  /** Send SIGTERM (graceful drain) or SIGKILL; resolves with the exit code or signal. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<number | NodeJS.Signals | null>;
}

/** CPU time (user + system, ms) and resident memory (bytes) of a process, from /proc. */
export function processUsage(pid: number): { cpuMs: number; rssBytes: number } {
  // /proc/PID/stat: fields after the ")" of the command; utime and stime are fields 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(f[11]) + Number(f[12]);
  const rssPages = Number(f[21]);
  // Linux: USER_HZ is 100 and pages are 4 KiB on the machines we run on.
  return { cpuMs: ticks * 10, rssBytes: rssPages * 4096 };
}

/** Which engine a bench starts: the build `npm start` runs (`dist/`), or the source tree through tsx. */
export type EngineBuild = 'dist' | 'source';

/** The built entry point `npm start` runs, under the repository `root`. */
const distMain = (at: string): string => path.join(at, 'dist/engine/cli/main.js');

/**
 * Why the build in `root/dist/` cannot stand for the source tree (missing, or older than a source
 * file it is built from), or null when it can. A bench of a stale build measures code that is no
 * longer there, so the caller refuses it rather than warning.
 */
export function staleBuild(at = root): string | null {
  if (!existsSync(distMain(at))) return 'dist/ has no build (run `npm run build`)';
  const built = statSync(distMain(at)).mtimeMs;
  const newer = (dir: string): string | null => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name === 'node_modules' || e.name === 'testing') continue;
        const found = newer(p);
        if (found !== null) return found;
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && statSync(p).mtimeMs > built) return p;
    }
    return null;
  };
  for (const top of ['engine', 'media', 'crm-adapter']) {
    if (!existsSync(path.join(at, top))) continue;
    const found = newer(path.join(at, top));
    if (found !== null) return `${path.relative(at, found)} is newer than the build in dist/ (run \`npm run build\`)`;
  }
  return null;
}

/**
 * The node arguments that run the engine's entry point: the build in `dist/` (refused with the
 * reason when {@link staleBuild} finds it stale: a bench would measure code no longer there), or
 * the source tree through tsx.
 */
export function engineEntry(build: EngineBuild): string[] {
  if (build === 'source') return ['--import', 'tsx', path.join(root, 'engine/cli/main.ts')];
  const stale = staleBuild();
  if (stale !== null) throw new Error(`the engine build cannot be run: ${stale}; or run the source tree (--engine source)`);
  return [distMain(root)];
}

/**
 * Write `dir/onair.json` (the demo with free ports, UDP SIP only, `overrides` on top) and start
 * `node --import tsx engine/cli/main.ts --config dir/onair.json` (or the build: `build`). Resolves
 * once `/healthz` answers.
 */
export async function spawnEngine(o: EngineProcessOptions): Promise<EngineProcess> {
  const sipPort = await freeUdpPort();
  const sipTcpPort = o.tcp ? await freeTcpPort() : undefined;
  const httpPort = await freeTcpPort();
  const dbPath = path.join(o.dir, 'onair.db');
  // Below the kernel's ephemeral range (32768+), where the free SIP and HTTP ports come from.
  const portMin = 10000 + 2 * Math.floor(Math.random() * 5000);
  const config = mergeConfig(demoConfig(), {
    sip: {
      listen: [
        { transport: 'udp', address: '127.0.0.1', port: sipPort },
        ...(sipTcpPort === undefined ? [] : [{ transport: 'tcp' as const, address: '127.0.0.1', port: sipTcpPort }]),
      ],
    },
    http: { port: httpPort },
    database: { kind: 'sqlite', path: dbPath },
    media: { bindAddress: '127.0.0.1', workers: 1, rtpPortMin: portMin, rtpPortMax: portMin + 9999, rtpTimeoutSeconds: 0, tts: { dir: path.join(o.dir, 'tts') } },
    log: { level: 'warn' },
    // No desktop users: the API stays open on loopback for tests; a test that signs in passes `users`.
    users: { accounts: [] },
  } as Partial<ConfigInput>);
  const input = o.overrides ? mergeConfig(config, o.overrides) : config;
  const file = path.join(o.dir, 'onair.json');
  writeFileSync(file, JSON.stringify(input, null, 2));
  const child = spawn(process.execPath, [...ENGINE_NODE_FLAGS, ...(o.nodeArgs ?? []), ...engineEntry(o.build ?? 'source'), '--config', file], {
    cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...ENGINE_ENV, ...o.env },
  });
  let output = '';
  const keep = (d: Buffer): void => {
    if (output.length < 100_000) output += d.toString();
    o.onOutput?.(d);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const base = `http://127.0.0.1:${httpPort}`;
  const get = async <T>(urlPath: string): Promise<T> => {
    const res = await fetch(base + urlPath);
    if (!res.ok) throw new Error(`GET ${urlPath}: ${res.status} ${await res.text()}`);
    return (urlPath === '/metrics' ? await res.text() : await res.json()) as T;
  };
  const stop = async (signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | NodeJS.Signals | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  const deadline = Date.now() + (o.startTimeoutMs ?? 20_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`engine exited at start:\n${output}`);
    try {
      await get('/healthz');
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop('SIGKILL');
        throw new Error(`engine did not start within ${o.startTimeoutMs ?? 20_000} ms:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { child, pid: child.pid!, sipPort, sipTcpPort, httpPort, dbPath, output: () => output, get, stop };
}
