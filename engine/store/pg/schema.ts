/**
 * Schema of the engine store on PostgreSQL: component `store` (and `bindings`) in
 * `schema_migrations`, numbered as STORE_MIGRATIONS / BINDING_MIGRATIONS on SQLite with the same
 * meaning per version, so that "store version 3" names the same tables on both. Times are epoch ms
 * in BIGINT, ids are identity columns, payloads are the same JSON text the SQLite outbox keeps.
 */
import type { Migration } from '../../db/index.ts';

/** Migrations of the engine store on PostgreSQL, in order (same versions as STORE_MIGRATIONS). */
export const PG_STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox, callbacks, call journal',
    sql: `
CREATE TABLE outbox (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  call_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('event', 'cdr')),
  payload TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
  created_at BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL,
  last_error TEXT
);
CREATE INDEX outbox_pending_by_call ON outbox (call_id, id) WHERE status = 'pending';
CREATE INDEX outbox_dead ON outbox (id) WHERE status = 'dead';

CREATE TABLE outbox_lanes (
  call_id TEXT PRIMARY KEY,
  next_attempt_at BIGINT NOT NULL
);
-- call_id in the index: due() reads the lanes in (next_attempt_at, call_id) order without a sort.
CREATE INDEX outbox_lanes_due ON outbox_lanes (next_attempt_at, call_id);

CREATE TABLE callbacks (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  caller TEXT NOT NULL,
  queue TEXT NOT NULL,
  reason TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open' CONSTRAINT callbacks_status CHECK (status IN ('open', 'claimed', 'done', 'cancelled')),
  arrived_at BIGINT NOT NULL,
  last_arrival_at BIGINT NOT NULL,
  abandons INTEGER NOT NULL DEFAULT 1,
  first_call_id TEXT NOT NULL,
  last_call_id TEXT NOT NULL,
  dialled TEXT,
  programme TEXT,
  customer_id TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  claimed_by TEXT,
  claimed_at BIGINT,
  dial_attempts INTEGER NOT NULL DEFAULT 0,
  closed_at BIGINT,
  note TEXT
);
-- One open task per number: the dedup rule, enforced by the database.
CREATE UNIQUE INDEX callbacks_active_caller ON callbacks (caller) WHERE status IN ('open', 'claimed');
CREATE INDEX callbacks_by_status ON callbacks (status, arrived_at, id);

CREATE TABLE call_journal (
  call_id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  caller TEXT NOT NULL,
  dialled TEXT NOT NULL,
  programme TEXT,
  airing TEXT,
  customer_id TEXT,
  queue TEXT,
  agent TEXT,
  arrived_at BIGINT NOT NULL,
  ivr_exit_at BIGINT,
  queued_at BIGINT,
  offered_at BIGINT,
  answered_at BIGINT,
  offers INTEGER NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL
);

CREATE TABLE store_meta (
  key TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'callback attempts, attempt policy, do-not-call list',
    // PostgreSQL changes a CHECK constraint and adds columns in place (no table rebuild as on SQLite).
    sql: `
ALTER TABLE callbacks DROP CONSTRAINT callbacks_status;
ALTER TABLE callbacks ADD CONSTRAINT callbacks_status CHECK (status IN ('open', 'claimed', 'done', 'cancelled', 'exhausted', 'expired'));
ALTER TABLE callbacks RENAME COLUMN dial_attempts TO attempts;
ALTER TABLE callbacks ADD COLUMN next_attempt_at BIGINT;
UPDATE callbacks SET next_attempt_at = created_at;
ALTER TABLE callbacks ALTER COLUMN next_attempt_at SET NOT NULL;
ALTER TABLE callbacks ADD COLUMN last_result TEXT;
ALTER TABLE callbacks ADD COLUMN time_zone TEXT;

-- Every attempt, kept: the history of a task, and what crash recovery finds unfinished.
CREATE TABLE callback_attempts (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id BIGINT NOT NULL REFERENCES callbacks (id),
  call_id TEXT NOT NULL,
  agent_id TEXT,
  trunk TEXT,
  started_at BIGINT NOT NULL,
  ended_at BIGINT,
  result TEXT,
  sip_status INTEGER,
  note TEXT,
  CHECK ((ended_at IS NULL) = (result IS NULL))
);
CREATE INDEX callback_attempts_by_task ON callback_attempts (task_id, id);
-- At most one attempt in progress per task.
CREATE UNIQUE INDEX callback_attempts_in_progress ON callback_attempts (task_id) WHERE ended_at IS NULL;

CREATE TABLE dnc (
  number TEXT PRIMARY KEY,
  added_at BIGINT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('api', 'import')),
  note TEXT
);
`,
  },
  {
    version: 3,
    name: "call journal: the caller's treatment at the media capacity (CDR treatment, ringingMs)",
    sql: `
ALTER TABLE call_journal ADD COLUMN treatment TEXT NOT NULL DEFAULT 'media' CHECK (treatment IN ('media', 'ringing', 'refused'));
ALTER TABLE call_journal ADD COLUMN ringing_since BIGINT;
ALTER TABLE call_journal ADD COLUMN ringing_ms BIGINT NOT NULL DEFAULT 0;
`,
  },
  {
    version: 4,
    name: 'callback tasks carry their airing (surge mode dials the previous airing\'s first)',
    sql: `
ALTER TABLE callbacks ADD COLUMN airing TEXT;
CREATE INDEX callbacks_open_by_airing ON callbacks (airing, arrived_at) WHERE status = 'open';
`,
  },
  {
    version: 5,
    name: 'call journal: the dialogs of a bridged call relayed by rtpengine (a new active ends it)',
    sql: `
ALTER TABLE call_journal ADD COLUMN relay TEXT;
`,
  },
];

/** Migrations of the `bindings` component on PostgreSQL (same versions as BINDING_MIGRATIONS). */
export const PG_BINDING_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'agent registrations',
    sql: `
CREATE TABLE agent_bindings (
  agent_id TEXT NOT NULL,
  contact TEXT NOT NULL,
  transport TEXT NOT NULL CHECK (transport IN ('UDP', 'TCP', 'TLS')),
  address TEXT NOT NULL,
  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
  expires_at BIGINT NOT NULL,
  call_id TEXT NOT NULL,
  cseq BIGINT NOT NULL,
  instance_id TEXT,
  registered_at BIGINT NOT NULL,
  PRIMARY KEY (agent_id, contact)
);
CREATE INDEX agent_bindings_expiry ON agent_bindings (expires_at);
`,
  },
  {
    version: 2,
    name: 'the Path of a registration (RFC 3327)',
    sql: `ALTER TABLE agent_bindings ADD COLUMN path TEXT;`,
  },
];
