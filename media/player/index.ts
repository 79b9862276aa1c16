/**
 * Player: the worker's pacing clock, playlists and per-leg playback into the leg's outgoing RTP
 * stream. The only module other folders import from `media/player/`.
 */
export { PacingClock, LatenessHistogram } from './clock.ts';
export type { PacedStream, PacingClockOptions } from './clock.ts';
export { OutboundStream, SAMPLES_PER_MS } from './outbound.ts';
export type { OutboundSource } from './outbound.ts';
export { compilePlaylist } from './playlist.ts';
export type { Playlist, PlaylistItem, PromptAudio, PromptSource, Segment, CompiledPlaylist, CompileResult } from './playlist.ts';
export { Playback, FRAME_SAMPLES } from './playback.ts';
export type { RtpSink, PlaybackDelegate, PlaybackEnd } from './playback.ts';
