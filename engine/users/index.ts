/**
 * engine/users — people who sign in to the desktop and wallboard: accounts and roles (agent,
 * supervisor, admin) in the engine's SQLite file, scrypt password hashes, sessions, lockout, and
 * the number-masking rule. The only door of the folder. The HTTP side (cookies, which role may
 * use which route) is engine/api/auth.ts.
 */
export { UserDirectory, USER_MIGRATIONS, type UserDirectoryOptions, type LockoutOptions } from './directory.ts';
export { SessionTable, type SessionOptions } from './sessions.ts';
export { hashPassword, verifyPassword, parsePasswordHash, SCRYPT_PARAMS } from './password.ts';
export { maskNumber } from './mask.ts';
export { USERS_ERRORS, UsersError, type UsersErrorCode } from './errors.ts';
export { ROLES } from './types.ts';
export type { Role, UserAccount, AccountSeed, Session, SignInRefusal, SignInResult } from './types.ts';
