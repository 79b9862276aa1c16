/**
 * The audit log (issue 15, contract C2): an append-only table in the engine's SQLite file
 * (component `audit` in `schema_migrations`) of every change made through the API and every
 * unmasking of a caller's number: who (actor and role), from where (the socket's address, never
 * a header a client could write), what (action, target, detail) and when.
 *
 * Append-only is the database's rule, not only this module's: triggers refuse UPDATE and DELETE,
 * so a bug (or a hand with the sqlite3 shell and no intent to drop triggers) cannot rewrite it.
 */
import { migrate, type Migration, type SqliteDatabase, type SqliteStatement, type SqliteWriter } from '../db/index.ts';

/** One audited action, as a caller records it (contract C2). */
export interface AuditRecord {
  /** Username, `token` for an integration token, `open` for the open API, `system`. */
  actor: string;
  /** Role of the actor: agent, supervisor, admin, token, open, system. */
  role: string;
  /** IP address of the request's socket. */
  source: string;
  /** Dotted verb, e.g. `agent.status`, `agent.skills`, `call.unmask`, `signin.failed`. */
  action: string;
  /** What was acted on: an agent id, a call id, a username. */
  target: string;
  /** Anything else worth keeping (the new value, a reason); JSON-serialisable. */
  detail?: Record<string, unknown>;
}

/** Where audited actions go (contract C2): other parts take an optional one in their deps. */
export interface AuditSink {
  record(e: AuditRecord): void;
}

/** A stored entry. */
export interface AuditEntry extends Required<AuditRecord> {
  /** Increasing sequence number (the order of recording). */
  id: number;
  /** Epoch ms. */
  at: number;
}

/** Filters of {@link AuditLog.query}; times are epoch ms, `until` exclusive. */
export interface AuditQuery {
  actor?: string;
  action?: string;
  target?: string;
  since?: number;
  until?: number;
  limit: number;
  offset: number;
}

/** Migrations of the `audit` component, in order. */
export const AUDIT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'append-only audit log',
    sql: `
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  source TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, at);
CREATE INDEX audit_log_action ON audit_log (action, at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'AUDIT_ERR_APPEND_ONLY: the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'AUDIT_ERR_APPEND_ONLY: the audit log is append-only'); END;
`,
  },
];

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  role: string;
  source: string;
  action: string;
  target: string;
  detail: string;
}

/** Longest text kept per field: an actor or target comes from validated input, detail is bounded too. */
const MAX_FIELD = 200;
const MAX_DETAIL = 4000;

/** The audit log of one database. */
export class AuditLog implements AuditSink {
  readonly #writer: SqliteWriter;
  readonly #insert: SqliteStatement;
  readonly #db: SqliteDatabase;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  #pending: Promise<unknown> = Promise.resolve();

  private constructor(db: SqliteDatabase, writer: SqliteWriter, now: () => number, onError: (err: unknown) => void) {
    this.#db = db;
    this.#writer = writer;
    this.#now = now;
    this.#onError = onError;
    this.#insert = db.prepare('INSERT INTO audit_log (at, actor, role, source, action, target, detail) VALUES (?, ?, ?, ?, ?, ?, ?)');
  }

  /** Migrate the table in `db` and open the log. `onError` hears a failed write (a full disk). */
  static open(db: SqliteDatabase, writer: SqliteWriter, opts: { now?: () => number; onError?: (err: unknown) => void } = {}): AuditLog {
    const now = opts.now ?? Date.now;
    migrate(db, 'audit', AUDIT_MIGRATIONS, now());
    return new AuditLog(db, writer, now, opts.onError ?? (() => {}));
  }

  /** Append one entry (committed with the writer's next group; see {@link flushed}). */
  record(e: AuditRecord): void {
    const at = this.#now();
    let detail = JSON.stringify(e.detail ?? {});
    if (detail.length > MAX_DETAIL) detail = JSON.stringify({ truncated: detail.slice(0, MAX_DETAIL) });
    const p = this.#writer.write(() => void this.#insert.run(at, cut(e.actor), cut(e.role), cut(e.source), cut(e.action), cut(e.target), detail));
    this.#pending = p.catch(this.#onError);
  }

  /** Resolves once every entry recorded so far is committed. */
  flushed(): Promise<void> {
    return this.#pending.then(() => undefined);
  }

  /** Entries matching `q`, newest first. */
  query(q: AuditQuery): AuditEntry[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.actor !== undefined) { where.push('actor = ?'); args.push(q.actor); }
    if (q.action !== undefined) { where.push('action = ?'); args.push(q.action); }
    if (q.target !== undefined) { where.push('target = ?'); args.push(q.target); }
    if (q.since !== undefined) { where.push('at >= ?'); args.push(q.since); }
    if (q.until !== undefined) { where.push('at < ?'); args.push(q.until); }
    const sql = `SELECT id, at, actor, role, source, action, target, detail FROM audit_log${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ? OFFSET ?`;
    const rows = this.#db.prepare<AuditRow>(sql).all(...args, q.limit, q.offset);
    return rows.map((r) => ({ ...r, detail: parseDetail(r.detail) }));
  }
}

function cut(s: string): string {
  return s.length > MAX_FIELD ? s.slice(0, MAX_FIELD) : s;
}

function parseDetail(s: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {};
  } catch {
    return {};
  }
}
