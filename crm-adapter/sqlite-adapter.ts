/**
 * The built-in CRM on SQLite — the default adapter. Customers (VIP level, blacklist, strikes,
 * preferred agent, language, low credit, screen-pop fields) and the CDR store live in tables of
 * their own (`crm_*`, component `crm-sqlite` in `schema_migrations`), normally in the engine's
 * database file so one backup holds everything.
 *
 * Blacklisting: a number is rejected when its `blacklisted` flag is set, or when it has been
 * flagged `strikeThreshold` times (default 3: "after a number has been flagged three times it
 * is rejected"). `addStrike` flags a number once (an agent marking a prank call, say).
 *
 * Delivery is idempotent, as the at-least-once outbox needs: events are keyed by delivery id,
 * CDRs by call id (a redelivered CDR replaces the stored one).
 */
import {
  migrate, openDatabase, settle, type Migration, type SqliteDatabase, type SqliteStatement, type SqliteWriter, type Synchronous,
} from '../engine/db/index.ts';
import { CONTRACT_VERSION, unknownCaller, type CallerInfo, type CallEvent, type Cdr, type CdrOutcome, type CrmAdapter, type DeliveryInfo, type LookupContext } from './contract.ts';

/**
 * A customer record of the built-in CRM: the look-up answer without `known`, plus the number.
 * `blacklisted` here is the flag alone; a look-up also rejects at `strikeThreshold` strikes.
 * `customerId` is null for a number known only by its strikes (flagged, never a customer).
 */
export interface Customer extends Omit<CallerInfo, 'known'> {
  /** Caller number as it arrives from the trunk (E.164 `+4930...` recommended). */
  number: string;
}

/** Options of {@link SqliteCrmAdapter}. */
export interface SqliteCrmOptions {
  /** Use this open database (the engine store's `db`); it is not closed by `close()`. */
  db?: SqliteDatabase;
  /**
   * With `db`: the store's writer, so that deliveries commit together with the writes of the same
   * event-loop turn (the outbox acks among them) instead of one commit per delivered item.
   */
  writer?: SqliteWriter;
  /** Otherwise open this file (default `./var/onair.db`) or `:memory:`. */
  path?: string;
  synchronous?: Synchronous;
  /** Strikes after which a number is rejected. Default 3. */
  strikeThreshold?: number;
  /** Insert {@link DEMO_CUSTOMERS} on init (the demo config does). Default false. */
  seedDemo?: boolean;
  /** Time source for `received_at` and strikes. Default Date.now. */
  now?: () => number;
}

/** A CDR as stored, with when it arrived. */
export interface StoredCdr {
  cdr: Cdr;
  deliveryId: string;
  receivedAt: number;
}

/** Filter for {@link SqliteCrmAdapter.listCdrs}. */
export interface CdrFilter {
  /** Only calls that arrived at or after this time. */
  since?: number;
  outcome?: CdrOutcome;
  queue?: string;
  /** Default 100. */
  limit?: number;
  offset?: number;
}

/**
 * Demo customers used by the demo config: a VIP, a blacklisted number, one at the strike limit,
 * one below it, and a low-credit customer.
 */
export const DEMO_CUSTOMERS: readonly Customer[] = Object.freeze<Customer[]>([
  { number: '+4915110000001', customerId: 'DEMO-VIP', name: 'Vera Ipsen', vipLevel: 3, blacklisted: false, strikes: 0,
    preferredAgent: '1001', language: 'de', lowCredit: false, screenPop: { segment: 'gold', lastOrder: 'copper pan set' } },
  { number: '+4915110000002', customerId: 'DEMO-BLOCKED', name: 'Bernd Lock', vipLevel: 0, blacklisted: true, strikes: 0,
    preferredAgent: null, language: 'de', lowCredit: false, screenPop: { note: 'prank caller' } },
  { number: '+4915110000003', customerId: 'DEMO-STRIKES', name: 'Stefan Trike', vipLevel: 0, blacklisted: false, strikes: 3,
    preferredAgent: null, language: 'de', lowCredit: false, screenPop: {} },
  { number: '+4915110000004', customerId: 'DEMO-REGULAR', name: 'Rita Gular', vipLevel: 0, blacklisted: false, strikes: 1,
    preferredAgent: null, language: 'en', lowCredit: false, screenPop: { lastOrder: 'knife block' } },
  { number: '+4915110000005', customerId: 'DEMO-LOWCREDIT', name: 'Lou Credit', vipLevel: 0, blacklisted: false, strikes: 0,
    preferredAgent: null, language: 'fr', lowCredit: true, screenPop: { openInvoices: '2' } },
]);

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'customers, cdrs, call events',
    sql: `
CREATE TABLE crm_customers (
  number TEXT PRIMARY KEY,
  customer_id TEXT UNIQUE,
  name TEXT,
  vip_level INTEGER NOT NULL DEFAULT 0,
  blacklisted INTEGER NOT NULL DEFAULT 0,
  strikes INTEGER NOT NULL DEFAULT 0,
  last_strike_at INTEGER,
  preferred_agent TEXT,
  language TEXT,
  low_credit INTEGER NOT NULL DEFAULT 0,
  screen_pop TEXT NOT NULL DEFAULT '{}',
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE crm_cdrs (
  call_id TEXT PRIMARY KEY,
  arrived_at INTEGER NOT NULL,
  caller TEXT NOT NULL,
  queue TEXT,
  agent TEXT,
  outcome TEXT NOT NULL,
  payload TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX crm_cdrs_arrived ON crm_cdrs (arrived_at);
CREATE TABLE crm_call_events (
  delivery_id TEXT PRIMARY KEY,
  call_id TEXT NOT NULL,
  type TEXT NOT NULL,
  at INTEGER NOT NULL,
  payload TEXT NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX crm_call_events_by_call ON crm_call_events (call_id, at);
`,
  },
];

interface CustomerRow {
  number: string;
  customer_id: string | null;
  name: string | null;
  vip_level: number;
  blacklisted: number;
  strikes: number;
  preferred_agent: string | null;
  language: string | null;
  low_credit: number;
  screen_pop: string;
}

function toCustomer(r: CustomerRow): Customer {
  return {
    number: r.number, customerId: r.customer_id, name: r.name, vipLevel: r.vip_level, blacklisted: r.blacklisted === 1,
    strikes: r.strikes, preferredAgent: r.preferred_agent, language: r.language, lowCredit: r.low_credit === 1,
    screenPop: JSON.parse(r.screen_pop) as Record<string, string>,
  };
}

interface Statements {
  lookup: SqliteStatement<CustomerRow>;
  upsert: SqliteStatement;
  strike: SqliteStatement<{ strikes: number; blacklisted: number }>;
  event: SqliteStatement;
  cdr: SqliteStatement;
  oneCdr: SqliteStatement<{ payload: string; delivery_id: string; received_at: number }>;
}

/** The built-in SQLite CRM adapter; see the module comment. */
export class SqliteCrmAdapter implements CrmAdapter {
  readonly contractVersion = CONTRACT_VERSION;
  readonly name = 'sqlite';
  readonly strikeThreshold: number;
  readonly #options: SqliteCrmOptions;
  readonly #now: () => number;
  readonly #writer: SqliteWriter | undefined;
  #db: SqliteDatabase | undefined;
  #own = false;
  #st: Statements | undefined;

  constructor(options: SqliteCrmOptions = {}) {
    this.#options = options;
    this.strikeThreshold = options.strikeThreshold ?? 3;
    this.#now = options.now ?? Date.now;
    if (options.writer && !options.db) throw new TypeError('SqliteCrmAdapter: `writer` is the store\'s, so `db` must be the store\'s too');
    this.#writer = options.writer;
  }

  init(): Promise<void> {
    if (this.#st !== undefined) return Promise.resolve();
    try {
      const db = this.#options.db ?? openDatabase({ path: this.#options.path, synchronous: this.#options.synchronous });
      this.#own = this.#options.db === undefined;
      this.#db = db;
      migrate(db, 'crm-sqlite', MIGRATIONS, this.#now());
      this.#st = {
        lookup: db.prepare('SELECT * FROM crm_customers WHERE number = ?'),
        upsert: db.prepare(`INSERT INTO crm_customers (number, customer_id, name, vip_level, blacklisted, strikes, preferred_agent,
            language, low_credit, screen_pop, updated_at)
          VALUES (@number, @customerId, @name, @vipLevel, @blacklisted, @strikes, @preferredAgent, @language, @lowCredit, @screenPop, @now)
          ON CONFLICT (number) DO UPDATE SET customer_id = excluded.customer_id, name = excluded.name,
            vip_level = excluded.vip_level, blacklisted = excluded.blacklisted, strikes = excluded.strikes,
            preferred_agent = excluded.preferred_agent, language = excluded.language, low_credit = excluded.low_credit,
            screen_pop = excluded.screen_pop, updated_at = excluded.updated_at`),
        // An unknown number gets a bare row (no customer id) so that its strikes are remembered.
        strike: db.prepare(`INSERT INTO crm_customers (number, strikes, last_strike_at, updated_at)
            VALUES (@number, 1, @now, @now)
          ON CONFLICT (number) DO UPDATE SET strikes = strikes + 1, last_strike_at = @now, updated_at = @now
          RETURNING strikes, blacklisted`),
        event: db.prepare(`INSERT INTO crm_call_events (delivery_id, call_id, type, at, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT (delivery_id) DO NOTHING`),
        cdr: db.prepare(`INSERT INTO crm_cdrs (call_id, arrived_at, caller, queue, agent, outcome, payload, delivery_id, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT (call_id) DO UPDATE SET arrived_at = excluded.arrived_at, caller = excluded.caller, queue = excluded.queue,
            agent = excluded.agent, outcome = excluded.outcome, payload = excluded.payload, delivery_id = excluded.delivery_id,
            received_at = excluded.received_at`),
        oneCdr: db.prepare('SELECT payload, delivery_id, received_at FROM crm_cdrs WHERE call_id = ?'),
      };
      if (this.#options.seedDemo === true) this.#upsertMany(DEMO_CUSTOMERS);
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A synchronous indexed read on a prepared statement: microseconds, so the deadline is moot. */
  lookupCaller(number: string, _ctx?: LookupContext): Promise<CallerInfo> {
    let row: CustomerRow | undefined;
    try {
      row = this.#statements().lookup.get(number);
    } catch (err) {
      return Promise.reject(err);
    }
    if (row === undefined) return Promise.resolve(unknownCaller());
    return Promise.resolve({
      known: row.customer_id !== null, customerId: row.customer_id, name: row.name, vipLevel: row.vip_level,
      blacklisted: row.blacklisted === 1 || row.strikes >= this.strikeThreshold, strikes: row.strikes,
      preferredAgent: row.preferred_agent, language: row.language, lowCredit: row.low_credit === 1,
      screenPop: JSON.parse(row.screen_pop) as Record<string, string>,
    });
  }

  callEvent(event: CallEvent, delivery: DeliveryInfo): Promise<void> {
    return this.#write(() => {
      this.#statements().event.run(delivery.deliveryId, event.callId, event.type, event.at, JSON.stringify(event), this.#now());
    });
  }

  deliverCdr(cdr: Cdr, delivery: DeliveryInfo): Promise<void> {
    return this.#write(() => {
      this.#statements().cdr.run(cdr.callId, cdr.arrivedAt, cdr.caller, cdr.queue, cdr.agent, cdr.outcome, JSON.stringify(cdr),
        delivery.deliveryId, this.#now());
    });
  }

  /** A delivery write: in the store's per-turn group commit when sharing its writer, else committed now. */
  #write(fn: () => void): Promise<void> {
    return this.#writer ? this.#writer.write(fn) : settle(fn);
  }

  /** Insert or replace customers. */
  upsertCustomers(customers: readonly Customer[]): void {
    this.#upsertMany(customers);
  }

  /** The customer record of a number, or null. */
  getCustomer(number: string): Customer | null {
    const row = this.#statements().lookup.get(number);
    return row === undefined ? null : toCustomer(row);
  }

  /** Flag a number once; returns its strike count and whether it is now rejected. */
  addStrike(number: string): { strikes: number; blacklisted: boolean } {
    const r = this.#statements().strike.get({ number, now: this.#now() })!;
    return { strikes: r.strikes, blacklisted: r.blacklisted === 1 || r.strikes >= this.strikeThreshold };
  }

  /** One stored CDR, or null. */
  getCdr(callId: string): StoredCdr | null {
    const r = this.#statements().oneCdr.get(callId);
    return r === undefined ? null : { cdr: JSON.parse(r.payload) as Cdr, deliveryId: r.delivery_id, receivedAt: r.received_at };
  }

  /** Stored CDRs, newest arrival first (for `GET /api/v1/cdrs`). */
  listCdrs(filter: CdrFilter = {}): Cdr[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.since !== undefined) { where.push('arrived_at >= ?'); params.push(filter.since); }
    if (filter.outcome !== undefined) { where.push('outcome = ?'); params.push(filter.outcome); }
    if (filter.queue !== undefined) { where.push('queue = ?'); params.push(filter.queue); }
    const sql = `SELECT payload FROM crm_cdrs ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY arrived_at DESC, call_id LIMIT ? OFFSET ?`;
    return this.#database().prepare<{ payload: string }>(sql).all(...params, filter.limit ?? 100, filter.offset ?? 0)
      .map((r) => JSON.parse(r.payload) as Cdr);
  }

  /** Count of stored CDRs by outcome. */
  countCdrs(): Partial<Record<CdrOutcome, number>> {
    const rows = this.#database().prepare<{ outcome: CdrOutcome; n: number }>('SELECT outcome, count(*) AS n FROM crm_cdrs GROUP BY outcome').all();
    return Object.fromEntries(rows.map((r) => [r.outcome, r.n]));
  }

  /** Events received for a call, in time order. */
  listEvents(callId: string): CallEvent[] {
    return this.#database().prepare<{ payload: string }>('SELECT payload FROM crm_call_events WHERE call_id = ? ORDER BY at, rowid')
      .all(callId).map((r) => JSON.parse(r.payload) as CallEvent);
  }

  close(): Promise<void> {
    if (this.#own && this.#db?.open === true) this.#db.close();
    this.#st = undefined;
    return Promise.resolve();
  }

  #upsertMany(customers: readonly Customer[]): void {
    const st = this.#statements();
    const now = this.#now();
    this.#database().transaction(() => {
      for (const c of customers) {
        st.upsert.run({
          number: c.number, customerId: c.customerId, name: c.name, vipLevel: c.vipLevel, blacklisted: c.blacklisted ? 1 : 0,
          strikes: c.strikes, preferredAgent: c.preferredAgent, language: c.language, lowCredit: c.lowCredit ? 1 : 0,
          screenPop: JSON.stringify(c.screenPop), now,
        });
      }
    })();
  }

  #statements(): Statements {
    if (this.#st === undefined) throw new Error('CRM_ERR_NOT_INITIALIZED: call init() first');
    return this.#st;
  }

  #database(): SqliteDatabase {
    this.#statements();
    return this.#db!;
  }
}
