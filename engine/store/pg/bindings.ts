/**
 * Agent registrations on PostgreSQL (component `bindings`, table `agent_bindings`, as bindings.ts):
 * the registrar's `BindingStore`. Writes go through the store's writer (group commit). With the
 * store in PostgreSQL every engine on the database sees the same registrations at start.
 */
import { sql, type Kysely } from 'kysely';
import { migratePostgres } from '../../db/postgres.ts';
import { toBinding, type BindingRow, type StoredBinding } from '../bindings.ts';
import { PG_BINDING_MIGRATIONS } from './schema.ts';
import type { PgTables, PgWriter } from './writer.ts';

/** The registrar's `BindingStore` on PostgreSQL. Create it with {@link PgBindingStore.open}. */
export class PgBindingStore {
  readonly #writer: PgWriter;

  private constructor(writer: PgWriter) {
    this.#writer = writer;
  }

  /** Migrate the table in `db` and return the store; `writer` is the store's, so bindings commit with its group. */
  static async open(db: Kysely<PgTables>, writer: PgWriter, now: number = Date.now()): Promise<PgBindingStore> {
    await migratePostgres(db, 'bindings', PG_BINDING_MIGRATIONS, now);
    return new PgBindingStore(writer);
  }

  /** The bindings still live at `now`; lapsed ones are deleted in the same write. */
  load(now: number): Promise<StoredBinding[]> {
    return this.#writer.write(async (tx) => {
      await sql`DELETE FROM agent_bindings WHERE expires_at <= ${now}`.execute(tx);
      // COLLATE "C": the byte order SQLite sorts text in.
      const r = await sql<BindingRow>`SELECT * FROM agent_bindings WHERE expires_at > ${now}
        ORDER BY agent_id COLLATE "C", registered_at, contact COLLATE "C"`.execute(tx);
      return r.rows.map(toBinding);
    });
  }

  /**
   * Store a binding, replacing the one of the same agent and Contact (a refresh). Times are
   * rounded to whole ms: the registrar derives them from its monotonic clock (fractional), and a
   * BIGINT column refuses a fraction, where SQLite's INTEGER affinity kept it.
   */
  upsert(b: StoredBinding): Promise<void> {
    return this.#writer.write(async (tx) => void await sql`INSERT INTO agent_bindings (agent_id, contact, transport, address, port, expires_at,
        call_id, cseq, instance_id, registered_at, path)
      VALUES (${b.agentId}, ${b.contact}, ${b.source.transport}, ${b.source.address}, ${b.source.port}, ${Math.round(b.expiresAt)}, ${b.callId}, ${b.cseq},
        ${b.instanceId}, ${Math.round(b.registeredAt)}, ${b.path ?? null})
      ON CONFLICT (agent_id, contact) DO UPDATE SET transport = excluded.transport, address = excluded.address, port = excluded.port,
        expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq, instance_id = excluded.instance_id,
        registered_at = excluded.registered_at, path = excluded.path`.execute(tx));
  }

  /** Forget the binding of `agentId` to `contact`. */
  remove(agentId: string, contact: string): Promise<void> {
    return this.#writer.write(async (tx) => void await sql`DELETE FROM agent_bindings WHERE agent_id = ${agentId} AND contact = ${contact}`.execute(tx));
  }
}
