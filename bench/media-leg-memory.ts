/**
 * `npm run bench -- media-leg-memory [legs] [--seconds S]`: what one media stream costs its worker
 * (issue 13, "Memory at the peak": per worker stream), kept and made.
 *
 * A {@link MediaPool} whose worker core runs in this thread (`inThread`: the same code as a
 * worker thread, with its heap measurable here), `legs` legs (default 1000), each with a remote on
 * loopback that nobody listens on and that sends nothing (so the leg never latches and sends
 * unconnected, as to the surge bench's sipp callers), playing looped silence: hold audio, 50
 * packets a second each.
 *
 * - `bytes_per_leg`: V8 heap used plus array buffers after a full GC, with the legs playing,
 *   minus the same before they were allocated, / legs: what a stream keeps;
 * - `garbage_bytes_per_packet`: bytes allocated while they play for `--seconds` (default 10; from
 *   V8's GC profiler: heap used before each collection minus after the one before it), / packets
 *   sent: what the send path makes per packet, the garbage that grows a worker's heap between
 *   collections.
 */
import os from 'node:os';
import v8 from 'node:v8';
import { emit, gcFunction, machine, say } from './lib.ts';
import { MediaPool } from '../media/index.ts';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes allocated between `start()` and `stop()` of a GC profile, from the heap before and after each collection. */
function allocated(profile: v8.GCProfilerResult, startUsed: number, endUsed: number): number {
  let total = 0;
  let last = startUsed;
  for (const s of profile.statistics) {
    total += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - last);
    last = s.afterGC.heapStatistics.usedHeapSize;
  }
  return total + Math.max(0, endUsed - last);
}

export async function main(args: string[]): Promise<void> {
  const legs = Number(args[0] !== undefined && !args[0].startsWith('--') ? args[0] : 1000);
  const s = args.indexOf('--seconds');
  const seconds = Number(s >= 0 ? args[s + 1] : 10);
  if (!Number.isInteger(legs) || legs <= 0 || !(seconds > 0)) throw new Error('usage: npm run bench -- media-leg-memory [legs] [--seconds S]');
  const gc = gcFunction();
  const load0 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  const portMin = 10000 + 2 * Math.floor(Math.random() * 5000);
  const pool = await MediaPool.start({ inThread: true, workers: 1, bindAddress: '127.0.0.1', portMin, portMax: portMin + 2 * legs + 999 });
  try {
    gc();
    const before = used();
    const ids = [];
    for (let i = 0; i < legs; i++) {
      const leg = await pool.allocate({ rtpTimeoutMs: 0 });
      if (!leg.ok) throw new Error(`leg ${i}: ${leg.reason}`);
      ids.push(leg.value.leg);
      // Port 9 (discard): nothing listens, nothing answers; the leg sends to the SDP address.
      await pool.setRemote(leg.value.leg, { address: '127.0.0.1', port: 9 });
      await pool.play(leg.value.leg, { items: [{ kind: 'silence', ms: 60_000 }], loop: true });
    }
    await sleep(1000);
    gc();
    const held = used();
    const out0 = (await pool.stats(true)).reduce((n, w) => n + w.packetsOut, 0);
    const start = process.memoryUsage().heapUsed;
    const profiler = new v8.GCProfiler();
    profiler.start();
    await sleep(seconds * 1000);
    const profile = profiler.stop();
    const end = process.memoryUsage().heapUsed;
    const stats = await pool.stats();
    const packets = stats.reduce((n, w) => n + w.packetsOut, 0) - out0;
    const garbage = allocated(profile, start, end);
    const load1 = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const perLeg = (held - before) / legs;
    const perPacket = packets > 0 ? garbage / packets : NaN;
    const scavenges = profile.statistics.filter((x) => x.gcType === 'Scavenge').length;
    say(`${legs} legs: ${Math.round(perLeg)} B kept per leg; ${packets} packets in ${seconds} s (${Math.round(packets / seconds)}/s), ` +
      `${Math.round(perPacket)} B allocated per packet, ${scavenges} scavenges; load ${load0} → ${load1}`);
    emit({ bench: 'media-leg-memory', metric: 'bytes_per_leg', value: Math.round(perLeg), unit: 'B', legs, loadavg: load0, machine: machine() });
    emit({
      bench: 'media-leg-memory', metric: 'garbage_bytes_per_packet', value: Math.round(perPacket), unit: 'B', legs, packets, seconds,
      packets_per_s: Math.round(packets / seconds), scavenges, gcs: profile.statistics.length, loadavg: load1,
    });
    for (const id of ids) await pool.release(id);
  } finally {
    await pool.close();
  }
}
