/**
 * Codes of the outbound layer (CONVENTIONS.md 19): one registry, prefix `OUTBOUND_ERR_`. A number
 * or a trunk that cannot be dialled is a result with one of these codes, never an exception.
 */

/**
 * - `OUTBOUND_ERR_NOT_A_NUMBER`: the customer number holds letters or is empty (`anonymous`,
 *   a withheld caller): there is nothing to dial.
 * - `OUTBOUND_ERR_IMPLAUSIBLE_NUMBER`: digits, but no E.164 number can be made of them (too short,
 *   too long, `*` or `#` in it, a country code starting with 0).
 * - `OUTBOUND_ERR_BAD_ADDRESS`: a trunk address that is not `host:port` with an IP literal host.
 * - `OUTBOUND_ERR_SEND`: the SIP stack refused to build or send the INVITE (no listener for the
 *   trunk's transport); the trunk is treated as failed.
 */
export type OutboundErrorCode =
  | 'OUTBOUND_ERR_NOT_A_NUMBER'
  | 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER'
  | 'OUTBOUND_ERR_BAD_ADDRESS'
  | 'OUTBOUND_ERR_SEND';

/** Every {@link OutboundErrorCode}, for docs and tests. */
export const OUTBOUND_ERROR_CODES: readonly OutboundErrorCode[] = [
  'OUTBOUND_ERR_NOT_A_NUMBER', 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER', 'OUTBOUND_ERR_BAD_ADDRESS', 'OUTBOUND_ERR_SEND',
];
