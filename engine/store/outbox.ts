/**
 * The outbox on SQLite. Each public method is one transaction over prepared statements; the
 * `*Sync` variants run inside a caller's transaction (see `SqliteStore.finishCall`).
 */
import { settle, SqliteWriter, transact, type SqliteDatabase, type SqliteStatement } from '../db/index.ts';
import type {
  FailureOutcome, OutboxBacklog, OutboxItem, OutboxKind, OutboxPayload, OutboxStore, RetryPolicy,
} from './types.ts';
import type { Cdr } from '../../crm-adapter/index.ts';
import { backoffDelay, checkRetryPolicy, DEFAULT_RETRY_POLICY } from './retry.ts';

/** A row of `outbox` (both backends). @internal */
export interface OutboxRow {
  id: number;
  call_id: string;
  kind: OutboxKind;
  payload: string;
  status: 'pending' | 'dead';
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
}

const COLUMNS = 'o.id, o.call_id, o.kind, o.payload, o.status, o.created_at, o.attempts, o.next_attempt_at, o.last_error';

/** @internal Row → item (both backends). */
export function toItem(r: OutboxRow): OutboxItem {
  // The payload was written by append() from a typed value; kind and payload agree.
  return {
    id: r.id, callId: r.call_id, kind: r.kind, payload: JSON.parse(r.payload), status: r.status,
    createdAt: r.created_at, attempts: r.attempts, nextAttemptAt: r.next_attempt_at, lastError: r.last_error,
  } as OutboxItem;
}

/** Options of the SQLite outbox. */
export interface SqliteOutboxOptions {
  retry?: Partial<RetryPolicy>;
  /** Source of jitter in [0, 1); injected by tests. Default Math.random. */
  random?: () => number;
}

/** {@link OutboxStore} on SQLite (tables `outbox` and `outbox_lanes`). */
export class SqliteOutbox implements OutboxStore {
  readonly policy: Readonly<RetryPolicy>;
  readonly #db: SqliteDatabase;
  readonly #random: () => number;
  readonly #insert: SqliteStatement;
  readonly #openLane: SqliteStatement;
  readonly #due: SqliteStatement<OutboxRow>;
  readonly #byId: SqliteStatement<OutboxRow>;
  readonly #delete: SqliteStatement;
  readonly #hasPending: SqliteStatement<{ one: number }>;
  readonly #setLane: SqliteStatement;
  readonly #dropLane: SqliteStatement;
  readonly #retryLater: SqliteStatement;
  readonly #kill: SqliteStatement;
  readonly #revive: SqliteStatement;
  readonly #reopenLane: SqliteStatement;
  readonly #nextDue: SqliteStatement<{ t: number | null }>;
  readonly #counts: SqliteStatement<{ pending: number; dead: number; calls: number }>;
  readonly #byCall: SqliteStatement<OutboxRow>;
  readonly #dead: SqliteStatement<OutboxRow>;

  readonly #writer: SqliteWriter;
  #onCdr: ((cdr: Cdr) => void) | undefined = undefined;

  constructor(db: SqliteDatabase, writer: SqliteWriter, options: SqliteOutboxOptions = {}) {
    this.#db = db;
    this.#writer = writer;
    this.policy = Object.freeze(checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry }));
    this.#random = options.random ?? Math.random;
    this.#insert = db.prepare('INSERT INTO outbox (call_id, kind, payload, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?)');
    this.#openLane = db.prepare('INSERT INTO outbox_lanes (call_id, next_attempt_at) VALUES (?, ?) ON CONFLICT (call_id) DO NOTHING');
    // Ordered by the lanes index alone (call_id is its key): no sort of all due lanes per pass.
    this.#due = db.prepare(`SELECT ${COLUMNS} FROM outbox_lanes l
      JOIN outbox o ON o.id = (SELECT id FROM outbox WHERE call_id = l.call_id AND status = 'pending' ORDER BY id LIMIT 1)
      WHERE l.next_attempt_at <= ? ORDER BY l.next_attempt_at, l.call_id LIMIT ?`);
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM outbox o WHERE o.id = ?`);
    this.#delete = db.prepare("DELETE FROM outbox WHERE id = ? AND status = 'pending'");
    this.#hasPending = db.prepare("SELECT 1 AS one FROM outbox WHERE call_id = ? AND status = 'pending' LIMIT 1");
    this.#setLane = db.prepare('UPDATE outbox_lanes SET next_attempt_at = ? WHERE call_id = ?');
    this.#dropLane = db.prepare('DELETE FROM outbox_lanes WHERE call_id = ?');
    this.#retryLater = db.prepare('UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?');
    this.#kill = db.prepare("UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ? WHERE id = ?");
    this.#revive = db.prepare("UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ? WHERE id = ? AND status = 'dead'");
    this.#reopenLane = db.prepare(`INSERT INTO outbox_lanes (call_id, next_attempt_at) VALUES (?, ?)
      ON CONFLICT (call_id) DO UPDATE SET next_attempt_at = min(next_attempt_at, excluded.next_attempt_at)`);
    this.#nextDue = db.prepare('SELECT min(next_attempt_at) AS t FROM outbox_lanes');
    this.#counts = db.prepare(`SELECT
      (SELECT count(*) FROM outbox WHERE status = 'pending') AS pending,
      (SELECT count(*) FROM outbox WHERE status = 'dead') AS dead,
      (SELECT count(*) FROM outbox_lanes) AS calls`);
    this.#byCall = db.prepare(`SELECT ${COLUMNS} FROM outbox o WHERE o.call_id = ? ORDER BY o.id`);
    this.#dead = db.prepare(`SELECT ${COLUMNS} FROM outbox o WHERE o.status = 'dead' ORDER BY o.id LIMIT ? OFFSET ?`);
  }

  /**
   * See every CDR as it is appended, inside the append's transaction (the reports' interval
   * tables: a record is counted exactly when it is in the outbox). The observer must not throw.
   */
  observeCdrs(observer: (cdr: Cdr) => void): void {
    this.#onCdr = observer;
  }

  /** {@link append} inside the caller's transaction. */
  appendSync<K extends OutboxKind>(callId: string, kind: K, payload: OutboxPayload<K>, now: number): number {
    const id = Number(this.#insert.run(callId, kind, JSON.stringify(payload), now, now).lastInsertRowid);
    this.#openLane.run(callId, now);
    if (kind === 'cdr' && this.#onCdr !== undefined) this.#onCdr(payload as Cdr);
    return id;
  }

  append<K extends OutboxKind>(callId: string, kind: K, payload: OutboxPayload<K>, now: number): Promise<number> {
    return this.#writer.write(() => this.#tx(() => this.appendSync(callId, kind, payload, now)));
  }

  due(now: number, limit: number, exclude?: ReadonlySet<string>): Promise<OutboxItem[]> {
    return settle(() => this.#dueSync(now, limit, exclude));
  }

  #dueSync(now: number, limit: number, exclude?: ReadonlySet<string>): OutboxItem[] {
    const skip = exclude?.size ?? 0;
    const rows = this.#due.all(now, limit + skip);
    const out: OutboxItem[] = [];
    for (const r of rows) {
      if (out.length === limit) break;
      if (skip > 0 && exclude!.has(r.call_id)) continue;
      out.push(toItem(r));
    }
    return out;
  }

  ack(id: number, now: number): Promise<void> {
    return this.#writer.write(() => this.#tx(() => {
      const row = this.#byId.get(id);
      if (row === undefined || row.status !== 'pending') return;
      this.#delete.run(id);
      this.#advanceLane(row.call_id, now);
    }));
  }

  fail(id: number, now: number, error: string, permanent: boolean): Promise<FailureOutcome> {
    return this.#writer.write(() => this.#tx((): FailureOutcome => {
      const row = this.#byId.get(id);
      if (row === undefined || row.status !== 'pending') return { dead: row?.status === 'dead', nextAttemptAt: null };
      const attempts = row.attempts + 1;
      if (permanent || attempts >= this.policy.maxAttempts) {
        this.#kill.run(error, id);
        this.#advanceLane(row.call_id, now);
        return { dead: true, nextAttemptAt: null };
      }
      const at = now + backoffDelay(this.policy, attempts, this.#random());
      this.#retryLater.run(error, at, id);
      this.#setLane.run(at, row.call_id);
      return { dead: false, nextAttemptAt: at };
    }));
  }

  nextDueAt(): Promise<number | null> {
    return settle(() => this.#nextDue.get()?.t ?? null);
  }

  backlog(): Promise<OutboxBacklog> {
    return settle(() => {
      const c = this.#counts.get()!;
      return { pending: c.pending, dead: c.dead, calls: c.calls };
    });
  }

  listCall(callId: string): Promise<OutboxItem[]> {
    return settle(() => this.#byCall.all(callId).map(toItem));
  }

  deadLetters(limit: number, offset: number): Promise<OutboxItem[]> {
    return settle(() => this.#dead.all(limit, offset).map(toItem));
  }

  requeue(id: number, now: number): Promise<boolean> {
    return this.#writer.write(() => this.#tx(() => {
      const row = this.#byId.get(id);
      if (row === undefined || this.#revive.run(now, id).changes === 0) return false;
      this.#reopenLane.run(row.call_id, now);
      return true;
    }));
  }

  /** The head left the lane: the next item is due now, or the lane closes. */
  #advanceLane(callId: string, now: number): void {
    if (this.#hasPending.get(callId) === undefined) this.#dropLane.run(callId);
    else this.#setLane.run(now, callId);
  }

  #tx<R>(fn: () => R): R {
    return transact(this.#db, fn);
  }
}
