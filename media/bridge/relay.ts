/**
 * The relay of one direction of a bridged call: packets received on leg X are rewritten in place
 * and sent on leg Y as part of Y's own outgoing stream.
 */
import { transcode, ULAW_TO_ALAW, ALAW_TO_ULAW } from '../codec/index.ts';
import type { G711 } from '../codec/index.ts';
import type { RtpView } from '../rtp/index.ts';
import type { OutboundStream } from '../player/index.ts';

/** Payload types and codec of one side of a direction. */
export interface RelayEndpoint {
  codec: G711;
  /** Audio payload type negotiated on the leg (0 or 8 for the static G.711 types). */
  payloadType: number;
  /** telephone-event payload type negotiated on the leg, or -1. */
  dtmfPayloadType: number;
}

/** Comfort noise (RFC 3389), static payload type 13: relayed unchanged in its payload. */
const PT_CN = 13;

/**
 * Rewrites packets of one direction so the receiving carrier sees one continuous stream:
 *
 * ```
 *  in  (from X): SSRC x, seq s, ts t, PT px      out (to Y): SSRC y, seq s+Δs, ts t+Δt, PT py
 *  Δs, Δt are re-based when the source changes (bridge, unbridge → player, new SSRC from X):
 *     Δs = nextSeq(Y) − s              so the sequence continues +1 from Y's last packet
 *     Δt = resumeTs(Y, now) − t        so the timestamp advances by the wall time elapsed
 *  and that first packet carries the marker bit. Between re-bases gaps and reordering in X's
 *  stream stay visible to Y's receiver (its jitter buffer and loss stats stay truthful).
 *  µ-law ↔ A-law: payload mapped in place through a 256-entry table when the codecs differ.
 * ```
 */
export class RelayDirection {
  /** Packets relayed / dropped (payload type not negotiated on both legs). */
  relayed = 0;
  dropped = 0;
  /** Re-bases done (source switches seen by the receiver). */
  rebases = 0;
  private seqOffset = 0;
  private tsOffset = 0;
  private inSsrc = -1;
  private rebase = true;
  private table: Uint8Array | undefined;
  private inAudio = 0;
  private outAudio = 0;
  private inDtmf = -1;
  private outDtmf = -1;

  /**
   * @param out the receiving leg's outgoing stream
   */
  constructor(private readonly out: OutboundStream, from: RelayEndpoint, to: RelayEndpoint) {
    this.configure(from, to);
  }

  /** (Re)negotiated codecs of either leg. */
  configure(from: RelayEndpoint, to: RelayEndpoint): void {
    this.table = from.codec === to.codec ? undefined : from.codec === 'PCMU' ? ULAW_TO_ALAW : ALAW_TO_ULAW;
    this.inAudio = from.payloadType;
    this.outAudio = to.payloadType;
    this.inDtmf = from.dtmfPayloadType;
    this.outDtmf = to.dtmfPayloadType;
  }

  /** Force a re-base at the next packet (the receiving leg's stream was fed by someone else). */
  restart(): void {
    this.rebase = true;
  }

  /** Whether this direction transcodes. */
  get transcoding(): boolean {
    return this.table !== undefined;
  }

  /**
   * Rewrite the packet under `view` in place for the receiving leg. Returns false when it must not
   * be sent (a payload type the receiving leg did not negotiate).
   */
  rewrite(view: RtpView, nowMs: number): boolean {
    const pt = view.payloadType;
    let outPt: number;
    let samples = 160;
    if (pt === this.inAudio) {
      outPt = this.outAudio;
      samples = view.payloadLength;
      if (this.table !== undefined) transcode(view.buf, view.headerLength, view.payloadLength, view.buf, view.headerLength, this.table);
    } else if (pt === this.inDtmf && this.outDtmf >= 0) outPt = this.outDtmf;
    else if (pt === PT_CN) outPt = PT_CN;
    else {
      this.dropped++;
      return false;
    }
    const out = this.out;
    const ssrc = view.ssrc;
    let marker = view.marker;
    if (this.rebase || ssrc !== this.inSsrc || out.source !== 'relay') {
      const ts = out.switchSource('relay', nowMs);
      this.tsOffset = (ts - view.timestamp) >>> 0;
      this.seqOffset = (out.seq - view.sequence) & 0xffff;
      this.inSsrc = ssrc;
      this.rebase = false;
      this.rebases++;
      marker = true;
    }
    const seq = (view.sequence + this.seqOffset) & 0xffff;
    const ts = (view.timestamp + this.tsOffset) >>> 0;
    view.sequence = seq;
    view.timestamp = ts;
    view.ssrc = out.ssrc;
    view.payloadType = outPt;
    view.marker = marker;
    // Only a packet newer than the last one moves the stream state (a reordered one is late).
    if (((seq - out.seq) & 0xffff) < 0x8000) {
      out.seq = (seq + 1) & 0xffff;
      out.lastTs = ts;
      out.lastSamples = samples;
      out.lastSentMs = nowMs;
    }
    out.markNext = false;
    out.packets++;
    out.octets += view.payloadLength;
    this.relayed++;
    return true;
  }
}
