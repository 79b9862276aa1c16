/**
 * The C load generator/sink of the media benchmarks (`bench/rtpload.c`), compiled on first use into
 * `bench/bin/rtpload`. `npm run bench -- media-rtpload` only builds it and prints its path; the
 * helpers are used by `media-hold` and `media-relay`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { cBinary, say } from './lib.ts';

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
