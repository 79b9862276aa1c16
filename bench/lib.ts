/**
 * Shared helpers for benchmarks. Every benchmark prints one JSON object per line on stdout,
 * `{"bench", "metric", "value", "unit", ...}` (ARCHITECTURE.md), and a human summary on stderr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

/** One result line. Extra fields (p50, runs, machine notes) are welcome. */
export interface BenchResult {
  bench: string;
  metric: string;
  value: number;
  unit: string;
  [extra: string]: unknown;
}

/** Print one result as a JSON line on stdout. */
export function emit(result: BenchResult): void {
  process.stdout.write(JSON.stringify(result) + '\n');
}

/** Human-readable line on stderr. */
export function say(text: string): void {
  process.stderr.write(text + '\n');
}

/** A short description of the machine, written next to every figure in docs/bench.md. */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} x ${cpus[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/** Median of a list of numbers (the list is sorted in place). */
export function median(values: number[]): number {
  return quantile(values, 0.5);
}

/** Quantile q in [0,1] by nearest rank; sorts `values` in place. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  values.sort((a, b) => a - b);
  const i = Math.min(values.length - 1, Math.max(0, Math.ceil(q * values.length) - 1));
  return values[i]!;
}

/**
 * Run `fn` repeatedly for about `ms` milliseconds, in `rounds` rounds, and return the median rate
 * (operations per second) over the rounds. `fn(n)` must perform n operations.
 */
export function rate(fn: (n: number) => void, opts: { ms?: number; rounds?: number } = {}): { median: number; rounds: number[] } {
  const ms = opts.ms ?? 1000;
  const roundsN = opts.rounds ?? 5;
  // Warm up and size a batch to about 10 ms.
  let batch = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    fn(batch);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (dt > 10) break;
    batch *= 2;
  }
  const rounds: number[] = [];
  for (let r = 0; r < roundsN; r++) {
    let ops = 0;
    const t0 = process.hrtime.bigint();
    let dt = 0;
    while (dt < ms / roundsN) {
      fn(batch);
      ops += batch;
      dt = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    rounds.push((ops * 1000) / dt);
  }
  return { median: median([...rounds]), rounds };
}

/** A deterministic pseudo-random source in [0, 1) (mulberry32), so runs are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * sipp's socket buffers for load runs. sipp's default (`-buff_size` 65535) holds only ~30 small
 * datagrams; any burst from the system under test (after a 20-30 ms GC pause, say) overflows it,
 * and sipp then counts its own retransmissions of requests whose answers the kernel dropped on
 * sipp's side. A carrier's SBC has far larger buffers; 4 MiB is within this machine's rmem_max.
 */
export const SIPP_LOAD_BUFFERS: readonly string[] = ['-buff_size', String(4 * 1024 * 1024)];

/**
 * Path of a C load generator of bench/ (`bench/NAME.c` → `bench/bin/NAME`), building it with
 * gcc -O2 when missing or older than its source.
 */
export function cBinary(name: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const source = path.join(here, `${name}.c`);
  const binary = path.join(here, 'bin', name);
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs) {
    mkdirSync(path.dirname(binary), { recursive: true });
    const r = spawnSync('gcc', ['-O2', '-Wall', '-o', binary, source], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gcc failed building ${binary}: ${r.stderr || r.error?.message}`);
    say(`built ${binary}`);
  }
  return binary;
}

/**
 * A full garbage collection for memory benches (`--expose-gc` switched on at run time), repeated:
 * one pass can leave pages of the previous run unswept in `heapUsed`.
 */
export function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  return () => {
    for (let i = 0; i < 3; i++) gc();
  };
}
