/**
 * engine/db — database plumbing shared by engine/store and crm-adapter (ARCHITECTURE.md, layers):
 * opening SQLite in WAL mode with the chosen durability, per-component schema migrations,
 * transactions, `settle`, and the group-commit writer. It imports nothing from the engine, so the
 * store and the built-in CRM both stand on it without importing each other.
 */
export {
  openDatabase, migrate, transact, settle, SqliteWriter, DEFAULT_DATABASE_PATH, DB_ERRORS,
  type SqliteDatabase, type SqliteStatement, type DatabaseOptions, type Synchronous, type Migration,
} from './sqlite.ts';
export { postgresPool, openPostgres, migratePostgres, PG_TYPES } from './postgres.ts';
