/**
 * Media workers: the `worker_threads` entry, the typed command/event protocol and the main-thread
 * `MediaPool`. The only module other folders import from `media/worker/`.
 */
export { MediaPool } from './pool.ts';
export type { MediaDelegate, MediaPoolOptions, AllocatedLeg } from './pool.ts';
export { MediaWorkerCore } from './core.ts';
export { measureSendCost, streamsFor, PACING_OVERHEAD, PACKETS_PER_STREAM_PER_S } from './calibrate.ts';
export type { EventSink } from './core.ts';
export type {
  LegId, LegOptions, LegRemote, MediaDirection, MediaCommand, MediaOp, MediaResults, MediaErrorCode, MediaResult,
  MediaEvent, WorkerStats, LegStats, LatenessStats, WorkerConfig, WorkerRequest, WorkerMessage, RecordLayout, ConferenceParty, SendCost,
} from './protocol.ts';
