/**
 * The three-way mixer: up to three parties (caller, agent, one more), each hearing a chosen set of
 * the others, mixed in linear PCM one 20 ms frame at a time. Every buffer is allocated when the
 * mixer is built: feeding and mixing a frame allocate nothing.
 */
import { FRAME_SAMPLES } from '../player/index.ts';

/** Most parties of one mixer (issue 16: caller, agent and one more). */
export const MIX_PARTIES = 3;
/** Frames a party may run ahead of the mixing clock before its oldest frame is dropped. */
const FIFO_FRAMES = 4;

/**
 * ```
 *  feed(p, G.711) ─▶ decode (256-entry table) ─▶ FIFO of p (4 × 160 samples)
 *  every 20 ms take(): one frame per party ─▶ input[p] (or silence, present[p] = 0)
 *  mixFor(r):  total = Σ input[p]               (computed once per frame, Int32)
 *              out   = total − input[r] − Σ input[q] for q ∉ hears(r)   ("minus own")
 *              saturated to ±32767 ─▶ Int16 frame ─▶ G.711 by the caller
 * ```
 */
export class Mixer {
  /** Bitmask of the parties each party hears (bit p = party p); never its own bit. */
  readonly hears = new Uint8Array(MIX_PARTIES);
  /** The frame of each party taken for the current mix. */
  readonly input: Int16Array[] = [];
  /** Whether a party had a frame for the current mix (else its input is silence). */
  readonly present = new Uint8Array(MIX_PARTIES);
  /** Frames dropped because a party ran more than the FIFO ahead. */
  overruns = 0;
  private readonly fifo: Int16Array[] = [];
  private readonly fifoHead = new Uint8Array(MIX_PARTIES);
  private readonly fifoCount = new Uint8Array(MIX_PARTIES);
  /** Samples of a party's partial frame written so far (packets need not be 20 ms). */
  private readonly fill = new Uint16Array(MIX_PARTIES);
  private readonly total = new Int32Array(FRAME_SAMPLES);

  constructor() {
    for (let p = 0; p < MIX_PARTIES; p++) {
      this.input.push(new Int16Array(FRAME_SAMPLES));
      this.fifo.push(new Int16Array(FRAME_SAMPLES * FIFO_FRAMES));
    }
  }

  /** Forget what party `p` queued (it joins or leaves). */
  clear(p: number): void {
    this.fifoHead[p] = 0;
    this.fifoCount[p] = 0;
    this.fill[p] = 0;
    this.present[p] = 0;
    this.input[p]!.fill(0);
  }

  /** Queue `len` G.711 octets of `payload` at `off` from party `p`, decoded through `table`. */
  feed(p: number, payload: Uint8Array, off: number, len: number, table: Int16Array): void {
    const fifo = this.fifo[p]!;
    for (let i = 0; i < len; i++) {
      if (this.fill[p] === 0 && this.fifoCount[p] === FIFO_FRAMES) {
        // Full: the oldest frame goes (the party's clock runs faster than ours, or a burst).
        this.fifoHead[p] = (this.fifoHead[p]! + 1) % FIFO_FRAMES;
        this.fifoCount[p]!--;
        this.overruns++;
      }
      const slot = (this.fifoHead[p]! + this.fifoCount[p]!) % FIFO_FRAMES;
      fifo[slot * FRAME_SAMPLES + this.fill[p]!] = table[payload[off + i]!]!;
      if (++this.fill[p]! === FRAME_SAMPLES) {
        this.fill[p] = 0;
        this.fifoCount[p]!++;
      }
    }
  }

  /** Take one frame of every party for the next mix; returns how many parties had one. */
  take(): number {
    let n = 0;
    const total = this.total;
    total.fill(0);
    for (let p = 0; p < MIX_PARTIES; p++) {
      const input = this.input[p]!;
      if (this.fifoCount[p] === 0) {
        if (this.present[p] !== 0) input.fill(0);
        this.present[p] = 0;
        continue;
      }
      const at = this.fifoHead[p]! * FRAME_SAMPLES;
      input.set(this.fifo[p]!.subarray(at, at + FRAME_SAMPLES));
      this.fifoHead[p] = (this.fifoHead[p]! + 1) % FIFO_FRAMES;
      this.fifoCount[p]!--;
      this.present[p] = 1;
      for (let i = 0; i < FRAME_SAMPLES; i++) total[i]! += input[i]!;
      n++;
    }
    return n;
  }

  /**
   * The current frame as party `r` hears it, into `out` (160 samples): the sum of every party
   * minus its own signal and minus the parties it does not hear, saturated to 16 bits.
   */
  mixFor(r: number, out: Int16Array): void {
    const total = this.total;
    const hears = this.hears[r]!;
    if (hears === 0) {
      out.fill(0);
      return;
    }
    // Two subtractions at most: its own signal, and the one other party it may not hear.
    let a: Int16Array | undefined;
    let b: Int16Array | undefined;
    for (let p = 0; p < MIX_PARTIES; p++) {
      if (this.present[p] === 0 || (p !== r && (hears & (1 << p)) !== 0)) continue;
      if (a === undefined) a = this.input[p];
      else b = this.input[p];
    }
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      let s = total[i]!;
      if (a !== undefined) s -= a[i]!;
      if (b !== undefined) s -= b[i]!;
      out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
    }
  }
}
