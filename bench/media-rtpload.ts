/**
 * The C load generator/sink of the media benchmarks (`bench/rtpload.c`), compiled on first use into
 * `bench/bin/rtpload`. `npm run bench -- media-rtpload` only builds it and prints its path; the
 * helpers are used by `media-hold` and `media-relay`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { cBinary, say } from './lib.ts';
import type { MediaPool, LegId } from '../media/index.ts';

/** Path of the compiled load generator, building it (gcc -O2) when missing or older than its source. */
export function rtploadBinary(): string {
  return cBinary('rtpload');
}

/** A running rtpload: its UDP port, stdin (relay mode reads the leg ports) and its JSON result. */
export interface Rtpload {
  port: number;
  proc: ChildProcessByStdio<Writable, Readable, null>;
  result: Promise<Record<string, number>>;
}

/** Start `rtpload MODE SECONDS`; resolves once it printed its port. */
export function startRtpload(mode: 'sink' | 'relay', seconds: number): Promise<Rtpload> {
  const proc = spawn(rtploadBinary(), [mode, String(seconds)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    let resolved = false;
    let finish: (r: Record<string, number>) => void = () => {};
    let fail: (e: Error) => void = () => {};
    const result = new Promise<Record<string, number>>((res, rej) => {
      finish = res;
      fail = rej;
    });
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^PORT (\d+)\n/.exec(out);
      if (m && !resolved) {
        resolved = true;
        resolve({ port: Number(m[1]), proc, result });
      }
    });
    proc.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) finish(JSON.parse(line) as Record<string, number>);
      else fail(new Error(`rtpload ${mode} exited ${code} without a result`));
      if (!resolved) reject(new Error(`rtpload ${mode} exited ${code} before binding`));
    });
  });
}

/** Builds the load generator if needed and prints its path on stderr. */
export async function main(): Promise<void> {
  say(rtploadBinary());
}

/**
 * Allocate and bridge `n` calls (two legs each, on one worker) whose legs send to the generator at
 * `port` (unlatched), 50 at a time; `each` runs per call once bridged (e.g. start a recording).
 * Returns the leg ports per call, for the generator's `CALLS` input.
 */
export async function bridgeCalls(pool: MediaPool, n: number, port: number,
  each?: (i: number, a: LegId, b: LegId) => Promise<void>): Promise<[number, number][]> {
  const pairs: [number, number][] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, n - i) }, async (_, j) => {
      const a = await pool.allocate();
      if (!a.ok) throw new Error(a.reason);
      const b = await pool.allocate({ near: a.value.leg });
      if (!b.ok) throw new Error(b.reason);
      for (const leg of [a.value.leg, b.value.leg]) {
        const r = await pool.setRemote(leg, { address: '127.0.0.1', port, latch: false });
        if (!r.ok) throw new Error(r.reason);
      }
      const br = await pool.bridge(a.value.leg, b.value.leg);
      if (!br.ok) throw new Error(br.reason);
      await each?.(i + j, a.value.leg, b.value.leg);
      return [a.value.port, b.value.port] as [number, number];
    }));
    pairs.push(...batch);
  }
  return pairs;
}
