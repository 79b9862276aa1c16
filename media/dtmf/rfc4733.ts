/**
 * RFC 4733 telephone-event receiver and encoder (DTMF digits, events 0..15).
 */
import type { RtpView } from '../rtp/index.ts';
import { DTMF_DIGITS, DigitQueue, digitToEvent } from './digit.ts';
import type { DtmfDigit } from './digit.ts';

/** Size of one event report. */
export const RFC4733_BLOCK_SIZE = 4;

/**
 * Write one RFC 4733 event report (§2.3) at `offset` and return 4.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     event     |E|R| volume    |          duration             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 * `event` is a digit (`'5'`, `'#'`) or an event code; `volume` is -dBm0 (0..63, 10 typical);
 * `duration` is in timestamp units since the event's start (RTP timestamp of its packets).
 */
export function encodeRfc4733(
  buf: Buffer, offset: number, event: string | number, end: boolean, volume: number, duration: number,
): number {
  const code = typeof event === 'number' ? event : digitToEvent(event);
  if (code < 0 || code > 255) throw new RangeError(`not a telephone-event: ${String(event)}`);
  buf[offset] = code;
  buf[offset + 1] = (end ? 0x80 : 0) | (volume & 0x3f);
  buf[offset + 2] = (duration >>> 8) & 0xff;
  buf[offset + 3] = duration & 0xff;
  return RFC4733_BLOCK_SIZE;
}

/** Options of an {@link Rfc4733Receiver}. */
export interface Rfc4733Options {
  /** Payload type negotiated for telephone-event (SDP rtpmap); packets of other PTs are ignored. Default 101. */
  payloadType?: number;
  /**
   * Payload type of RFC 2198 `red` carrying telephone-events, if negotiated; its redundant blocks
   * recover events whose own packets were lost. Default: none.
   */
  redPayloadType?: number;
  /** RTP clock rate of telephone-event (8000 unless negotiated otherwise). */
  clockRate?: number;
  /** An event without an end report is reported after this much silence from the sender. Default 1000 ms. */
  endTimeoutMs?: number;
}

// Long events (§2.5.1.3) restart the timestamp when the 16-bit duration fills up, so the next
// segment starts about 0xFFFF samples after the previous one. Any other distance between two
// reports of the same, unfinished key is a new press whose predecessor's end reports were lost.
const LONG_SEGMENT_MIN = 0xffff - 8000;
const LONG_SEGMENT_MAX = 0x10000;
const RECENT = 8;

/**
 * Turns telephone-event packets into digits, each reported exactly once, at its end, with its
 * duration. Handles what RFC 4733 senders do to survive loss:
 * - the end report sent three times (§2.5.1.4) and late or reordered copies: dropped by
 *   remembering the start timestamps of recently reported events;
 * - several reports in one packet (§2.5.1.5) and RFC 2198 redundancy (§2.6): every block is fed
 *   in order, older first;
 * - long events (§2.5.1.3) whose timestamp moves on when the duration field fills up: joined;
 * - lost end reports: the event is reported when the next event starts or after `endTimeoutMs`
 *   of silence ({@link Rfc4733Receiver.poll}).
 *
 * `onPacket` returns at most one digit; when a packet completes several, the rest wait in a small
 * queue that `poll()` drains.
 */
export class Rfc4733Receiver {
  /** telephone-event payload type. */
  payloadType: number;
  /** RFC 2198 red payload type, or -1. */
  redPayloadType: number;
  private readonly samplesPerMs: number;
  private readonly endTimeoutMs: number;
  // The event in progress.
  private active = false;
  private started = false; // startTs holds the latest event's start, even after it ended
  private code = 0;
  private startTs = 0;
  private duration = 0; // of the current segment, in samples
  private carried = 0; // samples of earlier segments of a long event
  private startMs = 0;
  private lastPacketMs = 0;
  // Start timestamps (and codes) of recently reported events, to drop their late copies.
  private readonly recentTs = new Float64Array(RECENT).fill(-1);
  private readonly recentCode = new Int16Array(RECENT).fill(-1);
  private recentNext = 0;
  private readonly queue = new DigitQueue();

  constructor(opts: Rfc4733Options = {}) {
    this.payloadType = opts.payloadType ?? 101;
    this.redPayloadType = opts.redPayloadType ?? -1;
    this.samplesPerMs = (opts.clockRate ?? 8000) / 1000;
    this.endTimeoutMs = opts.endTimeoutMs ?? 1000;
  }

  /**
   * Feed one received RTP packet (any payload type: others are ignored cheaply). Returns a digit
   * completed by this packet, if any; call {@link poll} for more.
   */
  onPacket(view: RtpView, nowMs: number): DtmfDigit | undefined {
    const pt = view.payloadType;
    if (pt === this.payloadType) {
      this.lastPacketMs = nowMs;
      const buf = view.buf;
      const end = view.payloadOffset + view.payloadLength;
      const ts = view.timestamp;
      // §2.5.1.5: earlier blocks in one packet are final reports of events that preceded the last
      // one; their start is not carried, so they are matched by event code.
      for (let off = view.payloadOffset; off + RFC4733_BLOCK_SIZE <= end; off += RFC4733_BLOCK_SIZE) {
        const last = off + 2 * RFC4733_BLOCK_SIZE > end;
        this.block(last ? ts : -1, buf[off]!, (buf[off + 1]! & 0x80) !== 0, buf.readUInt16BE(off + 2), nowMs);
      }
    } else if (pt === this.redPayloadType) {
      this.lastPacketMs = nowMs;
      this.red(view, nowMs);
    } else {
      return undefined;
    }
    return this.queue.shift();
  }

  /**
   * Digits still queued, then an event whose end reports were all lost once the sender has been
   * silent for `endTimeoutMs`. Call after `onPacket` returned a digit, and from the periodic tick.
   */
  poll(nowMs: number): DtmfDigit | undefined {
    if (this.queue.length === 0 && this.active && nowMs - this.lastPacketMs >= this.endTimeoutMs) {
      this.finish();
    }
    return this.queue.shift();
  }

  /** Forget the event in progress and the history (e.g. the remote stream changed SSRC). */
  reset(): void {
    this.active = false;
    this.started = false;
    this.recentTs.fill(-1);
    this.recentCode.fill(-1);
    this.queue.clear();
  }

  /*
   * RFC 2198 §3: a chain of 4-byte headers (F=1: more follow) then one 1-byte header, then the
   * blocks in the same order, oldest first:
   *  |1|  block PT   |  timestamp offset (14)    | block length (10) |   ...   |0|  block PT   |
   */
  private red(view: RtpView, nowMs: number): void {
    const buf = view.buf;
    const end = view.payloadOffset + view.payloadLength;
    let h = view.payloadOffset;
    let data = h;
    while (data < end && (buf[data]! & 0x80) !== 0) data += 4;
    data += 1;
    if (data > end) return;
    const ts = view.timestamp;
    for (; h < end; h += 4) {
      const b0 = buf[h]!;
      const primary = (b0 & 0x80) === 0;
      const blockPt = b0 & 0x7f;
      const offset = primary ? 0 : (buf[h + 1]! << 6) | (buf[h + 2]! >> 2);
      const length = primary ? end - data : ((buf[h + 2]! & 0x03) << 8) | buf[h + 3]!;
      if (data + length > end) return;
      if (blockPt === this.payloadType) {
        for (let off = data; off + RFC4733_BLOCK_SIZE <= data + length; off += RFC4733_BLOCK_SIZE) {
          this.block((ts - offset) >>> 0, buf[off]!, (buf[off + 1]! & 0x80) !== 0, buf.readUInt16BE(off + 2), nowMs);
        }
      }
      data += length;
      if (primary) return;
    }
  }

  // One event report; `startTs` -1 when the packet does not say (a packed earlier block).
  private block(startTs: number, code: number, end: boolean, duration: number, nowMs: number): void {
    if (code > 15) return; // not a DTMF digit: flash and tones are not ours to report
    if (startTs >= 0) {
      if (this.recentlyReported(startTs, code)) return;
      // A late packet of an event older than the latest one seen (RFC 1982 serial order).
      if (this.started && ((startTs - this.startTs) | 0) < 0) return;
    }
    if (this.active && code === this.code) {
      if (startTs < 0 || startTs === this.startTs) {
        if (duration > this.duration) this.duration = duration;
        if (end) this.finish();
        return;
      }
      const gap = (startTs - this.startTs) >>> 0;
      if (gap >= LONG_SEGMENT_MIN && gap <= LONG_SEGMENT_MAX) {
        this.carried += gap;
        this.startTs = startTs;
        this.duration = duration;
        if (end) this.finish();
        return;
      }
    }
    if (startTs < 0) {
      // A packed final report of an event that is not in progress. It repeats the event before
      // the current one, so it is new only if neither of the last two reported had its code.
      const last = this.recentCode[(this.recentNext + RECENT - 1) % RECENT];
      const beforeLast = this.recentCode[(this.recentNext + RECENT - 2) % RECENT];
      if (end && code !== last && code !== beforeLast) {
        this.push(code, nowMs - duration / this.samplesPerMs, duration / this.samplesPerMs);
      }
      return;
    }
    if (this.active) this.finish(); // its end reports were lost
    this.active = true;
    this.started = true;
    this.code = code;
    this.startTs = startTs;
    this.duration = duration;
    this.carried = 0;
    // A late first packet (e.g. from a redundant block) already covers `duration`.
    this.startMs = nowMs - duration / this.samplesPerMs;
    if (end) this.finish();
  }

  private finish(): void {
    this.active = false;
    this.recentTs[this.recentNext] = this.startTs;
    this.recentCode[this.recentNext] = this.code;
    this.recentNext = (this.recentNext + 1) % RECENT;
    this.push(this.code, this.startMs, (this.carried + this.duration) / this.samplesPerMs);
  }

  private recentlyReported(startTs: number, code: number): boolean {
    for (let i = 0; i < RECENT; i++) {
      if (this.recentTs[i] === startTs && this.recentCode[i] === code) return true;
    }
    return false;
  }

  private push(code: number, startMs: number, durationMs: number): void {
    this.queue.push({ digit: DTMF_DIGITS[code]!, startMs, durationMs, source: 'rfc4733' });
  }
}
