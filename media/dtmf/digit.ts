/** DTMF digits as reported to the engine, shared by the RFC 4733 receiver and the in-band detector. */

/** One detected key press, reported once, after it ended. */
export interface DtmfDigit {
  /** `0`-`9`, `*`, `#`, `A`-`D`. */
  digit: string;
  /** When the tone started, on the caller's clock (`nowMs` passed in). */
  startMs: number;
  /** How long the key was held, in ms. */
  durationMs: number;
  /** How it arrived: telephone-event packets or tones inside the audio. */
  source: 'rfc4733' | 'inband';
}

/** RFC 4733 §3.2 event codes 0..15 in order: the digit for each code. */
export const DTMF_DIGITS = '0123456789*#ABCD';

/** RFC 4733 event code of a digit (`'*'` → 10), or -1 for anything that is not a DTMF digit. */
export function digitToEvent(digit: string): number {
  return digit.length === 1 ? DTMF_DIGITS.indexOf(digit.toUpperCase()) : -1;
}

/**
 * A small fixed ring of digits waiting to be handed out (a packet or audio block can complete more
 * than one). When full, later digits are dropped: a flood of key presses is not worth memory.
 */
export class DigitQueue {
  private readonly items: (DtmfDigit | undefined)[];
  private head = 0;
  private count = 0;

  constructor(capacity = 8) {
    this.items = new Array<DtmfDigit | undefined>(capacity).fill(undefined);
  }

  /** Number of queued digits. */
  get length(): number {
    return this.count;
  }

  /** Queue a digit; false when the queue is full and the digit was dropped. */
  push(digit: DtmfDigit): boolean {
    if (this.count === this.items.length) return false;
    this.items[(this.head + this.count) % this.items.length] = digit;
    this.count++;
    return true;
  }

  /** The oldest queued digit, or undefined. */
  shift(): DtmfDigit | undefined {
    if (this.count === 0) return undefined;
    const d = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count--;
    return d;
  }

  /** Drop everything. */
  clear(): void {
    while (this.count > 0) this.shift();
  }
}
