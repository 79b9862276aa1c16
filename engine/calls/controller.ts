/**
 * Call control: the B2BUA that joins a carrier's call, the IVR, the ACD's decisions and an agent's
 * phone (ARCHITECTURE.md, "One inbound call"). The only place that knows SIP dialogs, media legs
 * and ACD effects at once.
 *
 * ```
 *  INVITE ─▶ capacity ─▶ trunk ─▶ CRM look-up ─▶ blacklist? ─▶ media leg + SDP ─▶ 183/200
 *         ─▶ IVR flow ─▶ acd.enqueue ─▶ hold audio + announcements
 *  offer  ─▶ INVITE agent (leg near the caller's) ─▶ 200 ─▶ bridge ─▶ acd.offerAnswered
 *  BYE either side ─▶ BYE the other ─▶ acd.callEnded ─▶ wrap-up ends ─▶ CDR through the outbox
 *  caller leaves before an agent ─▶ callback task (deduplicated by number)
 * ```
 *
 * A call's phase changes only through {@link transition} (phase.ts: the table of legal moves).
 * Every ACD input goes through {@link CallController.apply}, which runs the effects and keeps one
 * timer at the ACD's next deadline. CRM call events go to the durable outbox as they happen
 * (`Store.callEvent`); the CDR follows when the call and the agent's wrap-up are over.
 */
import type { Logger } from 'pino';
import type { Acd, AcdEffect } from '../acd/index.ts';
import { unescapeUri, type OverloadCause } from '../sip/index.ts';
import type {
  Clock, Dialog, DialogDelegate, Endpoint, IncomingInvite, IncomingRequest, OutgoingInvite, SipRequest, SipResponse, TimerHandle,
} from '../sip/index.ts';
import type { Playlist, PlaylistItem, RemoteMedia, LegId, LegRemote, G711, LegStats } from '../../media/index.ts';
import { negotiate, acceptAnswer, createOffer } from '../../media/index.ts';
import type { DialEvents, DialRequest, OutboundCall } from '../outbound/index.ts';
import type { Store, CallbackInput } from '../store/index.ts';
import type { CallerInfo, CallEvent, CallTreatment, Cdr, CdrOutcome, ReleasedBy } from '../../crm-adapter/index.ts';
import { CONTRACT_VERSION, unknownCaller } from '../../crm-adapter/index.ts';
import type {
  AgentDeskPort, AgentDirectory, CallbackOffers, CallControlEvent, CallerLookup, CallMedia, CallsSettings, CallUserAgent, DeskAction, Flow,
  MenuAction, NumberRoute, OverloadPolicy, QueueCallSettings, RejectReason, TrunkAdmission, TrunkGate,
} from './types.ts';
import { epochClock } from '../clock/index.ts';
import { transition, isEnded, type CallPhase } from './phase.ts';
import { RefusalRecorder } from './refusals.ts';
import { DEFAULT_OVERLOAD_POLICY, MediaAdmission, defaultQueueOf, type MediaAdmissionFigures } from './media-admission.ts';
import { parseDtmfInfo } from './dtmf-info.ts';
import { DEFAULT_QUEUE_CALL_SETTINGS } from './settings.ts';
import { allHold } from './flow-conditions.ts';
import { agentLocalMedia, answerReinvite, ringAgentPhone, sdpBody, toLegRemote, type AgentLocalMedia } from './ring.ts';
import type { CallRecordings } from './recording.ts';
import type { CallMonitor, MonitoredCall } from './monitor.ts';
import { holdIntent, type HoldIntent } from './hold.ts';
import {
  REFUSAL_STATUS, Transfers, checkApiTransfer, checkRefer, notifyRefer, type ApiTransferAnswer, type ApiTransferTarget, type TransferCounters,
  type ApiTransferRefusal, type TransferKind, type TransferOutcomes, type TransferRefusal,
} from './transfer.ts';
import { runQueryStep, type CrmQuery, type QueryStep } from './query.ts';
import { planProducts, runProductMenus, type ProductsStep, type RuntimePromptPort } from './products.ts';
import { Consults, type ConsultAnswer, type ConsultView } from './consult.ts';
import { consultingCall } from './phone-consult.ts';
import { notePlayed } from './played.ts';
import type { BridgeRelay } from './rtpengine-relay.ts';
import { dtmfDigit, promptPlaylist, runCollect, runMenu, type CollectStep, type DtmfHost, type DtmfInput, type MenuStep } from './dtmf-steps.ts';

export type { CallPhase } from './phase.ts';

/** A call in progress (exposed read-only for the API). */
export interface CallRecord {
  readonly id: string;
  /** The carrier's SIP Call-ID of the INVITE. */
  readonly sipCallId: string;
  readonly phase: CallPhase;
  readonly caller: string;
  readonly dialled: string;
  readonly trunk: string;
  customer: CallerInfo;
  route: NumberRoute;
  queue: string | null;
  agentId: string | null;
  priority: number;
  lang: 'en' | 'zh';
  readonly arrivedAt: number;
  /**
   * How long the INVITE waited between the socket and call control (work classes under load), ms:
   * added to latencies the caller feels, which `arrivedAt` (call control's clock) would hide.
   */
  readonly readLagMs?: number;
  ivrExitAt: number | null;
  queuedAt: number | null;
  offeredAt: number | null;
  answeredAt: number | null;
  offers: number;
}

/** How the engine is sending a caller away (phase `closing`): decided before the last prompt. */
interface Closing {
  outcome: CdrOutcome;
  callback: CallbackInput['reason'] | null;
}

interface Call extends CallRecord {
  phase: CallPhase;
  invite: IncomingInvite;
  admission: TrunkAdmission;
  /** The caller's dialog once we answered (200). */
  callerDialog: Dialog | undefined;
  /** Answered with 200 (not just 183). */
  callerAnswered: boolean;
  /** The caller's ACK for our 200 arrived: the call is confirmed (RFC 3261 §13.3.1.4). */
  callerAcked: boolean;
  /** The queue a caller answered but not yet confirmed is to enter at its ACK. */
  awaitingAck: string | null;
  callerLeg: LegId | undefined;
  /** Call variables from the IVR (collect steps): screen pop headers, events, the CDR. */
  vars: Record<string, string>;
  callerCodec: G711;
  /** Our SDP to the caller (sent in 183 and 200). */
  localSdp: Buffer | undefined;
  agentLeg: LegId | undefined;
  /** The agent leg's media as offered to the phone (a re-INVITE from the phone is answered with it). */
  agentLocal: AgentLocalMedia | undefined;
  agentInvite: OutgoingInvite | undefined;
  agentDialog: Dialog | undefined;
  /** Generation of the current offer, so late answers of a cancelled offer are recognised. */
  offerSeq: number;
  /** Current playback id (playbackDone of older ones is ignored). */
  playId: number;
  /** Waiting for playbackDone of `playId` to run this. */
  afterPlay: (() => void) | undefined;
  ivr: IvrState | undefined;
  /** Digit handler while queued (callback offer). */
  queueDigits: ((digit: string) => void) | undefined;
  answerTimer: TimerHandle | undefined;
  /** Set with phase `closing`. */
  closing: Closing | undefined;
  /** The first playback to the caller started (for the first-media latency). */
  mediaStarted: boolean;
  /** What the caller got on arrival (the CDR's `treatment`). */
  treatment: CallTreatment;
  /** Held in `180 Ringing` without media now (media-admission.ts). */
  ringing: boolean;
  /** How long the caller was held in ringing (set when the hold ends). */
  ringingMs: number;
  /** Holds one of the media capacity's streams (IVR or hold audio), until it ends or is bridged. */
  streaming: boolean;
  /** The ringing limit of a held caller. */
  ringTimer: TimerHandle | undefined;
  /** A held caller's media, set on the leg when it gets media or an agent (no RTP before). */
  pendingRemote: LegRemote | undefined;
  /** The external party of a transfer to a number (phase `external`); its media is `agentLeg`. */
  external: OutboundCall | undefined;
  /** Prompts played to the caller, in order (the CDR's `played`, played.ts). */
  played: string[];
  /** A self-service answer was read out to the end (query.ts `served`): hanging up then is `completed_ivr`. */
  selfServed: boolean;
}

/** A caller in a flow: the flow, its step, and the DTMF input state (dtmf-steps.ts). */
interface IvrState extends DtmfInput {
  flow: Flow;
  step: number;
}

/** An answered call's CDR waiting for the end of its agent's wrap-up (the measured `wrapUpEndAt`). */
interface PendingCdr {
  cdr: Cdr;
}

/** How long a transferring phone has to hang up after the final NOTIFY before we do (RFC 3515 §2.4.7). */
const REFER_BYE_GRACE_MS = 5000;

/** A transfer asked for by a phone's REFER: answered as one (202 and NOTIFYs, or the refusal's status). */
interface ReferOrigin {
  req: IncomingRequest;
  dialog: Dialog | undefined;
  referredBy: string | null;
}

/** The SIP refusal of a REFER that the API's rules refused (transfer.ts REFUSAL_STATUS gives the status). */
const REFER_REFUSAL_OF: Readonly<Record<ApiTransferRefusal, TransferRefusal>> = {
  CALLS_ERR_NO_CALL: 'notTalking',
  CALLS_ERR_NOT_TALKING: 'notTalking',
  CALLS_ERR_UNKNOWN_TARGET: 'unknownTarget',
  CALLS_ERR_AGENT_BUSY: 'targetBusy',
  CALLS_ERR_LOOP: 'loop',
  CALLS_ERR_NO_PHONE: 'cannotDial',
  CALLS_ERR_MEDIA: 'cannotDial',
};

/** The SIP reason phrase confirming a feature code on the agent's phone. */
const DESK_PHRASE: Readonly<Record<DeskAction, string>> = {
  ready: 'Agent Ready', notReady: 'Agent Not Ready', logout: 'Agent Logged Out', login: 'Agent Logged In',
};

/** `own[key]` only for the object's own keys: a dialled `constructor` is not `Object.prototype.constructor`. */
function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** RTP counters of a call's legs (see {@link CallController.mediaStats}). */
export interface CallMediaStats {
  /** The carrier side: hold audio and relayed agent audio sent, caller audio received. */
  caller: LegStats | null;
  /** The agent's phone side: relayed caller audio sent, agent audio received. */
  agent: LegStats | null;
}

/** What the controller needs. */
export interface CallControllerDeps {
  ua: CallUserAgent;
  acd: Acd;
  media: CallMedia;
  store: Store;
  lookup: CallerLookup;
  trunks: TrunkGate;
  agents: AgentDirectory;
  /** Agent status changes asked for by feature codes (contract C2). */
  desk: AgentDeskPort;
  settings: CallsSettings;
  log: Logger;
  /** Observers: API events, metrics. A throwing observer is logged and ignored. */
  observe?: (event: CallControlEvent) => void;
  /** The route of an inbound call with its programme and airing from the broadcast schedule (engine/reports), else the number plan's. */
  attribute?: (planned: NumberRoute, dialled: string, at: number) => NumberRoute;
  /** Epoch milliseconds and timers (a fake clock in tests). Default: `Date.now` and Node timers. */
  clock?: Clock;
  /**
   * Where the ACD effects of callback entries go (engine/dialer): call control owns inbound calls
   * only. Without it the ACD must hold no callback entries (an offer of one is declined).
   */
  callbacks?: CallbackOffers;
  /** The wrap-up codes agents chose (disposition.ts): stamped on each CDR as it is written. */
  dispositions?: { stamp(cdr: Cdr): Cdr };
  /** Recording of bridged calls (issue 16); without it nothing is recorded. */
  recordings?: CallRecordings;
  /** Supervisor monitoring (issue 16); its entries go into the CDR. */
  monitor?: CallMonitor;
  /** Outbound trunks (engine/outbound): API transfers to a number; absent = such transfers refused. */
  outbound?: { dial(req: DialRequest, events: DialEvents): OutboundCall };
  /** The CRM's IVR self-service (query.ts); without it a flow's query step takes its fallback. */
  query?: CrmQuery;
  /** Whether the prompt set has a prompt (`zh/products/wok-01`): a readout names a product only then. */
  hasPrompt?: (name: string) => boolean;
  /** Run-time prompts (media/prompts/tts.ts): a products step's names and descriptions; absent = recorded names only. */
  tts?: RuntimePromptPort;
  /** rtpengine as the relay of bridged calls (`media.relay`, rtpengine-relay.ts); absent = onair relays. */
  relay?: BridgeRelay;
}

/** The B2BUA. */
export class CallController {
  private readonly d: CallControllerDeps;
  private readonly calls = new Map<string, Call>();
  private readonly byLeg = new Map<LegId, Call>();
  /** Agent id → the CDR of its last call, until its wrap-up ends. */
  private readonly wrapUps = new Map<string, PendingCdr>();
  private readonly refusals: RefusalRecorder;
  /** Transfers and holds: the REFER rules, each call's legs and hold time (transfer.ts). */
  private readonly xfer = new Transfers();
  /** The media capacity and the callers held in ringing (issue 13). */
  private readonly admission: MediaAdmission;
  /** Attended transfers: each call's consultation of a second agent (consult.ts). */
  private readonly consults: Consults<Call>;
  private nextCallNumber = 1;
  private acdTimer: TimerHandle | undefined;
  private acdTimerAt = Infinity;
  private draining = false;
  private readonly clock: Clock;
  /** Resolves when the last call ends during a drain. */
  private drained: (() => void) | undefined;

  constructor(deps: CallControllerDeps) {
    this.d = deps;
    this.clock = deps.clock ?? epochClock;
    this.refusals = new RefusalRecorder(deps.settings.refusals);
    this.admission = new MediaAdmission(deps.settings.mediaStreams ?? null);
    this.consults = new Consults<Call>({
      ua: deps.ua, media: deps.media, agents: deps.agents, acd: deps.acd, clock: this.clock, log: deps.log, xfer: this.xfer,
      rtpTimeoutMs: deps.settings.rtpTimeoutMs, apply: (e) => this.apply(e), holdCaller: (c) => this.holdCaller(c, 'consultation'),
      releaseAgentLeg: (c) => this.releaseAgentLeg(c), adoptAgentLeg: (c, leg) => { c.agentLeg = leg; this.byLeg.set(leg, c); },
      agentDialogDelegate: (c) => this.agentDialogDelegate(c), answered: (c, now) => this.answeredBy(c, now),
      ringTimeoutMs: (c) => this.queueSettings(c.queue).consultRingTimeoutMs,
      changed: (c, consulted, from, state, at) => this.emit({ type: 'call.consult', callId: c.id, agentId: from, consulted, state, at }),
      monitored: (c) => deps.monitor?.monitoring(c.id) ?? false,
      bridgedAgain: (c) => this.monitorRejoin(c),
    });
    deps.media.delegate = {
      dtmf: (leg, digit) => this.onDigit(leg, digit),
      playbackDone: (leg, playId) => this.onPlaybackDone(leg, playId),
      rtpTimeout: (leg) => this.onRtpTimeout(leg),
      workerExit: (_w, legs) => { for (const leg of legs) this.onRtpTimeout(leg); },
    };
  }

  private now(): number {
    return this.clock.now();
  }

  /** Calls in progress. */
  get size(): number {
    return this.calls.size;
  }

  /** The media capacity in force, streams in use and callers held in ringing (for the gauges). */
  mediaFigures(): MediaAdmissionFigures {
    return this.admission.figures();
  }

  /** Answered calls whose CDR waits for the end of the agent's wrap-up. */
  get pendingCdrs(): number {
    return this.wrapUps.size;
  }

  /**
   * The record of an answered call that is over while its agent is in wrap-up (its CDR is written
   * when the wrap-up ends), or undefined: what the shop's order entry reads for a call in that gap.
   */
  inWrapUp(callId: string): Readonly<Cdr> | undefined {
    for (const p of this.wrapUps.values()) if (p.cdr.callId === callId) return p.cdr;
    return undefined;
  }

  /** Calls in progress, for the API. */
  list(): CallRecord[] {
    return [...this.calls.values()].map((c) => ({
      id: c.id, sipCallId: c.sipCallId, phase: c.phase, caller: c.caller, dialled: c.dialled, trunk: c.trunk, customer: c.customer,
      route: c.route, queue: c.queue, agentId: c.agentId, priority: c.priority, lang: c.lang, arrivedAt: c.arrivedAt,
      ivrExitAt: c.ivrExitAt, queuedAt: c.queuedAt, offeredAt: c.offeredAt, answeredAt: c.answeredAt, offers: c.offers,
    }));
  }

  /**
   * RTP counters of a call's two legs (`null` for a leg it does not have, e.g. before an offer), or
   * undefined when no such call is in progress. Legs are released when the call ends, so read
   * this while it is up.
   */
  async mediaStats(callId: string): Promise<CallMediaStats | undefined> {
    const call = this.calls.get(callId);
    if (!call) return undefined;
    const read = async (leg: LegId | undefined): Promise<LegStats | null> => {
      if (leg === undefined) return null;
      const r = await this.d.media.legStats(leg);
      return r.ok ? r.value : null;
    };
    const [caller, agent] = await Promise.all([read(call.callerLeg), read(call.agentLeg)]);
    return { caller, agent };
  }

  /**
   * The legs of a call bridged to its agent (monitoring joins them), null for a call in progress
   * that is not, undefined for no such call.
   */
  bridged(callId: string): MonitoredCall | null | undefined {
    const c = this.calls.get(callId);
    if (c === undefined) return undefined;
    if (c.phase !== 'talking' || c.callerLeg === undefined || c.agentLeg === undefined) return null;
    return { callId: c.id, caller: c.caller, callerLeg: c.callerLeg, agentLeg: c.agentLeg, codec: c.callerCodec, consultation: this.consults.view(c.id)?.state ?? null };
  }

  /** Feed an ACD input's effects (registrar, desk and API use this for agent changes). */
  apply(effects: AcdEffect[]): void {
    for (const e of effects) {
      try {
        this.effect(e);
      } catch (err) {
        this.d.log.error({ err, effect: e }, 'ACD effect failed');
      }
    }
    this.scheduleAcd();
    // A held caller whose agent's phone stopped ringing (declined, timed out) is back in the
    // queue: a stream left free while it rang is its now.
    this.promoteHeld();
  }

  /**
   * Run one ACD input, time it (routing latency), and apply its effects: the one effect loop, also
   * for the dialer's inputs (its effects may offer an inbound caller, and ours a callback task).
   */
  /** REFER outcomes so far (accepted, and each refusal), for metrics and tests. */
  transferCounters(): Readonly<TransferCounters> {
    return this.xfer.counters;
  }

  /** Transfers by kind and result (`onair_transfers_total`). */
  transferOutcomes(): Readonly<TransferOutcomes> {
    return this.xfer.outcomes;
  }

  decide(input: () => AcdEffect[]): void {
    this.apply(this.timed(input));
  }

  private timed(input: () => AcdEffect[]): AcdEffect[] {
    const t0 = performance.now();
    const effects = input();
    this.emit({ type: 'acd.decision', latencyMs: performance.now() - t0 });
    return effects;
  }

  /**
   * Stop taking calls (503) and resolve when every call has ended or `deadlineMs` passed; calls
   * still up at the deadline are hung up (callers waiting become callback tasks). CDRs waiting for
   * a wrap-up are written with the wrap-up ended now (the engine stops under it).
   */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    if (this.calls.size > 0) {
      await new Promise<void>((resolve) => {
        const t = this.clock.setTimer(deadlineMs, resolve);
        this.drained = () => { this.clock.clearTimer(t); resolve(); };
      });
    }
    for (const call of [...this.calls.values()]) this.hangUpEverything(call, 'system');
    for (const agentId of [...this.wrapUps.keys()]) this.wrapUpEnded(agentId);
    if (this.acdTimer !== undefined) this.clock.clearTimer(this.acdTimer);
  }

  // ---- phases -----------------------------------------------------------------------------------

  /** The one place a call's phase changes (phase.ts), traced at debug level. */
  private to(call: Call, phase: CallPhase): void {
    const from = transition(call, phase);
    if (this.d.log.isLevelEnabled('debug')) {
      this.d.log.debug({ callId: call.id, sipCallId: call.sipCallId, from, to: phase, queue: call.queue, agentId: call.agentId }, 'call phase');
    }
  }

  /** Log context of a call: the engine's id and the carrier's Call-ID. */
  private ctx(call: Call): { callId: string; sipCallId: string } {
    return { callId: call.id, sipCallId: call.sipCallId };
  }

  private queueSettings(queue: string | null): Readonly<QueueCallSettings> {
    return (queue === null ? undefined : own(this.d.settings.queues, queue)) ?? DEFAULT_QUEUE_CALL_SETTINGS;
  }

  // ---- inbound ------------------------------------------------------------------------------

  /** A new INVITE outside a dialog. */
  onInvite(invite: IncomingInvite): void {
    // Escapes decoded the SIP layer's way: a malformed `%zz` stays as written, it cannot throw.
    const feature = own(this.d.settings.featureCodes, unescapeUri(invite.request.uri.user));
    if (feature) {
      this.featureCode(invite, feature);
      return;
    }
    if (this.phoneConsult(invite)) return;
    const admission = this.d.trunks.admit(invite);
    if (!admission) return;
    const now = this.now();
    const planned = own(this.d.settings.numbers, admission.dialled) ?? this.d.settings.defaultRoute;
    // The broadcast schedule names the airing by number and time (issue 18); the number plan is the fallback.
    const route = this.d.attribute?.(planned, admission.dialled, now) ?? planned;
    if (this.draining || this.calls.size >= this.d.settings.maxCalls) {
      this.busy(invite);
      this.rejectedForCapacity(invite.request.headers.callId, admission, route, now);
      return;
    }
    const call: Call = {
      id: this.newCallId(now), sipCallId: invite.request.headers.callId,
      phase: 'setup', caller: admission.caller, dialled: admission.dialled, trunk: admission.trunkId,
      customer: unknownCaller(), route, queue: null, agentId: null, priority: 0, lang: this.d.settings.language,
      arrivedAt: now, readLagMs: readLag(invite), ivrExitAt: null, queuedAt: null, offeredAt: null, answeredAt: null, offers: 0,
      invite, admission, callerDialog: undefined, callerAnswered: false, callerAcked: false, awaitingAck: null, callerLeg: undefined, callerCodec: 'PCMU',
      localSdp: undefined, agentLeg: undefined, agentLocal: undefined, agentInvite: undefined, agentDialog: undefined, offerSeq: 0, playId: -1,
      afterPlay: undefined, ivr: undefined, queueDigits: undefined, answerTimer: undefined, closing: undefined, mediaStarted: false,
      vars: Object.create(null) as Record<string, string>, played: [], selfServed: false,
      treatment: 'media', ringing: false, ringingMs: 0, streaming: false, ringTimer: undefined, pendingRemote: undefined, external: undefined,
    };
    this.calls.set(call.id, call);
    invite.onCancel = () => this.callerLeft(call, 'caller');
    this.emit({ type: 'call.arrived', callId: call.id, caller: call.caller, dialled: call.dialled, trunk: call.trunk, sipCallId: call.sipCallId, at: now });
    const journaled = this.d.store.journal.arrived(call.id, {
      caller: call.caller, dialled: call.dialled, programme: route.programme, airing: route.airing, customerId: null, queue: null,
    }, now).then(() => true, (err: unknown) => {
      this.d.log.error({ err, ...this.ctx(call) }, 'journal write failed');
      return false;
    });
    void this.setup(call, journaled).catch((err: unknown) => {
      this.d.log.error({ err, ...this.ctx(call) }, 'call setup failed');
      this.fail(call, 500);
    });
  }

  /**
   * A new INVITE the SIP layer refused with 503 for overload before call control saw it (`limit`:
   * transaction limits, a full work class; `late`: it waited past `scheduler.maxSignallingWaitMs`):
   * a caller at the signalling limit must not be lost either (issue 13), so a trunk caller
   * identified without answering anything is recorded as a capacity refusal, de-duplicated by
   * the same rule (RefusalRecorder) as one refused at `maxCalls`, and for `limit` bounded by the
   * trunk's refusal bucket too. Feature codes and sources no trunk trusts by address leave no trace.
   */
  onRefusedInvite(request: SipRequest, source: Endpoint, cause: OverloadCause = 'limit'): void {
    if (own(this.d.settings.featureCodes, unescapeUri(request.uri.user))) return;
    const admission = this.d.trunks.identifyRefused?.(request, source);
    if (admission === undefined) return;
    const route = own(this.d.settings.numbers, admission.dialled) ?? this.d.settings.defaultRoute;
    this.rejectedForCapacity(request.headers.callId, admission, route, this.now(), cause !== 'late');
  }

  /** 503 Service Unavailable with Retry-After (RFC 3261 §21.5.4): every capacity refusal says when to try again. */
  private busy(invite: IncomingInvite): void {
    invite.reject(503, { headers: [{ name: 'Retry-After', value: String(this.d.settings.retryAfterSeconds) }] });
  }

  private newCallId(now: number): string {
    return `c${now.toString(36)}-${(this.nextCallNumber++).toString(36)}`;
  }

  /**
   * A caller we could not take (over capacity, or draining) still must not be lost: a CDR and,
   * for a plausible number not refused lately, a callback task. Under a flood the trunk's refusal
   * bucket bounds both; what it did not record is counted (`call.refusalUnrecorded`).
   */
  private rejectedForCapacity(sipCallId: string, admission: TrunkAdmission, route: NumberRoute, now: number, bounded = true): void {
    const callId = this.newCallId(now);
    this.emit({ type: 'call.rejected', callId, caller: admission.caller, trunk: admission.trunkId, queue: null, reason: 'capacity', status: 503, at: now });
    const verdict = this.refusals.admit(admission.trunkId, admission.caller, now, bounded);
    if (!verdict.record) {
      this.emit({ type: 'call.refusalUnrecorded', trunk: admission.trunkId, at: now });
      return;
    }
    const cdr: Cdr = {
      contractVersion: CONTRACT_VERSION, callId, sipCallId, caller: admission.caller, dialled: admission.dialled,
      programme: route.programme, airing: route.airing, queue: null, agent: null, customerId: null, outcome: 'rejected_capacity',
      arrivedAt: now, ivrExitAt: null, queuedAt: null, offeredAt: null, answeredAt: null, endedAt: now, wrapUpEndAt: null,
      waitMs: 0, talkMs: 0, wrapUpMs: 0, offers: 0, releasedBy: 'system', callbackId: null, direction: 'inbound', variables: {},
      treatment: 'refused', ringingMs: 0,
    };
    const callback: CallbackInput | null = verdict.callback ? {
      caller: admission.caller, queue: this.d.settings.defaultCallbackQueue, arrivedAt: now, callId, reason: 'rejected_capacity',
      dialled: admission.dialled, programme: route.programme, customerId: null, airing: route.airing,
    } : null;
    this.writeCdr(cdr, callback, now);
  }

  private async setup(call: Call, journaled: Promise<boolean>): Promise<void> {
    const s = this.d.settings;
    // Nothing accepted is ever lost: the caller is answered only once the journal holds the call
    // (committed while the CRM is asked), so a crash or kill -9 after our 200 always leaves a row
    // that recovery turns into a CDR and a callback. A write that failed (a fenced node, the
    // database gone) answers 503 instead: not accepted, the proxy or carrier tries elsewhere.
    const [customer, held] = await Promise.all([this.d.lookup.lookup(call.caller, call.dialled, s.lookupDeadlineMs, call.id), journaled]);
    const lookedUpAt = this.now();
    call.customer = customer;
    if (isEnded(call)) return;
    if (!held) {
      this.fail(call, 503);
      return;
    }
    if (call.customer.language === 'zh' || call.customer.language === 'en') call.lang = call.customer.language;
    // The screen pop keeps the CRM's VIP level either way; only the queue priority is switched.
    call.priority = s.vipPriority ? call.customer.vipLevel : 0;
    if (call.customer.blacklisted && s.blacklistAction !== 'announce') {
      // Rejected before any media (PRODUCT.md 6): the toll-free line costs nothing more.
      const status = s.blacklistAction === 'reject-486' ? 486 : 603;
      call.invite.reject(status);
      this.rejected(call, 'blacklist', status);
      this.finish(call, 'rejected_blacklist', 'system', null);
      return;
    }
    // Media: a leg, the caller's offer, our answer.
    const offer = call.invite.request.body.toString('latin1');
    if (offer.length === 0) {
      // A late offer (INVITE without SDP) is not supported by carriers we serve; say so clearly.
      call.invite.reject(488, { reason: 'SDP Offer Required' });
      this.rejected(call, 'media', 488);
      this.finish(call, 'failed', 'system', 'failed');
      return;
    }
    // Media capacity (media-admission.ts): a stream, a place in ringing, or a refusal. A held
    // caller waits in the queue its flow reaches without a key pressed, so it keeps its place.
    const policy = call.admission.overload ?? DEFAULT_OVERLOAD_POLICY;
    const verdict = this.admission.arrive(call.id, policy, this.now());
    const heldQueue = verdict === 'ring' ? defaultQueueOf(s.flows, call.route.flow, call.priority > 0, this.now()) : null;
    if (verdict === 'refuse' || (verdict === 'ring' && heldQueue === null)) {
      this.refuseForMedia(call);
      return;
    }
    if (verdict === 'media') call.streaming = true;
    else {
      call.ringing = true;
      call.treatment = 'ringing';
    }
    const leg = await this.d.media.allocate({ inbandDtmf: call.admission.inbandDtmf, rtpTimeoutMs: s.rtpTimeoutMs });
    if (!leg.ok) {
      // The caller only sees a 503: the reason must be in the log.
      this.d.log.error({ ...this.ctx(call), code: leg.code, reason: leg.reason }, 'no media leg for the caller');
      if (isEnded(call)) return;
      this.busy(call.invite);
      this.rejected(call, 'media', 503);
      call.treatment = 'refused';
      // We know the number and failed them, not the other way round: a callback task keeps the
      // caller (the surge bench lost 111 callers here when RTP ports of the range were taken).
      this.finish(call, 'failed', 'system', 'rejected_capacity');
      return;
    }
    if (isEnded(call)) {
      void this.d.media.release(leg.value.leg);
      return;
    }
    call.callerLeg = leg.value.leg;
    this.byLeg.set(leg.value.leg, call);
    this.emit({ type: 'call.setupStages', callId: call.id, queuedMs: call.readLagMs ?? 0, lookupMs: lookedUpAt - call.arrivedAt, legMs: this.now() - lookedUpAt });
    const neg = negotiate(offer, { address: leg.value.address, port: leg.value.port, codecs: call.admission.codecs, dtmf: true });
    if (!neg.ok) {
      call.invite.reject(488, { reason: neg.reason.slice(0, 80) });
      this.rejected(call, 'media', 488);
      this.finish(call, 'failed', 'system', 'failed');
      return;
    }
    call.callerCodec = neg.remote.codec;
    call.localSdp = sdpBody(neg.answer);
    if (call.ringing) {
      this.holdInRinging(call, heldQueue!, policy, toLegRemote(neg.remote));
      return;
    }
    // Not awaited: the worker takes a leg's commands in order, so the prompt or hold audio started
    // below goes to this remote; waiting for the reply would add a worker and a main-thread turn
    // to every caller's time to first audio.
    const legId = call.callerLeg;
    void this.d.media.setRemote(legId, toLegRemote(neg.remote)).then((r) => {
      if (!r.ok) this.d.log.error({ ...this.ctx(call), code: r.code, reason: r.reason }, 'caller media remote not set');
    });
    if (call.admission.earlyMedia) {
      call.invite.progress(183, { body: call.localSdp, contentType: 'application/sdp' });
      call.answerTimer = this.clock.setTimer(Math.max(0, call.admission.answerAfterMs), () => this.answerCaller(call));
    } else {
      this.answerCaller(call);
    }
    if (isEnded(call)) return;
    this.to(call, 'ivr');
    this.startFlow(call, call.route.flow);
  }

  /**
   * Over the media capacity, by the trunk's policy (or a held caller with no queue to wait in):
   * 503 with Retry-After, and the caller is kept as a callback task.
   */
  private refuseForMedia(call: Call): void {
    this.admission.leave(call.id, this.now());
    call.ringing = false;
    call.treatment = 'refused';
    this.busy(call.invite);
    this.rejected(call, 'capacity', 503);
    this.finish(call, 'rejected_capacity', 'system', 'rejected_capacity');
  }

  /**
   * Hold the caller in `180 Ringing` without SDP (the carrier plays ringback; as Asterisk Queue's
   * `r` option) and queue it where its flow leads without a key pressed. Its leg has no remote
   * yet, so no RTP flows either way and no RTP timeout runs. The ringing limit keeps it from the
   * carrier's own cut-off.
   */
  private holdInRinging(call: Call, queue: string, policy: Readonly<OverloadPolicy>, remote: LegRemote): void {
    call.pendingRemote = remote;
    call.invite.progress(180);
    void this.d.store.journal.ringingHeld(call.id, this.now()).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'journal write failed'));
    call.ringTimer = this.clock.setTimer(policy.maxRingingMs, () => this.ringingLimit(call, policy));
    this.d.log.debug({ ...this.ctx(call), queue }, 'media capacity reached: caller held in ringing');
    this.to(call, 'ivr');
    this.enqueue(call, queue);
  }

  /** The hold ends (media given, an agent answered, the call ended): measure it, set the leg's remote. */
  private leaveRinging(call: Call, now = this.now()): void {
    if (call.ringTimer !== undefined) this.clock.clearTimer(call.ringTimer);
    call.ringTimer = undefined;
    call.ringing = false;
    call.ringingMs = this.admission.leave(call.id, now) ?? call.ringingMs;
    const remote = call.pendingRemote;
    call.pendingRemote = undefined;
    if (isEnded(call)) return;
    void this.d.store.journal.ringingEnded(call.id, call.ringingMs, this.now()).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'journal write failed'));
    if (remote && call.callerLeg) {
      void this.d.media.setRemote(call.callerLeg, remote).then((r) => {
        if (!r.ok) this.d.log.error({ ...this.ctx(call), code: r.code, reason: r.reason }, 'caller media remote not set');
      });
    }
  }

  /** A held caller at its ringing limit: media if a stream is free (or the policy says so), else 503. */
  private ringingLimit(call: Call, policy: Readonly<OverloadPolicy>): void {
    call.ringTimer = undefined;
    if (!call.ringing || isEnded(call)) return;
    const now = this.now();
    const r = this.admission.atLimit(call.id, policy, now);
    if (!r) return;
    if (r.verdict === 'media') {
      this.giveMedia(call, r.ringingMs);
      return;
    }
    call.ringing = false;
    call.ringingMs = r.ringingMs;
    call.pendingRemote = undefined;
    this.busy(call.invite);
    this.rejected(call, 'capacity', 503);
    const inAcd = call.phase === 'queued' || call.phase === 'offering';
    this.finish(call, 'rejected_capacity', 'system', 'rejected_capacity');
    // After the end: the ACD's withdrawal of a ringing offer finds the call over, not re-queued.
    if (inAcd) this.decide(() => this.d.acd.abandon(call.id, now));
  }

  /**
   * A held caller gets a stream (the admission already counted it): the media its trunk gives
   * (183 with SDP, or 200), then the queue's hold audio; its place in the queue is unchanged.
   */
  private giveMedia(call: Call, ringingMs: number): void {
    call.streaming = true;
    if (isEnded(call)) {
      this.streamFreed(call);
      return;
    }
    // The admission measured the hold when it gave the stream.
    call.ringingMs = ringingMs;
    this.leaveRinging(call);
    if (call.admission.earlyMedia) {
      call.invite.progress(183, { body: call.localSdp!, contentType: 'application/sdp' });
      call.answerTimer = this.clock.setTimer(Math.max(0, call.admission.answerAfterMs - ringingMs), () => this.answerCaller(call));
    } else {
      this.answerCaller(call);
    }
    if (call.phase === 'queued' || call.phase === 'offering') {
      this.play(call, { items: [{ kind: 'prompt', name: `${call.lang}/in-queue` }, this.holdMusic(call)], loop: true, loopFrom: 1 });
    }
  }

  /** The caller no longer holds a stream (bridged, or gone): the oldest held caller gets it. */
  private streamFreed(call: Call): void {
    if (!call.streaming) return;
    call.streaming = false;
    this.admission.streamEnded();
    this.promoteHeld();
  }

  /** Free streams to held callers, oldest first; one whose agent's phone rings is about to be bridged and waits. */
  private promoteHeld(): void {
    if (this.draining) return;
    const promoted = this.admission.promote(this.now(), (id) => this.calls.get(id)?.phase === 'queued');
    for (const p of promoted) {
      const call = this.calls.get(p.id);
      if (call) this.giveMedia(call, p.ringingMs);
      else this.admission.streamEnded();
    }
  }

  /** The caller's ACK for our 200; only the first one matters (re-INVITE ACKs come here too). */
  private callerAck(call: Call): void {
    if (call.callerAcked) return;
    call.callerAcked = true;
    const queue = call.awaitingAck;
    if (queue === null || call.phase !== 'ivr') return;
    call.awaitingAck = null;
    this.enqueue(call, queue, true);
  }

  /**
   * Our 200 was never acknowledged (Timer H) before the caller reached a queue: the peer never
   * confirmed the call, so it is no caller to call back; the CDR says 'failed', nothing else is kept.
   */
  private unconfirmed(call: Call): void {
    this.d.log.debug(this.ctx(call), 'caller never acknowledged the answer: call dropped, no callback');
    this.finish(call, 'failed', 'system', null);
  }

  private rejected(call: Call, reason: RejectReason, status: number): void {
    this.emit({ type: 'call.rejected', callId: call.id, caller: call.caller, trunk: call.trunk, queue: call.queue, reason, status, at: this.now() });
  }

  /**
   * Answer the caller (200 with our SDP); from then on the call has a dialog. `now`: the agent's
   * answer time when an agent answered, so that a held caller's ringing ends at its `answeredAt`
   * (the clock moves on within one handler under load).
   */
  private answerCaller(call: Call, now = this.now()): void {
    if (isEnded(call)) return;
    // An agent answered: a held caller goes straight to the agent (its media was never started),
    // and a caller bridged gives its stream to the oldest held caller.
    if (call.ringing) this.leaveRinging(call, now);
    if (call.phase === 'talking') this.streamFreed(call);
    if (call.callerAnswered) return;
    if (call.answerTimer !== undefined) this.clock.clearTimer(call.answerTimer);
    call.answerTimer = undefined;
    const dialog = call.invite.accept({ body: call.localSdp!, contentType: 'application/sdp', delegate: this.callerDelegate(call) });
    if (!dialog) return;
    call.callerDialog = dialog;
    call.callerAnswered = true;
  }

  private callerDelegate(call: Call): DialogDelegate {
    return {
      onBye: () => this.callerLeft(call, 'caller'),
      onAck: () => this.callerAck(call),
      onTerminated: (_dialog, reason) => {
        if (reason === 'no-ack' && !call.callerAcked && (call.phase === 'setup' || call.phase === 'ivr')) this.unconfirmed(call);
        else this.callerLeft(call, 'system');
      },
      onReinvite: (dialog, req) => this.reinvite(call, 'caller', dialog, req),
      onRequest: (dialog, req) => this.inDialogRequest(call, req, true, dialog),
    };
  }

  /**
   * INFO, NOTIFY, REFER... in a dialog. DTMF in INFO (`application/dtmf-relay`, `application/dtmf`)
   * from the caller feeds the IVR like RFC 4733 events; a malformed DTMF body gets 400. Everything
   * else gets the UA's defaults (REFER 603: no transfers by the carrier; the rest 200).
   */
  private inDialogRequest(call: Call, req: IncomingRequest, fromCaller: boolean, dialog?: Dialog): void {
    const m = req.request.method;
    if (m === 'REFER') {
      this.refer(call, req, fromCaller, dialog);
      return;
    }
    if (m === 'INFO') {
      const r = parseDtmfInfo(req.request.headers.get('content-type'), req.request.body);
      if (r.kind === 'malformed') {
        req.respond(400, { reason: 'Bad DTMF Body' });
        return;
      }
      req.respond(200);
      if (r.kind === 'digit' && fromCaller) this.callerDigit(call, r.digit);
      return;
    }
    req.respond(m === 'REFER' ? 603 : 200);
  }

  // ---- transfer (transfer.ts) -------------------------------------------------------------------

  /**
   * A REFER in one of the call's dialogs (RFC 3515). Checked by transfer.ts; refused with its
   * status, or accepted (202) as a blind transfer: the caller leaves the agent for the target
   * queue with its priority and arrival (acd.transfer), hears that queue's hold music, and the
   * phone gets the NOTIFY progress. The phone ends its dialog after the final NOTIFY (§2.4.7).
   */
  private refer(call: Call, req: IncomingRequest, fromCaller: boolean, dialog: Dialog | undefined): void {
    const h = req.request.headers;
    const now = this.now();
    const verdict = checkRefer({
      // The header layer maps the compact forms (`r`, `b`) to these names.
      referTo: h.getAll('refer-to'), referredBy: h.get('referred-by'),
      fromAgent: !fromCaller, fromCurrentAgent: dialog !== undefined && dialog === call.agentDialog, talking: call.phase === 'talking',
      consulting: this.consults.active(call.id), currentQueue: call.queue, transfers: this.xfer.transfers(call.id), queues: this.d.settings.queues,
      numbers: this.d.settings.numbers, flows: this.d.settings.flows, vip: call.priority > 0, now,
      agentOfExtension: (user) => this.d.agents.agentByExtension(user), canDial: this.d.outbound !== undefined,
    });
    if (!verdict.ok) {
      this.refuseRefer(call, req, verdict.refusal, verdict.attended === true);
      return;
    }
    if (verdict.kind === 'attended') {
      // RFC 3891: the Replaces must name this call's consultation dialog (consult.ts completes it).
      const refusal = this.consults.referred(call, req, dialog, verdict.replaces);
      if (refusal !== null) this.refuseRefer(call, req, refusal, true);
      return;
    }
    if (verdict.kind === 'direct') {
      // To an agent's extension or a number: the API's rules and path, answered as a REFER.
      void this.transferCall(call, verdict.target, { req, dialog, referredBy: verdict.referredBy })
        .catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'REFER transfer failed'));
      return;
    }
    const effects = this.passOn(call, verdict.queue, verdict.referredBy, 'blind');
    if (effects === null) {
      this.refuseRefer(call, req, 'unknownTarget');
      return;
    }
    this.acceptRefer(call, req, dialog);
    this.xfer.counted('blind', 'ok');
    this.apply(effects);
  }

  /**
   * A REFER taken: 202, then the NOTIFY progress (100, then the final 200: the caller has left
   * the phone, RFC 3515 §2.4.7); the phone ends its dialog after the final NOTIFY.
   */
  private acceptRefer(call: Call, req: IncomingRequest, dialog: Dialog | undefined): void {
    req.respond(202, { reason: 'Accepted' });
    if (!dialog) return;
    void notifyRefer(this.d.ua, dialog, 100, 'Trying', false)
      .then(() => notifyRefer(this.d.ua, dialog, 200, 'OK', true))
      .catch((err: unknown) => this.d.log.warn({ err, ...this.ctx(call) }, 'REFER NOTIFY failed'));
    // A phone that does not hang up after the final NOTIFY (or never answers the NOTIFYs) is hung
    // up: its agent is in wrap-up and the dialog carries no media any more.
    this.clock.setTimer(REFER_BYE_GRACE_MS, () => { if (dialog.state !== 'terminated') void this.d.ua.bye(dialog); });
  }

  /**
   * Pass a talking caller on to `queue`, one path for a REFER and the API: the ACD keeps its
   * priority and arrival (acd.transfer; `toAgent` offers a named agent alone first), the agent's
   * leg is released, the caller hears the target queue's hold music. Returns the ACD's effects for
   * the caller to apply, or null when the ACD refused (nothing changed).
   */
  private passOn(call: Call, queue: string, referredBy: string | null, kind: TransferKind, toAgent?: string): AcdEffect[] | null {
    const now = this.now();
    const effects = this.timed(() => this.d.acd.transfer(call.id, queue, now, toAgent));
    if (effects.some((e) => e.type === 'error')) return null;
    const agentId = call.agentId;
    const from = call.queue;
    this.to(call, 'queued');
    call.agentId = null;
    call.agentDialog = undefined;
    call.queue = queue;
    this.xfer.transferred(call.id, referredBy, now, kind);
    this.holdCaller(call, 'transfer');
    this.releaseAgentLeg(call);
    this.d.log.info({ ...this.ctx(call), agentId, from, to: queue, kind, toAgent }, 'blind transfer');
    const position = this.d.acd.positionOf(call.id) ?? 1;
    this.record(call, { type: 'queued', queue, position, priority: call.priority, treatment: 'media' });
    this.emit({
      type: 'call.queued', callId: call.id, queue, caller: call.caller, dialled: call.dialled, programme: call.route.programme,
      airing: call.route.airing, position, priority: call.priority, at: now, treatment: 'media',
    });
    return effects;
  }

  /**
   * An API transfer of a talking call (POST /api/v1/calls/:id/transfer): to a queue, a named agent
   * or an external number, by the rules of transfer.ts `checkApiTransfer`. Blind: the agent's
   * phone is hung up at once and the agent goes to wrap-up. Never throws for input.
   */
  async transfer(callId: string, target: ApiTransferTarget): Promise<ApiTransferAnswer> {
    const call = this.calls.get(callId);
    if (!call || isEnded(call)) return { ok: false, code: 'CALLS_ERR_NO_CALL', message: `no call ${callId} in progress` };
    return this.transferCall(call, target, null);
  }

  /**
   * One path for an API transfer and a phone's REFER to an agent's extension or a number
   * (`refer`): the same rules (checkApiTransfer) and effects. A REFER is answered with the
   * refusal's SIP status, or 202 and the NOTIFY progress; its phone ends the dialog itself after
   * the final NOTIFY (hung up after a grace), where the API hangs the agent's phone up at once.
   * Counted as `blind` for a REFER, by target for the API.
   */
  private async transferCall(call: Call, target: ApiTransferTarget, refer: ReferOrigin | null): Promise<ApiTransferAnswer> {
    const refuse = (verdict: { code: ApiTransferRefusal; message: string }, kind: TransferKind): ApiTransferAnswer => {
      if (refer) this.refuseRefer(call, refer.req, REFER_REFUSAL_OF[verdict.code]);
      else this.xfer.counted(kind, 'refused');
      return { ok: false, code: verdict.code, message: verdict.message };
    };
    const verdict = checkApiTransfer({
      target, talking: call.phase === 'talking' && call.agentDialog !== undefined && !this.consults.active(call.id), currentQueue: call.queue, currentAgent: call.agentId,
      transfers: this.xfer.transfers(call.id), queues: this.d.settings.queues, canDial: this.d.outbound !== undefined,
      agent: (id) => {
        const a = this.d.acd.inspectAgent(id);
        return a && { free: a.state === 'idle' && a.status === 'available' && this.d.agents.contacts(id).length > 0 };
      },
    });
    if (!verdict.ok) return refuse(verdict, verdict.kind);
    const kind: TransferKind = refer ? 'blind' : verdict.kind;
    if (verdict.kind === 'api_external') return this.toExternal(call, verdict.number, refer, refuse);
    const dialog = call.agentDialog;
    const toAgent = verdict.kind === 'api_agent' ? verdict.agent : undefined;
    const effects = this.passOn(call, verdict.queue, refer?.referredBy ?? null, kind, toAgent);
    if (effects === null) return refuse({ code: 'CALLS_ERR_UNKNOWN_TARGET', message: `the ACD refused queue ${verdict.queue}` }, kind);
    if (refer) this.acceptRefer(call, refer.req, refer.dialog);
    else if (dialog) void this.d.ua.bye(dialog);
    if (toAgent !== undefined) this.xfer.awaitAgent(call.id, toAgent, kind);
    else this.xfer.counted(kind, 'ok');
    this.apply(effects);
    return { ok: true, kind: verdict.kind, queue: verdict.queue, agent: toAgent ?? null, number: null };
  }

  /**
   * A transfer to a number: the agent is released (wrap-up) and the call leaves the ACD, the caller
   * hears hold music while the number is dialled through the outbound trunks (engine/outbound:
   * normalisation, trunk choice, result mapping); answered, the caller is bridged to it; not
   * reached, the caller waits in its queue again with its priority and original arrival.
   */
  private async toExternal(
    call: Call, number: string, refer: ReferOrigin | null, refuse: (v: { code: ApiTransferRefusal; message: string }, kind: TransferKind) => ApiTransferAnswer,
  ): Promise<ApiTransferAnswer> {
    const kind: TransferKind = refer ? 'blind' : 'api_external';
    const refused = (code: 'CALLS_ERR_NOT_TALKING' | 'CALLS_ERR_MEDIA', message: string): ApiTransferAnswer => refuse({ code, message }, kind);
    const callerLeg = call.callerLeg;
    if (!callerLeg) return refused('CALLS_ERR_NOT_TALKING', 'the call has no media');
    const leg = await this.d.media.allocate({ near: callerLeg, codec: call.callerCodec, rtpTimeoutMs: this.d.settings.rtpTimeoutMs });
    if (!leg.ok) return refused('CALLS_ERR_MEDIA', leg.reason);
    const dialog = call.agentDialog;
    if (call.phase !== 'talking' || dialog === undefined) {
      void this.d.media.release(leg.value.leg);
      return refused('CALLS_ERR_NOT_TALKING', 'the call is not talking to an agent');
    }
    const now = this.now();
    const agentId = call.agentId;
    this.to(call, 'external');
    call.agentId = null;
    call.agentDialog = undefined;
    this.xfer.transferred(call.id, refer?.referredBy ?? null, now, kind);
    // Out of the bridge first (with the music), then the agent's leg goes: the worker unbridges
    // a released leg's partner by itself, and an unbridge after that finds nothing to do.
    this.holdCaller(call, 'transfer');
    this.releaseAgentLeg(call);
    if (refer) this.acceptRefer(call, refer.req, refer.dialog);
    else void this.d.ua.bye(dialog);
    // The ACD lets go of the call: its agent goes to wrap-up.
    this.decide(() => this.d.acd.callEnded(call.id, now));
    call.agentLeg = leg.value.leg;
    this.byLeg.set(leg.value.leg, call);
    const local = agentLocalMedia(leg.value, call.callerCodec);
    call.agentLocal = local;
    const ext: OutboundCall = this.d.outbound!.dial({
      number, callerId: null, sdp: sdpBody(createOffer(local)), callId: `${call.id}-x${this.xfer.transfers(call.id)}`,
    }, {
      onAnswered: (a) => this.externalAnswered(call, ext, number, a.sdp, local, kind),
      onFailed: (f) => this.externalFailed(call, ext, number, f.result, kind),
      onEnded: () => {
        if (call.external !== ext) return;
        call.external = undefined;
        // The external party hung up: the caller's call is over (released by the far side, `agent`).
        if (call.phase !== 'external') return;
        this.endCaller(call);
        this.finish(call, 'answered', 'agent', null);
      },
    });
    call.external = ext;
    this.d.log.info({ ...this.ctx(call), agentId, number }, 'transfer to an external number');
    return { ok: true, kind: 'api_external', queue: null, agent: null, number };
  }

  private externalAnswered(call: Call, ext: OutboundCall, number: string, sdp: Buffer | null, local: AgentLocalMedia, kind: TransferKind): void {
    const callerLeg = call.callerLeg;
    const extLeg = call.agentLeg;
    if (call.external !== ext || call.phase !== 'external' || !callerLeg || !extLeg) {
      ext.hangup();
      return;
    }
    const answer = acceptAnswer(sdp?.toString('latin1') ?? '', local);
    if (!answer.ok) {
      this.d.log.warn({ ...this.ctx(call), number, reason: answer.reason }, 'external SDP answer unusable');
      this.externalFailed(call, ext, number, 'unusable answer', kind);
      ext.hangup();
      return;
    }
    this.xfer.externalLegStarted(call.id, number, this.now());
    this.xfer.counted(kind, 'ok');
    // Both at once: the worker takes a leg's commands in order, so the bridge uses this remote.
    void this.d.media.setRemote(extLeg, toLegRemote(answer.remote))
      .then((r) => { if (!r.ok) this.d.log.error({ ...this.ctx(call), code: r.code, reason: r.reason }, 'external media remote not set'); });
    void this.d.media.bridge(callerLeg, extLeg)
      .then((r) => { if (!r.ok) this.d.log.error({ ...this.ctx(call), code: r.code }, 'bridge to the external party failed'); });
  }

  /** The number was not reached: the caller waits in its queue again (priority and arrival kept by acd.enqueue). */
  private externalFailed(call: Call, ext: OutboundCall, number: string, result: string, kind: TransferKind): void {
    if (call.external !== ext) return;
    call.external = undefined;
    this.releaseAgentLeg(call);
    if (call.phase !== 'external') return;
    this.xfer.externalFailed(call.id, number, this.now());
    this.xfer.counted(kind, 'failed');
    this.d.log.info({ ...this.ctx(call), number, result }, 'external number not reached: back to the queue');
    this.enqueue(call, call.queue ?? this.d.settings.defaultCallbackQueue);
  }

  /** Hold or resume a talking call from the API: the rule of the phone's re-INVITE (hold music to the caller, holdMs). */
  hold(callId: string, intent: 'hold' | 'resume'): { ok: true; held: boolean } | { ok: false; code: 'CALLS_ERR_NO_CALL' | 'CALLS_ERR_NOT_TALKING'; message: string } {
    const call = this.calls.get(callId);
    if (!call || isEnded(call)) return { ok: false, code: 'CALLS_ERR_NO_CALL', message: `no call ${callId} in progress` };
    if (call.phase !== 'talking' || !call.callerLeg || !call.agentLeg) return { ok: false, code: 'CALLS_ERR_NOT_TALKING', message: 'the call is not talking to an agent' };
    this.agentHold(call, intent);
    return { ok: true, held: this.xfer.held(call.id) };
  }

  /** Consult another agent about a talking call (attended transfer, consult.ts); never throws. */
  consult(callId: string, agentId: string): Promise<ConsultAnswer> {
    return this.consults.start(this.calls.get(callId), agentId);
  }

  /** Complete or cancel the call's consultation (the desktop's buttons; a REFER with Replaces completes it too). */
  endConsult(callId: string, how: 'complete' | 'cancel'): ConsultAnswer {
    const call = this.calls.get(callId);
    return how === 'complete' ? this.consults.complete(call) : this.consults.cancel(call);
  }

  /** Join the caller to the call's consultation (a three-way conference, consult.ts), or leave it as the call's agent. */
  conference(callId: string, how: 'join' | 'leave'): ConsultAnswer {
    const call = this.calls.get(callId);
    return how === 'join' ? this.consults.conference(call) : this.consults.leave(call);
  }

  /** A call in progress for `GET /api/v1/calls/:id`: its agent, queue and consultation (null without one); undefined for no such call. */
  consultView(callId: string): { agent: string | null; queue: string | null; consult: ConsultView | null } | undefined {
    const call = this.calls.get(callId);
    return call === undefined ? undefined : { agent: call.agentId, queue: call.queue, consult: this.consults.view(callId) };
  }

  /** The consulted agent took the call (consult.ts): its `answered` for the CRM and the observers, as any answer. */
  private answeredBy(call: Call, now: number): void {
    this.record(call, { type: 'answered', queue: call.queue!, agent: call.agentId!, waitMs: now - call.arrivedAt });
    this.emit({ type: 'call.answered', callId: call.id, queue: call.queue!, agentId: call.agentId!, waitMs: now - call.arrivedAt, at: now });
  }

  private refuseRefer(call: Call, req: IncomingRequest, refusal: Parameters<Transfers['refused']>[0], attended = false): void {
    this.xfer.refused(refusal, attended);
    const r = REFUSAL_STATUS[refusal];
    req.respond(r.status, { reason: r.reason });
    this.d.log.info({ ...this.ctx(call), refusal, status: r.status }, 'REFER refused');
  }

  // ---- IVR ------------------------------------------------------------------------------------

  private startFlow(call: Call, flowId: string): void {
    const flow = own(this.d.settings.flows, flowId);
    if (!flow) {
      this.d.log.error({ ...this.ctx(call), flow: flowId }, 'unknown flow; queueing to the default queue');
      this.enqueue(call, this.d.settings.defaultCallbackQueue);
      return;
    }
    call.ivr = { flow, step: -1, retries: 0, timer: undefined, digits: undefined, typeAhead: call.ivr?.typeAhead ?? [] };
    this.nextStep(call);
  }

  private clearIvrTimer(ivr: IvrState): void {
    if (ivr.timer !== undefined) this.clock.clearTimer(ivr.timer);
    ivr.timer = undefined;
  }

  private nextStep(call: Call): void {
    const ivr = call.ivr;
    if (!ivr || isEnded(call)) return;
    ivr.step++;
    const step = ivr.flow.steps[ivr.step];
    if (!step) {
      // The flow ran to its end: the IVR served the caller (an announcement, a self-service answer).
      this.hangUpCaller(call, 'system', 'completed_ivr');
      return;
    }
    switch (step.type) {
      case 'play':
        this.play(call, this.prompts(call, step.prompts), () => this.nextStep(call));
        return;
      case 'menu':
        ivr.retries = step.retries;
        this.menu(call, step);
        return;
      case 'collect':
        ivr.retries = step.retries;
        this.collect(call, step);
        return;
      case 'branch': {
        const go = allHold(step.when, call.vars, this.now()) ? step.then : step.else;
        if (go === null) this.nextStep(call);
        else this.menuAction(call, go);
        return;
      }
      case 'queue':
        this.enqueue(call, call.priority > 0 && step.vipQueue ? step.vipQueue : step.queue);
        return;
      case 'callback':
        this.requestCallback(call, step.queue, step.prompts);
        return;
      case 'hangup':
        this.play(call, this.prompts(call, step.prompts), () => this.hangUpCaller(call, 'system', 'completed_ivr'));
        return;
      case 'goto':
        this.startFlow(call, step.flow);
        return;
      case 'query':
        this.query(call, step);
        return;
      case 'products':
        this.products(call, step);
        return;
    }
  }

  /** A products step (products.ts): the CRM's products by menu, then an agent with the one picked. */
  private products(call: Call, step: ProductsStep): void {
    const ivr = call.ivr;
    const ask = {
      callId: call.id, caller: call.caller, dialled: call.dialled, programme: call.route.programme, airing: call.route.airing,
      customerId: call.customer.customerId, vars: call.vars, lang: call.lang,
    };
    void planProducts(this.d.query, this.d.tts, step, ask, this.d.hasPrompt ?? (() => false)).then((plan) => {
      if (call.ivr !== ivr || ivr === undefined || isEnded(call)) return;
      Object.assign(call.vars, plan.vars);
      if (!plan.ok) {
        const go = (): void => (plan.action === null ? this.nextStep(call) : this.menuAction(call, plan.action));
        if (plan.prompts.length === 0) go();
        else this.play(call, this.prompts(call, plan.prompts), go);
        return;
      }
      runProductMenus(this.dtmfHost(call), ivr, step, plan, {
        agent: (choice) => {
          Object.assign(call.vars, choice.vars);
          this.menuAction(call, step.agent);
        },
        exhausted: () => this.nextStep(call),
      });
    }).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'products step failed'));
  }

  /** A CRM query step (query.ts): the answer's variables, its readout, then the next step or the fallback. */
  private query(call: Call, step: QueryStep): void {
    const ivr = call.ivr;
    const ask = {
      callId: call.id, caller: call.caller, dialled: call.dialled, programme: call.route.programme, airing: call.route.airing,
      customerId: call.customer.customerId, vars: call.vars, lang: call.lang,
    };
    void runQueryStep(this.d.query, step, ask, this.d.hasPrompt ?? (() => false)).then((r) => {
      // The caller hung up, or left the flow, while the CRM answered.
      if (call.ivr !== ivr || isEnded(call)) return;
      Object.assign(call.vars, r.vars);
      const go = (): void => (r.action === null ? this.nextStep(call) : this.menuAction(call, r.action));
      if (r.prompts.length === 0) go();
      else this.play(call, this.prompts(call, r.prompts), () => { if (r.served) call.selfServed = true; go(); });
    }).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'query step failed'));
  }

  /** The leg's side of the DTMF steps (dtmf-steps.ts): the caller's prompts and barge-in. */
  private dtmfHost(call: Call): DtmfHost {
    return {
      clock: this.clock,
      play: (names, then) => this.play(call, this.prompts(call, names), then),
      stopPrompt: () => {
        if (!call.callerLeg) return;
        call.afterPlay = undefined;
        void this.d.media.stop(call.callerLeg);
      },
    };
  }

  private menu(call: Call, step: MenuStep): void {
    runMenu(this.dtmfHost(call), call.ivr!, step, { choose: (action) => this.menuAction(call, action), exhausted: () => this.nextStep(call) });
  }

  /**
   * Multi-digit input into a call variable (dtmf-steps.ts); when the retries run out the flow goes
   * on without the variable (a branch on `present: false` can send the caller to an agent).
   */
  private collect(call: Call, step: CollectStep): void {
    runCollect(this.dtmfHost(call), call.ivr!, step, {
      got: (value) => {
        call.vars[step.into] = value;
        this.nextStep(call);
      },
      exhausted: () => this.nextStep(call),
    });
  }

  private menuAction(call: Call, action: MenuAction): void {
    switch (action.type) {
      case 'queue': this.enqueue(call, call.priority > 0 && action.vipQueue ? action.vipQueue : action.queue); return;
      case 'callback': this.requestCallback(call, action.queue, action.prompts); return;
      case 'flow': this.startFlow(call, action.flow); return;
      case 'hangup': this.hangUpCaller(call, 'system', 'completed_ivr'); return;
    }
  }

  /** The caller asked to be called back: confirm, hang up, record the task. */
  private requestCallback(call: Call, queue: string, prompts: string[]): void {
    call.queue ??= queue;
    this.close(call, { outcome: 'callback_requested', callback: 'requested' }, prompts);
  }

  /**
   * Send the caller away with a last prompt: the outcome is decided now (phase `closing`), the
   * call leaves the ACD, and the caller is released when the prompt ends (or hangs up first).
   */
  private close(call: Call, closing: Closing, prompts: readonly string[]): void {
    if (call.ivr) this.clearIvrTimer(call.ivr);
    call.ivr = undefined;
    call.queueDigits = undefined;
    const wasInAcd = call.phase === 'queued' || call.phase === 'offering';
    this.to(call, 'closing');
    call.closing = closing;
    call.ivrExitAt ??= this.now();
    // After the phase change: the ACD's cancelOffer for a ringing phone no longer re-queues.
    if (wasInAcd && this.d.acd.inspectCall(call.id)) this.decide(() => this.d.acd.abandon(call.id, this.now()));
    this.play(call, this.prompts(call, prompts), () => this.hangUpCaller(call, 'system', closing.outcome));
  }

  // ---- queue ----------------------------------------------------------------------------------

  private holdMusic(call: Call): PlaylistItem {
    return { kind: 'prompt', name: this.queueSettings(call.queue).holdMusic };
  }

  private enqueue(call: Call, queue: string, holding = false): void {
    const now = this.now();
    if (call.ivr) this.clearIvrTimer(call.ivr);
    call.ivr = undefined;
    if (call.callerAnswered && !call.callerAcked) {
      // Answered with 200 but not confirmed yet (RFC 3261 §13.3.1.4): the caller hears the queue's
      // hold audio at once, and enters the ACD at its ACK, one round trip later. A peer that never
      // confirms (a flood of INVITEs from an admitted trunk address) never takes a place in a
      // queue or an agent, and ends at Timer H as 'failed' without a callback task.
      call.awaitingAck = queue;
      call.queue = queue;
      this.play(call, { items: [{ kind: 'prompt', name: `${call.lang}/in-queue` }, this.holdMusic(call)], loop: true, loopFrom: 1 });
      return;
    }
    call.ivrExitAt ??= now;
    call.queue = queue;
    call.queuedAt = now;
    this.to(call, 'queued');
    const preferred = call.customer.preferredAgent ? this.d.agents.agentByExtension(call.customer.preferredAgent) : undefined;
    const effects = this.timed(() => this.d.acd.enqueue({
      id: call.id, queueId: queue, callerNumber: call.caller, dialledNumber: call.dialled, priority: call.priority,
      arrivalTime: call.arrivedAt, ...(preferred ? { preferredAgentId: preferred } : {}),
    }, now));
    const view = this.d.acd.inspectCall(call.id);
    if (view) {
      // Admission control may have sent it to another queue on entry.
      call.queue = view.queueId;
      // Offered at once (an agent was idle): it was next in line.
      const position = this.d.acd.positionOf(call.id) ?? 1;
      if (!holding) this.play(call, { items: [{ kind: 'prompt', name: `${call.lang}/in-queue` }, this.holdMusic(call)], loop: true, loopFrom: 1 });
      void this.d.store.journal.queued(call.id, call.queue, now).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'journal write failed'));
      const treatment = call.ringing ? 'ringing' : 'media';
      this.record(call, { type: 'queued', queue: call.queue, position, priority: call.priority, treatment });
      this.emit({
        type: 'call.queued', callId: call.id, queue: call.queue, caller: call.caller, dialled: call.dialled, programme: call.route.programme,
        airing: call.route.airing, position, priority: call.priority, at: now, treatment,
      });
    }
    this.apply(effects);
    // An input the ACD refused (unknown queue) left the call nowhere: fail it rather than hold it forever.
    const refused = effects.find((e) => e.type === 'error');
    if (!view && refused && !isEnded(call)) {
      this.d.log.error({ ...this.ctx(call), queue, code: refused.code }, 'ACD refused the call');
      this.fail(call, 500);
    }
  }

  // ---- ACD effects ------------------------------------------------------------------------------

  private effect(e: AcdEffect): void {
    switch (e.type) {
      case 'offer':
        if (e.kind === 'callback') this.callbackEffect(e);
        else this.offer(e.callId, e.agentId, e.queueId);
        return;
      case 'cancelOffer':
        if (this.calls.has(e.callId)) this.cancelOffer(e.callId);
        else this.d.callbacks?.cancelOffer(e);
        return;
      case 'announce': this.announce(e.callId, e.position, e.ewtMs); return;
      case 'overflowed': {
        const call = this.calls.get(e.callId);
        if (call) call.queue = e.toQueueId;
        return;
      }
      case 'callbackOffer': this.offerCallback(e.callId, e.queueId); return;
      case 'agentStateChanged':
        this.emit({ type: 'agent.state', agentId: e.agentId, state: e.state, status: e.status, reason: e.reason, at: this.now() });
        if (e.state !== 'wrapUp') this.wrapUpEnded(e.agentId);
        if (e.state === 'idle' && e.status === 'available') this.d.callbacks?.agentFree?.(e.agentId);
        return;
      case 'ended': {
        if (e.kind === 'callback') {
          this.d.callbacks?.ended(e);
          return;
        }
        const call = this.calls.get(e.callId);
        if (!call || isEnded(call) || call.phase === 'closing') return;
        // The ACD gave up on a live caller: capture it. Queue full at entry is a refusal; a caller
        // released at the queue's max wait did not give up (not an abandon).
        if (e.outcome === 'rejected') {
          this.rejected(call, 'queue_full', call.callerAnswered ? 0 : 480);
          this.close(call, { outcome: 'rejected_capacity', callback: 'rejected_capacity' }, ['all-agents-busy', 'callback-confirmed', 'goodbye']);
        } else if (e.outcome === 'maxWait') {
          this.close(call, { outcome: 'released_max_wait', callback: 'released_max_wait' }, ['all-agents-busy', 'callback-confirmed', 'goodbye']);
        }
        return;
      }
      case 'callbackCreated':
        // Callback tasks are kept in the durable store by this layer, not in the ACD (queues run
        // with the ACD's abandonToCallback off; `QueueCallSettings.abandonToCallback` decides here).
        return;
      case 'error':
        this.d.log.error({ code: e.code }, e.message);
        return;
    }
  }

  /** An offer of a callback entry: the dialer's, or declined when no dialer is wired. */
  private callbackEffect(e: Extract<AcdEffect, { type: 'offer' }>): void {
    if (this.d.callbacks) {
      this.d.callbacks.offer(e);
      return;
    }
    this.d.log.error({ callId: e.callId, agentId: e.agentId }, 'callback entry offered with no dialer wired');
    this.decide(() => this.d.acd.offerRejected(e.callId, this.now()));
  }

  private offer(callId: string, agentId: string, queueId: string): void {
    const call = this.calls.get(callId);
    if (!call || call.phase !== 'queued' || !call.callerLeg) {
      this.decide(() => this.d.acd.offerRejected(callId, this.now()));
      return;
    }
    const contact = this.d.agents.contacts(agentId)[0];
    if (!contact) {
      this.d.log.warn({ ...this.ctx(call), agentId }, 'offered agent has no registered phone');
      this.decide(() => this.d.acd.offerRejected(callId, this.now()));
      return;
    }
    const now = this.now();
    this.to(call, 'offering');
    call.agentId = agentId;
    call.offeredAt ??= now;
    call.offers++;
    const seq = ++call.offerSeq;
    const freeAt = Math.max(call.queuedAt ?? now, this.d.acd.inspectAgent(agentId)?.idleSince ?? now);
    void this.d.store.journal.offered(call.id, agentId, now).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'journal write failed'));
    this.record(call, { type: 'offered', queue: queueId, agent: agentId, attempt: call.offers });
    this.emit({
      type: 'call.offered', callId, queue: queueId, agentId, caller: call.caller, dialled: call.dialled, programme: call.route.programme,
      airing: call.route.airing, attempt: call.offers, customer: call.customer, variables: { ...call.vars }, at: now,
    });
    void this.ringAgent(call, seq, agentId, contact, freeAt).catch((err: unknown) => {
      // No media leg or no INVITE: the engine failed the offer, the agent did not.
      this.d.log.error({ err, ...this.ctx(call), agentId }, 'offer failed');
      this.offerEnded(call, seq, 'undelivered');
    });
  }

  private async ringAgent(call: Call, seq: number, agentId: string, contact: ReturnType<AgentDirectory['contacts']>[number], freeAt: number): Promise<void> {
    const leg = await this.d.media.allocate({ near: call.callerLeg!, codec: call.callerCodec, rtpTimeoutMs: this.d.settings.rtpTimeoutMs });
    if (!leg.ok) throw new Error(`${leg.code}: ${leg.reason}`);
    if (call.offerSeq !== seq || call.phase !== 'offering') {
      void this.d.media.release(leg.value.leg);
      return;
    }
    call.agentLeg = leg.value.leg;
    this.byLeg.set(leg.value.leg, call);
    const local = agentLocalMedia(leg.value, call.callerCodec);
    call.agentLocal = local;
    call.agentInvite = ringAgentPhone({
      ua: this.d.ua, contact, agentId, number: call.caller, display: call.customer.name ?? call.caller, local,
      headers: [
        { name: 'X-Onair-Call-ID', value: call.id },
        { name: 'X-Onair-Queue', value: call.queue ?? '' },
        ...(call.customer.customerId ? [{ name: 'X-Onair-Customer', value: call.customer.customerId }] : []),
        ...(call.customer.blacklisted ? [{ name: 'X-Onair-Flag', value: 'blacklisted' }] : []),
        ...(call.customer.lowCredit ? [{ name: 'X-Onair-Flag', value: 'low-credit' }] : []),
        // IVR input for the phone's screen: digits only (collect keeps 0-9), safe as header values.
        ...Object.entries(call.vars).map(([k, v]) => ({ name: `X-Onair-Var-${k}`, value: v })),
        ...this.xfer.offerHeaders(call.id),
      ],
      dialogDelegate: this.agentDialogDelegate(call),
      delegate: {
        onProgress: (response) => this.agentRinging(call, seq, response.status),
        onAccept: (dialog, response) => this.agentAnswered(call, seq, dialog, response, local),
        onReject: () => this.offerEnded(call, seq, 'rejected'),
        onFailure: () => this.offerEnded(call, seq, 'rejected'),
      },
    });
    const sentAt = this.now();
    this.emit({ type: 'offer.sent', callId: call.id, agentId, latencyMs: sentAt - freeAt, at: sentAt });
    // The ring timeout runs from here: a late INVITE must not count against the agent.
    this.decide(() => this.d.acd.offerSent(call.id, sentAt));
  }

  /** The events of an agent dialog of the call; one that is no longer the call's (its agent transferred the caller) ends on its own. */
  private agentDialogDelegate(call: Call): DialogDelegate {
    return {
      onBye: (d) => { if (d === call.agentDialog) this.agentLeft(call); },
      onTerminated: (d) => { if (d === call.agentDialog) this.agentLeft(call); },
      onReinvite: (d, req) => { if (d === call.agentDialog) this.reinvite(call, 'agent', d, req); else req.respond(488); },
      onRequest: (d, req) => this.inDialogRequest(call, req, false, d),
    };
  }

  /** The agent's phone rings (180/183): from now on a ring timeout is the agent's ring-no-answer. */
  private agentRinging(call: Call, seq: number, status: number): void {
    if (status === 100 || call.offerSeq !== seq || call.phase !== 'offering') return;
    this.decide(() => this.d.acd.offerRinging(call.id, this.now()));
  }

  private agentAnswered(call: Call, seq: number, dialog: Dialog, response: SipResponse, local: AgentLocalMedia): void {
    if (call.offerSeq !== seq || call.phase !== 'offering') {
      // Answered after the offer was withdrawn (race with CANCEL): hang up the agent.
      void this.d.ua.bye(dialog);
      return;
    }
    const now = this.now();
    call.agentDialog = dialog;
    const agentOffer = call.agentInvite?.request.body;
    call.agentInvite = undefined;
    const answer = acceptAnswer(response.body.toString('latin1'), local);
    if (!answer.ok) {
      this.d.log.warn({ ...this.ctx(call), reason: answer.reason }, 'agent SDP answer unusable');
      void this.d.ua.bye(dialog);
      call.agentDialog = undefined;
      this.offerEnded(call, seq, 'rejected');
      return;
    }
    this.to(call, 'talking');
    // The first answer stays the call's (waitMs); a transferred caller's later agents are legs.
    call.answeredAt ??= now;
    this.xfer.agentLegStarted(call.id, call.agentId!, call.queue, now);
    call.queueDigits = undefined;
    this.answerCaller(call, now);
    const callerLeg = call.callerLeg!;
    const agentLeg = call.agentLeg!;
    if (call.callerDialog && call.localSdp && agentOffer) {
      this.d.relay?.talking({ callId: call.id, callerLeg, agentLeg, callerDialog: call.callerDialog, agentDialog: dialog, callerSdp: call.localSdp, agentSdp: agentOffer });
    }
    // Both at once: the worker takes a leg's commands in order, so the bridge uses this remote.
    void this.d.media.setRemote(agentLeg, toLegRemote(answer.remote))
      .then((r) => { if (!r.ok) this.d.log.error({ ...this.ctx(call), code: r.code, reason: r.reason }, 'agent media remote not set'); });
    void this.d.media.bridge(callerLeg, agentLeg)
      .then((r) => { if (!r.ok) this.d.log.error({ ...this.ctx(call), code: r.code }, 'bridge failed'); });
    this.d.recordings?.answered({ callId: call.id, callerLeg, queue: call.queue, agent: call.agentId, dialled: call.dialled });
    void this.d.store.journal.answered(call.id, call.agentId!, now).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'journal write failed'));
    this.record(call, { type: 'answered', queue: call.queue!, agent: call.agentId!, waitMs: now - call.arrivedAt });
    this.emit({ type: 'call.answered', callId: call.id, queue: call.queue!, agentId: call.agentId!, waitMs: now - call.arrivedAt, at: now });
    this.decide(() => this.d.acd.offerAnswered(call.id, now));
    // "Stop when the customer calls in again": the dialer closes the number's open task.
    this.d.callbacks?.inboundAnswered?.({ callId: call.id, caller: call.caller, at: now });
  }

  /**
   * An offer ended without an answer, back to the queue and the ACD decides what next: 'rejected'
   * by the phone (or its transaction failed), or
   * 'undelivered' when the engine could not ring it (the agent is not blamed for that).
   */
  private offerEnded(call: Call, seq: number, how: 'rejected' | 'undelivered'): void {
    if (call.offerSeq !== seq || call.phase !== 'offering') return;
    call.agentInvite = undefined;
    this.xfer.offerFailed(call.id);
    this.releaseAgentLeg(call);
    this.to(call, 'queued');
    call.agentId = null;
    const now = this.now();
    this.decide(() => (how === 'rejected' ? this.d.acd.offerRejected(call.id, now) : this.d.acd.offerUndelivered(call.id, now)));
  }

  /** The ACD withdrew an offer (ring timeout, caller gone, agent status): stop the agent's phone. */
  private cancelOffer(callId: string): void {
    const call = this.calls.get(callId);
    if (!call) return;
    call.offerSeq++;
    call.agentInvite?.cancel();
    call.agentInvite = undefined;
    this.xfer.offerFailed(call.id);
    this.releaseAgentLeg(call);
    if (call.phase === 'offering') {
      call.agentId = null;
      this.to(call, 'queued');
    }
  }

  /**
   * A periodic announcement: the position and the estimated wait, each as the queue says; with
   * nobody staffed there is no estimate (Infinity) and the wait part is left out.
   */
  private announce(callId: string, position: number, ewtMs: number): void {
    const call = this.calls.get(callId);
    if (!call || call.phase !== 'queued') return;
    const q = this.queueSettings(call.queue);
    const items: PlaylistItem[] = [];
    if (q.announcePosition) {
      items.push({ kind: 'prompt', name: `${call.lang}/you-are-number` }, { kind: 'number', value: position, lang: call.lang }, { kind: 'silence', ms: 200 });
    }
    if (q.announceWait && Number.isFinite(ewtMs)) {
      const minutes = Math.max(1, Math.round(ewtMs / 60_000));
      items.push(
        { kind: 'prompt', name: `${call.lang}/estimated-wait` }, { kind: 'number', value: minutes, lang: call.lang },
        { kind: 'prompt', name: `${call.lang}/minutes` },
      );
    }
    if (items.length === 0) return;
    items.push({ kind: 'silence', ms: 300 }, this.holdMusic(call));
    this.play(call, { items, loop: true, loopFrom: items.length - 1 });
  }

  /** Admission control: waiting would be long; offer a callback (the queue's digit) and keep the place. */
  private offerCallback(callId: string, queueId: string): void {
    const call = this.calls.get(callId);
    if (!call || call.phase !== 'queued') return;
    const digit = this.queueSettings(queueId).callbackDigit;
    call.queueDigits = (d) => {
      if (d !== digit) return;
      call.queueDigits = undefined;
      this.requestCallback(call, queueId, ['callback-confirmed', 'goodbye']);
    };
    this.play(call, {
      items: [{ kind: 'prompt', name: `${call.lang}/callback-offer` }, { kind: 'silence', ms: 300 }, this.holdMusic(call)],
      loop: true, loopFrom: 2,
    });
  }

  // ---- media events ------------------------------------------------------------------------

  private onDigit(leg: LegId, digit: string): void {
    const call = this.byLeg.get(leg);
    if (!call) {
      // Not an inbound call's leg: maybe a dialled customer's in an IVR survey (engine/dialer).
      this.d.callbacks?.dtmf?.(leg, digit);
      return;
    }
    if (leg !== call.callerLeg) return;
    this.callerDigit(call, digit);
  }

  /** A digit from the caller (RFC 4733, in-band, or SIP INFO). */
  private callerDigit(call: Call, digit: string): void {
    if (call.ivr && dtmfDigit(call.ivr, digit)) return;
    call.queueDigits?.(digit);
  }

  private onPlaybackDone(leg: LegId, playId: number): void {
    const call = this.byLeg.get(leg);
    if (!call) {
      this.d.callbacks?.playbackDone?.(leg, playId);
      return;
    }
    if (leg !== call.callerLeg || playId !== call.playId) return;
    const next = call.afterPlay;
    call.afterPlay = undefined;
    next?.();
  }

  private onRtpTimeout(leg: LegId): void {
    if (this.consults.rtpTimeout(leg)) return;
    const call = this.byLeg.get(leg);
    if (!call) {
      // Not an inbound call's leg: maybe a callback's (the dialer's legs share the media pool).
      this.d.callbacks?.rtpTimeout?.(leg);
      return;
    }
    if (isEnded(call)) return;
    this.d.log.warn({ ...this.ctx(call), leg }, 'RTP timeout: tearing the call down');
    if (leg === call.agentLeg && call.phase === 'talking') this.agentLeft(call);
    else this.callerLeft(call, 'system');
  }

  private play(call: Call, playlist: Playlist, then?: () => void): void {
    if (!call.callerLeg || isEnded(call)) return;
    if (call.ringing) {
      // Held in ringing: no media at all (the carrier plays ringback). A last prompt is skipped,
      // so what follows it (the hang-up of a caller sent away) happens now.
      then?.();
      return;
    }
    call.afterPlay = undefined;
    if (playlist.items.length === 0) {
      // Nothing to hear (a hang-up step without a prompt): the media worker would report the empty
      // playlist finished before its reply carries the play id, and `then` would never run.
      then?.();
      return;
    }
    const leg = call.callerLeg;
    void this.d.media.play(leg, playlist).then((r) => {
      if (!r.ok) {
        this.d.log.error({ ...this.ctx(call), code: r.code, reason: r.reason }, 'playback failed');
        then?.();
        return;
      }
      // Only what the media worker took: a playlist it refused (a missing prompt) was not heard.
      notePlayed(call.played, playlist);
      call.playId = r.value.playId;
      call.afterPlay = then;
      if (!call.mediaStarted) {
        call.mediaStarted = true;
        this.emit({ type: 'media.firstPacket', callId: call.id, latencyMs: this.now() - call.arrivedAt + (call.readLagMs ?? 0) });
      }
    });
  }

  private prompts(call: Call, names: readonly string[]): Playlist {
    return promptPlaylist(call.lang, names);
  }

  // ---- the end of a call ------------------------------------------------------------------------

  /** The caller hung up, cancelled, or its media died. */
  private callerLeft(call: Call, by: ReleasedBy): void {
    const now = this.now();
    switch (call.phase) {
      case 'setup':
      case 'ivr':
        if (call.selfServed) {
          // Heard the answer they called for, then hung up: served by the IVR, no callback.
          this.endCaller(call);
          this.finish(call, 'completed_ivr', by, null);
          return;
        }
        this.abandoned(call, 'ivr', now);
        this.endCaller(call);
        this.finish(call, 'abandoned_ivr', by, 'abandoned_ivr');
        return;
      case 'queued':
      case 'offering': {
        this.abandoned(call, call.phase === 'offering' ? 'ringing' : 'queue', now);
        this.endCaller(call);
        this.finish(call, 'abandoned_queue', by, this.queueSettings(call.queue).abandonToCallback ? 'abandoned_queue' : null);
        // After the end: the ACD's withdrawal of a ringing offer finds the call over, not re-queued.
        this.decide(() => this.d.acd.abandon(call.id, now));
        return;
      }
      case 'talking':
        if (call.agentDialog) void this.d.ua.bye(call.agentDialog);
        this.endCaller(call);
        this.decide(() => this.d.acd.callEnded(call.id, now));
        this.finish(call, 'answered', by, null);
        return;
      case 'external':
        // finish() hangs the external party up; the ACD let go of the call at the transfer.
        this.endCaller(call);
        this.finish(call, 'answered', by, null);
        return;
      case 'closing': {
        // Hung up during the last prompt: the outcome was decided already.
        const closing = call.closing!;
        this.endCaller(call);
        this.finish(call, closing.outcome, by, closing.callback);
        return;
      }
      case 'ended':
        return;
    }
  }

  private abandoned(call: Call, stage: 'ivr' | 'queue' | 'ringing', now: number): void {
    this.record(call, { type: 'abandoned', stage, waitMs: now - call.arrivedAt });
    this.emit({ type: 'call.abandoned', callId: call.id, queue: call.queue, stage, waitMs: now - call.arrivedAt, at: now });
  }

  /** The agent hung up (or its media died) during the conversation. */
  private agentLeft(call: Call): void {
    if (call.phase !== 'talking') return;
    // Hung up while consulting: the caller goes to the consulted agent if it answered (consult.ts).
    if (this.consults.agentLeft(call)) return;
    if (call.callerDialog) void this.d.ua.bye(call.callerDialog);
    this.decide(() => this.d.acd.callEnded(call.id, this.now()));
    this.finish(call, 'answered', 'agent', null);
  }

  /** We end the call from our side with `outcome` (IVR end, after a closing prompt). */
  private hangUpCaller(call: Call, by: ReleasedBy, outcome: CdrOutcome): void {
    if (isEnded(call)) return;
    if (call.phase === 'queued' || call.phase === 'offering') this.decide(() => this.d.acd.abandon(call.id, this.now()));
    this.endCaller(call);
    // A caller we sent away still gets called back; one whose IVR simply ended was served there.
    this.finish(call, outcome, by, call.closing?.callback ?? null);
  }

  /** Release the caller's side: BYE if answered, else a final response to the INVITE. */
  private endCaller(call: Call): void {
    if (call.callerDialog && call.callerDialog.state !== 'terminated') void this.d.ua.bye(call.callerDialog);
    else if (!call.invite.answered) call.invite.reject(call.phase === 'setup' || call.phase === 'ivr' ? 487 : 480);
  }

  private hangUpEverything(call: Call, by: ReleasedBy): void {
    if (isEnded(call)) return;
    if (call.phase === 'closing') {
      // Cut short in the last prompt: the outcome was decided before it.
      this.endCaller(call);
      this.finish(call, call.closing!.outcome, by, call.closing!.callback);
      return;
    }
    if (call.phase === 'talking') {
      if (call.agentDialog) void this.d.ua.bye(call.agentDialog);
      this.endCaller(call);
      this.decide(() => this.d.acd.callEnded(call.id, this.now()));
      this.finish(call, 'answered', by, null);
      return;
    }
    if (call.phase === 'external') {
      this.endCaller(call);
      this.finish(call, 'answered', by, null);
      return;
    }
    const inAcd = call.phase === 'queued' || call.phase === 'offering';
    this.endCaller(call);
    // The engine is stopping under the caller: keep the number (the caller did not give up).
    this.finish(call, 'failed', by, 'rejected_capacity');
    if (inAcd) this.decide(() => this.d.acd.abandon(call.id, this.now()));
  }

  private fail(call: Call, status: number): void {
    if (isEnded(call)) return;
    if (!call.invite.answered) call.invite.reject(status);
    else if (call.callerDialog) void this.d.ua.bye(call.callerDialog);
    const inAcd = (call.phase === 'queued' || call.phase === 'offering') && this.d.acd.inspectCall(call.id) !== undefined;
    this.rejected(call, 'error', call.callerAnswered ? 0 : status);
    // Our failure, not the caller's choice: the number is kept for a callback.
    this.finish(call, 'failed', 'system', 'failed');
    if (inAcd) this.decide(() => this.d.acd.abandon(call.id, this.now()));
  }

  /**
   * The call is over: free media, send the `ended` event, and write the CDR (with the callback
   * task when the caller left before an agent). An answered call's CDR waits until the ACD ends
   * the agent's wrap-up, so that its `wrapUpEndAt` is the measured end, not the planned one.
   */
  private finish(call: Call, outcome: CdrOutcome, by: ReleasedBy, callback: CallbackInput['reason'] | null): void {
    if (isEnded(call)) return;
    const phase = call.phase;
    this.to(call, 'ended');
    if (call.answerTimer !== undefined) this.clock.clearTimer(call.answerTimer);
    if (call.ivr) this.clearIvrTimer(call.ivr);
    call.agentInvite?.cancel();
    this.consults.callEnded(call.id);
    const external = call.external;
    call.external = undefined;
    external?.hangup();
    const recording = this.d.recordings?.ended(call.id);
    const monitoring = this.d.monitor?.ended(call.id);
    this.releaseLegs(call);
    this.calls.delete(call.id);
    const now = this.now();
    if (call.ringing) this.leaveRinging(call);
    const freed = call.streaming;
    if (freed) {
      call.streaming = false;
      this.admission.streamEnded();
    }
    const agent = outcome === 'answered' ? call.agentId : null;
    this.record(call, { type: 'ended', agent, releasedBy: by });
    this.emit({ type: 'call.ended', callId: call.id, agentId: agent, queue: call.queue, trunk: call.trunk, outcome, releasedBy: by, at: now });
    const cdr: Cdr = {
      contractVersion: CONTRACT_VERSION, callId: call.id, sipCallId: call.sipCallId, caller: call.caller, dialled: call.dialled,
      programme: call.route.programme, airing: call.route.airing, queue: call.queue, agent,
      customerId: call.customer.customerId, outcome, arrivedAt: call.arrivedAt, ivrExitAt: call.ivrExitAt, queuedAt: call.queuedAt,
      offeredAt: call.offeredAt, answeredAt: call.answeredAt, endedAt: now, wrapUpEndAt: null,
      waitMs: (call.answeredAt ?? now) - call.arrivedAt, talkMs: call.answeredAt !== null ? now - call.answeredAt : 0, wrapUpMs: 0,
      offers: call.offers, releasedBy: by, callbackId: null, direction: 'inbound', variables: { ...call.vars },
      treatment: call.treatment, ringingMs: call.ringingMs, ...(recording !== undefined && { recording }),
      ...(monitoring !== undefined && { monitoring }), ...this.xfer.finish(call.id, now), played: [...call.played],
    };
    if (agent !== null && this.d.acd.inspectAgent(agent)?.state === 'wrapUp') {
      this.wrapUps.set(agent, { cdr });
    } else {
      // Only a caller who entered the system and left before an agent is a callback (not a blacklisted one).
      // One who talked to an agent already (then was transferred) was served: no callback either.
      const wantsCallback = callback !== null && phase !== 'talking' && call.answeredAt === null && call.caller.length > 0;
      this.writeCdr(cdr, wantsCallback ? {
        caller: call.caller, queue: call.queue ?? this.d.settings.defaultCallbackQueue, arrivedAt: call.arrivedAt, callId: call.id,
        reason: callback, dialled: call.dialled, programme: call.route.programme, customerId: call.customer.customerId,
        airing: call.route.airing,
      } : null, now);
    }
    if (freed) this.promoteHeld();
    if (this.draining && this.calls.size === 0) this.drained?.();
  }

  /** The agent's wrap-up is over (the ACD says so): its last call's CDR gets the measured end. */
  private wrapUpEnded(agentId: string): void {
    const pending = this.wrapUps.get(agentId);
    if (!pending) return;
    this.wrapUps.delete(agentId);
    const now = this.now();
    const cdr: Cdr = { ...pending.cdr, wrapUpEndAt: now, wrapUpMs: now - pending.cdr.endedAt };
    this.writeCdr(cdr, null, now);
  }

  /** CDR and callback task in one durable transaction (the journal row goes with it). */
  private writeCdr(record: Cdr, callback: CallbackInput | null, now: number): void {
    const cdr = this.d.dispositions?.stamp(record) ?? record;
    void this.d.store.finishCall({ cdr, callback }, now).then((r) => {
      if (r.callback) this.emit({ type: 'callback.created', callId: cdr.callId, callbackId: r.callback.id, caller: cdr.caller, queue: r.callback.queue, at: now });
    }).catch((err: unknown) => this.d.log.error({ err, callId: cdr.callId, sipCallId: cdr.sipCallId }, 'CDR write failed'));
  }

  private releaseLegs(call: Call): void {
    if (call.callerLeg) {
      this.byLeg.delete(call.callerLeg);
      void this.d.media.release(call.callerLeg);
      call.callerLeg = undefined;
    }
    this.releaseAgentLeg(call);
  }

  private releaseAgentLeg(call: Call): void {
    if (!call.agentLeg) return;
    this.byLeg.delete(call.agentLeg);
    void this.d.media.release(call.agentLeg);
    call.agentLeg = undefined;
  }

  /** A call event for the CRM, into the durable outbox as it happens (in order per call). */
  private record(call: Call, e: Record<string, unknown> & { type: CallEvent['type'] }): void {
    const now = this.now();
    const event = {
      callId: call.id, at: now, caller: call.caller, dialled: call.dialled, customerId: call.customer.customerId,
      queue: call.queue, ...e,
    } as CallEvent;
    void this.d.store.callEvent(event, now).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call), event: e.type }, 'call event write failed'));
  }

  // ---- re-INVITE (hold / unhold) ------------------------------------------------------------------

  /** A re-INVITE from either side: follow the new media, answer with the same leg's SDP. */
  private reinvite(call: Call, side: 'caller' | 'agent', dialog: Dialog, req: IncomingRequest): void {
    const leg = side === 'caller' ? call.callerLeg : call.agentLeg;
    // Each side is answered with its own leg's address: an agent's phone answered with port 0 (it
    // has no SDP of ours in `localSdp`) would drop the audio after a hold (RFC 3264 §6).
    const callerLocal = sdpAddress(call.localSdp);
    const local = side === 'agent' ? call.agentLocal : callerLocal && { ...callerLocal, codecs: [call.callerCodec], dtmf: true };
    // Answered with onair's leg: a call relayed by rtpengine comes back to onair's legs first.
    if (leg) this.d.relay?.reinvited(leg);
    answerReinvite(this.d.media, leg, local, dialog, req, side === 'caller' ? call.localSdp : undefined);
    if (side === 'agent') this.agentHold(call, holdIntent(req.request.body.toString('latin1')));
  }

  /** The agent's phone held or resumed (hold.ts): the caller hears the queue's music meanwhile. */
  private agentHold(call: Call, intent: HoldIntent): void {
    const callerLeg = call.callerLeg;
    const agentLeg = call.agentLeg;
    // During a consultation the caller is held already; its end bridges the caller back (consult.ts).
    if (call.phase !== 'talking' || !callerLeg || !agentLeg || intent === 'none' || this.consults.active(call.id)) return;
    const now = this.now();
    if (intent === 'hold' && this.xfer.holdStarted(call.id, now)) {
      this.holdCaller(call, 'hold');
    } else if (intent === 'resume' && this.xfer.holdEnded(call.id, now)) {
      void this.d.media.bridge(callerLeg, agentLeg)
        .then((r) => { if (!r.ok) this.d.log.error({ ...this.ctx(call), code: r.code }, 'bridge after hold failed'); });
      this.monitorRejoin(call);
    }
  }

  /** The caller is bridged to an agent again: a supervisor monitoring the call joins it again (monitor.ts). */
  private monitorRejoin(call: Call): void {
    void this.d.monitor?.rejoin(call.id).catch((err: unknown) => this.d.log.error({ err, ...this.ctx(call) }, 'monitoring not joined again'));
  }

  /** Take the caller out of its bridge with its queue's hold music (hold, transfer). */
  private holdCaller(call: Call, why: string): void {
    const leg = call.callerLeg;
    if (!leg) return;
    call.afterPlay = undefined;
    void this.d.media.unbridge(leg, { items: [this.holdMusic(call)], loop: true }).then((r) => {
      if (r.ok && r.value) call.playId = r.value.playId;
      else if (!r.ok) this.d.log.error({ ...this.ctx(call), code: r.code, reason: r.reason }, `unbridge for ${why} failed`);
    });
  }

  // ---- agents' feature codes ------------------------------------------------------------------

  /**
   * `*60`-`*63` from an agent's phone. The From user names the extension, but anyone can write a
   * From: the INVITE must also come from where that agent's phone registered (contract C3), or
   * it gets 403 and nothing changes. The status rules are the desk's (contract C2).
   */
  private featureCode(invite: IncomingInvite, action: DeskAction): void {
    const ext = unescapeUri(invite.request.headers.from.uri.user);
    const agentId = this.d.agents.agentByExtension(ext);
    if (!agentId || !this.d.agents.isAgentSource(agentId, invite.inbound.source)) {
      invite.reject(403, { reason: 'Not An Agent Phone' });
      return;
    }
    const r = this.d.desk.request(agentId, action, 'phone');
    if (!r.ok) {
      invite.reject(409, { reason: 'Not Possible Now' });
      this.d.log.info({ agentId, action, code: r.code, reason: r.message }, 'feature code refused');
      return;
    }
    // The phone shows the reason phrase; no media is needed to confirm a state change.
    invite.reject(480, { reason: DESK_PHRASE[action] });
  }

  /**
   * An INVITE from the registered phone of a talking call's agent (found by its source, never its
   * From: phone-consult.ts) is that agent consulting the extension it dialled (consult.ts
   * `fromPhone`). False: not such an INVITE, it takes the usual path.
   */
  private phoneConsult(invite: IncomingInvite): boolean {
    const call = consultingCall(this.calls.values(), invite.inbound.source, this.d.agents);
    if (call === undefined) return false;
    // The source names the agent; its From must name the same agent too, or this is someone else's
    // call from that address and port (an SBC or NAT in front of phones and carrier alike, an ended
    // phone's port reused by another sender): it takes the usual path. The From only narrows, it
    // never grants what the source does not.
    if (this.d.agents.agentByExtension(unescapeUri(invite.request.headers.from.uri.user)) !== call.agentId) return false;
    const target = this.d.agents.agentByExtension(unescapeUri(invite.request.uri.user));
    void this.consults.fromPhone(call, invite, target).catch((err: unknown) => {
      this.d.log.error({ err, ...this.ctx(call) }, 'consultation from the phone failed');
      if (!invite.answered) invite.reject(500);
    });
    return true;
  }

  // ---- ACD timer -------------------------------------------------------------------------------

  /** One timer at the ACD's next deadline (ring timeouts, wrap-up ends, overflow steps, announcements). */
  private scheduleAcd(): void {
    const next = this.d.acd.nextDeadline();
    if (next === null) return;
    if (this.acdTimer !== undefined && next >= this.acdTimerAt) return;
    if (this.acdTimer !== undefined) this.clock.clearTimer(this.acdTimer);
    this.acdTimerAt = next;
    this.acdTimer = this.clock.setTimer(Math.max(0, next - this.now()), () => {
      this.acdTimer = undefined;
      this.acdTimerAt = Infinity;
      this.decide(() => this.d.acd.tick(this.now()));
    });
  }

  private emit(event: CallControlEvent): void {
    if (!this.d.observe) return;
    try {
      this.d.observe(event);
    } catch (err) {
      this.d.log.error({ err }, 'call event observer failed');
    }
  }
}

/** Address and port of our own SDP (to answer a re-INVITE with the same media). */
function sdpAddress(sdp: Buffer | undefined): { address: string; port: number } | undefined {
  if (!sdp) return undefined;
  const text = sdp.toString('latin1');
  const c = /c=IN IP[46] (\S+)/.exec(text);
  const m = /m=audio (\d+)/.exec(text);
  return c && m ? { address: c[1]!, port: Number(m[1]) } : undefined;
}

/** Milliseconds an INVITE waited between the transport's parse and call control (0 when unknown). */
function readLag(invite: IncomingInvite): number {
  const at = invite.inbound.readAt;
  return at === undefined ? 0 : Math.max(0, performance.now() - at);
}
