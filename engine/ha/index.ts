/**
 * engine/ha — the active-standby pair on a shared PostgreSQL database (issue 19): the lease row
 * with its fencing epoch (lease.ts), the role state table (role.ts), the node that bids, renews
 * and fences itself (node.ts), the SIP gate of a node that is not active (gate.ts), and the
 * announcement to the proxies in front when a node becomes active (announce.ts).
 * docs/operations.md, "Running an active-standby pair".
 */
export { HA_ERRORS, HaError, type HaErrorCode } from './errors.ts';
export { HA_ROLES, HA_TRANSITIONS, nextRole, type HaRole, type HaInput } from './role.ts';
export { PG_HA_MIGRATIONS } from './schema.ts';
export { PgLease, type LeaseRow, type Acquired, type Held } from './lease.ts';
export { HaNode, type HaNodeOptions, type HaFigures, type HaFence, type HaLog } from './node.ts';
export { standbyGate, type Accepting } from './gate.ts';
export { ACTIVE_HEADER, Probers, announceActive, type ProbersOptions, type AnnounceUa, type Announced } from './announce.ts';
