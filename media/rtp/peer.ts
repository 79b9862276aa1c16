/**
 * Per-leg helpers for the receive path: symmetric RTP latching and RTP timeout detection. Both are
 * plain state machines driven by the caller's clock (`nowMs`), so they test without timers.
 */

/** Options of a {@link LatchingPeer}. */
export interface LatchingOptions {
  /**
   * After latching, a different source is accepted (re-latched) only when the latched source has
   * been silent this long. Covers a carrier SBC that moves the stream mid-call; 0 = never re-latch.
   * Default 2000 ms.
   */
  relatchAfterMs?: number;
}

/**
 * Symmetric RTP for callers behind NAT (RFC 4961 behaviour, "comedia"): media is sent to the
 * address and port the peer's RTP actually comes from, not to the SDP `c=`/`m=` values, which a
 * NAT has rewritten or the phone does not know.
 *
 * ```
 *  SDP says 10.0.0.5:4000 ──(NAT)──▶ packets arrive from 203.0.113.9:61002
 *  before the first packet: send to 10.0.0.5:4000      (remote from SDP)
 *  after  the first packet: send to 203.0.113.9:61002  (latched)
 *  packets from any other source are dropped unless the latched one went silent (re-latch)
 * ```
 */
export class LatchingPeer {
  /** Where to send now: the latched source, or the SDP address before latching. */
  address: string;
  /** Where to send now: the latched source port, or the SDP port before latching. */
  port: number;
  /** Whether a source has been latched. */
  latched: boolean;
  /** Number of packets dropped because they came from a non-latched source. */
  dropped: number;
  private readonly relatchAfterMs: number;
  private lastAcceptedMs: number;

  /**
   * @param sdpAddress the connection address from the remote SDP
   * @param sdpPort the media port from the remote SDP
   */
  constructor(sdpAddress: string, sdpPort: number, opts: LatchingOptions = {}) {
    this.address = sdpAddress;
    this.port = sdpPort;
    this.latched = false;
    this.dropped = 0;
    this.relatchAfterMs = opts.relatchAfterMs ?? 2000;
    this.lastAcceptedMs = 0;
  }

  /**
   * Decide whether a packet from `address:port` belongs to this leg, latching to it if it is the
   * first. Returns false for packets to drop. Costs two comparisons once latched.
   */
  accept(address: string, port: number, nowMs: number): boolean {
    if (this.latched) {
      if (port === this.port && address === this.address) {
        this.lastAcceptedMs = nowMs;
        return true;
      }
      if (this.relatchAfterMs === 0 || nowMs - this.lastAcceptedMs < this.relatchAfterMs) {
        this.dropped++;
        return false;
      }
    }
    this.address = address;
    this.port = port;
    this.latched = true;
    this.lastAcceptedMs = nowMs;
    return true;
  }

  /**
   * The remote SDP changed (re-INVITE): send there until a packet from a new source latches again.
   */
  reset(sdpAddress: string, sdpPort: number): void {
    this.address = sdpAddress;
    this.port = sdpPort;
    this.latched = false;
  }
}

/** State reported by {@link RtpTimeout.check}. */
export type RtpTimeoutState = 'ok' | 'timeout';

/**
 * Detects a dead media stream: no RTP for `timeoutMs` while the peer should be sending, or for
 * `holdTimeoutMs` while the call is on hold (a held peer may legitimately send nothing; 0 disables
 * the check on hold). Reports a timeout once per silence: `check()` returns `'timeout'` the first
 * time it sees the deadline passed and `'ok'` afterwards until a packet arrives again.
 */
export class RtpTimeout {
  /** Time of the last packet, or of `start()`. */
  lastPacketMs: number;
  /** Whether the current silence has been reported already. */
  reported: boolean;
  private timeoutMs: number;
  private holdTimeoutMs: number;
  private onHold: boolean;

  /**
   * @param timeoutMs silence that counts as dead media in an active call (e.g. 30000)
   * @param holdTimeoutMs silence that counts as dead media on hold; 0 = never
   */
  constructor(timeoutMs: number, holdTimeoutMs = 0, nowMs = 0) {
    this.timeoutMs = timeoutMs;
    this.holdTimeoutMs = holdTimeoutMs;
    this.onHold = false;
    this.lastPacketMs = nowMs;
    this.reported = false;
  }

  /** Start (or restart) the silence clock, e.g. when the leg gets its remote. */
  start(nowMs: number): void {
    this.lastPacketMs = nowMs;
    this.reported = false;
  }

  /** A packet arrived. */
  received(nowMs: number): void {
    this.lastPacketMs = nowMs;
    this.reported = false;
  }

  /** The SDP direction changed: on hold (remote sends nothing by right) or not. */
  setHold(onHold: boolean, nowMs: number): void {
    this.onHold = onHold;
    this.start(nowMs);
  }

  /** Call from the worker's periodic tick; `'timeout'` once per silence. */
  check(nowMs: number): RtpTimeoutState {
    if (this.reported) return 'ok';
    const limit = this.onHold ? this.holdTimeoutMs : this.timeoutMs;
    if (limit <= 0 || nowMs - this.lastPacketMs < limit) return 'ok';
    this.reported = true;
    return 'timeout';
  }
}
