/**
 * The lease of the active-standby pair: one row of `ha_lease` in the shared PostgreSQL database,
 * with a fencing token (the epoch).
 *
 * Why a lease row and not an advisory lock: a session advisory lock lives as long as a database
 * connection, not as long as the node is fit to serve. A node paused by SIGSTOP, or cut off with
 * its TCP connection half-open, keeps its lock until the server notices (minutes of keepalive), so
 * the standby could not take over within seconds; and a lock carries no token the writes could be
 * checked against. A row with an expiry in time the nodes agree on and an epoch that goes up at
 * every acquisition gives both: the standby takes an expired lease at once, and every durable
 * write of the active checks the epoch in its own transaction ({@link PgLease.check}).
 *
 * ```
 *  ha_lease: name | holder | epoch | expires_at (epoch ms) | acquired_at | renewed_at
 *  ha_fence: name | epoch                       (the epoch again, in a row only acquisitions update)
 *  acquire:  UPDATE ha_lease SET epoch = epoch + 1, holder = me, expires_at = now + lease
 *            WHERE expires_at <= now;                          (only an expired lease)
 *            UPDATE ha_fence SET epoch = new                   (same transaction)
 *  renew:    UPDATE ha_lease SET expires_at = sent + lease WHERE epoch = mine AND holder = me
 *  check:    SELECT epoch FROM ha_fence ... FOR SHARE   (in the write's transaction: the
 *            acquisition's UPDATE of ha_fence waits for writes in flight, and a write after it
 *            sees the new epoch and refuses; the holder's renewals touch the other row, so its
 *            own long writes — a takeover's recovery — never hold its renewal up)
 * ```
 * Times are the nodes' epoch clocks (NTP-synchronised; the lease is seconds, skew milliseconds). A
 * skew only moves when the standby may bid: the epoch check keeps two writers apart regardless.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import { migratePostgres } from '../db/postgres.ts';
import { HA_ERRORS, HaError } from './errors.ts';
import { PG_HA_MIGRATIONS } from './schema.ts';

/** Any Kysely database: the lease reaches its table through `sql` templates. */
type Db = Kysely<Record<string, never>>;

/** The lease row as read. */
export interface LeaseRow {
  name: string;
  holder: string | null;
  epoch: number;
  expiresAt: number;
  acquiredAt: number | null;
  renewedAt: number | null;
}

/** A lease taken. */
export interface Acquired {
  held: false;
  epoch: number;
  /** The node that held the lease before (null: nobody ever had it). */
  previous: string | null;
}

/** A lease not taken: another node holds it until `expiresAt` (epoch ms), or null when that is not known (its writes were in flight). */
export interface Held {
  held: true;
  expiresAt: number | null;
}

/** The lease of one name in the shared database. Open with {@link PgLease.open}. */
export class PgLease {
  readonly name: string;
  readonly #db: Db;

  private constructor(db: Db, name: string) {
    this.#db = db;
    this.name = name;
  }

  /** Migrate the `ha` component and make sure the row of `name` exists (nobody's, expired). */
  static async open(db: Db, name: string, now: number): Promise<PgLease> {
    await migratePostgres(db, 'ha', PG_HA_MIGRATIONS, now);
    await sql`INSERT INTO ha_lease (name) VALUES (${name}) ON CONFLICT (name) DO NOTHING`.execute(db);
    await sql`INSERT INTO ha_fence (name) VALUES (${name}) ON CONFLICT (name) DO NOTHING`.execute(db);
    return new PgLease(db, name);
  }

  /**
   * Take the lease for `node` if it has expired at `now`: the epoch goes up by one. When someone
   * holds it: until when (the standby bids again at that instant, not a renewal period later).
   * The acquisition waits at most `lockTimeoutMs` for writes of the old holder still in flight
   * (they hold the fence row FOR SHARE); past that it gives up until the next try.
   */
  async acquire(node: string, now: number, leaseMs: number, lockTimeoutMs: number): Promise<Acquired | Held> {
    try {
      return await this.#db.transaction().execute(async (tx): Promise<Acquired | Held> => {
        await sql`SELECT set_config('lock_timeout', ${`${Math.max(1, Math.round(lockTimeoutMs))}ms`}, true)`.execute(tx);
        // One round trip either way: the row as it was (holder, expiry) and the epoch when taken.
        const r = await sql<{ epoch: number | null; previous: string | null; expires_at: number }>`WITH old AS (SELECT holder, expires_at FROM ha_lease WHERE name = ${this.name}),
          taken AS (UPDATE ha_lease SET holder = ${node}, epoch = epoch + 1, expires_at = ${now + leaseMs}, acquired_at = ${now}, renewed_at = ${now}
            WHERE name = ${this.name} AND expires_at <= ${now} RETURNING epoch)
          SELECT (SELECT epoch FROM taken) AS epoch, (SELECT holder FROM old) AS previous, (SELECT expires_at FROM old) AS expires_at`.execute(tx);
        const row = r.rows[0];
        if (row === undefined || row.epoch === null) return { held: true, expiresAt: row?.expires_at ?? null };
        // Waits (up to the lock timeout) for the old holder's writes still in flight.
        await sql`UPDATE ha_fence SET epoch = ${row.epoch} WHERE name = ${this.name}`.execute(tx);
        return { held: false, epoch: row.epoch, previous: row.previous };
      });
    } catch (err) {
      // 55P03 lock_not_available: the old holder's write is still in flight; try again later.
      if ((err as { code?: string }).code === '55P03') return { held: true, expiresAt: null };
      throw err;
    }
  }

  /**
   * Extend the lease of `node` at `epoch` to `sentAt + leaseMs`. False when the lease is no longer
   * ours (another node took it: the epoch moved on).
   */
  async renew(node: string, epoch: number, sentAt: number, leaseMs: number): Promise<boolean> {
    const r = await sql<{ epoch: number }>`UPDATE ha_lease SET expires_at = ${sentAt + leaseMs}, renewed_at = ${sentAt}
      WHERE name = ${this.name} AND epoch = ${epoch} AND holder = ${node} RETURNING epoch`.execute(this.#db);
    return r.rows.length === 1;
  }

  /** Give the lease up (a clean stop): it expires now, so the standby takes it at its next try. */
  async release(node: string, epoch: number): Promise<void> {
    await sql`UPDATE ha_lease SET expires_at = 0 WHERE name = ${this.name} AND epoch = ${epoch} AND holder = ${node}`.execute(this.#db);
  }

  /** The row as it is now. */
  async read(): Promise<LeaseRow> {
    const r = await sql<{ name: string; holder: string | null; epoch: number; expires_at: number; acquired_at: number | null; renewed_at: number | null }>`
      SELECT * FROM ha_lease WHERE name = ${this.name}`.execute(this.#db);
    const row = r.rows[0]!;
    return { name: row.name, holder: row.holder, epoch: row.epoch, expiresAt: row.expires_at, acquiredAt: row.acquired_at, renewedAt: row.renewed_at };
  }

  /**
   * The fencing check of one write transaction: `epoch` must still be the lease's, else the
   * transaction is refused ({@link HA_ERRORS.fenced}). The fence row is read FOR SHARE, so an acquisition
   * waits for this transaction to end. The transaction may not stay idle longer than
   * `idleLimitMs` (a writer paused mid-transaction is cut off by the server, and its share lock
   * with it), so a paused old active cannot hold the takeover up for longer than that.
   */
  async check(tx: Transaction<Record<string, never>>, epoch: number | null, idleLimitMs: number): Promise<void> {
    if (epoch === null) throw new HaError(HA_ERRORS.fenced, 'this node does not hold the lease: the write is refused');
    const r = await sql<{ epoch: number }>`SELECT set_config('idle_in_transaction_session_timeout', ${`${Math.max(1, Math.round(idleLimitMs))}ms`}, true) AS s, epoch
      FROM ha_fence WHERE name = ${this.name} FOR SHARE`.execute(tx);
    const current = r.rows[0]?.epoch;
    if (current !== epoch) throw new HaError(HA_ERRORS.fenced, `lease epoch is ${String(current)}, this node wrote at ${epoch}: the write is refused`);
  }
}
