/**
 * Agent state intervals → time per 15-minute bucket and category (pure). The engine emits an
 * `agent.state` event at every status or state change; the time from one change to the next is
 * filed under the category of the earlier one, split at bucket boundaries.
 */
import type { AgentState, AgentStatus } from '../acd/index.ts';
import { BUCKET_MS, bucketOf } from './measures.ts';

/** What an agent was doing from `since` on. */
export interface AgentSpell {
  since: number;
  status: AgentStatus;
  state: AgentState;
  reason: string | null;
}

/** A category of agent time: busy (reserved, on a call, wrap-up), idle (available), notReady. */
export type AgentTimeKind = 'busy' | 'idle' | 'notReady';

/** The category of a spell, or null while logged out (not staffed, not counted). */
export function agentTimeKind(status: AgentStatus, state: AgentState): AgentTimeKind | null {
  if (status === 'loggedOut') return null;
  if (state !== 'idle') return 'busy';
  return status === 'available' ? 'idle' : 'notReady';
}

/** One piece of agent time in one bucket. */
export interface AgentTimeSlice {
  bucket: number;
  kind: AgentTimeKind;
  /** The not-ready reason ('' otherwise, or when none was given). */
  reason: string;
  ms: number;
}

/** The slices of `spell` up to `until` (nothing for a logged-out spell or an empty span). */
export function sliceSpell(spell: AgentSpell, until: number): AgentTimeSlice[] {
  const kind = agentTimeKind(spell.status, spell.state);
  if (kind === null || until <= spell.since) return [];
  const reason = kind === 'notReady' ? spell.reason ?? '' : '';
  const out: AgentTimeSlice[] = [];
  let t = spell.since;
  while (t < until) {
    const b = bucketOf(t);
    const end = Math.min(until, b + BUCKET_MS);
    out.push({ bucket: b, kind, reason, ms: end - t });
    t = end;
  }
  return out;
}
