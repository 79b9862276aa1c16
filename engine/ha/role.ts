/**
 * The role of one node of an active-standby pair, as a state table (CONVENTIONS.md 17): each
 * role's legal inputs and the role they lead to, and one function that refuses anything else.
 *
 * ```
 *             acquired               activated
 *   standby ───────────▶ activating ───────────▶ active ──renewed──┐
 *      ▲                     │  ▲renewed            │ ◀────────────┘
 *      │                     │lost                  │lost
 *      │                     ▼                      ▼
 *      │                  fenced ◀──────────────────┘
 *      └─ (a restart)        │stop
 *   any ──stop──▶ stopped ◀──┘
 * ```
 * `fenced` is final for the process: its memory (queues, offers, registrations) belongs to the
 * epoch it lost, so it never bids again; a restart makes it a clean standby (docs/operations.md).
 */
import { HA_ERRORS, HaError } from './errors.ts';

/** Every role, in a stable order (metrics label values). */
export const HA_ROLES = ['standby', 'activating', 'active', 'fenced', 'stopped'] as const;
/** A node's role. Only `active` takes calls. */
export type HaRole = (typeof HA_ROLES)[number];

/** What moves a node between roles. */
export type HaInput = 'acquired' | 'activated' | 'renewed' | 'lost' | 'stop';

/** The state table: role → input → next role. A missing entry is an illegal transition. */
export const HA_TRANSITIONS: Readonly<Record<HaRole, Readonly<Partial<Record<HaInput, HaRole>>>>> = {
  standby: { acquired: 'activating', stop: 'stopped' },
  activating: { activated: 'active', renewed: 'activating', lost: 'fenced', stop: 'stopped' },
  active: { renewed: 'active', lost: 'fenced', stop: 'stopped' },
  fenced: { stop: 'stopped' },
  stopped: {},
};

/** The role after `input` in `role`; throws {@link HaError} `HA_ERR_INVALID_TRANSITION` when the table has no such edge. */
export function nextRole(role: HaRole, input: HaInput): HaRole {
  const next = HA_TRANSITIONS[role][input];
  if (next === undefined) throw new HaError(HA_ERRORS.invalidTransition, `${input} in role ${role}`);
  return next;
}
