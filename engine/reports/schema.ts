/**
 * Schema of the reports (component `reports` in `schema_migrations`, in the engine's database).
 *
 * ```
 *  report_calls            one row per call id: its key and contribution (replaced on correction)
 *  report_intervals        15-min bucket × queue × programme × airing × direction: summed figures
 *  report_agent_intervals  the same with the agent: agent and team reports read this one
 *  report_days             report_intervals rolled up to UTC days (bucket = the day's start):
 *                          the whole days of a day or range report read this one
 *  report_agent_days       report_agent_intervals rolled up to UTC days by agent × queue ×
 *                          direction (no programme, no airing): agent and team reports over days
 *  report_agent_time       15-min bucket × agent × kind (busy, idle, notReady) × reason: ms
 *  report_agent_current    each agent's open state spell (so a restart loses no time)
 * ```
 * Two interval tables instead of one: a month report by queue and programme scans the small one;
 * the agent dimension multiplies rows by the number of agents. The agent day table leaves out
 * programme and airing because an airing lies inside one day: with them it would hold nearly a
 * row per agent and airing, hardly fewer than the 15-minute table (migration 3).
 */
import type { Migration } from '../db/index.ts';

/** `answeredInSl` → `answered_in_sl`. */
export function column(measure: string): string {
  let out = '';
  for (const ch of measure) out += ch >= 'A' && ch <= 'Z' ? `_${ch.toLowerCase()}` : ch;
  return out;
}

// The measures of version 1, frozen: a new measure is a new migration (ALTER TABLE ... ADD COLUMN;
// reports.test.ts checks that every measure has its column).
const V1_MEASURES = [
  'records', 'offered', 'answered', 'answeredInSl', 'queued', 'waitMs', 'answerWaitMs',
  'abandonedIvr', 'abandonedQueue', 'abandonedRinging', 'abandonIvrMs', 'abandonQueueMs', 'abandonRingingMs',
  'handled', 'talkMs', 'acwMs', 'holdMs', 'transfers',
  'callbacksCaptured', 'callbacksReached', 'callbackReachN', 'callbackReachMs',
  'blacklistRejections', 'capacityRejections', 'waitMaxMs', 'abandonMaxMs',
] as const;
const FIGURES = V1_MEASURES.map((m) => `${column(m)} INTEGER NOT NULL DEFAULT 0`).join(',\n  ');
/** The tables that carry every figure (in version 2). */
const FIGURE_TABLES = ['report_calls', 'report_intervals', 'report_agent_intervals', 'report_days'] as const;
// The measures of version 3, frozen like V1_MEASURES.
const V3_MEASURES = [...V1_MEASURES, 'completedIvr'] as const;
const V3_MAX = new Set<string>(['waitMaxMs', 'abandonMaxMs']);
const AGENT_DAY_KEY = 'agent, queue, direction';

/** Migrations of the reports, in order. */
export const REPORT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'interval tables, per-call contributions, agent time',
    sql: `
CREATE TABLE report_calls (
  call_id TEXT PRIMARY KEY,
  bucket INTEGER NOT NULL, queue TEXT NOT NULL, agent TEXT NOT NULL, programme TEXT NOT NULL, airing TEXT NOT NULL, direction TEXT NOT NULL,
  ${FIGURES}
) WITHOUT ROWID;
CREATE INDEX report_calls_bucket ON report_calls (bucket);
CREATE TABLE report_intervals (
  bucket INTEGER NOT NULL, queue TEXT NOT NULL, programme TEXT NOT NULL, airing TEXT NOT NULL, direction TEXT NOT NULL,
  ${FIGURES},
  PRIMARY KEY (bucket, queue, programme, airing, direction)
) WITHOUT ROWID;
CREATE TABLE report_agent_intervals (
  bucket INTEGER NOT NULL, agent TEXT NOT NULL, queue TEXT NOT NULL, programme TEXT NOT NULL, airing TEXT NOT NULL, direction TEXT NOT NULL,
  ${FIGURES},
  PRIMARY KEY (bucket, agent, queue, programme, airing, direction)
) WITHOUT ROWID;
CREATE TABLE report_days (
  bucket INTEGER NOT NULL, queue TEXT NOT NULL, programme TEXT NOT NULL, airing TEXT NOT NULL, direction TEXT NOT NULL,
  ${FIGURES},
  PRIMARY KEY (bucket, queue, programme, airing, direction)
) WITHOUT ROWID;
CREATE TABLE report_agent_time (
  bucket INTEGER NOT NULL, agent TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL, ms INTEGER NOT NULL,
  PRIMARY KEY (bucket, agent, kind, reason)
) WITHOUT ROWID;
CREATE TABLE report_agent_current (
  agent TEXT PRIMARY KEY, since INTEGER NOT NULL, status TEXT NOT NULL, state TEXT NOT NULL, reason TEXT
);
`,
  },
  {
    version: 2,
    // Records filed before it count 0 callers served by the IVR (report_calls keeps no outcome to recompute from).
    name: 'completed_ivr: callers served by the IVR',
    sql: FIGURE_TABLES.map((t) => `ALTER TABLE ${t} ADD COLUMN completed_ivr INTEGER NOT NULL DEFAULT 0;`).join('\n'),
  },
  {
    version: 3,
    // The index by the whole key: a correction recomputes its group's maxima from that group's
    // calls alone (by bucket alone it read every call of the bucket). Filled from the 15-minute
    // agent table, so a database upgraded with records in it reports the same figures.
    name: 'report_agent_days; report_calls indexed by the whole key',
    sql: `
DROP INDEX report_calls_bucket;
CREATE INDEX report_calls_key ON report_calls (bucket, agent, queue, programme, airing, direction);
CREATE TABLE report_agent_days (
  bucket INTEGER NOT NULL, agent TEXT NOT NULL, queue TEXT NOT NULL, direction TEXT NOT NULL,
  ${V3_MEASURES.map((m) => `${column(m)} INTEGER NOT NULL DEFAULT 0`).join(',\n  ')},
  PRIMARY KEY (bucket, ${AGENT_DAY_KEY})
) WITHOUT ROWID;
INSERT INTO report_agent_days (bucket, ${AGENT_DAY_KEY}, ${V3_MEASURES.map(column).join(', ')})
  SELECT bucket - bucket % 86400000 AS day, ${AGENT_DAY_KEY}, ${V3_MEASURES.map((m) => `${V3_MAX.has(m) ? 'max' : 'sum'}(${column(m)})`).join(', ')}
  FROM report_agent_intervals GROUP BY day, ${AGENT_DAY_KEY};
`,
  },
];
