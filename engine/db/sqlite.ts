/**
 * Opening the SQLite database: file location, WAL, the durability setting, schema migrations,
 * transactions and the group-commit writer. Shared by engine/store and crm-adapter (the built-in
 * CRM keeps its tables in the engine's file), so it sits below both.
 *
 * Durability trade-off (`synchronous`):
 * - `normal` (default) — WAL with `synchronous=NORMAL`. A transaction is in the WAL file (the OS
 *   page cache) when `COMMIT` returns, so it survives a crash or `kill -9` of the engine process.
 *   A power loss or kernel panic can lose the last transactions (never corrupts the file).
 *   Commits cost no fsync: tens of microseconds.
 * - `full` — WAL with `synchronous=FULL`: every commit is fsynced before it returns, so an
 *   accepted CDR also survives power loss. Each commit costs one fsync (0.1–10 ms by disk).
 *
 * better-sqlite3 ships no types; the small part of its API that the store uses is declared here
 * instead of adding `@types/better-sqlite3` (not on the approved dependency list).
 */
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** A prepared statement (the part of better-sqlite3's `Statement` the store uses). */
export interface SqliteStatement<Row = unknown> {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Row | undefined;
  all(...params: unknown[]): Row[];
}

/** An open database (the part of better-sqlite3's `Database` the store uses). */
export interface SqliteDatabase {
  prepare<Row = unknown>(sql: string): SqliteStatement<Row>;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Wraps `fn` in BEGIN/COMMIT (a SAVEPOINT when already inside a transaction). */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
  close(): unknown;
  readonly open: boolean;
  readonly inTransaction: boolean;
  readonly memory: boolean;
  readonly name: string;
}

type SqliteConstructor = new (filename: string, options?: { timeout?: number }) => SqliteDatabase;

const require = createRequire(import.meta.url);
let ctor: SqliteConstructor | undefined;
function sqlite(): SqliteConstructor {
  // Loaded on first use so that importing the store costs nothing when another backend is used.
  ctor ??= require('better-sqlite3') as SqliteConstructor;
  return ctor;
}

/** How hard a commit is pushed to disk; see the module comment. */
export type Synchronous = 'normal' | 'full';

/** Where and how to open the database. */
export interface DatabaseOptions {
  /** File path, or `:memory:` for tests where durability is not the point. Default `./var/onair.db`. */
  path?: string;
  /** Default `normal`: survives a process crash; `full` also survives power loss. */
  synchronous?: Synchronous;
  /** Milliseconds to wait for a lock held by another connection. Default 5000. */
  busyTimeoutMs?: number;
}

/** Default database file, relative to the working directory. */
export const DEFAULT_DATABASE_PATH = './var/onair.db';

/**
 * Open (creating the file and its directory if needed) a database in WAL mode with the chosen
 * durability. `:memory:` databases have no WAL; they are for tests.
 */
export function openDatabase(options: DatabaseOptions = {}): SqliteDatabase {
  const file = options.path ?? DEFAULT_DATABASE_PATH;
  const memory = file === ':memory:';
  if (!memory) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new (sqlite())(file, { timeout: options.busyTimeoutMs ?? 5000 });
  if (!memory) db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  return db;
}

/** Error codes of the database layer (one registry, CONVENTIONS.md 19). */
export const DB_ERRORS = {
  /** The database holds a newer schema than this code knows (a downgrade). */
  schema: 'DB_ERR_SCHEMA',
} as const;

/** One schema step. Versions start at 1 and increase by one; a step never changes once shipped. */
export interface Migration {
  version: number;
  /** Short description stored with the version. */
  name: string;
  /** SQL run once, inside the transaction that records the version. */
  sql: string;
}

/**
 * Bring `component`'s tables to the latest version. Each component (the store, the built-in CRM)
 * has its own line of versions in the shared `schema_migrations` table, so both can live in one
 * file and evolve apart. Each step runs in its own transaction with the row that records it.
 * Returns the versions applied now. Throws when the database is newer than the code (downgrade).
 */
export function migrate(db: SqliteDatabase, component: string, migrations: readonly Migration[], now: number): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL,
    PRIMARY KEY (component, version))`);
  const row = db.prepare<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations WHERE component = ?').get(component);
  const current = row?.v ?? 0;
  const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
  if (current > latest) {
    throw new Error(`${DB_ERRORS.schema}: ${component} schema is version ${current}, this code knows up to ${latest}`);
  }
  const record = db.prepare('INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (?, ?, ?, ?)');
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    transact(db, () => {
      db.exec(m.sql);
      record.run(component, m.version, m.name, now);
    });
    applied.push(m.version);
  }
  return applied;
}

const runners = new WeakMap<SqliteDatabase, (fn: () => unknown) => unknown>();

/**
 * Run `fn` in a transaction (a savepoint when one is open already; rolled back if it throws).
 * `db.transaction(fn)` builds a new wrapper function on every call, which cost more than the
 * statements of a small write; one wrapper per database that runs any callback does not.
 */
export function transact<R>(db: SqliteDatabase, fn: () => R): R {
  let run = runners.get(db);
  if (run === undefined) {
    run = db.transaction((f: () => unknown) => f());
    runners.set(db, run);
  }
  return run(fn) as R;
}

/**
 * Run a synchronous database operation behind the store's promise interface: its result
 * resolves, its exception (a constraint, a full disk) rejects instead of throwing at the caller.
 */
export function settle<R>(fn: () => R): Promise<R> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err);
  }
}

/** A grouped write waiting for its commit. */
type PendingWrite = { resolve: () => void; reject: (err: unknown) => void };

/**
 * Runs the store's writes, one by one or grouped per event-loop turn ("group commit").
 *
 * Grouped: the first write of a turn opens a transaction, every write of that turn runs inside
 * it, and one `COMMIT` at `setImmediate` makes them all durable together; only then do their
 * promises resolve. With a window (`windowMs` > 0) the group stays open across turns and commits
 * that long after its first write: under load each hot page (outbox, journal, indexes) goes to the
 * WAL once per window instead of once per turn (engine profile at 300 calls/s: commit time −40%,
 * main-thread busy time −11% with 5 ms). The call control writes several rows per SIP message (journal stage, outbox
 * events, CDR); grouping turns N commits into one, which matters most with `synchronous=full`
 * (one fsync per turn instead of per write; see bench/store.ts). A write that throws is undone
 * alone (each multi-statement write is its own savepoint, a single statement is atomic) and its
 * promise rejects; a failed COMMIT rejects every write of the turn.
 *
 * Not grouped: each write commits before its promise is created.
 */
export class SqliteWriter {
  readonly grouped: boolean;
  readonly #db: SqliteDatabase;
  readonly #begin: SqliteStatement;
  readonly #commit: SqliteStatement;
  #pending: PendingWrite[] = [];
  #open = false;
  readonly #flush = (): void => this.flush();

  readonly #windowMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(db: SqliteDatabase, grouped: boolean, windowMs = 0) {
    this.#db = db;
    this.grouped = grouped;
    this.#windowMs = windowMs;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
  }

  /** Run a write; the promise resolves with its result once it is committed. */
  write<R>(fn: () => R): Promise<R> {
    if (!this.grouped || this.#db.inTransaction && !this.#open) {
      // Ungrouped, or inside a caller's own transaction (SqliteStore.batch): commits with it.
      return settle(fn);
    }
    if (!this.#open) {
      this.#begin.run();
      this.#open = true;
      // Not unref()ed: a process awaiting only this commit (start-up recovery) must not exit first.
      if (this.#windowMs > 0) this.#timer = setTimeout(this.#flush, this.#windowMs);
      else setImmediate(this.#flush);
    }
    let result: R;
    try {
      result = fn();
    } catch (err) {
      // Some errors (disk full, I/O) make SQLite roll the whole transaction back.
      if (!this.#db.inTransaction) this.#fail(err);
      return Promise.reject(err);
    }
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ resolve: () => resolve(result), reject });
    });
  }

  /** Commit the open group now (also done at setImmediate or the window's end, and before close). */
  flush(): void {
    if (!this.#open) return;
    const pending = this.#takeGroup();
    try {
      this.#commit.run();
    } catch (err) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      for (const p of pending) p.reject(err);
      return;
    }
    for (const p of pending) p.resolve();
  }

  #fail(err: unknown): void {
    for (const p of this.#takeGroup()) p.reject(err);
  }

  /** Close the open group (its window timer, if any, with it) and hand back its writes to settle. */
  #takeGroup(): PendingWrite[] {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#open = false;
    const pending = this.#pending;
    this.#pending = [];
    return pending;
  }
}
