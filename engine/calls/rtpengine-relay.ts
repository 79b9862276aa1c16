/**
 * Bridged calls relayed by rtpengine (`media.relay: rtpengine`, issue 19): once call control has
 * bridged a caller to an agent in onair's media worker, both phones are moved, by re-INVITE, to
 * an rtpengine session, so that their audio no longer passes through this process and survives
 * its death. Whenever the call needs onair's media again (hold, transfer, monitoring, recording,
 * a re-INVITE from either phone) both phones are moved back to onair's legs first; at the end the
 * rtpengine session is deleted. IVR, hold music and recording always run on onair's legs.
 *
 * ```
 *  controller: bridge(caller, agent) ──▶ onair relays at once (nothing waits for rtpengine)
 *      │  ng offer  (caller's SDP, from-tag caller)  ──▶ rtpengine port B, for the agent
 *      │  ng answer (agent's SDP,  to-tag agent)     ──▶ rtpengine port A, for the caller
 *      │  re-INVITE agent  → B   (200: the agent sends to rtpengine)
 *      │  re-INVITE caller → A   (200: the caller sends to rtpengine)
 *      └▶ onair's two legs: inactive + hold (no sending, no RTP timeout)          state: relayed
 *
 *  unbridge / conference / recordStart / a phone's re-INVITE / the other leg released:
 *      onair's legs get their remotes back (in order before the command that follows), the
 *      phones that point at rtpengine are re-INVITEd to onair's legs, then ng delete   state: onair
 *  release of a leg (the call ends): ng delete, no re-INVITE (the dialogs are ending)
 * ```
 * Once relayed, the call's journal row gets both dialogs and the rtpengine call id
 * ({@link RelaySnapshot}; cleared when it leaves): the audio outlives this process, and a node
 * that takes over holds the dialogs ({@link AdoptedRelays}) to answer the phones' BYE, hang up
 * the other phone, delete the session and write the CDR.
 *
 * Why re-INVITEs after the bridge, and not rtpengine's SDP in the agent's INVITE: the caller was
 * answered with onair's leg long before (IVR, queue), so it needs a re-INVITE anyway; an offer
 * that rings and is not answered costs no rtpengine session; no ng round trip stands in front of
 * an agent's INVITE; and when rtpengine does not answer, the call simply stays on onair's relay,
 * which was already carrying its audio: the fallback drops nothing. The price is two re-INVITEs
 * per bridged call.
 *
 * Every SDP a phone gets from us keeps our own origin line with its version incremented (RFC
 * 3264 §8), whoever relays: rtpengine's SDP is read only for its address and port.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ReleasedBy } from '../../crm-adapter/index.ts';
import { Dialog } from '../sip/index.ts';
import type { DialogDelegate, DialogSnapshot, Endpoint, SipResponse } from '../sip/index.ts';
import { NgClient, acceptAnswer, createOffer, parseSdp, partySdp, sdpEndpoint } from '../../media/index.ts';
import type { G711, LegId, LegRemote, NgResult, RelayEndpoint } from '../../media/index.ts';
import type { CallMedia } from './types.ts';
import { epochClock, type Clock, type TimerHandle } from '../clock/index.ts';
import { CallsError } from './errors.ts';
import { sdpBody, toLegRemote } from './ring.ts';

/**
 * Where a call's relayed media is:
 * - `onair`: onair's worker relays (or the call is not bridged);
 * - `offering`: the ng offer and answer are under way (nothing moved yet);
 * - `moving`: re-INVITEs are moving the phones to rtpengine;
 * - `relayed`: both phones send to rtpengine; onair's legs are idle;
 * - `leaving`: phones are moved back to onair's legs, then the session is deleted.
 */
export type RelayState = 'onair' | 'offering' | 'moving' | 'relayed' | 'leaving';

/** Each state's legal next states (CONVENTIONS.md 17). */
export const RELAY_NEXT: Readonly<Record<RelayState, readonly RelayState[]>> = {
  // The controller bridged caller and agent: ask rtpengine for a session.
  onair: ['offering'],
  // Ports from rtpengine → move the phones; ng failed → stay; a leave came first → leaving.
  offering: ['moving', 'onair', 'leaving'],
  // Both phones moved → relayed; a re-INVITE failed, or a leave came → leaving.
  moving: ['relayed', 'leaving'],
  // The call needs onair's media (hold, transfer, monitor, record, a phone's re-INVITE).
  relayed: ['leaving'],
  // Phones back on onair's legs, session deleted.
  leaving: ['onair'],
};

/** Why a bridged call stayed on (or went back to) onair's relay against the configuration. */
export type RelayFallback =
  /** rtpengine did not answer the ng offer or answer in time (or the socket failed). */
  | 'unreachable'
  /** rtpengine refused the offer/answer or replied with something unusable. */
  | 'refused'
  /** A phone refused or did not answer the re-INVITE, or answered with other media. */
  | 'reinvite';

/** Reasons of {@link RelayFallback}, for metrics. */
export const RELAY_FALLBACKS: readonly RelayFallback[] = ['unreachable', 'refused', 'reinvite'];

/** What call control tells the relay when a caller is bridged to an agent (one hook). */
export interface RelayTalk {
  callId: string;
  callerLeg: LegId;
  agentLeg: LegId;
  callerDialog: Dialog;
  agentDialog: Dialog;
  /** Our SDP to the caller (183/200): its origin line and our caller leg's address. */
  callerSdp: Buffer;
  /** Our SDP offer to the agent's phone (its INVITE): its origin line and our agent leg's address. */
  agentSdp: Buffer;
}

/** The hooks call control calls (absent: onair relays everything). */
export interface BridgeRelay {
  /** A caller is bridged to an agent over these dialogs (called before the bridge command). */
  talking(t: RelayTalk): void;
  /** The peer of `leg` sent a re-INVITE that call control answers with onair's leg. */
  reinvited(leg: LegId): void;
}

/** Counters of the relay (for /metrics). */
export interface RelayFigures {
  /** Calls whose phones send to rtpengine now. */
  relayed: number;
  /** Calls moved to rtpengine since start. */
  entered: number;
  /** Calls that stayed on (or went back to) onair's relay, by reason. */
  fallbacks: Record<RelayFallback, number>;
}

/** What the relay needs. */
export interface RtpengineRelayDeps {
  ng: Pick<NgClient, 'offer' | 'answer' | 'delete'>;
  media: CallMedia;
  /** In-dialog requests (the engine's UserAgent): a re-INVITE resolves with its final response. */
  ua: { sendInDialog(dialog: Dialog, method: 'INVITE', opts: { body: Buffer; contentType: string }): Promise<SipResponse | 'timeout' | 'transport'> };
  log: Logger;
  /**
   * The call's journal row: its {@link RelaySnapshot} once both phones send to rtpengine, null when
   * they are moved back (so that a node taking over can end a call whose audio outlived this one).
   */
  persist?: (callId: string, relay: string | null) => Promise<void> | void;
}

/** One phone of a relayed pair. */
interface Side {
  role: 'caller' | 'agent';
  leg: LegId;
  dialog: Dialog;
  /** Our origin line's session id and last version sent in this dialog. */
  sessionId: string;
  version: number;
  /** Our leg's address as the phone knows it. */
  local: RelayEndpoint;
  /** Where the phone sends now. */
  at: 'onair' | 'rtpengine';
  /** Its leg was released (the agent of a transferred caller): nothing more is sent to it. */
  gone: boolean;
}

interface Pair {
  callId: string;
  state: RelayState;
  caller: Side;
  agent: Side;
  codec: G711 | undefined;
  /** The rtpengine call id of the current session, undefined when there is none. */
  session: string | undefined;
  sessions: number;
  /** Recordings and conferences on these legs: the call stays on onair's legs while > 0. */
  pinned: number;
  /** The move in progress (enter or leave); a leave waits for an enter to stop. */
  task: Promise<void>;
}

/** Where the relay's rtpengine is (`media.rtpengine` of the configuration). */
export interface RtpengineAddress {
  address: string;
  port: number;
  timeoutMs: number;
}

/**
 * Open the ng client and build the relay. rtpengine is pinged once: a silent one is logged, not
 * fatal — every bridged call then stays on onair's relay (counted) until it answers.
 */
export async function startRtpengineRelay(
  at: RtpengineAddress, media: CallMedia, ua: RtpengineRelayDeps['ua'], log: Logger, persist?: RtpengineRelayDeps['persist'],
): Promise<{ relay: RtpengineRelay; ng: NgClient; close(): void }> {
  const ng = await NgClient.open({ address: at.address, port: at.port, timeoutMs: at.timeoutMs, retransmitMs: Math.max(20, Math.floor(at.timeoutMs / 4)) });
  const pong = await ng.ping();
  if (pong.ok) log.info({ address: at.address, port: at.port }, 'rtpengine answers: bridged calls are relayed by it');
  else log.warn({ address: at.address, port: at.port, code: pong.code, reason: pong.reason }, "rtpengine does not answer: bridged calls stay on onair's relay until it does");
  return { relay: new RtpengineRelay({ ng, media, ua, log, ...(persist !== undefined ? { persist } : {}) }), ng, close: () => ng.close() };
}

/** The relay: call control's hooks, and the media port it must use instead of the pool's. */
export class RtpengineRelay implements BridgeRelay {
  private readonly d: RtpengineRelayDeps;
  private readonly byLeg = new Map<LegId, Pair>();
  /** The last remote call control set on each leg (the phone's media as negotiated). */
  private readonly remotes = new Map<LegId, LegRemote>();
  private relayedNow = 0;
  private enteredTotal = 0;
  private readonly fallbackCounts: Record<RelayFallback, number> = { unreachable: 0, refused: 0, reinvite: 0 };
  /**
   * The media port for call control, recordings and monitoring: the pool's commands, with the
   * ones that bridge, unbridge, record, conference or release a relayed leg moving it first.
   */
  readonly media: CallMedia;

  constructor(deps: RtpengineRelayDeps) {
    this.d = deps;
    const inner = deps.media;
    this.media = {
      get delegate() { return inner.delegate; },
      set delegate(v) { inner.delegate = v; },
      allocate: (o) => inner.allocate(o),
      setRemote: (leg, remote) => {
        this.remotes.set(leg, remote);
        return inner.setRemote(leg, remote);
      },
      play: (leg, p) => inner.play(leg, p),
      stop: (leg) => inner.stop(leg),
      bridge: (a, b) => {
        const r = inner.bridge(a, b);
        this.bridged(a, b);
        return r;
      },
      unbridge: (leg, then) => {
        this.leave(leg, 'unbridge');
        return inner.unbridge(leg, then);
      },
      release: (leg) => {
        this.released(leg);
        return inner.release(leg);
      },
      legStats: (leg) => inner.legStats(leg),
      recordStart: (leg, file, layout) => {
        this.pin(leg, 'recording');
        return inner.recordStart(leg, file, layout);
      },
      recordStop: (leg) => {
        this.unpin(leg);
        return inner.recordStop(leg);
      },
      recordPause: (leg) => inner.recordPause(leg),
      recordResume: (leg) => inner.recordResume(leg),
      conference: (parties) => {
        for (const p of parties) this.pin(p.leg, 'conference');
        return inner.conference(parties);
      },
      leaveConference: (leg) => {
        this.unpin(leg);
        return inner.leaveConference(leg);
      },
    };
  }

  /** Counters for /metrics. */
  figures(): RelayFigures {
    return { relayed: this.relayedNow, entered: this.enteredTotal, fallbacks: { ...this.fallbackCounts } };
  }

  /** The state of the call with this leg (tests, API), undefined when the relay does not know it. */
  stateOf(leg: LegId): RelayState | undefined {
    return this.byLeg.get(leg)?.state;
  }

  talking(t: RelayTalk): void {
    const caller = side('caller', t.callerLeg, t.callerDialog, t.callerSdp);
    const agent = side('agent', t.agentLeg, t.agentDialog, t.agentSdp);
    if (caller === undefined || agent === undefined) {
      this.d.log.warn({ callId: t.callId }, 'our own SDP of the call is unreadable: the call stays on onair\'s relay');
      return;
    }
    // A new agent for the same caller (a transfer): the old pair is gone with its agent leg.
    const old = this.byLeg.get(t.callerLeg);
    if (old !== undefined) this.forget(old, 'a new agent');
    const pair: Pair = {
      callId: t.callId, state: 'onair', caller, agent, codec: undefined, session: undefined, sessions: 0, pinned: 0, task: Promise.resolve(),
    };
    this.byLeg.set(t.callerLeg, pair);
    this.byLeg.set(t.agentLeg, pair);
  }

  reinvited(leg: LegId): void {
    const p = this.byLeg.get(leg);
    if (p === undefined) return;
    // Call control answers this phone with onair's leg: it sends there from now on.
    const s = p.caller.leg === leg ? p.caller : p.agent;
    s.at = 'onair';
    // The answer leaves our origin version behind by one (ring.ts answers with its own offer).
    s.version++;
    this.leave(leg, `re-INVITE from the ${s.role}`);
  }

  // ---- the media port's hooks --------------------------------------------------------------

  private bridged(a: LegId, b: LegId): void {
    const p = this.byLeg.get(a);
    if (p === undefined || p.state !== 'onair' || p.pinned > 0) return;
    // Only the pair call control registered (not a caller bridged to an external party).
    if (!((p.caller.leg === a && p.agent.leg === b) || (p.caller.leg === b && p.agent.leg === a))) return;
    const cr = this.remotes.get(p.caller.leg);
    const ar = this.remotes.get(p.agent.leg);
    const why = unsuitable(cr, ar);
    if (why !== null) {
      this.d.log.debug({ callId: p.callId, why }, 'bridged call stays on onair\'s relay');
      return;
    }
    this.to(p, 'offering');
    p.codec = cr!.codec!;
    p.task = this.enter(p, cr!, ar!).catch((err: unknown) => this.d.log.error({ err, callId: p.callId }, 'rtpengine move failed'));
  }

  private pin(leg: LegId, why: string): void {
    const p = this.byLeg.get(leg);
    if (p === undefined) return;
    p.pinned++;
    this.leave(leg, why);
  }

  private unpin(leg: LegId): void {
    const p = this.byLeg.get(leg);
    if (p !== undefined && p.pinned > 0) p.pinned--;
  }

  private released(leg: LegId): void {
    this.remotes.delete(leg);
    const p = this.byLeg.get(leg);
    if (p === undefined) return;
    // The caller's leg goes only at the end of the call: its dialogs are ending, nobody moves.
    if (leg === p.caller.leg || p.state === 'onair') {
      this.forget(p, 'leg released');
      return;
    }
    // The agent's leg goes while the caller stays (a transfer): the caller comes back to onair's
    // leg first (its hold music or next agent is there), then the pair is forgotten.
    p.agent.gone = true;
    if (p.state !== 'leaving') this.leaveNow(p, 'the agent\'s leg released');
    p.task = p.task.then(() => this.forget(p, 'the agent\'s leg released'));
  }

  // ---- moves -------------------------------------------------------------------------------

  /** Create the session and move both phones to it (state offering → moving → relayed). */
  private async enter(p: Pair, cr: LegRemote, ar: LegRemote): Promise<void> {
    const session = `${p.callId}.${++p.sessions}`;
    p.session = session;
    const codec = p.codec!;
    const dtmf = cr.dtmfPayloadType ?? -1;
    const offer = await this.d.ng.offer({
      callId: session, fromTag: 'caller', sdp: partySdp({ address: cr.address, port: cr.port, codec, dtmfPayloadType: dtmf }, p.caller.sessionId),
    });
    if (!this.live(p, 'offering')) return;
    const answer = offer.ok
      ? await this.d.ng.answer({
        callId: session, fromTag: 'caller', toTag: 'agent', sdp: partySdp({ address: ar.address, port: ar.port, codec, dtmfPayloadType: dtmf }, p.agent.sessionId),
      })
      : offer;
    if (!this.live(p, 'offering')) return;
    const forAgent = offer.ok ? sdpEndpoint(offer.value.sdp) : undefined;
    const forCaller = answer.ok ? sdpEndpoint(answer.value.sdp) : undefined;
    if (!answer.ok || forAgent === undefined || !forAgent.ok || forCaller === undefined || !forCaller.ok) {
      this.fallback(p, answer.ok ? 'refused' : ngFallback(answer), answer.ok ? 'rtpengine SDP without a usable endpoint' : answer.reason);
      this.to(p, 'onair');
      p.session = undefined;
      void this.d.ng.delete({ callId: session });
      return;
    }
    this.to(p, 'moving');
    // Journaled before the first phone moves: from its 2xx on, the audio outlives this node, and a
    // node taking over must know both dialogs then (the snapshot after the moves only brings
    // their CSeqs up to date; AdoptedRelays starts above them anyway).
    // Awaited: the journal's writer lags its calls under load (0.3-1.5 s measured), and a phone
    // must not move before its dialogs are durable. The call is on onair's relay meanwhile.
    await this.d.persist?.(p.callId, snapshotOf(p));
    if (!this.live(p, 'moving')) return;
    // The agent first: until the caller moves too, its audio reaches the agent through onair.
    for (const [s, endpoint, remote] of [[p.agent, forAgent.endpoint, ar], [p.caller, forCaller.endpoint, cr]] as const) {
      const moved = await this.reinvite(p, s, endpoint, [codec], dtmf, remote);
      // A 2xx moved the phone even if a leave came meanwhile: the leave (waiting for this move) moves it back.
      if (moved.accepted) s.at = 'rtpengine';
      if (!this.live(p, 'moving')) return;
      if (!moved.usable) {
        this.fallback(p, 'reinvite', `the ${s.role}'s phone did not take the move`);
        this.leaveNow(p, 'a re-INVITE failed');
        return;
      }
    }
    // Both phones send to rtpengine: onair's legs neither send nor time out while it relays.
    for (const leg of [p.caller.leg, p.agent.leg]) {
      const r = this.remotes.get(leg);
      if (r !== undefined) void this.innerSetRemote(leg, { ...r, direction: 'inactive', hold: true });
    }
    this.to(p, 'relayed');
    this.relayedNow++;
    this.enteredTotal++;
    this.d.persist?.(p.callId, snapshotOf(p));
    this.d.log.debug({ callId: p.callId, session }, 'bridged call relayed by rtpengine');
  }

  /** Leave rtpengine for `why` (a command on `leg` needs onair's media). */
  private leave(leg: LegId, why: string): void {
    const p = this.byLeg.get(leg);
    if (p === undefined || p.state === 'onair' || p.state === 'leaving') return;
    this.leaveNow(p, why);
  }

  private leaveNow(p: Pair, why: string): void {
    const wasRelayed = p.state === 'relayed';
    const journaled = wasRelayed || p.state === 'moving';
    this.to(p, 'leaving');
    if (wasRelayed) this.relayedNow--;
    if (journaled) this.d.persist?.(p.callId, null);
    // First, in order before whatever command follows: onair's legs send again.
    for (const leg of [p.caller.leg, p.agent.leg]) {
      const r = this.remotes.get(leg);
      if (r !== undefined) void this.innerSetRemote(leg, r);
    }
    const enter = p.task;
    p.task = (async () => {
      await enter;
      for (const s of [p.caller, p.agent]) {
        if (s.at !== 'rtpengine' || s.gone || !this.live(p, 'leaving')) continue;
        // Back to our own leg, in the codec of the bridge.
        const back = await this.reinvite(p, s, s.local, [p.codec!], this.remotes.get(s.leg)?.dtmfPayloadType ?? -1, undefined);
        if (!back.usable) this.d.log.warn({ callId: p.callId, side: s.role }, 'phone did not take the move back to onair\'s leg');
        s.at = 'onair';
      }
      const session = p.session;
      p.session = undefined;
      if (session !== undefined) void this.d.ng.delete({ callId: session });
      if (this.live(p, 'leaving')) this.to(p, 'onair');
      this.d.log.debug({ callId: p.callId, why }, 'bridged call back on onair\'s relay');
    })().catch((err: unknown) => this.d.log.error({ err, callId: p.callId }, 'rtpengine move back failed'));
  }

  /** The call is over (or has a new agent): delete the session, no re-INVITE. */
  private forget(p: Pair, why: string): void {
    if (this.byLeg.get(p.caller.leg) === p) this.byLeg.delete(p.caller.leg);
    if (this.byLeg.get(p.agent.leg) === p) this.byLeg.delete(p.agent.leg);
    if (p.state === 'relayed') this.relayedNow--;
    const session = p.session;
    p.session = undefined;
    if (session !== undefined) {
      void this.d.ng.delete({ callId: session }).then((r) => {
        if (!r.ok) this.d.log.warn({ callId: p.callId, code: r.code, reason: r.reason }, 'rtpengine delete failed (its own timeout ends the session)');
      });
    }
    this.d.log.debug({ callId: p.callId, why }, 'relay of the call ended');
  }

  /**
   * Re-INVITE one phone to `to` with our origin line: `accepted` when it answered 2xx (it sends to
   * `to` now), `usable` when its answer's media is what we can use (and, when `expect` is given,
   * at the address rtpengine was told). A phone moved back to onair's leg gets its answer's media
   * on that leg.
   */
  private async reinvite(p: Pair, s: Side, to: RelayEndpoint, codecs: G711[], dtmf: number, expect: LegRemote | undefined): Promise<{ accepted: boolean; usable: boolean }> {
    const local = {
      address: to.address, port: to.port, codecs, dtmf: dtmf >= 0, ...(dtmf >= 0 ? { dtmfPayloadType: dtmf } : {}),
      sessionId: s.sessionId, sessionVersion: ++s.version,
    };
    const r = await this.d.ua.sendInDialog(s.dialog, 'INVITE', { body: sdpBody(createOffer(local)), contentType: 'application/sdp' });
    if (typeof r === 'string' || r.status >= 300) {
      this.d.log.warn({ callId: p.callId, side: s.role, result: typeof r === 'string' ? r : r.status }, 're-INVITE refused');
      return { accepted: false, usable: false };
    }
    const answer = acceptAnswer(r.body.toString('latin1'), local);
    if (!answer.ok) return { accepted: true, usable: false };
    if (expect !== undefined) {
      return { accepted: true, usable: answer.remote.address === expect.address && answer.remote.port === expect.port && !answer.remote.hold };
    }
    // Back on our leg: follow what the phone answered (it may have moved its own port).
    const remote = toLegRemote(answer.remote);
    this.remotes.set(s.leg, remote);
    void this.innerSetRemote(s.leg, remote);
    return { accepted: true, usable: true };
  }

  private innerSetRemote(leg: LegId, remote: LegRemote): Promise<unknown> {
    return this.d.media.setRemote(leg, remote).catch(() => undefined);
  }

  /** Still this pair's move, in this state (a leave or the end of the call may have come between). */
  private live(p: Pair, state: RelayState): boolean {
    return p.state === state && this.byLeg.get(p.caller.leg) === p;
  }

  private fallback(p: Pair, reason: RelayFallback, detail: string): void {
    this.fallbackCounts[reason]++;
    this.d.log.warn({ callId: p.callId, reason, detail }, 'rtpengine not used for this call: onair relays it');
  }

  private to(p: Pair, next: RelayState): void {
    if (!RELAY_NEXT[p.state].includes(next)) {
      throw new CallsError('CALLS_ERR_ILLEGAL_TRANSITION', `relay of ${p.callId}: ${p.state} → ${next}`);
    }
    p.state = next;
  }
}

/** A side of the pair from our own SDP in its dialog. */
function side(role: Side['role'], leg: LegId, dialog: Dialog, ours: Buffer): Side | undefined {
  const sdp = parseSdp(ours.toString('latin1'));
  if (!sdp.ok) return undefined;
  const ep = sdpEndpoint(ours.toString('latin1'));
  if (!ep.ok) return undefined;
  const version = Number.parseInt(sdp.sdp.origin.sessionVersion, 10);
  return {
    role, leg, dialog, sessionId: sdp.sdp.origin.sessionId, version: Number.isSafeInteger(version) ? version : 1, local: ep.endpoint, at: 'onair', gone: false,
  };
}

/** Why a bridged pair cannot go through rtpengine as it is, or null. */
function unsuitable(cr: LegRemote | undefined, ar: LegRemote | undefined): string | null {
  if (cr === undefined || ar === undefined) return 'a leg without remote media';
  // rtpengine forwards packets as they are: both phones must speak the same codec and payload
  // types (onair's worker would transcode; rtpengine is started without transcoding).
  if (cr.codec === undefined || cr.codec !== ar.codec) return 'the two phones use different codecs';
  if ((cr.payloadType ?? -1) !== (ar.payloadType ?? -1)) return 'different payload types';
  if ((cr.dtmfPayloadType ?? -1) !== (ar.dtmfPayloadType ?? -1)) return 'different telephone-event payload types';
  if (cr.hold === true || ar.hold === true) return 'a phone holds the call';
  return null;
}

function ngFallback(r: Extract<NgResult<unknown>, { ok: false }>): RelayFallback {
  return r.code === 'RTPENGINE_ERR_TIMEOUT' || r.code === 'RTPENGINE_ERR_SEND' ? 'unreachable' : 'refused';
}

// ---- a relayed call outliving its node (issue 19) ------------------------------------------

/**
 * What the journal row of a relayed call keeps (`call_journal.relay`, JSON): both dialogs as they
 * were when the phones had moved to rtpengine, and the rtpengine call id. Enough for another node
 * to recognise either phone's BYE, hang up the other phone and delete the rtpengine session.
 */
export interface RelaySnapshot {
  v: 1;
  session: string;
  caller: DialogSnapshot;
  agent: DialogSnapshot;
}

const text = z.string().min(1).max(2048);
const dialogSnapshot = z.object({
  role: z.enum(['uac', 'uas']), callId: text, localTag: text, remoteTag: text, local: text, remote: text, remoteTarget: text,
  routeSet: z.array(text).max(16), localSeq: z.number().int().nonnegative(), remoteSeq: z.number().int().nonnegative().nullable(),
  secure: z.boolean(), localContact: text,
});
const relaySnapshot = z.object({ v: z.literal(1), session: text, caller: dialogSnapshot, agent: dialogSnapshot });

/** How far above a snapshot's local CSeq an adopting node starts (RFC 3261 allows gaps, not a step back). */
const SNAPSHOT_CSEQ_MARGIN = 1000;

/** The snapshot of a pair, as JSON. */
function snapshotOf(p: Pair): string {
  const s: RelaySnapshot = { v: 1, session: p.session!, caller: p.caller.dialog.snapshot(), agent: p.agent.dialog.snapshot() };
  return JSON.stringify(s);
}

/** A journal row with a relay snapshot (structurally `JournalEntry` of engine/store). */
export interface RelayedEntry {
  callId: string;
  relay: string | null;
}

/** What {@link AdoptedRelays} needs. */
export interface AdoptedRelaysDeps {
  ua: {
    addDialog(dialog: Dialog, delegate: DialogDelegate, inbound: { source: Endpoint }, localSdp: Buffer | undefined): void;
    bye(dialog: Dialog): Promise<SipResponse | 'timeout' | 'transport'>;
  };
  ng: Pick<NgClient, 'delete' | 'query'>;
  /** Write the call's CDR (answered, ended at `endedAt`) and remove its journal row. */
  finish(callId: string, endedAt: number, releasedBy: ReleasedBy): Promise<void>;
  /** `media.rtpTimeoutSeconds` in ms: the call ends when rtpengine saw no packet for this long (or forgot the call); 0 = never. */
  rtpTimeoutMs: number;
  log: Logger;
  /** Epoch clock (CDR times) and the watch's timers. Default the real one. */
  clock?: Clock;
}

interface Adopted {
  callId: string;
  session: string;
  caller: Dialog;
  agent: Dialog;
  ended: boolean;
  timer: TimerHandle | undefined;
  packets: number;
  quietSince: number;
}

/**
 * The relayed calls a node took over from the journal of a node that died (or was fenced): their
 * phones still talk through rtpengine, and this node holds their two dialogs so that
 *
 * - a BYE from either phone is answered 200 (by the user agent), the other phone gets a BYE, the
 *   rtpengine session is deleted and the CDR is written with the real end time;
 * - a call rtpengine no longer carries (no packet for `rtpTimeoutMs`, or the session gone: the
 *   phones hung up towards the dead node) is ended the same way by this node (`system`);
 * - a re-INVITE is refused (488: the session stays as it is; nothing here can move media).
 *
 * `stop()` ends every adopted call (a node that stops hangs its calls up).
 */
export class AdoptedRelays {
  readonly #d: AdoptedRelaysDeps;
  readonly #clock: Clock;
  readonly #calls = new Map<string, Adopted>();

  constructor(deps: AdoptedRelaysDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? epochClock;
  }

  /** Calls held now. */
  get size(): number {
    return this.#calls.size;
  }

  /**
   * Take over the call of `entry`: false (and nothing held) when its snapshot is unreadable, so
   * that the caller ends it as a cut-off call instead.
   */
  adopt(entry: RelayedEntry, resolve: (dialog: Dialog) => Endpoint): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(entry.relay ?? '');
    } catch {
      parsed = undefined;
    }
    const snap = relaySnapshot.safeParse(parsed);
    // Our requests in either dialog start above what the dead node may have sent after its snapshot
    // (a re-INVITE of the move, a session refresh): a phone refuses a CSeq lower than it saw (§12.2.2).
    const ahead = (d: DialogSnapshot): DialogSnapshot => ({ ...d, localSeq: d.localSeq + SNAPSHOT_CSEQ_MARGIN });
    const caller = snap.success ? Dialog.restore(ahead(snap.data.caller)) : undefined;
    const agent = snap.success ? Dialog.restore(ahead(snap.data.agent)) : undefined;
    if (!snap.success || caller === undefined || agent === undefined || this.#calls.has(entry.callId)) {
      this.#d.log.warn({ callId: entry.callId }, 'relayed call not adopted: its journal snapshot is unreadable');
      return false;
    }
    const now = this.#now();
    const a: Adopted = { callId: entry.callId, session: snap.data.session, caller, agent, ended: false, timer: undefined, packets: -1, quietSince: now };
    this.#calls.set(a.callId, a);
    const delegate = (side: 'caller' | 'agent'): DialogDelegate => ({
      onBye: () => void this.#end(a, side),
      onReinvite: (_dialog, request) => void request.respond(488),
      onTerminated: () => void this.#end(a, 'system'),
    });
    this.#d.ua.addDialog(caller, delegate('caller'), { source: resolve(caller) }, undefined);
    this.#d.ua.addDialog(agent, delegate('agent'), { source: resolve(agent) }, undefined);
    if (this.#d.rtpTimeoutMs > 0) this.#watch(a);
    this.#d.log.info({ callId: a.callId, session: a.session }, 'relayed call of the previous active adopted: its phones talk through rtpengine');
    return true;
  }

  /** End every adopted call (BYE to both phones). Idempotent. */
  async stop(): Promise<void> {
    await Promise.all([...this.#calls.values()].map((a) => this.#end(a, 'system')));
  }

  #now(): number {
    return this.#clock.now();
  }

  /** Check rtpengine's packet count every half timeout: quiet for the whole timeout, or forgotten, ends the call. */
  #watch(a: Adopted): void {
    const every = Math.max(500, Math.floor(this.#d.rtpTimeoutMs / 2));
    a.timer = this.#clock.setTimer(every, () => {
      a.timer = undefined;
      void this.#d.ng.query({ callId: a.session }).then((q) => {
        if (a.ended) return;
        const now = this.#now();
        if (!q.ok && q.code === 'RTPENGINE_ERR_REFUSED') {
          void this.#end(a, 'system');
          return;
        }
        if (q.ok && q.value.packets !== a.packets) {
          a.packets = q.value.packets;
          a.quietSince = now;
        }
        if (now - a.quietSince >= this.#d.rtpTimeoutMs) void this.#end(a, 'system');
        else this.#watch(a);
      });
    });
  }

  async #end(a: Adopted, by: ReleasedBy): Promise<void> {
    if (a.ended) return;
    a.ended = true;
    const endedAt = this.#now();
    if (a.timer !== undefined) this.#clock.clearTimer(a.timer);
    this.#calls.delete(a.callId);
    // The phone that hung up has its 200 already (the user agent ended that dialog); the other gets a BYE.
    const byes: Promise<unknown>[] = [];
    if (by !== 'caller') byes.push(this.#d.ua.bye(a.caller));
    if (by !== 'agent') byes.push(this.#d.ua.bye(a.agent));
    const deleted = await this.#d.ng.delete({ callId: a.session });
    if (!deleted.ok) this.#d.log.warn({ callId: a.callId, code: deleted.code }, 'rtpengine delete of an adopted call failed (its own timeout ends the session)');
    try {
      await this.#d.finish(a.callId, endedAt, by);
    } catch (err) {
      this.#d.log.error({ err, callId: a.callId }, 'CDR of an adopted relayed call not written (it stays in the journal for the next recovery)');
    }
    await Promise.all(byes);
    this.#d.log.info({ callId: a.callId, releasedBy: by }, 'adopted relayed call ended');
  }
}
