/**
 * The journal of calls in progress on SQLite (table `call_journal`): one row per call, written
 * at each stage with one prepared statement in its own implicit transaction (a single statement
 * is atomic; no BEGIN/COMMIT round needed). The row is removed when the call ends
 * (`SqliteStore.finishCall`) or by crash recovery.
 */
import { settle, SqliteWriter, type SqliteDatabase, type SqliteStatement } from '../db/index.ts';
import type { ArrivalInfo, CallJournal, JournalEntry, JournalState } from './types.ts';

/** @internal A row of `call_journal` (both backends). */
export interface JournalRow {
  call_id: string;
  state: JournalState;
  caller: string;
  dialled: string;
  programme: string | null;
  airing: string | null;
  customer_id: string | null;
  queue: string | null;
  agent: string | null;
  arrived_at: number;
  ivr_exit_at: number | null;
  queued_at: number | null;
  offered_at: number | null;
  answered_at: number | null;
  offers: number;
  updated_at: number;
  treatment: JournalEntry['treatment'];
  ringing_since: number | null;
  ringing_ms: number;
  relay: string | null;
}

/** @internal */
export function toEntry(r: JournalRow): JournalEntry {
  return {
    callId: r.call_id, state: r.state, caller: r.caller, dialled: r.dialled, programme: r.programme,
    airing: r.airing, customerId: r.customer_id, queue: r.queue, agent: r.agent, arrivedAt: r.arrived_at,
    ivrExitAt: r.ivr_exit_at, queuedAt: r.queued_at, offeredAt: r.offered_at, answeredAt: r.answered_at,
    offers: r.offers, updatedAt: r.updated_at, treatment: r.treatment, ringingSince: r.ringing_since, ringingMs: r.ringing_ms,
    relay: r.relay ?? null,
  };
}

/** {@link CallJournal} on SQLite. */
export class SqliteJournal implements CallJournal {
  readonly #arrived: SqliteStatement;
  readonly #ivrExited: SqliteStatement;
  readonly #queued: SqliteStatement;
  readonly #offered: SqliteStatement;
  readonly #answered: SqliteStatement;
  readonly #ringingHeld: SqliteStatement;
  readonly #ringingEnded: SqliteStatement;
  readonly #relayed: SqliteStatement;
  readonly #remove: SqliteStatement;
  readonly #get: SqliteStatement<JournalRow>;
  readonly #all: SqliteStatement<JournalRow>;
  readonly #beat: SqliteStatement;
  readonly #lastBeat: SqliteStatement<{ value: number }>;

  readonly #writer: SqliteWriter;

  constructor(db: SqliteDatabase, writer: SqliteWriter) {
    this.#writer = writer;
    this.#arrived = db.prepare(`INSERT INTO call_journal (call_id, state, caller, dialled, programme, airing, customer_id,
        queue, arrived_at, updated_at) VALUES (?, 'arrived', ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (call_id) DO NOTHING`);
    this.#ivrExited = db.prepare("UPDATE call_journal SET state = 'ivr_exited', ivr_exit_at = ?, updated_at = ? WHERE call_id = ?");
    // A call re-queued after ring-no-answer keeps its first queued_at.
    this.#queued = db.prepare(`UPDATE call_journal SET state = 'queued', queue = ?, queued_at = coalesce(queued_at, ?),
      agent = NULL, updated_at = ? WHERE call_id = ?`);
    this.#offered = db.prepare(`UPDATE call_journal SET state = 'offered', agent = ?, offered_at = coalesce(offered_at, ?),
      offers = offers + 1, updated_at = ? WHERE call_id = ?`);
    this.#answered = db.prepare("UPDATE call_journal SET state = 'answered', agent = ?, answered_at = ?, updated_at = ? WHERE call_id = ?");
    this.#ringingHeld = db.prepare("UPDATE call_journal SET treatment = 'ringing', ringing_since = ?, updated_at = ? WHERE call_id = ?");
    this.#ringingEnded = db.prepare('UPDATE call_journal SET ringing_since = NULL, ringing_ms = ?, updated_at = ? WHERE call_id = ?');
    this.#relayed = db.prepare('UPDATE call_journal SET relay = ?, updated_at = ? WHERE call_id = ?');
    this.#remove = db.prepare('DELETE FROM call_journal WHERE call_id = ?');
    this.#get = db.prepare('SELECT * FROM call_journal WHERE call_id = ?');
    this.#all = db.prepare('SELECT * FROM call_journal ORDER BY arrived_at, call_id');
    this.#beat = db.prepare("INSERT INTO store_meta (key, value) VALUES ('heartbeat', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.#lastBeat = db.prepare("SELECT value FROM store_meta WHERE key = 'heartbeat'");
  }

  arrived(callId: string, info: ArrivalInfo, at: number): Promise<void> {
    return this.#writer.write(() => void this.#arrived.run(callId, info.caller, info.dialled, info.programme, info.airing, info.customerId, info.queue, at, at));
  }

  ivrExited(callId: string, at: number): Promise<void> {
    return this.#writer.write(() => void this.#ivrExited.run(at, at, callId));
  }

  queued(callId: string, queue: string, at: number): Promise<void> {
    return this.#writer.write(() => void this.#queued.run(queue, at, at, callId));
  }

  offered(callId: string, agent: string, at: number): Promise<void> {
    return this.#writer.write(() => void this.#offered.run(agent, at, at, callId));
  }

  answered(callId: string, agent: string, at: number): Promise<void> {
    return this.#writer.write(() => void this.#answered.run(agent, at, at, callId));
  }

  ringingHeld(callId: string, at: number): Promise<void> {
    return this.#writer.write(() => void this.#ringingHeld.run(at, at, callId));
  }

  ringingEnded(callId: string, ringingMs: number, at: number): Promise<void> {
    return this.#writer.write(() => void this.#ringingEnded.run(ringingMs, at, callId));
  }

  relayed(callId: string, relay: string | null, at: number): Promise<void> {
    return this.#writer.write(() => void this.#relayed.run(relay, at, callId));
  }

  get(callId: string): Promise<JournalEntry | null> {
    return settle(() => {
      const r = this.#get.get(callId);
      return r === undefined ? null : toEntry(r);
    });
  }

  list(): Promise<JournalEntry[]> {
    return settle(() => this.listSync());
  }

  heartbeat(now: number): Promise<void> {
    return this.#writer.write(() => void this.#beat.run(now));
  }

  /** Every row, oldest arrival first. */
  listSync(): JournalEntry[] {
    return this.#all.all().map(toEntry);
  }

  /** Remove a call (inside the caller's transaction). */
  removeSync(callId: string): void {
    this.#remove.run(callId);
  }

  /** Last heartbeat, or null. */
  lastHeartbeat(): number | null {
    return this.#lastBeat.get()?.value ?? null;
  }
}
