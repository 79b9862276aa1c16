/** The do-not-call list on SQLite (table `dnc`, same database as the callback tasks). */
import { settle, SqliteWriter, transact, type SqliteDatabase, type SqliteStatement } from '../db/index.ts';
import type { SqliteCallbacks } from './callbacks.ts';
import type { DncEntry, DncSource, DncStore } from './types.ts';

/** @internal A row of `dnc` (both backends). */
export interface DncRow {
  number: string;
  added_at: number;
  source: DncSource;
  note: string | null;
}

/** @internal */
export function toDncEntry(r: DncRow): DncEntry {
  return { number: r.number, addedAt: r.added_at, source: r.source, note: r.note };
}

/** Longest number kept (E.164 allows 15 digits; room for national prefixes and extensions). */
const MAX_DIGITS = 20;
const MIN_DIGITS = 3;

/**
 * A phone number as the do-not-call list keeps it, or null when it is not one: an optional
 * leading `+` and 3–20 digits, after dropping the spaces, dashes, dots and parentheses people
 * write numbers with. Matching is exact on this form, so entries must be written as the engine
 * receives caller numbers from the trunk (the caller number of the task).
 */
export function normalizeDncNumber(text: string): string | null {
  let out = '';
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c >= '0' && c <= '9') {
      out += c;
      digits++;
    } else if (c === '+' && out.length === 0) {
      out = '+';
    } else if (c !== ' ' && c !== '-' && c !== '.' && c !== '(' && c !== ')') {
      return null;
    }
  }
  return digits >= MIN_DIGITS && digits <= MAX_DIGITS ? out : null;
}

/** {@link DncStore} on SQLite. Adding a number cancels its open callback task in the same transaction. */
export class SqliteDnc implements DncStore {
  readonly #db: SqliteDatabase;
  readonly #writer: SqliteWriter;
  readonly #callbacks: SqliteCallbacks;
  readonly #has: SqliteStatement<{ n: number }>;
  readonly #get: SqliteStatement<DncRow>;
  readonly #insert: SqliteStatement;
  readonly #delete: SqliteStatement;
  readonly #list: SqliteStatement<DncRow>;
  readonly #count: SqliteStatement<{ n: number }>;

  constructor(db: SqliteDatabase, writer: SqliteWriter, callbacks: SqliteCallbacks) {
    this.#db = db;
    this.#writer = writer;
    this.#callbacks = callbacks;
    this.#has = db.prepare('SELECT 1 AS n FROM dnc WHERE number = ?');
    this.#get = db.prepare('SELECT * FROM dnc WHERE number = ?');
    this.#insert = db.prepare('INSERT INTO dnc (number, added_at, source, note) VALUES (@number, @now, @source, @note) ON CONFLICT (number) DO NOTHING');
    this.#delete = db.prepare('DELETE FROM dnc WHERE number = ?');
    this.#list = db.prepare('SELECT * FROM dnc ORDER BY number LIMIT ? OFFSET ?');
    this.#count = db.prepare('SELECT count(*) AS n FROM dnc');
  }

  has(number: string): boolean {
    return this.#has.get(number) !== undefined;
  }

  add(number: string, now: number, source: DncSource, note: string | null = null): Promise<{ entry: DncEntry; added: boolean; cancelled: number }> {
    return this.#writer.write(() => transact(this.#db, () => {
      const added = this.#insert.run({ number, now, source, note }).changes === 1;
      const cancelled = this.#callbacks.cancelNumberSync(number, now);
      return { entry: toDncEntry(this.#get.get(number)!), added, cancelled };
    }));
  }

  addMany(numbers: readonly string[], now: number, source: DncSource, note: string | null = null): Promise<{ added: number; already: number; cancelled: number }> {
    return this.#writer.write(() => transact(this.#db, () => {
      let added = 0;
      let cancelled = 0;
      for (const number of numbers) {
        if (this.#insert.run({ number, now, source, note }).changes === 1) added++;
        cancelled += this.#callbacks.cancelNumberSync(number, now);
      }
      return { added, already: numbers.length - added, cancelled };
    }));
  }

  remove(number: string): Promise<boolean> {
    return this.#writer.write(() => this.#delete.run(number).changes === 1);
  }

  get(number: string): Promise<DncEntry | null> {
    return settle(() => {
      const r = this.#get.get(number);
      return r === undefined ? null : toDncEntry(r);
    });
  }

  list(limit: number, offset: number): Promise<DncEntry[]> {
    return settle(() => this.#list.all(limit, offset).map(toDncEntry));
  }

  count(): Promise<number> {
    return settle(() => this.#count.get()!.n);
  }
}
