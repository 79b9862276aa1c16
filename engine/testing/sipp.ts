/**
 * Run sipp (Debian `sip-tester`) as a real peer from tests and benchmarks, and read its
 * statistics. Every run is bounded (`-m`, `-timeout`) and killed on teardown if still alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SippOptions {
  /** Built-in scenario (`uac`, `uas`, ...) or a path to an XML scenario file. */
  scenario: string;
  /** `host:port` to send to (omit for a UAS). */
  target?: string | undefined;
  /** `u1` (UDP, one socket), `un` (UDP, socket per call), `t1` (TCP, one connection), `tn`. */
  transport?: 'u1' | 'un' | 't1' | 'tn' | undefined;
  /** Local address and port sipp binds (port 0 = let sipp choose). */
  localIp?: string | undefined;
  localPort?: number | undefined;
  /** Stop after this many calls. */
  calls?: number | undefined;
  /** Calls per second. */
  rate?: number | undefined;
  /** Concurrent calls limit. */
  limit?: number | undefined;
  /** Overall bound in seconds; sipp exits when reached. */
  timeoutSec?: number | undefined;
  /** Further raw arguments. */
  args?: string[] | undefined;
}

export interface SippResult {
  /** Process exit code (0: all calls succeeded; 1: some failed; 97/99/255: errors). */
  code: number | null;
  successful: number;
  failed: number;
  retransmissions: number;
  /** Every column of the last statistics row, by name. */
  stats: Record<string, string>;
  stdout: string;
  stderr: string;
}

/** A running sipp; `done` resolves when it exits, `kill()` ends it. */
export interface SippRun {
  process: ChildProcess;
  done: Promise<SippResult>;
  kill(): void;
}

/** Start sipp; the caller must await `done` or call `kill()` (use t.teardown). */
export function startSipp(o: SippOptions): SippRun {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-sipp-'));
  const statFile = path.join(dir, 'stat.csv');
  const args: string[] = [];
  if (o.scenario.endsWith('.xml')) args.push('-sf', o.scenario);
  else args.push('-sn', o.scenario);
  if (o.target) args.push(o.target);
  args.push('-t', o.transport ?? 'u1', '-i', o.localIp ?? '127.0.0.1', '-p', String(o.localPort ?? 0));
  if (o.calls !== undefined) args.push('-m', String(o.calls));
  if (o.rate !== undefined) args.push('-r', String(o.rate));
  if (o.limit !== undefined) args.push('-l', String(o.limit));
  args.push('-timeout', `${o.timeoutSec ?? 60}s`, '-timeout_error');
  args.push('-nostdin', '-trace_stat', '-stf', statFile, '-fd', '1');
  args.push('-max_socket', '4096');
  if (o.args) args.push(...o.args);

  const child = spawn('sipp', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { if (stdout.length < 200_000) stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { if (stderr.length < 200_000) stderr += d.toString(); });
  const done = new Promise<SippResult>((resolve) => {
    child.on('close', (code) => {
      const stats = readStats(statFile);
      rmSync(dir, { recursive: true, force: true });
      resolve({
        code,
        successful: Number(stats['SuccessfulCall(C)'] ?? 0),
        failed: Number(stats['FailedCall(C)'] ?? 0),
        retransmissions: Number(stats['Retransmissions(C)'] ?? 0),
        stats,
        stdout,
        stderr,
      });
    });
  });
  return {
    process: child,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Run sipp to completion. */
export function runSipp(o: SippOptions): Promise<SippResult> {
  return startSipp(o).done;
}

/** Last row of sipp's `-trace_stat` CSV as name → value. */
function readStats(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const header = lines[0]?.split(';') ?? [];
  const last = lines[lines.length - 1]?.split(';') ?? [];
  const out: Record<string, string> = {};
  header.forEach((h, i) => { if (h) out[h] = last[i] ?? ''; });
  return out;
}
