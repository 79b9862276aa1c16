/**
 * What a capacity refusal may write. Every refused INVITE gets its 503 either way; what is
 * bounded is the data a flood would otherwise turn into: one CDR per INVITE and a callback task
 * per spoofed number. Pure (inputs carry `now`), so it is tested alone.
 */
import type { RefusalSettings } from './types.ts';

/** Fewest and most digits of a caller number worth a callback (E.164 has at most 15; national prefixes add a few). */
const MIN_DIGITS = 3;
const MAX_DIGITS = 20;
/** Most numbers remembered for de-duplication; older ones are forgotten first. */
const MAX_REMEMBERED = 100_000;

/**
 * A number a callback could dial: digits with an optional leading `+`, 3 to 20 digits. Not
 * `anonymous`, empty, or a URI user part with letters or escapes (junk a flood sends).
 */
export function isPlausibleCaller(number: string): boolean {
  const start = number.charCodeAt(0) === 0x2b ? 1 : 0;
  const digits = number.length - start;
  if (digits < MIN_DIGITS || digits > MAX_DIGITS) return false;
  for (let i = start; i < number.length; i++) {
    const c = number.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/** What to write for one refusal. */
export interface RefusalVerdict {
  /** Write a CDR (the trunk's bucket had a token). */
  record: boolean;
  /** Also create a callback task (recorded, plausible number, not refused within the window). */
  callback: boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Token bucket per trunk plus a de-duplication window per number. */
export class RefusalRecorder {
  private readonly s: RefusalSettings;
  private readonly buckets = new Map<string, Bucket>();
  /** Number → when its last callback was captured; insertion order is age order. */
  private readonly seen = new Map<string, number>();

  constructor(settings: RefusalSettings) {
    this.s = settings;
  }

  /**
   * Decide for one refusal of `caller` on `trunk` at `now` (takes a token when recording).
   * `bounded` false skips the trunk's bucket (always a CDR; the callback still de-duplicated): for
   * a caller refused because the engine itself was behind (sojourn admission), whose INVITE
   * already passed the source's INVITE ceiling and whose record costs less than the call it
   * replaces, so that no such caller is left without a record.
   */
  admit(trunk: string, caller: string, now: number, bounded = true): RefusalVerdict {
    if (bounded) {
      let b = this.buckets.get(trunk);
      if (b === undefined) {
        b = { tokens: this.s.burst, at: now };
        this.buckets.set(trunk, b);
      }
      b.tokens = Math.min(this.s.burst, b.tokens + (Math.max(0, now - b.at) * this.s.recordsPerSecond) / 1000);
      b.at = now;
      if (b.tokens < 1) return { record: false, callback: false };
      b.tokens -= 1;
    }
    if (!isPlausibleCaller(caller)) return { record: true, callback: false };
    const last = this.seen.get(caller);
    if (last !== undefined && now - last < this.s.dedupeMs) return { record: true, callback: false };
    this.seen.delete(caller);
    this.seen.set(caller, now);
    if (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
    return { record: true, callback: true };
  }
}
