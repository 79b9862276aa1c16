/**
 * One media leg inside a worker: its UDP socket, outgoing stream, player, DTMF detectors, relay
 * and recorder. The receive handler is the per-packet hot path of the relay.
 */
import type { Socket, RemoteInfo } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { RtpView, LatchingPeer, RtpTimeout, isRtcp } from '../rtp/index.ts';
import { decodeTable, staticPayloadType } from '../codec/index.ts';
import type { G711 } from '../codec/index.ts';
import { Rfc4733Receiver, GoertzelDetector } from '../dtmf/index.ts';
import type { DtmfDigit } from '../dtmf/index.ts';
import { OutboundStream, Playback } from '../player/index.ts';
import type { RtpSink, PacingClock, PlaybackDelegate } from '../player/index.ts';
import type { RelayDirection, RelayEndpoint, WavRecorder } from '../bridge/index.ts';
import type { LegId, LegOptions, MediaDirection, LegRemote } from './protocol.ts';
import type { Conference } from './conference.ts';

/** What a leg needs from its worker: shared views, counters and the event sink. */
export interface LegHost {
  readonly view: RtpView;
  readonly sendView: RtpView;
  packetsIn: number;
  packetsOut: number;
  dropped: number;
  /** Send completion callback shared by every socket (counts errors; no closure per packet). */
  readonly onSent: (err: Error | null) => void;
  dtmf(leg: Leg, digit: DtmfDigit): void;
}

/**
 * A leg: everything about one RTP endpoint of a call, on one worker.
 *
 * ```
 *  socket ──message──▶ RtpView ─┬─ RFC 4733 / Goertzel ──▶ dtmf event
 *                               ├─ recorder channel 0
 *                               └─ relay.rewrite ──▶ partner.sendRtp ──▶ partner socket
 *  clock ──pace──▶ playback ──▶ sendRtp ──▶ recorder channel 1, socket (connected when known)
 * ```
 */
export class Leg implements RtpSink, RelayEndpoint {
  readonly out: OutboundStream;
  readonly playback: Playback;
  codec: G711;
  payloadType: number;
  dtmfPayloadType: number;
  readonly rfc4733: Rfc4733Receiver;
  readonly inband: GoertzelDetector | undefined;
  readonly timeout: RtpTimeout;
  /** Remote to send to (SDP address, then the latched source); undefined before `setRemote`. */
  remote: LatchingPeer | undefined = undefined;
  latch = true;
  /** We may send: our direction is sendrecv/sendonly and the remote address is not a hold address. */
  sending = true;
  /** Bridge partner and the relay for packets received here, going to the partner. */
  partner: Leg | undefined = undefined;
  relay: RelayDirection | undefined = undefined;
  recorder: WavRecorder | undefined = undefined;
  /** The conference this leg is in (monitoring, three-way), its slot there, and whether it sends the mix. */
  conf: Conference | undefined = undefined;
  confSlot = -1;
  /** The conference's mixer feeds this leg's stream (the partner's relay into it is held back). */
  mixed = false;
  /** Receive statistics of the current remote SSRC (RFC 3550 §6.4.1 / A.3 style). */
  rxPackets = 0;
  rxReordered = 0;
  rxDuplicates = 0;
  private rxBaseSeq = 0;
  private rxMaxSeq = 0;
  private rxCycles = 0;
  /** Loss of the current stream already counted by {@link Leg.takeLost}, and loss of earlier streams not yet. */
  private lostCounted = 0;
  private lostCarried = 0;
  /** SSRC last seen from the remote (re-anchors the recorder and DTMF state on change). */
  private inSsrc = -1;
  private connectedTo = '';
  private connecting = false;
  private pendingConnect = '';
  private readonly onMessageBound: (msg: Buffer, rinfo: RemoteInfo) => void;
  private closed = false;

  constructor(
    readonly id: LegId,
    readonly port: number,
    readonly socket: Socket,
    private readonly host: LegHost,
    clock: PacingClock,
    playbackDelegate: PlaybackDelegate,
    options: LegOptions,
  ) {
    this.codec = options.codec ?? 'PCMU';
    this.payloadType = options.payloadType ?? staticPayloadType(this.codec);
    this.dtmfPayloadType = options.dtmfPayloadType ?? 101;
    this.out = new OutboundStream();
    this.playback = new Playback(clock, this.out, this, playbackDelegate, this.payloadType, this.codec);
    this.rfc4733 = new Rfc4733Receiver({ payloadType: this.dtmfPayloadType });
    this.inband = options.inbandDtmf === true ? new GoertzelDetector() : undefined;
    this.timeout = new RtpTimeout(options.rtpTimeoutMs ?? 30000, options.holdTimeoutMs ?? 0, performance.now());
    this.onMessageBound = this.onMessage.bind(this);
    socket.on('message', this.onMessageBound);
  }

  /** Apply the negotiated remote media (first answer or re-INVITE). */
  setRemote(r: LegRemote, nowMs: number): void {
    if (r.codec !== undefined && r.codec !== this.codec) {
      // The playing playlist was compiled in the old codec: stop it (playbackDone 'stopped'),
      // the call layer plays again in the new one.
      this.playback.stop();
      this.codec = r.codec;
      this.payloadType = r.payloadType ?? staticPayloadType(r.codec);
    } else if (r.payloadType !== undefined) this.payloadType = r.payloadType;
    this.playback.setCodec(this.codec, this.payloadType);
    if (r.dtmfPayloadType !== undefined) {
      this.dtmfPayloadType = r.dtmfPayloadType;
      this.rfc4733.payloadType = r.dtmfPayloadType;
    }
    const dir: MediaDirection = r.direction ?? 'sendrecv';
    // 0.0.0.0 / :: is the old-style hold address (RFC 3264 §8.4): never a destination.
    const nowhere = r.address === '0.0.0.0' || r.address === '::';
    this.sending = (dir === 'sendrecv' || dir === 'sendonly') && !nowhere;
    this.timeout.setHold(r.hold ?? (dir === 'sendonly' || dir === 'inactive'), nowMs);
    this.latch = r.latch ?? true;
    if (this.remote === undefined) this.remote = new LatchingPeer(r.address, r.port, { relatchAfterMs: 0 });
    else this.remote.reset(r.address, r.port);
    // Unlatched: send by address until the first packet tells where the remote really is.
    this.disconnect();
    if (!this.latch && !nowhere) {
      this.remote.latched = true;
      this.connect(r.address, r.port);
    }
  }

  /** RtpSink: every packet this leg sends, from the player or the relay. */
  sendRtp(buf: Buffer, nowMs: number): void {
    const rec = this.recorder;
    if (rec !== undefined) {
      const v = this.host.sendView;
      if (v.reset(buf, buf.length) && v.payloadType === this.payloadType) {
        rec.write(1, buf, v.headerLength, v.payloadLength, decodeTable(this.codec), v.timestamp, nowMs);
      }
    }
    if (!this.sending) return;
    const remote = this.remote;
    if (remote === undefined || this.connecting) return;
    this.host.packetsOut++;
    if (this.connectedTo !== '') this.socket.send(buf, this.host.onSent);
    // Without offset and length: dgram would make a Buffer view of `buf` for each packet.
    else this.socket.send(buf, remote.port, remote.address, this.host.onSent);
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const host = this.host;
    const view = host.view;
    if (!view.reset(msg, msg.length) || isRtcp(msg, msg.length)) {
      host.dropped++;
      return;
    }
    const now = performance.now();
    const remote = this.remote;
    if (remote !== undefined && this.connectedTo === '') {
      if (this.latch && !remote.latched) {
        remote.accept(rinfo.address, rinfo.port, now);
        this.connect(rinfo.address, rinfo.port);
      }
    }
    host.packetsIn++;
    this.timeout.received(now);
    const ssrc = view.ssrc;
    const seq = view.sequence;
    if (ssrc !== this.inSsrc) {
      if (this.inSsrc !== -1) {
        this.rfc4733.reset();
        this.recorder?.reanchor(0);
        // The old stream's loss is final: carry what was not counted yet (rare: an SSRC change).
        this.lostCarried += Math.max(0, this.rxStats().lost - this.lostCounted);
        this.lostCounted = 0;
      }
      this.inSsrc = ssrc;
      this.rxPackets = 0;
      this.rxReordered = 0;
      this.rxDuplicates = 0;
      this.rxBaseSeq = seq;
      this.rxMaxSeq = seq;
      this.rxCycles = 0;
    } else {
      const d = (seq - this.rxMaxSeq) & 0xffff;
      if (d === 0) this.rxDuplicates++;
      else if (d < 0x8000) {
        if (seq < this.rxMaxSeq) this.rxCycles += 0x10000;
        this.rxMaxSeq = seq;
      } else this.rxReordered++;
    }
    this.rxPackets++;
    const pt = view.payloadType;
    if (pt === this.dtmfPayloadType) {
      let d = this.rfc4733.onPacket(view, now);
      while (d !== undefined) {
        host.dtmf(this, d);
        d = this.rfc4733.poll(now);
      }
    } else if (pt === this.payloadType) {
      if (this.inband !== undefined) {
        let d = this.inband.feed(msg, view.headerLength, view.payloadLength, this.codec, now);
        while (d !== undefined) {
          host.dtmf(this, d);
          d = this.inband.poll();
        }
      }
      this.recorder?.write(0, msg, view.headerLength, view.payloadLength, decodeTable(this.codec), view.timestamp, now);
      this.conf?.mixer.feed(this.confSlot, msg, view.headerLength, view.payloadLength, decodeTable(this.codec));
    }
    const relay = this.relay;
    // A partner fed by the conference's mixer hears this leg through the mix, not the relay.
    if (relay !== undefined && !this.partner!.mixed && relay.rewrite(view, now)) this.partner!.sendRtp(msg, now);
  }

  /** Receive quality of the current remote stream. */
  rxStats(): { packets: number; expected: number; lost: number; reordered: number; duplicates: number } {
    const expected = this.rxPackets === 0 ? 0 : this.rxCycles + this.rxMaxSeq - this.rxBaseSeq + 1;
    const lost = expected - (this.rxPackets - this.rxDuplicates);
    return { packets: this.rxPackets, expected, lost: lost > 0 ? lost : 0, reordered: this.rxReordered, duplicates: this.rxDuplicates };
  }

  /**
   * Loss not yet counted in the worker's running total (read by `stats` and at release). A late
   * packet can lower a stream's loss figure; the total keeps the highest figure seen, so it never
   * goes down.
   */
  takeLost(): number {
    const lost = this.rxStats().lost;
    const fresh = this.lostCarried + Math.max(0, lost - this.lostCounted);
    this.lostCarried = 0;
    if (lost > this.lostCounted) this.lostCounted = lost;
    return fresh;
  }

  /** Periodic work: lost DTMF end reports, RTP timeout. Returns the silence if timed out, else -1. */
  housekeeping(nowMs: number): number {
    let d = this.rfc4733.poll(nowMs);
    while (d !== undefined) {
      this.host.dtmf(this, d);
      d = this.rfc4733.poll(nowMs);
    }
    if (this.remote !== undefined && this.timeout.check(nowMs) === 'timeout') return nowMs - this.timeout.lastPacketMs;
    return -1;
  }

  /** Stop everything and close the socket (the recorder is finalised by the caller). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.playback.stop();
    this.socket.off('message', this.onMessageBound);
    this.socket.close();
  }

  // A connected UDP socket sends without a per-packet address lookup (about half the cost) and
  // the kernel drops strangers' packets for us.
  private connect(address: string, port: number): void {
    const target = `${address}:${port}`;
    if (this.closed) return;
    if (this.connecting) {
      this.pendingConnect = target;
      return;
    }
    this.connecting = true;
    this.socket.connect(port, address, () => {
      this.connecting = false;
      this.connectedTo = target;
      const next = this.pendingConnect;
      this.pendingConnect = '';
      if (this.closed) return;
      if (next === '-') this.disconnect();
      else if (next !== '' && next !== target) {
        this.disconnect();
        const i = next.lastIndexOf(':');
        this.connect(next.slice(0, i), Number(next.slice(i + 1)));
      }
    });
  }

  private disconnect(): void {
    // A connect in flight cannot be cancelled: undo it when it completes.
    this.pendingConnect = this.connecting ? '-' : '';
    if (this.connectedTo !== '' && !this.closed) {
      this.socket.disconnect();
      this.connectedTo = '';
    }
  }
}
