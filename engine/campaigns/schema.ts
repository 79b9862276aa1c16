/**
 * Tables of outbound campaigns (component `campaigns` in `schema_migrations`): the campaigns, their
 * contacts and the contacts' attempts. `campaign_contacts` and `campaign_attempts` have the shape
 * of `callbacks` and `callback_attempts` (engine/store) so that the same attempt rules, policy and
 * crash recovery (`SqliteCallbacks` over other tables) serve both, plus the campaign's columns.
 */
import type { Migration } from '../db/index.ts';

/** The component's migrations, in order. */
export const CAMPAIGN_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'campaigns, contacts (callback task shape + custom fields, disposition), attempts',
    sql: `
CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('survey', 'resale', 'care')),
  mode TEXT NOT NULL CHECK (mode IN ('preview', 'progressive')),
  queue TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'paused' CHECK (state IN ('paused', 'running', 'stopped')),
  -- JSON: schedule, timeZone, script, resultCodes, pauseWhenInboundWaiting, callerId, fields.
  definition TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE campaign_contacts (
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
  note TEXT,
  campaign_id TEXT NOT NULL REFERENCES campaigns (id),
  -- JSON object of the import's custom columns.
  fields TEXT NOT NULL DEFAULT '{}',
  disposition_code TEXT,
  disposition_note TEXT,
  disposition_agent TEXT,
  disposition_at INTEGER
);
-- A customer is open in at most one campaign at a time (and SqliteCallbacks' upsert needs it).
CREATE UNIQUE INDEX campaign_contacts_active_caller ON campaign_contacts (caller) WHERE status IN ('open', 'claimed');
CREATE INDEX campaign_contacts_by_status ON campaign_contacts (status, arrived_at, id);
CREATE INDEX campaign_contacts_by_campaign ON campaign_contacts (campaign_id, status);

CREATE TABLE campaign_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id INTEGER NOT NULL REFERENCES campaign_contacts (id),
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
CREATE INDEX campaign_attempts_by_task ON campaign_attempts (task_id, id);
CREATE UNIQUE INDEX campaign_attempts_in_progress ON campaign_attempts (task_id) WHERE ended_at IS NULL;
`,
  },
  {
    version: 2,
    name: 'campaign modes predictive and ivr (a rebuild: SQLite changes a CHECK no other way), survey answers per contact, the task shape\'s airing',
    // Run with foreign keys off (CampaignStore): the contacts reference `campaigns` by name, and
    // the renamed table takes the old one's place under them.
    sql: `
CREATE TABLE campaigns_v2 (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('survey', 'resale', 'care')),
  mode TEXT NOT NULL CHECK (mode IN ('preview', 'progressive', 'predictive', 'ivr')),
  queue TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'paused' CHECK (state IN ('paused', 'running', 'stopped')),
  -- JSON: schedule, timeZone, script, resultCodes, pauseWhenInboundWaiting, callerId, fields,
  -- survey, maxConcurrent, callsPerSecond.
  definition TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO campaigns_v2 (id, name, type, mode, queue, state, definition, created_at, updated_at)
  SELECT id, name, type, mode, queue, state, definition, created_at, updated_at FROM campaigns;
DROP TABLE campaigns;
ALTER TABLE campaigns_v2 RENAME TO campaigns;
-- JSON object: question (the survey's collect variable) -> digits keyed, or null when not answered.
ALTER TABLE campaign_contacts ADD COLUMN survey_answers TEXT;
-- The callback task shape (engine/store schema version 4): contacts come from no airing.
ALTER TABLE campaign_contacts ADD COLUMN airing TEXT;
`,
  },
];
