/**
 * Playback of compiled playlists into a leg's outgoing RTP stream, paced by the worker's clock.
 */
import { writeRtpHeader, RTP_HEADER_SIZE } from '../rtp/index.ts';
import { silenceByte } from '../codec/index.ts';
import type { G711 } from '../codec/index.ts';
import type { PacedStream, PacingClock } from './clock.ts';
import type { OutboundStream } from './outbound.ts';
import type { CompiledPlaylist, Segment } from './playlist.ts';

/** Samples (and G.711 octets) in one 20 ms frame at 8 kHz. */
export const FRAME_SAMPLES = 160;

/** Where a leg's packets go: the leg sends the whole buffer to its remote. */
export interface RtpSink {
  /** Send `buf` (one complete RTP packet, exactly `buf.length` bytes). Must not keep `buf`. */
  sendRtp(buf: Buffer, nowMs: number): void;
}

/** Why a playback ended. */
export type PlaybackEnd = 'finished' | 'stopped';

/** The one consumer of playback events (the worker). */
export interface PlaybackDelegate {
  playbackDone(playback: Playback, playId: number, reason: PlaybackEnd): void;
}

/** Packet buffers per leg: a send may still be queued in libuv when the next frame is built. */
const RING = 4;
const EMPTY: Segment[] = [];
const SILENCE_PCMU = new Uint8Array(FRAME_SAMPLES).fill(silenceByte('PCMU'));
const SILENCE_PCMA = new Uint8Array(FRAME_SAMPLES).fill(silenceByte('PCMA'));

function silenceFrame(codec: G711): Uint8Array {
  return codec === 'PCMU' ? SILENCE_PCMU : SILENCE_PCMA;
}

/**
 * The player of one leg. Built once per leg with its packet buffers; each `start()` replaces what
 * is playing. `pace()` is the per-frame hot path: it writes a 12-byte header and 160 payload octets
 * into the next preallocated buffer and hands it to the sink, allocating nothing.
 *
 * ```
 *  buffer (172 bytes): | RTP header: PT, seq, ts, SSRC (out stream) | 160 octets of prompt/silence |
 * ```
 */
export class Playback implements PacedStream {
  clockSlot = -1;
  clockIndex = -1;
  /** Id of the playlist playing (from the `play` command), 0 when idle. */
  playId = 0;
  /** Whether a playlist is playing. */
  active = false;
  /** Frames sent since the leg was created. */
  framesSent = 0;
  private readonly bufs: Buffer[];
  private bufIndex = 0;
  private segments: Segment[] = EMPTY;
  private loop = false;
  private loopFrom = 0;
  private segIndex = 0;
  private frameIndex = 0;
  /** Timestamp advance owed by skipped frames, in samples. */
  private skippedSamples = 0;
  private silence: number;
  private silenceFrame: Uint8Array;

  constructor(
    private readonly clock: PacingClock,
    private readonly out: OutboundStream,
    private readonly sink: RtpSink,
    private readonly delegate: PlaybackDelegate,
    /** RTP payload type of the leg's codec. */
    public payloadType: number,
    codec: G711,
  ) {
    // One allocation for the ring, seen through RING views: each Buffer.alloc of its own is an
    // ArrayBuffer with an off-heap backing store and its bookkeeping (~200 bytes apiece beside
    // the 172 it holds), and a worker holds a leg per caller.
    const packet = RTP_HEADER_SIZE + FRAME_SAMPLES;
    const block = Buffer.alloc(RING * packet);
    this.bufs = [];
    for (let i = 0; i < RING; i++) this.bufs.push(block.subarray(i * packet, (i + 1) * packet));
    this.silence = silenceByte(codec);
    this.silenceFrame = silenceFrame(codec);
  }

  /** Change the codec (after a re-INVITE); takes effect for the next playlist compiled. */
  setCodec(codec: G711, payloadType: number): void {
    this.silence = silenceByte(codec);
    this.silenceFrame = silenceFrame(codec);
    this.payloadType = payloadType;
  }

  /** Play `list` from its start (stopping what was playing, reported as `'stopped'`). */
  start(list: CompiledPlaylist, playId: number): void {
    if (this.active) this.end('stopped');
    this.segments = list.segments;
    this.loop = list.loop;
    this.loopFrom = list.loopFrom;
    this.segIndex = 0;
    this.frameIndex = 0;
    this.skippedSamples = 0;
    this.playId = playId;
    this.active = true;
    if (this.segments.length === 0) {
      this.end('finished');
      return;
    }
    // A new source for the out stream: its first packet is marked and timed from the last one.
    this.out.source = 'none';
    this.clock.add(this);
  }

  /** Stop playing; reports `'stopped'` when something was playing. Idempotent. */
  stop(): void {
    if (this.active) this.end('stopped');
  }

  pace(dueMs: number): void {
    if (!this.active) return;
    const out = this.out;
    let ts: number;
    if (out.source !== 'player') ts = out.switchSource('player', dueMs);
    else ts = (out.lastTs + out.lastSamples + this.skippedSamples) >>> 0;
    this.skippedSamples = 0;
    const marker = out.markNext;
    const seq = out.commit(ts, FRAME_SAMPLES, dueMs);
    const buf = this.bufs[this.bufIndex]!;
    this.bufIndex = (this.bufIndex + 1) % RING;
    writeRtpHeader(buf, 0, this.payloadType, seq, ts, out.ssrc, marker);
    const seg = this.segments[this.segIndex]!;
    const views = seg.views;
    const data = seg.data;
    // TypedArray#set of a prebuilt view is a plain memcpy; Buffer#copy/fill validate their
    // arguments and copy/fill allocates a view per call.
    if (data === undefined) buf.set(this.silenceFrame, RTP_HEADER_SIZE);
    else if (views !== undefined) {
      const view = views[this.frameIndex]!;
      buf.set(view, RTP_HEADER_SIZE);
      if (view.length < FRAME_SAMPLES) buf.fill(this.silence, RTP_HEADER_SIZE + view.length);
    } else {
      const off = this.frameIndex * FRAME_SAMPLES;
      const n = data.length - off < FRAME_SAMPLES ? data.length - off : FRAME_SAMPLES;
      data.copy(buf, RTP_HEADER_SIZE, off, off + n);
      if (n < FRAME_SAMPLES) buf.fill(this.silence, RTP_HEADER_SIZE + n);
    }
    this.framesSent++;
    const more = this.advance(1);
    this.sink.sendRtp(buf, dueMs);
    if (!more) this.end('finished');
  }

  skip(frames: number): void {
    if (!this.active) return;
    this.skippedSamples += frames * FRAME_SAMPLES;
    if (!this.advance(frames)) this.end('finished');
  }

  /** Move the play position `frames` ahead; false when a non-looping playlist ran out. */
  private advance(frames: number): boolean {
    let left = frames;
    while (left > 0) {
      const seg = this.segments[this.segIndex]!;
      const room = seg.frames - this.frameIndex;
      if (left < room) {
        this.frameIndex += left;
        return true;
      }
      left -= room;
      this.frameIndex = 0;
      this.segIndex++;
      if (this.segIndex >= this.segments.length) {
        if (!this.loop) return false;
        this.segIndex = this.loopFrom;
      }
    }
    return true;
  }

  private end(reason: 'finished' | 'stopped'): void {
    const id = this.playId;
    this.active = false;
    this.playId = 0;
    this.segments = EMPTY;
    this.clock.remove(this);
    if (this.out.source === 'player') this.out.source = 'none';
    this.delegate.playbackDone(this, id, reason);
  }
}
