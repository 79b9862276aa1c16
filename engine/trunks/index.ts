/**
 * Carrier trunks: source-address ACL (IPv4/IPv6 CIDR), optional digest on INVITEs, caller and
 * dialled numbers, OPTIONS answers. The only door of `engine/trunks`.
 */
export { TrunkTable, optionsHeaders } from './trunks.ts';
export type {
  Admission, AdmissionFailure, OptionsContext, OptionsDecision, SourceCeiling, Trunk, TrunkAuth, TrunkLogger, TrunkMediaMode, TrunkOptions, TrunkStats, TrunkTableOptions, UnknownOptionsPolicy,
} from './trunks.ts';
export { CidrMatcher, CidrError, isIpAddress, parseAddressInto } from './cidr.ts';
export { normalizeNumber, numberOfUri, callerOf, dialledOf } from './numbers.ts';
export type { CallerIdentity, CallerSource, DialledSource } from './numbers.ts';
