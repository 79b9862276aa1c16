/**
 * Supervisor monitoring of a bridged call (issue 16): listen, whisper or barge, started from the
 * API. The engine calls the supervisor, on the registered phone of a supervisor's extension or a
 * number through an outbound trunk, and joins the answered leg to the call in a media-worker
 * conference (media/worker/conference.ts):
 *
 * ```
 *             caller hears     agent hears            supervisor hears
 *  listen     agent            caller                 caller + agent      (supervisor silent to all)
 *  whisper    agent            caller + supervisor    caller + agent      (the caller never hears the supervisor)
 *  barge      agent + sup.     caller + supervisor    caller + agent      (three-way)
 * ```
 * A second request for a monitored call with the same supervisor changes the mode on the same
 * leg (a new CDR entry); another supervisor is refused. The supervisor hanging up ends the
 * monitoring; the call ending hangs the supervisor up. Each mode's stretch is one `monitoring`
 * entry of the CDR (contract C1).
 */
import type { Logger } from 'pino';
import type { Dialog } from '../sip/index.ts';
import { acceptAnswer, createOffer } from '../../media/index.ts';
import type { ConferenceParty, G711, LegId } from '../../media/index.ts';
import type { CdrMonitoring } from '../../crm-adapter/index.ts';
import type { OutboundCall, DialEvents, DialRequest } from '../outbound/index.ts';
import { agentLocalMedia, ringAgentPhone, sdpBody, toLegRemote, type AgentLocalMedia } from './ring.ts';
import type { AgentContact, AgentDirectory, CallMedia, CallUserAgent } from './types.ts';

/** Monitoring modes. */
export type MonitorMode = CdrMonitoring['mode'];

/** Stable refusal codes of {@link CallMonitor.start}. */
export type MonitorRefusal =
  | 'CALLS_ERR_NO_CALL' // no call in progress with this id
  | 'CALLS_ERR_NOT_TALKING' // not bridged to an agent
  | 'CALLS_ERR_MONITORED' // another supervisor monitors it
  | 'CALLS_ERR_CONSULTING' // its agent consults another agent (the caller on hold)
  | 'CALLS_ERR_IN_CONFERENCE' // a three-way conference: the media worker's mixer has no fourth place
  | 'CALLS_ERR_NOT_SUPERVISOR' // the extension is not a supervisor's phone
  | 'CALLS_ERR_NO_PHONE' // the supervisor's phone is not registered, or no outbound trunk
  | 'CALLS_ERR_MEDIA'; // no media leg for the supervisor

/** Answer of {@link CallMonitor.start}. */
export type MonitorStart = { ok: true; monitorId: string } | { ok: false; code: MonitorRefusal; message: string };

/** A bridged call as monitoring sees it. */
export interface MonitoredCall {
  callId: string;
  caller: string;
  callerLeg: LegId;
  agentLeg: LegId;
  codec: G711;
  /**
   * The stage of the call's consultation (consult.ts), null without one. Monitoring joins the
   * caller's and the agent's legs in a mixer of three: during a consultation that would take the
   * held caller back to its agent, and a three-way conference has its three parties already.
   */
  consultation: 'ringing' | 'talking' | 'conference' | null;
}

/** What monitoring needs. */
export interface MonitorDeps {
  ua: CallUserAgent;
  media: Pick<CallMedia, 'allocate' | 'setRemote' | 'release' | 'conference' | 'leaveConference'>;
  agents: Pick<AgentDirectory, 'contacts' | 'agentByExtension'>;
  /** The bridged call, `undefined` for no call, `null` for a call not talking to an agent. */
  call(callId: string): MonitoredCall | null | undefined;
  /** Whether the phone of this agent id is a supervisor's (a supervisor or admin user works as it). */
  isSupervisorPhone(agentId: string): boolean;
  /** Outbound calls through the trunks (a supervisor on a mobile number); absent = numbers refused. */
  outbound?: { dial(req: DialRequest, events: DialEvents): OutboundCall };
  now(): number;
  log: Logger;
}

interface Monitor {
  id: string;
  callId: string;
  supervisor: string;
  mode: MonitorMode;
  leg: LegId | undefined;
  /** BYE / CANCEL the supervisor's side. */
  hangup: (() => void) | undefined;
  answered: boolean;
  startedAt: number;
  done: CdrMonitoring[];
  over: boolean;
}

/** The monitoring sessions of calls in progress. */
export class CallMonitor {
  private readonly byCall = new Map<string, Monitor>();
  /** Finished entries of calls still up (a supervisor who hung up), for the CDR. */
  private readonly finished = new Map<string, CdrMonitoring[]>();
  private next = 1;

  constructor(private readonly d: MonitorDeps) {}

  /** Calls monitored now. */
  get size(): number {
    return this.byCall.size;
  }

  /** Whether a supervisor monitors the call (or is being called to). */
  monitoring(callId: string): boolean {
    return this.byCall.has(callId);
  }

  /**
   * The caller was bridged to an agent again (after a hold, a consultation, an attended transfer:
   * the unbridge took the caller and the agent out of the monitoring's mix): the answered
   * supervisor joins the call's caller and its agent now, the one who has the call.
   */
  async rejoin(callId: string): Promise<void> {
    const m = this.byCall.get(callId);
    const call = this.d.call(callId);
    if (m === undefined || !m.answered || call == null) return;
    await this.join(call, m);
  }

  /** Start (or change the mode of) monitoring a call. */
  async start(callId: string, req: { mode: MonitorMode; supervisor: string | null; number: string | null }): Promise<MonitorStart> {
    const call = this.d.call(callId);
    if (call === undefined) return { ok: false, code: 'CALLS_ERR_NO_CALL', message: `no call ${callId} in progress` };
    if (call === null) return { ok: false, code: 'CALLS_ERR_NOT_TALKING', message: `call ${callId} is not talking to an agent` };
    if (call.consultation === 'conference') return { ok: false, code: 'CALLS_ERR_IN_CONFERENCE', message: `call ${callId} is a three-way conference` };
    if (call.consultation !== null) return { ok: false, code: 'CALLS_ERR_CONSULTING', message: `the agent of call ${callId} consults another agent` };
    const who = req.supervisor ?? req.number ?? '';
    const current = this.byCall.get(callId);
    if (current !== undefined) {
      if (current.supervisor !== who) return { ok: false, code: 'CALLS_ERR_MONITORED', message: `call ${callId} is monitored by ${current.supervisor}` };
      if (current.answered) {
        this.closeEntry(current);
        current.mode = req.mode;
        current.startedAt = this.d.now();
        await this.join(call, current);
      } else current.mode = req.mode;
      return { ok: true, monitorId: current.id };
    }
    let phone: AgentContact | undefined;
    if (req.supervisor !== null) {
      const agentId = this.d.agents.agentByExtension(req.supervisor);
      if (agentId === undefined || !this.d.isSupervisorPhone(agentId)) {
        return { ok: false, code: 'CALLS_ERR_NOT_SUPERVISOR', message: `extension ${req.supervisor} is not a supervisor's phone` };
      }
      phone = this.d.agents.contacts(agentId)[0];
      if (phone === undefined) return { ok: false, code: 'CALLS_ERR_NO_PHONE', message: `the phone of ${req.supervisor} is not registered` };
    } else if (this.d.outbound === undefined) {
      return { ok: false, code: 'CALLS_ERR_NO_PHONE', message: 'no outbound trunk to call a number through' };
    }
    const leg = await this.d.media.allocate({ near: call.callerLeg, codec: call.codec, rtpTimeoutMs: 0 });
    if (!leg.ok) return { ok: false, code: 'CALLS_ERR_MEDIA', message: leg.reason };
    const m: Monitor = {
      id: `m${(this.next++).toString(36)}`, callId, supervisor: who, mode: req.mode, leg: leg.value.leg, hangup: undefined,
      answered: false, startedAt: 0, done: [], over: false,
    };
    this.byCall.set(callId, m);
    const local = agentLocalMedia(leg.value, call.codec);
    const answered = (dialog: Dialog | undefined, sdp: string, bye: () => void): void => {
      m.hangup = bye;
      if (m.over) {
        bye();
        return;
      }
      this.answered(m, local, sdp, dialog).catch((err: unknown) => {
        this.d.log.error({ err, callId: m.callId }, 'monitoring join failed');
        this.stop(m, true);
      });
    };
    if (phone !== undefined) {
      let dialogOf: Dialog | undefined;
      const invite = ringAgentPhone({
        ua: this.d.ua, contact: phone, agentId: who, number: call.caller, display: `monitor ${req.mode}`, local,
        headers: [{ name: 'X-Onair-Call-ID', value: callId }, { name: 'X-Onair-Monitor', value: req.mode }],
        dialogDelegate: { onBye: () => this.supervisorLeft(m), onTerminated: () => this.supervisorLeft(m) },
        delegate: {
          onAccept: (dialog, response) => {
            dialogOf = dialog;
            answered(dialog, response.body.toString('latin1'), () => { void this.d.ua.bye(dialog); });
          },
          onReject: () => this.supervisorLeft(m),
          onFailure: () => this.supervisorLeft(m),
        },
      });
      m.hangup = () => { if (dialogOf === undefined) invite.cancel(); };
    } else {
      const out = this.d.outbound!.dial({ number: req.number!, callerId: null, sdp: sdpBody(createOffer(local)), callId: `${callId}-${m.id}` }, {
        onAnswered: (a) => answered(a.dialog, a.sdp?.toString('latin1') ?? '', () => out.hangup()),
        onFailed: () => this.supervisorLeft(m),
        onEnded: () => this.supervisorLeft(m),
      });
      m.hangup ??= () => out.hangup();
    }
    return { ok: true, monitorId: m.id };
  }

  /** The call is over: hang the supervisor up; the CDR's entries (undefined when never monitored). */
  ended(callId: string): CdrMonitoring[] | undefined {
    const m = this.byCall.get(callId);
    const done = this.finished.get(callId) ?? [];
    this.finished.delete(callId);
    if (m !== undefined) {
      this.stop(m, true);
      done.push(...m.done);
    }
    return done.length > 0 || m !== undefined ? done : undefined;
  }

  private async answered(m: Monitor, local: AgentLocalMedia, sdp: string, _dialog: Dialog | undefined): Promise<void> {
    const call = this.d.call(m.callId);
    const answer = acceptAnswer(sdp, local);
    if (call == null || !answer.ok || m.leg === undefined) {
      this.d.log.warn({ callId: m.callId, supervisor: m.supervisor, reason: answer.ok ? 'call over' : answer.reason }, 'monitoring not joined');
      this.stop(m, true);
      return;
    }
    m.answered = true;
    m.startedAt = this.d.now();
    await this.d.media.setRemote(m.leg, toLegRemote(answer.remote));
    await this.join(call, m);
  }

  /** Join (or re-join in a new mode) the supervisor's leg to the call's conference. */
  private async join(call: MonitoredCall, m: Monitor): Promise<void> {
    if (m.leg === undefined) return;
    const r = await this.d.media.conference(conferenceOf(call.callerLeg, call.agentLeg, m.leg, m.mode));
    if (!r.ok) this.d.log.error({ callId: m.callId, code: r.code, reason: r.reason }, 'monitoring conference failed');
    else this.d.log.info({ callId: m.callId, supervisor: m.supervisor, mode: m.mode }, 'monitoring');
  }

  private supervisorLeft(m: Monitor): void {
    if (m.over) return;
    this.stop(m, false);
    if (m.done.length > 0) {
      const list = this.finished.get(m.callId) ?? [];
      list.push(...m.done);
      this.finished.set(m.callId, list);
    }
  }

  private stop(m: Monitor, hangUp: boolean): void {
    if (m.over) return;
    m.over = true;
    this.closeEntry(m);
    if (this.byCall.get(m.callId) === m) this.byCall.delete(m.callId);
    if (hangUp) m.hangup?.();
    const leg = m.leg;
    m.leg = undefined;
    if (leg !== undefined) void this.d.media.release(leg);
  }

  private closeEntry(m: Monitor): void {
    if (!m.answered || m.startedAt === 0) return;
    m.done.push({ supervisor: m.supervisor, mode: m.mode, startedAt: m.startedAt, endedAt: this.d.now() });
    m.startedAt = 0;
  }
}

/** Who hears whom in each mode (the table in the file comment). */
export function conferenceOf(caller: LegId, agent: LegId, supervisor: LegId, mode: MonitorMode): ConferenceParty[] {
  return [
    { leg: caller, hears: mode === 'barge' ? [agent, supervisor] : [agent] },
    { leg: agent, hears: mode === 'listen' ? [caller] : [caller, supervisor] },
    { leg: supervisor, hears: [caller, agent] },
  ];
}
