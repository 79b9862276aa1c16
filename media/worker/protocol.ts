/**
 * The typed command/event protocol between the main thread and a media worker. Everything here is
 * structured-clone data (it crosses `postMessage`).
 *
 * ```
 *  main ──{ id, cmd: { op: 'allocate' | 'setRemote' | 'play' | ... } }──▶ worker
 *  main ◀──{ id, ok: true, result } | { id, ok: false, code, reason }───── worker   (one per command)
 *  main ◀──{ event: 'dtmf' | 'playbackDone' | 'rtpTimeout' | 'stats' }──── worker   (unsolicited)
 * ```
 */
import type { G711 } from '../codec/index.ts';
import type { Playlist } from '../player/index.ts';
import type { PacingClockOptions } from '../player/index.ts';

/** Leg handle, unique in a pool: `"<worker>.<n>"`. */
export type LegId = string;

/**
 * Direction of onair's side of the stream (RFC 3264 §6.1), as `negotiate()` of media/sdp reports
 * it: `sendrecv` normal, `recvonly` do not send, `sendonly` send only, `inactive` neither.
 */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** Channel layout of a recording: stereo (received left, sent right) or both mixed to mono. */
export type RecordLayout = 'stereo' | 'mixed';

/** One party of a `conference` command: a leg and the legs it hears. */
export interface ConferenceParty {
  leg: LegId;
  hears: LegId[];
}

/** Per-leg media settings, fixed at allocation (codec details may change with `setRemote`). */
export interface LegOptions {
  /** Codec of the leg. Default PCMU. */
  codec?: G711;
  /** Audio payload type. Default the codec's static type (0 / 8). */
  payloadType?: number;
  /** telephone-event payload type; -1 = none negotiated. Default 101. */
  dtmfPayloadType?: number;
  /** Run the in-band Goertzel detector on the audio (E1 gateways without RFC 4733). Default false. */
  inbandDtmf?: boolean;
  /** Silence that raises `rtpTimeout` while the remote sends; 0 disables. Default 30000 ms. */
  rtpTimeoutMs?: number;
  /** Silence that raises `rtpTimeout` while the remote is on hold; 0 disables. Default 0. */
  holdTimeoutMs?: number;
}

/**
 * The remote media of a leg. The `remote` of media/sdp's `negotiate()`/`acceptAnswer()` fits as
 * is (extra fields such as `ptime` are ignored: the player always sends 20 ms frames).
 */
export interface LegRemote {
  address: string;
  port: number;
  codec?: G711;
  payloadType?: number;
  dtmfPayloadType?: number;
  /** onair's direction: `recvonly`/`inactive` = send nothing. Default sendrecv. */
  direction?: MediaDirection;
  /** The peer holds the call (sends nothing by right): RTP timeout uses `holdTimeoutMs`. */
  hold?: boolean;
  /**
   * Symmetric RTP: send to where the remote's packets come from once the first one arrives
   * (NAT). Default true. Once latched the socket is connected to that source, so packets from
   * elsewhere are dropped by the kernel until the next `setRemote`.
   */
  latch?: boolean;
}

/** A command to a worker. */
export type MediaCommand =
  | { op: 'allocate'; leg: LegId; options: LegOptions }
  /** Bind sockets ahead of demand and keep them as spares under these leg ids (no listener, no state). */
  | { op: 'prebind'; legs: LegId[] }
  /** Turn spare `leg` into a leg with these options (no socket work: it is already bound). */
  | { op: 'claim'; leg: LegId; options: LegOptions }
  | { op: 'setRemote'; leg: LegId; remote: LegRemote }
  | { op: 'play'; leg: LegId; playlist: Playlist; playId: number }
  | { op: 'stop'; leg: LegId }
  | { op: 'bridge'; a: LegId; b: LegId }
  | { op: 'unbridge'; leg: LegId; then?: Playlist; playId?: number }
  /** `layout` default stereo (received left, sent right); `mixed` = one channel of both. */
  | { op: 'recordStart'; leg: LegId; file: string; layout?: RecordLayout }
  | { op: 'recordStop'; leg: LegId }
  /** Silence in the file from now until `recordResume` (the file keeps the call's timing). */
  | { op: 'recordPause'; leg: LegId }
  | { op: 'recordResume'; leg: LegId }
  /**
   * Join up to three legs of this worker in a conference (a leg in one already is moved): each
   * leg hears the legs listed in its `hears`, mixed (G.711 → linear, summed, → G.711 every 20 ms).
   * A leg whose `hears` is exactly its bridge partner keeps the plain relay.
   */
  | { op: 'conference'; parties: ConferenceParty[] }
  /** Take a leg out of its conference; the others keep theirs (a bridge goes back to the relay). */
  | { op: 'leaveConference'; leg: LegId }
  | { op: 'release'; leg: LegId }
  | { op: 'legStats'; leg: LegId }
  | { op: 'stats'; reset?: boolean }
  /** Time `packets` datagrams sent as a latched leg sends them (media/worker/calibrate.ts). */
  | { op: 'calibrate'; packets: number }
  | { op: 'shutdown' };

/** What one worker's calibration measured (media/worker/calibrate.ts). */
export interface SendCost {
  /** Wall-clock microseconds per datagram sent, the receiving side on loopback included. */
  usPerPacket: number;
  /** Datagrams timed. */
  packets: number;
}

/** Operation names. */
export type MediaOp = MediaCommand['op'];

/** Result value of each operation. */
export interface MediaResults {
  allocate: { port: number; address: string };
  /** The spares bound, in order; fewer than asked when ports ran out (`error` says why). */
  prebind: { address: string; bound: { leg: LegId; port: number }[]; error?: string };
  claim: null;
  setRemote: null;
  play: { playId: number };
  stop: null;
  bridge: { transcoding: boolean };
  unbridge: null | { playId: number };
  recordStart: null;
  recordStop: { file: string; durationMs: number; pausedMs: number; bytes: number; lateDrops: number };
  recordPause: { pausedMs: number };
  recordResume: { pausedMs: number };
  conference: null;
  leaveConference: null;
  release: null;
  legStats: LegStats;
  stats: WorkerStats;
  calibrate: SendCost;
  shutdown: null;
}

/** Stable error codes of media commands. */
export type MediaErrorCode =
  | 'MEDIA_ERR_NO_PORT' // port range exhausted or every bind failed
  | 'MEDIA_ERR_UNKNOWN_LEG'
  | 'MEDIA_ERR_LEG_EXISTS'
  | 'MEDIA_ERR_PLAYLIST' // unknown prompt, bad item
  | 'MEDIA_ERR_STATE' // e.g. play on a bridged leg, bridge of a bridged leg
  | 'MEDIA_ERR_WORKER' // legs on different workers, worker died, pool closed
  | 'MEDIA_ERR_RECORD'
  | 'MEDIA_ERR_BAD_COMMAND';

/** Outcome of a command. */
export type MediaResult<T> = { ok: true; value: T } | { ok: false; code: MediaErrorCode; reason: string };

/** Send lateness of the pacing clock, ms. */
export interface LatenessStats {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Counters of one leg: what it sent, and the quality of what it receives from the remote. */
export interface LegStats {
  /** Packets sent (player and relay). */
  sent: number;
  /** Receive side, for the current remote SSRC (reset when it changes). */
  received: number;
  /** Packets the sequence numbers say were sent to us (highest − first + 1). */
  expected: number;
  lost: number;
  /** Packets older than the newest one seen when they arrived. */
  reordered: number;
  duplicates: number;
}

/** Counters of one worker. */
export interface WorkerStats {
  worker: number;
  legs: number;
  /** Sockets bound ahead of demand (`prebind`), not yet claimed. */
  spares: number;
  playing: number;
  bridges: number;
  recordings: number;
  packetsIn: number;
  packetsOut: number;
  /**
   * Packets lost (sequence gaps) on every stream this worker received since it started, released
   * legs and earlier remote SSRCs included; never decreases.
   */
  packetsLost: number;
  /** Sends that the OS refused (the callback reported an error). */
  sendErrors: number;
  /** Datagrams that were not RTP, were RTCP, or came from a non-latched source. */
  dropped: number;
  /** Frames the clock skipped after stalls. */
  skippedFrames: number;
  lateness: LatenessStats;
  /**
   * The worker's own V8 heap (`v8.getHeapStatistics()` in its isolate), bytes: `heapTotal`
   * committed, `heapUsed` in use (live and garbage not yet collected). A main-thread heap snapshot
   * or `process.memoryUsage().heapTotal` does not see a worker's isolate; its RSS is in the
   * process's. Run in the calling thread (`inThread`), the calling thread's heap.
   */
  heapTotal: number;
  heapUsed: number;
}

/** Unsolicited events from a worker. */
export type MediaEvent =
  | { event: 'dtmf'; leg: LegId; digit: string; startMs: number; durationMs: number; source: 'rfc4733' | 'inband' }
  | { event: 'playbackDone'; leg: LegId; playId: number; reason: 'finished' | 'stopped' }
  | { event: 'rtpTimeout'; leg: LegId; silentMs: number }
  | { event: 'stats'; stats: WorkerStats };

/** main → worker. */
export interface WorkerRequest {
  id: number;
  cmd: MediaCommand;
}

/** worker → main: a reply (has `id`) or an event. */
export type WorkerMessage =
  | ({ id: number } & MediaResult<unknown>)
  | MediaEvent;

/** Configuration of one worker (sent as `workerData`). */
export interface WorkerConfig {
  /** Worker index in the pool (prefix of its leg ids). */
  index: number;
  /** This worker's share of the RTP port range. */
  portMin: number;
  portMax: number;
  /** Address the RTP sockets bind to. Default 0.0.0.0. */
  bindAddress?: string;
  /** Address put in SDP for this worker's legs. Default: the bind address, or 127.0.0.1. */
  advertiseAddress?: string;
  /** Prompt directory for the worker's prompt cache (absent = no prompts, silence only). */
  promptDir?: string;
  /** Run-time prompts' directory, read as `tts/<hash>` (absent = no run-time prompts). */
  ttsDir?: string;
  /** Pacing clock tuning. Default: the clock's defaults with `sleepMs: 1`. */
  clock?: Omit<PacingClockOptions, 'now'>;
  /** Send a `stats` event this often; 0 = only on request. Default 0. */
  statsIntervalMs?: number;
  /** Housekeeping period (RTP timeouts, lost DTMF ends). Default 250 ms. */
  housekeepingMs?: number;
  /**
   * Scheduling priority (nice value, -20..19) of the worker thread; on Linux it applies to the
   * thread alone. Negative values need CAP_SYS_NICE; refused = left unchanged. Default unchanged.
   */
  priority?: number;
}
