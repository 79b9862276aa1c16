/**
 * `MediaPool`: the main thread's handle on the media workers. Every command returns a promise of
 * a result; events arrive at one delegate.
 */
import { Worker } from 'node:worker_threads';
import os from 'node:os';
import { MediaWorkerCore } from './core.ts';
import { promptSource } from './prompts.ts';
import type {
  ConferenceParty, LegId, LegOptions, RecordLayout, MediaCommand, MediaEvent, MediaResult, MediaResults, LegRemote, WorkerConfig,
  WorkerMessage, WorkerStats, SendCost,
} from './protocol.ts';
import type { Playlist, PacingClockOptions } from '../player/index.ts';

/** Receives media events (one consumer: the call layer). Every method is optional. */
export interface MediaDelegate {
  dtmf?(leg: LegId, digit: string, info: { startMs: number; durationMs: number; source: 'rfc4733' | 'inband' }): void;
  playbackDone?(leg: LegId, playId: number, reason: 'finished' | 'stopped'): void;
  rtpTimeout?(leg: LegId, silentMs: number): void;
  stats?(stats: WorkerStats): void;
  /** A worker thread died; its legs are gone. */
  workerExit?(worker: number, legs: LegId[], reason: string): void;
}

/** Options of {@link MediaPool.start}. */
export interface MediaPoolOptions {
  /** Media workers. Default: one per core (`os.availableParallelism()`). */
  workers?: number;
  /** RTP port range, split evenly between workers. Default 20000-29999. */
  portMin?: number;
  portMax?: number;
  /** Address RTP sockets bind to. Default 0.0.0.0. */
  bindAddress?: string;
  /** Address for SDP. Default: the bind address, or 127.0.0.1 for 0.0.0.0. */
  advertiseAddress?: string;
  /** Prompt directory (absent: silence-only playlists). */
  promptDir?: string;
  /** Run-time prompts' directory (media/prompts/tts.ts), read as `tts/<hash>`; absent = none. */
  ttsDir?: string;
  /** Run the workers' code in this thread, without `worker_threads` (unit tests). Default false. */
  inThread?: boolean;
  /** Pacing clock tuning (numbers only: it crosses to the worker). Default: `sleepMs: 1`, the rest the clock's. */
  clock?: Omit<PacingClockOptions, 'now'>;
  /** Periodic `stats` events, ms; 0 = off. Default 0. */
  statsIntervalMs?: number;
  /** Nice value of the worker threads (e.g. -10 so the pacing clock preempts the rest). */
  priority?: number;
  /**
   * RTP sockets each worker keeps bound ahead of demand. `allocate()` then answers from the main
   * thread at once (the port for the SDP is known) instead of waiting for a worker round trip.
   * Default 0.
   */
  spareLegs?: number;
  delegate?: MediaDelegate;
}

/** A leg as allocated: its handle and where the remote must send RTP (for the SDP). */
export interface AllocatedLeg {
  leg: LegId;
  address: string;
  port: number;
}

/** Where commands go: a Worker or a core in this thread. */
interface Channel {
  post(id: number, cmd: MediaCommand): void;
  terminate(): Promise<void>;
}

interface Pending {
  worker: number;
  resolve(r: MediaResult<unknown>): void;
}

/**
 * ```
 *   MediaPool (main thread)                     worker i (worker_threads)
 *   allocate() ─▶ least-loaded worker ── { id, cmd } ──▶ MediaWorkerCore ─ sockets, clock
 *   promise    ◀─ pending.get(id)     ◀─ { id, ok, … } ─┘
 *   delegate   ◀─ events (dtmf, playbackDone, rtpTimeout, stats)
 * ```
 * A leg lives on one worker for its life; `bridge` needs both legs on the same worker, so the
 * second leg of a call is allocated `near` the first.
 */
export class MediaPool {
  delegate: MediaDelegate | undefined;
  private readonly channels: Channel[] = [];
  private readonly legCounts: number[] = [];
  /** False once a worker thread has exited: it is never picked again and its commands fail at once. */
  private readonly alive: boolean[] = [];
  private readonly legWorker = new Map<LegId, number>();
  private readonly pending = new Map<number, Pending>();
  /** Per worker: bound, unclaimed legs; prebinds in flight; refill stopped after a failure. */
  private readonly spares: AllocatedLeg[][] = [];
  private readonly refilling: number[] = [];
  private readonly refillBlocked: boolean[] = [];
  /** Allocations waiting for a prebind in flight (a burst emptied the spares). */
  private readonly waiters: ((spare: AllocatedLeg | undefined) => void)[][] = [];
  private spareTarget = 0;
  private nextId = 1;
  private nextLeg = 1;
  private nextPlay = 1;
  private closed = false;

  private constructor(delegate: MediaDelegate | undefined) {
    this.delegate = delegate;
  }

  /** Start the workers (resolves once every worker is ready to take commands). */
  static async start(opts: MediaPoolOptions = {}): Promise<MediaPool> {
    const pool = new MediaPool(opts.delegate);
    const n = Math.max(1, opts.workers ?? os.availableParallelism());
    const min = opts.portMin ?? 20000;
    const max = opts.portMax ?? 29999;
    const share = Math.floor((max - min + 1) / n);
    if (share < 4) throw new RangeError(`RTP port range ${min}-${max} too small for ${n} workers`);
    for (let i = 0; i < n; i++) {
      const config: WorkerConfig = {
        index: i,
        portMin: min + i * share,
        portMax: i === n - 1 ? max : min + (i + 1) * share - 1,
        ...(opts.bindAddress !== undefined && { bindAddress: opts.bindAddress }),
        ...(opts.advertiseAddress !== undefined && { advertiseAddress: opts.advertiseAddress }),
        ...(opts.promptDir !== undefined && { promptDir: opts.promptDir }),
        ...(opts.ttsDir !== undefined && { ttsDir: opts.ttsDir }),
        // Workers wake up in turn (phase i/n of each slot), not at random offsets to each other.
        clock: { phase: i / n, ...opts.clock },
        ...(opts.statsIntervalMs !== undefined && { statsIntervalMs: opts.statsIntervalMs }),
        ...(opts.priority !== undefined && { priority: opts.priority }),
      };
      pool.channels.push(opts.inThread === true ? pool.inThread(config) : await pool.thread(config));
      pool.legCounts.push(0);
      pool.alive.push(true);
      pool.spares.push([]);
      pool.refilling.push(0);
      pool.refillBlocked.push(false);
      pool.waiters.push([]);
    }
    pool.spareTarget = Math.max(0, opts.spareLegs ?? 0);
    await Promise.all(pool.channels.map((_, w) => pool.refill(w)));
    return pool;
  }

  /** Number of workers. */
  get workers(): number {
    return this.channels.length;
  }

  /** Worker a leg lives on, or -1. */
  workerOf(leg: LegId): number {
    return this.legWorker.get(leg) ?? -1;
  }

  /**
   * Allocate a leg (an RTP socket on an even port) on the least-loaded worker, or on the worker
   * of `near` (the other leg of the same call, so they can be bridged).
   */
  async allocate(options: LegOptions & { near?: LegId } = {}): Promise<MediaResult<AllocatedLeg>> {
    let w = options.near !== undefined ? this.workerOf(options.near) : -1;
    if (options.near !== undefined && w < 0) return { ok: false, code: 'MEDIA_ERR_UNKNOWN_LEG', reason: `no leg ${options.near}` };
    if (w < 0) {
      // A dead worker has no legs left, so "least loaded" must skip it.
      for (let i = 0; i < this.legCounts.length; i++) {
        if (this.alive[i] && (w < 0 || this.legCounts[i]! < this.legCounts[w]!)) w = i;
      }
      if (w < 0) return { ok: false, code: 'MEDIA_ERR_WORKER', reason: 'no media worker is running' };
    }
    const { near: _near, ...legOptions } = options;
    let spare = this.spares[w]!.pop();
    // A burst took every spare: the prebinds in flight hold the free ports, so wait for one.
    if (spare === undefined && this.refilling[w]! > this.waiters[w]!.length) {
      spare = await new Promise<AllocatedLeg | undefined>((resolve) => this.waiters[w]!.push(resolve));
    }
    if (spare !== undefined) {
      this.legWorker.set(spare.leg, w);
      this.legCounts[w]!++;
      // Not awaited: the worker takes commands in order, so the leg's next commands follow the
      // claim; it fails only if the worker is gone, and then so do they.
      void this.send(w, { op: 'claim', leg: spare.leg, options: legOptions });
      void this.refill(w);
      return { ok: true, value: spare };
    }
    const leg = `${w}.${this.nextLeg++}`;
    this.legWorker.set(leg, w);
    this.legCounts[w]!++;
    const r = await this.send(w, { op: 'allocate', leg, options: legOptions });
    if (!r.ok) {
      this.forget(leg);
      return r;
    }
    return { ok: true, value: { leg, address: r.value.address, port: r.value.port } };
  }

  /** Apply the negotiated remote media (answer or re-INVITE); latches by default. */
  setRemote(leg: LegId, remote: LegRemote): Promise<MediaResult<null>> {
    return this.toLeg(leg, { op: 'setRemote', leg, remote });
  }

  /** Play a playlist on a leg (replacing what plays); resolves with the play id of its `playbackDone`. */
  play(leg: LegId, playlist: Playlist): Promise<MediaResult<{ playId: number }>> {
    return this.toLeg(leg, { op: 'play', leg, playlist, playId: this.nextPlay++ });
  }

  /** Stop what a leg plays (a `playbackDone` with reason `'stopped'` follows). */
  stop(leg: LegId): Promise<MediaResult<null>> {
    return this.toLeg(leg, { op: 'stop', leg });
  }

  /** Relay audio between two legs of the same worker (stops their playback). */
  bridge(a: LegId, b: LegId): Promise<MediaResult<{ transcoding: boolean }>> {
    const wa = this.workerOf(a);
    if (wa >= 0 && this.workerOf(b) >= 0 && wa !== this.workerOf(b)) {
      return Promise.resolve({ ok: false, code: 'MEDIA_ERR_WORKER', reason: `legs ${a} and ${b} live on different workers; allocate with near` });
    }
    return this.toLeg(a, { op: 'bridge', a, b });
  }

  /** Break a bridge; optionally play `then` (hold audio) on `leg` right away. */
  unbridge(leg: LegId, then?: Playlist): Promise<MediaResult<null | { playId: number }>> {
    if (then === undefined) return this.toLeg(leg, { op: 'unbridge', leg });
    return this.toLeg(leg, { op: 'unbridge', leg, then, playId: this.nextPlay++ });
  }

  /** Record a leg to a stereo WAV (left: received, right: sent), or both mixed to mono. */
  recordStart(leg: LegId, file: string, layout?: RecordLayout): Promise<MediaResult<null>> {
    return this.toLeg(leg, { op: 'recordStart', leg, file, ...(layout !== undefined && { layout }) });
  }

  /** Pause a recording: silence in the file from now on, until {@link recordResume}. */
  recordPause(leg: LegId): Promise<MediaResult<MediaResults['recordPause']>> {
    return this.toLeg(leg, { op: 'recordPause', leg });
  }

  /** Resume a paused recording. */
  recordResume(leg: LegId): Promise<MediaResult<MediaResults['recordResume']>> {
    return this.toLeg(leg, { op: 'recordResume', leg });
  }

  /** Join two or three legs of one worker in a conference; each hears the legs in its `hears`. */
  conference(parties: ConferenceParty[]): Promise<MediaResult<null>> {
    const first = parties[0];
    if (first === undefined) return Promise.resolve({ ok: false, code: 'MEDIA_ERR_BAD_COMMAND', reason: 'no parties' });
    const w = this.workerOf(first.leg);
    if (parties.some((p) => this.workerOf(p.leg) !== w)) {
      return Promise.resolve({ ok: false, code: 'MEDIA_ERR_WORKER', reason: 'conference legs live on different workers; allocate with near' });
    }
    return this.toLeg(first.leg, { op: 'conference', parties });
  }

  /** Take a leg out of its conference. */
  leaveConference(leg: LegId): Promise<MediaResult<null>> {
    return this.toLeg(leg, { op: 'leaveConference', leg });
  }

  /** Finish a recording; resolves when the file is complete. */
  recordStop(leg: LegId): Promise<MediaResult<MediaResults['recordStop']>> {
    return this.toLeg(leg, { op: 'recordStop', leg });
  }

  /** Release a leg: stops everything, closes its socket, frees its port. */
  async release(leg: LegId): Promise<MediaResult<null>> {
    const w = this.workerOf(leg);
    const r = await this.toLeg(leg, { op: 'release', leg });
    this.forget(leg);
    if (w >= 0 && r.ok) {
      // A port is free again: spares may be bound again.
      this.refillBlocked[w] = false;
      void this.refill(w);
    }
    return r;
  }

  /** Spare legs ready on a worker (for tests and stats). */
  spareCount(w: number): number {
    return this.spares[w]?.length ?? 0;
  }

  /** Send counter and receive quality (loss, reordering) of one leg. */
  legStats(leg: LegId): Promise<MediaResult<MediaResults['legStats']>> {
    return this.toLeg(leg, { op: 'legStats', leg });
  }

  /** Counters of every worker; `reset` clears the lateness histograms. */
  async stats(reset = false): Promise<WorkerStats[]> {
    const out: WorkerStats[] = [];
    const rs = await Promise.all(this.channels.map((_, i) => this.send(i, { op: 'stats', reset })));
    for (const r of rs) if (r.ok) out.push(r.value);
    return out;
  }

  /**
   * Every worker times `packets` datagrams at once (media/worker/calibrate.ts), as they pace audio
   * together under load; the costs in worker order, or the first failure.
   */
  async calibrate(packets = 5000): Promise<MediaResult<SendCost[]>> {
    const rs = await Promise.all(this.channels.map((_, i) => this.send(i, { op: 'calibrate', packets })));
    const out: SendCost[] = [];
    for (const r of rs) {
      if (!r.ok) return r;
      out.push(r.value);
    }
    return { ok: true, value: out };
  }

  /** Release every leg and stop the workers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all(this.channels.map((_, i) => this.send(i, { op: 'shutdown' })));
    this.closed = true;
    await Promise.all(this.channels.map((c) => c.terminate()));
    for (const p of this.pending.values()) p.resolve({ ok: false, code: 'MEDIA_ERR_WORKER', reason: 'pool closed' });
    this.pending.clear();
    this.legWorker.clear();
    for (const list of this.spares) list.length = 0;
  }

  private toLeg<K extends MediaCommand['op']>(leg: LegId, cmd: MediaCommand & { op: K }): Promise<MediaResult<MediaResults[K]>> {
    const w = this.workerOf(leg);
    if (w < 0) return Promise.resolve({ ok: false, code: 'MEDIA_ERR_UNKNOWN_LEG', reason: `no leg ${leg}` });
    return this.send<K>(w, cmd);
  }

  private send<K extends MediaCommand['op']>(w: number, cmd: MediaCommand & { op: K }): Promise<MediaResult<MediaResults[K]>> {
    if (this.closed) return Promise.resolve({ ok: false, code: 'MEDIA_ERR_WORKER', reason: 'pool closed' });
    if (!this.alive[w]) return Promise.resolve({ ok: false, code: 'MEDIA_ERR_WORKER', reason: `media worker ${w} is gone` });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, { worker: w, resolve: resolve as Pending['resolve'] });
      this.channels[w]!.post(id, cmd);
    });
  }

  /**
   * Bind spares on worker `w` once they fall to half the target, in one command for the missing
   * ones (one message per many calls); resolves when that command is done.
   */
  private refill(w: number): Promise<void> {
    const have = this.spares[w]!.length + this.refilling[w]!;
    if (have * 2 > this.spareTarget || this.closed || this.refillBlocked[w]) return Promise.resolve();
    const legs: LegId[] = [];
    for (let i = have; i < this.spareTarget; i++) legs.push(`${w}.${this.nextLeg++}`);
    if (legs.length === 0) return Promise.resolve();
    this.refilling[w]! += legs.length;
    return this.send(w, { op: 'prebind', legs }).then((r) => {
      this.refilling[w]! -= legs.length;
      const bound = r.ok && !this.closed ? r.value.bound : [];
      const address = r.ok ? r.value.address : '';
      for (const b of bound) {
        const spare = { leg: b.leg, address, port: b.port };
        const waiter = this.waiters[w]!.shift();
        if (waiter !== undefined) waiter(spare);
        else this.spares[w]!.push(spare);
      }
      if (bound.length < legs.length) {
        // Range exhausted or worker gone: allocate() binds on demand (and reports the error);
        // refilling waits for a release instead of retrying on every call.
        this.refillBlocked[w] = true;
        for (const waiter of this.waiters[w]!.splice(0)) waiter(undefined);
      }
    });
  }

  private forget(leg: LegId): void {
    const w = this.legWorker.get(leg);
    if (w === undefined) return;
    this.legWorker.delete(leg);
    this.legCounts[w]!--;
  }

  private onMessage(msg: WorkerMessage): void {
    if ('id' in msg) {
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      const { id: _id, ...result } = msg;
      p.resolve(result);
      return;
    }
    this.dispatch(msg);
  }

  private dispatch(ev: MediaEvent): void {
    const d = this.delegate;
    if (d === undefined) return;
    // A throwing delegate must not break the pool (CONVENTIONS.md 10).
    try {
      switch (ev.event) {
        case 'dtmf':
          d.dtmf?.(ev.leg, ev.digit, { startMs: ev.startMs, durationMs: ev.durationMs, source: ev.source });
          break;
        case 'playbackDone':
          d.playbackDone?.(ev.leg, ev.playId, ev.reason);
          break;
        case 'rtpTimeout':
          d.rtpTimeout?.(ev.leg, ev.silentMs);
          break;
        case 'stats':
          d.stats?.(ev.stats);
          break;
      }
    } catch {
      // The delegate's own problem; the media path goes on.
    }
  }

  private inThread(config: WorkerConfig): Channel {
    const prompts = config.promptDir === undefined ? undefined : promptSource(config.promptDir, config.ttsDir);
    // Events are delivered asynchronously, as they would be from a thread.
    const core = new MediaWorkerCore(config, prompts, (ev) => queueMicrotask(() => this.dispatch(ev)));
    return {
      post: (id, cmd) => {
        void core.handle(cmd).then((r) => this.onMessage({ id, ...r }));
      },
      terminate: () => core.close(),
    };
  }

  private async thread(config: WorkerConfig): Promise<Channel> {
    // Run from source under tsx the entry is .ts (workers inherit --import tsx); built, it is .js.
    // Run from source (tests, benchmarks) the entry is .ts: the loader hooks of tsx are not
    // inherited by worker threads in Node 20, so the worker registers them before importing it.
    // Built (dist/), the entry is plain .js.
    let worker: Worker;
    if (import.meta.url.endsWith('.ts')) {
      const entry = new URL('./worker-main.ts', import.meta.url).href;
      const tsx = import.meta.resolve('tsx/esm/api');
      const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
      worker = new Worker(boot, { eval: true, workerData: config });
    } else {
      worker = new Worker(new URL('./worker-main.js', import.meta.url), { workerData: config });
    }
    worker.on('message', (msg: WorkerMessage) => this.onMessage(msg));
    let exited = false;
    let failure = '';
    worker.on('error', (e) => {
      failure = e.message;
    });
    worker.on('exit', (code) => {
      exited = true;
      this.alive[config.index] = false;
      if (this.closed) return;
      for (const [id, p] of this.pending) {
        if (p.worker !== config.index) continue;
        this.pending.delete(id);
        p.resolve({ ok: false, code: 'MEDIA_ERR_WORKER', reason: `media worker ${config.index} died: ${failure || `exit code ${code}`}` });
      }
      // Spares died with the worker; nothing must claim them.
      this.spares[config.index] = [];
      this.refillBlocked[config.index] = true;
      const legs = [...this.legWorker].filter(([, w]) => w === config.index).map(([leg]) => leg);
      for (const leg of legs) this.forget(leg);
      this.delegate?.workerExit?.(config.index, legs, failure || `exit code ${code}`);
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('online', resolve);
      worker.once('error', reject);
    });
    return {
      post: (id, cmd) => worker.postMessage({ id, cmd }),
      terminate: async () => {
        if (!exited) await worker.terminate();
      },
    };
  }
}
