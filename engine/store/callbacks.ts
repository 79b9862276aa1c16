/** Callback tasks and their attempts on SQLite (tables `callbacks`, `callback_attempts`). */
import {
  ATTEMPT_RESULTS, DEFAULT_DIALING_POLICY, decideAfterAttempt, type AttemptResult, type DialingPolicy,
} from '../callbacks/index.ts';
import { settle, SqliteWriter, transact, type SqliteDatabase, type SqliteStatement } from '../db/index.ts';
import {
  CALLBACK_STATUSES,
  type AttemptEnd, type CallbackAttempt, type CallbackFigures, type CallbackFilter, type CallbackInput, type CallbackReason,
  type CallbackStatus, type CallbackStore, type CallbackTask, type StoreResult,
} from './types.ts';

/** @internal A row of `callbacks` (both backends). */
export interface CallbackRow {
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
  attempts: number;
  next_attempt_at: number;
  last_result: AttemptResult | null;
  time_zone: string | null;
  airing: string | null;
  closed_at: number | null;
  note: string | null;
}

/** @internal A row of `callback_attempts` (both backends). */
export interface AttemptRow {
  id: number;
  task_id: number;
  call_id: string;
  agent_id: string | null;
  trunk: string | null;
  started_at: number;
  ended_at: number | null;
  result: AttemptResult | null;
  sip_status: number | null;
  note: string | null;
}

/** @internal */
export function toTask(r: CallbackRow): CallbackTask {
  return {
    id: r.id, caller: r.caller, queue: r.queue, reason: r.reason, status: r.status, arrivedAt: r.arrived_at,
    lastArrivalAt: r.last_arrival_at, abandons: r.abandons, firstCallId: r.first_call_id, lastCallId: r.last_call_id,
    dialled: r.dialled, programme: r.programme, customerId: r.customer_id, createdAt: r.created_at,
    updatedAt: r.updated_at, claimedBy: r.claimed_by, claimedAt: r.claimed_at, attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at, lastResult: r.last_result, timeZone: r.time_zone, airing: r.airing ?? null, closedAt: r.closed_at, note: r.note,
  };
}

/** @internal The first `limit` rows not in `excludeIds`, as tasks (both backends' due lists). */
export function notExcluded(rows: readonly CallbackRow[], limit: number, excludeIds: ReadonlySet<number> | undefined): CallbackTask[] {
  const out: CallbackTask[] = [];
  for (const r of rows) {
    if (out.length === limit) break;
    if (excludeIds === undefined || !excludeIds.has(r.id)) out.push(toTask(r));
  }
  return out;
}

/** @internal */
export function toAttempt(r: AttemptRow): CallbackAttempt {
  return {
    id: r.id, taskId: r.task_id, callId: r.call_id, agentId: r.agent_id, trunk: r.trunk, startedAt: r.started_at,
    endedAt: r.ended_at, result: r.result, sipStatus: r.sip_status, note: r.note,
  };
}

/** Which states a transition may start from, and what it sets. */
interface Transition {
  from: readonly CallbackStatus[];
  stmt: SqliteStatement;
}

/** Who claims a task for an attempt that has no agent yet. */
export const DIALER = 'dialer';

/** Not found / wrong state, in the store's words. */
export function refusal<T>(what: string, id: number, status: string | null, expected: string): StoreResult<T> {
  if (status === null) return { ok: false, code: 'STORE_ERR_NOT_FOUND', reason: `no ${what} ${id}` };
  return { ok: false, code: 'STORE_ERR_INVALID_STATE', reason: `${what} ${id} is ${status}, expected ${expected}` };
}

/** The tables a {@link SqliteCallbacks} works on. */
export interface CallbackTables {
  tasks: string;
  attempts: string;
  /** SQL condition on the task row added to {@link SqliteCallbacks.due} (trusted: code, never input). */
  dueFilter?: string;
}

/** The callback tasks' own tables. */
export const CALLBACK_TABLES: CallbackTables = { tasks: 'callbacks', attempts: 'callback_attempts' };

/** {@link CallbackStore} on SQLite. The attempt policy is applied by {@link SqliteCallbacks.finishAttempt}. */
export class SqliteCallbacks implements CallbackStore {
  readonly #db: SqliteDatabase;
  readonly #policy: DialingPolicy;
  readonly #upsert: SqliteStatement<CallbackRow>;
  readonly #get: SqliteStatement<CallbackRow>;
  readonly #oldestOpen: SqliteStatement<{ id: number }>;
  readonly #oldestOpenInQueue: SqliteStatement<{ id: number }>;
  readonly #due: SqliteStatement<CallbackRow>;
  readonly #dueOfAirings: SqliteStatement<CallbackRow>;
  readonly #claim: Transition;
  readonly #release: Transition;
  readonly #complete: Transition;
  readonly #cancel: Transition;
  readonly #reschedule: SqliteStatement;
  readonly #insertAttempt: SqliteStatement<AttemptRow>;
  readonly #getAttempt: SqliteStatement<AttemptRow>;
  readonly #endAttempt: SqliteStatement;
  readonly #openAttempts: SqliteStatement<AttemptRow>;
  readonly #attemptsOf: SqliteStatement<AttemptRow>;
  readonly #settle: SqliteStatement;
  readonly #counted: SqliteStatement;
  readonly #expire: SqliteStatement;
  readonly #cancelDnc: SqliteStatement;
  readonly #cancelNumber: SqliteStatement;
  readonly #inbound: SqliteStatement<CallbackRow>;
  readonly #byStatus: SqliteStatement<{ status: CallbackStatus; n: number }>;
  readonly #oldestArrival: SqliteStatement<{ at: number | null }>;
  /** Attempts ended by this process, by result (for `onair_callback_attempts_total`). */
  readonly #results: Record<AttemptResult, number>;

  readonly #writer: SqliteWriter;
  readonly #tables: CallbackTables;

  /**
   * `tables`: the same rules over another pair of tables of the same shape (outbound campaigns'
   * contacts, engine/campaigns); `dueFilter` narrows {@link due} (e.g. to running campaigns).
   */
  constructor(db: SqliteDatabase, writer: SqliteWriter, policy: DialingPolicy = DEFAULT_DIALING_POLICY, tables: CallbackTables = CALLBACK_TABLES) {
    const T = tables.tasks;
    const A = tables.attempts;
    const dueFilter = tables.dueFilter === undefined ? '' : ` AND (${tables.dueFilter})`;
    this.#tables = tables;
    this.#db = db;
    this.#writer = writer;
    this.#policy = policy;
    this.#results = Object.fromEntries(ATTEMPT_RESULTS.map((r) => [r, 0])) as Record<AttemptResult, number>;
    // The partial unique index makes the merge atomic: the first abandon inserts, any later one
    // of the same number while a task is open or claimed lands in DO UPDATE. `arrived_at` takes
    // the minimum so that an out-of-order merge (crash recovery) still keeps the first arrival.
    // A caller who tries again while waiting for a retry wants to talk now: the task is due again.
    this.#upsert = db.prepare(`INSERT INTO ${T} (caller, queue, reason, arrived_at, last_arrival_at, first_call_id,
        last_call_id, dialled, programme, customer_id, created_at, updated_at, next_attempt_at, time_zone, airing)
      VALUES (@caller, @queue, @reason, @arrivedAt, @arrivedAt, @callId, @callId, @dialled, @programme, @customerId, @now, @now,
        @now, @timeZone, @airing)
      ON CONFLICT (caller) WHERE status IN ('open', 'claimed') DO UPDATE SET
        abandons = abandons + 1,
        arrived_at = min(arrived_at, excluded.arrived_at),
        last_arrival_at = max(last_arrival_at, excluded.arrived_at),
        last_call_id = excluded.last_call_id,
        customer_id = coalesce(customer_id, excluded.customer_id),
        time_zone = coalesce(time_zone, excluded.time_zone),
        airing = coalesce(airing, excluded.airing),
        next_attempt_at = min(next_attempt_at, excluded.next_attempt_at),
        updated_at = excluded.updated_at
      RETURNING *`);
    this.#get = db.prepare(`SELECT * FROM ${T} WHERE id = ?`);
    this.#oldestOpen = db.prepare(`SELECT id FROM ${T} WHERE status = 'open' ORDER BY arrived_at, id LIMIT 1`);
    this.#oldestOpenInQueue = db.prepare(`SELECT id FROM ${T} WHERE status = 'open' AND queue = ? ORDER BY arrived_at, id LIMIT 1`);
    this.#due = db.prepare(`SELECT * FROM ${T} WHERE status = 'open' AND next_attempt_at <= ?${dueFilter} ORDER BY arrived_at, id LIMIT ?`);
    this.#dueOfAirings = db.prepare(`SELECT * FROM ${T} WHERE status = 'open' AND next_attempt_at <= ?${dueFilter}
      AND airing IN (SELECT value FROM json_each(?)) ORDER BY arrived_at, id LIMIT ?`);
    const noOpenAttempt = `NOT EXISTS (SELECT 1 FROM ${A} a WHERE a.task_id = ${T}.id AND a.ended_at IS NULL)`;
    const t = (from: readonly CallbackStatus[], set: string, extra = ''): Transition => ({
      from,
      stmt: db.prepare(`UPDATE ${T} SET ${set}, updated_at = @now
        WHERE id = @id AND status IN (${from.map((s) => `'${s}'`).join(', ')})${extra}`),
    });
    this.#claim = t(['open'], "status = 'claimed', claimed_by = @by, claimed_at = @now");
    this.#release = t(['claimed'], "status = 'open', claimed_by = NULL, claimed_at = NULL, attempts = attempts + 1, next_attempt_at = @now, note = @note");
    this.#complete = t(['claimed'], "status = 'done', closed_at = @now, note = @note");
    this.#cancel = t(['open', 'claimed'], "status = 'cancelled', closed_at = @now, note = @note");
    this.#reschedule = t(['open', 'claimed'],
      "status = 'open', claimed_by = NULL, claimed_at = NULL, next_attempt_at = @at, note = coalesce(@note, note)",
      ` AND ${noOpenAttempt}`).stmt;
    this.#insertAttempt = db.prepare(`INSERT INTO ${A} (task_id, call_id, agent_id, started_at)
      VALUES (@taskId, @callId, @agentId, @now) RETURNING *`);
    this.#getAttempt = db.prepare(`SELECT * FROM ${A} WHERE id = ?`);
    this.#endAttempt = db.prepare(`UPDATE ${A} SET ended_at = @now, result = @result, trunk = @trunk,
        sip_status = @sipStatus, note = @note
      WHERE id = @id AND ended_at IS NULL`);
    this.#openAttempts = db.prepare(`SELECT * FROM ${A} WHERE ended_at IS NULL ORDER BY id`);
    this.#attemptsOf = db.prepare(`SELECT * FROM ${A} WHERE task_id = ? ORDER BY id`);
    this.#settle = db.prepare(`UPDATE ${T} SET status = @status, attempts = @attempts, last_result = @result,
        next_attempt_at = @nextAt, claimed_by = NULL, claimed_at = NULL,
        closed_at = CASE WHEN @status IN ('open', 'claimed') THEN NULL ELSE @now END, note = @note, updated_at = @now
      WHERE id = @id AND status = 'claimed'`);
    this.#counted = db.prepare(`UPDATE ${T} SET attempts = @attempts, last_result = @result, updated_at = @now
      WHERE id = @id`);
    this.#expire = db.prepare(`UPDATE ${T} SET status = 'expired', closed_at = @now, note = 'expired', updated_at = @now
      WHERE status = 'open' AND arrived_at <= @before`);
    this.#cancelDnc = db.prepare(`UPDATE ${T} SET status = 'cancelled', closed_at = @now, note = 'dnc', updated_at = @now
      WHERE status = 'open' AND caller IN (SELECT number FROM dnc)`);
    this.#cancelNumber = db.prepare(`UPDATE ${T} SET status = 'cancelled', closed_at = @now, note = 'dnc', updated_at = @now
      WHERE status = 'open' AND caller = @number`);
    this.#inbound = db.prepare(`UPDATE ${T} SET status = 'done', closed_at = @now, note = 'inbound', last_call_id = @callId,
        updated_at = @now
      WHERE status = 'open' AND caller = @number RETURNING *`);
    this.#byStatus = db.prepare(`SELECT status, count(*) AS n FROM ${T} GROUP BY status`);
    this.#oldestArrival = db.prepare(`SELECT min(arrived_at) AS at FROM ${T} WHERE status = 'open'`);
  }

  /** {@link create} inside the caller's transaction. */
  createSync(input: CallbackInput, now: number): { task: CallbackTask; created: boolean } {
    const row = this.#upsert.get({
      caller: input.caller, queue: input.queue, reason: input.reason, arrivedAt: input.arrivedAt, callId: input.callId,
      dialled: input.dialled, programme: input.programme, customerId: input.customerId, timeZone: input.timeZone ?? null, airing: input.airing ?? null, now,
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
      return this.#db.prepare<CallbackRow>(`SELECT * FROM ${this.#tables.tasks} ${where} ORDER BY arrived_at, id LIMIT ? OFFSET ?`)
        .all(...params, filter.limit ?? 100, filter.offset ?? 0).map(toTask);
    });
  }

  count(filter: Omit<CallbackFilter, 'limit' | 'offset'> = {}): Promise<number> {
    return settle(() => {
      const { where, params } = this.#where(filter);
      return this.#db.prepare<{ n: number }>(`SELECT count(*) AS n FROM ${this.#tables.tasks} ${where}`).get(...params)!.n;
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

  due(now: number, limit: number, excludeIds?: ReadonlySet<number>): Promise<CallbackTask[]> {
    // Excluded tasks are due too (they sit in the ACD): ask for that many more and drop them.
    return settle(() => notExcluded(this.#due.all(now, limit + (excludeIds?.size ?? 0)), limit, excludeIds));
  }

  dueOfAirings(now: number, limit: number, airings: readonly string[], excludeIds?: ReadonlySet<number>): Promise<CallbackTask[]> {
    if (airings.length === 0) return Promise.resolve([]);
    return settle(() => notExcluded(this.#dueOfAirings.all(now, JSON.stringify(airings), limit + (excludeIds?.size ?? 0)), limit, excludeIds));
  }

  startAttempt(taskId: number, a: { callId: string; agentId: string | null }, now: number): Promise<StoreResult<{ task: CallbackTask; attempt: CallbackAttempt }>> {
    return this.#writer.write(() => transact(this.#db, (): StoreResult<{ task: CallbackTask; attempt: CallbackAttempt }> => {
      const claimed = this.#move(this.#claim, taskId, { by: a.agentId ?? DIALER, now });
      if (!claimed.ok) return claimed;
      const attempt = this.#insertAttempt.get({ taskId, callId: a.callId, agentId: a.agentId, now })!;
      return { ok: true, value: { task: claimed.value, attempt: toAttempt(attempt) } };
    }));
  }

  finishAttempt(attemptId: number, r: AttemptEnd, now: number): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write(() => transact(this.#db, () => this.#finishSync(attemptId, r, now)));
  }

  #finishSync(attemptId: number, r: AttemptEnd, now: number): StoreResult<CallbackTask> {
    const note = r.note ?? null;
    const ended = this.#endAttempt.run({ id: attemptId, now, result: r.result, trunk: r.trunk, sipStatus: r.sipStatus, note });
    if (ended.changes !== 1) {
      const a = this.#getAttempt.get(attemptId);
      return refusal('callback attempt', attemptId, a === undefined ? null : `ended (${a.result ?? 'no result'})`, 'in progress');
    }
    this.#results[r.result]++;
    const attempt = this.#getAttempt.get(attemptId)!;
    const task = this.#get.get(attempt.task_id)!;
    const decision = decideAfterAttempt({ attempts: task.attempts, timeZone: task.time_zone }, r.result, now, this.#policy);
    if (task.status === 'claimed') {
      this.#settle.run({
        id: task.id, now, status: decision.status, attempts: decision.attempts, result: r.result,
        nextAt: decision.status === 'open' ? decision.nextAttemptAt : task.next_attempt_at,
        note: decision.status === 'exhausted' ? note ?? r.result : note ?? task.note,
      });
    } else {
      // Closed while the attempt ran (by hand, an inbound call): the attempt is history, the status stays.
      this.#counted.run({ id: task.id, now, attempts: decision.attempts, result: r.result });
    }
    return { ok: true, value: toTask(this.#get.get(task.id)!) };
  }

  attempts(taskId: number): Promise<CallbackAttempt[]> {
    return settle(() => this.#attemptsOf.all(taskId).map(toAttempt));
  }

  reschedule(id: number, at: number, now: number, note?: string): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write(() => transact(this.#db, (): StoreResult<CallbackTask> => {
      if (this.#reschedule.run({ id, at, now, note: note ?? null }).changes === 1) return { ok: true, value: toTask(this.#get.get(id)!) };
      const r = this.#get.get(id);
      const status = r === undefined ? null : r.status === 'claimed' ? 'claimed with an attempt in progress' : r.status;
      return refusal('callback task', id, status, 'open, or claimed with no attempt in progress');
    }));
  }

  recoverInterrupted(now: number): Promise<number> {
    return this.#writer.write(() => transact(this.#db, () => {
      let n = 0;
      for (const a of this.#openAttempts.all()) {
        if (this.#finishSync(a.id, { result: 'interrupted', trunk: a.trunk, sipStatus: null, note: 'engine stopped during the attempt' }, now).ok) n++;
      }
      return n;
    }));
  }

  expire(now: number): Promise<number> {
    const before = now - this.#policy.expiryHours * 3_600_000;
    return this.#writer.write(() => this.#expire.run({ now, before }).changes);
  }

  cancelDoNotCall(now: number): Promise<number> {
    return this.#writer.write(() => this.#cancelDnc.run({ now }).changes);
  }

  /** {@link cancelDoNotCall} of one number inside the caller's transaction (the DNC store's add). */
  cancelNumberSync(number: string, now: number): number {
    return this.#cancelNumber.run({ number, now }).changes;
  }

  satisfiedByInbound(number: string, callId: string, now: number): Promise<CallbackTask | null> {
    return this.#writer.write(() => {
      const r = this.#inbound.get({ number, callId, now });
      return r === undefined ? null : toTask(r);
    });
  }

  figures(now: number): Promise<CallbackFigures> {
    return settle(() => {
      const byStatus = Object.fromEntries(CALLBACK_STATUSES.map((s) => [s, 0])) as Record<CallbackStatus, number>;
      for (const r of this.#byStatus.all()) byStatus[r.status] = r.n;
      const oldest = this.#oldestArrival.get()?.at ?? null;
      return {
        byStatus, attemptsByResult: { ...this.#results },
        oldestOpenSeconds: oldest === null ? 0 : Math.max(0, now - oldest) / 1000,
      };
    });
  }

  #move(t: Transition, id: number, params: Record<string, unknown>): StoreResult<CallbackTask> {
    return transact(this.#db, (): StoreResult<CallbackTask> => {
      if (t.stmt.run({ ...params, id }).changes === 1) return { ok: true, value: toTask(this.#get.get(id)!) };
      return refusal('callback task', id, this.#get.get(id)?.status ?? null, t.from.join(' or '));
    });
  }

  #where(filter: Omit<CallbackFilter, 'limit' | 'offset'>): { where: string; params: unknown[] } {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (filter.status !== undefined) {
      const list = typeof filter.status === 'string' ? [filter.status] : filter.status;
      // Statuses go into the SQL text only after checking them against the known list.
      const valid = list.filter((s) => (CALLBACK_STATUSES as readonly string[]).includes(s));
      clauses.push(valid.length === 0 ? '0' : `status IN (${valid.map((s) => `'${s}'`).join(', ')})`);
    }
    if (filter.queue !== undefined) {
      clauses.push('queue = ?');
      params.push(filter.queue);
    }
    return { where: clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`, params };
  }
}
