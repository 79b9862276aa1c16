/** The error codes of engine/users (one registry, prefix `USERS_ERR_`). */

/** Every code this layer produces, with what it means. */
export const USERS_ERRORS = {
  USERS_ERR_BAD_CREDENTIALS: 'unknown user or wrong password (one answer for both: which one is not told)',
  USERS_ERR_LOCKED: 'too many failed sign-ins for this account or from this address; retry later',
  USERS_ERR_SEED: 'a configured account is invalid (unknown agent, agent role without agent, bad hash)',
  USERS_ERR_EXISTS: 'an account with this username, or for this agent, exists already',
} as const;

/** A code of {@link USERS_ERRORS}. */
export type UsersErrorCode = keyof typeof USERS_ERRORS;

/** A programmer or configuration error of this layer (never thrown for network input). */
export class UsersError extends Error {
  constructor(readonly code: UsersErrorCode, message: string) {
    super(`${code}: ${message}`);
  }
}
