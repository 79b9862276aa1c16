/**
 * PostgreSQL plumbing shared by the engine store (engine/store/pg) and the shop (crm-adapter/shop):
 * a `pg` pool that survives dying idle connections, int8 read as a number, and per-component
 * schema migrations in the same `schema_migrations` table shape as SQLite's (engine/db/sqlite.ts).
 */
import { createRequire } from 'node:module';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { DB_ERRORS, type Migration } from './sqlite.ts';

const require = createRequire(import.meta.url);
let pgModule: typeof pg | undefined;
/**
 * `pg`, loaded on first use: an engine on SQLite (the default) never needs it, and it is ~2.8 MiB
 * of live heap held from start (docs/surge.md, "Memory at the peak"). CommonJS, so `require`
 * loads it synchronously where a pool is made.
 */
function pgLib(): typeof pg {
  pgModule ??= require('pg') as typeof pg;
  return pgModule;
}

const INT8_OID = 20;
/** pg returns int8 as a string (it may exceed 2^53); our int8 columns are epoch ms, ids and counts, well inside. */
export const PG_TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pgLib().types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/**
 * A pg pool whose idle connections may die (a server restart, a failover, an administrator's
 * terminate) without taking the process down: pg emits those as `error` events on the pool, which
 * would be an uncaught exception. The pool drops the dead client and the next query opens another;
 * a query that was running fails by itself.
 */
export function postgresPool(url: string, max: number, onError: ((err: Error) => void) | undefined): pg.Pool {
  const Pool = pgLib().Pool;
  const pool = new Pool({ connectionString: url, max, types: PG_TYPES });
  pool.on('error', (err) => onError?.(err));
  return pool;
}

/** A Kysely instance over {@link postgresPool}. The engine store writes SQL through `sql` templates. */
export function openPostgres<DB>(url: string, max: number, onError?: (err: Error) => void): Kysely<DB> {
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool: postgresPool(url, max, onError) }) });
}

/**
 * Bring `component`'s tables to the latest version, like the SQLite `migrate`: one transaction per
 * step with the row that records it. A transaction-scoped advisory lock serialises two engines
 * starting on one database at once (the second sees the first's versions and applies none).
 * Returns the versions applied now; rejects when the database is newer than the code.
 */
export async function migratePostgres<DB>(db: Kysely<DB>, component: string, migrations: readonly Migration[], now: number): Promise<number[]> {
  await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL,
    PRIMARY KEY (component, version))`.execute(db).catch(async (err: unknown) => {
    // Two processes creating the table at the same moment: one loses the race on the catalog; it exists now.
    const exists = await sql<{ t: string | null }>`SELECT to_regclass('schema_migrations')::text AS t`.execute(db);
    if (exists.rows[0]?.t == null) throw err;
  });
  const latest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    const done = await db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`onair:migrate:${component}`}))`.execute(trx);
      const row = await sql<{ v: number | null }>`SELECT max(version) AS v FROM schema_migrations WHERE component = ${component}`.execute(trx);
      const current = row.rows[0]?.v ?? 0;
      if (current > latest) throw new Error(`${DB_ERRORS.schema}: ${component} schema is version ${current}, this code knows up to ${latest}`);
      if (m.version <= current) return false;
      await sql.raw(m.sql).execute(trx);
      await sql`INSERT INTO schema_migrations (component, version, name, applied_at) VALUES (${component}, ${m.version}, ${m.name}, ${now})`.execute(trx);
      return true;
    });
    if (done) applied.push(m.version);
  }
  if (migrations.length === 0 || applied.length === 0) {
    // Still refuse a downgrade when nothing was left to apply.
    const row = await sql<{ v: number | null }>`SELECT max(version) AS v FROM schema_migrations WHERE component = ${component}`.execute(db);
    const current = row.rows[0]?.v ?? 0;
    if (current > latest) throw new Error(`${DB_ERRORS.schema}: ${component} schema is version ${current}, this code knows up to ${latest}`);
  }
  return applied;
}
