/**
 * The do-not-call list on PostgreSQL (table `dnc`, as dnc.ts). `has` is synchronous (it is asked
 * for every due task before it is dialled): the numbers are held in memory, loaded at open and
 * changed once each add/remove has committed. A number another engine adds to the same database is
 * seen here after a restart; the open callback task of that number is cancelled by the adding
 * engine's transaction at once, so it is not dialled in between.
 */
import { sql, type Kysely } from 'kysely';
import type { DncEntry, DncSource, DncStore } from '../types.ts';
import { toDncEntry, type DncRow } from '../dnc.ts';
import type { PgCallbacks } from './callbacks.ts';
import type { PgTables, PgTx, PgWriter } from './writer.ts';

/** {@link DncStore} on PostgreSQL. */
export class PgDnc implements DncStore {
  readonly #db: Kysely<PgTables>;
  readonly #writer: PgWriter;
  readonly #callbacks: PgCallbacks;
  readonly #numbers = new Set<string>();

  constructor(db: Kysely<PgTables>, writer: PgWriter, callbacks: PgCallbacks) {
    this.#db = db;
    this.#writer = writer;
    this.#callbacks = callbacks;
  }

  /** Read the list into memory (at open). */
  async load(): Promise<void> {
    const r = await sql<{ number: string }>`SELECT number FROM dnc`.execute(this.#db);
    this.#numbers.clear();
    for (const row of r.rows) this.#numbers.add(row.number);
  }

  has(number: string): boolean {
    return this.#numbers.has(number);
  }

  async add(number: string, now: number, source: DncSource, note: string | null = null): Promise<{ entry: DncEntry; added: boolean; cancelled: number }> {
    const r = await this.#writer.write(async (tx) => {
      const added = await this.#insert(tx, number, now, source, note);
      const cancelled = await this.#callbacks.cancelNumberIn(tx, number, now);
      const row = (await sql<DncRow>`SELECT * FROM dnc WHERE number = ${number}`.execute(tx)).rows[0]!;
      return { entry: toDncEntry(row), added, cancelled };
    });
    this.#numbers.add(number);
    return r;
  }

  async addMany(numbers: readonly string[], now: number, source: DncSource, note: string | null = null): Promise<{ added: number; already: number; cancelled: number }> {
    const r = await this.#writer.write(async (tx) => {
      let added = 0;
      let cancelled = 0;
      for (const number of numbers) {
        if (await this.#insert(tx, number, now, source, note)) added++;
        cancelled += await this.#callbacks.cancelNumberIn(tx, number, now);
      }
      return { added, already: numbers.length - added, cancelled };
    });
    for (const n of numbers) this.#numbers.add(n);
    return r;
  }

  async remove(number: string): Promise<boolean> {
    const removed = await this.#writer.write(async (tx) =>
      Number((await sql`DELETE FROM dnc WHERE number = ${number}`.execute(tx)).numAffectedRows ?? 0n) === 1);
    this.#numbers.delete(number);
    return removed;
  }

  async get(number: string): Promise<DncEntry | null> {
    const r = await sql<DncRow>`SELECT * FROM dnc WHERE number = ${number}`.execute(this.#db);
    return r.rows[0] === undefined ? null : toDncEntry(r.rows[0]);
  }

  async list(limit: number, offset: number): Promise<DncEntry[]> {
    // COLLATE "C": byte order, as SQLite's default BINARY collation sorts.
    const r = await sql<DncRow>`SELECT * FROM dnc ORDER BY number COLLATE "C" LIMIT ${limit} OFFSET ${offset}`.execute(this.#db);
    return r.rows.map(toDncEntry);
  }

  async count(): Promise<number> {
    return (await sql<{ n: number }>`SELECT count(*)::int AS n FROM dnc`.execute(this.#db)).rows[0]!.n;
  }

  async #insert(tx: PgTx, number: string, now: number, source: DncSource, note: string | null): Promise<boolean> {
    const r = await sql`INSERT INTO dnc (number, added_at, source, note) VALUES (${number}, ${now}, ${source}, ${note}) ON CONFLICT (number) DO NOTHING`.execute(tx);
    return Number(r.numAffectedRows ?? 0n) === 1;
  }
}
