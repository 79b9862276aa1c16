/** The SQLite store: one database file, the three repositories and the cross-table operations. */
import type { CallbackCreatedEvent, CallEvent, Cdr, EndedEvent, ReleasedBy } from '../../crm-adapter/index.ts';
import { migrate, openDatabase, SqliteWriter, transact, DEFAULT_DATABASE_PATH, type DatabaseOptions, type SqliteDatabase } from '../db/index.ts';
import { startCheckpointer, type Checkpointer } from './checkpointer.ts';
import { STORE_MIGRATIONS } from './schema.ts';
import { SqliteOutbox, type SqliteOutboxOptions } from './outbox.ts';
import { SqliteCallbacks } from './callbacks.ts';
import { SqliteJournal } from './journal.ts';
import { SqliteDnc } from './dnc.ts';
import { DEFAULT_DIALING_POLICY, type DialingPolicy } from '../callbacks/index.ts';
import type {
  CallbackInput, CallbackTask, CallEnd, JournalEntry, RecoveryOptions, RecoveryReport, Store,
} from './types.ts';

/** Options of {@link openStore}. */
export interface SqliteStoreOptions extends DatabaseOptions, SqliteOutboxOptions {
  /** Time stamped on applied migrations. Default Date.now(). */
  now?: number;
  /** Commit the writes of one event-loop turn together (see SqliteWriter). Default true. */
  groupCommit?: boolean;
  /**
   * With group commit: commit at most this long after the first write of a group instead of at
   * the end of its event-loop turn. Fewer, larger commits write each hot page (outbox, journal,
   * their indexes) to the WAL once per window rather than once per turn. Default 0.
   */
  commitWindowMs?: number;
  /**
   * Run WAL checkpoints on a worker thread instead of inside commits on this thread (see
   * checkpointer.ts). Default true for database files; ignored for `:memory:`.
   */
  backgroundCheckpoint?: boolean;
  /** The attempt policy applied when a callback attempt ends (config `callbacks.dialing`). Default {@link DEFAULT_DIALING_POLICY}. */
  dialing?: DialingPolicy;
}

/** {@link Store} on one SQLite database. */
export class SqliteStore implements Store {
  /** The open database, for components that keep their own tables in the same file (the built-in CRM). */
  readonly db: SqliteDatabase;
  readonly outbox: SqliteOutbox;
  readonly callbacks: SqliteCallbacks;
  readonly dnc: SqliteDnc;
  readonly journal: SqliteJournal;
  readonly writer: SqliteWriter;
  #closed = false;
  #checkpointer: Checkpointer | undefined;

  constructor(db: SqliteDatabase, options: SqliteOutboxOptions & { groupCommit?: boolean; commitWindowMs?: number; dialing?: DialingPolicy } = {}) {
    this.db = db;
    this.writer = new SqliteWriter(db, options.groupCommit ?? true, options.commitWindowMs ?? 0);
    this.outbox = new SqliteOutbox(db, this.writer, options);
    this.callbacks = new SqliteCallbacks(db, this.writer, options.dialing ?? DEFAULT_DIALING_POLICY);
    this.dnc = new SqliteDnc(db, this.writer, this.callbacks);
    this.journal = new SqliteJournal(db, this.writer);
  }

  async callEvent(event: CallEvent, now: number): Promise<void> {
    await this.outbox.append(event.callId, 'event', event, now);
  }

  finishCall(end: CallEnd, now: number): Promise<{ callback: CallbackTask | null }> {
    return this.writer.write(() => transact(this.db, () => {
      const { cdr } = end;
      this.journal.removeSync(cdr.callId);
      const callback = end.callback === null ? null : this.callbacks.createSync(end.callback, now).task;
      for (const ev of end.events ?? []) this.outbox.appendSync(cdr.callId, 'event', ev, now);
      if (callback !== null) this.outbox.appendSync(cdr.callId, 'event', callbackEvent(callback, cdr, now), now);
      this.outbox.appendSync(cdr.callId, 'cdr', callback === null ? cdr : { ...cdr, callbackId: callback.id }, now);
      return { callback };
    }));
  }

  recoverAfterCrash(now: number, options: RecoveryOptions): Promise<RecoveryReport> {
    return this.writer.write(() => transact(this.db, (): RecoveryReport => {
      const entries = this.journal.listSync();
      const diedAt = crashTime(entries, this.journal.lastHeartbeat(), now);
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
        const callback = input === null ? null : this.callbacks.createSync(input, now).task;
        if (callback !== null) callbacks.push(callback);
        const cdr = recoveredCdr(e, Math.max(diedAt, e.updatedAt), callback?.id ?? null);
        this.outbox.appendSync(e.callId, 'event', endedEvent(cdr), now);
        if (callback !== null) this.outbox.appendSync(e.callId, 'event', callbackEvent(callback, cdr, now), now);
        this.outbox.appendSync(e.callId, 'cdr', cdr, now);
        this.journal.removeSync(e.callId);
        cdrs.push(e.callId);
      }
      // A caller who waited in several calls has one task: report each task once, as it is now.
      const unique = new Map(callbacks.map((c) => [c.id, c]));
      for (const id of unique.keys()) unique.set(id, this.callbacks.getSync(id)!);
      return { diedAt, callbacks: [...unique.values()], cdrs, relayed };
    }));
  }

  /**
   * Run `fn` in one transaction of its own: every store write it makes (synchronous underneath)
   * commits together when `fn` returns, without waiting for the group commit. For bulk work
   * (imports, benchmarks); the engine relies on the group commit instead. `fn` must not await.
   */
  batch<R>(fn: () => R): R {
    this.writer.flush();
    return transact(this.db, fn);
  }

  /** @internal Set by {@link openStore}. */
  useCheckpointer(checkpointer: Checkpointer): void {
    this.#checkpointer = checkpointer;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.writer.flush();
    await this.#checkpointer?.stop();
    // Closing the last connection checkpoints what is left.
    this.db.close();
  }
}

/** Open (create, migrate) the SQLite store. Defaults: `./var/onair.db`, WAL, synchronous=NORMAL. */
export function openStore(options: SqliteStoreOptions = {}): SqliteStore {
  const db = openDatabase(options);
  try {
    migrate(db, 'store', STORE_MIGRATIONS, options.now ?? Date.now());
  } catch (err) {
    db.close();
    throw err;
  }
  const store = new SqliteStore(db, options);
  const file = options.path ?? DEFAULT_DATABASE_PATH;
  if (file !== ':memory:' && options.backgroundCheckpoint !== false) store.useCheckpointer(startCheckpointer(db, file));
  return store;
}

/** @internal When the engine died: after its last heartbeat and after the last journal write, and before now. */
export function crashTime(entries: readonly JournalEntry[], heartbeat: number | null, now: number): number {
  let diedAt = heartbeat ?? 0;
  for (const e of entries) diedAt = Math.max(diedAt, e.updatedAt);
  return Math.min(diedAt, now);
}

/** @internal The callback a journal entry becomes at recovery: every caller not yet answered. */
export function recoveryCallback(e: JournalEntry, options: RecoveryOptions): CallbackInput | null {
  if (e.state === 'answered') return null;
  return {
    caller: e.caller, queue: e.queue ?? options.fallbackQueue, arrivedAt: e.arrivedAt, callId: e.callId,
    reason: 'engine_restart', dialled: e.dialled, programme: e.programme, customerId: e.customerId,
  };
}

/** @internal The `failed` CDR crash recovery writes for a journal entry (both backends). */
export function recoveredCdr(e: JournalEntry, endedAt: number, callbackId: number | null): Cdr {
  return {
    contractVersion: 1, callId: e.callId, sipCallId: null, caller: e.caller, dialled: e.dialled, programme: e.programme,
    airing: e.airing, queue: e.queue, agent: e.state === 'answered' ? e.agent : null, customerId: e.customerId,
    outcome: 'failed', arrivedAt: e.arrivedAt, ivrExitAt: e.ivrExitAt, queuedAt: e.queuedAt, offeredAt: e.offeredAt,
    answeredAt: e.answeredAt, endedAt, wrapUpEndAt: null,
    waitMs: (e.answeredAt ?? endedAt) - e.arrivedAt,
    talkMs: e.answeredAt === null ? 0 : endedAt - e.answeredAt,
    wrapUpMs: 0, offers: e.offers, releasedBy: 'system', callbackId, direction: 'inbound',
    // Held in ringing when the engine died: it rang until then.
    treatment: e.treatment, ringingMs: e.ringingSince !== null ? Math.max(0, endedAt - e.ringingSince) : e.ringingMs,
  };
}

/**
 * End a call a node adopted from the journal (a bridged call rtpengine relayed for a node that
 * died, engine/calls/rtpengine-relay.ts): its `ended` event and CDR — answered, ended at
 * `endedAt` (talk time up to then), released by `by` — and the journal row removed, as
 * {@link Store.finishCall}. `outcome: 'failed'` for a call that could not be adopted. Nothing when
 * the row is gone (another node ended it).
 */
export async function finishAdopted(store: Store, callId: string, endedAt: number, by: ReleasedBy, outcome: 'answered' | 'failed' = 'answered'): Promise<void> {
  const e = await store.journal.get(callId);
  if (e === null) return;
  const cdr: Cdr = { ...recoveredCdr(e, endedAt, null), outcome, releasedBy: by };
  await store.callEvent({ ...endedEvent(cdr), releasedBy: by }, endedAt);
  await store.finishCall({ cdr, callback: null }, endedAt);
}

/** @internal */
export function endedEvent(cdr: Cdr): EndedEvent {
  return {
    type: 'ended', callId: cdr.callId, at: cdr.endedAt, caller: cdr.caller, dialled: cdr.dialled,
    customerId: cdr.customerId, queue: cdr.queue, agent: cdr.agent, releasedBy: 'system',
  };
}

/** @internal */
export function callbackEvent(task: CallbackTask, cdr: Cdr, now: number): CallbackCreatedEvent {
  return {
    type: 'callback_created', callId: cdr.callId, at: now, caller: cdr.caller, dialled: cdr.dialled,
    customerId: cdr.customerId, queue: task.queue, callbackId: task.id, firstArrivalAt: task.arrivedAt,
    abandons: task.abandons,
  };
}
