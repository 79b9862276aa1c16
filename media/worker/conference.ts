/**
 * A conference of up to three legs of one worker (supervisor listen / whisper / barge, three-way
 * calls): paced by the worker's clock, it sends every mixed leg its 20 ms frame of the others.
 */
import { writeRtpHeader, RTP_HEADER_SIZE } from '../rtp/index.ts';
import { encodeLinear } from '../codec/index.ts';
import { Mixer, MIX_PARTIES } from '../bridge/index.ts';
import { FRAME_SAMPLES } from '../player/index.ts';
import type { PacedStream, PacingClock } from '../player/index.ts';
import type { Leg } from './leg.ts';

/** Packet buffers per mixed leg: a send may still be queued in libuv when the next is built. */
const RING = 4;

/**
 * ```
 *  leg p ──RTP──▶ Leg.onMessage ──feed(p)──▶ Mixer
 *  clock ──pace──▶ take() ──▶ for each mixed leg r: mixFor(r) ─▶ G.711 ─▶ r.sendRtp (its own stream)
 *  a leg that hears only its bridge partner is not mixed: the relay carries that direction as before
 * ```
 */
export class Conference implements PacedStream {
  clockSlot = -1;
  clockIndex = -1;
  readonly mixer = new Mixer();
  readonly legs: (Leg | undefined)[] = [undefined, undefined, undefined];
  /** Frames mixed and sent (each mixed leg once per frame). */
  legFrames = 0;
  private readonly linear = new Int16Array(FRAME_SAMPLES);
  private readonly bufs: Buffer[][] = [];
  private readonly bufIndex = new Uint8Array(MIX_PARTIES);
  private skippedSamples = 0;

  constructor(private readonly clock: PacingClock) {
    for (let p = 0; p < MIX_PARTIES; p++) {
      const ring: Buffer[] = [];
      for (let i = 0; i < RING; i++) ring.push(Buffer.alloc(RTP_HEADER_SIZE + FRAME_SAMPLES));
      this.bufs.push(ring);
    }
  }

  /** Parties in the conference. */
  get size(): number {
    let n = 0;
    for (const l of this.legs) if (l !== undefined) n++;
    return n;
  }

  /** Whether the mixer feeds any leg (else the relay carries everything and the mixer idles). */
  get mixing(): boolean {
    for (const l of this.legs) if (l !== undefined && l.mixed) return true;
    return false;
  }

  /**
   * Set the parties and who hears whom (`hears[p]` = slots party p hears). Legs must already have
   * been taken out of any other conference.
   */
  configure(legs: Leg[], hears: number[][]): void {
    for (let p = 0; p < MIX_PARTIES; p++) {
      const leg = legs[p];
      this.legs[p] = leg;
      this.mixer.clear(p);
      let mask = 0;
      for (const q of hears[p] ?? []) if (q !== p) mask |= 1 << q;
      this.mixer.hears[p] = leg === undefined ? 0 : mask;
      if (leg === undefined) continue;
      leg.conf = this;
      leg.confSlot = p;
      leg.playback.stop();
    }
    this.remix();
    this.clock.add(this);
  }

  /** Take `leg` out; returns false when fewer than two parties are left (dissolve it). */
  remove(leg: Leg): boolean {
    const p = leg.confSlot;
    if (leg.conf !== this || this.legs[p] !== leg) return this.size >= 2;
    this.legs[p] = undefined;
    this.mixer.clear(p);
    this.mixer.hears[p] = 0;
    for (let q = 0; q < MIX_PARTIES; q++) this.mixer.hears[q]! &= ~(1 << p);
    detach(leg);
    this.remix();
    return this.size >= 2;
  }

  /** Take every leg out and leave the clock. Idempotent. */
  dissolve(): void {
    this.clock.remove(this);
    for (let p = 0; p < MIX_PARTIES; p++) {
      const leg = this.legs[p];
      this.legs[p] = undefined;
      if (leg !== undefined && leg.conf === this) detach(leg);
    }
  }

  pace(dueMs: number): void {
    const mixer = this.mixer;
    mixer.take();
    const skipped = this.skippedSamples;
    this.skippedSamples = 0;
    for (let r = 0; r < MIX_PARTIES; r++) {
      const leg = this.legs[r];
      if (leg === undefined || !leg.mixed) continue;
      mixer.mixFor(r, this.linear);
      const out = leg.out;
      let ts: number;
      if (out.source !== 'mix') ts = out.switchSource('mix', dueMs);
      else ts = (out.lastTs + out.lastSamples + skipped) >>> 0;
      const marker = out.markNext;
      const seq = out.commit(ts, FRAME_SAMPLES, dueMs);
      const i = this.bufIndex[r]!;
      this.bufIndex[r] = (i + 1) % RING;
      const buf = this.bufs[r]![i]!;
      writeRtpHeader(buf, 0, leg.payloadType, seq, ts, out.ssrc, marker);
      encodeLinear(this.linear, buf, RTP_HEADER_SIZE, leg.codec);
      this.legFrames++;
      leg.sendRtp(buf, dueMs);
    }
  }

  skip(frames: number): void {
    this.skippedSamples += frames * FRAME_SAMPLES;
  }

  /**
   * Which legs the mixer feeds: every leg that hears anything but exactly its bridge partner (that
   * one direction stays on the relay, with the packets as the partner sent them).
   */
  private remix(): void {
    for (let p = 0; p < MIX_PARTIES; p++) {
      const leg = this.legs[p];
      if (leg === undefined) continue;
      const mask = this.mixer.hears[p]!;
      const partner = leg.partner;
      const partnerSlot = partner !== undefined && partner.conf === this ? partner.confSlot : -1;
      const mixed = mask !== 0 && !(partnerSlot >= 0 && mask === 1 << partnerSlot);
      if (leg.mixed && !mixed) leg.out.source = 'none';
      leg.mixed = mixed;
    }
  }
}

function detach(leg: Leg): void {
  leg.conf = undefined;
  leg.confSlot = -1;
  if (leg.mixed) leg.out.source = 'none';
  leg.mixed = false;
}
