/**
 * The engine store on PostgreSQL: the repositories of the SQLite store (store.ts) over one Kysely
 * pool, the same cross-table operations each in ONE write (one transaction, or one savepoint of
 * the group's transaction), and the same group commit (writer.ts).
 */
import type { CallEvent } from '../../../crm-adapter/index.ts';
import { openPostgres, migratePostgres } from '../../db/postgres.ts';
import { DEFAULT_DIALING_POLICY, type DialingPolicy } from '../../callbacks/index.ts';
import type { SqliteOutboxOptions } from '../outbox.ts';
import { callbackEvent, crashTime, endedEvent, recoveredCdr, recoveryCallback } from '../store.ts';
import type { CallbackTask, CallEnd, JournalEntry, RecoveryOptions, RecoveryReport, Store } from '../types.ts';
import { PgCallbacks } from './callbacks.ts';
import { PgDnc } from './dnc.ts';
import { PgJournal } from './journal.ts';
import { PgOutbox } from './outbox.ts';
import { PG_STORE_MIGRATIONS } from './schema.ts';
import { PgWriter, type PgTables } from './writer.ts';
import type { Kysely } from 'kysely';

/** Options of {@link openPgStore}. */
export interface PgStoreOptions extends SqliteOutboxOptions {
  /** `postgres://user:pass@host:port/db`. */
  url: string;
  /** Connections of the pool (one of them carries the writes at a time). Default 4. */
  poolSize?: number;
  /** Time stamped on applied migrations. Default Date.now(). */
  now?: number;
  /** Commit the writes of one event-loop turn together. Default true. */
  groupCommit?: boolean;
  /** With group commit: commit at most this long after the first write of a group. Default 0 (end of the turn). */
  commitWindowMs?: number;
  /** The attempt policy applied when a callback attempt ends. Default {@link DEFAULT_DIALING_POLICY}. */
  dialing?: DialingPolicy;
  /** An idle connection died (it is replaced on the next query). Default: nothing. */
  onConnectionError?: (err: Error) => void;
}

/** {@link Store} on PostgreSQL. */
export class PgStore implements Store {
  /** The pool, for components that keep their own tables in the same database (bindings). */
  readonly db: Kysely<PgTables>;
  readonly writer: PgWriter;
  readonly outbox: PgOutbox;
  readonly callbacks: PgCallbacks;
  readonly dnc: PgDnc;
  readonly journal: PgJournal;
  #closed = false;

  private constructor(db: Kysely<PgTables>, options: PgStoreOptions) {
    this.db = db;
    this.writer = new PgWriter(db, options.groupCommit ?? true, options.commitWindowMs ?? 0);
    this.outbox = new PgOutbox(db, this.writer, options);
    this.callbacks = new PgCallbacks(db, this.writer, options.dialing ?? DEFAULT_DIALING_POLICY);
    this.dnc = new PgDnc(db, this.writer, this.callbacks);
    this.journal = new PgJournal(db, this.writer);
  }

  /** Connect, migrate (component `store`) and load the do-not-call list. */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const db = openPostgres<PgTables>(options.url, options.poolSize ?? 4, options.onConnectionError);
    try {
      await migratePostgres(db, 'store', PG_STORE_MIGRATIONS, options.now ?? Date.now());
      const store = new PgStore(db, options);
      await store.dnc.load();
      return store;
    } catch (err) {
      await db.destroy();
      throw err;
    }
  }

  async callEvent(event: CallEvent, now: number): Promise<void> {
    await this.outbox.append(event.callId, 'event', event, now);
  }

  finishCall(end: CallEnd, now: number): Promise<{ callback: CallbackTask | null }> {
    return this.writer.write(async (tx) => {
      const { cdr } = end;
      await this.journal.removeIn(tx, cdr.callId);
      const callback = end.callback === null ? null : (await this.callbacks.createIn(tx, end.callback, now)).task;
      for (const ev of end.events ?? []) await this.outbox.appendIn(tx, cdr.callId, 'event', ev, now);
      if (callback !== null) await this.outbox.appendIn(tx, cdr.callId, 'event', callbackEvent(callback, cdr, now), now);
      await this.outbox.appendIn(tx, cdr.callId, 'cdr', callback === null ? cdr : { ...cdr, callbackId: callback.id }, now);
      return { callback };
    });
  }

  recoverAfterCrash(now: number, options: RecoveryOptions): Promise<RecoveryReport> {
    return this.writer.write(async (tx): Promise<RecoveryReport> => {
      // Locked: a second engine recovering the same journal at once waits, then finds it empty.
      const entries = await this.journal.listIn(tx, true);
      const diedAt = crashTime(entries, await this.journal.lastHeartbeatIn(tx), now);
      const callbacks: CallbackTask[] = [];
      const cdrs: string[] = [];
      const relayed: JournalEntry[] = [];
      for (const e of entries) {
        // Its audio goes on through rtpengine: the new node ends it when a phone hangs up.
        if (options.keepRelayed === true && e.state === 'answered' && e.relay !== null) {
          relayed.push(e);
          continue;
        }
        const input = recoveryCallback(e, options);
        const callback = input === null ? null : (await this.callbacks.createIn(tx, input, now)).task;
        if (callback !== null) callbacks.push(callback);
        const cdr = recoveredCdr(e, Math.max(diedAt, e.updatedAt), callback?.id ?? null);
        // One round trip per call for its three outbox items, one for all the journal rows, one for
        // the tasks: a takeover recovers a full journal (hundreds of calls) before it takes calls.
        await this.outbox.appendAllIn(tx, e.callId, [
          { kind: 'event', payload: endedEvent(cdr) },
          ...(callback !== null ? [{ kind: 'event' as const, payload: callbackEvent(callback, cdr, now) }] : []),
          { kind: 'cdr', payload: cdr },
        ], now);
        cdrs.push(e.callId);
      }
      await this.journal.removeAllIn(tx, cdrs);
      // A caller who waited in several calls has one task: report each task once, as it is now.
      const unique = await this.callbacks.getAllIn(tx, [...new Set(callbacks.map((c) => c.id))]);
      return { diedAt, callbacks: unique, cdrs, relayed };
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.writer.flush();
    await this.db.destroy();
  }
}

/** Open (connect, migrate) the PostgreSQL store. */
export function openPgStore(options: PgStoreOptions): Promise<PgStore> {
  return PgStore.open(options);
}
