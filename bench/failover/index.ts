/**
 * Helpers of `npm run bench -- failover` (bench/failover.ts): reading sipp's message traces and
 * rtpengine's ng replies, and the verdict on the audio of the calls bridged at the kill.
 */
export {
  answeredNumbers, callerDialogs, fateOf, hangups, header, headerUser, keptAudio, listedCalls, mediaTargets, sdpTarget, sessionPorts, tracedMessages,
} from './audio.ts';
export type { Answer, BridgedCall, CallFate, KeptAudio, SessionPorts, Traced } from './audio.ts';
