/**
 * The outbox on PostgreSQL: the same tables and lane rule as the SQLite outbox (outbox.ts). Writes
 * run in the writer's group transaction; the `*In` variants take the transaction of a caller's
 * write (finishCall, crash recovery). ack/fail lock the item row (ack: its DELETE; fail: FOR
 * UPDATE) so that two dispatchers on one database cannot both settle one item.
 *
 * One statement per append and per ack (CTEs), not two and four: every statement of the writer's
 * group is a round trip on its one connection, one after the other, and under the failover
 * bench's load (50 calls/s, ~7 items per call) the appends and acks of the outbox were most of
 * the writer's work; the acks queued behind the calls' writes and delivery fell to a few items a
 * second (47 of 1,391 CDRs delivered during the load, docs/bench.md "Failover"). due() reads each
 * due lane's head with a LATERAL index look-up.
 */
import { sql, type Kysely } from 'kysely';
import type { FailureOutcome, OutboxBacklog, OutboxItem, OutboxKind, OutboxPayload, OutboxStore, RetryPolicy } from '../types.ts';
import { backoffDelay, checkRetryPolicy, DEFAULT_RETRY_POLICY } from '../retry.ts';
import { toItem, type OutboxRow, type SqliteOutboxOptions } from '../outbox.ts';
import type { PgTables, PgTx, PgWriter } from './writer.ts';
import type { Cdr } from '../../../crm-adapter/index.ts';

const COLUMNS = sql.raw('o.id, o.call_id, o.kind, o.payload, o.status, o.created_at, o.attempts, o.next_attempt_at, o.last_error');

/** {@link OutboxStore} on PostgreSQL (tables `outbox` and `outbox_lanes`). */
export class PgOutbox implements OutboxStore {
  readonly policy: Readonly<RetryPolicy>;
  readonly #db: Kysely<PgTables>;
  readonly #writer: PgWriter;
  #onCdr: ((cdr: Cdr) => void) | undefined = undefined;
  readonly #random: () => number;

  constructor(db: Kysely<PgTables>, writer: PgWriter, options: SqliteOutboxOptions = {}) {
    this.#db = db;
    this.#writer = writer;
    this.policy = Object.freeze(checkRetryPolicy({ ...DEFAULT_RETRY_POLICY, ...options.retry }));
    this.#random = options.random ?? Math.random;
  }

  /** {@link append} inside the caller's write. */
  async appendIn<K extends OutboxKind>(tx: PgTx, callId: string, kind: K, payload: OutboxPayload<K>, now: number): Promise<number> {
    const r = await sql<{ id: number }>`WITH lane AS (INSERT INTO outbox_lanes (call_id, next_attempt_at) VALUES (${callId}, ${now}) ON CONFLICT (call_id) DO NOTHING)
      INSERT INTO outbox (call_id, kind, payload, created_at, next_attempt_at)
      VALUES (${callId}, ${kind}, ${JSON.stringify(payload)}, ${now}, ${now}) RETURNING id`.execute(tx);
    // Told when appended, inside the PostgreSQL transaction but not part of it (the observer's
    // tables are in another database): a group that fails to commit was observed anyway, which
    // the reports' per-call replacement rule makes harmless when the record is written again.
    if (kind === 'cdr' && this.#onCdr !== undefined) this.#onCdr(payload as Cdr);
    return r.rows[0]!.id;
  }

  /**
   * Several items of one call in one statement (crash recovery: a round trip per call, not per
   * item), in the given order: a multi-row VALUES takes its ids from the sequence row by row.
   */
  async appendAllIn(tx: PgTx, callId: string, items: readonly { kind: OutboxKind; payload: OutboxPayload<OutboxKind> }[], now: number): Promise<void> {
    if (items.length === 0) return;
    const rows = items.map((i) => sql`(${callId}, ${i.kind}, ${JSON.stringify(i.payload)}, ${now}, ${now})`);
    await sql`WITH lane AS (INSERT INTO outbox_lanes (call_id, next_attempt_at) VALUES (${callId}, ${now}) ON CONFLICT (call_id) DO NOTHING)
      INSERT INTO outbox (call_id, kind, payload, created_at, next_attempt_at) VALUES ${sql.join(rows)}`.execute(tx);
    for (const i of items) if (i.kind === 'cdr' && this.#onCdr !== undefined) this.#onCdr(i.payload as Cdr);
  }

  /** Tell `observer` of every CDR appended (the reports' interval tables; engine/reports). */
  observeCdrs(observer: (cdr: Cdr) => void): void {
    this.#onCdr = observer;
  }

  append<K extends OutboxKind>(callId: string, kind: K, payload: OutboxPayload<K>, now: number): Promise<number> {
    return this.#writer.write((tx) => this.appendIn(tx, callId, kind, payload, now));
  }

  async due(now: number, limit: number, exclude?: ReadonlySet<string>): Promise<OutboxItem[]> {
    const skip = exclude?.size ?? 0;
    // The due lanes in order (outbox_lanes_due), then each one's head (outbox_pending_by_call): two index look-ups per lane.
    const r = await sql<OutboxRow>`SELECT ${COLUMNS} FROM (SELECT call_id, next_attempt_at FROM outbox_lanes
        WHERE next_attempt_at <= ${now} ORDER BY next_attempt_at, call_id LIMIT ${limit + skip}) l
      CROSS JOIN LATERAL (SELECT * FROM outbox WHERE call_id = l.call_id AND status = 'pending' ORDER BY id LIMIT 1) o
      ORDER BY l.next_attempt_at, l.call_id`.execute(this.#db);
    const out: OutboxItem[] = [];
    for (const row of r.rows) {
      if (out.length === limit) break;
      if (skip > 0 && exclude!.has(row.call_id)) continue;
      out.push(toItem(row));
    }
    return out;
  }

  ack(id: number, now: number): Promise<void> {
    // The lane rule of #advanceLane in the same statement: the statement's snapshot still has the
    // deleted row, hence `id <> ${id}`. A settled item (dead, or acked by another dispatcher) deletes nothing and changes no lane.
    return this.#writer.write(async (tx) => void await sql`WITH gone AS (DELETE FROM outbox WHERE id = ${id} AND status = 'pending' RETURNING call_id),
        more AS (SELECT g.call_id, EXISTS (SELECT 1 FROM outbox o WHERE o.call_id = g.call_id AND o.status = 'pending' AND o.id <> ${id}) AS has_more FROM gone g),
        moved AS (UPDATE outbox_lanes SET next_attempt_at = ${now} WHERE call_id IN (SELECT call_id FROM more WHERE has_more))
      DELETE FROM outbox_lanes WHERE call_id IN (SELECT call_id FROM more WHERE NOT has_more)`.execute(tx));
  }

  fail(id: number, now: number, error: string, permanent: boolean): Promise<FailureOutcome> {
    return this.#writer.write(async (tx): Promise<FailureOutcome> => {
      const row = await this.#lock(tx, id);
      if (row === undefined || row.status !== 'pending') return { dead: row?.status === 'dead', nextAttemptAt: null };
      const attempts = row.attempts + 1;
      if (permanent || attempts >= this.policy.maxAttempts) {
        await sql`UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ${error} WHERE id = ${id}`.execute(tx);
        await this.#advanceLane(tx, row.call_id, now);
        return { dead: true, nextAttemptAt: null };
      }
      const at = now + backoffDelay(this.policy, attempts, this.#random());
      await sql`UPDATE outbox SET attempts = attempts + 1, last_error = ${error}, next_attempt_at = ${at} WHERE id = ${id}`.execute(tx);
      await sql`UPDATE outbox_lanes SET next_attempt_at = ${at} WHERE call_id = ${row.call_id}`.execute(tx);
      return { dead: false, nextAttemptAt: at };
    });
  }

  async nextDueAt(): Promise<number | null> {
    const r = await sql<{ t: number | null }>`SELECT min(next_attempt_at) AS t FROM outbox_lanes`.execute(this.#db);
    return r.rows[0]?.t ?? null;
  }

  async backlog(): Promise<OutboxBacklog> {
    const r = await sql<OutboxBacklog>`SELECT
      (SELECT count(*) FROM outbox WHERE status = 'pending')::int AS pending,
      (SELECT count(*) FROM outbox WHERE status = 'dead')::int AS dead,
      (SELECT count(*) FROM outbox_lanes)::int AS calls`.execute(this.#db);
    const c = r.rows[0]!;
    return { pending: c.pending, dead: c.dead, calls: c.calls };
  }

  async listCall(callId: string): Promise<OutboxItem[]> {
    const r = await sql<OutboxRow>`SELECT ${COLUMNS} FROM outbox o WHERE o.call_id = ${callId} ORDER BY o.id`.execute(this.#db);
    return r.rows.map(toItem);
  }

  async deadLetters(limit: number, offset: number): Promise<OutboxItem[]> {
    const r = await sql<OutboxRow>`SELECT ${COLUMNS} FROM outbox o WHERE o.status = 'dead' ORDER BY o.id LIMIT ${limit} OFFSET ${offset}`.execute(this.#db);
    return r.rows.map(toItem);
  }

  requeue(id: number, now: number): Promise<boolean> {
    return this.#writer.write(async (tx) => {
      const r = await sql<{ call_id: string }>`UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ${now}
        WHERE id = ${id} AND status = 'dead' RETURNING call_id`.execute(tx);
      const row = r.rows[0];
      if (row === undefined) return false;
      await sql`INSERT INTO outbox_lanes (call_id, next_attempt_at) VALUES (${row.call_id}, ${now})
        ON CONFLICT (call_id) DO UPDATE SET next_attempt_at = LEAST(outbox_lanes.next_attempt_at, excluded.next_attempt_at)`.execute(tx);
      return true;
    });
  }

  async #lock(tx: PgTx, id: number): Promise<OutboxRow | undefined> {
    const r = await sql<OutboxRow>`SELECT ${COLUMNS} FROM outbox o WHERE o.id = ${id} FOR UPDATE`.execute(tx);
    return r.rows[0];
  }

  /** The head left the lane: the next item is due now, or the lane closes. */
  async #advanceLane(tx: PgTx, callId: string, now: number): Promise<void> {
    const more = await sql`SELECT 1 FROM outbox WHERE call_id = ${callId} AND status = 'pending' LIMIT 1`.execute(tx);
    if (more.rows.length === 0) await sql`DELETE FROM outbox_lanes WHERE call_id = ${callId}`.execute(tx);
    else await sql`UPDATE outbox_lanes SET next_attempt_at = ${now} WHERE call_id = ${callId}`.execute(tx);
  }
}
