/**
 * The phases of one callback attempt and the one function that changes them (CONVENTIONS.md 17).
 *
 * ```
 *  claiming ──▶ ringing ──▶ dialing ──▶ talking ──▶ closing ──▶ closed
 *     │  ╲         ▲ │           │ ╲                     ▲
 *     │   ▶ previewing ─ accept  │  ▶ surveying ─────────┤   (mode preview; mode ivr: no agent)
 *     └────────────┴─┴───────────┴───────────────────────┘   (refused, skipped, agent not reached, customer not reached)
 * ```
 */

/**
 * Where an attempt is:
 * - `claiming`: the ACD offered the task to an agent; the store's `startAttempt` is under way;
 * - `previewing`: (mode preview) the task is on the agent's desktop, waiting for accept / skip /
 *   reschedule through the API (the ACD's ring timeout bounds it);
 * - `ringing`: the agent's phone rings with the screen pop (the ACD's ring timeout runs);
 * - `dialing`: the agent answered; the customer is being dialled, their early media relayed;
 * - `waiting`: (mode predictive) the customer answered first and waits for an agent (the ACD
 *   holds the task as an entry; after 2 s without one the customer hears "please hold");
 * - `connecting`: (mode predictive) an auto-answer agent's phone is rung for the waiting customer;
 * - `surveying`: (mode ivr) the customer answered; the campaign's IVR survey runs on their leg,
 *   no agent (engine/calls survey.ts);
 * - `talking`: the customer answered, agent and customer bridged;
 * - `closing`: the result is decided; legs released, the store's `finishAttempt` under way;
 * - `closed`: recorded (terminal).
 */
export type AttemptPhase = 'claiming' | 'previewing' | 'ringing' | 'dialing' | 'waiting' | 'connecting' | 'surveying' | 'talking' | 'closing' | 'closed';

/** Each phase's legal next phases, with the reason each edge exists. */
export const ATTEMPT_PHASE_NEXT: Readonly<Record<AttemptPhase, readonly AttemptPhase[]>> = {
  // Claimed → the agent is rung; refused (task no longer open), offer withdrawn meanwhile → closing.
  // Predictive: the customer is dialled before any agent → dialing.
  claiming: ['ringing', 'previewing', 'dialing', 'closing'],
  // Accepted → the agent's phone is rung; skipped, rescheduled, preview timed out → closing.
  previewing: ['ringing', 'closing'],
  // The agent answered → dialing; declined, ring timeout, no phone, no media → closing.
  ringing: ['dialing', 'closing'],
  // The customer answered → talking; busy, no answer, invalid, trunk error, agent hung up → closing.
  // Predictive: the customer answered first → waiting for an agent. IVR survey: → surveying.
  dialing: ['talking', 'waiting', 'surveying', 'closing'],
  // An agent offered → connecting; the customer hung up, the engine stopped → closing.
  waiting: ['connecting', 'closing'],
  // The auto-answer phone answered → talking; it failed or the offer lapsed → waiting again.
  connecting: ['talking', 'waiting', 'closing'],
  // The survey ended, the customer hung up, media died, the engine stopped → closing.
  surveying: ['closing'],
  // Either side hung up (or media died) → closing.
  talking: ['closing'],
  // The store recorded the result → closed.
  closing: ['closed'],
  closed: [],
};

/** Stable codes of {@link DialerError} (one registry, prefix `DIALER_ERR_`). */
export type DialerErrorCode =
  /** A phase change the table ({@link ATTEMPT_PHASE_NEXT}) does not allow: a bug, never input. */
  | 'DIALER_ERR_ILLEGAL_TRANSITION';

/** A programmer error in the dialer, with a stable code. */
export class DialerError extends Error {
  readonly code: DialerErrorCode;
  constructor(code: DialerErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'DialerError';
    this.code = code;
  }
}

/** Move `a` to `to`, or throw `DIALER_ERR_ILLEGAL_TRANSITION`. Returns the old phase. */
export function transition(a: { phase: AttemptPhase }, to: AttemptPhase): AttemptPhase {
  const from = a.phase;
  if (!ATTEMPT_PHASE_NEXT[from].includes(to)) throw new DialerError('DIALER_ERR_ILLEGAL_TRANSITION', `attempt phase ${from} → ${to} is not allowed`);
  a.phase = to;
  return from;
}
