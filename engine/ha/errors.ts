/**
 * The error codes of engine/ha (CONVENTIONS.md 19): one registry, prefix `HA_ERR_`.
 */

/** Stable error codes of the active-standby layer. */
export const HA_ERRORS = {
  /** A durable write of a node that does not hold the lease epoch it was started with (it was fenced). */
  fenced: 'HA_ERR_FENCED',
  /** The configuration asks for active-standby on a store that cannot share a lease (SQLite). */
  config: 'HA_ERR_CONFIG',
  /** A role change the state table does not allow (a programmer error). */
  invalidTransition: 'HA_ERR_INVALID_TRANSITION',
} as const;

/** One of {@link HA_ERRORS}. */
export type HaErrorCode = (typeof HA_ERRORS)[keyof typeof HA_ERRORS];

/** An error carrying an {@link HaErrorCode}. */
export class HaError extends Error {
  readonly code: HaErrorCode;

  constructor(code: HaErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
    this.name = 'HaError';
  }
}
