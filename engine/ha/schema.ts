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
];
