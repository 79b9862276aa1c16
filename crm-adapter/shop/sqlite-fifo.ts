/**
 * Kysely's SQLite dialect with a first-come-first-served connection hand-off. SQLite has one
 * connection (better-sqlite3 is synchronous), so Kysely serialises every query through a mutex;
 * its mutex has all waiters await one promise and wakes every one at each release, all but one
 * waiting again: once a queue forms (a surge of caller look-ups), each query costs O(waiters), the
 * queue stops draining, and a transaction can wait behind later arrivals forever (docs/bench.md,
 * Shop). Here the waiters queue in arrival order and the connection is handed to the next one
 * directly, so a release costs O(1) and nobody starves; Kysely's own mutex is then never contended.
 */
import { SqliteDialect, type DatabaseConnection, type Driver, type TransactionSettings } from 'kysely';

/** A FIFO gate in front of the one connection of a Kysely SQLite driver. */
class FifoDriver implements Driver {
  readonly #inner: Driver;
  #held = false;
  // A ring of waiters by index (no Array#shift per release: CONVENTIONS.md 8).
  #waiters: (() => void)[] = [];
  #head = 0;

  constructor(inner: Driver) {
    this.#inner = inner;
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#held) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    else this.#held = true;
    return this.#inner.acquireConnection();
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    await this.#inner.releaseConnection(connection);
    const next = this.#waiters[this.#head];
    if (next === undefined) {
      this.#held = false;
      return;
    }
    this.#waiters[this.#head++] = undefined as unknown as () => void;
    if (this.#head === this.#waiters.length) {
      this.#waiters = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
      this.#waiters = this.#waiters.slice(this.#head);
      this.#head = 0;
    }
    // Still held: handed to the next in line.
    next();
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(connection);
  }

  savepoint(...args: Parameters<NonNullable<Driver['savepoint']>>): Promise<void> {
    return this.#inner.savepoint!(...args);
  }

  rollbackToSavepoint(...args: Parameters<NonNullable<Driver['rollbackToSavepoint']>>): Promise<void> {
    return this.#inner.rollbackToSavepoint!(...args);
  }

  releaseSavepoint(...args: Parameters<NonNullable<Driver['releaseSavepoint']>>): Promise<void> {
    return this.#inner.releaseSavepoint!(...args);
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

/** {@link SqliteDialect} whose driver hands the connection over in arrival order; see the module comment. */
export class FifoSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    return new FifoDriver(super.createDriver());
  }
}
