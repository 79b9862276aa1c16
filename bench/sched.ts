/**
 * `npm run bench -- sched [--part sip|media|both] [--runs 5] [--burst 500] [--calls 100]
 *  [--hold 3000] [--seconds 10] [--workers 1]`: priorities under load (issue 13), each figure
 * with work classes off and on, the two interleaved run by run, the load average beside each.
 *
 * sip: an engine process (`onair --config`, `scheduler.enabled` false / true) with agent 1009
 * registered on one loopback socket that is also the carrier. One caller is queued and offered to
 * 1009; then `--burst` new INVITEs and the agent's 200 OK are written back to back, so the answer
 * waits in the engine's socket behind the burst. Measured: the time from the 200 OK reaching the
 * engine's socket to the engine's ACK arriving back (the bridge is made in the same turn).
 *
 * ```
 *  this process ── burst INVITE × N, then 200 OK ──▶ engine (own process) ── ACK ──▶ this process
 *               t0 = 200 OK written                                     t1 = ACK heard; t1 − t0
 * ```
 *
 * media: one media pool (`--workers`) with `--calls` bridged calls (the C generator sends 50
 * packets/s into both legs and measures the relay's added jitter and loss) and `--hold` hold
 * streams to the C sink, more than the workers can pace; the clock's `yieldAfterMs` 0 (the old
 * behaviour: a clock behind schedule holds the thread) against the default.
 *
 * Metrics: per run `sched_ack_ms` / `sched_relay_jitter_p99_ms` (with `classes` on/off and
 * `loadavg`), then the medians and spread over the runs: `ack_after_burst_ms_{off,on}`,
 * `relay_loss_pct_{off,on}` (relayed packets lost) and `relay_jitter_p99_ms_{off,on}` (added
 * jitter of those that got through; the C receiver's histogram ends at 200 ms).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { emit, say, machine, median } from './lib.ts';
import { startRtpload } from './media-rtpload.ts';
import { MediaPool, HOLD_MUSIC, defaultPromptDir } from '../media/index.ts';
import { spawnEngine } from '../engine/testing/engine-process.ts';
import { registerSippAgents } from '../engine/testing/engine-rig.ts';
import { RawUdp } from '../engine/testing/attack.ts';
import { answerBehindBurst, offerToPhone } from '../engine/testing/agent-burst.ts';

const BENCH = 'sched';

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
}

const loadavg = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** min / median / max of a list, rounded. */
function spread(values: number[]): { median: number; min: number; max: number; runs: number[] } {
  const r = (x: number) => Math.round(x * 100) / 100;
  return { median: r(median([...values])), min: r(Math.min(...values)), max: r(Math.max(...values)), runs: values.map(r) };
}

/** One engine, one burst, one answer: ms from the 200 OK written to the ACK heard. */
async function sipRun(classes: boolean, burst: number): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-sched-'));
  const engine = await spawnEngine({
    dir, startTimeoutMs: 120_000,
    overrides: {
      scheduler: { enabled: classes },
      sip: { maxCalls: 4000 },
      flows: { direct: [{ queue: { id: 'orders' } }] },
      numbers: { 300: { flow: 'direct', programme: 'bench' }, default: { flow: 'direct' } },
    },
  });
  const phone = await RawUdp.open();
  phone.socket.setRecvBufferSize(8 * 1024 * 1024);
  try {
    await registerSippAgents(engine, ['1009'], phone.port);
    const offer = await offerToPhone(engine, phone, '300', '1009');
    const r = await answerBehindBurst(engine, phone, offer, { n: burst, number: '300', prefix: '+4930555', ext: '1009', ms: 60_000 });
    if (r.ackAt === undefined) throw new Error('no ACK for the agent\'s 200 OK within 60 s');
    return r.ackAt - r.sentAt;
  } finally {
    await phone.close();
    await engine.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One media run: bridged calls' relay jitter with hold streams over capacity. */
async function mediaRun(yieldAfterMs: number, o: { calls: number; hold: number; seconds: number; workers: number }): Promise<Record<string, number | boolean>> {
  const relay = await startRtpload('relay', o.seconds);
  const sink = await startRtpload('sink', o.seconds + 30);
  const pool = await MediaPool.start({
    workers: o.workers, bindAddress: '127.0.0.1', portMin: 40000, portMax: 40000 + 2 * (2 * o.calls + o.hold) + 64 * o.workers,
    promptDir: defaultPromptDir(), clock: { sleepMs: 1, yieldAfterMs },
  });
  try {
    const pairs: [number, number][] = [];
    for (let i = 0; i < o.calls; i++) {
      const a = await pool.allocate();
      if (!a.ok) throw new Error(a.reason);
      const b = await pool.allocate({ near: a.value.leg });
      if (!b.ok) throw new Error(b.reason);
      for (const leg of [a.value.leg, b.value.leg]) {
        const r = await pool.setRemote(leg, { address: '127.0.0.1', port: relay.port, latch: false });
        if (!r.ok) throw new Error(r.reason);
      }
      const br = await pool.bridge(a.value.leg, b.value.leg);
      if (!br.ok) throw new Error(br.reason);
      pairs.push([a.value.port, b.value.port]);
    }
    let playing = 0;
    for (let i = 0; i < o.hold; i += 100) {
      const batch = within(Promise.all(Array.from({ length: Math.min(100, o.hold - i) }, async () => {
        const a = await pool.allocate();
        if (!a.ok) throw new Error(a.reason);
        const r = await pool.setRemote(a.value.leg, { address: '127.0.0.1', port: sink.port, latch: false });
        if (!r.ok) throw new Error(r.reason);
        const p = await pool.play(a.value.leg, { items: [{ kind: 'prompt', name: HOLD_MUSIC }], loop: true });
        if (!p.ok) throw new Error(p.reason);
        playing++;
      })), 10_000);
      // Over capacity with the yield off the worker may stop answering: measure what is up.
      if ((await batch) === undefined) break;
    }
    await new Promise((r) => setTimeout(r, 1000));
    await within(pool.stats(true), 5000);
    relay.proc.stdin.end(`CALLS ${o.calls}\n${pairs.map(([a, b]) => `${a} ${b}`).join('\n')}\n`);
    const r = await relay.result;
    const stats = await within(pool.stats(), 5000);
    return {
      jitter_p50_ms: r['jitter_p50_ms']!, jitter_p99_ms: r['jitter_p99_ms']!, jitter_max_ms: r['jitter_max_ms']!,
      relay_sent: r['sent']!, relay_lost: r['lost']!, hold_playing: playing, worker_answered: stats !== undefined,
      ...(stats !== undefined && {
        hold_lateness_p99_ms: Math.max(...stats.map((s) => s.lateness.p99Ms)),
        hold_skipped_frames: stats.reduce((n, s) => n + s.skippedFrames, 0),
      }),
    };
  } finally {
    await within(pool.close(), 5000);
    relay.proc.kill();
    sink.proc.stdin.end();
    sink.proc.kill();
  }
}

/** Resolves with `p`, or with undefined after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    void p.then((v) => { clearTimeout(timer); resolve(v); });
  });
}

/**
 * A media run in a child process of its own: with the clock's yield off, a worker over its
 * capacity may never return to its event loop (no command answered, nothing relayed), and only
 * killing the process ends it. Undefined fields = the worker did not answer.
 */
function mediaChild(yieldAfterMs: number, o: { calls: number; hold: number; seconds: number; workers: number }): Promise<Record<string, number | boolean>> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', BENCH, '--media-child', String(yieldAfterMs),
    '--calls', String(o.calls), '--hold', String(o.hold), '--seconds', String(o.seconds), '--workers', String(o.workers)],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  const timer = setTimeout(() => child.kill('SIGKILL'), (o.seconds + 90) * 1000);
  return new Promise((resolve) => {
    child.on('exit', () => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      resolve(line ? JSON.parse(line) as Record<string, number | boolean> : { stalled: true });
    });
  });
}

/** Runs the parts (arguments in the file comment) and prints the JSON metrics. */
export async function main(args: string[]): Promise<void> {
  if (args.includes('--media-child')) {
    const r = await mediaRun(Number(arg(args, 'media-child', '2')), {
      calls: Number(arg(args, 'calls', '100')), hold: Number(arg(args, 'hold', '3000')),
      seconds: Number(arg(args, 'seconds', '10')), workers: Number(arg(args, 'workers', '1')),
    });
    process.stdout.write(JSON.stringify(r) + '\n');
    process.exit(0);
  }
  const part = arg(args, 'part', 'both');
  const runs = Number(arg(args, 'runs', '5'));
  const burst = Number(arg(args, 'burst', '500'));
  const calls = Number(arg(args, 'calls', '100'));
  const hold = Number(arg(args, 'hold', '3000'));
  const seconds = Number(arg(args, 'seconds', '10'));
  const workers = Number(arg(args, 'workers', '1'));
  say(`${BENCH}: ${machine()}; part ${part}, ${runs} interleaved runs; sip burst ${burst}; media ${calls} bridged calls + ${hold} hold streams on ${workers} worker(s), ${seconds} s`);
  if (part === 'sip' || part === 'both') {
    const ms: Record<'off' | 'on', number[]> = { off: [], on: [] };
    for (let run = 1; run <= runs; run++) {
      for (const mode of run % 2 === 1 ? ['off', 'on'] as const : ['on', 'off'] as const) {
        const before = loadavg();
        const v = await sipRun(mode === 'on', burst);
        ms[mode].push(v);
        emit({ bench: BENCH, metric: 'sched_ack_ms', value: Math.round(v * 100) / 100, unit: 'ms', classes: mode, burst, run, loadavg: before });
        say(`run ${run} classes ${mode}: 200 OK behind ${burst} INVITEs → ACK after ${v.toFixed(1)} ms (load ${before})`);
      }
    }
    for (const mode of ['off', 'on'] as const) {
      const s = spread(ms[mode]);
      emit({ bench: BENCH, metric: `ack_after_burst_ms_${mode}`, value: s.median, unit: 'ms', min: s.min, max: s.max, runs: s.runs, burst, loadavg: loadavg(), machine: machine() });
    }
  }
  if (part === 'media' || part === 'both') {
    const jitter: Record<'off' | 'on', number[]> = { off: [], on: [] };
    const loss: Record<'off' | 'on', number[]> = { off: [], on: [] };
    for (let run = 1; run <= runs; run++) {
      for (const mode of run % 2 === 1 ? ['off', 'on'] as const : ['on', 'off'] as const) {
        const before = loadavg();
        const r = await mediaChild(mode === 'on' ? 2 : 0, { calls, hold, seconds, workers });
        const sent = Number(r['relay_sent'] ?? 0);
        const lost = Number(r['relay_lost'] ?? sent);
        // Jitter of packets that got through says nothing when none did.
        if (typeof r['jitter_p99_ms'] === 'number' && lost < sent) jitter[mode].push(r['jitter_p99_ms']);
        if (sent > 0) loss[mode].push((100 * lost) / sent);
        emit({ bench: BENCH, metric: 'sched_relay_jitter_p99_ms', value: Number(r['jitter_p99_ms'] ?? NaN), unit: 'ms', classes: mode, ...r, calls, hold, workers, run, loadavg: before });
        say(`run ${run} clock yield ${mode}: relay jitter p50 ${r['jitter_p50_ms']} p99 ${r['jitter_p99_ms']} max ${r['jitter_max_ms']} ms, lost ${r['relay_lost']}/${r['relay_sent']}; ` +
          `${r['hold_playing']} hold streams playing, lateness p99 ${r['hold_lateness_p99_ms']} ms, ${r['hold_skipped_frames']} frames skipped, worker answered ${r['worker_answered']} (load ${before})`);
      }
    }
    for (const mode of ['off', 'on'] as const) {
      if (loss[mode].length === 0) continue;
      const l = spread(loss[mode]);
      emit({ bench: BENCH, metric: `relay_loss_pct_${mode}`, value: l.median, unit: '%', min: l.min, max: l.max, runs: l.runs, calls, hold, workers, loadavg: loadavg(), machine: machine() });
      if (jitter[mode].length === 0) continue;
      const s = spread(jitter[mode]);
      emit({ bench: BENCH, metric: `relay_jitter_p99_ms_${mode}`, value: s.median, unit: 'ms', min: s.min, max: s.max, runs: s.runs, calls, hold, workers, loadavg: loadavg(), machine: machine() });
    }
  }
}
