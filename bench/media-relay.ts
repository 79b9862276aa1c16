/**
 * `npm run bench -- media-relay [--relay onair|rtpengine] [--calls 200,400,600,800,1000]
 *  [--seconds 60] [--workers 2] [--priority NICE]`:
 * N bridged calls through the relay. The C generator (`bench/rtpload.c`) sends 50 packets/s into
 * both ends of every call (2·N·50 packets/s in, as many out) and receives what is relayed; loss
 * and added jitter (latency minus the stream's minimum latency, kernel receive timestamps) come
 * from it. N is stepped up until a step loses packets.
 * `--relay onair` (default): the calls are bridged in onair's media workers (`--workers` threads).
 * `--relay rtpengine`: the same calls are rtpengine sessions (Debian `rtpengine-daemon`,
 * userspace, `--workers` forwarding threads), created by ng offer/answer as the engine does for a
 * bridged call (engine/calls/rtpengine-relay.ts), and deleted after the step.
 * Metrics: `relay_calls_zero_loss` (largest N without loss or failed sends) and
 * `relay_jitter_p99_ms` at that N, each with a `relay` field.
 */
import { MediaPool, partySdp, sdpEndpoint, type NgClient } from '../media/index.ts';
import { emit, say, machine } from './lib.ts';
import { bridgeCalls, startRtpload } from './media-rtpload.ts';
import { startRtpengine } from '../engine/testing/rtpengine.ts';
import { processUsage } from '../engine/testing/engine-process.ts';

const BENCH = 'media-relay';

function arg(args: string[], name: string, dflt: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
}

/** The relay under test for one step: where the generator sends, and what it cost. */
interface RelayUnderTest {
  pairs: [number, number][];
  /** Failed sends and drops inside the relay, when it counts them. */
  errors(): Promise<{ sendErrors: number; dropped: number }>;
  /** CPU of the relay process's other parts (rtpengine), ms; 0 for onair (counted in this process). */
  cpuMs(): number;
  close(): Promise<void>;
}

async function onairRelay(n: number, workers: number, priority: number | undefined, genPort: number): Promise<RelayUnderTest> {
  const pool = await MediaPool.start({
    workers, bindAddress: '127.0.0.1', portMin: 40000, portMax: 40000 + 8 * n + 64 * workers, ...(priority !== undefined && { priority }),
  });
  try {
    const pairs = await bridgeCalls(pool, n, genPort);
    await pool.stats(true);
    return {
      pairs,
      errors: async () => {
        const stats = await pool.stats();
        return { sendErrors: stats.reduce((s, w) => s + w.sendErrors, 0), dropped: stats.reduce((s, w) => s + w.dropped, 0) };
      },
      cpuMs: () => 0,
      close: () => pool.close(),
    };
  } catch (err) {
    await pool.close();
    throw err;
  }
}

/** N rtpengine sessions whose two parties are the generator's socket (offer: side A, answer: side B). */
async function rtpengineRelay(n: number, workers: number, genPort: number): Promise<RelayUnderTest> {
  // Four ports a call (RTP + RTCP on each side), and some to spare.
  const rtp = await startRtpengine({ portMin: 40000, portMax: 40000 + 4 * n + 200, threads: workers, startTimeoutMs: 30_000 });
  const ids: string[] = [];
  try {
    const party = partySdp({ address: '127.0.0.1', port: genPort, codec: 'PCMU', dtmfPayloadType: -1 }, '1');
    const pairs: [number, number][] = [];
    for (let i = 0; i < n; i += 50) {
      pairs.push(...await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, j) => session(rtp.ng, `bench-${n}-${i + j}`, party, ids))));
    }
    const cpu0 = processUsage(rtp.pid).cpuMs;
    return {
      pairs,
      errors: async () => ({ sendErrors: 0, dropped: 0 }),
      cpuMs: () => processUsage(rtp.pid).cpuMs - cpu0,
      close: async () => {
        await Promise.all(ids.map((callId) => rtp.ng.delete({ callId })));
        await rtp.stop();
      },
    };
  } catch (err) {
    await rtp.stop();
    throw err;
  }
}

/** One call: the generator's port A (where side A sends: the answer's endpoint) and B (the offer's). */
async function session(ng: NgClient, callId: string, sdp: string, ids: string[]): Promise<[number, number]> {
  const offer = await ng.offer({ callId, fromTag: 'a', sdp });
  if (!offer.ok) throw new Error(`rtpengine offer: ${offer.code} ${offer.reason}`);
  ids.push(callId);
  const answer = await ng.answer({ callId, fromTag: 'a', toTag: 'b', sdp });
  if (!answer.ok) throw new Error(`rtpengine answer: ${answer.code} ${answer.reason}`);
  const b = sdpEndpoint(offer.value.sdp);
  const a = sdpEndpoint(answer.value.sdp);
  if (!a.ok || !b.ok) throw new Error('rtpengine SDP without an endpoint');
  return [a.endpoint.port, b.endpoint.port];
}

/** Runs the relay steps (arguments in the file comment) and prints the JSON metrics. */
export async function main(args: string[]): Promise<void> {
  const steps = arg(args, 'calls', '200,400,600,800,1000').split(',').map(Number);
  const seconds = Number(arg(args, 'seconds', '60'));
  const workers = Number(arg(args, 'workers', '2'));
  const keepGoing = args.includes('--all');
  const priority = args.includes('--priority') ? Number(arg(args, 'priority', '0')) : undefined;
  const relay = arg(args, 'relay', 'onair');
  if (relay !== 'onair' && relay !== 'rtpengine') throw new Error(`--relay ${relay}: onair or rtpengine`);
  say(`${BENCH}: ${machine()}; relay ${relay}; steps ${steps.join(',')} calls, ${seconds} s each, ${workers} workers, worker nice ${priority ?? 'unchanged'}`);
  let bestN = 0;
  let bestJitter = NaN;
  let firstJitter = NaN;
  for (const n of steps) {
    const gen = await startRtpload('relay', seconds);
    let zeroLoss = false;
    let under: RelayUnderTest | undefined;
    try {
      under = relay === 'onair' ? await onairRelay(n, workers, priority, gen.port) : await rtpengineRelay(n, workers, gen.port);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      gen.proc.stdin.end(`CALLS ${n}\n${under.pairs.map(([a, b]) => `${a} ${b}`).join('\n')}\n`);
      const r = await gen.result;
      const wallMs = performance.now() - t0;
      const cpuPct = ((process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000 / wallMs) * 100;
      const relayCpuPct = (under.cpuMs() / wallMs) * 100;
      const { sendErrors, dropped } = await under.errors();
      zeroLoss = r['lost'] === 0 && r['send_errors'] === 0 && sendErrors === 0 && (r['sent'] ?? 0) > 0;
      if (Number.isNaN(firstJitter)) firstJitter = r['jitter_p99_ms']!;
      if (zeroLoss && n > bestN) {
        bestN = n;
        bestJitter = r['jitter_p99_ms']!;
      }
      emit({
        bench: BENCH, metric: 'relay_step', value: n, unit: 'calls', relay, zero_loss: zeroLoss, packets_per_s_each_way: Math.round((r['sent'] ?? 0) / seconds),
        sent: r['sent'], received: r['received'], lost: r['lost'], calls_without_loss: r['calls_without_loss'],
        jitter_p50_ms: r['jitter_p50_ms'], jitter_p99_ms: r['jitter_p99_ms'], jitter_max_ms: r['jitter_max_ms'],
        onair_send_errors: sendErrors, onair_dropped: dropped, process_cpu_pct: Math.round(cpuPct), rtpengine_cpu_pct: Math.round(relayCpuPct),
        seconds, workers, priority: priority ?? 0,
      });
      say(`${relay} ${n} calls (${Math.round((r['sent'] ?? 0) / seconds)} pkt/s in): lost ${r['lost']} of ${r['sent']}, ` +
        `added jitter p50 ${r['jitter_p50_ms']} p99 ${r['jitter_p99_ms']} max ${r['jitter_max_ms']} ms, ` +
        `${sendErrors} failed sends, CPU ${Math.round(cpuPct)}% (this process) + ${Math.round(relayCpuPct)}% (rtpengine) → ${zeroLoss ? 'zero loss' : 'LOSS'}`);
    } finally {
      await under?.close();
      gen.proc.kill();
    }
    if (!zeroLoss && !keepGoing) break;
  }
  emit({ bench: BENCH, metric: 'relay_calls_zero_loss', value: bestN, unit: 'calls', relay, target: 800, seconds, workers, machine: machine() });
  // No zero-loss step: the jitter of the first step still says something.
  emit({ bench: BENCH, metric: 'relay_jitter_p99_ms', value: bestN > 0 ? bestJitter : firstJitter, unit: 'ms', relay, at_calls: bestN > 0 ? bestN : steps[0], target: 3 });
}
