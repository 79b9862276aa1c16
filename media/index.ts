/**
 * The public door of the media layer for the engine: the main-thread `MediaPool` (media runs on
 * worker threads), the types of its commands and events, SDP offer/answer, and the prompt names
 * the call flows use. Nothing else in `media/` is meant for the engine.
 */
export { MediaPool, streamsFor } from './worker/index.ts';
export type {
  MediaDelegate, MediaPoolOptions, AllocatedLeg, LegId, LegOptions, LegRemote, MediaDirection, MediaResult,
  MediaResults, MediaErrorCode, MediaEvent, WorkerStats, LegStats, LatenessStats, RecordLayout, ConferenceParty,
  SendCost,
} from './worker/index.ts';
export type { Playlist, PlaylistItem } from './player/index.ts';
export { parseSdp, negotiate, createOffer, acceptAnswer } from './sdp/index.ts';
export type {
  LocalMedia, RemoteMedia, SdpErrorCode, SdpFailure, NegotiateResult, AcceptResult, SessionDescription, Direction,
} from './sdp/index.ts';
export type { G711 } from './codec/index.ts';
export { defaultPromptDir, HOLD_MUSIC, numberReadout, digitsReadout, moneyReadout, MONEY_MAX_FEN, RuntimePrompts, TTS_PREFIX, TTS_DEFAULTS } from './prompts/index.ts';
export type { RuntimePromptsOptions, TtsResult, TtsErrorCode } from './prompts/index.ts';
export { NgClient, partySdp, sdpEndpoint } from './rtpengine/index.ts';
export type { NgClientOptions, NgErrorCode, NgResult, NgSession, NgQuery, NgTagStats, RelayEndpoint, PartyMedia } from './rtpengine/index.ts';
