/**
 * engine/store — what must survive a crash: the durable CRM outbox, callback tasks and the
 * journal of calls in progress, callback attempts and the do-not-call list, and agent registrations (bindings.ts), on one SQLite database (WAL) by default. The interfaces in
 * `types.ts` are what the rest of the engine uses, so that a PostgreSQL store can be added.
 */
export type {
  StoreErrorCode, StoreResult, OutboxKind, OutboxStatus, OutboxItem, OutboxPayload, RetryPolicy, FailureOutcome,
  OutboxBacklog, OutboxStore, CallbackStatus, CallbackReason, CallbackInput, CallbackTask, CallbackFilter,
  CallbackStore, AttemptResult, CallbackAttempt, AttemptEnd, CallbackFigures, DncSource, DncEntry, DncStore, JournalState, ArrivalInfo, JournalEntry, RecoveryOptions, RecoveryReport, CallJournal, CallEnd, Store,
} from './types.ts';
// The plumbing lives in engine/db; re-exported for the store's users (bench, tests) that open one.
export {
  openDatabase, migrate, settle, SqliteWriter, DEFAULT_DATABASE_PATH,
  type SqliteDatabase, type SqliteStatement, type DatabaseOptions, type Synchronous, type Migration,
} from '../db/index.ts';
export { DEFAULT_RETRY_POLICY, backoffDelay } from './retry.ts';
export { SqliteOutbox, type SqliteOutboxOptions } from './outbox.ts';
export { CALLBACK_STATUSES } from './types.ts';
export { SqliteCallbacks, CALLBACK_TABLES, type CallbackTables } from './callbacks.ts';
export { SqliteDnc, normalizeDncNumber } from './dnc.ts';
export { SqliteJournal } from './journal.ts';
export { SqliteStore, openStore, finishAdopted, type SqliteStoreOptions } from './store.ts';
export {
  OutboxDispatcher, systemClock,
  type Clock, type TimerHandle, type OutboxDispatcherOptions, type DeliveryReport, type PassResult, type DrainResult,
} from './dispatcher.ts';
export { FakeClock, sampleCdr, sampleEvent } from './testing.ts';
export { SqliteBindingStore, BINDING_MIGRATIONS, type StoredBinding, type BindingTransport } from './bindings.ts';
