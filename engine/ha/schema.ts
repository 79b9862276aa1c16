/**
 * The lease table of the active-standby pair (component `ha` of `schema_migrations`), in the
 * PostgreSQL database the pair shares.
 */
import type { Migration } from '../db/index.ts';

/** Migrations of the `ha` component. */
export const PG_HA_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'active-standby lease with a fencing epoch',
    sql: `
-- One row per lease name. epoch goes up by one at every acquisition (never at a renewal): it is
-- the fencing token every durable write of the active checks (engine/ha/lease.ts).
CREATE TABLE ha_lease (
  name TEXT PRIMARY KEY,
  holder TEXT,
  epoch BIGINT NOT NULL DEFAULT 0,
  expires_at BIGINT NOT NULL DEFAULT 0,
  acquired_at BIGINT,
  renewed_at BIGINT
);
`,
  },
  {
    version: 2,
    name: 'fencing epoch in a row of its own',
    // The writes' fencing check locks this row FOR SHARE; were it the lease row, the holder's own
    // renewal (an UPDATE of that row) would wait behind its own long writes (a takeover's recovery)
    // and the lease could run out under them. Only an acquisition updates this row.
    sql: `
CREATE TABLE ha_fence (
  name TEXT PRIMARY KEY,
  epoch BIGINT NOT NULL DEFAULT 0
);
INSERT INTO ha_fence (name, epoch) SELECT name, epoch FROM ha_lease;
`,
  },
];
