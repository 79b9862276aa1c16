/**
 * Outbound trunks and the SIP client that dials customers through them (issue 14, contract D1):
 * the result mapping, number normalisation, trunk choice under limits with failover, and the
 * dialer. The only door of `engine/outbound` (docs/dialer.md, Outbound trunks).
 */
export { OutboundDialer } from './dialer.ts';
export type {
  DialEndedBy, DialEvents, DialFailure, DialRequest, OutboundCall, OutboundDialerDeps, OutboundLogger, OutboundMetrics,
} from './dialer.ts';
export { dialResultOf, triesNextTrunk, DIAL_RESULTS } from './result.ts';
export type { DialResult } from './result.ts';
export { dialNumberOf } from './numbering.ts';
export type { DialNumber, Numbering } from './numbering.ts';
export { TrunkPool } from './pool.ts';
export type { TrunkLimits, TrunkUtilisation } from './pool.ts';
export { parseTrunkAddress } from './address.ts';
export type { TrunkAddress } from './address.ts';
export { OUTBOUND_ERROR_CODES } from './errors.ts';
export type { OutboundErrorCode } from './errors.ts';
