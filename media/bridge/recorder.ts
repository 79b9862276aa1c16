/**
 * Call recording to a stereo WAV: channel 0 (left) what the leg receives (the caller's voice),
 * channel 1 (right) what it is sent (prompts, hold audio, the agent); or both mixed to one
 * channel. Pausing (a card number being read out) keeps the file's timing: the paused stretch is
 * silence of the same length.
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { SAMPLES_PER_MS } from '../player/index.ts';

/** Stereo channel of a {@link WavRecorder}. */
export type RecordChannel = 0 | 1;

/** Result of {@link WavRecorder.stop}. */
export type RecordResult =
  | { ok: true; file: string; durationMs: number; pausedMs: number; bytes: number; lateDrops: number }
  | { ok: false; code: 'MEDIA_ERR_RECORD'; reason: string };

/** Options of a {@link WavRecorder}. */
export interface RecorderOptions {
  /** Audio held back before it is written, so late packets still land in place. Default 1000 ms (a worker stall under load, docs/bench.md). */
  jitterMs?: number;
  /** Write to the file when this much audio is ready. Default 1000 ms. */
  chunkMs?: number;
  /** `stereo` (default): caller left, what the leg sends right; `mixed`: both summed into one channel. */
  layout?: RecordLayout;
}

/** Channel layout of a recording file. */
export type RecordLayout = 'stereo' | 'mixed';

const RATE = 8000;
/** Ring of 2^15 stereo frames (4.096 s): must exceed jitter + chunk. */
const RING_FRAMES = 1 << 15;
const RING_MASK = RING_FRAMES - 1;
const HEADER_BYTES = 44;

/**
 * Canonical 44-byte WAV header for 16-bit PCM, 8 kHz, stereo (or mono with `channels` 1).
 *
 * ```
 *  0 "RIFF" | 4 size-8 | 8 "WAVE" | 12 "fmt " | 16 16 | 20 1 (PCM) | 22 2 ch | 24 8000 Hz
 *  28 32000 B/s | 32 4 B/frame | 34 16 bit | 36 "data" | 40 data bytes | 44 samples (L,R interleaved)
 * ```
 */
export function wavHeader(dataBytes: number, channels: 1 | 2 = 2): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(RATE, 24);
  h.writeUInt32LE(RATE * 2 * channels, 28);
  h.writeUInt16LE(2 * channels, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/**
 * Records both directions of a leg. Samples are placed by RTP timestamp (each channel anchored to
 * the wall clock at its first packet), decoded into a ring of interleaved PCM16, and written in
 * chunks by an async file handle, so the packet path only decodes 160 samples through a table.
 *
 * ```
 *   ring: ... | flushed ──────── (held back: jitterMs) ──────── high | ...
 *               written to file                                 newest sample
 * ```
 * Packets older than the flushed position are dropped (counted); a timestamp jump of more than
 * two seconds re-anchors the channel to the wall clock. While paused nothing is written into the
 * ring, so the place of the paused audio stays zero: silence as long as the pause, since sample
 * positions follow the RTP timestamps (which follow the wall clock).
 */
export class WavRecorder {
  /** Packets that arrived after their place was written. */
  lateDrops = 0;
  private readonly ring = new Int16Array(RING_FRAMES * 2);
  private readonly base = [0, 0];
  private readonly anchored = [false, false];
  private flushed = 0;
  private high = 0;
  private bytes = 0;
  private readonly jitter: number;
  private readonly chunk: number;
  private chain: Promise<FileHandle | undefined>;
  private error: string | undefined = undefined;
  private stopped = false;
  private readonly channels: 1 | 2;
  private pausedAt = -1;
  /** File positions [cutFrom, cutTo) of the last pause: silence whenever its packets arrive. */
  private cutFrom = -1;
  private cutTo = -1;
  private pausedTotal = 0;

  /**
   * Opens (creates or truncates) `file` asynchronously; packets written meanwhile are buffered.
   * @param startMs wall time (monotonic ms) the recording starts at: sample 0 of both channels
   */
  constructor(readonly file: string, private readonly startMs: number, opts: RecorderOptions = {}) {
    this.jitter = Math.round((opts.jitterMs ?? 1000) * SAMPLES_PER_MS);
    this.chunk = Math.round((opts.chunkMs ?? 1000) * SAMPLES_PER_MS);
    if (this.jitter + this.chunk > RING_FRAMES - RATE) throw new RangeError('recorder jitter + chunk too large');
    this.channels = opts.layout === 'mixed' ? 1 : 2;
    this.chain = open(file, 'w').then(
      async (fh) => {
        await fh.write(wavHeader(0, this.channels), 0, HEADER_BYTES, 0);
        return fh;
      },
      (err: Error) => {
        this.error = `cannot open ${file}: ${err.message}`;
        return undefined;
      },
    );
  }

  /** Whether the recording is paused. */
  get paused(): boolean {
    return this.pausedAt >= 0;
  }

  /** Paused time so far (the running pause included), ms. */
  pausedMs(nowMs: number): number {
    return this.pausedTotal + (this.pausedAt >= 0 ? nowMs - this.pausedAt : 0);
  }

  /** Stop taking audio; the file goes on with silence until {@link resume}. Idempotent. */
  pause(nowMs: number): void {
    if (this.pausedAt >= 0 || this.stopped) return;
    this.pausedAt = nowMs;
    // The pause is a stretch of the file, from the position of this moment on: audio placed there
    // already (a channel ahead of the wall clock) is cleared, audio for it arriving late is dropped.
    this.cutFrom = Math.max(this.flushed, Math.round((nowMs - this.startMs) * SAMPLES_PER_MS));
    this.cutTo = Infinity;
    const ring = this.ring;
    for (let p = this.cutFrom; p < this.high; p++) {
      const r = (p & RING_MASK) << 1;
      ring[r] = 0;
      ring[r + 1] = 0;
    }
  }

  /** Take audio again after {@link pause}. Idempotent. */
  resume(nowMs: number): void {
    if (this.pausedAt < 0) return;
    this.pausedTotal += nowMs - this.pausedAt;
    this.pausedAt = -1;
    this.cutTo = Math.max(this.cutFrom, Math.round((nowMs - this.startMs) * SAMPLES_PER_MS));
  }

  /** Forget a channel's anchor (its source changed SSRC): the next packet re-anchors it. */
  reanchor(channel: RecordChannel): void {
    this.anchored[channel] = false;
  }

  /**
   * Add `len` G.711 octets of `payload` at `off`, decoded through `table` (256 entries), to
   * `channel` at RTP timestamp `ts`.
   */
  write(channel: RecordChannel, payload: Buffer, off: number, len: number, table: Int16Array, ts: number, nowMs: number): void {
    if (this.stopped) return;
    const wallPos = Math.round((nowMs - this.startMs) * SAMPLES_PER_MS);
    if (!this.anchored[channel]) {
      this.base[channel] = (ts - wallPos) >>> 0;
      this.anchored[channel] = true;
    }
    let pos = ((ts - this.base[channel]!) | 0);
    if (pos > this.high + 2 * RATE || pos < this.flushed - 2 * RATE) {
      this.base[channel] = (ts - wallPos) >>> 0;
      pos = wallPos;
    }
    if (pos < this.flushed) {
      this.lateDrops++;
      return;
    }
    if (pos + len - this.flushed > RING_FRAMES) this.flushTo(pos + len - RING_FRAMES);
    const ring = this.ring;
    if (pos + len <= this.cutFrom || pos >= this.cutTo) {
      for (let i = 0; i < len; i++) ring[(((pos + i) & RING_MASK) << 1) + channel] = table[payload[off + i]!]!;
    } else {
      // Overlaps the pause: only the samples outside it.
      for (let i = 0; i < len; i++) {
        const p = pos + i;
        if (p < this.cutFrom || p >= this.cutTo) ring[((p & RING_MASK) << 1) + channel] = table[payload[off + i]!]!;
      }
    }
    if (pos + len > this.high) this.high = pos + len;
    if (this.high - this.flushed >= this.jitter + this.chunk) this.flushTo(this.high - this.jitter);
  }

  /**
   * Flush everything, fix the header sizes and close. Idempotent (later calls report the same).
   * Stopped while paused, the file runs in silence up to `nowMs` (the pause is part of the call).
   */
  async stop(nowMs?: number): Promise<RecordResult> {
    if (!this.stopped) {
      let end = this.high;
      if (this.pausedAt >= 0 && nowMs !== undefined) {
        end = Math.max(end, Math.round((nowMs - this.startMs) * SAMPLES_PER_MS));
        this.resume(nowMs);
      }
      this.flushTo(end);
      this.stopped = true;
      const bytes = this.bytes;
      this.chain = this.chain.then(async (fh) => {
        if (fh === undefined) return undefined;
        try {
          await fh.write(wavHeader(bytes, this.channels), 0, HEADER_BYTES, 0);
        } catch (err) {
          this.error ??= `cannot write ${this.file}: ${(err as Error).message}`;
        }
        await fh.close();
        return undefined;
      });
    }
    await this.chain;
    if (this.error !== undefined) return { ok: false, code: 'MEDIA_ERR_RECORD', reason: this.error };
    const durationMs = this.bytes / (2 * this.channels) / SAMPLES_PER_MS;
    return { ok: true, file: this.file, durationMs, pausedMs: this.pausedTotal, bytes: HEADER_BYTES + this.bytes, lateDrops: this.lateDrops };
  }

  /** Move samples [flushed, pos) from the ring to the write queue and clear their place. */
  private flushTo(pos: number): void {
    const frames = pos - this.flushed;
    if (frames <= 0) return;
    const frameBytes = 2 * this.channels;
    // One buffer per chunk (about a second of audio), not per packet.
    const out = Buffer.allocUnsafe(frames * frameBytes);
    const ring = this.ring;
    const mixed = this.channels === 1;
    for (let i = 0; i < frames; i++) {
      const r = ((this.flushed + i) & RING_MASK) << 1;
      if (mixed) {
        const s = ring[r]! + ring[r + 1]!;
        out.writeInt16LE(s > 32767 ? 32767 : s < -32768 ? -32768 : s, i * 2);
      } else {
        out.writeInt16LE(ring[r]!, i * 4);
        out.writeInt16LE(ring[r + 1]!, i * 4 + 2);
      }
      ring[r] = 0;
      ring[r + 1] = 0;
      // A long pause writes more than the ring holds: positions past one ring length are silence.
      if (i >= RING_FRAMES - 1 && i + 1 < frames) {
        out.fill(0, (i + 1) * frameBytes);
        break;
      }
    }
    const at = HEADER_BYTES + this.bytes;
    this.bytes += frames * frameBytes;
    this.flushed = pos;
    this.chain = this.chain.then(async (fh) => {
      if (fh === undefined) return undefined;
      try {
        await fh.write(out, 0, out.length, at);
      } catch (err) {
        this.error ??= `cannot write ${this.file}: ${(err as Error).message}`;
      }
      return fh;
    });
  }
}
