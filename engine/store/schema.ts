/**
 * Schema of the engine store (component `store` in `schema_migrations`).
 *
 * Outbox: one row per item; `outbox_lanes` has one row per call with pending items and the time
 * its head may next be tried. Picking due work reads the small lanes index instead of scanning a
 * backlog that can reach millions of rows during a CRM outage.
 */
import type { Migration } from '../db/index.ts';

/** Migrations of the engine store, in order. */
export const STORE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox, callbacks, call journal',
    sql: `
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  call_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('event', 'cdr')),
  payload TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE INDEX outbox_pending_by_call ON outbox (call_id, id) WHERE status = 'pending';
CREATE INDEX outbox_dead ON outbox (id) WHERE status = 'dead';

CREATE TABLE outbox_lanes (
  call_id TEXT PRIMARY KEY,
  next_attempt_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX outbox_lanes_due ON outbox_lanes (next_attempt_at);

CREATE TABLE callbacks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  caller TEXT NOT NULL,
  queue TEXT NOT NULL,
  reason TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'done', 'cancelled')),
  arrived_at INTEGER NOT NULL,
  last_arrival_at INTEGER NOT NULL,
  abandons INTEGER NOT NULL DEFAULT 1,
  first_call_id TEXT NOT NULL,
  last_call_id TEXT NOT NULL,
  dialled TEXT,
  programme TEXT,
  customer_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  claimed_by TEXT,
  claimed_at INTEGER,
  dial_attempts INTEGER NOT NULL DEFAULT 0,
  closed_at INTEGER,
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
  arrived_at INTEGER NOT NULL,
  ivr_exit_at INTEGER,
  queued_at INTEGER,
  offered_at INTEGER,
  answered_at INTEGER,
  offers INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE store_meta (
  key TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'callback attempts, attempt policy, do-not-call list',
    // SQLite cannot change a CHECK constraint in place: the callbacks table is rebuilt with the two
    // new final states and the policy's columns, every row copied (ids kept; v1 never deletes a
    // task, so AUTOINCREMENT's sequence is max(id) and goes on from there). v1 tasks are due at once.
    sql: `
CREATE TABLE callbacks_v2 (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  caller TEXT NOT NULL,
  queue TEXT NOT NULL,
  reason TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'done', 'cancelled', 'exhausted', 'expired')),
  arrived_at INTEGER NOT NULL,
  last_arrival_at INTEGER NOT NULL,
  abandons INTEGER NOT NULL DEFAULT 1,
  first_call_id TEXT NOT NULL,
  last_call_id TEXT NOT NULL,
  dialled TEXT,
  programme TEXT,
  customer_id TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  claimed_by TEXT,
  claimed_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_result TEXT,
  time_zone TEXT,
  closed_at INTEGER,
  note TEXT
);
INSERT INTO callbacks_v2 (id, caller, queue, reason, status, arrived_at, last_arrival_at, abandons, first_call_id, last_call_id,
  dialled, programme, customer_id, created_at, updated_at, claimed_by, claimed_at, attempts, next_attempt_at, closed_at, note)
SELECT id, caller, queue, reason, status, arrived_at, last_arrival_at, abandons, first_call_id, last_call_id,
  dialled, programme, customer_id, created_at, updated_at, claimed_by, claimed_at, dial_attempts, created_at, closed_at, note
FROM callbacks;
DROP TABLE callbacks;
ALTER TABLE callbacks_v2 RENAME TO callbacks;
-- One open task per number: the dedup rule, enforced by the database.
CREATE UNIQUE INDEX callbacks_active_caller ON callbacks (caller) WHERE status IN ('open', 'claimed');
CREATE INDEX callbacks_by_status ON callbacks (status, arrived_at, id);

-- Every attempt, kept: the history of a task, and what crash recovery finds unfinished.
CREATE TABLE callback_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL REFERENCES callbacks (id),
  call_id TEXT NOT NULL,
  agent_id TEXT,
  trunk TEXT,
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
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
  added_at INTEGER NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('api', 'import')),
  note TEXT
) WITHOUT ROWID;
`,
  },
  {
    version: 3,
    name: "call journal: the caller's treatment at the media capacity (CDR treatment, ringingMs)",
    // Media-aware admission (issue 13, contract C2): a caller held in 180 Ringing is journalled
    // as such, so that the CDR crash recovery writes says so too, with the ringing time until the
    // crash. Rows of calls in progress during the upgrade got media (the only treatment before).
    sql: `
ALTER TABLE call_journal ADD COLUMN treatment TEXT NOT NULL DEFAULT 'media' CHECK (treatment IN ('media', 'ringing', 'refused'));
ALTER TABLE call_journal ADD COLUMN ringing_since INTEGER;
ALTER TABLE call_journal ADD COLUMN ringing_ms INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 4,
    name: 'callback tasks carry their airing (surge mode dials the previous airing\'s first)',
    // Issue 18: "callbacks of the previous airing are finished first". Tasks created before the
    // upgrade have none: they are dialled as before, after those of the previous airing.
    sql: `
ALTER TABLE callbacks ADD COLUMN airing TEXT;
CREATE INDEX callbacks_open_by_airing ON callbacks (airing, arrived_at) WHERE status = 'open';
`,
  },
  {
    version: 5,
    name: 'call journal: the dialogs of a bridged call relayed by rtpengine (a new active ends it)',
    // Issue 19: a bridged call whose media rtpengine relays outlives the node that bridged it; the
    // row keeps what the next node needs to answer the phones' BYE and end the call (JSON, or NULL).
    sql: `
ALTER TABLE call_journal ADD COLUMN relay TEXT;
`,
  },
];
