/**
 * Wrap-up codes (dispositions, issue 15, contract C1): what the agent says the call was about,
 * chosen on the desktop during the call or its wrap-up, kept here by call id until the call's CDR
 * is written (call control writes an answered call's CDR when the agent's wrap-up ends, so the
 * agent has the whole wrap-up to choose), then stamped on it and forgotten.
 *
 * ```
 *  POST /agents/:id/wrap-up ─▶ Dispositions.set(callId) ─┐
 *  wrap-up ends (timer, "end wrap-up", logout) ─▶ controller.writeCdr ─▶ stamp(cdr) ─▶ outbox ─▶ CRM
 * ```
 */
import type { Cdr } from '../../crm-adapter/index.ts';

/** A chosen code and note. */
export interface Disposition {
  code: string;
  note: string | null;
}

/**
 * Most dispositions held at once. Each belongs to a call in progress or in wrap-up (the API
 * checks), so the bound is never reached in use; it only keeps a bug from growing the map.
 */
const MAX_HELD = 10_000;

/** Dispositions waiting for their CDR. */
export class Dispositions {
  readonly #held = new Map<string, Disposition>();

  /** Choose (or change) the call's disposition; the last choice before the CDR leaves wins. */
  set(callId: string, d: Disposition): void {
    this.#held.delete(callId);
    if (this.#held.size >= MAX_HELD) {
      const oldest = this.#held.keys().next();
      if (oldest.done !== true) this.#held.delete(oldest.value);
    }
    this.#held.set(callId, { code: d.code, note: d.note });
  }

  /** The disposition chosen for a call whose CDR has not left yet, or undefined. */
  get(callId: string): Disposition | undefined {
    return this.#held.get(callId);
  }

  /** The CDR with its disposition (null when none was chosen); the entry is forgotten. */
  stamp(cdr: Cdr): Cdr {
    const d = this.#held.get(cdr.callId);
    this.#held.delete(cdr.callId);
    // Only answered calls had an agent to choose one; other records stay as they were.
    if (d === undefined && cdr.agent === null) return cdr;
    return { ...cdr, disposition: d ?? null };
  }

  /** Dispositions held now. */
  get size(): number {
    return this.#held.size;
  }
}
