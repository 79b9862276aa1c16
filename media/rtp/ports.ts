/**
 * RTP port allocation over a configured UDP range.
 *
 * RTCP decision: onair does not speak RTCP. Each allocation reserves the even RTP port and the odd
 * port above it (RFC 3550 §11: RTCP on RTP port + 1) so no other leg is ever given the RTCP port;
 * the worker may bind it and drop what arrives (carriers that monitor RTCP only log its absence;
 * G.711 call quality does not depend on it). Datagrams that are RTCP sent to the RTP port itself are
 * recognised by `isRtcp()` and dropped.
 */

/**
 * Hands out even RTP ports from `[min, max]` (each with its odd RTCP port `+1` reserved) in FIFO
 * order: a port just released goes to the back of the queue, so a late packet from the previous
 * call is unlikely to reach the next call that gets the port. O(1) allocate and release, no
 * allocation after construction.
 */
export class PortAllocator {
  /** Lowest RTP port (even). */
  readonly min: number;
  /** Highest RTP port handed out (even; its RTCP port is `max + 1`). */
  readonly max: number;
  /** Number of RTP ports in the range. */
  readonly capacity: number;
  // Ring buffer of free ports; `inUse` catches a double release or the release of a stranger.
  private readonly ring: Uint16Array;
  private readonly inUse: Uint8Array;
  private head = 0;
  private count: number;

  /**
   * @param min lowest port of the range (rounded up to even)
   * @param max highest port of the range, inclusive (the last RTP port is the largest even port
   *   with its RTCP port still `<= max`)
   */
  constructor(min: number, max: number) {
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535) {
      throw new RangeError(`RTP port range ${min}-${max} must be integers within 1-65535`);
    }
    const lo = min + (min & 1);
    const hi = (max & 1) === 1 ? max - 1 : max - 2;
    if (hi < lo) throw new RangeError(`RTP port range ${min}-${max} holds no even/odd port pair`);
    this.min = lo;
    this.max = hi;
    this.capacity = (hi - lo) / 2 + 1;
    this.ring = new Uint16Array(this.capacity);
    this.inUse = new Uint8Array(this.capacity);
    for (let i = 0; i < this.capacity; i++) this.ring[i] = lo + i * 2;
    this.count = this.capacity;
  }

  /** Number of free RTP ports. */
  get available(): number {
    return this.count;
  }

  /** An even RTP port (RTCP is the port + 1), or `undefined` when the range is exhausted. */
  allocate(): number | undefined {
    if (this.count === 0) return undefined;
    const port = this.ring[this.head]!;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    this.inUse[(port - this.min) / 2] = 1;
    return port;
  }

  /**
   * Return a port from {@link allocate}. Releasing a port that is not allocated (twice, or never
   * handed out) throws: it is a leak-accounting bug in the caller, not a network condition.
   */
  release(port: number): void {
    const i = (port - this.min) / 2;
    if (!Number.isInteger(i) || i < 0 || i >= this.capacity || this.inUse[i] === 0) {
      throw new Error(`MEDIA_ERR_PORT_RELEASE: port ${port} is not allocated`);
    }
    this.inUse[i] = 0;
    this.ring[(this.head + this.count) % this.capacity] = port;
    this.count++;
  }

  /** Whether `port` is currently allocated. */
  isAllocated(port: number): boolean {
    const i = (port - this.min) / 2;
    return Number.isInteger(i) && i >= 0 && i < this.capacity && this.inUse[i] === 1;
  }
}
