/**
 * Attended transfer started from the agent's own phone (issue 16; docs/transfer.md, "From the
 * agent's phone"): what a desk phone's "transfer" key does.
 *
 * ```
 *  caller ══ A's phone          re-INVITE a=sendonly (hold: the caller hears its queue's music)
 *  A's phone ── INVITE sip:B@onair (a new dialog, from A's registered source) ──▶ onair
 *            ◀── 180 while B's phone rings (183 + SDP when B sends early media)
 *            ◀── 200 once B answered: A's new dialog ══ B (consult.ts, the ACD's consultStart)
 *  A's phone ── REFER (in the caller's dialog) Refer-To <sip:B@…?Replaces=<A-B dialog>> ──▶ 202, caller ══ B
 *  A's phone ── BYE (the A-B dialog) before a REFER ──▶ the consultation is cancelled, the caller stays held
 * ```
 *
 * Which call the INVITE consults about comes from where it was sent, never from its From or To: the
 * source (transport, address, port) must be the registered binding of the agent of a talking call
 * (contract C3, as feature codes). This module holds the pure rules of that path: the call it
 * belongs to, and the SIP answer to each refusal. consult.ts runs the consultation itself.
 */
import type { Endpoint } from '../sip/index.ts';
import type { AgentStatus } from '../acd/index.ts';
import type { AgentDirectory } from './types.ts';
import type { CallPhase } from './phase.ts';
import type { ConsultRefusal } from './consult.ts';

/** What {@link consultingCall} reads of a call in progress. */
export interface PhoneConsultCandidate {
  readonly phase: CallPhase;
  readonly agentId: string | null;
}

/**
 * The talking call whose agent's phone sent an INVITE from `source`, or undefined (the INVITE then
 * takes today's path). `isPhoneSource` first: one look-up, so a carrier's INVITE never walks the
 * calls. Two calls whose agents registered from the same source (two lines of one phone, both
 * talking) are not told apart by anything the phone proves: neither is taken.
 */
export function consultingCall<C extends PhoneConsultCandidate>(
  calls: Iterable<C>, source: Endpoint, agents: Pick<AgentDirectory, 'isPhoneSource' | 'isAgentSource'>,
): C | undefined {
  if (!agents.isPhoneSource(source)) return undefined;
  let found: C | undefined;
  for (const call of calls) {
    if (call.phase !== 'talking' || call.agentId === null || !agents.isAgentSource(call.agentId, source)) continue;
    if (found !== undefined) return undefined;
    found = call;
  }
  return found;
}

/** A SIP final answer. */
export interface PhoneAnswer {
  status: number;
  reason: string;
}

/** The answer to A's INVITE for each consultation refusal (RFC 3261 §21). */
export const PHONE_REFUSAL_STATUS: Readonly<Record<ConsultRefusal, PhoneAnswer>> = {
  CALLS_ERR_NO_CALL: { status: 481, reason: 'Call Does Not Exist' },
  CALLS_ERR_NOT_TALKING: { status: 481, reason: 'Call Does Not Exist' },
  CALLS_ERR_UNKNOWN_TARGET: { status: 404, reason: 'Not Found' },
  // Refined by {@link phoneRefusal}: a B that is not ready or has no phone is 480.
  CALLS_ERR_AGENT_BUSY: { status: 486, reason: 'Busy Here' },
  // A calling itself: it is busy, with this very call.
  CALLS_ERR_LOOP: { status: 486, reason: 'Busy Here' },
  // One consultation per call: a second INVITE while the first runs.
  CALLS_ERR_CONSULTING: { status: 486, reason: 'Busy Here' },
  CALLS_ERR_NO_CONSULT: { status: 481, reason: 'Call Does Not Exist' },
  CALLS_ERR_IN_CONFERENCE: { status: 486, reason: 'Busy Here' },
  CALLS_ERR_NO_CONFERENCE: { status: 481, reason: 'Call Does Not Exist' },
  CALLS_ERR_MEDIA: { status: 503, reason: 'No Media' },
  CALLS_ERR_MONITORED: { status: 486, reason: 'Busy Here' },
};

/**
 * The answer to A's INVITE when the consultation was refused: B busy (on a call, ringing, in
 * wrap-up) 486, B not ready or without a registered phone 480, no such agent 404.
 */
export function phoneRefusal(code: ConsultRefusal, b: { status: AgentStatus } | undefined, registered: boolean): PhoneAnswer {
  if (code === 'CALLS_ERR_AGENT_BUSY' && (!registered || b?.status !== 'available')) return { status: 480, reason: 'Temporarily Unavailable' };
  return PHONE_REFUSAL_STATUS[code];
}

/**
 * The answer to A's INVITE when B's phone was not reached: it declined (busy, decline) 486, else
 * (no answer, an error, unreachable) 480. `status` is B's final answer, undefined when there was none.
 */
export function phoneNotReached(status: number | undefined): PhoneAnswer {
  if (status === 486 || status === 600 || status === 603) return { status: 486, reason: 'Busy Here' };
  return { status: 480, reason: 'Temporarily Unavailable' };
}
