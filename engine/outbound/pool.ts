/**
 * Which trunk a new call goes out on: the first, in configuration order, that is not already
 * tried for this call, has fewer than `maxConcurrent` calls in progress and a token in its
 * `callsPerSecond` bucket. The bucket is the SIP stack's own per-source admission
 * ({@link SourceAdmission}, one per trunk, keyed by the trunk id), so inbound and outbound call
 * rates are limited by the same rule: `callsPerSecond` a second, at most one second's worth
 * (`ceil(callsPerSecond)`, at least 1) at once.
 *
 * ```
 *   acquire(tried) ─▶ for each trunk in order:
 *                       tried? ─▶ next
 *                       active >= maxConcurrent? ─▶ next   (no token spent)
 *                       no token? ─▶ next
 *                       active++ ─▶ that trunk
 *                     none ─▶ undefined  (the call fails with trunk_error)
 *   release(id) ─▶ active--   (once per acquire: the dialer's leg guards it)
 * ```
 */
import { SourceAdmission } from '../sip/index.ts';

/** The limits of one trunk. */
export interface TrunkLimits {
  id: string;
  maxConcurrent: number;
  callsPerSecond: number;
}

/** Calls in progress on one trunk and its limit. */
export interface TrunkUtilisation {
  trunk: string;
  active: number;
  maxConcurrent: number;
}

interface Slot {
  readonly limits: TrunkLimits;
  readonly bucket: SourceAdmission;
  active: number;
}

/** Counters and buckets of the outbound trunks. Time is the injected monotonic clock's. */
export class TrunkPool {
  private readonly slots: Slot[];
  private readonly byId = new Map<string, Slot>();

  constructor(trunks: readonly TrunkLimits[], now: () => number) {
    this.slots = trunks.map((limits) => {
      const cps = limits.callsPerSecond;
      const burst = Math.max(1, Math.ceil(cps));
      // One source (the trunk id), one INVITE bucket; the request bucket and blocking never bite.
      const bucket = new SourceAdmission({
        now,
        limits: {
          invitesPerSecond: cps, inviteBurst: burst, requestsPerSecond: cps, requestBurst: burst,
          blockAfterDrops: Number.MAX_SAFE_INTEGER, maxSources: 1, maxBlockedSources: 1,
        },
      });
      const slot: Slot = { limits, bucket, active: 0 };
      this.byId.set(limits.id, slot);
      return slot;
    });
  }

  /** Take a call slot on the first trunk with room (see above); undefined when none has. */
  acquire(tried: ReadonlySet<string>): string | undefined {
    for (const s of this.slots) {
      if (tried.has(s.limits.id) || s.active >= s.limits.maxConcurrent) continue;
      if (s.bucket.admit(s.limits.id, 'INVITE') !== 'admit') continue;
      s.active++;
      return s.limits.id;
    }
    return undefined;
  }

  /** Give back a slot taken by {@link acquire}. */
  release(id: string): void {
    const s = this.byId.get(id);
    if (s === undefined || s.active === 0) throw new RangeError(`OUTBOUND: release of trunk '${id}' without a call in progress`);
    s.active--;
  }

  /** Calls in progress on `id` (0 for an unknown trunk). */
  active(id: string): number {
    return this.byId.get(id)?.active ?? 0;
  }

  /** Per trunk, in configuration order. */
  utilisation(): TrunkUtilisation[] {
    return this.slots.map((s) => ({ trunk: s.limits.id, active: s.active, maxConcurrent: s.limits.maxConcurrent }));
  }
}
