/**
 * An engine on loopback for end-to-end tests and benchmarks: the demo configuration with free
 * ports, a database in a temporary folder, and sipp agents (register + answer) around it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startEngine, type Engine } from '../engine.ts';
import { demoConfig, parseConfig, type ConfigInput } from '../config/index.ts';
import { runSipp, startSipp, type SippRun } from './sipp.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
/** sipp scenarios shared by tests and benchmarks. */
export const SCENARIOS = path.resolve(here, '../testdata');

/** A UDP port that was free a moment ago (for peers that need a number). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A running test engine. */
export interface EngineRig {
  engine: Engine;
  dir: string;
  dbPath: string;
  sipPort: number;
  httpPort: number;
  close(): Promise<void>;
}

/** Deep-ish merge of config overrides onto the demo (top-level sections merged one level). */
export function mergeConfig(base: ConfigInput, over: Partial<ConfigInput>): ConfigInput {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = (base as Record<string, unknown>)[k];
    out[k] = b && v && typeof b === 'object' && typeof v === 'object' && !Array.isArray(v) ? { ...b, ...v } : v;
  }
  return out as ConfigInput;
}

/**
 * Start the demo engine on free ports. `overrides` replace top-level sections (merged one level
 * deep); `dir` reuses a folder (and so the database) of an earlier rig.
 */
export async function startEngineRig(overrides: Partial<ConfigInput> = {}, opts: { dir?: string; quiet?: boolean } = {}): Promise<EngineRig> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'onair-e2e-'));
  const dbPath = path.join(dir, 'onair.db');
  const base = demoConfig();
  const portMin = 20000 + 2 * Math.floor(Math.random() * 10000);
  const input = mergeConfig(base, {
    sip: { listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }, { transport: 'tcp', address: '127.0.0.1', port: 0 }] },
    http: { port: 0 },
    database: { kind: 'sqlite', path: dbPath },
    media: { bindAddress: '127.0.0.1', workers: 1, rtpPortMin: portMin, rtpPortMax: portMin + 1999, rtpTimeoutSeconds: 0 },
    ...overrides,
  } as Partial<ConfigInput>);
  const loaded = parseConfig(input, { env: {} });
  if (!loaded.ok) throw new Error(`test config invalid:\n${loaded.errors.join('\n')}`);
  const log = pino({ level: opts.quiet === false ? 'info' : 'warn' });
  const engine = await startEngine(loaded.config, { log });
  const udp = engine.sip.find((e) => e.transport === 'UDP')!;
  return {
    engine, dir, dbPath, sipPort: udp.port, httpPort: engine.http.port,
    close: async () => {
      await engine.stop('test over');
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** sipp agent phones: one answering sipp, and the demo agents registered to point at it. */
export interface SippAgents {
  port: number;
  answer: SippRun;
  close(): void;
}

/**
 * Register demo agents `extensions` (password demo<ext>) with sipp and start one sipp that
 * answers their calls after `ringMs`. Resolves once every agent is registered.
 */
export async function startSippAgents(rig: Pick<EngineRig, 'sipPort'>, extensions: string[], ringMs: number, maxCalls = 100000): Promise<SippAgents> {
  const port = await freeUdpPort();
  const mediaPort = await freeUdpPort();
  const answer = startSipp({
    scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: port, calls: maxCalls, timeoutSec: 3600,
    args: ['-d', String(ringMs), '-key', 'media_port', String(mediaPort)],
  });
  const regs = await Promise.all(extensions.map((ext) => runSipp({
    scenario: path.join(SCENARIOS, 'agent-register.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 20, args: ['-s', ext, '-au', ext, '-ap', `demo${ext}`, '-key', 'agent_port', String(port)],
  })));
  const ok = regs.filter((r) => r.successful === 1).length;
  if (ok !== extensions.length) {
    answer.kill();
    throw new Error(`agents did not register: ${ok}/${extensions.length} (${regs.find((r) => r.successful !== 1)?.stderr.slice(0, 300)})`);
  }
  return { port, answer, close: () => answer.kill() };
}

/** Write a callers injection file (one number per line) and return its path. */
export function callersFile(rig: Pick<EngineRig, 'dir'>, numbers: string[], name = 'callers.csv'): string {
  const file = path.join(rig.dir, name);
  writeFileSync(file, `SEQUENTIAL\n${numbers.join('\n')}\n`);
  return file;
}
