/**
 * `npm run bench -- media-mix [--recorded 200] [--relayed 200] [--seconds 20] [--workers 2] [--keep]`:
 * recording and mixing cost in the media workers (issue 16, must-show 4).
 *
 * 1. Recorded + relayed calls: the C generator (`bench/rtpload.c`, as in media-relay) sends
 *    50 packets/s into both legs of every call; the first `--recorded` calls are recorded to stereo
 *    WAV files (in a temporary directory, deleted unless `--keep`). Zero loss means: the generator
 *    lost nothing and had no failed send, no worker send failed, and every recording holds every
 *    packet of both directions: no late drop in the recorder, and on each channel no silent 20 ms
 *    between its first and last sample (each generator packet decodes to non-zero samples at
 *    offsets 1..3, so a missing packet is a run of 160 or more zeros), spanning the whole run.
 * 2. Mixing: the three-way mixer and its G.711 coding in this thread: decode three parties'
 *    frames, sum, subtract each receiver's own, encode three frames, per 20 ms frame.
 *
 * Metrics: `recorded_calls_zero_loss` (1 / 0), `recording_disk_bytes_per_s`, `worker_cpu_pct`
 * (process CPU: the worker threads, the main thread idles), `mix_us_per_leg_frame`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MediaPool } from '../media/index.ts';
import { Mixer } from '../media/bridge/index.ts';
import { FRAME_SAMPLES } from '../media/player/index.ts';
import { ULAW_TO_LINEAR, encodeLinear } from '../media/codec/index.ts';
import { emit, say, machine, rate } from './lib.ts';
import { bridgeCalls, startRtpload } from './media-rtpload.ts';

const BENCH = 'media-mix';

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
}

/** What one recording holds: its span per channel (samples) and the longest silent run inside it. */
export function audit(wav: Buffer): { frames: number; span: [number, number]; maxGap: [number, number] } {
  const frames = Math.floor((wav.length - 44) / 4);
  const span: [number, number] = [0, 0];
  const maxGap: [number, number] = [0, 0];
  for (let ch = 0; ch < 2; ch++) {
    let first = -1;
    let last = -1;
    let run = 0;
    let worst = 0;
    for (let i = 0; i < frames; i++) {
      if (wav.readInt16LE(44 + i * 4 + ch * 2) !== 0) {
        if (first >= 0 && run > worst) worst = run;
        if (first < 0) first = i;
        last = i;
        run = 0;
      } else run++;
    }
    span[ch] = first < 0 ? 0 : last - first + 1;
    maxGap[ch] = worst;
  }
  return { frames, span, maxGap };
}

/** Microseconds per leg frame of a three-party mix (decode + sum − own + encode). */
function mixCost(): number {
  const mixer = new Mixer();
  mixer.hears.set([0b110, 0b101, 0b011]);
  const payload = new Uint8Array(FRAME_SAMPLES);
  for (let i = 0; i < FRAME_SAMPLES; i++) payload[i] = (i * 37) & 0xff;
  const linear = new Int16Array(FRAME_SAMPLES);
  const out = new Uint8Array(FRAME_SAMPLES);
  const r = rate((n) => {
    for (let k = 0; k < n; k++) {
      for (let p = 0; p < 3; p++) mixer.feed(p, payload, 0, FRAME_SAMPLES, ULAW_TO_LINEAR);
      mixer.take();
      for (let p = 0; p < 3; p++) {
        mixer.mixFor(p, linear);
        encodeLinear(linear, out, 0, 'PCMU');
      }
    }
  }, { ms: 2000, rounds: 5 });
  // r.median conferences-frames per second; three leg frames each.
  return 1e6 / (r.median * 3);
}

/** Runs the benchmark (arguments in the file comment) and prints the JSON metrics. */
export async function main(args: string[]): Promise<void> {
  const recorded = Number(arg(args, 'recorded', '200'));
  const relayed = Number(arg(args, 'relayed', '200'));
  const seconds = Number(arg(args, 'seconds', '20'));
  const workers = Number(arg(args, 'workers', '2'));
  const n = recorded + relayed;
  say(`${BENCH}: ${machine()}; ${recorded} recorded + ${relayed} relayed calls, ${seconds} s, ${workers} workers`);
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-mix-'));
  const gen = await startRtpload('relay', seconds);
  const pool = await MediaPool.start({ workers, bindAddress: '127.0.0.1', portMin: 40000, portMax: 40000 + 8 * n + 64 * workers });
  const recLegs: string[] = [];
  try {
    const pairs = await bridgeCalls(pool, n, gen.port, async (i, a) => {
      if (i >= recorded) return;
      const rs = await pool.recordStart(a, path.join(dir, `call${i}.wav`));
      if (!rs.ok) throw new Error(rs.reason);
      recLegs.push(a);
    });
    await pool.stats(true);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    gen.proc.stdin.end(`CALLS ${n}\n${pairs.map(([a, b]) => `${a} ${b}`).join('\n')}\n`);
    const r = await gen.result;
    const elapsed = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuPct = ((cpu.user + cpu.system) / 1000 / elapsed) * 100;
    const stats = await pool.stats();
    const sendErrors = stats.reduce((s, w) => s + w.sendErrors, 0);
    let bytes = 0;
    let lateDrops = 0;
    let badFiles = 0;
    let worstGap = 0;
    let shortest = Infinity;
    const stops = await Promise.all(recLegs.map((leg) => pool.recordStop(leg)));
    for (const s of stops) {
      if (!s.ok) {
        badFiles++;
        continue;
      }
      bytes += s.value.bytes;
      lateDrops += s.value.lateDrops;
      const a = audit(readFileSync(s.value.file));
      const gap = Math.max(...a.maxGap);
      const span = Math.min(...a.span);
      worstGap = Math.max(worstGap, gap);
      shortest = Math.min(shortest, span);
      // Every packet there, both ways, for (almost) the whole run: the generator sends for `seconds`.
      if (gap >= FRAME_SAMPLES || span < (seconds - 0.1) * 8000) badFiles++;
    }
    const zeroLoss = r['lost'] === 0 && r['send_errors'] === 0 && sendErrors === 0 && (r['sent'] ?? 0) > 0 && lateDrops === 0 && badFiles === 0;
    const diskRate = bytes / seconds;
    const mixUs = mixCost();
    const common = { recorded, relayed, seconds, workers };
    emit({
      bench: BENCH, metric: 'recorded_calls_zero_loss', value: zeroLoss ? 1 : 0, unit: 'bool', ...common,
      sent: r['sent'], received: r['received'], lost: r['lost'], generator_send_errors: r['send_errors'], onair_send_errors: sendErrors,
      recorder_late_drops: lateDrops, files_incomplete: badFiles, worst_silent_run_samples: worstGap, shortest_span_s: recorded > 0 ? shortest / 8000 : null,
      jitter_p99_ms: r['jitter_p99_ms'], machine: machine(),
    });
    emit({ bench: BENCH, metric: 'recording_disk_bytes_per_s', value: Math.round(diskRate), unit: 'B/s', files: stops.length, bytes, ...common });
    emit({ bench: BENCH, metric: 'worker_cpu_pct', value: Math.round(cpuPct), unit: '%', note: 'process CPU, all threads (two media workers; the main thread idles)', ...common });
    emit({ bench: BENCH, metric: 'mix_us_per_leg_frame', value: Number(mixUs.toFixed(3)), unit: 'us', parties: 3, codec: 'PCMU' });
    say(`${recorded}+${relayed} calls: lost ${r['lost']} of ${r['sent']}, ${sendErrors} failed sends, recorder late drops ${lateDrops}, ` +
      `incomplete files ${badFiles} (worst silent run ${worstGap} samples) → ${zeroLoss ? 'zero loss' : 'LOSS'}; ` +
      `disk ${(diskRate / 1e6).toFixed(2)} MB/s, CPU ${Math.round(cpuPct)}%; mix ${mixUs.toFixed(3)} µs per leg frame`);
  } finally {
    await pool.close();
    gen.proc.kill();
    if (!args.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  }
}
