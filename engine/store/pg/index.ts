/**
 * engine/store/pg — the engine store on PostgreSQL (issue 19): the same {@link Store} interface,
 * tables, migrations (component `store`, same version numbers) and group commit as the SQLite
 * store, on Kysely + pg like the shop. Chosen with `database: { kind: postgres, url }`.
 */
export { PgStore, openPgStore, type PgStoreOptions } from './store.ts';
export { PgWriter, type PgTx, type PgTables, type WriteFence } from './writer.ts';
export { PgOutbox } from './outbox.ts';
export { PgCallbacks } from './callbacks.ts';
export { PgDnc } from './dnc.ts';
export { PgJournal } from './journal.ts';
export { PgBindingStore } from './bindings.ts';
export { PG_STORE_MIGRATIONS, PG_BINDING_MIGRATIONS } from './schema.ts';
