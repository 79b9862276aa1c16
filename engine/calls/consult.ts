/**
 * Attended (consultative) transfer, issue 16: the agent of a talking call consults a second agent
 * before handing the caller over (docs/transfer.md, "Attended transfer").
 *
 * ```
 *  caller ══ A            POST /calls/:id/consult {agent: B}
 *  caller ─▶ hold music   the ACD reserves B (consultStart: offered no caller meanwhile)
 *            A ══ consult leg ─ INVITE ─▶ B's phone      (a new media leg, near the caller's)
 *            A ══ B                      B answered: A's leg bridged to the consult leg (consultAnswered)
 *  completion: REFER in A's dialog, Refer-To <sip:B@…?Replaces=<consult dialog>>  (or POST …/consult/complete)
 *    202 ─▶ A's leg released, caller ══ B (the consult leg is the call's agent leg now), the ACD makes B
 *    the call's agent and A goes to wrap-up (consultCompleted) ─▶ NOTIFY sipfrag 200 ─▶ BYE A's dialog
 *  B not reached / declines / hangs up, or cancel: consult leg released, caller ══ A again (consultEnded)
 *    (a caller held before the consultation stays held until A resumes)
 *  from A's phone (phone-consult.ts, `fromPhone`): A's own INVITE to B's extension is A's side (its
 *    own leg, answered 180 / 183 / 200 as B rings and answers); a Replaces naming it completes too
 *
 *  conference (POST …/consult/conference, A and B talking): caller, A and B in one media-worker
 *    conference, each hearing the mix of the other two (consultConference); then the dissolve
 *    rules, by who leaves (the caller's leg leaves the conference first, see `dissolve`):
 *      A (BYE, …/consult/complete, …/conference/leave, REFER+Replaces) ─▶ caller ══ B: `completed`, A to wrap-up
 *      B (BYE, RTP timeout, …/consult/cancel)                          ─▶ caller ══ A: `end`, B to wrap-up
 *      the caller                                                      ─▶ the call ends (`callEnded`), both to wrap-up
 *    The ACD guards each with its consult table: consultCompleted, consultEnded and callEnded accept
 *    the `conference` stage, and only out of it does the consulted agent go to wrap-up.
 * ```
 *
 * onair is a B2BUA: A's phone has no dialog with B, so the dialog a Replaces names is onair's
 * dialog with B as B sees it (RFC 3891 §3, attended.ts `matchReplaces`): `to-tag` = B's tag,
 * `from-tag` = onair's. {@link Consults.view} gives them (and a ready Refer-To) to the API, so a
 * phone or the desktop can build the REFER.
 *
 * Call control (controller.ts) keeps the call; this module owns the consultation leg and its
 * dialog, and changes the call's agent fields only at completion. Everything it does is through
 * the {@link ConsultHost} port the controller gives it.
 */
import type { Logger } from 'pino';
import type { Acd, AcdEffect } from '../acd/index.ts';
import type { Clock, Dialog, DialogDelegate, IncomingInvite, IncomingRequest, OutgoingInvite, SipResponse, TimerHandle } from '../sip/index.ts';
import type { G711, LegId } from '../../media/index.ts';
import { acceptAnswer, negotiate } from '../../media/index.ts';
import type { CallerInfo } from '../../crm-adapter/index.ts';
import type { AgentDirectory, CallMedia, CallUserAgent, ConsultState } from './types.ts';
import type { CallPhase } from './phase.ts';
import { agentLocalMedia, answerReinvite, ringAgentPhone, sdpBody, toLegRemote, type AgentLocalMedia } from './ring.ts';
import { matchReplaces, type DialogId, type Replaces } from './attended.ts';
import { notifyRefer, type TransferRefusal, type Transfers } from './transfer.ts';
import { conferenceOf } from './monitor.ts';
import { CallsError } from './errors.ts';
import { phoneNotReached, phoneRefusal } from './phone-consult.ts';

/** How long A's phone has to answer the final NOTIFY before onair hangs its dialog up anyway. */
const NOTIFY_GRACE_MS = 5000;

/** Stable refusal codes of a consultation request (mapped to HTTP by engine/api transfer-routes.ts). */
export type ConsultRefusal =
  | 'CALLS_ERR_NO_CALL' // no call in progress with this id (404)
  | 'CALLS_ERR_NOT_TALKING' // the call is not talking to an agent (409)
  | 'CALLS_ERR_UNKNOWN_TARGET' // no such agent (409)
  | 'CALLS_ERR_AGENT_BUSY' // the agent is not registered, available and idle now (409)
  | 'CALLS_ERR_LOOP' // the call's own agent (409)
  | 'CALLS_ERR_CONSULTING' // the call has a consultation already (409)
  | 'CALLS_ERR_NO_CONSULT' // no consultation to complete or cancel, or not answered yet for completion or a conference (409)
  | 'CALLS_ERR_IN_CONFERENCE' // a conference asked for twice (409)
  | 'CALLS_ERR_NO_CONFERENCE' // no conference to leave (409)
  | 'CALLS_ERR_MONITORED' // a supervisor monitors the call: the mixer's three places are taken (409)
  | 'CALLS_ERR_MEDIA'; // no media leg for the consultation (503)

/** The answer of a consultation request: its state, or a refusal. */
export type ConsultAnswer =
  | { ok: true; agent: string; state: ConsultState }
  | { ok: false; code: ConsultRefusal; message: string };

export type { ConsultState };

/** The stages of a consultation in progress. */
type Stage = 'ringing' | 'talking' | 'conference';

/**
 * Each stage's legal next stage (CONVENTIONS.md 17); a consultation's end is not a stage (it is
 * forgotten). The conference comes only after B answered: the caller joins a talk, never a ringing phone.
 */
const STAGE_NEXT: Readonly<Record<Stage, readonly Stage[]>> = {
  // B's phone answered: A and B talk.
  ringing: ['talking'],
  // A joins the caller in: three-way conference.
  talking: ['conference'],
  // Whoever leaves dissolves it (the dissolve rules above); there is no way back to A and B alone.
  conference: [],
};

/** A consultation as the API shows it (`GET /api/v1/calls/:id`). */
export interface ConsultView {
  /** The consulted agent (B). */
  agent: string;
  /** The call's agent who consults (A). */
  from: string;
  state: Stage;
  startedAt: number;
  answeredAt: number | null;
  /** When the caller joined A and B (a three-way conference), or null. */
  conferenceAt: number | null;
  /**
   * onair's dialog with B, as a Replaces must name it (RFC 3891 §3, B's view): `toTag` is B's tag,
   * `fromTag` onair's. Null until B answered (only a confirmed dialog can be replaced here).
   */
  dialog: { callId: string; toTag: string; fromTag: string } | null;
  /** The Refer-To a phone puts in its REFER to complete: `<sip:B@onair.invalid?Replaces=…>` (escaped once), or null. */
  referTo: string | null;
}

/** The part of a call in progress a consultation reads and, at completion, changes (controller.ts's Call is one). */
export interface ConsultCall {
  readonly id: string;
  readonly phase: CallPhase;
  readonly caller: string;
  readonly customer: CallerInfo;
  readonly callerCodec: G711;
  readonly callerLeg: LegId | undefined;
  readonly queue: string | null;
  agentId: string | null;
  agentLeg: LegId | undefined;
  agentLocal: AgentLocalMedia | undefined;
  agentDialog: Dialog | undefined;
}

/** What a consultation needs from call control (one port, implemented by the controller). */
export interface ConsultHost<C extends ConsultCall> {
  readonly ua: CallUserAgent;
  readonly media: CallMedia;
  readonly agents: AgentDirectory;
  readonly acd: Pick<Acd, 'consultStart' | 'consultAnswered' | 'consultConference' | 'consultCompleted' | 'consultEnded' | 'inspectAgent'>;
  readonly clock: Clock;
  readonly log: Logger;
  /** The call's transfer and hold book (the CDR's legs, holdMs, transfers; the transfer metric). */
  readonly xfer: Transfers;
  readonly rtpTimeoutMs: number;
  /** Apply ACD effects (the controller's one effect loop). */
  apply(effects: AcdEffect[]): void;
  /** Take the caller out of its bridge with its queue's hold music (the hold path). */
  holdCaller(call: C): void;
  /** Release the call's agent leg (and forget it). */
  releaseAgentLeg(call: C): void;
  /** The leg is the call's agent leg from now on (RTP timeouts find the call by it). */
  adoptAgentLeg(call: C, leg: LegId): void;
  /** The call's agent dialog events (BYE, re-INVITE, REFER, INFO): B's dialog uses them after completion. */
  agentDialogDelegate(call: C): DialogDelegate;
  /** B is the call's agent now: the CRM's and the observers' `answered`. */
  answered(call: C, now: number): void;
  /** How long B's phone may ring before the consultation fails (the call's queue's `consultRingTimeoutMs`). */
  ringTimeoutMs(call: C): number;
  /** The consultation changed state (the observers' `call.consult`: desktop, wallboard). */
  changed(call: C, consulted: string, from: string, state: ConsultState, now: number): void;
  /** A supervisor monitors the call (monitor.ts): its mixer of three holds the caller, the agent and the supervisor. */
  monitored(call: C): boolean;
  /** The caller is bridged to the call's agent again (after the consultation, or to B at completion): monitoring joins again. */
  bridgedAgain(call: C): void;
}

interface Consultation<C extends ConsultCall> {
  readonly call: C;
  /** B. */
  readonly agent: string;
  /** A, when the consultation started. */
  readonly from: string;
  stage: Stage;
  readonly leg: LegId;
  readonly local: AgentLocalMedia;
  invite: OutgoingInvite | undefined;
  dialog: Dialog | undefined;
  timer: TimerHandle | undefined;
  readonly startedAt: number;
  answeredAt: number | null;
  conferenceAt: number | null;
  /** The caller was on hold when the consultation started (A's phone held it): it stays held after a cancel. */
  readonly heldBefore: boolean;
  /** A's own dialog with onair when A's phone started the consultation (phone-consult.ts), else undefined. */
  readonly phone: PhoneSide | undefined;
}

/**
 * A's side of a consultation its phone started: A's INVITE to B's extension, answered by onair
 * (180, 183 with B's early media, 200 once B answered) from a media leg of its own, bridged to
 * the consultation leg. Its dialog is the one A's REFER names in its Replaces.
 */
interface PhoneSide {
  readonly invite: IncomingInvite;
  readonly leg: LegId;
  readonly local: AgentLocalMedia;
  /** Our SDP answer to A's offer (in the 183 and the 200). */
  readonly answer: Buffer;
  /** What A's INVITE was told so far: nothing, 180, or 183 with B's early media bridged. */
  progress: 'none' | 'ringing' | 'early';
  dialog: Dialog | undefined;
}

/** The consultations of one controller's calls (at most one per call). */
export class Consults<C extends ConsultCall> {
  private readonly h: ConsultHost<C>;
  private readonly byCall = new Map<string, Consultation<C>>();
  private readonly byLeg = new Map<LegId, Consultation<C>>();
  /** Calls whose consultation is being set up (B reserved, its leg being allocated). */
  private readonly starting = new Set<string>();

  constructor(host: ConsultHost<C>) {
    this.h = host;
  }

  /** The call has a consultation (being set up, ringing or talking). */
  active(callId: string): boolean {
    return this.byCall.has(callId) || this.starting.has(callId);
  }

  /** The call's consultation for the API, or null. */
  view(callId: string): ConsultView | null {
    const c = this.byCall.get(callId);
    if (c === undefined) return null;
    const d = c.dialog;
    const dialog = d === undefined ? null : { callId: d.callId, toTag: d.remoteTag, fromTag: d.localTag };
    return {
      agent: c.agent, from: c.from, state: c.stage, startedAt: c.startedAt, answeredAt: c.answeredAt, conferenceAt: c.conferenceAt, dialog,
      referTo: dialog === null ? null
        : `<sip:${encodeURIComponent(c.agent)}@onair.invalid?Replaces=${encodeURIComponent(`${dialog.callId};to-tag=${dialog.toTag};from-tag=${dialog.fromTag}`)}>`,
    };
  }

  /**
   * Start consulting `agentId` for a talking call: the ACD reserves B (idle and available, else
   * refused), a media leg near the caller's is allocated, the caller goes on hold with its queue's
   * music and B's phone rings. Resolves once the INVITE is out (B answers later). Never throws.
   */
  async start(call: C | undefined, agentId: string, phone?: IncomingInvite): Promise<ConsultAnswer> {
    if (call === undefined || call.phase === 'ended') return refuse('CALLS_ERR_NO_CALL', 'no such call in progress');
    if (this.active(call.id)) return refuse('CALLS_ERR_CONSULTING', 'the call has a consultation already');
    const callerLeg = call.callerLeg;
    const from = call.agentId;
    if (call.phase !== 'talking' || from === null || call.agentDialog === undefined || callerLeg === undefined || call.agentLeg === undefined) {
      return refuse('CALLS_ERR_NOT_TALKING', 'the call is not talking to an agent');
    }
    if (agentId === from) return refuse('CALLS_ERR_LOOP', `agent ${agentId} has the call already`);
    if (this.h.acd.inspectAgent(agentId) === undefined) return refuse('CALLS_ERR_UNKNOWN_TARGET', `no agent ${agentId}`);
    const contact = this.h.agents.contacts(agentId)[0];
    if (contact === undefined) return refuse('CALLS_ERR_AGENT_BUSY', `agent ${agentId} has no registered phone`);
    const now = this.h.clock.now();
    const reserved = this.h.acd.consultStart(call.id, agentId, now);
    if (reserved.some((e) => e.type === 'error')) return refuse('CALLS_ERR_AGENT_BUSY', `agent ${agentId} is not available and idle`);
    this.h.apply(reserved);
    this.starting.add(call.id);
    // A's phone consulting: A's own dialog gets a leg of its own, next to the caller's too.
    const wanted = { near: callerLeg, codec: call.callerCodec, rtpTimeoutMs: this.h.rtpTimeoutMs };
    const [leg, aLeg] = await Promise.all([this.h.media.allocate(wanted), phone === undefined ? undefined : this.h.media.allocate(wanted)]);
    this.starting.delete(call.id);
    const releaseLegs = (): void => {
      if (leg.ok) void this.h.media.release(leg.value.leg);
      if (aLeg?.ok === true) void this.h.media.release(aLeg.value.leg);
    };
    if (!leg.ok || aLeg?.ok === false) {
      releaseLegs();
      if (call.phase === 'talking') this.h.apply(this.h.acd.consultEnded(call.id, this.h.clock.now()));
      return refuse('CALLS_ERR_MEDIA', leg.ok ? 'no media leg for the agent\'s phone' : leg.reason);
    }
    // The call may have ended or moved meanwhile; the ACD freed B with it (callEnded, transfer).
    // A's phone may have given up (CANCEL) meanwhile too: its INVITE is answered (487) already.
    if (call.phase !== 'talking' || call.agentId !== from || call.agentLeg === undefined || phone?.answered === true) {
      releaseLegs();
      if (call.phase === 'talking' && call.agentId === from) this.h.apply(this.h.acd.consultEnded(call.id, this.h.clock.now()));
      return refuse('CALLS_ERR_NOT_TALKING', 'the call ended while the consultation was set up');
    }
    let side: PhoneSide | undefined;
    if (phone !== undefined && aLeg?.ok === true) {
      const local = agentLocalMedia(aLeg.value, call.callerCodec);
      const neg = negotiate(phone.request.body.toString('latin1'), local);
      if (!neg.ok) {
        releaseLegs();
        this.h.apply(this.h.acd.consultEnded(call.id, this.h.clock.now()));
        phone.reject(488, { reason: neg.reason.slice(0, 80) });
        return refuse('CALLS_ERR_MEDIA', `the phone's offer: ${neg.reason}`);
      }
      side = { invite: phone, leg: aLeg.value.leg, local, answer: sdpBody(neg.answer), progress: 'none', dialog: undefined };
      void this.h.media.setRemote(side.leg, toLegRemote(neg.remote))
        .then((r) => { if (!r.ok) this.h.log.error({ callId: call.id, code: r.code, reason: r.reason }, 'phone consultation media remote not set'); });
    }
    const startedAt = this.h.clock.now();
    // A caller A held already (the phone's hold key) hears the music: it stays out of the bridge as it is.
    const heldBefore = !this.h.xfer.holdStarted(call.id, startedAt);
    const c: Consultation<C> = {
      call, agent: agentId, from, stage: 'ringing', leg: leg.value.leg, local: agentLocalMedia(leg.value, call.callerCodec),
      invite: undefined, dialog: undefined, timer: undefined, startedAt, answeredAt: null, conferenceAt: null, heldBefore, phone: side,
    };
    this.byCall.set(call.id, c);
    this.byLeg.set(c.leg, c);
    if (side !== undefined) {
      this.byLeg.set(side.leg, c);
      // A's phone gave up before B answered: RFC 3261 §9.2, the UA answered 487 already.
      side.invite.onCancel = () => this.end(c, 'cancelled', true);
    }
    if (!heldBefore) this.h.holdCaller(call);
    c.invite = ringAgentPhone({
      ua: this.h.ua, contact, agentId, number: call.caller, display: call.customer.name ?? call.caller, local: c.local,
      headers: [
        { name: 'X-Onair-Call-ID', value: call.id },
        { name: 'X-Onair-Queue', value: call.queue ?? '' },
        { name: 'X-Onair-Consult', value: from },
      ],
      dialogDelegate: this.dialogDelegate(c),
      delegate: {
        onProgress: (response) => this.progressed(c, response),
        onAccept: (dialog, response) => this.answered(c, dialog, response),
        // A final answer ends the INVITE: nothing left to CANCEL.
        onReject: (response) => { c.invite = undefined; this.end(c, 'failed', false, response.status); },
        onFailure: () => { c.invite = undefined; this.end(c, 'failed'); },
      },
    });
    c.timer = this.h.clock.setTimer(this.h.ringTimeoutMs(call), () => {
      c.timer = undefined;
      if (c.stage === 'ringing') this.end(c, 'failed');
    });
    this.h.changed(call, agentId, from, 'ringing', c.startedAt);
    this.h.log.info({ callId: call.id, agentId: from, consulted: agentId }, 'consultation started');
    return { ok: true, agent: agentId, state: 'ringing' };
  }

  /**
   * A's phone INVITEd an extension while A's call talks (phone-consult.ts found the call by the
   * INVITE's source): a consultation of B with A's INVITE as A's side, else the refusal's answer
   * (no such extension 404, B busy 486, B not ready 480). Never throws.
   */
  async fromPhone(call: C, invite: IncomingInvite, agentId: string | undefined): Promise<void> {
    if (agentId === undefined) {
      invite.reject(404, { reason: 'Not Found' });
      return;
    }
    const r = await this.start(call, agentId, invite);
    if (r.ok || invite.answered) return;
    const a = phoneRefusal(r.code, this.h.acd.inspectAgent(agentId), this.h.agents.contacts(agentId).length > 0);
    invite.reject(a.status, { reason: a.reason });
    this.h.log.info({ callId: call.id, agentId: call.agentId, consulted: agentId, code: r.code, status: a.status }, 'consultation from the phone refused');
  }

  /**
   * Complete from the desktop (`POST …/consult/complete`): as a REFER with a matching Replaces, A's
   * phone hung up at once. In a conference this is A leaving it (`POST …/conference/leave` too).
   */
  complete(call: C | undefined): ConsultAnswer {
    if (call === undefined || call.phase === 'ended') return refuse('CALLS_ERR_NO_CALL', 'no such call in progress');
    const c = this.byCall.get(call.id);
    if (c === undefined || c.stage === 'ringing') return refuse('CALLS_ERR_NO_CONSULT', 'no answered consultation to complete');
    const former = this.completed(c);
    if (former !== undefined && former.state !== 'terminated') void this.h.ua.bye(former);
    return { ok: true, agent: c.agent, state: 'completed' };
  }

  /**
   * A joins the caller to its talk with B (`POST …/consult/conference`): the caller's hold ends and
   * the three legs are one conference of the media worker, each hearing the other two (the mixer
   * of supervisor barge, monitor.ts `conferenceOf`); the ACD keeps B on the call. Never throws.
   */
  conference(call: C | undefined): ConsultAnswer {
    const refused = (code: ConsultRefusal, message: string): ConsultAnswer => {
      this.h.xfer.counted('conference', 'refused');
      return refuse(code, message);
    };
    if (call === undefined || call.phase === 'ended') return refused('CALLS_ERR_NO_CALL', 'no such call in progress');
    const c = this.byCall.get(call.id);
    if (c?.stage === 'conference') return refused('CALLS_ERR_IN_CONFERENCE', 'the call is in a conference already');
    if (c === undefined || c.stage !== 'talking') return refused('CALLS_ERR_NO_CONSULT', 'no answered consultation to join the caller to');
    if (this.h.monitored(call)) return refused('CALLS_ERR_MONITORED', 'a supervisor monitors the call: no fourth party in the mix');
    const callerLeg = call.callerLeg;
    // A consultation A's phone started: A talks to B on its own dialog's leg.
    const agentLeg = c.phone?.leg ?? call.agentLeg;
    if (callerLeg === undefined || agentLeg === undefined) return refused('CALLS_ERR_NOT_TALKING', 'the call has no caller and agent media');
    const now = this.h.clock.now();
    const effects = this.h.acd.consultConference(call.id, now);
    if (effects.some((e) => e.type === 'error')) return refused('CALLS_ERR_NO_CONSULT', 'the ACD has no answered consultation of this call');
    advance(c, 'conference');
    c.conferenceAt = now;
    this.h.apply(effects);
    this.h.xfer.conferenceStarted(call.id, c.agent, call.queue, now);
    this.h.xfer.counted('conference', 'ok');
    // The caller's hold music stops as its leg joins (the worker's conference takes a leg's playback).
    void this.h.media.conference(conferenceOf(callerLeg, agentLeg, c.leg, 'barge'))
      .then((r) => { if (!r.ok) this.h.log.error({ callId: call.id, code: r.code, reason: r.reason }, 'conference failed'); });
    this.h.changed(call, c.agent, c.from, 'conference', now);
    this.h.log.info({ callId: call.id, agentId: c.from, consulted: c.agent }, 'conference: caller, agent and consulted agent');
    return { ok: true, agent: c.agent, state: 'conference' };
  }

  /** A leaves the call's conference (`POST …/conference/leave`): B keeps the caller, as a completion. */
  leave(call: C | undefined): ConsultAnswer {
    if (call === undefined || call.phase === 'ended') return refuse('CALLS_ERR_NO_CALL', 'no such call in progress');
    if (this.byCall.get(call.id)?.stage !== 'conference') return refuse('CALLS_ERR_NO_CONFERENCE', 'the call is in no conference');
    return this.complete(call);
  }

  /** Cancel from the desktop (`POST …/consult/cancel`): B's phone stops ringing or is hung up, A has the caller again. */
  cancel(call: C | undefined): ConsultAnswer {
    if (call === undefined || call.phase === 'ended') return refuse('CALLS_ERR_NO_CALL', 'no such call in progress');
    const c = this.byCall.get(call.id);
    if (c === undefined) return refuse('CALLS_ERR_NO_CONSULT', 'no consultation to cancel');
    this.end(c, 'cancelled');
    return { ok: true, agent: c.agent, state: 'cancelled' };
  }

  /**
   * A REFER with a well-formed Replaces in A's dialog (transfer.ts `checkRefer` said `attended`):
   * the Replaces must name the call's answered consultation dialog (attended.ts `matchReplaces`),
   * else the refusal to answer with (481, or 486 for `early-only`). Matched: 202, completion, the
   * final NOTIFY (sipfrag 200), then BYE of A's dialog.
   */
  referred(call: C, req: IncomingRequest, dialog: Dialog | undefined, replaces: Replaces): TransferRefusal | null {
    const c = this.byCall.get(call.id);
    const owned: (DialogId & { c: Consultation<C> })[] = [];
    // In a conference a completion by REFER is A leaving it. Only answered dialogs: an early one
    // was not made by onair (RFC 3891 §3: 481).
    if (c !== undefined && c.stage !== 'ringing') {
      // As B sees onair's dialog with it: its local tag is B's (our remote), its remote tag ours.
      const d = c.dialog;
      if (d !== undefined) owned.push({ callId: d.callId, localTag: d.remoteTag, remoteTag: d.localTag, early: false, c });
      // A's own dialog (A's phone consulting), in onair's view: onair is the B of the dialog A's phone knows.
      const p = c.phone?.dialog;
      if (p !== undefined) owned.push({ callId: p.callId, localTag: p.localTag, remoteTag: p.remoteTag, early: false, c });
    }
    const m = matchReplaces(replaces, owned);
    if (!m.ok) return m.mismatch === 'noDialog' ? 'replacesNoDialog' : 'replacesNotEarly';
    req.respond(202, { reason: 'Accepted' });
    this.h.xfer.referAccepted();
    const former = this.completed(m.dialog.c);
    const aDialog = dialog ?? former;
    if (aDialog === undefined) return null;
    // RFC 3515 §2.4.7: the final NOTIFY ends the implicit subscription; then A's dialog is over
    // (at its answer, or after a grace if the phone does not answer it).
    const hangUp = (): void => { if (aDialog.state !== 'terminated') void this.h.ua.bye(aDialog); };
    const grace = this.h.clock.setTimer(NOTIFY_GRACE_MS, hangUp);
    void notifyRefer(this.h.ua, aDialog, 200, 'OK', true)
      .catch((err: unknown) => this.h.log.warn({ err, callId: call.id }, 'REFER NOTIFY failed'))
      .finally(() => {
        this.h.clock.clearTimer(grace);
        hangUp();
      });
    return null;
  }

  /**
   * A hung up during its consultation: talking with B (or in conference), the caller goes to B (as
   * most PBXs do when the transferring party hangs up); true then (the call goes on). B still
   * ringing: the consultation is cancelled and the call ends as any agent hang-up (false).
   */
  agentLeft(call: C): boolean {
    const c = this.byCall.get(call.id);
    if (c === undefined) return false;
    if (c.stage !== 'ringing') {
      this.completed(c);
      return true;
    }
    this.end(c, 'cancelled');
    return false;
  }

  /**
   * The call is over (controller `finish`): B's phone is hung up or stops ringing, the leg goes.
   * The ACD freed B with the call's own input (callEnded), and the CDR book closes the open legs.
   */
  callEnded(callId: string): void {
    const c = this.byCall.get(callId);
    if (c === undefined) return;
    this.forget(c);
    c.invite?.cancel();
    if (c.dialog !== undefined && c.dialog.state !== 'terminated') void this.h.ua.bye(c.dialog);
    void this.h.media.release(c.leg);
    this.releasePhone(c, 480, false);
  }

  /** RTP stopped on a consultation leg: B is gone, or A's own consultation dialog is (true: the leg was one of ours). */
  rtpTimeout(leg: LegId): boolean {
    const c = this.byLeg.get(leg);
    if (c === undefined) return false;
    if (leg === c.phone?.leg) this.end(c, 'cancelled');
    else this.end(c, 'hangup');
    return true;
  }

  // ---- internals ---------------------------------------------------------------------------------

  private dialogDelegate(c: Consultation<C>): DialogDelegate {
    // After completion B's dialog is the call's agent dialog: its events are call control's then.
    const agent = (): DialogDelegate | undefined => (c.call.agentDialog === c.dialog && c.dialog !== undefined ? this.h.agentDialogDelegate(c.call) : undefined);
    const mine = (d: Dialog): boolean => this.byCall.get(c.call.id) === c && c.dialog === d;
    return {
      onBye: (d, bye) => { if (mine(d)) this.end(c, 'hangup'); else agent()?.onBye?.(d, bye); },
      onTerminated: (d, reason) => { if (mine(d)) this.end(c, 'hangup'); else agent()?.onTerminated?.(d, reason); },
      onReinvite: (d, req) => {
        if (mine(d)) answerReinvite(this.h.media, c.leg, c.local, d, req);
        else if (agent() !== undefined) agent()!.onReinvite?.(d, req);
        else req.respond(488);
      },
      // REFER, INFO: call control's rules (a REFER in a dialog that is not the call's agent dialog is stale: 481).
      onRequest: (d, req) => this.h.agentDialogDelegate(c.call).onRequest?.(d, req),
    };
  }

  /**
   * B's phone rings (A's phone consulting): A's INVITE gets 180, or with B's early media 183 with
   * our SDP and A's leg bridged to the consultation leg at once (A hears B's ringback).
   */
  private progressed(c: Consultation<C>, response: SipResponse): void {
    const p = c.phone;
    if (p === undefined || response.status < 180 || p.progress === 'early' || p.invite.answered || this.byCall.get(c.call.id) !== c) return;
    const sdp = response.body.toString('latin1');
    const early = sdp.length === 0 ? undefined : acceptAnswer(sdp, c.local);
    if (early?.ok === true) {
      p.progress = 'early';
      void this.h.media.setRemote(c.leg, toLegRemote(early.remote))
        .then((r) => { if (!r.ok) this.h.log.error({ callId: c.call.id, code: r.code, reason: r.reason }, 'early media remote not set'); });
      void this.h.media.bridge(p.leg, c.leg)
        .then((r) => { if (!r.ok) this.h.log.error({ callId: c.call.id, code: r.code }, 'early media bridge failed'); });
      p.invite.progress(183, { body: p.answer, contentType: 'application/sdp' });
      return;
    }
    if (p.progress === 'none') {
      p.progress = 'ringing';
      p.invite.progress(180);
    }
  }

  /** A's own consultation dialog (A's phone consulting): A hanging it up cancels the consultation. */
  private phoneDelegate(c: Consultation<C>): DialogDelegate {
    const mine = (d: Dialog): boolean => this.byCall.get(c.call.id) === c && c.phone?.dialog === d;
    return {
      onBye: (d) => { if (mine(d)) this.end(c, 'cancelled', true); },
      onTerminated: (d) => { if (mine(d)) this.end(c, 'cancelled', true); },
      onReinvite: (d, req) => answerReinvite(this.h.media, mine(d) ? c.phone?.leg : undefined, c.phone?.local, d, req),
      // A REFER here is not in the call's agent dialog: call control's rules answer it (481), INFO 200.
      onRequest: (d, req) => this.h.agentDialogDelegate(c.call).onRequest?.(d, req),
    };
  }

  /**
   * A's side of a consultation its phone started goes: an unanswered INVITE gets `status`, an
   * answered dialog a BYE (unless A hung it up: `aLeft`), and its leg is released.
   */
  private releasePhone(c: Consultation<C>, status: number, aLeft: boolean): void {
    const p = c.phone;
    if (p === undefined) return;
    p.invite.onCancel = undefined;
    if (p.dialog !== undefined) {
      if (!aLeft && p.dialog.state !== 'terminated') void this.h.ua.bye(p.dialog);
    } else if (!p.invite.answered) {
      p.invite.reject(status);
    }
    void this.h.media.release(p.leg);
  }

  private answered(c: Consultation<C>, dialog: Dialog, response: SipResponse): void {
    c.invite = undefined;
    if (this.byCall.get(c.call.id) !== c) {
      // Cancelled or over while the phone answered (a race with CANCEL): hang it up.
      void this.h.ua.bye(dialog);
      return;
    }
    c.dialog = dialog;
    const answer = acceptAnswer(response.body.toString('latin1'), c.local);
    // A talks to B on its own dialog's leg when its phone started the consultation.
    const agentLeg = c.phone?.leg ?? c.call.agentLeg;
    if (!answer.ok || agentLeg === undefined) {
      this.h.log.warn({ callId: c.call.id, consulted: c.agent, reason: answer.ok ? 'no agent leg' : answer.reason }, 'consultation answer unusable');
      this.end(c, 'failed');
      return;
    }
    const p = c.phone;
    if (p !== undefined) {
      p.dialog = p.invite.accept({ body: p.answer, contentType: 'application/sdp', delegate: this.phoneDelegate(c) });
      // A's phone cancelled as B answered (or refused the dialog): nobody to talk to B.
      if (p.dialog === undefined) {
        this.end(c, 'cancelled', true);
        return;
      }
    }
    if (c.timer !== undefined) this.h.clock.clearTimer(c.timer);
    c.timer = undefined;
    const now = this.h.clock.now();
    advance(c, 'talking');
    c.answeredAt = now;
    // Both at once: the worker takes a leg's commands in order, so the bridge uses this remote.
    void this.h.media.setRemote(c.leg, toLegRemote(answer.remote))
      .then((r) => { if (!r.ok) this.h.log.error({ callId: c.call.id, code: r.code, reason: r.reason }, 'consultation media remote not set'); });
    // Bridged already for B's early media (A's phone consulting): the worker's bridge stays.
    if (p?.progress !== 'early') {
      void this.h.media.bridge(agentLeg, c.leg)
        .then((r) => { if (!r.ok) this.h.log.error({ callId: c.call.id, code: r.code }, 'consultation bridge failed'); });
    }
    this.h.xfer.consultLegStarted(c.call.id, c.agent, c.call.queue, now);
    this.h.apply(this.h.acd.consultAnswered(c.call.id, now));
    this.h.changed(c.call, c.agent, c.from, 'talking', now);
  }

  /**
   * The consultation is over without completion: B's phone stops (CANCEL, or BYE unless it hung
   * up itself), the consult leg goes (the worker unbridges A's), the ACD frees B (after its
   * wrap-up, out of a conference), and the caller is bridged to A again (its hold ends), unless
   * it was held before the consultation: then it stays held until A resumes. A's own dialog (its
   * phone consulted) is answered or hung up unless A hung it up (`aLeft`); `bStatus` is B's
   * final answer when it declined.
   */
  private end(c: Consultation<C>, how: 'failed' | 'hangup' | 'cancelled', aLeft = false, bStatus?: number): void {
    if (this.byCall.get(c.call.id) !== c) return;
    this.forget(c);
    const call = c.call;
    const now = this.h.clock.now();
    c.invite?.cancel();
    c.invite = undefined;
    if (c.dialog !== undefined && c.dialog.state !== 'terminated' && how !== 'hangup') void this.h.ua.bye(c.dialog);
    if (c.stage === 'conference') this.dissolve(c);
    void this.h.media.release(c.leg);
    // A's phone learns it: its INVITE answered (B declined or not reached, or cancelled), its dialog ended.
    this.releasePhone(c, how === 'cancelled' ? 487 : phoneNotReached(bStatus).status, aLeft);
    if (c.answeredAt === null) this.h.xfer.consultFailed(call.id, c.agent, call.queue, now);
    else if (c.stage === 'conference') this.h.xfer.conferenceEnded(call.id, now);
    else this.h.xfer.consultLegEnded(call.id, now);
    this.h.changed(call, c.agent, c.from, 'cancelled', now);
    if (call.phase !== 'talking') return;
    this.h.apply(this.h.acd.consultEnded(call.id, now));
    // Held before the consultation (A's phone put the caller on hold): held it stays, until A resumes.
    // A conference took it off hold (it talked to both): it goes back to A as from any conference.
    if (c.heldBefore && c.stage !== 'conference') {
      this.h.log.info({ callId: call.id, agentId: call.agentId, consulted: c.agent, how }, 'consultation ended: the caller stays on hold');
      return;
    }
    const callerLeg = call.callerLeg;
    const agentLeg = call.agentLeg;
    if (callerLeg !== undefined && agentLeg !== undefined) {
      this.h.xfer.holdEnded(call.id, now);
      void this.h.media.bridge(callerLeg, agentLeg)
        .then((r) => { if (!r.ok) this.h.log.error({ callId: call.id, code: r.code }, 'bridge back after the consultation failed'); });
      this.h.bridgedAgain(call);
    }
    this.h.log.info({ callId: call.id, agentId: call.agentId, consulted: c.agent, how }, 'consultation ended: the caller is back with its agent');
  }

  /**
   * Completion (REFER with Replaces, the desktop, or A's hang-up): A's leg goes (the worker unbridges
   * it from the consult leg), the caller is bridged to the consult leg, which with B's dialog becomes
   * the call's agent side; the ACD makes B the call's agent and A goes to wrap-up. Returns A's dialog
   * (the caller of this hangs it up).
   */
  private completed(c: Consultation<C>): Dialog | undefined {
    this.forget(c);
    const call = c.call;
    const now = this.h.clock.now();
    const former = call.agentDialog;
    const formerAgent = call.agentId;
    if (c.stage === 'conference') this.dissolve(c);
    this.h.releaseAgentLeg(call);
    // A's own consultation dialog (its phone consulted) ends with its leg: A is out of the call.
    this.releasePhone(c, 480, false);
    call.agentId = c.agent;
    call.agentDialog = c.dialog;
    call.agentLocal = c.local;
    this.h.adoptAgentLeg(call, c.leg);
    const callerLeg = call.callerLeg;
    if (callerLeg !== undefined) {
      void this.h.media.bridge(callerLeg, c.leg)
        .then((r) => { if (!r.ok) this.h.log.error({ callId: call.id, code: r.code }, 'bridge to the consulted agent failed'); });
      this.h.bridgedAgain(call);
    }
    // The agent's and the consultation's legs end `transfer`, the hold ends, one more transfer.
    this.h.xfer.transferred(call.id, null, now, 'attended');
    this.h.xfer.agentLegStarted(call.id, c.agent, call.queue, now);
    this.h.xfer.counted('attended', 'ok');
    this.h.apply(this.h.acd.consultCompleted(call.id, now));
    this.h.answered(call, now);
    this.h.changed(call, c.agent, c.from, 'completed', now);
    this.h.log.info({ callId: call.id, from: formerAgent, to: c.agent }, 'attended transfer completed');
    return former;
  }

  /**
   * Take the conference apart before A's or B's leg goes: the caller's leg leaves first, which
   * leaves A and B bridged alone, so the worker dissolves the conference and they are a plain
   * relay again (were A's or B's leg released first, the caller would stay mixed with the other
   * in a two-party conference while bridged to it). The caller of this then releases the leaver's
   * leg and bridges the caller to the one who stays, the worker taking the commands in order.
   */
  private dissolve(c: Consultation<C>): void {
    const callerLeg = c.call.callerLeg;
    if (callerLeg === undefined) return;
    void this.h.media.leaveConference(callerLeg)
      .then((r) => { if (!r.ok) this.h.log.error({ callId: c.call.id, code: r.code, reason: r.reason }, 'leaving the conference failed'); });
  }

  private forget(c: Consultation<C>): void {
    this.byCall.delete(c.call.id);
    this.byLeg.delete(c.leg);
    if (c.phone !== undefined) this.byLeg.delete(c.phone.leg);
    if (c.timer !== undefined) this.h.clock.clearTimer(c.timer);
    c.timer = undefined;
  }
}

function refuse(code: ConsultRefusal, message: string): ConsultAnswer {
  return { ok: false, code, message };
}

/** Move a consultation to its next stage, or throw when {@link STAGE_NEXT} does not allow it (a bug, never input). */
function advance(c: { stage: Stage }, to: Stage): void {
  if (!STAGE_NEXT[c.stage].includes(to)) throw new CallsError('CALLS_ERR_ILLEGAL_TRANSITION', `consultation ${c.stage} → ${to} is not allowed`);
  c.stage = to;
}
