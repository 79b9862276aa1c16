/**
 * The address lookup of the legs' UDP sockets (dgram's `lookup` option).
 *
 * Until a leg latches onto its peer's first packet (symmetric RTP, media/rtp `LatchingPeer`) it
 * sends unconnected, to the SDP address, and dgram then resolves the destination of every
 * packet: with the default `dns.lookup`, even an IP literal is answered on the next tick
 * (`process.nextTick`), so each packet leaves a closure, a tick object and a result object behind
 * and waits in the tick queue until the pacing phase that sent it ends. A worker holding thousands
 * of callers who send no RTP (a carrier that only listens while queued, the surge bench's sipp
 * callers) made that garbage by the tens of thousands per phase, and what a scavenge found still
 * queued was promoted to the old generation: that is what grew the workers' heaps (docs/bench.md,
 * "Memory at the peak"). An IP literal needs no resolver, so it is answered at once and the packet
 * goes out in the same call; a name (an SDP `c=` may carry one) still goes to `dns.lookup`.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';

/** dgram's callback of a lookup. */
type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

// A leg sends to one address for many packets: the last literal seen skips the check.
let lastLiteral = '';
let lastFamily = 0;

/**
 * `lookup` for `dgram.createSocket`: an IP literal calls back synchronously with itself and its
 * family; anything else is resolved by `dns.lookup` as dgram would.
 */
export function literalLookup(hostname: string, options: dns.LookupOneOptions | number, callback: LookupCallback): void {
  if (hostname === lastLiteral) {
    callback(null, hostname, lastFamily);
    return;
  }
  const family = isIP(hostname);
  if (family !== 0) {
    lastLiteral = hostname;
    lastFamily = family;
    callback(null, hostname, family);
    return;
  }
  dns.lookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}
