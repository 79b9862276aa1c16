/**
 * The journal of calls in progress on PostgreSQL (table `call_journal`, as journal.ts): one row per
 * call, one statement per stage, in the writer's group transaction.
 */
import { sql, type Kysely } from 'kysely';
import type { ArrivalInfo, CallJournal, JournalEntry } from '../types.ts';
import { toEntry, type JournalRow } from '../journal.ts';
import type { PgTables, PgTx, PgWriter } from './writer.ts';

/** {@link CallJournal} on PostgreSQL. */
export class PgJournal implements CallJournal {
  readonly #db: Kysely<PgTables>;
  readonly #writer: PgWriter;

  constructor(db: Kysely<PgTables>, writer: PgWriter) {
    this.#db = db;
    this.#writer = writer;
  }

  arrived(callId: string, info: ArrivalInfo, at: number): Promise<void> {
    return this.#run(sql`INSERT INTO call_journal (call_id, state, caller, dialled, programme, airing, customer_id, queue, arrived_at, updated_at)
      VALUES (${callId}, 'arrived', ${info.caller}, ${info.dialled}, ${info.programme}, ${info.airing}, ${info.customerId}, ${info.queue}, ${at}, ${at})
      ON CONFLICT (call_id) DO NOTHING`);
  }

  ivrExited(callId: string, at: number): Promise<void> {
    return this.#run(sql`UPDATE call_journal SET state = 'ivr_exited', ivr_exit_at = ${at}, updated_at = ${at} WHERE call_id = ${callId}`);
  }

  queued(callId: string, queue: string, at: number): Promise<void> {
    // A call re-queued after ring-no-answer keeps its first queued_at.
    return this.#run(sql`UPDATE call_journal SET state = 'queued', queue = ${queue}, queued_at = coalesce(queued_at, ${at}),
      agent = NULL, updated_at = ${at} WHERE call_id = ${callId}`);
  }

  offered(callId: string, agent: string, at: number): Promise<void> {
    return this.#run(sql`UPDATE call_journal SET state = 'offered', agent = ${agent}, offered_at = coalesce(offered_at, ${at}),
      offers = offers + 1, updated_at = ${at} WHERE call_id = ${callId}`);
  }

  answered(callId: string, agent: string, at: number): Promise<void> {
    return this.#run(sql`UPDATE call_journal SET state = 'answered', agent = ${agent}, answered_at = ${at}, updated_at = ${at} WHERE call_id = ${callId}`);
  }

  ringingHeld(callId: string, at: number): Promise<void> {
    return this.#run(sql`UPDATE call_journal SET treatment = 'ringing', ringing_since = ${at}, updated_at = ${at} WHERE call_id = ${callId}`);
  }

  ringingEnded(callId: string, ringingMs: number, at: number): Promise<void> {
    return this.#run(sql`UPDATE call_journal SET ringing_since = NULL, ringing_ms = ${ringingMs}, updated_at = ${at} WHERE call_id = ${callId}`);
  }

  relayed(callId: string, relay: string | null, at: number): Promise<void> {
    return this.#run(sql`UPDATE call_journal SET relay = ${relay}, updated_at = ${at} WHERE call_id = ${callId}`);
  }

  async get(callId: string): Promise<JournalEntry | null> {
    const r = await sql<JournalRow>`SELECT * FROM call_journal WHERE call_id = ${callId}`.execute(this.#db);
    return r.rows[0] === undefined ? null : toEntry(r.rows[0]);
  }

  list(): Promise<JournalEntry[]> {
    return this.listIn(this.#db);
  }

  heartbeat(now: number): Promise<void> {
    return this.#run(sql`INSERT INTO store_meta (key, value) VALUES ('heartbeat', ${now}) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  }

  /** Every row, oldest arrival first; inside a write, the rows are locked (crash recovery). */
  async listIn(ex: Kysely<PgTables>, lock = false): Promise<JournalEntry[]> {
    const r = await sql<JournalRow>`SELECT * FROM call_journal ORDER BY arrived_at, call_id COLLATE "C" ${lock ? sql`FOR UPDATE` : sql``}`.execute(ex);
    return r.rows.map(toEntry);
  }

  /** Remove a call (inside the caller's write). */
  async removeIn(tx: PgTx, callId: string): Promise<void> {
    await sql`DELETE FROM call_journal WHERE call_id = ${callId}`.execute(tx);
  }

  /** Remove several calls in one statement (crash recovery). */
  async removeAllIn(tx: PgTx, callIds: readonly string[]): Promise<void> {
    if (callIds.length > 0) await sql`DELETE FROM call_journal WHERE call_id = ANY(${[...callIds]}::text[])`.execute(tx);
  }

  /** Last heartbeat, or null. */
  async lastHeartbeatIn(tx: PgTx): Promise<number | null> {
    const r = await sql<{ value: number }>`SELECT value FROM store_meta WHERE key = 'heartbeat'`.execute(tx);
    return r.rows[0]?.value ?? null;
  }

  #run(q: ReturnType<typeof sql>): Promise<void> {
    return this.#writer.write(async (tx) => void await q.execute(tx));
  }
}
