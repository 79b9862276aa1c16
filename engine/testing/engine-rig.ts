/**
 * An engine on loopback for end-to-end tests and benchmarks: the demo configuration with free
 * ports, a database in a temporary folder, and sipp agents (register + answer) around it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { startEngine, type Engine } from '../engine.ts';
import { demoConfig, parseConfig, type ConfigInput } from '../config/index.ts';
import { runSipp, startSipp, type SippOptions, type SippResult, type SippRun } from './sipp.ts';
import type { Cdr, CrmAdapter } from '../../crm-adapter/index.ts';
import { ShopCrmAdapter } from '../../crm-adapter/shop/index.ts';
import type { CallbackTask } from '../store/index.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
/** sipp scenarios shared by tests and benchmarks. */
export const SCENARIOS = path.resolve(here, '../testdata');

import { freeUdpPort } from './ports.ts';

export { freeUdpPort };

/** A running test engine. */
export interface EngineRig {
  engine: Engine;
  dir: string;
  dbPath: string;
  sipPort: number;
  httpPort: number;
  close(): Promise<void>;
}

/**
 * Deep-ish merge of config overrides onto the demo (top-level sections merged one level). A
 * section whose override picks another variant (`crm.adapter`, `database.kind`) replaces it: the
 * other variant's fields would be unknown fields.
 */
export function mergeConfig(base: ConfigInput, over: Partial<ConfigInput>): ConfigInput {
  const out: Record<string, unknown> = { ...base };
  const otherVariant = (b: Record<string, unknown>, v: Record<string, unknown>): boolean =>
    ['adapter', 'kind'].some((d) => d in v && d in b && v[d] !== b[d]);
  for (const [k, v] of Object.entries(over)) {
    const b = (base as Record<string, unknown>)[k];
    out[k] = b && v && typeof b === 'object' && typeof v === 'object' && !Array.isArray(v) && !otherVariant(b as Record<string, unknown>, v as Record<string, unknown>) ? { ...b, ...v } : v;
  }
  return out as ConfigInput;
}

/**
 * Start the demo engine on free ports. `overrides` are merged one level deep onto the test
 * settings (so `sip: { maxCalls: 2 }` keeps the free-port listeners; arrays such as `queues`
 * are replaced whole); `dir` reuses a folder (and so the database) of an earlier rig; `crm` is an
 * adapter object the engine uses instead of the configured one. Calls
 * still up when the rig closes are hung up after a short drain.
 */
export async function startEngineRig(
  overrides: Partial<ConfigInput> = {}, opts: { dir?: string; quiet?: boolean; crm?: CrmAdapter } = {},
): Promise<EngineRig> {
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'onair-e2e-'));
  const dbPath = path.join(dir, 'onair.db');
  const base = demoConfig();
  // A small random block in 30000-32767: below the kernel's ephemeral ports (32768+, where sipp
  // and port-0 sockets land) and away from the blocks the benchmarks fill (10000-29999, 40000+);
  // a leg whose port is taken anyway tries the next ones.
  const portMin = 30000 + 2 * Math.floor(Math.random() * 1200);
  const input = mergeConfig(mergeConfig(base, {
    sip: { listen: [{ transport: 'udp', address: '127.0.0.1', port: 0 }, { transport: 'tcp', address: '127.0.0.1', port: 0 }] },
    http: { port: 0 },
    database: { kind: 'sqlite', path: dbPath },
    media: { bindAddress: '127.0.0.1', workers: 1, rtpPortMin: portMin, rtpPortMax: portMin + 199, rtpTimeoutSeconds: 0, tts: { dir: path.join(dir, 'tts') } },
    shutdown: { drainSeconds: 2 },
    recording: { dir: path.join(dir, 'recordings') },
    // No desktop users: the API stays open on loopback for tests; a test that signs in passes `users`.
    users: { accounts: [] },
  } as Partial<ConfigInput>), overrides);
  const loaded = parseConfig(input, { env: {} });
  if (!loaded.ok) throw new Error(`test config invalid:\n${loaded.errors.join('\n')}`);
  const log = pino({ level: opts.quiet === false ? 'info' : 'warn' });
  const engine = await startEngine(loaded.config, { log, ...(opts.crm ? { crm: opts.crm } : {}) });
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

/** Options of {@link startSippAgents}. */
export interface SippAgentOptions {
  /** Scenario file in {@link SCENARIOS} the phones run (default `agent-answer.xml`). */
  scenario?: string;
  /** Bound of the answering sipp in seconds (default 3600: it is killed by `close()`). */
  timeoutSec?: number;
}

/**
 * Register demo agents `extensions` (password demo<ext>) with sipp and start one sipp that
 * answers their calls after `ringMs`. Resolves once every agent is registered. With `maxCalls`
 * bounded the answering sipp exits by itself after that many calls, so its counts can be read
 * from `answer.done`.
 */
export async function startSippAgents(
  rig: Pick<EngineRig, 'sipPort'>, extensions: string[], ringMs: number, maxCalls = 100000, opts: SippAgentOptions = {},
): Promise<SippAgents> {
  const port = await freeUdpPort();
  const mediaPort = await freeUdpPort();
  const answer = startSipp({
    scenario: path.join(SCENARIOS, opts.scenario ?? 'agent-answer.xml'), transport: 'u1', localPort: port, calls: maxCalls,
    timeoutSec: opts.timeoutSec ?? 3600, args: ['-d', String(ringMs), '-mp', String(mediaPort)],
  });
  try {
    await registerSippAgents(rig, extensions, port);
  } catch (err) {
    answer.kill();
    throw err;
  }
  return { port, answer, close: () => answer.kill() };
}

/**
 * REGISTER demo agents `extensions` (digest, password demo<ext>) with a Contact on `agentPort`,
 * all at once (register in separate calls when the agents' idle order matters: the demo agents
 * become available when they register). Throws when one is not registered.
 */
export async function registerSippAgents(rig: Pick<EngineRig, 'sipPort'>, extensions: string[], agentPort: number): Promise<void> {
  const regs = await Promise.all(extensions.map((ext) => runSipp({
    scenario: path.join(SCENARIOS, 'agent-register.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 20, args: ['-s', ext, '-au', ext, '-ap', `demo${ext}`, '-key', 'agent_port', String(agentPort)],
  })));
  const failed = regs.findIndex((r) => r.successful !== 1);
  if (failed >= 0) throw new Error(`agent ${extensions[failed]} did not register (${regs[failed]?.stderr.slice(0, 300)})`);
}

/** The legs of a CDR whose call an attended transfer passed from agent `a` to agent `b` (docs/transfer.md). */
export function attendedLegs(a: string, b: string): Partial<NonNullable<Cdr['legs']>[number]>[] {
  return [{ kind: 'agent', agent: a, endedBy: 'transfer' }, { kind: 'consult', agent: b, endedBy: 'transfer' }, { kind: 'agent', agent: b, endedBy: 'hangup' }];
}

/**
 * One agent phone `extension` as a sipp that answers one call after `ringMs` and echoes the RTP it
 * gets (`-rtp_echo`: a caller hearing its own tone back proves its audio reached this phone), then
 * waits for the engine's BYE; registered once this resolves.
 */
export async function startEchoAgent(rig: Pick<EngineRig, 'sipPort'>, sipps: SippGroup, extension: string, ringMs = 300): Promise<SippRun> {
  const [port, media, control] = [await freeUdpPort(), await freeUdpPort(), await freeUdpPort()];
  const run = sipps.start({
    scenario: path.join(SCENARIOS, 'agent-answer.xml'), localPort: port, calls: 1, timeoutSec: 60,
    args: ['-d', String(ringMs), '-mp', String(media), '-rtp_echo', '-cp', String(control)],
  });
  await registerSippAgents(rig, [extension], port);
  return run;
}

/**
 * The sipp processes of one test: each is killed on `close()` (put it in t.teardown), and
 * `running` says how many are still alive (a test ends with none).
 */
export class SippGroup {
  readonly runs: SippRun[] = [];

  /** Start sipp and keep it in the group. */
  start(o: SippOptions): SippRun {
    return this.add(startSipp(o));
  }

  /** Run sipp to completion (killed on `close()` if the test ends first). */
  run(o: SippOptions): Promise<SippResult> {
    return this.start(o).done;
  }

  /** Keep a sipp started elsewhere (the agents' answering sipp). */
  add(run: SippRun): SippRun {
    this.runs.push(run);
    return run;
  }

  /** sipp processes that have not exited. */
  get running(): number {
    return this.runs.filter((r) => r.process.exitCode === null && r.process.signalCode === null).length;
  }

  /** Kill every sipp still running and wait until each has exited. */
  async close(): Promise<void> {
    for (const r of this.runs) r.kill();
    await Promise.all(this.runs.map((r) => r.done));
  }
}

/** What {@link startE2e} needs of a tap test (keeps this file free of a tap import). */
export interface TeardownTest {
  teardown(fn: () => Promise<void> | void): void;
}

/** A test's engine and its sipp peers. */
export interface E2e {
  rig: EngineRig;
  sipps: SippGroup;
}

/**
 * A rig (see {@link startEngineRig}) and a sipp group for one test, cleaned up when the test
 * ends however it ends: the peers are stopped first, then the engine (in one teardown, so the
 * order does not depend on the order tap runs teardowns in).
 */
export async function startE2e(t: TeardownTest, overrides: Partial<ConfigInput> = {}): Promise<E2e> {
  const rig = await startEngineRig(overrides);
  const sipps = new SippGroup();
  t.teardown(async () => {
    await sipps.close();
    await rig.close();
  });
  return { rig, sipps };
}

/** Resolve `p`, or reject after `ms` naming `what` (keeps every wait of a test bounded). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Poll `probe` every 50 ms until it returns a value other than undefined/false; reject after
 * `ms` with `what` (and the last value seen, for the failure message).
 */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() >= end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An answer of the engine's HTTP API. */
export interface ApiAnswer<T> {
  status: number;
  body: T;
}

/** Call the engine's HTTP API (the test config has no token: the API is open on loopback). */
export async function api<T = unknown>(rig: EngineRig, method: 'GET' | 'POST', urlPath: string, body?: unknown): Promise<ApiAnswer<T>> {
  const res = await fetch(`http://127.0.0.1:${rig.httpPort}${urlPath}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** The CDRs delivered to the built-in CRM so far (`GET /api/v1/cdrs`), newest arrival first. */
export async function listCdrs(rig: EngineRig): Promise<Cdr[]> {
  const r = await api<{ items: Cdr[] }>(rig, 'GET', '/api/v1/cdrs?limit=1000');
  if (r.status !== 200) throw new Error(`GET /api/v1/cdrs: ${r.status}`);
  return r.body.items;
}

/**
 * Wait until `count` CDRs have reached the CRM (they go through the durable outbox,
 * asynchronously) and return them, oldest arrival first.
 */
export async function waitForCdrs(rig: EngineRig, count: number, ms = 10_000): Promise<Cdr[]> {
  const cdrs = await waitFor(`${count} CDRs`, async () => {
    const list = await listCdrs(rig);
    return list.length >= count ? list : undefined;
  }, ms);
  return cdrs.sort((a, b) => a.arrivedAt - b.arrivedAt);
}

/** Open callback tasks (`GET /api/v1/callbacks`), in callback order. */
export async function listCallbacks(rig: EngineRig): Promise<CallbackTask[]> {
  const r = await api<{ items: CallbackTask[] }>(rig, 'GET', '/api/v1/callbacks?limit=1000');
  if (r.status !== 200) throw new Error(`GET /api/v1/callbacks: ${r.status}`);
  return r.body.items;
}

/**
 * `caller-dtmf.xml` for another digit (sipp reads the pcap when it loads the scenario, so the
 * file name cannot be a keyword): a copy in the rig's folder playing `dtmf_2833_<digit>.pcap`.
 */
export function dtmfCallerScenario(rig: EngineRig, digit: string): string {
  const pcap = `dtmf_2833_${digit === '*' ? 'star' : digit === '#' ? 'pound' : digit}.pcap`;
  const file = path.join(rig.dir, `caller-dtmf-${pcap}.xml`);
  writeFileSync(file, readFileSync(path.join(SCENARIOS, 'caller-dtmf.xml'), 'latin1').replace('dtmf_2833_1.pcap', pcap), 'latin1');
  return file;
}

/**
 * The demo queues with `change` applied to each (e.g. a short ring timeout): config overrides
 * replace the whole `queues` array.
 */
export function demoQueues(change: Partial<NonNullable<ConfigInput['queues']>[number]>): NonNullable<ConfigInput['queues']> {
  return (demoConfig().queues ?? []).map((q) => ({ ...q, ...change }));
}

/** Write a callers injection file (one number per line) and return its path. */
export function callersFile(rig: Pick<EngineRig, 'dir'>, numbers: string[], name = 'callers.csv'): string {
  const file = path.join(rig.dir, name);
  writeFileSync(file, `SEQUENTIAL\n${numbers.join('\n')}\n`);
  return file;
}

/** A folder, the shop (SQLite in it, demo data) and a sipp group for an IVR test against the shop; see {@link shopIvrRig}. */
export interface ShopIvrRig {
  dir: string;
  shop: ShopCrmAdapter;
  sipps: SippGroup;
  /** Start the engine on the shop (`overrides` as for {@link startEngineRig}); it is closed with the rest. */
  start(overrides: Partial<ConfigInput>): Promise<EngineRig>;
}

/**
 * The set-up of the IVR tests against the shop: a fresh folder, the shop in it with its demo
 * data, a sipp group; the teardown kills sipp, stops the engine, closes the shop and removes the
 * folder, in that order, whatever the test did.
 */
export async function shopIvrRig(t: { teardown(fn: () => Promise<void>): void }, prefix: string): Promise<ShopIvrRig> {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const shop = new ShopCrmAdapter({ store: { kind: 'sqlite', path: path.join(dir, 'shop.db') }, seedDemo: true });
  const sipps = new SippGroup();
  let rig: EngineRig | undefined;
  t.teardown(async () => {
    await sipps.close();
    await rig?.close();
    await shop.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await shop.init();
  return {
    dir, shop, sipps,
    start: async (overrides) => {
      // The adapter object is the one used; the section says which kind it is (query steps need one with query).
      rig = await startEngineRig({ crm: { adapter: 'shop', path: path.join(dir, 'shop.db') }, ...overrides }, { dir, crm: shop });
      return rig;
    },
  };
}
