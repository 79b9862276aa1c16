/**
 * Call recording (issue 16): which calls are recorded (policy per dialled number, agent, queue),
 * the recording of each bridged call (start, pause, resume, stop on the caller's media leg, which
 * hears the caller and is sent the agent: one stereo file, caller left, agent right), the CDR's
 * `recording` field, and the retention sweep of the recording directory.
 *
 * ```
 *  answered ─▶ policy(number > agent > queue > default) ─▶ always / share hit ─▶ recordStart(callerLeg, <dir>/<callId>.wav)
 *  API start | pause | resume | stop ─▶ control() ─▶ the media worker (pause = silence in the file)
 *  call over ─▶ ended() ─▶ CDR { path, durationMs, pausedMs } (the worker finishes the file)
 *  every sweepMinutes ─▶ files in <dir> older than retentionDays are deleted
 * ```
 * File names come from call ids the engine made (validated again here); nothing from a request
 * ever becomes part of a path.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { LegId, RecordLayout } from '../../media/index.ts';
import type { CdrRecording } from '../../crm-adapter/index.ts';
import type { CallMedia } from './types.ts';

/** What the policy says about a call. `share`: that fraction of calls, picked per call id. */
export type RecordingPolicy = 'always' | 'never' | 'onDemand' | { share: number };

/** The `recording` settings (engine/config). */
export interface RecordingSettings {
  /** Absolute directory of the files (created at start). */
  dir: string;
  layout: RecordLayout;
  /** Files older than this are deleted by the sweep; 0 = kept forever. */
  retentionDays: number;
  sweepMinutes: number;
  /** Policy of calls no number, agent or queue entry names. */
  policy: RecordingPolicy;
  numbers: Readonly<Record<string, RecordingPolicy>>;
  agents: Readonly<Record<string, RecordingPolicy>>;
  queues: Readonly<Record<string, RecordingPolicy>>;
}

/** Recording actions of the API. */
export type RecordingAction = 'start' | 'stop' | 'pause' | 'resume';

/** Stable refusal codes of {@link CallRecordings.control}. */
export type RecordingRefusal =
  | 'CALLS_ERR_NO_CALL' // no call in progress with this id
  | 'CALLS_ERR_NOT_TALKING' // the call is not bridged to an agent (nothing to record yet)
  | 'CALLS_ERR_RECORDING_POLICY' // the policy says never
  | 'CALLS_ERR_RECORDING_STATE' // e.g. pause when not recording, start after stop
  | 'CALLS_ERR_MEDIA'; // the media worker refused

/** Where a call's recording stands. */
export type RecordingState = 'idle' | 'recording' | 'paused' | 'stopped';

/** The answer of {@link CallRecordings.control}. */
export type RecordingControl =
  | { ok: true; state: RecordingState; pausedMs: number }
  | { ok: false; code: RecordingRefusal; message: string };

/** A call as recording sees it. */
export interface RecordableCall {
  callId: string;
  callerLeg: LegId | undefined;
  queue: string | null;
  agent: string | null;
  dialled: string;
}

/** Call ids the engine makes (`c<base36 time>-<base36 n>`); the only file names ever used. */
const CALL_ID = /^c[0-9a-z]{1,12}-[0-9a-z]{1,12}$/;

/** True for a string shaped like an engine call id (API input is checked with this first). */
export function isCallId(id: string): boolean {
  return id.length <= 26 && CALL_ID.test(id);
}

/** The recording file of `callId` in `dir`, or undefined when it is no call id. */
export function recordingFile(dir: string, callId: string): string | undefined {
  return isCallId(callId) ? path.join(dir, `${callId}.wav`) : undefined;
}

/** The policy of a call: the dialled number's entry, else the agent's, else the queue's, else the default. */
export function recordingPolicy(s: Pick<RecordingSettings, 'policy' | 'numbers' | 'agents' | 'queues'>, c: Pick<RecordableCall, 'dialled' | 'agent' | 'queue'>): RecordingPolicy {
  return own(s.numbers, c.dialled) ?? (c.agent === null ? undefined : own(s.agents, c.agent)) ?? (c.queue === null ? undefined : own(s.queues, c.queue)) ?? s.policy;
}

/**
 * Whether a `share` policy picks this call: the first 32 bits of SHA-256 of the call id, as a
 * fraction of 2^32, below the share. Reproducible (the same call id always gives the same answer,
 * so a quality check can be explained afterwards) and evenly spread over call ids.
 */
export function shareHit(callId: string, share: number): boolean {
  if (share <= 0) return false;
  if (share >= 1) return true;
  return createHash('sha256').update(callId, 'latin1').digest().readUInt32BE(0) / 0x100000000 < share;
}

/** Whether the policy records the call from its answer (on demand and never do not). */
export function recordsFromAnswer(policy: RecordingPolicy, callId: string): boolean {
  if (policy === 'always') return true;
  if (policy === 'never' || policy === 'onDemand') return false;
  return shareHit(callId, policy.share);
}

interface Recording {
  state: RecordingState;
  leg: LegId | undefined;
  file: string;
  startedAt: number;
  stoppedAt: number | null;
  pausedAt: number | null;
  pausedMs: number;
  policy: RecordingPolicy;
}

/** The media commands recording uses. */
export type RecordingMedia = Pick<CallMedia, 'recordStart' | 'recordStop' | 'recordPause' | 'recordResume'>;

/** The recordings of calls in progress, and the retention sweep. */
export class CallRecordings {
  private readonly calls = new Map<string, Recording>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly settings: Readonly<RecordingSettings>,
    private readonly media: RecordingMedia,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /** Create the directory, sweep once, then every `sweepMinutes`. */
  async start(): Promise<void> {
    await mkdir(this.settings.dir, { recursive: true });
    if (this.settings.retentionDays > 0) {
      await this.sweep(Date.now());
      this.sweeper = setInterval(() => {
        void this.sweep(Date.now()).catch((err: unknown) => this.log.error({ err }, 'recording sweep failed'));
      }, this.settings.sweepMinutes * 60_000);
      this.sweeper.unref();
    }
  }

  /** Stop the sweep. Idempotent. */
  close(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /**
   * Delete recordings older than the retention period (by modification time: a file is last
   * written when its call ends). Only `<call id>.wav` files are touched. Returns how many went.
   */
  async sweep(nowMs: number): Promise<number> {
    const days = this.settings.retentionDays;
    if (days <= 0) return 0;
    const cutoff = nowMs - days * 86_400_000;
    let removed = 0;
    const names = await readdir(this.settings.dir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.endsWith('.wav') || !isCallId(name.slice(0, -4))) continue;
      const file = path.join(this.settings.dir, name);
      try {
        const st = await stat(file);
        if (st.isFile() && st.mtimeMs < cutoff) {
          await unlink(file);
          removed++;
        }
      } catch (err) {
        // Gone meanwhile, or not ours to delete: the next sweep tries again.
        this.log.warn({ err, file }, 'recording not swept');
      }
    }
    if (removed > 0) this.log.info({ removed, retentionDays: days }, 'old recordings deleted');
    return removed;
  }

  /** The call is bridged to its agent: start recording when the policy says so. */
  answered(c: RecordableCall): void {
    const file = recordingFile(this.settings.dir, c.callId);
    if (file === undefined) return;
    const policy = recordingPolicy(this.settings, c);
    this.calls.set(c.callId, { state: 'idle', leg: c.callerLeg, file, startedAt: 0, stoppedAt: null, pausedAt: null, pausedMs: 0, policy });
    if (recordsFromAnswer(policy, c.callId)) void this.control(c.callId, 'start');
  }

  /** State of a call's recording, or undefined for a call not (yet) bridged. */
  state(callId: string): RecordingState | undefined {
    return this.calls.get(callId)?.state;
  }

  /** An API action on a bridged call's recording. */
  async control(callId: string, action: RecordingAction): Promise<RecordingControl> {
    const r = this.calls.get(callId);
    if (r === undefined) return { ok: false, code: 'CALLS_ERR_NOT_TALKING', message: `call ${callId} is not talking to an agent` };
    if (r.leg === undefined) return { ok: false, code: 'CALLS_ERR_NOT_TALKING', message: `call ${callId} has no media` };
    const now = this.now();
    const refuse = (why: string): RecordingControl => ({ ok: false, code: 'CALLS_ERR_RECORDING_STATE', message: `recording of ${callId} is ${r.state}: ${why}` });
    switch (action) {
      case 'start': {
        if (r.policy === 'never') return { ok: false, code: 'CALLS_ERR_RECORDING_POLICY', message: `calls like ${callId} are never recorded` };
        if (r.state !== 'idle') return refuse('one recording per call');
        r.state = 'recording';
        r.startedAt = now;
        const m = await this.media.recordStart(r.leg, r.file, this.settings.layout);
        if (!m.ok) {
          r.state = 'idle';
          this.log.error({ callId, code: m.code, reason: m.reason }, 'recording not started');
          return { ok: false, code: 'CALLS_ERR_MEDIA', message: m.reason };
        }
        break;
      }
      case 'pause': {
        if (r.state !== 'recording') return refuse('not recording');
        r.state = 'paused';
        r.pausedAt = now;
        const m = await this.media.recordPause(r.leg);
        if (!m.ok) return { ok: false, code: 'CALLS_ERR_MEDIA', message: m.reason };
        break;
      }
      case 'resume': {
        if (r.state !== 'paused') return refuse('not paused');
        this.unpause(r, now);
        const m = await this.media.recordResume(r.leg);
        if (!m.ok) return { ok: false, code: 'CALLS_ERR_MEDIA', message: m.reason };
        // The worker's figure: its clock placed the silence in the file (the main thread's lags
        // by however long each command waited for the worker).
        r.pausedMs = m.value.pausedMs;
        break;
      }
      case 'stop': {
        if (r.state !== 'recording' && r.state !== 'paused') return refuse('not recording');
        this.finish(r, now);
        const m = await this.media.recordStop(r.leg);
        if (!m.ok) return { ok: false, code: 'CALLS_ERR_MEDIA', message: m.reason };
        break;
      }
    }
    return { ok: true, state: r.state, pausedMs: r.pausedMs + (r.pausedAt === null ? 0 : now - r.pausedAt) };
  }

  /**
   * The call is over: its CDR field (null when it was bridged but not recorded; undefined when it
   * never was bridged). The leg's release finishes the file in the worker.
   */
  ended(callId: string): CdrRecording | null | undefined {
    const r = this.calls.get(callId);
    if (r === undefined) return undefined;
    this.calls.delete(callId);
    if (r.state === 'idle') return null;
    if (r.state !== 'stopped') this.finish(r, this.now());
    return { path: r.file, durationMs: (r.stoppedAt ?? r.startedAt) - r.startedAt, pausedMs: r.pausedMs };
  }

  private unpause(r: Recording, now: number): void {
    if (r.pausedAt !== null) r.pausedMs += now - r.pausedAt;
    r.pausedAt = null;
    r.state = 'recording';
  }

  private finish(r: Recording, now: number): void {
    this.unpause(r, now);
    r.state = 'stopped';
    r.stoppedAt = now;
  }
}

function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The calls the API port of recording looks at (CallController). */
export interface LiveCalls {
  list(): readonly { id: string; agentId: string | null }[];
  inWrapUp(callId: string): { agent: string | null } | undefined;
}

/**
 * What the API's recording routes need, over call control and the recordings: an action on a live
 * call (`CALLS_ERR_NO_CALL` for an id that is not one), the agent of a call (live or in wrap-up),
 * and the file of a call id.
 */
export function recordingPort(calls: LiveCalls, recordings: CallRecordings): {
  control(callId: string, action: RecordingAction): Promise<RecordingControl>;
  owner(callId: string): string | null | undefined;
  file(callId: string): string | undefined;
} {
  return {
    control: async (callId, action) => {
      if (!calls.list().some((c) => c.id === callId)) return { ok: false, code: 'CALLS_ERR_NO_CALL', message: `no call ${callId} in progress` };
      return recordings.control(callId, action);
    },
    owner: (callId) => {
      const live = calls.list().find((c) => c.id === callId);
      return live !== undefined ? live.agentId : calls.inWrapUp(callId)?.agent;
    },
    file: (callId) => recordingFile(recordings.settings.dir, callId),
  };
}
