/**
 * Agent registrations that survive a restart (contract C4): the registrar's `BindingStore` on the
 * engine's SQLite file. Without it a restarted engine knows no phone until each re-registers (up
 * to `registrar.maxExpires` later), and every call in between finds no agent.
 *
 * The table is its own component (`bindings` in `schema_migrations`), so it evolves apart from
 * the outbox and journal. Writes go through the store's writer (group commit); a binding counts as
 * stored once its promise resolves. One row per (agent, Contact URI), as the registrar keys them.
 */
import { migrate, type Migration, type SqliteDatabase, type SqliteStatement, type SqliteWriter } from '../db/index.ts';

/** Transports a binding's source can have (the SIP stack's names). */
export type BindingTransport = 'UDP' | 'TCP' | 'TLS';

/**
 * One persisted registration: structurally the registrar's `PersistedBinding` (engine/registrar
 * defines it; the store sits below the registrar and does not import it).
 */
export interface StoredBinding {
  agentId: string;
  /** The Contact URI text as registered. */
  contact: string;
  /** Where the REGISTER came from: where requests to the phone go (and the C3 source check). */
  source: { transport: BindingTransport; address: string; port: number };
  /** Epoch ms when the binding lapses. */
  expiresAt: number;
  callId: string;
  cseq: number;
  /** RFC 5626 `+sip.instance`, or null. */
  instanceId: string | null;
  /** Epoch ms of the first REGISTER of this binding. */
  registeredAt: number;
  /** The REGISTER's Path (RFC 3327) as one header value, or null / absent: none. */
  path?: string | null;
}

/** Migrations of the `bindings` component, in order. */
export const BINDING_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'agent registrations',
    sql: `
CREATE TABLE agent_bindings (
  agent_id TEXT NOT NULL,
  contact TEXT NOT NULL,
  transport TEXT NOT NULL CHECK (transport IN ('UDP', 'TCP', 'TLS')),
  address TEXT NOT NULL,
  port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
  expires_at INTEGER NOT NULL,
  call_id TEXT NOT NULL,
  cseq INTEGER NOT NULL,
  instance_id TEXT,
  registered_at INTEGER NOT NULL,
  PRIMARY KEY (agent_id, contact)
) WITHOUT ROWID;
CREATE INDEX agent_bindings_expiry ON agent_bindings (expires_at);
`,
  },
  {
    version: 2,
    name: 'the Path of a registration (RFC 3327)',
    // The proxies the REGISTER came through: INVITEs to the phone go back through them. NULL: none.
    sql: `ALTER TABLE agent_bindings ADD COLUMN path TEXT;`,
  },
];

/** @internal A row of `agent_bindings` (both backends). */
export interface BindingRow {
  agent_id: string;
  contact: string;
  transport: BindingTransport;
  address: string;
  port: number;
  expires_at: number;
  call_id: string;
  cseq: number;
  instance_id: string | null;
  registered_at: number;
  path: string | null;
}

/** The registrar's `BindingStore` on SQLite. */
export class SqliteBindingStore {
  readonly #writer: SqliteWriter;
  readonly #upsert: SqliteStatement;
  readonly #remove: SqliteStatement;
  readonly #live: SqliteStatement<BindingRow>;
  readonly #expire: SqliteStatement;

  /** Creates (migrates) the table in `db`; `writer` is the store's, so bindings commit with its group. */
  constructor(db: SqliteDatabase, writer: SqliteWriter, now: number = Date.now()) {
    migrate(db, 'bindings', BINDING_MIGRATIONS, now);
    this.#writer = writer;
    this.#upsert = db.prepare(`INSERT INTO agent_bindings (agent_id, contact, transport, address, port, expires_at, call_id, cseq, instance_id, registered_at, path)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (agent_id, contact) DO UPDATE SET transport = excluded.transport, address = excluded.address, port = excluded.port,
        expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq, instance_id = excluded.instance_id,
        registered_at = excluded.registered_at, path = excluded.path`);
    this.#remove = db.prepare('DELETE FROM agent_bindings WHERE agent_id = ? AND contact = ?');
    this.#live = db.prepare('SELECT * FROM agent_bindings WHERE expires_at > ? ORDER BY agent_id, registered_at, contact');
    this.#expire = db.prepare('DELETE FROM agent_bindings WHERE expires_at <= ?');
  }

  /**
   * The bindings still live at `now`, for the registrar to restore at start. Lapsed ones are
   * deleted in the same step: a phone that went away while the engine was down is not kept.
   */
  load(now: number): Promise<StoredBinding[]> {
    return this.#writer.write(() => {
      this.#expire.run(now);
      return this.#live.all(now).map(toBinding);
    });
  }

  /** Store a binding, replacing the one of the same agent and Contact (a refresh). */
  upsert(b: StoredBinding): Promise<void> {
    return this.#writer.write(() => void this.#upsert.run(
      b.agentId, b.contact, b.source.transport, b.source.address, b.source.port, b.expiresAt, b.callId, b.cseq, b.instanceId, b.registeredAt, b.path ?? null,
    ));
  }

  /** Forget the binding of `agentId` to `contact` (unregistered, expired, or replaced). */
  remove(agentId: string, contact: string): Promise<void> {
    return this.#writer.write(() => void this.#remove.run(agentId, contact));
  }
}

/** @internal */
export function toBinding(r: BindingRow): StoredBinding {
  return {
    agentId: r.agent_id, contact: r.contact,
    source: { transport: r.transport, address: r.address, port: r.port },
    expiresAt: r.expires_at, callId: r.call_id, cseq: r.cseq, instanceId: r.instance_id, registeredAt: r.registered_at,
    ...(r.path !== null ? { path: r.path } : {}),
  };
}
