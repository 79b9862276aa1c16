/**
 * Error codes of call control (CONVENTIONS.md 19): one registry, prefix `CALLS_ERR_`. Network
 * input never throws here; these are programmer errors (a code path asked for something the call's
 * state machine forbids).
 */

/** Stable codes of {@link CallsError}. */
export type CallsErrorCode =
  /** A call phase change the phase table ({@link CALL_PHASE_NEXT}) does not allow. */
  | 'CALLS_ERR_ILLEGAL_TRANSITION';

/** A programmer error in call control, with a stable code. */
export class CallsError extends Error {
  readonly code: CallsErrorCode;
  constructor(code: CallsErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'CallsError';
    this.code = code;
  }
}
