/**
 * The phases of an inbound call and the one function that changes them (CONVENTIONS.md 17).
 *
 * ```
 *  setup ──▶ ivr ──▶ queued ⇄ offering ──▶ talking ──▶ ended     (talking ──▶ queued: blind transfer)
 *                      ▲                       │                (talking ──▶ external ──▶ ended:
 *                      └────── external ◀──────┘                 transfer to a number; not reached ──▶ queued)
 *    │        │        │         │                      ▲
 *    │        └────────┴─────────┴──▶ closing ──────────┤   (a last prompt, then we hang up)
 *    └────────┴────────┴─────────┴──────────────────────┘   (hang-up, failure, rejection)
 * ```
 */
import { CallsError } from './errors.ts';

/**
 * Where a call is in its life:
 * - `setup`: admitted; CRM look-up, media leg and SDP answer under way;
 * - `ivr`: prompts and menus choose the queue;
 * - `queued`: waiting in an ACD queue with hold audio;
 * - `offering`: an agent's phone rings (still in the ACD, ring timeout running);
 * - `talking`: caller and agent bridged;
 * - `external`: transferred to an external number through an outbound trunk (dialling it, then
 *   bridged to it); the ACD no longer holds the call;
 * - `closing`: the engine is sending the caller away with a last prompt (callback confirmed, the
 *   queue released or refused them); the outcome is decided, a hang-up now does not change it;
 * - `ended`: over (terminal).
 */
export type CallPhase = 'setup' | 'ivr' | 'queued' | 'offering' | 'talking' | 'external' | 'closing' | 'ended';

/** Each phase's legal next phases, with the reason each edge exists. */
export const CALL_PHASE_NEXT: Readonly<Record<CallPhase, readonly CallPhase[]>> = {
  // Media and SDP are ready → the IVR runs. Blacklist, no SDP, no media leg, caller CANCEL → ended.
  setup: ['ivr', 'ended'],
  // A queue step or menu choice → queued; a callback request → closing; hang-up, flow end → ended.
  ivr: ['queued', 'closing', 'ended'],
  // The ACD offers an agent → offering; callback accepted, max wait, queue full → closing.
  queued: ['offering', 'closing', 'ended'],
  // Ring-no-answer, decline, withdrawn offer → queued (the ACD put it back at the head); answered
  // → talking; the caller accepts a callback while a phone rings → closing.
  offering: ['queued', 'talking', 'closing', 'ended'],
  // Either side hangs up (or media dies) → ended.
  // A blind transfer (REFER from the agent's phone, transfer.ts) → queued in the target queue.
  // An API transfer to a number (transfer.ts) → external.
  talking: ['queued', 'external', 'ended'],
  // The number was not reached → queued again (priority and arrival kept); either side hangs up → ended.
  external: ['queued', 'ended'],
  // The last prompt ended or the caller hung up during it → ended.
  closing: ['ended'],
  ended: [],
};

/** The part of a call the transition looks at. */
export interface Phased {
  phase: CallPhase;
}

/**
 * Move `call` to phase `to`, or throw {@link CallsError} `CALLS_ERR_ILLEGAL_TRANSITION` when the
 * table does not allow it (a bug in call control, never a network input). Returns the old phase.
 */
export function transition(call: Phased, to: CallPhase): CallPhase {
  const from = call.phase;
  if (!CALL_PHASE_NEXT[from].includes(to)) throw new CallsError('CALLS_ERR_ILLEGAL_TRANSITION', `call phase ${from} → ${to} is not allowed`);
  call.phase = to;
  return from;
}

/** True when the phase is terminal. */
export function isEnded(call: Phased): boolean {
  return call.phase === 'ended';
}
