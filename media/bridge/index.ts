/**
 * Bridge: caller↔agent relay with SSRC/sequence/timestamp continuity, and stereo WAV recording.
 * The only module other folders import from `media/bridge/`.
 */
export { RelayDirection } from './relay.ts';
export type { RelayEndpoint } from './relay.ts';
export { WavRecorder, wavHeader } from './recorder.ts';
export type { RecordChannel, RecordLayout, RecordResult, RecorderOptions } from './recorder.ts';
export { Mixer, MIX_PARTIES } from './mixer.ts';
