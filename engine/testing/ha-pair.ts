/**
 * Helpers for tests and benches of the active-standby pair (issue 19): an engine process as one
 * node of the pair on a loopback address, its role read from /metrics, and whether this machine
 * can bind the loopback addresses the pair uses (Linux routes all of 127/8 to lo).
 */
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import type { ConfigInput } from '../config/index.ts';
import { spawnEngine, type EngineProcess } from './engine-process.ts';
import { mergeConfig } from './engine-rig.ts';

/** True when a UDP socket can be bound on `address` here. */
export async function bindable(address: string): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, address, resolve); });
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}

/** The role a node reports (`onair_ha_role{role="..."} 1` in its /metrics), or undefined (no answer, no ha). */
export async function haRole(e: Pick<EngineProcess, 'get'>): Promise<string | undefined> {
  const text = await e.get<string>('/metrics').catch(() => '');
  for (const line of text.split('\n')) {
    if (line.startsWith('onair_ha_role{') && line.endsWith(' 1')) return line.slice(line.indexOf('"') + 1, line.lastIndexOf('"'));
  }
  return undefined;
}

/** Options of {@link spawnHaNode}. */
export interface HaNodeProcessOptions {
  /** Parent folder; the node's own folder (config, SQLite file) is created in it. */
  root: string;
  nodeId: string;
  /** SIP over UDP on this address and port. */
  address: string;
  port: number;
  /** The shared PostgreSQL database. */
  url: string;
  /** Lease and renewal (ms). Default 2000 and 250. */
  leaseMs?: number;
  renewIntervalMs?: number;
  /** More overrides (crm, agents...), merged one level deep. */
  overrides?: Partial<ConfigInput>;
  /** How long to wait for /healthz (ms). Default 60000: a node starts slowly on a loaded machine. */
  startTimeoutMs?: number;
}

/** Start an engine process as one node of a pair (`ha.enabled`, `database.kind: postgres`). */
export async function spawnHaNode(o: HaNodeProcessOptions): Promise<EngineProcess> {
  const dir = mkdtempSync(path.join(o.root, `${o.nodeId}-`));
  const base: Partial<ConfigInput> = {
    sip: { listen: [{ transport: 'udp', address: o.address, port: o.port }] },
    database: { kind: 'postgres', url: o.url, path: path.join(dir, 'onair.db') },
    ha: { enabled: true, nodeId: o.nodeId, leaseMs: o.leaseMs ?? 2000, renewIntervalMs: o.renewIntervalMs ?? 250 },
    shutdown: { drainSeconds: 1 },
  } as Partial<ConfigInput>;
  return spawnEngine({
    dir, overrides: o.overrides ? mergeConfig(base as ConfigInput, o.overrides) : base, startTimeoutMs: o.startTimeoutMs ?? 60_000,
  });
}
