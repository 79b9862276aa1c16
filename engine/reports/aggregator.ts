/**
 * The interval tables on SQLite: incremental aggregation of every call record the engine
 * accepts, and agent time from state changes.
 *
 * ```
 *  CDR ─contribution()─▶ key + figures ─┬─ report_calls (by call id: replaced on correction)
 *                                        ├─ report_intervals        += figures
 *                                        └─ report_agent_intervals  += figures
 *  corrected CDR: old figures subtracted from the old key, maxima of that key recomputed from
 *  report_calls, then the new figures added (so a late or corrected record is counted once).
 * ```
 * Runs inside the caller's transaction (the outbox append of the CDR): a record is in the
 * reports exactly when it is in the outbox. A failure of the reports is caught and reported to
 * `onError` and must never cost the CDR itself (the write is its own savepoint).
 */
import { migrate, transact, type SqliteDatabase, type SqliteStatement, type SqliteWriter } from '../db/index.ts';
import { sliceSpell, type AgentSpell } from './agent-time.ts';
import {
  MAX_MEASURES, SUM_MEASURES, contribution, zeroFigures, type Figures, type MeasureContext, type RecordKey, type ReportCdr,
} from './measures.ts';
import { REPORT_MIGRATIONS, column } from './schema.ts';
import type { AgentState, AgentStatus } from '../acd/index.ts';

const SUM_COLS = SUM_MEASURES.map(column);
const MAX_COLS = MAX_MEASURES.map(column);
const FIG_COLS = [...SUM_COLS, ...MAX_COLS];
const COARSE_KEY = ['bucket', 'queue', 'programme', 'airing', 'direction'] as const;
const AGENT_KEY = ['bucket', 'agent', 'queue', 'programme', 'airing', 'direction'] as const;

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

function maxRecomputeSql(table: string, key: readonly string[], day = false): string {
  // The day table's bucket is the day's start: its records are that day's 96 buckets.
  const where = key.map((k) => (k === 'bucket' && day ? 'c.bucket >= @bucket AND c.bucket < @bucket + 86400000' : `c.${k} = @${k}`)).join(' AND ');
  const sets = MAX_COLS.map((c) => `${c} = (SELECT coalesce(max(c.${c}), 0) FROM report_calls c WHERE ${where})`);
  return `UPDATE ${table} SET ${sets.join(', ')} WHERE ${key.map((k) => `${k} = @${k}`).join(' AND ')}`;
}

/** The interval tables of one engine database. */
export class SqliteReports {
  readonly db: SqliteDatabase;
  readonly #writer: SqliteWriter;
  readonly #ctx: MeasureContext;
  readonly #onError: (err: unknown, what: string) => void;
  readonly #getCall: SqliteStatement<CallRow>;
  readonly #putCall: SqliteStatement;
  readonly #upCoarse: SqliteStatement;
  readonly #upAgent: SqliteStatement;
  readonly #maxCoarse: SqliteStatement;
  readonly #maxAgent: SqliteStatement;
  readonly #upDay: SqliteStatement;
  readonly #maxDay: SqliteStatement;
  readonly #dropDay: SqliteStatement;
  readonly #dropCoarse: SqliteStatement;
  readonly #dropAgent: SqliteStatement;
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
    this.#getCall = db.prepare(`SELECT ${callCols.join(', ')} FROM report_calls WHERE call_id = ?`);
    this.#putCall = db.prepare(`INSERT OR REPLACE INTO report_calls (${callCols.join(', ')}) VALUES (${callCols.map(() => '?').join(', ')})`);
    this.#upCoarse = db.prepare(upsertSql('report_intervals', COARSE_KEY));
    this.#upAgent = db.prepare(upsertSql('report_agent_intervals', AGENT_KEY));
    this.#maxCoarse = db.prepare(maxRecomputeSql('report_intervals', COARSE_KEY));
    this.#maxAgent = db.prepare(maxRecomputeSql('report_agent_intervals', AGENT_KEY));
    this.#upDay = db.prepare(upsertSql('report_days', COARSE_KEY));
    this.#maxDay = db.prepare(maxRecomputeSql('report_days', COARSE_KEY, true));
    this.#dropDay = db.prepare(`DELETE FROM report_days WHERE ${COARSE_KEY.map((k) => `${k} = @${k}`).join(' AND ')} AND records = 0`);
    this.#dropCoarse = db.prepare(`DELETE FROM report_intervals WHERE ${COARSE_KEY.map((k) => `${k} = @${k}`).join(' AND ')} AND records = 0`);
    this.#dropAgent = db.prepare(`DELETE FROM report_agent_intervals WHERE ${AGENT_KEY.map((k) => `${k} = @${k}`).join(' AND ')} AND records = 0`);
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
    const old = this.#getCall.get(cdr.callId);
    this.#putCall.run(cdr.callId, ...keyValues(key, AGENT_KEY), ...figureValues(figures));
    if (old !== undefined) {
      const oldKey = keyOfRow(old);
      const minus = zeroFigures();
      for (const m of SUM_MEASURES) minus[m] = -Number(old[column(m)]);
      this.#upCoarse.run(...keyValues(oldKey, COARSE_KEY), ...figureValues(minus));
      this.#upAgent.run(...keyValues(oldKey, AGENT_KEY), ...figureValues(minus));
      const oldDay = { ...oldKey, bucket: dayOf(oldKey.bucket) };
      this.#upDay.run(...keyValues(oldDay, COARSE_KEY), ...figureValues(minus));
      this.#maxCoarse.run(pick(oldKey, COARSE_KEY));
      this.#maxAgent.run(pick(oldKey, AGENT_KEY));
      this.#maxDay.run(pick(oldDay, COARSE_KEY));
      this.#dropCoarse.run(pick(oldKey, COARSE_KEY));
      this.#dropAgent.run(pick(oldKey, AGENT_KEY));
      this.#dropDay.run(pick(oldDay, COARSE_KEY));
    }
    this.#upCoarse.run(...keyValues(key, COARSE_KEY), ...figureValues(figures));
    this.#upAgent.run(...keyValues(key, AGENT_KEY), ...figureValues(figures));
    this.#upDay.run(...keyValues({ ...key, bucket: dayOf(key.bucket) }, COARSE_KEY), ...figureValues(figures));
  }
}

/** Start of the UTC day of a bucket. */
export function dayOf(bucket: number): number {
  return Math.floor(bucket / DAY_MS) * DAY_MS;
}

const DAY_MS = 86_400_000;

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

function keyOfRow(r: CallRow): RecordKey {
  return {
    bucket: Number(r.bucket), queue: String(r.queue), agent: String(r.agent), programme: String(r.programme),
    airing: String(r.airing), direction: r.direction === 'outbound' ? 'outbound' : 'inbound',
  };
}
