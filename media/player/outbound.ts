/**
 * The RTP stream a leg sends to its peer. Every source that feeds the leg (prompts and hold audio
 * from the player, the other leg's audio from the bridge) writes through one `OutboundStream`, so
 * the carrier sees one SSRC with one sequence space and one timestamp clock for the whole call.
 */

/** Who is writing into an {@link OutboundStream} right now. */
export type OutboundSource = 'none' | 'player' | 'relay' | 'mix';

/** G.711 at 8 kHz: RTP timestamp units per millisecond (RFC 3551 §4.5.14). */
export const SAMPLES_PER_MS = 8;

/**
 * Sequence/timestamp/SSRC state of one outgoing RTP stream (RFC 3550 §5.1).
 *
 * ```
 *   player ──┐                       seq: +1 per packet sent, never reset
 *            ├──▶ OutboundStream ──▶ ts : +samples per frame inside a source;
 *   relay  ──┘    (one SSRC)              on a source switch it jumps by the wall time since
 *                                         the last packet (>= one frame), marker bit set
 * ```
 *
 * The stream never allocates; its fields are plain numbers so the hot path reads them directly.
 */
export class OutboundStream {
  /** SSRC of every packet sent on this leg. */
  readonly ssrc: number;
  /** Sequence number of the next packet (16 bits). */
  seq: number;
  /** Timestamp of the last packet sent (32 bits), or of the stream start. */
  lastTs: number;
  /** Duration in samples of the last packet sent (its payload length for G.711). */
  lastSamples: number;
  /** Wall time (ms, monotonic) of the last packet sent; -1 before the first. */
  lastSentMs: number;
  /** Current source. */
  source: OutboundSource;
  /** Set by a source switch: the next packet carries the marker bit (RFC 3551 §4.1). */
  markNext: boolean;
  /** Packets and payload octets sent (for stats). */
  packets: number;
  octets: number;

  /**
   * @param ssrc fixed SSRC; random when omitted
   * @param seq first sequence number; random when omitted (RFC 3550 §5.1 recommends random)
   * @param ts first timestamp; random when omitted
   */
  constructor(ssrc?: number, seq?: number, ts?: number) {
    this.ssrc = (ssrc ?? randomU32()) >>> 0;
    this.seq = (seq ?? randomU32()) & 0xffff;
    this.lastTs = (ts ?? randomU32()) >>> 0;
    this.lastSamples = 0;
    this.lastSentMs = -1;
    this.source = 'none';
    this.markNext = true;
    this.packets = 0;
    this.octets = 0;
  }

  /**
   * Hand the stream to another source. Returns the timestamp its first packet must carry: the last
   * timestamp advanced by the wall time elapsed since the last packet, and by at least that
   * packet's duration so the two never overlap.
   */
  switchSource(source: OutboundSource, nowMs: number): number {
    this.source = source;
    this.markNext = true;
    return this.resumeTs(nowMs);
  }

  /** Timestamp for a packet sent now after a pause (see {@link switchSource}). */
  resumeTs(nowMs: number): number {
    if (this.lastSentMs < 0) return this.lastTs;
    const elapsed = Math.round((nowMs - this.lastSentMs) * SAMPLES_PER_MS);
    return (this.lastTs + Math.max(elapsed, this.lastSamples)) >>> 0;
  }

  /**
   * Account for a packet about to be sent with timestamp `ts` carrying `samples` samples; returns
   * its sequence number and consumes the pending marker (read {@link markNext} before calling).
   */
  commit(ts: number, samples: number, nowMs: number): number {
    const seq = this.seq;
    this.seq = (seq + 1) & 0xffff;
    this.lastTs = ts >>> 0;
    this.lastSamples = samples;
    this.lastSentMs = nowMs;
    this.markNext = false;
    this.packets++;
    this.octets += samples;
    return seq;
  }
}

function randomU32(): number {
  return (Math.random() * 0x100000000) >>> 0;
}
