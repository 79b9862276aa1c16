/** Callback tasks on SQLite (table `callbacks`). */
import { settle, SqliteWriter, transact, type SqliteDatabase, type SqliteStatement } from '../db/index.ts';
import type {
  CallbackFilter, CallbackInput, CallbackReason, CallbackStatus, CallbackStore, CallbackTask, StoreResult,
} from './types.ts';

interface CallbackRow {
  id: number;
  caller: string;
  queue: string;
  reason: CallbackReason;
  status: CallbackStatus;
  arrived_at: number;
  last_arrival_at: number;
  abandons: number;
  first_call_id: string;
  last_call_id: string;
  dialled: string | null;
  programme: string | null;
  customer_id: string | null;
  created_at: number;
  updated_at: number;
  claimed_by: string | null;
  claimed_at: number | null;
  dial_attempts: number;
  closed_at: number | null;
  note: string | null;
}

function toTask(r: CallbackRow): CallbackTask {
  return {
    id: r.id, caller: r.caller, queue: r.queue, reason: r.reason, status: r.status, arrivedAt: r.arrived_at,
    lastArrivalAt: r.last_arrival_at, abandons: r.abandons, firstCallId: r.first_call_id, lastCallId: r.last_call_id,
    dialled: r.dialled, programme: r.programme, customerId: r.customer_id, createdAt: r.created_at,
    updatedAt: r.updated_at, claimedBy: r.claimed_by, claimedAt: r.claimed_at, dialAttempts: r.dial_attempts,
    closedAt: r.closed_at, note: r.note,
  };
}

const ALL_STATUSES: readonly CallbackStatus[] = ['open', 'claimed', 'done', 'cancelled'];

/** Which states a transition may start from, and what it sets. */
interface Transition {
  from: readonly CallbackStatus[];
  stmt: SqliteStatement;
}

/** {@link CallbackStore} on SQLite. */
export class SqliteCallbacks implements CallbackStore {
  readonly #db: SqliteDatabase;
  readonly #upsert: SqliteStatement<CallbackRow>;
  readonly #get: SqliteStatement<CallbackRow>;
  readonly #oldestOpen: SqliteStatement<{ id: number }>;
  readonly #oldestOpenInQueue: SqliteStatement<{ id: number }>;
  readonly #claim: Transition;
  readonly #release: Transition;
  readonly #complete: Transition;
  readonly #cancel: Transition;

  readonly #writer: SqliteWriter;

  constructor(db: SqliteDatabase, writer: SqliteWriter) {
    this.#db = db;
    this.#writer = writer;
    // The partial unique index makes the merge atomic: the first abandon inserts, any later one
    // of the same number while a task is open or claimed lands in DO UPDATE. `arrived_at` takes
    // the minimum so that an out-of-order merge (crash recovery) still keeps the first arrival.
    this.#upsert = db.prepare(`INSERT INTO callbacks (caller, queue, reason, arrived_at, last_arrival_at, first_call_id,
        last_call_id, dialled, programme, customer_id, created_at, updated_at)
      VALUES (@caller, @queue, @reason, @arrivedAt, @arrivedAt, @callId, @callId, @dialled, @programme, @customerId, @now, @now)
      ON CONFLICT (caller) WHERE status IN ('open', 'claimed') DO UPDATE SET
        abandons = abandons + 1,
        arrived_at = min(arrived_at, excluded.arrived_at),
        last_arrival_at = max(last_arrival_at, excluded.arrived_at),
        last_call_id = excluded.last_call_id,
        customer_id = coalesce(customer_id, excluded.customer_id),
        updated_at = excluded.updated_at
      RETURNING *`);
    this.#get = db.prepare('SELECT * FROM callbacks WHERE id = ?');
    this.#oldestOpen = db.prepare("SELECT id FROM callbacks WHERE status = 'open' ORDER BY arrived_at, id LIMIT 1");
    this.#oldestOpenInQueue = db.prepare("SELECT id FROM callbacks WHERE status = 'open' AND queue = ? ORDER BY arrived_at, id LIMIT 1");
    const t = (from: readonly CallbackStatus[], set: string): Transition => ({
      from,
      stmt: db.prepare(`UPDATE callbacks SET ${set}, updated_at = @now
        WHERE id = @id AND status IN (${from.map((s) => `'${s}'`).join(', ')})`),
    });
    this.#claim = t(['open'], "status = 'claimed', claimed_by = @by, claimed_at = @now");
    this.#release = t(['claimed'], "status = 'open', claimed_by = NULL, claimed_at = NULL, dial_attempts = dial_attempts + 1, note = @note");
    this.#complete = t(['claimed'], "status = 'done', closed_at = @now, note = @note");
    this.#cancel = t(['open', 'claimed'], "status = 'cancelled', closed_at = @now, note = @note");
  }

  /** {@link create} inside the caller's transaction. */
  createSync(input: CallbackInput, now: number): { task: CallbackTask; created: boolean } {
    const row = this.#upsert.get({
      caller: input.caller, queue: input.queue, reason: input.reason, arrivedAt: input.arrivedAt, callId: input.callId,
      dialled: input.dialled, programme: input.programme, customerId: input.customerId, now,
    })!;
    return { task: toTask(row), created: row.abandons === 1 && row.first_call_id === input.callId };
  }

  create(input: CallbackInput, now: number): Promise<{ task: CallbackTask; created: boolean }> {
    return this.#writer.write(() => transact(this.#db, () => this.createSync(input, now)));
  }

  get(id: number): Promise<CallbackTask | null> {
    return settle(() => this.getSync(id));
  }

  /** {@link get} without the promise. */
  getSync(id: number): CallbackTask | null {
    const r = this.#get.get(id);
    return r === undefined ? null : toTask(r);
  }

  list(filter: CallbackFilter = {}): Promise<CallbackTask[]> {
    return settle(() => {
      const { where, params } = this.#where(filter);
      return this.#db.prepare<CallbackRow>(`SELECT * FROM callbacks ${where} ORDER BY arrived_at, id LIMIT ? OFFSET ?`)
        .all(...params, filter.limit ?? 100, filter.offset ?? 0).map(toTask);
    });
  }

  count(filter: Omit<CallbackFilter, 'limit' | 'offset'> = {}): Promise<number> {
    return settle(() => {
      const { where, params } = this.#where(filter);
      return this.#db.prepare<{ n: number }>(`SELECT count(*) AS n FROM callbacks ${where}`).get(...params)!.n;
    });
  }

  claim(id: number, by: string, now: number): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write(() => this.#move(this.#claim, id, { by, now }));
  }

  claimNext(by: string, now: number, queue?: string): Promise<CallbackTask | null> {
    return this.#writer.write(() => transact(this.#db, () => {
      const next = queue === undefined ? this.#oldestOpen.get() : this.#oldestOpenInQueue.get(queue);
      if (next === undefined) return null;
      const r = this.#move(this.#claim, next.id, { by, now });
      return r.ok ? r.value : null;
    }));
  }

  release(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write(() => this.#move(this.#release, id, { now, note: note ?? null }));
  }

  complete(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write(() => this.#move(this.#complete, id, { now, note: note ?? null }));
  }

  cancel(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write(() => this.#move(this.#cancel, id, { now, note: note ?? null }));
  }

  #move(t: Transition, id: number, params: Record<string, unknown>): StoreResult<CallbackTask> {
    return transact(this.#db, (): StoreResult<CallbackTask> => {
      if (t.stmt.run({ ...params, id }).changes === 1) return { ok: true, value: toTask(this.#get.get(id)!) };
      const r = this.#get.get(id);
      if (r === undefined) return { ok: false, code: 'STORE_ERR_NOT_FOUND', reason: `no callback task ${id}` };
      return { ok: false, code: 'STORE_ERR_INVALID_STATE', reason: `callback task ${id} is ${r.status}, expected ${t.from.join(' or ')}` };
    });
  }

  #where(filter: Omit<CallbackFilter, 'limit' | 'offset'>): { where: string; params: unknown[] } {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (filter.status !== undefined) {
      const list = typeof filter.status === 'string' ? [filter.status] : filter.status;
      // Statuses go into the SQL text only after checking them against the known list.
      const valid = list.filter((s) => ALL_STATUSES.includes(s));
      clauses.push(valid.length === 0 ? '0' : `status IN (${valid.map((s) => `'${s}'`).join(', ')})`);
    }
    if (filter.queue !== undefined) {
      clauses.push('queue = ?');
      params.push(filter.queue);
    }
    return { where: clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`, params };
  }
}
