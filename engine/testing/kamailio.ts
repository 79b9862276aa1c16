/**
 * Kamailio in front of onair nodes, for tests and benches: the shipped configuration
 * (deploy/kamailio/kamailio.cfg) with only its four `#!substdef` lines rewritten (listen address,
 * dispatcher list, probe interval, runtime folder), a dispatcher list naming the nodes, Kamailio
 * run in the foreground (`-DD -E`) on 127.0.0.1 and a free UDP port, in its own process group.
 * `stop()` kills that group by pid (Kamailio forks its workers); a process exit without a stop
 * (a crashed test runner) still kills it through an exit hook, and the temporary folder goes too.
 *
 * When `kamailio` is missing the test is skipped with "PEER MISSING" (or fails under
 * `ONAIR_REQUIRE_PEERS=1`), through {@link requirePeer}.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requirePeer, which, type PeerTest } from './peers.ts';
import { freeUdpPort } from './ports.ts';

/** The shipped configuration. */
export const KAMAILIO_CFG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/kamailio/kamailio.cfg');

/** A running Kamailio. */
export interface KamailioProxy {
  readonly address: string;
  readonly port: number;
  readonly pid: number;
  /** `address:port`, a sipp target. */
  readonly target: string;
  /** Kamailio's log so far (bounded). */
  output(): string;
  /** Kill the process group and remove the folder. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startKamailio}. */
export interface KamailioOptions {
  /** The onair nodes (dispatcher set 1). */
  nodes: readonly { address: string; port: number }[];
  /** Seconds between OPTIONS probes of each node. Default 1. */
  pingIntervalSeconds?: number;
}

/**
 * The shipped configuration with the substdef values of `values` (keys KAM_LISTEN,
 * DS_LIST_FILE, DS_PING_INTERVAL, KAM_RUNDIR); throws when a key is not found in it exactly once.
 */
export function kamailioConfig(values: Readonly<Record<'KAM_LISTEN' | 'DS_LIST_FILE' | 'DS_PING_INTERVAL' | 'KAM_RUNDIR', string>>): string {
  let text = readFileSync(KAMAILIO_CFG, 'utf8');
  for (const [key, value] of Object.entries(values)) {
    const lines = text.split('\n');
    const at = lines.filter((l) => l.startsWith(`#!substdef "!${key}!`));
    if (at.length !== 1) throw new Error(`${KAMAILIO_CFG}: expected one substdef of ${key}, found ${at.length}`);
    text = lines.map((l) => (l.startsWith(`#!substdef "!${key}!`) ? `#!substdef "!${key}!${value}!g"` : l)).join('\n');
  }
  return text;
}

const live = new Set<KamailioProxy>();
let exitHook = false;

/** Start Kamailio; resolves once it answers an OPTIONS of its own (200). */
export async function startKamailio(o: KamailioOptions): Promise<KamailioProxy> {
  const bin = which('kamailio');
  if (bin === undefined) throw new Error('kamailio is not installed');
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-kamailio-'));
  const port = await freeUdpPort();
  const address = '127.0.0.1';
  const list = path.join(dir, 'dispatcher.list');
  writeFileSync(list, o.nodes.map((n) => `1 sip:${n.address}:${n.port}\n`).join(''));
  const cfg = path.join(dir, 'kamailio.cfg');
  writeFileSync(cfg, kamailioConfig({
    KAM_LISTEN: `udp:${address}:${port}`, DS_LIST_FILE: list, DS_PING_INTERVAL: String(o.pingIntervalSeconds ?? 1), KAM_RUNDIR: dir,
  }));
  let child: ChildProcess;
  try {
    child = spawn(bin, ['-f', cfg, '-DD', '-E', '-m', '64', '-M', '8', '-w', dir], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let log = '';
  const keep = (d: Buffer): void => { if (log.length < 200_000) log += d.toString(); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const kill = (): void => {
    // The group: Kamailio's workers are its children.
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ }
  };
  const proxy: KamailioProxy = {
    address, port, pid: child.pid!, target: `${address}:${port}`, output: () => log,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      live.delete(proxy);
      kill();
      if (child.exitCode === null && child.signalCode === null) await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(proxy);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of [...live]) {
        try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    });
  }
  try {
    await answered(address, port, () => child.exitCode !== null || child.signalCode !== null, () => log);
  } catch (err) {
    await proxy.stop();
    throw err;
  }
  return proxy;
}

/** Poll Kamailio with OPTIONS (no user part: answered by the proxy itself) until a 200, for up to 20 s. */
async function answered(address: string, port: number, dead: () => boolean, log: () => string): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const local = s.address().port;
  let ok = false;
  s.on('message', (buf) => { if (buf.subarray(0, 11).toString('latin1') === 'SIP/2.0 200') ok = true; });
  try {
    for (let i = 0; i < 200 && !ok; i++) {
      if (dead()) throw new Error(`kamailio exited at start:\n${log().slice(-3000)}`);
      const msg = [
        `OPTIONS sip:${address}:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK-probe${i};rport`, 'Max-Forwards: 70',
        `From: <sip:probe@127.0.0.1>;tag=p${i}`, `To: <sip:${address}:${port}>`, `Call-ID: kam-probe-${local}-${i}`, `CSeq: ${i + 1} OPTIONS`,
        'Content-Length: 0', '', '',
      ].join('\r\n');
      s.send(msg, port, address);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!ok) throw new Error(`kamailio did not answer OPTIONS within 20 s:\n${log().slice(-3000)}`);
  } finally {
    s.close();
  }
}

/** What {@link requireKamailio} needs of a tap test. */
export interface KamailioTest extends PeerTest {
  teardown(fn: () => void | Promise<void>): void;
}

/** Kamailio for test `t`, stopped when `t` ends; undefined (skipped, or failed under CI) when it is not installed. */
export async function requireKamailio(t: KamailioTest, o: KamailioOptions): Promise<KamailioProxy | undefined> {
  if (!requirePeer(t, 'kamailio')) return undefined;
  const k = await startKamailio(o);
  t.teardown(() => k.stop());
  return k;
}

/** `kamailio -c` on a configuration text: null when it parses and its modules load, else the checker's output. */
export function checkKamailioConfig(text: string): string | null {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-kamailio-check-'));
  try {
    const cfg = path.join(dir, 'kamailio.cfg');
    writeFileSync(cfg, text);
    const r = spawnSync(which('kamailio') ?? 'kamailio', ['-c', '-f', cfg], { encoding: 'utf8', timeout: 30_000 });
    return r.status === 0 ? null : `${r.stdout}${r.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
