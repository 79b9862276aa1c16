/**
 * SDP: parsing and offer/answer for one G.711 audio stream with RFC 4733 DTMF. The only module
 * other folders import from `media/sdp/`.
 */
export { parseSdp } from './parse.ts';
export type { Direction, Connection, RtpMap, MediaDescription, SessionDescription, SdpParseResult } from './parse.ts';
export { negotiate, createOffer, acceptAnswer } from './negotiate.ts';
export type {
  LocalMedia, RemoteMedia, SdpErrorCode, SdpFailure, NegotiateResult, AcceptResult,
} from './negotiate.ts';
