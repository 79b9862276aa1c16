/**
 * Callback tasks and their attempts on PostgreSQL: the same tables, transitions and attempt policy
 * as callbacks.ts. Every state change is one `UPDATE ... WHERE id = ... AND status IN (...)
 * RETURNING *`: under READ COMMITTED a second engine (or a second write) updating the same row
 * waits for the first to commit and then re-checks the status, so a task is claimed once and an
 * attempt finished once. `claimNext` takes the oldest open task with `FOR UPDATE SKIP LOCKED`, so
 * two engines claiming at once get two different tasks instead of waiting on one.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { ATTEMPT_RESULTS, DEFAULT_DIALING_POLICY, decideAfterAttempt, type AttemptResult, type DialingPolicy } from '../../callbacks/index.ts';
import {
  CALLBACK_STATUSES,
  type AttemptEnd, type CallbackAttempt, type CallbackFigures, type CallbackFilter, type CallbackInput, type CallbackStatus,
  type CallbackStore, type CallbackTask, type StoreResult,
} from '../types.ts';
import { DIALER, notExcluded, refusal, toAttempt, toTask, type AttemptRow, type CallbackRow } from '../callbacks.ts';
import type { PgTables, PgTx, PgWriter } from './writer.ts';

type Exec = Kysely<PgTables>;

/** A state change: the states it may start from and its SET clause. */
interface Transition {
  from: readonly CallbackStatus[];
  set: (p: { now: number; by?: string; note?: string | null }) => RawBuilder<unknown>;
}

const inStates = (from: readonly CallbackStatus[]): RawBuilder<unknown> => sql.raw(from.map((s) => `'${s}'`).join(', '));

const CLAIM: Transition = { from: ['open'], set: (p) => sql`status = 'claimed', claimed_by = ${p.by}, claimed_at = ${p.now}` };
const RELEASE: Transition = {
  from: ['claimed'],
  set: (p) => sql`status = 'open', claimed_by = NULL, claimed_at = NULL, attempts = attempts + 1, next_attempt_at = ${p.now}, note = ${p.note ?? null}`,
};
const COMPLETE: Transition = { from: ['claimed'], set: (p) => sql`status = 'done', closed_at = ${p.now}, note = ${p.note ?? null}` };
const CANCEL: Transition = { from: ['open', 'claimed'], set: (p) => sql`status = 'cancelled', closed_at = ${p.now}, note = ${p.note ?? null}` };

/** {@link CallbackStore} on PostgreSQL. */
export class PgCallbacks implements CallbackStore {
  readonly #db: Exec;
  readonly #writer: PgWriter;
  readonly #policy: DialingPolicy;
  readonly #results: Record<AttemptResult, number>;

  constructor(db: Exec, writer: PgWriter, policy: DialingPolicy = DEFAULT_DIALING_POLICY) {
    this.#db = db;
    this.#writer = writer;
    this.#policy = policy;
    this.#results = Object.fromEntries(ATTEMPT_RESULTS.map((r) => [r, 0])) as Record<AttemptResult, number>;
  }

  /** {@link create} inside the caller's write (the merge rule of the SQLite store, same partial unique index). */
  async createIn(tx: PgTx, input: CallbackInput, now: number): Promise<{ task: CallbackTask; created: boolean }> {
    const r = await sql<CallbackRow>`INSERT INTO callbacks (caller, queue, reason, arrived_at, last_arrival_at, first_call_id,
        last_call_id, dialled, programme, customer_id, created_at, updated_at, next_attempt_at, time_zone, airing)
      VALUES (${input.caller}, ${input.queue}, ${input.reason}, ${input.arrivedAt}, ${input.arrivedAt}, ${input.callId}, ${input.callId},
        ${input.dialled}, ${input.programme}, ${input.customerId}, ${now}, ${now}, ${now}, ${input.timeZone ?? null}, ${input.airing ?? null})
      ON CONFLICT (caller) WHERE status IN ('open', 'claimed') DO UPDATE SET
        abandons = callbacks.abandons + 1,
        arrived_at = LEAST(callbacks.arrived_at, excluded.arrived_at),
        last_arrival_at = GREATEST(callbacks.last_arrival_at, excluded.arrived_at),
        last_call_id = excluded.last_call_id,
        customer_id = coalesce(callbacks.customer_id, excluded.customer_id),
        time_zone = coalesce(callbacks.time_zone, excluded.time_zone),
        airing = coalesce(callbacks.airing, excluded.airing),
        next_attempt_at = LEAST(callbacks.next_attempt_at, excluded.next_attempt_at),
        updated_at = excluded.updated_at
      RETURNING *`.execute(tx);
    const row = r.rows[0]!;
    return { task: toTask(row), created: row.abandons === 1 && row.first_call_id === input.callId };
  }

  create(input: CallbackInput, now: number): Promise<{ task: CallbackTask; created: boolean }> {
    return this.#writer.write((tx) => this.createIn(tx, input, now));
  }

  get(id: number): Promise<CallbackTask | null> {
    return this.getIn(this.#db, id);
  }

  /** {@link get} on `ex` (the pool, or a write's transaction). */
  /** Tasks by id, in one statement (missing ids are left out). */
  async getAllIn(ex: Exec, ids: readonly number[]): Promise<CallbackTask[]> {
    if (ids.length === 0) return [];
    const r = await sql<CallbackRow>`SELECT * FROM callbacks WHERE id = ANY(${[...ids]}::bigint[]) ORDER BY id`.execute(ex);
    return r.rows.map(toTask);
  }

  async getIn(ex: Exec, id: number): Promise<CallbackTask | null> {
    const r = await sql<CallbackRow>`SELECT * FROM callbacks WHERE id = ${id}`.execute(ex);
    return r.rows[0] === undefined ? null : toTask(r.rows[0]);
  }

  async list(filter: CallbackFilter = {}): Promise<CallbackTask[]> {
    const r = await sql<CallbackRow>`SELECT * FROM callbacks ${where(filter)} ORDER BY arrived_at, id
      LIMIT ${filter.limit ?? 100} OFFSET ${filter.offset ?? 0}`.execute(this.#db);
    return r.rows.map(toTask);
  }

  async count(filter: Omit<CallbackFilter, 'limit' | 'offset'> = {}): Promise<number> {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM callbacks ${where(filter)}`.execute(this.#db);
    return r.rows[0]!.n;
  }

  claim(id: number, by: string, now: number): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write((tx) => this.#move(tx, CLAIM, id, { by, now }));
  }

  claimNext(by: string, now: number, queue?: string): Promise<CallbackTask | null> {
    return this.#writer.write(async (tx) => {
      const inQueue = queue === undefined ? sql`` : sql`AND queue = ${queue}`;
      const r = await sql<CallbackRow>`UPDATE callbacks SET status = 'claimed', claimed_by = ${by}, claimed_at = ${now}, updated_at = ${now}
        WHERE id = (SELECT id FROM callbacks WHERE status = 'open' ${inQueue} ORDER BY arrived_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
          AND status = 'open'
        RETURNING *`.execute(tx);
      return r.rows[0] === undefined ? null : toTask(r.rows[0]);
    });
  }

  release(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write((tx) => this.#move(tx, RELEASE, id, { now, note: note ?? null }));
  }

  complete(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write((tx) => this.#move(tx, COMPLETE, id, { now, note: note ?? null }));
  }

  cancel(id: number, now: number, note?: string): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write((tx) => this.#move(tx, CANCEL, id, { now, note: note ?? null }));
  }

  async due(now: number, limit: number, excludeIds?: ReadonlySet<number>): Promise<CallbackTask[]> {
    // Excluded tasks are due too (they sit in the ACD): ask for that many more and drop them.
    const r = await sql<CallbackRow>`SELECT * FROM callbacks WHERE status = 'open' AND next_attempt_at <= ${now}
      ORDER BY arrived_at, id LIMIT ${limit + (excludeIds?.size ?? 0)}`.execute(this.#db);
    return notExcluded(r.rows, limit, excludeIds);
  }

  async dueOfAirings(now: number, limit: number, airings: readonly string[], excludeIds?: ReadonlySet<number>): Promise<CallbackTask[]> {
    if (airings.length === 0) return [];
    const r = await sql<CallbackRow>`SELECT * FROM callbacks WHERE status = 'open' AND next_attempt_at <= ${now} AND airing = ANY(${[...airings]}::text[])
      ORDER BY arrived_at, id LIMIT ${limit + (excludeIds?.size ?? 0)}`.execute(this.#db);
    return notExcluded(r.rows, limit, excludeIds);
  }

  startAttempt(taskId: number, a: { callId: string; agentId: string | null }, now: number): Promise<StoreResult<{ task: CallbackTask; attempt: CallbackAttempt }>> {
    return this.#writer.write(async (tx): Promise<StoreResult<{ task: CallbackTask; attempt: CallbackAttempt }>> => {
      const claimed = await this.#move(tx, CLAIM, taskId, { by: a.agentId ?? DIALER, now });
      if (!claimed.ok) return claimed;
      const r = await sql<AttemptRow>`INSERT INTO callback_attempts (task_id, call_id, agent_id, started_at)
        VALUES (${taskId}, ${a.callId}, ${a.agentId}, ${now}) RETURNING *`.execute(tx);
      return { ok: true, value: { task: claimed.value, attempt: toAttempt(r.rows[0]!) } };
    });
  }

  finishAttempt(attemptId: number, r: AttemptEnd, now: number): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write((tx) => this.#finishIn(tx, attemptId, r, now)).then((done) => {
      // Counted once committed: a write may run twice (writer.ts).
      if (done.ok) this.#results[r.result]++;
      return done;
    });
  }

  async #finishIn(tx: PgTx, attemptId: number, r: AttemptEnd, now: number): Promise<StoreResult<CallbackTask>> {
    const note = r.note ?? null;
    // Only an attempt in progress ends: a second finish (or the other engine's) finds ended_at set.
    const ended = await sql<AttemptRow>`UPDATE callback_attempts SET ended_at = ${now}, result = ${r.result}, trunk = ${r.trunk},
        sip_status = ${r.sipStatus}, note = ${note}
      WHERE id = ${attemptId} AND ended_at IS NULL RETURNING *`.execute(tx);
    const attempt = ended.rows[0];
    if (attempt === undefined) {
      const a = await sql<AttemptRow>`SELECT * FROM callback_attempts WHERE id = ${attemptId}`.execute(tx);
      return refusal('callback attempt', attemptId, a.rows[0] === undefined ? null : `ended (${a.rows[0].result ?? 'no result'})`, 'in progress');
    }
    const t = await sql<CallbackRow>`SELECT * FROM callbacks WHERE id = ${attempt.task_id} FOR UPDATE`.execute(tx);
    const task = t.rows[0]!;
    const decision = decideAfterAttempt({ attempts: task.attempts, timeZone: task.time_zone }, r.result, now, this.#policy);
    let after: CallbackRow | undefined;
    if (task.status === 'claimed') {
      const status = decision.status;
      const nextAt = status === 'open' ? decision.nextAttemptAt : task.next_attempt_at;
      const closedAt = status === 'open' ? null : now;
      const taskNote = status === 'exhausted' ? note ?? r.result : note ?? task.note;
      after = (await sql<CallbackRow>`UPDATE callbacks SET status = ${status}, attempts = ${decision.attempts}, last_result = ${r.result},
          next_attempt_at = ${nextAt}, claimed_by = NULL, claimed_at = NULL, closed_at = ${closedAt}, note = ${taskNote}, updated_at = ${now}
        WHERE id = ${task.id} AND status = 'claimed' RETURNING *`.execute(tx)).rows[0];
    } else {
      // Closed while the attempt ran (by hand, an inbound call): the attempt is history, the status stays.
      after = (await sql<CallbackRow>`UPDATE callbacks SET attempts = ${decision.attempts}, last_result = ${r.result}, updated_at = ${now}
        WHERE id = ${task.id} RETURNING *`.execute(tx)).rows[0];
    }
    return { ok: true, value: toTask(after!) };
  }

  async attempts(taskId: number): Promise<CallbackAttempt[]> {
    const r = await sql<AttemptRow>`SELECT * FROM callback_attempts WHERE task_id = ${taskId} ORDER BY id`.execute(this.#db);
    return r.rows.map(toAttempt);
  }

  reschedule(id: number, at: number, now: number, note?: string): Promise<StoreResult<CallbackTask>> {
    return this.#writer.write(async (tx): Promise<StoreResult<CallbackTask>> => {
      const r = await sql<CallbackRow>`UPDATE callbacks SET status = 'open', claimed_by = NULL, claimed_at = NULL, next_attempt_at = ${at},
          note = coalesce(${note ?? null}::text, note), updated_at = ${now}
        WHERE id = ${id} AND status IN ('open', 'claimed')
          AND NOT EXISTS (SELECT 1 FROM callback_attempts a WHERE a.task_id = callbacks.id AND a.ended_at IS NULL)
        RETURNING *`.execute(tx);
      if (r.rows[0] !== undefined) return { ok: true, value: toTask(r.rows[0]) };
      const cur = await this.getIn(tx, id);
      const status = cur === null ? null : cur.status === 'claimed' ? 'claimed with an attempt in progress' : cur.status;
      return refusal('callback task', id, status, 'open, or claimed with no attempt in progress');
    });
  }

  recoverInterrupted(now: number): Promise<number> {
    return this.#writer.write(async (tx) => {
      const open = await sql<AttemptRow>`SELECT * FROM callback_attempts WHERE ended_at IS NULL ORDER BY id`.execute(tx);
      let n = 0;
      for (const a of open.rows) {
        const r = await this.#finishIn(tx, a.id, { result: 'interrupted', trunk: a.trunk, sipStatus: null, note: 'engine stopped during the attempt' }, now);
        if (r.ok) n++;
      }
      return n;
    }).then((n) => {
      this.#results.interrupted += n;
      return n;
    });
  }

  expire(now: number): Promise<number> {
    const before = now - this.#policy.expiryHours * 3_600_000;
    return this.#writer.write(async (tx) => count(await sql`UPDATE callbacks SET status = 'expired', closed_at = ${now}, note = 'expired', updated_at = ${now}
      WHERE status = 'open' AND arrived_at <= ${before}`.execute(tx)));
  }

  cancelDoNotCall(now: number): Promise<number> {
    return this.#writer.write(async (tx) => count(await sql`UPDATE callbacks SET status = 'cancelled', closed_at = ${now}, note = 'dnc', updated_at = ${now}
      WHERE status = 'open' AND caller IN (SELECT number FROM dnc)`.execute(tx)));
  }

  /** {@link cancelDoNotCall} of one number inside the caller's write (the DNC store's add). */
  async cancelNumberIn(tx: PgTx, number: string, now: number): Promise<number> {
    return count(await sql`UPDATE callbacks SET status = 'cancelled', closed_at = ${now}, note = 'dnc', updated_at = ${now}
      WHERE status = 'open' AND caller = ${number}`.execute(tx));
  }

  satisfiedByInbound(number: string, callId: string, now: number): Promise<CallbackTask | null> {
    return this.#writer.write(async (tx) => {
      const r = await sql<CallbackRow>`UPDATE callbacks SET status = 'done', closed_at = ${now}, note = 'inbound', last_call_id = ${callId},
          updated_at = ${now}
        WHERE status = 'open' AND caller = ${number} RETURNING *`.execute(tx);
      return r.rows[0] === undefined ? null : toTask(r.rows[0]);
    });
  }

  async figures(now: number): Promise<CallbackFigures> {
    const byStatus = Object.fromEntries(CALLBACK_STATUSES.map((s) => [s, 0])) as Record<CallbackStatus, number>;
    const rows = await sql<{ status: CallbackStatus; n: number }>`SELECT status, count(*)::int AS n FROM callbacks GROUP BY status`.execute(this.#db);
    for (const r of rows.rows) byStatus[r.status] = r.n;
    const o = await sql<{ at: number | null }>`SELECT min(arrived_at) AS at FROM callbacks WHERE status = 'open'`.execute(this.#db);
    const oldest = o.rows[0]?.at ?? null;
    return { byStatus, attemptsByResult: { ...this.#results }, oldestOpenSeconds: oldest === null ? 0 : Math.max(0, now - oldest) / 1000 };
  }

  async #move(tx: PgTx, t: Transition, id: number, p: { now: number; by?: string; note?: string | null }): Promise<StoreResult<CallbackTask>> {
    const r = await sql<CallbackRow>`UPDATE callbacks SET ${t.set(p)}, updated_at = ${p.now}
      WHERE id = ${id} AND status IN (${inStates(t.from)}) RETURNING *`.execute(tx);
    if (r.rows[0] !== undefined) return { ok: true, value: toTask(r.rows[0]) };
    return refusal('callback task', id, (await this.getIn(tx, id))?.status ?? null, t.from.join(' or '));
  }
}

function count(r: { numAffectedRows?: bigint }): number {
  return Number(r.numAffectedRows ?? 0n);
}

function where(filter: Omit<CallbackFilter, 'limit' | 'offset'>): RawBuilder<unknown> {
  const clauses: RawBuilder<unknown>[] = [];
  if (filter.status !== undefined) {
    const list = typeof filter.status === 'string' ? [filter.status] : filter.status;
    // Statuses go into the SQL text only after checking them against the known list.
    const valid = list.filter((s): s is CallbackStatus => (CALLBACK_STATUSES as readonly string[]).includes(s));
    clauses.push(valid.length === 0 ? sql`false` : sql`status IN (${inStates(valid)})`);
  }
  if (filter.queue !== undefined) clauses.push(sql`queue = ${filter.queue}`);
  return clauses.length === 0 ? sql`` : sql`WHERE ${sql.join(clauses, sql` AND `)}`;
}
