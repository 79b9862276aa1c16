/** Types of engine/users (type-only: imported by the API and the config without a cycle). */

/** Roles of people who sign in. Integration tokens are not users (engine/api/auth.ts). */
export type Role = 'agent' | 'supervisor' | 'admin';

/** Every role, in order of increasing reach. */
export const ROLES = ['agent', 'supervisor', 'admin'] as const satisfies readonly Role[];

/** A user as the engine knows it (never the password). */
export interface UserAccount {
  /** Sign-in name; agents sign in with their extension. Compared case-insensitively. */
  username: string;
  role: Role;
  /** The agent (ACD id) this user works as; required for role `agent`, optional otherwise. */
  agentId: string | null;
  /** Display name, or null. */
  name: string | null;
  /**
   * Teams a supervisor leads: it sees and changes only agents of these teams (config
   * `agents[].team`). Absent or empty = every agent (as before teams existed); ignored for other roles.
   */
  teams?: readonly string[];
}

/** A user as the configuration seeds it: a clear `password` (demo) or a stored `passwordHash`. */
export interface AccountSeed extends UserAccount {
  password?: string | null;
  /** `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>` (see password.ts). */
  passwordHash?: string | null;
}

/** A signed-in user's session. */
export interface Session {
  /** The secret cookie value (never logged). */
  readonly token: string;
  readonly user: UserAccount;
  /** Epoch ms of the sign-in. */
  readonly createdAt: number;
  /** Epoch ms of the last request seen. */
  lastSeenAt: number;
  /** Address the sign-in came from. */
  readonly source: string;
}

/** Why a sign-in was refused. */
export type SignInRefusal = 'USERS_ERR_BAD_CREDENTIALS' | 'USERS_ERR_LOCKED';

/** Result of a sign-in. */
export type SignInResult =
  | { ok: true; session: Session }
  | { ok: false; code: SignInRefusal; message: string; retryAfterMs: number };
