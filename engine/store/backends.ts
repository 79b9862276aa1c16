/**
 * Test helper: run a store suite on both backends. Each case runs once on SQLite and once on a
 * throwaway PostgreSQL cluster (engine/testing/postgres.ts, one per test file; a database per
 * store). Without PostgreSQL the `postgres` half is skipped with PEER MISSING, or fails under
 * `ONAIR_REQUIRE_PEERS=1` (`.ci/run`). Not used by the engine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import type { Test } from 'tap';
import { requirePostgres, type PostgresCluster } from '../testing/postgres.ts';
import { openStore, type SqliteStore, type SqliteStoreOptions } from './store.ts';
import { SqliteBindingStore } from './bindings.ts';
import { openPgStore, PgBindingStore, type PgStore } from './pg/index.ts';

/** What a suite may ask of either backend's store (the rest is the {@link Store} interface). */
export type BackendStoreOptions = Pick<SqliteStoreOptions, 'retry' | 'random' | 'dialing' | 'groupCommit' | 'commitWindowMs' | 'now'>;

/** Either store. */
export type AnyStore = SqliteStore | PgStore;

/** One backend under test. */
export interface Backend {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Open a store. Without `place`: a fresh empty database (SQLite `:memory:`, a new PostgreSQL
   * database). With `place`: the same database every time it is named in this test (a file, a
   * database), to reopen after a close or a crash.
   */
  open(options?: BackendStoreOptions, place?: string): Promise<AnyStore>;
  /** The registrar's binding store in `store`'s database. */
  bindings(store: AnyStore, now: number): Promise<Pick<SqliteBindingStore, 'load' | 'upsert' | 'remove'>>;
  /** Rows of a query without parameters (SQL both dialects read alike), on the store's database. */
  rows<R>(store: AnyStore, text: string): Promise<R[]>;
  /** The SQLite file or PostgreSQL URL of a `place`. */
  where(place: string): Promise<string>;
}

/** Run `body` as a `sqlite` and a `postgres` subtest of `t`. */
export async function eachBackend(t: Test, body: (t: Test, b: Backend) => unknown): Promise<void> {
  await t.test('sqlite', async (t) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'onair-store-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = (place: string): string => path.join(dir, `${place}.db`);
    await body(t, {
      kind: 'sqlite',
      open: async (options = {}, place) => openStore({ ...options, path: place === undefined ? ':memory:' : file(place), backgroundCheckpoint: false }),
      bindings: async (store, now) => new SqliteBindingStore((store as SqliteStore).db, (store as SqliteStore).writer, now),
      rows: async <R>(store: AnyStore, text: string) => (store as SqliteStore).db.prepare<R>(text).all(),
      where: async (place) => file(place),
    });
  });
  await t.test('postgres', async (t) => {
    const cluster = await requirePostgres(t);
    if (cluster === undefined) return;
    await body(t, postgresBackend(cluster));
  });
}

/** The PostgreSQL backend on `cluster`. */
export function postgresBackend(cluster: PostgresCluster): Backend {
  let n = 0;
  const places = new Map<string, Promise<string>>();
  const where = (place: string): Promise<string> => {
    let url = places.get(place);
    if (url === undefined) {
      url = cluster.createDatabase(`p${++n}_${place.replace(/[^a-z0-9]/gi, '_').toLowerCase()}`);
      places.set(place, url);
    }
    return url;
  };
  return {
    kind: 'postgres',
    open: async (options = {}, place) => openPgStore({ ...options, url: await (place === undefined ? cluster.createDatabase(`s${++n}`) : where(place)) }),
    bindings: (store, now) => PgBindingStore.open((store as PgStore).db, (store as PgStore).writer, now),
    rows: async <R>(store: AnyStore, text: string) => (await sql.raw<R>(text).execute((store as PgStore).db)).rows,
    where,
  };
}
