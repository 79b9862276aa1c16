/**
 * The media capacity measured at start (issue 13: "the engine knows its media capacity, measured
 * at start or configured"). A caller on hold or in the IVR costs 50 datagrams a second, paced by
 * a worker; what a datagram costs is the machine's, not ours: on loopback the `sendmsg` system
 * call also runs the receiving socket's delivery and is ~90 % of a worker's busy time
 * (docs/bench.md, Media). So each worker times a burst of RTP-sized datagrams sent the way a
 * latched leg sends them (a connected UDP socket, one `send` per packet, the pacing clock's burst
 * shape), and the pool turns the dearest worker's cost into a number of streams:
 *
 * ```
 *   streams = workers × coreShare ÷ (µs per datagram × PACING_OVERHEAD × 50 datagrams/s × 1e-6)
 * ```
 *
 * `coreShare` is the part of one core a worker may spend on paced audio, so that signalling, the
 * ACD and bridged calls keep the rest. Measured on a loaded machine the cost is higher and the
 * capacity lower, which is what that machine can then do.
 */
import dgram from 'node:dgram';
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import type { MediaResult, SendCost } from './protocol.ts';

/** An RTP packet of 20 ms of G.711: 12 bytes of header and 160 of payload. */
const PACKET_BYTES = 172;
/** Datagrams sent back to back before waiting for their callbacks: a busy pacing slot. */
const BURST = 250;
/**
 * A paced datagram costs more than a bare one: the pacing clock, the frame views and the playback
 * around each send. Measured by `npm run bench -- media-hold` (docs/bench.md, Media): 2,000 hold
 * streams = 100,000 datagrams/s took 74-84 % of a core across two workers, 7.4-8.4 µs each,
 * where this burst times 4.5-6 µs on the same machine.
 */
export const PACING_OVERHEAD = 1.5;
/** Bursts sent before timing starts. */
const WARM_UP_BURSTS = 12;
/** Paced datagrams a stream costs per second (20 ms frames). */
export const PACKETS_PER_STREAM_PER_S = 50;

function bound(socket: Socket, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/**
 * Time `packets` datagrams from a connected socket to a sink on `address` (a loopback literal).
 * The first bursts warm the path up and are not counted. A failure is a result, never a throw.
 */
export async function measureSendCost(packets: number, address = '127.0.0.1'): Promise<MediaResult<SendCost>> {
  if (!Number.isInteger(packets) || packets < BURST || packets > 1_000_000) {
    return { ok: false, code: 'MEDIA_ERR_BAD_COMMAND', reason: `calibration packets must be an integer in ${BURST}..1000000` };
  }
  const family = address.includes(':') ? 'udp6' : 'udp4';
  const sink = dgram.createSocket(family);
  const sender = dgram.createSocket(family);
  try {
    await bound(sink, address);
    await bound(sender, address);
    sink.on('message', () => { /* drained: a sink that does not read would fill and drop */ });
    await new Promise<void>((resolve, reject) => {
      sender.once('error', reject);
      sender.connect(sink.address().port, address, () => {
        sender.off('error', reject);
        resolve();
      });
    });
    const buf = Buffer.alloc(PACKET_BYTES);
    buf[0] = 0x80;
    let failed = 0;
    const burst = (): Promise<void> => new Promise((resolve) => {
      let left = BURST;
      const done = (err: Error | null): void => {
        if (err) failed++;
        if (--left === 0) resolve();
      };
      for (let i = 0; i < BURST; i++) sender.send(buf, done);
    });
    // Warm-up, not counted: the first bursts run the send path cold (JIT, socket buffers) and
    // cost two to three times a warm one.
    for (let b = 0; b < WARM_UP_BURSTS; b++) await burst();
    const bursts = Math.floor(packets / BURST);
    const start = performance.now();
    for (let b = 0; b < bursts; b++) await burst();
    const elapsedMs = performance.now() - start;
    if (failed > 0) return { ok: false, code: 'MEDIA_ERR_WORKER', reason: `${failed} calibration sends failed` };
    return { ok: true, value: { usPerPacket: (elapsedMs * 1000) / (bursts * BURST), packets: bursts * BURST } };
  } catch (e) {
    return { ok: false, code: 'MEDIA_ERR_WORKER', reason: `calibration: ${(e as Error).message}` };
  } finally {
    sink.close();
    sender.close();
  }
}

/**
 * Streams the pool can pace: every worker gets an equal share of new legs, so the dearest
 * worker's cost bounds them all. At least 1 (a capacity of 0 would refuse every caller).
 */
export function streamsFor(costs: readonly number[], coreShare: number): number {
  if (costs.length === 0) throw new RangeError('no worker measured');
  if (!(coreShare > 0 && coreShare <= 1)) throw new RangeError('coreShare must be in (0, 1]');
  const worst = Math.max(...costs);
  if (!(worst > 0) || !Number.isFinite(worst)) throw new RangeError('a send cost must be a positive number of microseconds');
  const perWorker = coreShare / (worst * PACING_OVERHEAD * 1e-6 * PACKETS_PER_STREAM_PER_S);
  return Math.max(1, Math.floor(perWorker * costs.length));
}
