/**
 * The media worker itself, independent of `worker_threads`: the pool runs it inside a Worker in
 * production and in the calling thread for unit tests (same code, no structured clone).
 */
import dgram from 'node:dgram';
import type { Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { RtpView, PortAllocator } from '../rtp/index.ts';
import type { DtmfDigit } from '../dtmf/index.ts';
import { PacingClock, compilePlaylist } from '../player/index.ts';
import type { Playback, PlaybackDelegate, PlaybackEnd, Playlist, PromptSource } from '../player/index.ts';
import { RelayDirection, WavRecorder } from '../bridge/index.ts';
import { Leg } from './leg.ts';
import { literalLookup } from './lookup.ts';
import { Conference } from './conference.ts';
import { measureSendCost } from './calibrate.ts';
import type { LegHost } from './leg.ts';
import type {
  ConferenceParty, LegId, LegOptions, MediaCommand, MediaErrorCode, MediaEvent, MediaResult, LegRemote, WorkerConfig, WorkerStats,
} from './protocol.ts';

/**
 * Taken ports tried before a leg fails with MEDIA_ERR_NO_PORT. Another process (another engine, a
 * softphone, a test rig with an overlapping range) can hold a run of consecutive ports of our
 * range, and each try costs one failed bind: 8 tries let such a run turn a caller into a 503, so
 * try far more before giving up.
 */
const BIND_ATTEMPTS = 128;
/** Default `sleepMs` of a worker's pacing clock (see the constructor). */
const DEFAULT_SLEEP_MS = 1;

/** The one consumer of a core's events (the worker entry posts them; tests collect them). */
export type EventSink = (event: MediaEvent) => void;

/**
 * Owns the sockets, legs, pacing clock and prompt source of one worker and executes commands.
 * Commands return results (never throw for bad input); events go to the sink.
 */
export class MediaWorkerCore implements LegHost, PlaybackDelegate {
  readonly view = new RtpView();
  readonly sendView = new RtpView();
  packetsIn = 0;
  packetsOut = 0;
  /** Loss of released legs and of counted streams (see `Leg.takeLost`). */
  packetsLost = 0;
  dropped = 0;
  sendErrors = 0;
  readonly clock: PacingClock;
  readonly onSent: (err: Error | null) => void;
  private readonly legs = new Map<LegId, Leg>();
  /** Sockets bound ahead of demand, by the leg id they will have once claimed. */
  private readonly spares = new Map<LegId, { port: number; socket: Socket }>();
  private readonly byPlayback = new Map<Playback, Leg>();
  private readonly ports: PortAllocator;
  private readonly bindAddress: string;
  private readonly advertiseAddress: string;
  private housekeeper: NodeJS.Timeout | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly config: WorkerConfig, private readonly prompts: PromptSource | undefined, private readonly emit: EventSink) {
    // A worker is a thread of its own: sleeping before a phase in the thread (up to 1 ms, capped at
    // half a slot: 0.5 ms with the default 20 slots), instead of letting the 1 ms timer overshoot
    // it, halves hold-audio lateness (docs/bench.md, issue 4) and delays packets relayed by this
    // worker by at most that much.
    this.clock = new PacingClock({ sleepMs: DEFAULT_SLEEP_MS, ...config.clock });
    this.ports = new PortAllocator(config.portMin, config.portMax);
    this.bindAddress = config.bindAddress ?? '0.0.0.0';
    this.advertiseAddress = config.advertiseAddress ?? (this.bindAddress === '0.0.0.0' ? '127.0.0.1' : this.bindAddress);
    this.onSent = (err: Error | null): void => {
      if (err) this.sendErrors++;
    };
    this.housekeeper = setInterval(() => this.housekeeping(), config.housekeepingMs ?? 250);
    this.housekeeper.unref();
    const every = config.statsIntervalMs ?? 0;
    if (every > 0) {
      this.statsTimer = setInterval(() => this.emit({ event: 'stats', stats: this.stats(false) }), every);
      this.statsTimer.unref();
    }
  }

  /** Number of live legs (tests check for leaks). */
  get legCount(): number {
    return this.legs.size;
  }

  /** Execute one command. */
  async handle(cmd: MediaCommand): Promise<MediaResult<unknown>> {
    if (this.closed && cmd.op !== 'shutdown') return err('MEDIA_ERR_WORKER', 'worker is shut down');
    switch (cmd.op) {
      case 'allocate':
        return this.allocate(cmd.leg, cmd.options);
      case 'prebind':
        return this.prebind(cmd.legs);
      case 'claim':
        return this.claim(cmd.leg, cmd.options);
      case 'setRemote':
        return this.withLeg(cmd.leg, (leg) => this.setRemote(leg, cmd.remote));
      case 'play':
        return this.withLeg(cmd.leg, (leg) => this.play(leg, cmd.playlist, cmd.playId));
      case 'stop':
        return this.withLeg(cmd.leg, (leg) => {
          leg.playback.stop();
          return ok(null);
        });
      case 'bridge':
        return this.bridge(cmd.a, cmd.b);
      case 'unbridge':
        return this.withLeg(cmd.leg, (leg) => this.unbridge(leg, cmd.then, cmd.playId ?? 0));
      case 'recordStart':
        return this.withLeg(cmd.leg, (leg) => {
          if (leg.recorder !== undefined) return err('MEDIA_ERR_STATE', `leg ${leg.id} is already recording`);
          if (cmd.layout !== undefined && cmd.layout !== 'stereo' && cmd.layout !== 'mixed') return err('MEDIA_ERR_BAD_COMMAND', 'bad layout');
          leg.recorder = new WavRecorder(cmd.file, performance.now(), { layout: cmd.layout ?? 'stereo' });
          return ok(null);
        });
      case 'recordPause':
      case 'recordResume':
        return this.withLeg(cmd.leg, (leg) => {
          const rec = leg.recorder;
          if (rec === undefined) return err('MEDIA_ERR_STATE', `leg ${leg.id} is not recording`);
          const now = performance.now();
          if (cmd.op === 'recordPause') rec.pause(now);
          else rec.resume(now);
          return ok({ pausedMs: rec.pausedMs(now) });
        });
      case 'conference':
        return this.conference(cmd.parties);
      case 'leaveConference':
        return this.withLeg(cmd.leg, (leg) => {
          if (leg.conf === undefined) return err('MEDIA_ERR_STATE', `leg ${leg.id} is in no conference`);
          this.leaveConference(leg);
          return ok(null);
        });
      case 'recordStop': {
        const leg = this.legs.get(cmd.leg);
        if (leg === undefined) return unknownLeg(cmd.leg);
        const rec = leg.recorder;
        if (rec === undefined) return err('MEDIA_ERR_STATE', `leg ${leg.id} is not recording`);
        leg.recorder = undefined;
        const r = await rec.stop(performance.now());
        return r.ok ? ok({ file: r.file, durationMs: r.durationMs, pausedMs: r.pausedMs, bytes: r.bytes, lateDrops: r.lateDrops }) : r;
      }
      case 'release':
        return this.release(cmd.leg);
      case 'legStats':
        return this.withLeg(cmd.leg, (leg) => {
          const rx = leg.rxStats();
          return ok({ sent: leg.out.packets, received: rx.packets, expected: rx.expected, lost: rx.lost, reordered: rx.reordered, duplicates: rx.duplicates });
        });
      case 'stats':
        return ok(this.stats(cmd.reset === true));
      case 'calibrate':
        return measureSendCost(cmd.packets, this.calibrationAddress());
      case 'shutdown':
        await this.close();
        return ok(null);
      default:
        return err('MEDIA_ERR_BAD_COMMAND', `unknown command ${JSON.stringify(cmd)}`);
    }
  }

  /** Release every leg, stop timers. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.housekeeper);
    clearInterval(this.statsTimer);
    this.housekeeper = undefined;
    this.statsTimer = undefined;
    const ids = [...this.legs.keys(), ...this.spares.keys()];
    for (const id of ids) await this.release(id);
    this.clock.stop();
  }

  /** Where calibration datagrams go: this worker's own address (loopback for a wildcard bind). */
  private calibrationAddress(): string {
    if (this.bindAddress === '0.0.0.0') return '127.0.0.1';
    if (this.bindAddress === '::') return '::1';
    return this.bindAddress;
  }

  /** Counters; `reset` clears the lateness histogram after reading (benchmark warm-up). */
  stats(reset: boolean): WorkerStats {
    let playing = 0;
    let bridges = 0;
    let recordings = 0;
    for (const leg of this.legs.values()) {
      this.packetsLost += leg.takeLost();
      if (leg.playback.active) playing++;
      if (leg.relay !== undefined) bridges++;
      if (leg.recorder !== undefined) recordings++;
    }
    const h = this.clock.lateness;
    const heap = getHeapStatistics();
    const s: WorkerStats = {
      worker: this.config.index,
      legs: this.legs.size,
      spares: this.spares.size,
      playing,
      bridges: bridges / 2,
      recordings,
      packetsIn: this.packetsIn,
      packetsOut: this.packetsOut,
      packetsLost: this.packetsLost,
      sendErrors: this.sendErrors,
      dropped: this.dropped,
      skippedFrames: this.clock.skipped,
      lateness: { count: h.count, p50Ms: h.quantile(0.5), p99Ms: h.quantile(0.99), maxMs: h.maxMs },
      heapTotal: heap.total_heap_size,
      heapUsed: heap.used_heap_size,
    };
    if (reset) {
      h.reset();
      this.clock.skipped = 0;
    }
    return s;
  }

  // LegHost
  dtmf(leg: Leg, d: DtmfDigit): void {
    this.emit({ event: 'dtmf', leg: leg.id, digit: d.digit, startMs: d.startMs, durationMs: d.durationMs, source: d.source });
  }

  // PlaybackDelegate
  playbackDone(playback: Playback, playId: number, reason: PlaybackEnd): void {
    const leg = this.byPlayback.get(playback);
    if (leg !== undefined && playId !== 0) this.emit({ event: 'playbackDone', leg: leg.id, playId, reason });
  }

  private async allocate(id: LegId, options: LegOptions): Promise<MediaResult<unknown>> {
    if (this.legs.has(id) || this.spares.has(id)) return err('MEDIA_ERR_LEG_EXISTS', `leg ${id} exists`);
    const b = await this.bindSocket();
    if (!b.ok) return b;
    this.addLeg(id, b.value.port, b.value.socket, options);
    return ok({ port: b.value.port, address: this.advertiseAddress });
  }

  private async prebind(ids: LegId[]): Promise<MediaResult<unknown>> {
    const bound: { leg: LegId; port: number }[] = [];
    for (const id of ids) {
      if (this.legs.has(id) || this.spares.has(id)) return err('MEDIA_ERR_LEG_EXISTS', `leg ${id} exists`);
      const b = await this.bindSocket();
      if (!b.ok) return ok({ address: this.advertiseAddress, bound, error: b.reason });
      this.spares.set(id, b.value);
      bound.push({ leg: id, port: b.value.port });
    }
    return ok({ address: this.advertiseAddress, bound });
  }

  /** Synchronous on purpose: the leg's next commands (setRemote, play) are right behind it. */
  private claim(id: LegId, options: LegOptions): MediaResult<unknown> {
    const spare = this.spares.get(id);
    if (spare === undefined) return this.legs.has(id) ? err('MEDIA_ERR_LEG_EXISTS', `leg ${id} is claimed`) : unknownLeg(id);
    this.spares.delete(id);
    this.addLeg(id, spare.port, spare.socket, options);
    return ok(null);
  }

  private addLeg(id: LegId, port: number, socket: Socket, options: LegOptions): void {
    const leg = new Leg(id, port, socket, this, this.clock, this, options);
    this.legs.set(id, leg);
    this.byPlayback.set(leg.playback, leg);
  }

  /** A socket on the next free even port of this worker's range. */
  private async bindSocket(): Promise<MediaResult<{ port: number; socket: Socket }>> {
    for (let attempt = 0; attempt < BIND_ATTEMPTS; attempt++) {
      const port = this.ports.allocate();
      if (port === undefined) return err('MEDIA_ERR_NO_PORT', `RTP port range ${this.config.portMin}-${this.config.portMax} exhausted`);
      const socket = await bind(port, this.bindAddress);
      if (socket === undefined) {
        // Taken by another process: leave it out of rotation for now, try the next one.
        this.ports.release(port);
        continue;
      }
      if (this.closed) {
        socket.close();
        this.ports.release(port);
        return err('MEDIA_ERR_WORKER', 'worker is shut down');
      }
      return ok({ port, socket });
    }
    return err('MEDIA_ERR_NO_PORT', `no bindable RTP port after ${BIND_ATTEMPTS} attempts`);
  }

  private setRemote(leg: Leg, remote: LegRemote): MediaResult<unknown> {
    if (typeof remote.address !== 'string' || !(remote.port > 0 && remote.port < 65536)) {
      return err('MEDIA_ERR_BAD_COMMAND', `bad remote ${remote.address}:${remote.port}`);
    }
    leg.setRemote(remote, performance.now());
    const partner = leg.partner;
    if (partner !== undefined) {
      // Codecs may have changed: both directions re-learn their tables and payload types.
      leg.relay!.configure(leg, partner);
      partner.relay!.configure(partner, leg);
    }
    return ok(null);
  }

  private play(leg: Leg, playlist: Playlist, playId: number): MediaResult<unknown> {
    if (leg.partner !== undefined) return err('MEDIA_ERR_STATE', `leg ${leg.id} is bridged; unbridge first`);
    if (leg.conf !== undefined) return err('MEDIA_ERR_STATE', `leg ${leg.id} is in a conference; leave it first`);
    if (this.prompts === undefined && playlist.items.some((i) => i.kind !== 'silence')) {
      return err('MEDIA_ERR_PLAYLIST', 'this worker has no prompt directory');
    }
    const c = compilePlaylist(playlist, leg.codec, this.prompts ?? NO_PROMPTS);
    if (!c.ok) return c;
    leg.playback.start(c.playlist, playId);
    return ok({ playId });
  }

  private bridge(a: LegId, b: LegId): MediaResult<unknown> {
    const la = this.legs.get(a);
    const lb = this.legs.get(b);
    if (la === undefined || lb === undefined) {
      if (!a.startsWith(`${this.config.index}.`) || !b.startsWith(`${this.config.index}.`)) {
        return err('MEDIA_ERR_WORKER', `legs ${a} and ${b} live on different workers`);
      }
      return unknownLeg(la === undefined ? a : b);
    }
    if (la === lb) return err('MEDIA_ERR_STATE', 'cannot bridge a leg to itself');
    if (la.partner !== undefined || lb.partner !== undefined) return err('MEDIA_ERR_STATE', 'a leg is already bridged');
    la.playback.stop();
    lb.playback.stop();
    la.partner = lb;
    lb.partner = la;
    la.relay = new RelayDirection(lb.out, la, lb);
    lb.relay = new RelayDirection(la.out, lb, la);
    return ok({ transcoding: la.relay.transcoding });
  }

  /**
   * Validate and start a conference: up to three distinct legs of this worker, each hearing only
   * other parties. Legs already in a conference leave it first.
   */
  private conference(parties: ConferenceParty[]): MediaResult<unknown> {
    if (!Array.isArray(parties) || parties.length < 2 || parties.length > 3) return err('MEDIA_ERR_BAD_COMMAND', 'a conference has 2 or 3 parties');
    const legs: Leg[] = [];
    for (const p of parties) {
      const leg = this.legs.get(p.leg);
      if (leg === undefined) return unknownLeg(p.leg);
      if (legs.includes(leg)) return err('MEDIA_ERR_BAD_COMMAND', `leg ${p.leg} twice`);
      legs.push(leg);
    }
    const hears: number[][] = [];
    for (const p of parties) {
      if (!Array.isArray(p.hears)) return err('MEDIA_ERR_BAD_COMMAND', 'hears must be a list of legs');
      const slots: number[] = [];
      for (const h of p.hears) {
        const slot = parties.findIndex((q) => q.leg === h);
        if (slot < 0 || h === p.leg) return err('MEDIA_ERR_BAD_COMMAND', `leg ${p.leg} cannot hear ${String(h)}`);
        slots.push(slot);
      }
      hears.push(slots);
    }
    for (const leg of legs) if (leg.conf !== undefined) this.leaveConference(leg);
    new Conference(this.clock).configure(legs, hears);
    return ok(null);
  }

  private leaveConference(leg: Leg): void {
    const conf = leg.conf;
    if (conf === undefined) return;
    if (!conf.remove(leg) || !conf.mixing) conf.dissolve();
  }

  private unbridge(leg: Leg, then: Playlist | undefined, playId: number): MediaResult<unknown> {
    const partner = leg.partner;
    if (partner === undefined) return err('MEDIA_ERR_STATE', `leg ${leg.id} is not bridged`);
    this.leaveConference(leg);
    this.leaveConference(partner);
    leg.partner = undefined;
    leg.relay = undefined;
    partner.partner = undefined;
    partner.relay = undefined;
    if (then !== undefined) return this.play(leg, then, playId);
    return ok(null);
  }

  private async release(id: LegId): Promise<MediaResult<unknown>> {
    const leg = this.legs.get(id);
    if (leg === undefined) {
      const spare = this.spares.get(id);
      if (spare === undefined) return unknownLeg(id);
      this.spares.delete(id);
      spare.socket.close();
      this.ports.release(spare.port);
      return ok(null);
    }
    if (leg.partner !== undefined) this.unbridge(leg, undefined, 0);
    this.leaveConference(leg);
    this.packetsLost += leg.takeLost();
    this.legs.delete(id);
    leg.close();
    this.byPlayback.delete(leg.playback);
    this.ports.release(leg.port);
    const rec = leg.recorder;
    leg.recorder = undefined;
    if (rec !== undefined) await rec.stop(performance.now());
    return ok(null);
  }

  private withLeg(id: LegId, fn: (leg: Leg) => MediaResult<unknown>): MediaResult<unknown> {
    const leg = this.legs.get(id);
    return leg === undefined ? unknownLeg(id) : fn(leg);
  }

  private housekeeping(): void {
    const now = performance.now();
    for (const leg of this.legs.values()) {
      const silent = leg.housekeeping(now);
      if (silent >= 0) this.emit({ event: 'rtpTimeout', leg: leg.id, silentMs: Math.round(silent) });
    }
  }
}

const NO_PROMPTS: PromptSource = { get: () => undefined };

function bind(port: number, address: string): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    // Unconnected sends (before latching) to an IP literal go out at once, not a tick later (lookup.ts).
    const socket = dgram.createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup });
    const onError = (): void => {
      socket.close();
      resolve(undefined);
    };
    socket.once('error', onError);
    socket.bind(port, address, () => {
      socket.off('error', onError);
      // ICMP errors surface as 'error' events on connected sockets; counted via send callbacks.
      socket.on('error', ignore);
      resolve(socket);
    });
  });
}

function ignore(): void {}

function ok<T>(value: T): MediaResult<T> {
  return { ok: true, value };
}

function err(code: MediaErrorCode, reason: string): MediaResult<never> {
  return { ok: false, code, reason };
}

function unknownLeg(id: LegId): MediaResult<never> {
  return err('MEDIA_ERR_UNKNOWN_LEG', `no leg ${id} on this worker`);
}
