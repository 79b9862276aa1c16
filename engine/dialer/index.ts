/**
 * The callback dialer (contract D3): progressive, agent-first dialing of the durable store's due
 * callback tasks through the pure ACD and the outbound dialer. The only door of `engine/dialer`;
 * see docs/dialer.md.
 */
export { CallbackDialer, CALLBACK_ENTRY_PREFIX, ENTRY_HEADROOM, SURVEY_PAGE, UNREACHED_RESULTS } from './dialer.ts';
export type { CallbackDialerDeps, CampaignHooks, PredictiveDeps, SurveyDeps } from './dialer.ts';
export { CallLimits } from './limits.ts';
export type { CallLimit } from './limits.ts';
export { DialerOffersMux } from './mux.ts';
export { PredictiveShare } from './predictive-share.ts';
export type { InFlight } from './predictive-share.ts';
export { ATTEMPT_PHASE_NEXT, DialerError, transition } from './phase.ts';
export type { AttemptPhase, DialerErrorCode } from './phase.ts';
export type {
  AttemptResult, DialerAttempt, DialerLookup, DialerSettings, DialerTask, DialerTaskStore, DialEvents, DialRequest, DialResult,
  OutboundCall, OutboundPort, PreviewAnswer, PreviewChoice,
} from './types.ts';
