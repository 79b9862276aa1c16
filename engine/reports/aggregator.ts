/**
 * The interval tables on SQLite: incremental aggregation of every call record the engine
 * accepts, and agent time from state changes.
 *
 * ```
 *  CDR ─contribution()─▶ key + figures ─┬─ report_calls (by call id: replaced on correction)
 *                                        ├─ report_agent_intervals  += figures ─▶ report_agent_days
 *                                        └─ report_intervals        += figures ─▶ report_days
 *  corrected CDR: old sums subtracted from the old key's rows; a maximum the old record held is
 *  recomputed from the level below (calls ▶ agent intervals ▶ intervals and agent days,
 *  intervals ▶ days); then the new figures are added (a late or corrected record counts once).
 * ```
 * Runs inside the caller's transaction (the outbox append of the CDR): a record is in the
 * reports exactly when it is in the outbox. A failure of the reports is caught and reported to
 * `onError` and must never cost the CDR itself (the write is its own savepoint).
 */
import { migrate, transact, type SqliteDatabase, type SqliteStatement, type SqliteWriter } from '../db/index.ts';
import { sliceSpell, type AgentSpell } from './agent-time.ts';
import {
  BUCKET_MS, MAX_MEASURES, SUM_MEASURES, contribution, zeroFigures, type Figures, type MeasureContext, type RecordKey, type ReportCdr,
} from './measures.ts';
import { REPORT_MIGRATIONS, column } from './schema.ts';
import type { AgentState, AgentStatus } from '../acd/index.ts';

const DAY_MS = 86_400_000;
const SUM_COLS = SUM_MEASURES.map(column);
const MAX_COLS = MAX_MEASURES.map(column);
const FIG_COLS = [...SUM_COLS, ...MAX_COLS];
const COARSE_KEY = ['bucket', 'queue', 'programme', 'airing', 'direction'] as const;
const AGENT_KEY = ['bucket', 'agent', 'queue', 'programme', 'airing', 'direction'] as const;
/** report_agent_days: no programme, no airing (schema.ts, migration 3). */
const AGENT_DAY_KEY = ['bucket', 'agent', 'queue', 'direction'] as const;
type KeyCol = typeof AGENT_KEY[number];

/**
 * The tables above report_calls, each with its key and where its maxima are recomputed from when
 * a correction removes a record that held one. Order matters: a table's source comes before it.
 */
const TABLES: readonly { table: string; key: readonly KeyCol[]; day: boolean; source: string }[] = [
  { table: 'report_agent_intervals', key: AGENT_KEY, day: false, source: 'report_calls' },
  { table: 'report_intervals', key: COARSE_KEY, day: false, source: 'report_agent_intervals' },
  { table: 'report_days', key: COARSE_KEY, day: true, source: 'report_intervals' },
  { table: 'report_agent_days', key: AGENT_DAY_KEY, day: true, source: 'report_agent_intervals' },
];

/** A row of report_calls. */
type CallRow = Record<string, number | string>;

/** Options of {@link SqliteReports}. */
export interface SqliteReportsOptions {
  db: SqliteDatabase;
  writer: SqliteWriter;
  context: MeasureContext;
  /** A failed reports write (logged by the caller); the CDR's own write goes on. */
  onError?: (err: unknown, what: string) => void;
  /** Time stamped on applied migrations. Default Date.now(). */
  now?: number;
}

/** An agent's status or state change as the engine emits it (`agent.state`). */
export interface AgentStateChange {
  agentId: string;
  status: AgentStatus;
  state: AgentState;
  reason: string | null;
  at: number;
}

function upsertSql(table: string, key: readonly string[]): string {
  const cols = [...key, ...FIG_COLS];
  const sets = [
    ...SUM_COLS.map((c) => `${c} = ${c} + excluded.${c}`),
    ...MAX_COLS.map((c) => `${c} = max(${c}, excluded.${c})`),
  ];
  return `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
    ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${sets.join(', ')}`;
}

/**
 * After a record left the row of `key` in `table`: each maximum the record held (the row's value
 * equals the record's `@old_<col>`, and is not 0) is recomputed from the rows of `source` under
 * that key; any other maximum stands (SQLite evaluates only the CASE branch taken). A day row's
 * sources are its day's 96 buckets, looked up one by one (a range would scan the day's rows).
 */
function maxRecomputeSql(table: string, key: readonly string[], source: string, day: boolean): string {
  const where = key.map((k) => (k === 'bucket' && day ? 'c.bucket IN (SELECT b FROM day)' : `c.${k} = @${k}`)).join(' AND ');
  const days = day ? `WITH RECURSIVE day(b) AS (SELECT @bucket UNION ALL SELECT b + ${BUCKET_MS} FROM day WHERE b + ${BUCKET_MS} < @bucket + ${DAY_MS}) ` : '';
  const sets = MAX_COLS.map((c) => `${c} = CASE WHEN @old_${c} > 0 AND ${c} = @old_${c} THEN (${days}SELECT coalesce(max(c.${c}), 0) FROM ${source} c WHERE ${where}) ELSE ${c} END`);
  return `UPDATE ${table} SET ${sets.join(', ')} WHERE ${key.map((k) => `${k} = @${k}`).join(' AND ')}`;
}

/** The statements of one table above report_calls. */
interface TableStatements {
  key: readonly KeyCol[];
  day: boolean;
  up: SqliteStatement;
  max: SqliteStatement;
  drop: SqliteStatement;
}

/** The interval tables of one engine database. */
export class SqliteReports {
  readonly db: SqliteDatabase;
  readonly #writer: SqliteWriter;
  readonly #ctx: MeasureContext;
  readonly #onError: (err: unknown, what: string) => void;
  readonly #getCall: SqliteStatement<CallRow>;
  readonly #newCall: SqliteStatement;
  readonly #putCall: SqliteStatement;
  readonly #tables: readonly TableStatements[];
  readonly #getSpell: SqliteStatement<{ since: number; status: AgentStatus; state: AgentState; reason: string | null }>;
  readonly #putSpell: SqliteStatement;
  readonly #addTime: SqliteStatement;

  constructor(opts: SqliteReportsOptions) {
    this.db = opts.db;
    this.#writer = opts.writer;
    this.#ctx = opts.context;
    this.#onError = opts.onError ?? ((err) => { throw err; });
    migrate(this.db, 'reports', REPORT_MIGRATIONS, opts.now ?? Date.now());
    const db = this.db;
    const callCols = ['call_id', ...AGENT_KEY, ...FIG_COLS];
    const values = `VALUES (${callCols.map(() => '?').join(', ')})`;
    this.#getCall = db.prepare(`SELECT ${callCols.join(', ')} FROM report_calls WHERE call_id = ?`);
    // A new call costs one statement on report_calls; only a known one is read back.
    this.#newCall = db.prepare(`INSERT INTO report_calls (${callCols.join(', ')}) ${values} ON CONFLICT (call_id) DO NOTHING`);
    this.#putCall = db.prepare(`REPLACE INTO report_calls (${callCols.join(', ')}) ${values}`);
    this.#tables = TABLES.map((t) => ({
      key: t.key,
      day: t.day,
      up: db.prepare(upsertSql(t.table, t.key)),
      max: db.prepare(maxRecomputeSql(t.table, t.key, t.source, t.day)),
      drop: db.prepare(`DELETE FROM ${t.table} WHERE ${t.key.map((k) => `${k} = @${k}`).join(' AND ')} AND records = 0`),
    }));
    this.#getSpell = db.prepare('SELECT since, status, state, reason FROM report_agent_current WHERE agent = ?');
    this.#putSpell = db.prepare('INSERT OR REPLACE INTO report_agent_current (agent, since, status, state, reason) VALUES (?, ?, ?, ?, ?)');
    this.#addTime = db.prepare(`INSERT INTO report_agent_time (bucket, agent, kind, reason, ms) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (bucket, agent, kind, reason) DO UPDATE SET ms = ms + excluded.ms`);
  }

  /**
   * File one call record, inside the caller's transaction (the outbox append). Idempotent per
   * call id: a record for a call already filed replaces its contribution.
   */
  ingestSync(cdr: ReportCdr): void {
    try {
      transact(this.db, () => this.#ingest(cdr));
    } catch (err) {
      this.#onError(err, 'cdr');
    }
  }

  /** {@link ingestSync} in a write of its own (group commit). */
  ingest(cdr: ReportCdr): Promise<void> {
    return this.#writer.write(() => this.ingestSync(cdr));
  }

  /** Record an agent's state change: the spell it ends is filed as agent time. */
  agentStateSync(e: AgentStateChange): void {
    try {
      transact(this.db, () => {
        const prev = this.#getSpell.get(e.agentId);
        if (prev !== undefined) {
          for (const s of sliceSpell(prev, e.at)) this.#addTime.run(s.bucket, e.agentId, s.kind, s.reason, s.ms);
        }
        // A change stamped before the open spell began (clock step) starts the new spell there.
        this.#putSpell.run(e.agentId, Math.max(e.at, prev?.since ?? e.at), e.status, e.state, e.reason);
      });
    } catch (err) {
      this.#onError(err, 'agent-state');
    }
  }

  /** {@link agentStateSync} in a write of its own (group commit). */
  agentState(e: AgentStateChange): Promise<void> {
    return this.#writer.write(() => this.agentStateSync(e));
  }

  /** The open spells (agent → spell), to count time up to now in a report. */
  openSpells(): Map<string, AgentSpell> {
    const rows = this.db.prepare<AgentSpell & { agent: string }>('SELECT agent, since, status, state, reason FROM report_agent_current').all();
    return new Map(rows.map((r) => [r.agent, { since: r.since, status: r.status, state: r.state, reason: r.reason }]));
  }

  #ingest(cdr: ReportCdr): void {
    const { key, figures } = contribution(cdr, this.#ctx);
    const sums = figureValues(figures);
    const row = [cdr.callId, ...keyValues(key, AGENT_KEY), ...sums];
    if (this.#newCall.run(...row).changes === 0) {
      const old = this.#getCall.get(cdr.callId)!;
      const oldKey = keyOfRow(old);
      // A redelivery of the same figures under the same key changes nothing.
      if (sameKey(oldKey, key) && FIG_COLS.every((c, i) => Number(old[c]) === sums[i])) return;
      this.#putCall.run(...row);
      this.#remove(oldKey, old);
    }
    const dayKey = { ...key, bucket: dayOf(key.bucket) };
    for (const t of this.#tables) t.up.run(...keyValues(t.day ? dayKey : key, t.key), ...sums);
  }

  /** Take a replaced record's contribution out of every table (report_calls holds its successor). */
  #remove(oldKey: RecordKey, old: CallRow): void {
    const minus = zeroFigures();
    for (const m of SUM_MEASURES) minus[m] = -Number(old[column(m)]);
    const sums = figureValues(minus);
    const oldDay = { ...oldKey, bucket: dayOf(oldKey.bucket) };
    const olds: Record<string, number> = {};
    for (const c of MAX_COLS) olds[`old_${c}`] = Number(old[c]);
    // A maximum of 0 is still 0 without the record (no figure is negative).
    const heldMax = MAX_COLS.some((c) => Number(old[c]) > 0);
    for (const t of this.#tables) {
      const k = t.day ? oldDay : oldKey;
      t.up.run(...keyValues(k, t.key), ...sums);
      if (heldMax) t.max.run({ ...pick(k, t.key), ...olds });
      t.drop.run(pick(k, t.key));
    }
  }
}

/** Start of the UTC day of a bucket. */
export function dayOf(bucket: number): number {
  return Math.floor(bucket / DAY_MS) * DAY_MS;
}

function keyValues(k: RecordKey, cols: readonly (keyof RecordKey)[]): (string | number)[] {
  return cols.map((c) => k[c]);
}

function figureValues(f: Figures): number[] {
  const out: number[] = [];
  for (const m of SUM_MEASURES) out.push(f[m]);
  for (const m of MAX_MEASURES) out.push(f[m]);
  return out;
}

function pick(k: RecordKey, cols: readonly (keyof RecordKey)[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const c of cols) out[c] = k[c];
  return out;
}

function sameKey(a: RecordKey, b: RecordKey): boolean {
  return AGENT_KEY.every((c) => a[c] === b[c]);
}

function keyOfRow(r: CallRow): RecordKey {
  return {
    bucket: Number(r.bucket), queue: String(r.queue), agent: String(r.agent), programme: String(r.programme),
    airing: String(r.airing), direction: r.direction === 'outbound' ? 'outbound' : 'inbound',
  };
}
