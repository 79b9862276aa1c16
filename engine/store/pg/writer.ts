/**
 * Group commit on PostgreSQL, with the semantics of the SQLite writer (engine/db `SqliteWriter`):
 * the writes issued in one event-loop turn (or one commit window) run in one transaction, in the
 * order they were issued, and their promises resolve only after its COMMIT. A write that throws is
 * undone alone and its promise rejects: the group runs again with each write inside its own
 * SAVEPOINT (PostgreSQL aborts the whole transaction on an error otherwise). A write must therefore
 * touch nothing but the database before its commit (no counters, no caches: do those once it
 * resolves). A failed COMMIT rejects every write of the group.
 *
 * One group runs at a time on one connection of the pool: writes issued while a group is being
 * committed form the next group. That keeps the order of the writes of one call (outbox ids of a
 * lane increase in issue order) as SQLite's single connection does.
 */
import { sql, type Kysely, type Transaction } from 'kysely';

/** What a write runs on: the group's transaction. */
export type PgTx = Transaction<PgTables>;
/** The store reaches its tables through `sql` templates; the query builder's table types are not used. */
export type PgTables = Record<string, never>;

/**
 * Fencing (issue 19, engine/ha): a check run first in every write transaction, which throws when
 * this node may no longer write (its lease epoch is not the database's). Every write of the group
 * is then refused, and nothing of it is committed.
 */
export interface WriteFence {
  check(tx: PgTx): Promise<void>;
}

interface Job {
  fn: (tx: PgTx) => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (err: unknown) => void;
}

/** Runs the PostgreSQL store's writes, grouped per turn or window, or one transaction each. */
export class PgWriter {
  readonly grouped: boolean;
  readonly #db: Kysely<PgTables>;
  readonly #windowMs: number;
  #queue: Job[] = [];
  #scheduled = false;
  #running: Promise<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #kick = (): void => this.#start();
  #fence: WriteFence | null = null;
  /** Transactions committed so far (one per group when grouped): what the group-commit tests count. */
  commits = 0;

  constructor(db: Kysely<PgTables>, grouped: boolean, windowMs = 0) {
    this.#db = db;
    this.grouped = grouped;
    this.#windowMs = windowMs;
  }

  /** Check `fence` at the start of every write transaction from now on (null: no check). */
  setFence(fence: WriteFence | null): void {
    this.#fence = fence;
  }

  /** Run a write; the promise resolves with its result once it is committed. */
  write<R>(fn: (tx: PgTx) => Promise<R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Commit everything issued so far; resolves when it is committed (or failed). */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#running !== null) await this.#running;
      else if (this.#queue.length > 0) this.#start();
      else return;
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#running !== null) return;
    this.#scheduled = true;
    // Not unref()ed: a process awaiting only this commit (start-up recovery) must not exit first.
    if (this.grouped && this.#windowMs > 0) this.#timer = setTimeout(this.#kick, this.#windowMs);
    else setImmediate(this.#kick);
  }

  #start(): void {
    if (this.#running !== null) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#scheduled = false;
    const jobs = this.#queue;
    this.#queue = [];
    if (jobs.length === 0) return;
    this.#running = (this.grouped ? this.#group(jobs) : this.#each(jobs)).finally(() => {
      this.#running = null;
      // Writes issued while this group committed: the next group, at once (they waited already).
      if (this.#queue.length > 0) this.#start();
    });
  }

  async #group(jobs: Job[]): Promise<void> {
    // First without savepoints (two round trips fewer per write); only when a write fails is the
    // group run again with one savepoint per write, so that the failing write is undone alone.
    // A failure outside the writes (COMMIT, the connection) rejects the group: it may have
    // committed, and running it again could write it twice.
    let failedInWrite = false;
    let values: unknown[] = [];
    try {
      await this.#db.transaction().execute(async (tx) => {
        values = [];
        await this.#fence?.check(tx);
        for (const job of jobs) {
          try {
            values.push(await job.fn(tx));
          } catch (err) {
            failedInWrite = true;
            throw err;
          }
        }
      });
    } catch (err) {
      if (failedInWrite && jobs.length > 1) return this.#isolated(jobs);
      for (const job of jobs) job.reject(err);
      return;
    }
    this.commits++;
    jobs.forEach((job, i) => job.resolve(values[i]));
  }

  async #isolated(jobs: Job[]): Promise<void> {
    const results: { ok: boolean; value: unknown }[] = [];
    try {
      await this.#db.transaction().execute(async (tx) => {
        await this.#fence?.check(tx);
        for (const job of jobs) {
          await sql`SAVEPOINT w`.execute(tx);
          try {
            const value = await job.fn(tx);
            await sql`RELEASE SAVEPOINT w`.execute(tx);
            results.push({ ok: true, value });
          } catch (err) {
            await sql`ROLLBACK TO SAVEPOINT w`.execute(tx);
            await sql`RELEASE SAVEPOINT w`.execute(tx);
            results.push({ ok: false, value: err });
          }
        }
      });
    } catch (err) {
      for (const job of jobs) job.reject(err);
      return;
    }
    this.commits++;
    jobs.forEach((job, i) => {
      const r = results[i]!;
      if (r.ok) job.resolve(r.value);
      else job.reject(r.value);
    });
  }

  async #each(jobs: Job[]): Promise<void> {
    for (const job of jobs) {
      try {
        const value = await this.#db.transaction().execute(async (tx) => {
          await this.#fence?.check(tx);
          return job.fn(tx);
        });
        this.commits++;
        job.resolve(value);
      } catch (err) {
        job.reject(err);
      }
    }
  }
}
