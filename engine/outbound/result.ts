/**
 * What a dial attempt ended with, from the SIP final response or the transaction's failure
 * (contract D1). Pure: the dialer adds only what the status alone cannot say (`cancelled` when we
 * hung up, a ring timeout after a provisional).
 *
 * ```
 *   2xx                         answered
 *   486 600                     busy
 *   480 408 487                 no_answer       (487: the INVITE was ended, after our ring timeout)
 *   404 410 484 604             invalid_number
 *   603                         rejected
 *   401 407                     trunk_error     (a challenge our credentials could not answer)
 *   5xx, 'timeout', 'transport' trunk_error     (→ the next trunk)
 *   other 3xx 4xx 6xx           rejected
 *   anything else (1xx, junk)   trunk_error     (a trunk that ends an INVITE without a final)
 * ```
 */

/** What a dial attempt ended with. */
export type DialResult = 'answered' | 'busy' | 'no_answer' | 'invalid_number' | 'rejected' | 'trunk_error' | 'cancelled';

/** Every {@link DialResult}, in a fixed order (metric series, docs). */
export const DIAL_RESULTS: readonly DialResult[] = ['answered', 'busy', 'no_answer', 'invalid_number', 'rejected', 'trunk_error', 'cancelled'];

/**
 * The result of a final response `status`, or of the INVITE transaction's `timeout` (timer B: no
 * response at all) or `transport` failure.
 *
 * 401/407 reach this only when the user agent could not answer the challenge (no or wrong
 * credentials): the trunk's configuration is at fault, not the customer, so it is a trunk error
 * and the next trunk is tried instead of closing the task as rejected.
 */
export function dialResultOf(status: number | 'timeout' | 'transport'): DialResult {
  if (status === 'timeout' || status === 'transport') return 'trunk_error';
  if (!Number.isInteger(status) || status < 200 || status > 699) return 'trunk_error';
  if (status < 300) return 'answered';
  switch (status) {
    case 486:
    case 600:
      return 'busy';
    case 480:
    case 408:
    case 487:
      return 'no_answer';
    case 404:
    case 410:
    case 484:
    case 604:
      return 'invalid_number';
    case 401:
    case 407:
      return 'trunk_error';
    case 603:
      return 'rejected';
    default:
      return status >= 500 && status < 600 ? 'trunk_error' : 'rejected';
  }
}

/** True for the results after which the next trunk is tried. */
export function triesNextTrunk(result: DialResult): boolean {
  return result === 'trunk_error';
}
