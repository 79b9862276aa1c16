/**
 * The registrar of agents' phones: REGISTER with digest authentication (RFC 3261 §10.3), bindings
 * with expiry and presence events, and the per-source limit on failed authentications. The only
 * door of `engine/registrar`.
 */
export { Registrar } from './registrar.ts';
export type {
  Binding, RegistrarAgent, RegistrarDelegate, RegistrarLogger, RegistrarOptions, RegistrarStats, UnregisterReason,
} from './registrar.ts';
export { FailureLimiter } from './limiter.ts';
export type { FailureLimiterOptions, FailureOutcome } from './limiter.ts';
