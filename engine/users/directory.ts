/**
 * The users of the desktop and wallboard: accounts in the engine's SQLite file (component
 * `users` in `schema_migrations`), seeded from the configuration at start, signed in with scrypt
 * password checks, with lockout per account and per source address.
 *
 * ```
 *  POST sign-in ─▶ source blocked? ─▶ account locked? ─▶ scrypt verify ─▶ session
 *                      │ yes               │ yes              │ wrong: count a failure on both
 *                      └──── USERS_ERR_LOCKED (no hashing) ───┘        (the next over the limit locks)
 * ```
 *
 * A locked account or a blocked source is refused before any hashing, so a guessing flood costs
 * map look-ups. An unknown user is checked against a dummy hash, so the answer's time does not
 * tell whether the name exists.
 */
import { migrate, type Migration, type SqliteDatabase, type SqliteStatement, type SqliteWriter } from '../db/index.ts';
import { FailureLimiter } from '../registrar/index.ts';
import { UsersError } from './errors.ts';
import { hashPassword, parsePasswordHash, verifyPassword } from './password.ts';
import { SessionTable, type SessionOptions } from './sessions.ts';
import type { AccountSeed, Role, Session, SignInResult, UserAccount } from './types.ts';

/** Migrations of the `users` component, in order. */
export const USER_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'users and roles',
    sql: `
CREATE TABLE users (
  username TEXT PRIMARY KEY COLLATE NOCASE,
  role TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
  agent_id TEXT,
  name TEXT,
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  CHECK (role <> 'agent' OR agent_id IS NOT NULL)
);
CREATE UNIQUE INDEX users_agent ON users (agent_id) WHERE agent_id IS NOT NULL;
`,
  },
  {
    version: 2,
    name: 'teams a supervisor leads',
    sql: `ALTER TABLE users ADD COLUMN teams TEXT NOT NULL DEFAULT '[]';`,
  },
];

interface UserRow {
  username: string;
  role: Role;
  agent_id: string | null;
  name: string | null;
  password_hash: string;
  teams: string;
}

/** Lockout limits: failures tolerated within the window; the next one locks for `lockMs`. */
export interface LockoutOptions {
  maxFailures: number;
  windowMs: number;
  lockMs: number;
}

/** Options of {@link UserDirectory.open}. */
export interface UserDirectoryOptions {
  sessions: SessionOptions;
  /** Per account (any source). */
  accountLockout: LockoutOptions;
  /** Per source address (any account): a password sprayer changes names, not addresses. */
  sourceLockout: LockoutOptions;
  /** Wall clock (epoch ms). Default Date.now. */
  now?: () => number;
}

/** Users, sign-in and sessions. */
export class UserDirectory {
  readonly sessions: SessionTable;
  readonly #writer: SqliteWriter;
  readonly #byName: SqliteStatement<UserRow>;
  readonly #upsert: SqliteStatement;
  readonly #insert: SqliteStatement;
  readonly #byAgent: SqliteStatement<{ username: string }>;
  readonly #accounts: FailureLimiter;
  readonly #sources: FailureLimiter;
  readonly #now: () => number;
  /** Verified against when the user is unknown, so both answers cost one scrypt. */
  #dummyHash = '';

  private constructor(db: SqliteDatabase, writer: SqliteWriter, opts: UserDirectoryOptions) {
    this.#writer = writer;
    this.#now = opts.now ?? Date.now;
    const clock = { now: this.#now };
    this.sessions = new SessionTable(opts.sessions);
    this.#accounts = new FailureLimiter({ maxFailures: opts.accountLockout.maxFailures, windowMs: opts.accountLockout.windowMs, blockMs: opts.accountLockout.lockMs }, clock);
    this.#sources = new FailureLimiter({ maxFailures: opts.sourceLockout.maxFailures, windowMs: opts.sourceLockout.windowMs, blockMs: opts.sourceLockout.lockMs }, clock);
    this.#byName = db.prepare('SELECT username, role, agent_id, name, password_hash, teams FROM users WHERE username = ?');
    this.#insert = db.prepare('INSERT INTO users (username, role, agent_id, name, password_hash, teams, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.#byAgent = db.prepare('SELECT username FROM users WHERE agent_id = ?');
    this.#upsert = db.prepare(`INSERT INTO users (username, role, agent_id, name, password_hash, teams, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (username) DO UPDATE SET role = excluded.role, agent_id = excluded.agent_id, name = excluded.name,
        password_hash = excluded.password_hash, teams = excluded.teams, updated_at = excluded.updated_at`);
  }

  /**
   * Migrate the table in `db` and apply `seeds` (the configured accounts): each is created, or
   * updated when its role, agent, name or password differ from what is stored (the configuration
   * is the seed; accounts not in it are kept). `agents` are the configured agent ids: an account
   * naming another is refused (`USERS_ERR_SEED`), as is an agent without an agent id.
   */
  static async open(db: SqliteDatabase, writer: SqliteWriter, seeds: readonly AccountSeed[], agents: ReadonlySet<string>, opts: UserDirectoryOptions): Promise<UserDirectory> {
    migrate(db, 'users', USER_MIGRATIONS, (opts.now ?? Date.now)());
    const dir = new UserDirectory(db, writer, opts);
    dir.#dummyHash = await hashPassword('onair: no such user');
    for (const s of seeds) await dir.#seed(s, agents);
    return dir;
  }

  async #seed(s: AccountSeed, agents: ReadonlySet<string>): Promise<void> {
    if (s.role === 'agent' && s.agentId === null) throw new UsersError('USERS_ERR_SEED', `user ${s.username}: role agent needs an agent`);
    if (s.agentId !== null && !agents.has(s.agentId)) throw new UsersError('USERS_ERR_SEED', `user ${s.username}: no agent ${s.agentId}`);
    const hasClear = typeof s.password === 'string';
    if (!hasClear && (typeof s.passwordHash !== 'string' || parsePasswordHash(s.passwordHash) === null)) {
      throw new UsersError('USERS_ERR_SEED', `user ${s.username}: a password or a valid passwordHash is required`);
    }
    const row = this.#byName.get(s.username);
    let hash: string;
    if (hasClear) {
      // Re-hash only when the stored hash does not match the configured password (a salt per hash).
      hash = row !== undefined && await verifyPassword(s.password!, row.password_hash) ? row.password_hash : await hashPassword(s.password!);
    } else {
      hash = s.passwordHash!;
    }
    const teams = JSON.stringify(s.teams ?? []);
    if (row !== undefined && row.role === s.role && row.agent_id === s.agentId && row.name === s.name && row.password_hash === hash && row.teams === teams) return;
    const now = this.#now();
    await this.#writer.write(() => void this.#upsert.run(s.username, s.role, s.agentId, s.name, hash, teams, now, now));
    this.sessions.endUser(row?.username ?? s.username);
  }

  /**
   * Create an account at run time (provisioning: an agent added through the API). Refused with
   * `USERS_ERR_EXISTS` when the username or the agent has one already; never updates. The row is
   * in the same table as the seeded accounts, and seeding keeps accounts the file does not name,
   * so it survives a restart.
   */
  async addAccount(a: UserAccount, password: string): Promise<{ ok: true } | { ok: false; code: 'USERS_ERR_EXISTS'; message: string }> {
    if (this.#byName.get(a.username) !== undefined) return { ok: false, code: 'USERS_ERR_EXISTS', message: `user ${a.username} exists` };
    if (a.agentId !== null && this.#byAgent.get(a.agentId) !== undefined) return { ok: false, code: 'USERS_ERR_EXISTS', message: `agent ${a.agentId} has a user` };
    const hash = await hashPassword(password);
    const now = this.#now();
    await this.#writer.write(() => void this.#insert.run(a.username, a.role, a.agentId, a.name, hash, JSON.stringify(a.teams ?? []), now, now));
    return { ok: true };
  }

  /** The account named `username` (case-insensitive), or undefined. */
  get(username: string): UserAccount | undefined {
    const r = this.#byName.get(username);
    return r === undefined ? undefined : toAccount(r);
  }

  /** Check a password and start a session. `source` is the client's IP address. Never throws for input. */
  async signIn(username: string, password: string, source: string): Promise<SignInResult> {
    const key = username.toLowerCase();
    const wait = Math.max(this.#sources.retryAfterMs(source), this.#accounts.retryAfterMs(key));
    if (wait > 0) return locked(wait);
    const row = this.#byName.get(username);
    const ok = await verifyPassword(password, row?.password_hash ?? this.#dummyHash);
    if (!ok || row === undefined) {
      const a = this.#accounts.fail(key);
      const b = this.#sources.fail(source);
      if (a === 'blocked' || b === 'blocked') {
        return locked(Math.max(this.#sources.retryAfterMs(source), this.#accounts.retryAfterMs(key)));
      }
      return { ok: false, code: 'USERS_ERR_BAD_CREDENTIALS', message: 'unknown user or wrong password', retryAfterMs: 0 };
    }
    return { ok: true, session: this.sessions.create(toAccount(row), source, this.#now()) };
  }

  /** The live session of a cookie token, or undefined. */
  session(token: string): Session | undefined {
    return this.sessions.touch(token, this.#now());
  }

  /** End a session (sign-out). True when there was one. */
  signOut(token: string): boolean {
    return this.sessions.end(token);
  }
}

function locked(retryAfterMs: number): SignInResult {
  return { ok: false, code: 'USERS_ERR_LOCKED', message: 'too many failed sign-ins; retry later', retryAfterMs };
}

function toAccount(r: UserRow): UserAccount {
  return { username: r.username, role: r.role, agentId: r.agent_id, name: r.name, teams: teamList(r.teams) };
}

/** The stored teams; a malformed value (a hand edit) reads as none. */
function teamList(json: string): string[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
