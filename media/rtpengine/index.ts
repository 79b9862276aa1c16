/**
 * rtpengine (Sipwise, Debian `rtpengine-daemon`) as an optional relay of bridged calls: the ng
 * control protocol client (bencode over UDP) and the SDP chores around it. Call control decides
 * when a call goes through it (engine/calls/rtpengine-relay.ts); nothing here knows about calls.
 */
export { NgClient, parseReply, parseQuery } from './ng.ts';
export type { NgClientOptions, NgErrorCode, NgResult, NgSdpRequest, NgSession, NgQuery, NgTagStats, ParsedReply } from './ng.ts';
export { encode as bencode, decode as bdecode, MAX_DEPTH as BENCODE_MAX_DEPTH } from './bencode.ts';
export type { BValue, BDict, BencodeErrorCode, BencodeFailure, DecodeResult } from './bencode.ts';
export { partySdp, sdpEndpoint } from './sdp.ts';
export type { RelayEndpoint, PartyMedia } from './sdp.ts';
