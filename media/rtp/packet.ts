/**
 * RTP fixed header view (RFC 3550 §5.1). Reads and rewrites the header in place so a relay can
 * forward the very datagram it received: no copies, no allocation per packet.
 */

/** Size of the RTP fixed header without CSRCs or extension (RFC 3550 §5.1). */
export const RTP_HEADER_SIZE = 12;

/** The only RTP version on the wire since RFC 1889. */
export const RTP_VERSION = 2;

/**
 * Why a datagram is not accepted as RTP, from {@link RtpView.check}. `'ok'` when it is.
 */
export type RtpCheck =
  | 'ok'
  | 'short' //       fewer than 12 bytes
  | 'version' //     V != 2
  | 'csrc' //        CSRC list runs past the end
  | 'extension' //   header extension runs past the end
  | 'padding'; //    padding count is zero or runs into the header

/**
 * A reusable, in-place view over one RTP packet. `reset()` it onto each received datagram; the
 * getters decode from the bytes and the setters write into them.
 *
 * ```
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           synchronization source (SSRC) identifier            |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |            contributing source (CSRC) identifiers             |
 * |                    (CC entries of 32 bits)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  defined by profile (X=1)     |  length (32-bit words)        |
 * |                        header extension                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 payload ...   | padding ...   | pad count (P) |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ```
 *
 * The view keeps a reference to the buffer, so it is valid only until that buffer is reused.
 */
export class RtpView {
  /** The datagram the view is over (an empty buffer before the first successful reset). */
  buf: Buffer;
  /** Number of valid bytes in `buf`. */
  length: number;
  /** Bytes before the payload: 12 + 4·CC + extension (4 + 4·length words) when X=1. */
  headerLength: number;
  /** Payload bytes, excluding padding. */
  payloadLength: number;
  /** Padding bytes at the end including the count byte (0 when P=0). */
  paddingLength: number;

  constructor(buf?: Buffer, length?: number) {
    this.buf = EMPTY;
    this.length = 0;
    this.headerLength = 0;
    this.payloadLength = 0;
    this.paddingLength = 0;
    if (buf !== undefined) this.reset(buf, length ?? buf.length);
  }

  /**
   * Point the view at `buf[0..length)`. Returns false (and leaves the view empty) when the bytes
   * are not a well-formed RTP version 2 packet; {@link RtpView.check} tells why.
   */
  reset(buf: Buffer, length: number): boolean {
    const why = RtpView.check(buf, length);
    if (why !== 'ok') {
      this.buf = EMPTY;
      this.length = 0;
      this.headerLength = 0;
      this.payloadLength = 0;
      this.paddingLength = 0;
      return false;
    }
    const b0 = buf[0]!;
    let header = RTP_HEADER_SIZE + (b0 & 0x0f) * 4;
    if ((b0 & 0x10) !== 0) header += 4 + buf.readUInt16BE(header + 2) * 4;
    const padding = (b0 & 0x20) !== 0 ? buf[length - 1]! : 0;
    this.buf = buf;
    this.length = length;
    this.headerLength = header;
    this.paddingLength = padding;
    this.payloadLength = length - header - padding;
    return true;
  }

  /** Validate without touching any view: the reason a datagram is not RTP, or `'ok'`. */
  static check(buf: Buffer, length: number): RtpCheck {
    if (length < RTP_HEADER_SIZE || length > buf.length) return 'short';
    const b0 = buf[0]!;
    if (b0 >>> 6 !== RTP_VERSION) return 'version';
    let header = RTP_HEADER_SIZE + (b0 & 0x0f) * 4;
    if (header > length) return 'csrc';
    if ((b0 & 0x10) !== 0) {
      if (header + 4 > length) return 'extension';
      header += 4 + buf.readUInt16BE(header + 2) * 4;
      if (header > length) return 'extension';
    }
    if ((b0 & 0x20) !== 0) {
      // RFC 3550 §5.1: the last octet counts the padding octets including itself.
      const padding = buf[length - 1]!;
      if (padding === 0 || header + padding > length) return 'padding';
    }
    return 'ok';
  }

  /** RTP version (always 2 for a view that reset successfully). */
  get version(): number {
    return this.buf[0]! >>> 6;
  }

  /** P bit: the packet ends with padding. */
  get padding(): boolean {
    return (this.buf[0]! & 0x20) !== 0;
  }

  /** X bit: a header extension follows the CSRC list. */
  get extension(): boolean {
    return (this.buf[0]! & 0x10) !== 0;
  }

  /** CC: number of CSRC identifiers. */
  get csrcCount(): number {
    return this.buf[0]! & 0x0f;
  }

  /** M bit: for audio, the first packet of a talkspurt (RFC 3551 §4.1). */
  get marker(): boolean {
    return (this.buf[1]! & 0x80) !== 0;
  }

  set marker(on: boolean) {
    this.buf[1] = on ? this.buf[1]! | 0x80 : this.buf[1]! & 0x7f;
  }

  /** PT, 7 bits. */
  get payloadType(): number {
    return this.buf[1]! & 0x7f;
  }

  set payloadType(pt: number) {
    this.buf[1] = (this.buf[1]! & 0x80) | (pt & 0x7f);
  }

  /** Sequence number, 16 bits. */
  get sequence(): number {
    return (this.buf[2]! << 8) | this.buf[3]!;
  }

  set sequence(seq: number) {
    this.buf[2] = (seq >>> 8) & 0xff;
    this.buf[3] = seq & 0xff;
  }

  /** Timestamp, 32 bits unsigned. */
  get timestamp(): number {
    return this.buf.readUInt32BE(4);
  }

  set timestamp(ts: number) {
    this.buf.writeUInt32BE(ts >>> 0, 4);
  }

  /** SSRC, 32 bits unsigned. */
  get ssrc(): number {
    return this.buf.readUInt32BE(8);
  }

  set ssrc(ssrc: number) {
    this.buf.writeUInt32BE(ssrc >>> 0, 8);
  }

  /** Offset of the first payload byte in `buf` (same as `headerLength`). */
  get payloadOffset(): number {
    return this.headerLength;
  }

  /** CSRC number `i` (0-based, `i < csrcCount`). */
  csrc(i: number): number {
    if (i < 0 || i >= this.csrcCount) throw new RangeError(`csrc index ${i} out of 0..${this.csrcCount - 1}`);
    return this.buf.readUInt32BE(RTP_HEADER_SIZE + i * 4);
  }

  /** The 16-bit "defined by profile" field of the header extension, or -1 without one. */
  get extensionProfile(): number {
    if (!this.extension) return -1;
    return this.buf.readUInt16BE(RTP_HEADER_SIZE + this.csrcCount * 4);
  }

  /** Offset of the header extension data (after its 4-byte header), or -1 without one. */
  get extensionOffset(): number {
    if (!this.extension) return -1;
    return RTP_HEADER_SIZE + this.csrcCount * 4 + 4;
  }

  /** Length in bytes of the header extension data (after its 4-byte header), 0 without one. */
  get extensionLength(): number {
    if (!this.extension) return 0;
    return this.buf.readUInt16BE(RTP_HEADER_SIZE + this.csrcCount * 4 + 2) * 4;
  }

  /** The payload as a `subarray` (no copy; allocates a small Buffer object, so not per packet). */
  payload(): Buffer {
    return this.buf.subarray(this.headerLength, this.headerLength + this.payloadLength);
  }
}

const EMPTY = Buffer.alloc(0);

/**
 * Write a 12-byte RTP header (V=2, no padding, no extension, no CSRC) at `offset` and return 12,
 * so the caller writes the payload at `offset + 12`.
 */
export function writeRtpHeader(
  buf: Buffer, offset: number, pt: number, seq: number, ts: number, ssrc: number, marker: boolean,
): number {
  buf[offset] = RTP_VERSION << 6;
  buf[offset + 1] = (marker ? 0x80 : 0) | (pt & 0x7f);
  buf[offset + 2] = (seq >>> 8) & 0xff;
  buf[offset + 3] = seq & 0xff;
  // Byte stores, not writeUInt32BE: no range validation on the per-packet path.
  buf[offset + 4] = ts >>> 24;
  buf[offset + 5] = (ts >>> 16) & 0xff;
  buf[offset + 6] = (ts >>> 8) & 0xff;
  buf[offset + 7] = ts & 0xff;
  buf[offset + 8] = ssrc >>> 24;
  buf[offset + 9] = (ssrc >>> 16) & 0xff;
  buf[offset + 10] = (ssrc >>> 8) & 0xff;
  buf[offset + 11] = ssrc & 0xff;
  return RTP_HEADER_SIZE;
}

/**
 * True when a datagram on an RTP port is RTCP rather than RTP (RFC 5761 §4: with rtcp-mux the
 * second octet of RTCP is a packet type 192..223, which as M+PT would be PT 64..95 — unused by
 * RTP/AVP). Lets a leg drop RTCP that a peer sends to the RTP port without parsing it.
 */
export function isRtcp(buf: Buffer, length: number): boolean {
  if (length < 8 || buf[0]! >>> 6 !== RTP_VERSION) return false;
  const pt = buf[1]!;
  return pt >= 192 && pt <= 223;
}
