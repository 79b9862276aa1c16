/**
 * In-band DTMF detection on G.711 audio with the Goertzel algorithm, for E1 gateways that send
 * key presses as tones instead of RFC 4733 events.
 */
import { decodeTable } from '../codec/index.ts';
import type { G711 } from '../codec/index.ts';
import { DTMF_DIGITS, DigitQueue } from './digit.ts';
import type { DtmfDigit } from './digit.ts';

/** Options of a {@link GoertzelDetector}; every threshold has a telephony-typical default. */
export interface GoertzelOptions {
  /**
   * Samples per analysis block. 102 (12.75 ms at 8 kHz) puts each neighbouring DTMF frequency near
   * a null of the others' response (spandsp's choice) while keeping blocks short enough that a
   * 40 ms tone spans two whole blocks.
   */
  blockSize?: number;
  /** Weakest tone accepted, per frequency, as sine peak relative to full scale. Default -36 dBFS. */
  minLevelDbfs?: number;
  /** Most the high (column) tone may exceed the low (row) tone. Default 8 dB. */
  maxNormalTwistDb?: number;
  /** Most the low (row) tone may exceed the high (column) tone. Default 8 dB (±6 dB must pass). */
  maxReverseTwistDb?: number;
  /** How far the strongest tone of each group must stand above the others in it. Default 6 dB. */
  minRelativePeakDb?: number;
  /**
   * Share of the block's energy that the two tones must hold; rejects speech and music, whose
   * energy is spread. Default 0.6.
   */
  minToneShare?: number;
  /**
   * Consecutive steady blocks with the same digit before it counts (2 ≈ 25 ms). A block is steady
   * when its two halves hold about the same energy; a block only partly covered by a tone is not,
   * so 20 ms blips (never two steady blocks) are rejected while a 40 ms tone always covers two
   * whole blocks (ITU-T Q.24: operate at 40 ms, not below about 23 ms).
   */
  hitsToStart?: number;
  /** Most the energies of a block's two halves may differ for it to count as steady. Default 1.5 dB. */
  maxHalfDiffDb?: number;
  /** Consecutive blocks without it before the digit ends (2 tolerates one disturbed block). */
  missesToEnd?: number;
}

/** Row (low group) then column (high group) frequencies, Hz (ITU-T Q.23). */
const FREQUENCIES = [697, 770, 852, 941, 1209, 1336, 1477, 1633];
const SAMPLE_RATE = 8000;

/**
 * Detects DTMF key presses in a G.711 stream, one digit per press, reported once at its end with
 * its start time and duration. State carries across packets, so tones split over packets of any
 * size are fine. No allocation per packet: the eight Goertzel filters run sample by sample over
 * the decoded bytes.
 *
 * ```
 *          1209 1336 1477 1633 Hz
 *   697     1    2    3    A
 *   770     4    5    6    B
 *   852     7    8    9    C
 *   941     *    0    #    D
 * ```
 */
export class GoertzelDetector {
  private readonly n: number;
  private readonly coeff = new Float64Array(8);
  private readonly s1 = new Float64Array(8);
  private readonly s2 = new Float64Array(8);
  private readonly power = new Float64Array(8);
  private readonly minTone: number;
  private readonly normalTwist: number;
  private readonly reverseTwist: number;
  private readonly relativePeak: number;
  private readonly toneShare: number;
  private readonly hitsToStart: number;
  private readonly missesToEnd: number;
  private readonly maxHalfDiff: number;
  private firstHalfEnergy = 0;
  private readonly queue = new DigitQueue();
  private count = 0; // samples in the current block
  private energy = 0; // of the current block
  private blockStartMs = 0;
  // Debouncing: the candidate being confirmed and the digit being held.
  private candidate = -1;
  private candidateHits = 0;
  private candidateStartMs = 0;
  private digit = -1;
  private digitStartMs = 0;
  private digitEndMs = 0;
  private misses = 0;

  constructor(opts: GoertzelOptions = {}) {
    this.n = opts.blockSize ?? 102;
    for (let i = 0; i < 8; i++) this.coeff[i] = 2 * Math.cos((2 * Math.PI * FREQUENCIES[i]!) / SAMPLE_RATE);
    // A sine of peak A holds N·A²/2 of energy over N samples; 2|X|²/N estimates exactly that.
    const minAmplitude = 32768 * 10 ** ((opts.minLevelDbfs ?? -36) / 20);
    this.minTone = (this.n * minAmplitude * minAmplitude) / 2;
    this.normalTwist = 10 ** ((opts.maxNormalTwistDb ?? 8) / 10);
    this.reverseTwist = 10 ** ((opts.maxReverseTwistDb ?? 8) / 10);
    this.relativePeak = 10 ** ((opts.minRelativePeakDb ?? 6) / 10);
    this.toneShare = opts.minToneShare ?? 0.6;
    this.hitsToStart = opts.hitsToStart ?? 2;
    this.missesToEnd = opts.missesToEnd ?? 2;
    this.maxHalfDiff = 10 ** ((opts.maxHalfDiffDb ?? 1.5) / 10);
  }

  /**
   * Feed `len` G.711 bytes of `payload` from `offset`, whose first sample was captured at `nowMs`
   * (samples are 0.125 ms apart). Returns a digit that ended within this audio, if any; call
   * {@link poll} for more when a long buffer could hold several.
   */
  feed(payload: Buffer, offset: number, len: number, codec: G711, nowMs: number): DtmfDigit | undefined {
    const table = decodeTable(codec);
    const n = this.n;
    const c = this.coeff;
    const s1 = this.s1;
    const s2 = this.s2;
    if (this.count === 0) this.blockStartMs = nowMs;
    for (let i = 0; i < len; i++) {
      const x = table[payload[offset + i]!]!;
      this.energy += x * x;
      for (let k = 0; k < 8; k++) {
        const s0 = c[k]! * s1[k]! - s2[k]! + x;
        s2[k] = s1[k]!;
        s1[k] = s0;
      }
      if (++this.count === n >> 1) this.firstHalfEnergy = this.energy;
      if (this.count === n) {
        this.block(this.blockStartMs, nowMs + ((i + 1) * 1000) / SAMPLE_RATE);
        this.blockStartMs = nowMs + ((i + 1) * 1000) / SAMPLE_RATE;
      }
    }
    return this.queue.shift();
  }

  /** A queued digit, if a single `feed` completed more than one. */
  poll(): DtmfDigit | undefined {
    return this.queue.shift();
  }

  /** End of the stream: report a digit still being held, and start clean. */
  flush(): DtmfDigit | undefined {
    if (this.digit >= 0) this.end();
    this.candidate = -1;
    this.candidateHits = 0;
    this.count = 0;
    this.energy = 0;
    this.s1.fill(0);
    this.s2.fill(0);
    return this.queue.shift();
  }

  private block(startMs: number, endMs: number): void {
    const found = this.classify();
    const first = this.firstHalfEnergy;
    const second = this.energy - first;
    const steady = first <= second * this.maxHalfDiff && second <= first * this.maxHalfDiff;
    this.count = 0;
    this.energy = 0;
    this.s1.fill(0);
    this.s2.fill(0);

    if (this.digit >= 0) {
      if (found === this.digit) {
        this.misses = 0;
        this.digitEndMs = endMs;
        return;
      }
      if (++this.misses < this.missesToEnd) return;
      this.end();
    }
    if (found < 0) {
      this.candidate = -1;
      this.candidateHits = 0;
      return;
    }
    if (found !== this.candidate) {
      // The onset, possibly in a partly covered block: the digit's start time.
      this.candidate = found;
      this.candidateHits = 0;
      this.candidateStartMs = startMs;
    }
    if (steady) this.candidateHits++;
    if (this.candidateHits >= this.hitsToStart) {
      this.digit = found;
      this.digitStartMs = this.candidateStartMs;
      this.digitEndMs = endMs;
      this.misses = 0;
      this.candidate = -1;
      this.candidateHits = 0;
    }
  }

  private end(): void {
    this.queue.push({
      digit: DTMF_DIGITS[this.digit]!,
      startMs: this.digitStartMs,
      durationMs: this.digitEndMs - this.digitStartMs,
      source: 'inband',
    });
    this.digit = -1;
    this.misses = 0;
  }

  // The digit (index into DTMF_DIGITS) the finished block holds, or -1.
  private classify(): number {
    const p = this.power;
    const scale = 2 / this.n;
    for (let k = 0; k < 8; k++) {
      const a = this.s1[k]!;
      const b = this.s2[k]!;
      p[k] = (a * a + b * b - this.coeff[k]! * a * b) * scale;
    }
    let row = 0;
    for (let k = 1; k < 4; k++) if (p[k]! > p[row]!) row = k;
    let col = 4;
    for (let k = 5; k < 8; k++) if (p[k]! > p[col]!) col = k;
    const pr = p[row]!;
    const pc = p[col]!;
    if (pr < this.minTone || pc < this.minTone) return -1;
    if (pc > pr * this.normalTwist || pr > pc * this.reverseTwist) return -1;
    for (let k = 0; k < 8; k++) {
      if (k === row || k === col) continue;
      if (p[k]! * this.relativePeak > (k < 4 ? pr : pc)) return -1;
    }
    if (pr + pc < this.toneShare * this.energy) return -1;
    return KEYPAD[row * 4 + (col - 4)]!;
  }
}

// Row-major keypad → index into DTMF_DIGITS ('0123456789*#ABCD').
const KEYPAD = [1, 2, 3, 12, 4, 5, 6, 13, 7, 8, 9, 14, 10, 0, 11, 15];
