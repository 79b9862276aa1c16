/**
 * Media-aware admission (issue 13): the engine's media capacity and the callers it holds in
 * `180 Ringing` without media when the capacity is reached. Pure (inputs carry `now`), so the
 * hold and promotion rule is tested alone; call control does the SIP and media around it.
 *
 * ```
 *  arrival ─▶ a stream free? ── yes ─▶ 'media'   (183/200 with SDP, IVR, hold audio)
 *                 │ no
 *                 ├─ trunk policy 'ringing' ─▶ 'ring'  (180 without SDP, queued, no RTP)
 *                 └─ trunk policy 'refuse'  ─▶ 'refuse' (503 + Retry-After, callback task)
 *  a stream frees (call ended or bridged) ─▶ the oldest held caller still waiting gets it
 *  an agent answers a held caller ─▶ it leaves the hold without taking a stream (bridged)
 *  held at the ringing limit ─▶ a free stream, else the trunk's `atRingingLimit`
 * ```
 *
 * A stream is a caller leg that plays IVR prompts or hold audio: 50 packets/s the media workers
 * send on their own clock. A bridged call relays the two phones' packets and is bounded by the
 * number of agents, so it does not count against the capacity.
 */
import type { Flow, MenuAction, OverloadPolicy } from './types.ts';
import { allHold } from './flow-conditions.ts';

/** The trunk policy when none is configured (the schema's defaults). */
export const DEFAULT_OVERLOAD_POLICY: Readonly<OverloadPolicy> = Object.freeze({
  whenMediaFull: 'ringing', maxRingingMs: 50_000, atRingingLimit: 'refuse',
});

/** What a new caller gets: media now, a place in ringing, or a refusal. */
export type ArrivalVerdict = 'media' | 'ring' | 'refuse';

/** What a held caller at its ringing limit gets. */
export type LimitVerdict = 'media' | 'refuse';

/** Figures for the gauges (`onair_calls_ringing_held`, `onair_media_streams_in_use`...). */
export interface MediaAdmissionFigures {
  /** Callers held in ringing now. */
  held: number;
  /** Streams given now (may exceed the capacity after `atRingingLimit: 'media'`). */
  inUse: number;
  /** The capacity in force; null = no limit. */
  capacity: number | null;
  /** Callers ever held in ringing since start. */
  heldTotal: number;
}

/**
 * Counts the streams in use and keeps the held callers in arrival order (a `Map`'s insertion
 * order: the oldest first, O(1) removal of any).
 */
export class MediaAdmission {
  /** The capacity in force; null = no limit. */
  readonly capacity: number | null;
  private inUse = 0;
  private heldTotal = 0;
  /** Held call id → when its hold began; insertion order is arrival order. */
  private readonly held = new Map<string, number>();

  constructor(capacity: number | null) {
    if (capacity !== null && !(Number.isInteger(capacity) && capacity > 0)) throw new RangeError('media capacity must be a positive integer or null');
    this.capacity = capacity;
  }

  private free(): boolean {
    return this.capacity === null || this.inUse < this.capacity;
  }

  /**
   * A new caller `id` at `now`: a stream when one is free, else held in ringing or refused by the
   * trunk's policy. A stream frees only through {@link streamEnded}, after which call control
   * runs {@link promote} at once: a stream still free on arrival is one no held caller could take
   * (each has an agent's phone ringing), so the newcomer gets it.
   */
  arrive(id: string, policy: Readonly<OverloadPolicy>, now: number): ArrivalVerdict {
    if (this.free()) {
      this.inUse++;
      return 'media';
    }
    if (policy.whenMediaFull === 'refuse') return 'refuse';
    this.held.set(id, now);
    this.heldTotal++;
    return 'ring';
  }

  /** True while `id` is held in ringing. */
  isHeld(id: string): boolean {
    return this.held.has(id);
  }

  /**
   * `id` leaves the hold without a stream (hung up, refused, answered by an agent). Returns how
   * long it was held, or undefined when it was not held.
   */
  leave(id: string, now: number): number | undefined {
    const since = this.held.get(id);
    if (since === undefined) return undefined;
    this.held.delete(id);
    return Math.max(0, now - since);
  }

  /** A stream given on arrival or by {@link promote} is no longer used (call ended or bridged). */
  streamEnded(): void {
    if (this.inUse > 0) this.inUse--;
  }

  /**
   * Give free streams to held callers, oldest first, skipping those `eligible` refuses (an agent's
   * phone rings for them: they are about to be bridged). Each one promoted leaves the hold and
   * holds a stream; returns them in order with how long each was held.
   */
  promote(now: number, eligible: (id: string) => boolean): { id: string; ringingMs: number }[] {
    const out: { id: string; ringingMs: number }[] = [];
    if (!this.free() || this.held.size === 0) return out;
    for (const [id, since] of this.held) {
      if (!this.free()) break;
      if (!eligible(id)) continue;
      this.held.delete(id);
      this.inUse++;
      out.push({ id, ringingMs: Math.max(0, now - since) });
    }
    return out;
  }

  /**
   * Held `id` reached its ringing limit: a free stream if there is one, else the policy's
   * `atRingingLimit` (`media` takes a stream over the capacity). The caller leaves the hold
   * either way. Undefined when `id` was not held.
   */
  atLimit(id: string, policy: Readonly<OverloadPolicy>, now: number): { verdict: LimitVerdict; ringingMs: number } | undefined {
    const ringingMs = this.leave(id, now);
    if (ringingMs === undefined) return undefined;
    if (this.free() || policy.atRingingLimit === 'media') {
      this.inUse++;
      return { verdict: 'media', ringingMs };
    }
    return { verdict: 'refuse', ringingMs };
  }

  /** Figures for the gauges. */
  figures(): MediaAdmissionFigures {
    return { held: this.held.size, inUse: this.inUse, capacity: this.capacity, heldTotal: this.heldTotal };
  }
}

/**
 * The queue a route's flow reaches when the caller presses nothing (every menu and collect step
 * times out, so no variable is set; branches are decided on that and on the time `now`, by the
 * rule the IVR itself runs): where a caller held in ringing waits, so that it keeps its place in
 * the ACD without hearing the IVR. `vip` picks a step's VIP queue. Null when that path ends
 * without a queue (a callback step, a hang-up, the flow's end, an unknown or circular `goto`).
 */
export function defaultQueueOf(flows: Readonly<Record<string, Flow>>, flowId: string, vip: boolean, now: number): string | null {
  const seen = new Set<string>();
  const noVars: Record<string, string> = Object.create(null) as Record<string, string>;
  let flow = Object.hasOwn(flows, flowId) ? flows[flowId] : undefined;
  while (flow && !seen.has(flow.id)) {
    seen.add(flow.id);
    let next: Flow | undefined;
    for (const step of flow.steps) {
      // A products step without input: its menus time out and the flow goes on.
      if (step.type === 'play' || step.type === 'menu' || step.type === 'collect' || step.type === 'products') continue;
      if (step.type === 'queue') return vip && step.vipQueue ? step.vipQueue : step.queue;
      let go: MenuAction | null = null;
      if (step.type === 'branch') {
        go = allHold(step.when, noVars, now) ? step.then : step.else;
        if (go === null) continue;
      } else if (step.type === 'query') {
        // No order number keyed: an order query finds nothing (query.ts); a promotion is assumed found (the next step).
        go = step.kind === 'promotion' ? null : step.notFound;
        if (go === null) continue;
      } else if (step.type === 'goto') go = { type: 'flow', flow: step.flow };
      if (go?.type === 'queue') return vip && go.vipQueue ? go.vipQueue : go.queue;
      if (go?.type === 'flow') next = Object.hasOwn(flows, go.flow) ? flows[go.flow] : undefined;
      break;
    }
    if (next === undefined) return null;
    flow = next;
  }
  return null;
}
