/**
 * Per-campaign call limits of the dialers that dial without agents (mode `ivr`): no agent paces
 * them, so each campaign bounds its own calls in progress and new calls per second (the trunks'
 * limits still apply after these, engine/outbound). Pure: the caller passes the time.
 */

/** One campaign's limits. */
export interface CallLimit {
  /** Whose limit (the campaign id). */
  key: string;
  /** Calls in progress (dialling, ringing or in the survey) at most. */
  maxConcurrent: number;
  /** New calls in any one second at most. */
  callsPerSecond: number;
}

/** Window of the calls-per-second count. */
const SECOND_MS = 1000;

/** Calls in progress and recent starts per key. */
export class CallLimits {
  private readonly inFlight = new Map<string, number>();
  /** Start times within the last second, oldest first (at most `callsPerSecond` each). */
  private readonly starts = new Map<string, number[]>();

  /** May a call of `limit` start at `now`? When it may, it is counted as started (release it when it ends). */
  admit(limit: CallLimit, now: number): boolean {
    const n = this.inFlight.get(limit.key) ?? 0;
    if (n >= limit.maxConcurrent) return false;
    let recent = this.starts.get(limit.key);
    if (recent === undefined) {
      recent = [];
      this.starts.set(limit.key, recent);
    }
    // Short arrays (callsPerSecond entries): dropping from the front is cheap here.
    while (recent.length > 0 && recent[0]! <= now - SECOND_MS) recent.shift();
    if (recent.length >= limit.callsPerSecond) return false;
    recent.push(now);
    this.inFlight.set(limit.key, n + 1);
    return true;
  }

  /** A call admitted for `key` ended. */
  release(key: string): void {
    const n = this.inFlight.get(key) ?? 0;
    if (n <= 1) this.inFlight.delete(key);
    else this.inFlight.set(key, n - 1);
  }

  /** Calls in progress for `key` (tests, figures). */
  inProgress(key: string): number {
    return this.inFlight.get(key) ?? 0;
  }
}
