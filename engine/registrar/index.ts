/**
 * The registrar of agents' phones: REGISTER with digest authentication (RFC 3261 §10.3), bindings
 * with expiry and presence events, the per-source and per-account limits on failed
 * authentications, the limit on answered refusals, and Path (RFC 3327, path.ts). The only
 * door of `engine/registrar`.
 */
export { Registrar } from './registrar.ts';
export type {
  Binding, BindingStore, PersistedBinding, RegistrarAgent, RegistrarDelegate, RegistrarLogger, RegistrarOptions, RegistrarStats, UnregisterReason,
} from './registrar.ts';
export { FailureLimiter, RefusalLimiter } from './limiter.ts';
export { MAX_PATH_ENTRIES, MAX_PATH_TEXT, phoneTarget, readPath, type PathResult, type PhoneTarget } from './path.ts';
export type { FailureLimiterOptions, FailureOutcome } from './limiter.ts';
