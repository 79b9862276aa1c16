/**
 * `npm run bench -- media-relay [--calls 200,400,600,800,1000] [--seconds 60] [--workers 2]
 *  [--priority NICE]`:
 * N bridged calls through the media workers. The C generator (`bench/rtpload.c`) sends 50
 * packets/s into both legs of every call (2·N·50 packets/s in, as many out) and receives what
 * onair relays; loss and added jitter (latency minus the stream's minimum latency, kernel receive
 * timestamps) come from it. N is stepped up until a step loses packets.
 * Metrics: `relay_calls_zero_loss` (largest N without loss or failed sends) and
 * `relay_jitter_p99_ms` at that N.
 */
import { MediaPool } from '../media/index.ts';
import { emit, say, machine } from './lib.ts';
import { bridgeCalls, startRtpload } from './media-rtpload.ts';

const BENCH = 'media-relay';

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
}

/** Runs the relay steps (arguments in the file comment) and prints the JSON metrics. */
export async function main(args: string[]): Promise<void> {
  const steps = arg(args, 'calls', '200,400,600,800,1000').split(',').map(Number);
  const seconds = Number(arg(args, 'seconds', '60'));
  const workers = Number(arg(args, 'workers', '2'));
  const keepGoing = args.includes('--all');
  const priority = args.includes('--priority') ? Number(arg(args, 'priority', '0')) : undefined;
  say(`${BENCH}: ${machine()}; steps ${steps.join(',')} calls, ${seconds} s each, ${workers} workers, worker nice ${priority ?? 'unchanged'}`);
  let bestN = 0;
  let bestJitter = NaN;
  let firstJitter = NaN;
  for (const n of steps) {
    const gen = await startRtpload('relay', seconds);
    const pool = await MediaPool.start({
      workers, bindAddress: '127.0.0.1', portMin: 40000, portMax: 40000 + 8 * n + 64 * workers, ...(priority !== undefined && { priority }),
    });
    let zeroLoss = false;
    try {
      const pairs = await bridgeCalls(pool, n, gen.port);
      await pool.stats(true);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      gen.proc.stdin.end(`CALLS ${n}\n${pairs.map(([a, b]) => `${a} ${b}`).join('\n')}\n`);
      const r = await gen.result;
      const cpuPct = ((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000 / (performance.now() - t0)) * 100;
      const stats = await pool.stats();
      const sendErrors = stats.reduce((s, w) => s + w.sendErrors, 0);
      const dropped = stats.reduce((s, w) => s + w.dropped, 0);
      zeroLoss = r['lost'] === 0 && r['send_errors'] === 0 && sendErrors === 0 && (r['sent'] ?? 0) > 0;
      if (Number.isNaN(firstJitter)) firstJitter = r['jitter_p99_ms']!;
      if (zeroLoss && n > bestN) {
        bestN = n;
        bestJitter = r['jitter_p99_ms']!;
      }
      emit({
        bench: BENCH, metric: 'relay_step', value: n, unit: 'calls', zero_loss: zeroLoss, packets_per_s_each_way: Math.round((r['sent'] ?? 0) / seconds),
        sent: r['sent'], received: r['received'], lost: r['lost'], calls_without_loss: r['calls_without_loss'],
        jitter_p50_ms: r['jitter_p50_ms'], jitter_p99_ms: r['jitter_p99_ms'], jitter_max_ms: r['jitter_max_ms'],
        onair_send_errors: sendErrors, onair_dropped: dropped, process_cpu_pct: Math.round(cpuPct), seconds, workers, priority: priority ?? 0,
      });
      say(`${n} calls (${Math.round((r['sent'] ?? 0) / seconds)} pkt/s in): lost ${r['lost']} of ${r['sent']}, ` +
        `added jitter p50 ${r['jitter_p50_ms']} p99 ${r['jitter_p99_ms']} max ${r['jitter_max_ms']} ms, ` +
        `${sendErrors} failed sends, CPU ${Math.round(cpuPct)}% (all threads) → ${zeroLoss ? 'zero loss' : 'LOSS'}`);
    } finally {
      await pool.close();
      gen.proc.kill();
    }
    if (!zeroLoss && !keepGoing) break;
  }
  emit({ bench: BENCH, metric: 'relay_calls_zero_loss', value: bestN, unit: 'calls', target: 800, seconds, workers, machine: machine() });
  // No zero-loss step: the jitter of the first step still says something.
  emit({ bench: BENCH, metric: 'relay_jitter_p99_ms', value: bestN > 0 ? bestJitter : firstJitter, unit: 'ms', at_calls: bestN > 0 ? bestN : steps[0], target: 3 });
}
