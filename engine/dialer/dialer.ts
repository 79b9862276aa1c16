/**
 * The callback dialer: progressive, agent first (contract D3, docs/dialer.md). The durable store
 * owns tasks and attempts; the pure ACD holds the tasks due now as `kind: 'callback'` entries and
 * decides when an agent takes one; this runtime carries the decision out.
 *
 * ```
 *  poll (pollMs, an agent idle) ─▶ store.due ─▶ dialable? ─▶ acd.addCallback('cb:<id>')   (bounded per queue)
 *  ACD offer ─▶ startAttempt ─▶ INVITE agent (screen pop) ─▶ 200 ─▶ acd.offerAnswered
 *            ─▶ customer leg ─▶ OutboundDialer.dial ─▶ early media relayed ─▶ 200: bridge
 *  BYE either side ─▶ BYE the other ─▶ acd.callEnded ─▶ finishAttempt('answered')
 *  not reached ─▶ acd.callbackUnreached (agent idle at once) ─▶ finishAttempt(result)
 *  agent ring-no-answer ─▶ the ACD's rule (not-ready, task back to the head) ─▶ finishAttempt('agent_no_answer')
 *  mode preview: ACD offer ─▶ startAttempt ─▶ `callback.preview` event (the desktop) ─▶ API answer:
 *    accept ─▶ acd.offerAnswered ─▶ INVITE agent ─▶ the progressive path from the agent's answer
 *    skip / reschedule ─▶ acd.callbackUnreached (agent idle) ─▶ finishAttempt('skipped') (+ the agent's time)
 *    the queue's ring timeout ─▶ the ACD's rule (not-ready, back to the head) ─▶ finishAttempt('agent_no_answer')
 *  mode ivr (campaign surveys, no agent, no ACD entry): poll ─▶ due contacts within the campaign's
 *    limits (calls in progress, calls/s) ─▶ startAttempt ─▶ OutboundDialer.dial ─▶ 200: the survey
 *    runs on the customer's leg (engine/calls survey.ts; digits and prompt ends come through the
 *    port) ─▶ its end, or the customer's BYE ─▶ finishAttempt('answered') + the answers (hooks)
 *    not reached ─▶ finishAttempt(result): the policy's retry, or exhausted
 * ```
 *
 * Every ACD input goes through call control's effect loop (`decide`); the ACD's effects for
 * callback entries come back through the {@link CallbackOffers} port this class implements. An
 * attempt's phase changes only through `transition` (phase.ts). Records of an attempt (events
 * `callback_attempt`, `callback_completed`, the outbound CDR) go to the durable outbox in order,
 * in the lane of the attempt's call id.
 */
import type { Logger } from 'pino';
import type { Acd, AcdEffect } from '../acd/index.ts';
import type { Clock, Dialog, TimerHandle } from '../sip/index.ts';
import type { LegId, G711 } from '../../media/index.ts';
import { acceptAnswer, createOffer, type Playlist } from '../../media/index.ts';
import { PredictivePacer, previousAiringFirst, type PacingSettings } from '../callbacks/index.ts';
import { agentLocalMedia, answerReinvite, notePlayed, promptPlaylist, ringAgentPhone, sdpBody, SurveyRun, toLegRemote } from '../calls/index.ts';
import type { AgentDirectory, AgentLocalMedia, CallbackOffers, CallControlEvent, CallMedia, CallUserAgent, DtmfHost, Flow, SurveyOutcome } from '../calls/index.ts';
import type { Store } from '../store/index.ts';
import type { CallEvent, CallerInfo, Cdr, ReleasedBy } from '../../crm-adapter/index.ts';
import { CONTRACT_VERSION } from '../../crm-adapter/index.ts';
import { epochClock } from '../clock/index.ts';
import { transition, type AttemptPhase } from './phase.ts';
import { CallLimits, type CallLimit } from './limits.ts';
import type { InFlight, PredictiveShare } from './predictive-share.ts';
import type {
  AttemptResult, DialerLookup, DialerSettings, DialerTask, DialerTaskStore, DialResult, OutboundCall, OutboundPort, PreviewAnswer, PreviewChoice,
} from './types.ts';

/**
 * Entries kept in the ACD per queue beyond its staffed agents: enough that an agent freed while a
 * poll is under way finds a task at once, few enough that the ACD never holds the whole backlog
 * (the store owns it; the ACD gets what can be dialled now).
 */
export const ENTRY_HEADROOM = 2;

/** Prefix of the ACD ids of callback entries (`cb:<taskId>`); a campaign dialer has its own. */
export const CALLBACK_ENTRY_PREFIX = 'cb:';

/** What the ACD is told when an attempt closes. */
type AcdClose =
  /** Nothing: the ACD withdrew the offer itself (ring timeout, agent status) or the entry is gone. */
  | 'none'
  /** The phone declined or could not be reached: the ACD's reject rule (not-ready, back to the head). */
  | 'rejected'
  /** The customer was not reached: the entry ends, the agent is idle at once. */
  | 'unreached'
  /** Talked: the entry ends completed, the agent's wrap-up starts. */
  | 'ended'
  /** The task is not open any more (cancelled, done elsewhere): the entry leaves the ACD. */
  | 'removed';

/** A task loaded into the ACD. */
interface Entry {
  readonly acdId: string;
  task: DialerTask;
  readonly queue: string;
  /** The attempt in progress, until it is recorded. */
  attempt: Attempt | null;
  /** An offer that came while the previous attempt was still being recorded. */
  pendingOffer: Extract<AcdEffect, { type: 'offer' }> | null;
  /** Left the ACD (its `ended` effect came). */
  gone: boolean;
}

/** One attempt of one task. */
interface Attempt {
  phase: AttemptPhase;
  readonly entry: Entry;
  readonly callId: string;
  agentId: string;
  readonly startedAt: number;
  /** The store's attempt row, once claimed. */
  attemptId: number | null;
  /** The claim and the agent's ring under way: recording waits for it (a withdrawn claim is still finished). */
  claimed: Promise<void>;
  attemptNo: number;
  display: string;
  agentLeg: LegId | undefined;
  agentLocal: AgentLocalMedia | undefined;
  agentCodec: G711;
  agentInvite: { cancel(): void } | undefined;
  agentDialog: Dialog | undefined;
  customerLeg: LegId | undefined;
  customerLocal: AgentLocalMedia | undefined;
  outbound: OutboundCall | undefined;
  bridged: boolean;
  agentAnsweredAt: number | null;
  answeredAt: number | null;
  trunk: string | null;
  sipStatus: number | null;
  releasedBy: ReleasedBy;
  /** The offer's ring timeout (the ACD's, per queue): bounds a preview, then the accepted phone's ring. */
  ringTimeoutMs: number;
  /** The CRM look-up of the screen pop (null without one). */
  customer: CallerInfo | null;
  /** The ACD was told `offerAnswered` already (a preview the agent accepted). */
  acdAnswered: boolean;
  /** The dialer's own ring timer of an accepted preview's phone (the ACD's stopped at the accept). */
  ringTimer: TimerHandle | undefined;
  /** The agent rescheduled the preview to this instant (recorded after `skipped`). */
  rescheduleAt: number | null;
  rescheduleNote: string | undefined;
  /** Predictive: the 2 s timer of an answered customer waiting for an agent. */
  holdTimer: TimerHandle | undefined;
  /** Predictive: no agent within 2 s (a dialer abandon: "please hold" played). */
  abandoned: boolean;
  /** Prompts played to the customer (the outbound CDR's `played`). */
  played: string[];
  /** Mode ivr: the survey running on the customer's leg. */
  survey: SurveyRun | undefined;
  /** Mode ivr: how the survey ended (recorded with the attempt). */
  surveyOutcome: SurveyOutcome | null;
  /** Mode ivr: the playlist on the customer's leg, and what follows its end. */
  playId: number;
  afterPlay: (() => void) | undefined;
  /** Mode ivr: the campaign whose call limit this attempt holds. */
  limitKey: string | null;
}

/** What the dialer needs. */
export interface CallbackDialerDeps {
  acd: Acd;
  /** Call control's effect loop: every ACD input of the dialer goes through it. */
  decide(input: () => AcdEffect[]): void;
  tasks: DialerTaskStore;
  /** The outbox (events in order per call, CDRs). */
  store: Pick<Store, 'callEvent' | 'finishCall'>;
  outbound: OutboundPort;
  ua: CallUserAgent;
  media: Pick<CallMedia, 'allocate' | 'setRemote' | 'bridge' | 'release' | 'play' | 'stop'>;
  agents: Pick<AgentDirectory, 'contacts'>;
  /** The attempt policy's `isDialable` with its config and the do-not-call list bound. */
  dialable(task: DialerTask, now: number): boolean;
  lookup?: DialerLookup;
  /** Run before each load of due tasks: expiry and do-not-call closing of open tasks (the store's). */
  housekeep?(now: number): Promise<unknown>;
  settings: DialerSettings;
  /** The engine's event stream (the `callback.preview` events of preview mode). */
  observe?(e: CallControlEvent): void;
  /**
   * An outbound campaign's dialer (engine/campaigns): the tasks are campaign contacts. Records
   * carry the campaign (CDR `campaignId`, no `callback_*` events), the agent's INVITE names it, and
   * a contact closed unreached is handed to `closed` (its `campaign_result`).
   */
  campaign?: CampaignHooks;
  /** Mode predictive: the auto-answer agents, the pacer's settings, the "please hold" playlist. */
  predictive?: PredictiveDeps;
  /** Mode ivr: each contact's survey and call limits, and where its answers go. */
  survey?: SurveyDeps;
  log: Logger;
  clock?: Clock;
}

/** What predictive (customer-first) dialing needs. */
export interface PredictiveDeps {
  /** The agents on auto-answer (config `agents[].autoAnswer`): the pacer counts these. */
  agentIds(): readonly string[];
  pacing?: Partial<PacingSettings>;
  /** Played to an answered customer no agent took within {@link HOLD_AFTER_MS}. */
  holdPrompt: Playlist;
  /** Shared by every predictive dialer over these agents: customers in flight, agents' busy times. */
  share: PredictiveShare;
}

/** What IVR survey dialing (mode ivr) needs of engine/campaigns. Must not throw. */
export interface SurveyDeps {
  /** The survey of a contact (task id); null: the contact is not dialled. */
  flowOf(taskId: number): Flow | null;
  /** The call limits of a contact's campaign; null: the contact is not dialled. */
  limitsOf(taskId: number): CallLimit | null;
  /** Language of the survey's prompts (`<language>/<name>`). */
  language: string;
  /** A contact whose survey was answered: its answers, after the attempt is recorded. */
  answered(task: DialerTask, callId: string, outcome: SurveyOutcome): void;
}

/** Due contacts one poll of mode ivr looks at. */
export const SURVEY_PAGE = 50;

/** An answered customer with no agent after this is a dialer abandon and hears "please hold" (regulators' 2 s). */
export const HOLD_AFTER_MS = 2000;

/** Call-Info of an INVITE to an auto-answer phone (RFC 7462's answer-after; baresip's answermode honours it). */
export const AUTO_ANSWER_HEADERS: readonly { name: string; value: string }[] = [
  { name: 'Call-Info', value: '<sip:onair.invalid>;answer-after=0' },
  { name: 'Alert-Info', value: '<http://onair.invalid/alert/auto>;info=alert-autoanswer' },
];

/** What a campaign dialer asks of engine/campaigns. Must not throw. */
export interface CampaignHooks {
  /** The campaign of a contact (task id), or null when unknown. */
  of(taskId: number): { id: string; name: string } | null;
  /** A contact closed without talking (exhausted, cancelled, expired) after an attempt. */
  closed(task: DialerTask, callId: string, result: AttemptResult): void;
}

/** The runtime of callback dialing. Implements call control's callback port. */
export class CallbackDialer implements CallbackOffers {
  private readonly d: CallbackDialerDeps;
  private readonly clock: Clock;
  /** Tasks in the ACD, by ACD id. */
  private readonly entries = new Map<string, Entry>();
  private readonly byLeg = new Map<LegId, Attempt>();
  /** Attempts being recorded (finishAttempt and records), awaited by {@link stop}. */
  private readonly recording = new Set<Promise<void>>();
  private pollTimer: TimerHandle | undefined;
  private soonTimer: TimerHandle | undefined;
  private polling = false;
  private pollAgain = false;
  private stopped = true;
  private attemptSeq = 0;
  /** Prefix of this dialer's ACD entry ids. */
  readonly prefix: string;
  /** Predictive pacing (mode predictive): answer rate, handle times, the abandon window. */
  readonly pacer: PredictivePacer;
  /** Predictive: when each auto-answer agent's current dialled call began (shared by every predictive dialer). */
  private readonly busySince: Map<string, number>;
  /** Mode ivr: each campaign's calls in progress and calls per second. */
  readonly limits = new CallLimits();
  /** Surge mode: the airings whose tasks are dialled first (the previous airing of each airing in surge). */
  private first: ReadonlySet<string> = new Set();

  constructor(deps: CallbackDialerDeps) {
    this.d = deps;
    this.clock = deps.clock ?? epochClock;
    this.prefix = deps.settings.entryPrefix ?? CALLBACK_ENTRY_PREFIX;
    this.pacer = new PredictivePacer(deps.predictive?.pacing);
    this.busySince = deps.predictive?.share.busySince ?? new Map();
    deps.predictive?.share.join(() => this.inFlight());
  }

  /** Predictive: this dialer's customers being dialled, and answered but not yet with an agent. */
  private inFlight(): InFlight {
    let dialing = 0;
    let held = 0;
    for (const e of this.entries.values()) {
      const ph = e.attempt?.phase;
      if (ph === 'claiming' || ph === 'dialing') dialing++;
      else if (ph === 'waiting' || ph === 'connecting') held++;
    }
    return { dialing, held };
  }

  /** True when `acdId` is one of this dialer's entries (the offers mux routes by it). */
  owns(acdId: string): boolean {
    return acdId.startsWith(this.prefix);
  }

  /** Start polling for due tasks (the first poll at once). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedulePoll(0);
  }

  /**
   * Stop: no more polls; attempts in progress are hung up and recorded `interrupted` (their tasks
   * are due again at once, by the policy); resolves when every attempt is recorded. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pollTimer !== undefined) this.clock.clearTimer(this.pollTimer);
    if (this.soonTimer !== undefined) this.clock.clearTimer(this.soonTimer);
    this.pollTimer = this.soonTimer = undefined;
    for (const e of [...this.entries.values()]) {
      if (e.attempt) this.close(e.attempt, 'interrupted', e.attempt.phase === 'talking' ? 'ended' : 'unreached');
      else if (!e.gone) this.d.decide(() => this.d.acd.abandon(e.acdId, this.now()));
    }
    while (this.recording.size > 0) await Promise.all([...this.recording]);
  }

  /**
   * Take back the entries waiting in the ACD that no attempt has started (a campaign's dialer
   * holding for a surge: no new attempt from what it loaded before); their tasks stay open and
   * are loaded again by a later poll. Attempts under way finish. Returns the entries taken back.
   */
  withdrawWaiting(): number {
    let n = 0;
    for (const e of [...this.entries.values()]) {
      if (e.attempt !== null || e.gone || e.pendingOffer !== null) continue;
      n++;
      this.d.decide(() => this.d.acd.abandon(e.acdId, this.now()));
    }
    return n;
  }

  /**
   * Surge mode (issue 18): the tasks of these airings are dialled before any other while one of
   * them is due (engine/callbacks order.ts); empty = by original arrival only. Entries of other
   * airings loaded but not started are taken back, so the ACD holds the previous airing's first.
   */
  setFirstAirings(airings: ReadonlySet<string>): void {
    const same = airings.size === this.first.size && [...airings].every((a) => this.first.has(a));
    if (same) return;
    this.first = new Set(airings);
    if (this.first.size > 0) {
      for (const e of [...this.entries.values()]) {
        if (e.attempt !== null || e.gone || e.pendingOffer !== null || this.first.has(e.task.airing ?? '')) continue;
        this.d.decide(() => this.d.acd.abandon(e.acdId, this.now()));
      }
    }
    this.poll();
  }

  /** The due tasks of one load, in surge mode's order (engine/callbacks order.ts). */
  private async dueNow(now: number, limit: number, exclude: ReadonlySet<number>): Promise<DialerTask[]> {
    const due = await this.d.tasks.due(now, limit, exclude);
    if (this.first.size === 0) return due;
    const prior = await this.d.tasks.dueOfAirings(now, limit, [...this.first], exclude);
    return previousAiringFirst([...prior, ...due], this.first);
  }

  /** Tasks in the ACD and attempts in progress (API, tests). */
  get stats(): { entries: number; attempts: number } {
    let attempts = 0;
    for (const e of this.entries.values()) if (e.attempt) attempts++;
    return { entries: this.entries.size, attempts };
  }

  private now(): number {
    return this.clock.now();
  }

  // ---- loading due tasks --------------------------------------------------------------------

  private schedulePoll(ms: number): void {
    if (this.stopped) return;
    if (this.pollTimer !== undefined) this.clock.clearTimer(this.pollTimer);
    this.pollTimer = this.clock.setTimer(ms, () => {
      this.pollTimer = undefined;
      this.poll();
      this.schedulePoll(this.d.settings.pollMs);
    });
  }

  /** An available agent became idle: load a task for it now rather than at the next poll. */
  agentFree(_agentId: string): void {
    if (this.stopped || this.soonTimer !== undefined) return;
    // After the effect loop that freed the agent: the ACD may be offering it a live caller.
    this.soonTimer = this.clock.setTimer(0, () => {
      this.soonTimer = undefined;
      this.poll();
    });
  }

  /** Load due, dialable tasks into the ACD, up to each queue's staffed agents plus the headroom. */
  poll(): void {
    if (this.stopped) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = true;
    void this.load().catch((err: unknown) => this.d.log.error({ err }, 'loading due callback tasks failed')).finally(() => {
      this.polling = false;
      if (this.pollAgain) {
        this.pollAgain = false;
        this.poll();
      }
    });
  }

  private async load(): Promise<void> {
    const now = this.now();
    await this.d.housekeep?.(now);
    if (this.d.settings.mode === 'predictive') {
      await this.pace(now);
      return;
    }
    if (this.d.settings.mode === 'ivr') {
      await this.surveyLoad(now);
      return;
    }
    const room = new Map<string, number>();
    let total = 0;
    for (const q of this.d.acd.snapshot(now).queues) {
      const r = q.staffed > 0 ? q.staffed + ENTRY_HEADROOM : 0;
      room.set(q.queueId, r);
      total += r;
    }
    for (const e of this.entries.values()) {
      room.set(e.queue, (room.get(e.queue) ?? 0) - 1);
      total--;
    }
    if (total <= 0) return;
    // Tasks held here, and those this poll found not dialable now, are not asked for again.
    const exclude = new Set<number>();
    for (const e of this.entries.values()) exclude.add(e.task.id);
    for (let page = 0; page < 4 && total > 0; page++) {
      const due = await this.dueNow(now, total, exclude);
      if (this.stopped) return;
      for (const task of due) {
        exclude.add(task.id);
        const queue = room.has(task.queue) ? task.queue : this.d.settings.defaultQueue;
        const left = room.get(queue) ?? 0;
        if (left <= 0 || this.entries.has(this.prefix + task.id)) continue;
        if (!this.d.dialable(task, now)) continue;
        room.set(queue, left - 1);
        total--;
        this.add(task, queue);
      }
      if (due.length < total) return;
    }
  }

  private add(task: DialerTask, queue: string): void {
    const entry: Entry = { acdId: this.prefix + task.id, task, queue, attempt: null, pendingOffer: null, gone: false };
    this.entries.set(entry.acdId, entry);
    const now = this.now();
    this.d.decide(() => this.d.acd.addCallback({
      id: entry.acdId, queueId: queue, callerNumber: task.caller, dialledNumber: task.dialled ?? '',
      arrivalTime: task.arrivedAt,
    }, now));
    if (this.d.acd.inspectCall(entry.acdId) === undefined && entry.attempt === null) {
      // Refused or merged at once (its `ended` came and removed it): nothing stays behind.
      this.entries.delete(entry.acdId);
    }
  }

  // ---- the port: ACD effects of callback entries ---------------------------------------------

  /** The ACD offers a task to an agent. */
  offer(e: Extract<AcdEffect, { type: 'offer' }>): void {
    const entry = this.entries.get(e.callId);
    if (!entry || this.stopped) {
      this.d.log.warn({ callId: e.callId, agentId: e.agentId }, 'offer of a callback entry the dialer does not hold: removed');
      this.d.decide(() => this.d.acd.abandon(e.callId, this.now()));
      return;
    }
    if (entry.attempt?.phase === 'waiting') {
      // Predictive: an answered customer waits; the ACD chose the agent.
      this.connectAgent(entry.attempt, e.agentId, e.ringTimeoutMs);
      return;
    }
    if (entry.attempt !== null) {
      // The previous attempt is still being recorded: this one starts when it is.
      entry.pendingOffer = e;
      return;
    }
    this.begin(entry, e.agentId, e.ringTimeoutMs);
  }

  /** The ACD withdrew an offer: ring timeout (its not-ready rule already applied), agent status, removal. */
  cancelOffer(e: Extract<AcdEffect, { type: 'cancelOffer' }>): void {
    const entry = this.entries.get(e.callId);
    if (!entry) return;
    if (entry.pendingOffer?.agentId === e.agentId) entry.pendingOffer = null;
    const a = entry.attempt;
    if (a && a.agentId === e.agentId && a.phase === 'connecting') {
      // Predictive: the ACD's rule applied to the agent; the customer keeps waiting for the next one.
      this.backToWaiting(a);
      return;
    }
    if (a && a.agentId === e.agentId && (a.phase === 'claiming' || a.phase === 'previewing' || a.phase === 'ringing')) {
      if (a.phase === 'previewing') this.previewEvent(a, 'withdrawn');
      this.close(a, 'agent_no_answer', 'none');
    }
  }

  /** A callback entry left the ACD. */
  ended(e: Extract<AcdEffect, { type: 'ended' }>): void {
    const entry = this.entries.get(e.callId);
    if (!entry) return;
    entry.gone = true;
    entry.pendingOffer = null;
    // An attempt still in progress keeps its entry until it is recorded.
    if (entry.attempt === null) this.entries.delete(e.callId);
  }

  /** "Stop when the customer calls in again": an agent answered an inbound call of the number. */
  inboundAnswered(e: { callId: string; caller: string; at: number }): void {
    if (e.caller.length === 0) return;
    void this.d.tasks.satisfiedByInbound(e.caller, e.callId, e.at)
      .catch((err: unknown) => this.d.log.error({ err, callId: e.callId }, 'closing the callback task of an inbound caller failed'));
  }

  /** RTP silence on one of the dialer's legs. */
  rtpTimeout(leg: LegId): void {
    const a = this.byLeg.get(leg);
    if (!a) return;
    this.d.log.warn({ callId: a.callId, leg }, 'RTP timeout: tearing the callback down');
    if (a.phase === 'talking' || a.phase === 'surveying') {
      a.releasedBy = 'system';
      this.close(a, 'answered', 'ended');
    } else {
      this.close(a, 'failed', 'unreached');
    }
  }

  // ---- one attempt ------------------------------------------------------------------------

  private begin(entry: Entry, agentId: string, ringTimeoutMs: number): void {
    const now = this.now();
    const a: Attempt = {
      phase: 'claiming', entry, callId: `o${now.toString(36)}-${(++this.attemptSeq).toString(36)}`, agentId, startedAt: now,
      attemptId: null, claimed: Promise.resolve(), attemptNo: 0, display: entry.task.caller, agentLeg: undefined, agentLocal: undefined, agentCodec: 'PCMU',
      agentInvite: undefined, agentDialog: undefined, customerLeg: undefined, customerLocal: undefined, outbound: undefined,
      bridged: false, agentAnsweredAt: null, answeredAt: null, trunk: null, sipStatus: null, releasedBy: 'system',
      ringTimeoutMs, customer: null, acdAnswered: false, ringTimer: undefined, rescheduleAt: null, rescheduleNote: undefined,
      holdTimer: undefined, abandoned: false, played: [], survey: undefined, surveyOutcome: null, playId: -1, afterPlay: undefined, limitKey: null,
    };
    entry.attempt = a;
    a.claimed = this.claim(a).catch((err: unknown) => {
      this.d.log.error({ err, callId: a.callId, task: entry.task.id }, 'callback attempt failed');
      this.close(a, 'failed', 'unreached');
    });
  }

  private async claim(a: Attempt): Promise<void> {
    const entry = a.entry;
    const [r, info] = await Promise.all([
      this.d.tasks.startAttempt(entry.task.id, { callId: a.callId, agentId: a.agentId === '' ? null : a.agentId }, a.startedAt),
      this.d.lookup ? this.d.lookup.lookup(entry.task.caller, entry.task.dialled ?? '', this.d.settings.lookupDeadlineMs, a.callId) : null,
    ]);
    if (!r.ok) {
      // Closed meanwhile (API, an inbound answer, expiry): the entry leaves the ACD, nothing recorded.
      this.d.log.info({ callId: a.callId, task: entry.task.id, code: r.code, reason: r.reason }, 'callback task not open: removed from the queue');
      this.close(a, null, 'removed');
      return;
    }
    a.attemptId = r.value.attempt.id;
    entry.task = r.value.task;
    // `attempts` counts those that rang the customer, so far: this one is the next.
    a.attemptNo = r.value.task.attempts + 1;
    a.display = info?.name ?? entry.task.caller;
    a.customer = info;
    if (!this.d.campaign) {
      this.record(a, { type: 'callback_attempt', callbackId: entry.task.id, attempt: a.attemptNo, agent: a.agentId === '' ? null : a.agentId, result: null, trunk: null, sipStatus: null });
    }
    if (a.phase !== 'claiming') return; // withdrawn while claiming: close() recorded it
    if (this.d.settings.mode === 'preview') {
      this.startPreview(a);
      return;
    }
    if (this.d.settings.mode === 'predictive' || this.d.settings.mode === 'ivr') {
      await this.dialCustomerFirst(a);
      return;
    }
    await this.ringAgent(a);
  }

  /**
   * Preview: the task goes to the agent's desktop. The ACD hears the offer left and "rings" (the
   * desktop shows it), so its ring timeout bounds the preview and a lapsed one is the ACD's
   * ring-no-answer rule, as for a phone nobody answers.
   */
  private startPreview(a: Attempt): void {
    transition(a, 'previewing');
    const id = a.entry.acdId;
    const now = this.now();
    this.d.decide(() => [...this.d.acd.offerSent(id, now), ...this.d.acd.offerRinging(id, now)]);
    if (a.phase === 'previewing') this.previewEvent(a, 'offered');
  }

  /** A `callback.preview` event on the engine's event stream. */
  private previewEvent(a: Attempt, state: Extract<CallControlEvent, { type: 'callback.preview' }>['state']): void {
    const task = a.entry.task;
    const now = this.now();
    try {
      this.d.observe?.({
        type: 'callback.preview', state, callbackId: task.id, callId: a.callId, agentId: a.agentId, queue: a.entry.queue, caller: task.caller,
        dialled: task.dialled ?? '', programme: task.programme, customer: a.customer, attempt: a.attemptNo, abandons: task.abandons,
        calledAt: task.arrivedAt, expiresAt: state === 'offered' && a.ringTimeoutMs > 0 ? a.startedAt + a.ringTimeoutMs : null, at: now,
        campaignId: this.d.campaign?.of(task.id)?.id ?? null,
      });
    } catch (err) {
      this.d.log.error({ err, callId: a.callId }, 'preview event listener failed');
    }
  }

  /**
   * The agent's answer to a preview (API): accept rings the agent's phone (the ACD stops its
   * timer: the agent took the task); skip and reschedule free the agent at once and record the
   * attempt `skipped` (the task open again after `retryDelaySeconds.skipped`, or at the agent's time).
   */
  answerPreview(taskId: number, agentId: string, choice: PreviewChoice): PreviewAnswer {
    const entry = this.entries.get(this.prefix + taskId);
    const a = entry?.attempt;
    if (!a || a.phase !== 'previewing') return { ok: false, code: 'not_found', reason: `task ${taskId} is not in preview` };
    if (a.agentId !== agentId) return { ok: false, code: 'not_yours', reason: `task ${taskId} is in preview with another agent` };
    if (choice.action === 'accept') {
      const now = this.now();
      a.acdAnswered = true;
      this.d.decide(() => this.d.acd.offerAnswered(a.entry.acdId, now));
      this.previewEvent(a, 'accepted');
      void this.ringAgent(a).catch((err: unknown) => {
        this.d.log.error({ err, callId: a.callId, task: taskId }, 'ringing the agent of an accepted preview failed');
        this.close(a, 'failed', 'unreached');
      });
    } else {
      if (choice.action === 'reschedule') {
        a.rescheduleAt = choice.at;
        a.rescheduleNote = choice.note;
      }
      this.previewEvent(a, choice.action === 'skip' ? 'skipped' : 'rescheduled');
      this.close(a, 'skipped', 'unreached');
    }
    return { ok: true, taskId, agentId, action: choice.action };
  }

  /** Ring the agent's phone with the screen pop (progressive at once; preview once accepted). */
  private async ringAgent(a: Attempt): Promise<void> {
    const entry = a.entry;
    const from = a.phase;
    const contact = this.d.agents.contacts(a.agentId)[0];
    if (!contact) {
      this.d.log.warn({ callId: a.callId, agentId: a.agentId }, 'offered agent has no registered phone');
      this.close(a, 'agent_no_answer', this.agentFailure(a));
      return;
    }
    const leg = await this.d.media.allocate({ rtpTimeoutMs: this.d.settings.rtpTimeoutMs });
    if (!leg.ok) throw new Error(`${leg.code}: ${leg.reason}`);
    if (a.phase !== from) {
      void this.d.media.release(leg.value.leg);
      return;
    }
    this.attachLeg(a, 'agent', leg.value.leg);
    const local = agentLocalMedia(leg.value, 'PCMU');
    a.agentLocal = local;
    transition(a, 'ringing');
    const task = entry.task;
    a.agentInvite = ringAgentPhone({
      ua: this.d.ua, contact, agentId: a.agentId, number: task.caller, display: a.display, local,
      headers: [
        { name: 'X-Onair-Call-ID', value: a.callId },
        { name: 'X-Onair-Queue', value: entry.queue },
        ...this.taskHeaders(task),
        { name: 'X-Onair-Attempt', value: String(a.attemptNo) },
        { name: 'X-Onair-Customer', value: task.customerId ?? task.caller },
        { name: 'X-Onair-Called-At', value: new Date(task.arrivedAt).toISOString() },
        { name: 'X-Onair-Abandons', value: String(task.abandons) },
        ...(task.programme ? [{ name: 'X-Onair-Programme', value: task.programme }] : []),
      ],
      dialogDelegate: {
        onBye: () => this.agentLeft(a),
        onTerminated: () => this.agentLeft(a),
        onReinvite: (dialog, req) => answerReinvite(this.d.media, a.agentLeg, a.agentLocal, dialog, req),
      },
      delegate: {
        onProgress: (response) => { if (response.status > 100) this.tellOffer(a, 'ringing'); },
        onAccept: (dialog, response) => this.agentAnswered(a, dialog, response.body),
        // A decline is the agent's choice: the ACD's reject rule (not-ready). A phone that cannot be
        // reached is treated alike, as call control does for inbound offers.
        onReject: () => { if (a.phase === 'ringing') this.close(a, 'agent_no_answer', this.agentFailure(a)); },
        onFailure: () => { if (a.phase === 'ringing') this.close(a, 'agent_no_answer', this.agentFailure(a)); },
      },
    });
    if (a.acdAnswered) {
      // An accepted preview: the ACD's timer stopped at the accept, this one bounds the phone's ring.
      if (a.ringTimeoutMs > 0) {
        a.ringTimer = this.clock.setTimer(a.ringTimeoutMs, () => {
          a.ringTimer = undefined;
          if (a.phase === 'ringing') this.close(a, 'agent_no_answer', 'unreached');
        });
      }
      return;
    }
    // The ACD's ring timeout runs from the INVITE, as for inbound offers (engine/acd offerSent).
    this.tellOffer(a, 'sent');
  }

  /**
   * The screen pop's task headers: the callback task, or the campaign and its contact; and the
   * Alert-Info phones map to a distinct ring (the agent knows an outbound call is coming).
   */
  private taskHeaders(task: DialerTask): { name: string; value: string }[] {
    const campaign = this.d.campaign?.of(task.id);
    if (this.d.campaign) {
      return [
        ...(campaign ? [{ name: 'X-Onair-Campaign', value: campaign.id }] : []),
        { name: 'X-Onair-Campaign-Contact', value: String(task.id) },
        { name: 'Alert-Info', value: '<http://onair.invalid/alert/campaign>;info=campaign' },
      ];
    }
    return [
      { name: 'X-Onair-Callback-Task', value: String(task.id) },
      { name: 'Alert-Info', value: '<http://onair.invalid/alert/callback>;info=callback' },
    ];
  }

  /**
   * How the ACD hears that the agent's phone failed: its reject rule (not-ready) for an offer;
   * for a preview the agent accepted the ACD holds the task as taken, so the entry ends unreached.
   */
  private agentFailure(a: Attempt): AcdClose {
    return a.acdAnswered ? 'unreached' : 'rejected';
  }

  // ---- predictive: customers first -----------------------------------------------------------

  /**
   * How many customers to dial now (the pacer's rule over the auto-answer agents), and dial them:
   * the due, dialable tasks, oldest abandon first. No ACD entry until a customer answers.
   */
  private async pace(now: number): Promise<void> {
    const p = this.d.predictive;
    if (p === undefined) return;
    let loggedIn = 0;
    let idle = 0;
    const busySince: number[] = [];
    for (const id of p.agentIds()) {
      const v = this.d.acd.inspectAgent(id);
      if (v === undefined || v.status === 'loggedOut') continue;
      loggedIn++;
      if (v.status === 'available' && v.state === 'idle') idle++;
      // A busy agent's own call began when the dialer connected it, else (inbound) count it as just begun.
      else if (v.state !== 'idle') busySince.push(this.busySince.get(id) ?? now);
    }
    // Every predictive dialer's customers in flight, not only this one's: they wait for the same agents.
    const { dialing, held } = p.share.inFlight();
    const n = this.pacer.dials({ now, agentsLoggedIn: loggedIn, agentsIdle: idle, busySince, dialing, held });
    if (n <= 0) return;
    const release = p.share.reserve(n);
    try {
      const exclude = new Set<number>();
      for (const e of this.entries.values()) exclude.add(e.task.id);
      const due = await this.dueNow(now, n * 2, exclude);
      let started = 0;
      for (const task of due) {
        if (started >= n || this.stopped) break;
        if (this.entries.has(this.prefix + task.id) || !this.d.dialable(task, now)) continue;
        started++;
        this.dialFirst(task);
      }
    } finally {
      release();
    }
  }

  /** One customer-first attempt: claimed without an agent, the customer dialled at once. */
  private dialFirst(task: DialerTask): void {
    const entry: Entry = { acdId: this.prefix + task.id, task, queue: task.queue, attempt: null, pendingOffer: null, gone: false };
    this.entries.set(entry.acdId, entry);
    this.begin(entry, '', 0);
  }

  /** Predictive claim done: dial the customer (no agent leg yet). */
  private async dialCustomerFirst(a: Attempt): Promise<void> {
    transition(a, 'dialing');
    const leg = await this.d.media.allocate({ rtpTimeoutMs: this.d.settings.rtpTimeoutMs });
    if (!leg.ok) throw new Error(`${leg.code}: ${leg.reason}`);
    if (a.phase !== 'dialing') {
      void this.d.media.release(leg.value.leg);
      return;
    }
    this.attachLeg(a, 'customer', leg.value.leg);
    const local = agentLocalMedia(leg.value, 'PCMU');
    a.customerLocal = local;
    const task = a.entry.task;
    a.outbound = this.d.outbound.dial({ number: task.caller, callerId: task.dialled, sdp: sdpBody(createOffer(local)), callId: a.callId }, {
      onProgress: () => {},
      onAnswered: ({ sdp, trunk }) => this.customerAnsweredFirst(a, sdp, trunk),
      onFailed: ({ result, status, trunk }) => {
        if (a.phase !== 'dialing') return;
        a.trunk = trunk;
        a.sipStatus = status;
        this.close(a, result, 'none');
      },
      onEnded: () => {
        if (a.phase === 'surveying') {
          // Hung up during the survey: reached; the answers so far are recorded.
          a.releasedBy = 'caller';
          this.close(a, 'answered', 'none');
        } else if (a.phase === 'talking') {
          a.releasedBy = 'caller';
          this.close(a, 'answered', 'ended');
        } else if (a.phase === 'waiting' || a.phase === 'connecting') {
          // Hung up before any agent: not talked; the policy tries again (cancelled's delay).
          a.releasedBy = 'caller';
          this.close(a, 'cancelled', a.phase === 'connecting' ? 'unreached' : 'removed');
        }
      },
    });
  }

  /** The customer answered before any agent: into the ACD (the next free auto-answer agent), the 2 s clock runs. */
  private customerAnsweredFirst(a: Attempt, sdp: Buffer | null, trunk: string): void {
    if (a.phase !== 'dialing') {
      a.outbound?.hangup();
      return;
    }
    if (this.d.settings.mode === 'ivr') {
      this.surveyAnswered(a, sdp, trunk);
      return;
    }
    const now = this.now();
    transition(a, 'waiting');
    a.trunk = trunk;
    a.answeredAt = now;
    this.pacer.attemptEnded(true, now - a.startedAt);
    const answer = sdp ? acceptAnswer(sdp.toString('latin1'), a.customerLocal!) : null;
    if (answer === null || !answer.ok) {
      this.d.log.warn({ callId: a.callId }, 'customer answered without usable SDP');
      a.releasedBy = 'system';
      this.close(a, 'failed', 'none');
      return;
    }
    a.agentCodec = answer.remote.codec;
    void this.d.media.setRemote(a.customerLeg!, toLegRemote(answer.remote));
    a.holdTimer = this.clock.setTimer(HOLD_AFTER_MS, () => {
      a.holdTimer = undefined;
      if (a.phase !== 'waiting' && a.phase !== 'connecting') return;
      // No agent within 2 s: a dialer abandon (the pacer's window), and the customer is told to hold.
      a.abandoned = true;
      this.pacer.answeredCustomer(this.now(), true);
      this.d.log.info({ callId: a.callId, task: a.entry.task.id }, 'dialer abandon: no agent within 2 s, please hold');
      const hold = this.d.predictive?.holdPrompt;
      if (a.customerLeg !== undefined && hold !== undefined) {
        void this.d.media.play(a.customerLeg, hold).then((r) => { if (r.ok) notePlayed(a.played, hold); });
      }
    });
    const task = a.entry.task;
    this.d.decide(() => this.d.acd.addCallback({
      id: a.entry.acdId, queueId: a.entry.queue, callerNumber: task.caller, dialledNumber: task.dialled ?? '', arrivalTime: task.arrivedAt,
    }, now));
  }

  // ---- mode ivr: surveys without agents -------------------------------------------------------

  /** Dial the due contacts whose campaign has room (calls in progress, calls/s) and a survey. */
  private async surveyLoad(now: number): Promise<void> {
    const s = this.d.survey;
    if (s === undefined) return;
    const exclude = new Set<number>();
    for (const e of this.entries.values()) exclude.add(e.task.id);
    const due = await this.d.tasks.due(now, SURVEY_PAGE, exclude);
    for (const task of due) {
      if (this.stopped) return;
      if (this.entries.has(this.prefix + task.id) || !this.d.dialable(task, now)) continue;
      const limit = s.limitsOf(task.id);
      if (limit === null || s.flowOf(task.id) === null || !this.limits.admit(limit, now)) continue;
      this.dialFirst(task);
      const a = this.entries.get(this.prefix + task.id)?.attempt;
      if (a) a.limitKey = limit.key;
      else this.limits.release(limit.key);
    }
  }

  /** The surveyed customer answered: the survey runs on their leg. */
  private surveyAnswered(a: Attempt, sdp: Buffer | null, trunk: string): void {
    transition(a, 'surveying');
    a.trunk = trunk;
    a.answeredAt = this.now();
    const answer = sdp ? acceptAnswer(sdp.toString('latin1'), a.customerLocal!) : null;
    const flow = this.d.survey?.flowOf(a.entry.task.id) ?? null;
    if (answer === null || !answer.ok || flow === null) {
      this.d.log.warn({ callId: a.callId, survey: flow !== null }, 'surveyed customer answered without usable SDP, or the survey is gone');
      a.releasedBy = 'system';
      this.close(a, 'failed', 'none');
      return;
    }
    void this.d.media.setRemote(a.customerLeg!, toLegRemote(answer.remote));
    a.survey = new SurveyRun(flow, this.surveyHost(a), (outcome) => {
      a.surveyOutcome = outcome;
      a.releasedBy = 'system';
      this.close(a, 'answered', 'none');
    });
    a.survey.start();
  }

  /** The customer's leg as the survey's prompts and barge-in (engine/calls dtmf-steps.ts). */
  private surveyHost(a: Attempt): DtmfHost {
    const language = this.d.survey?.language ?? 'en';
    return {
      clock: this.clock,
      play: (names, then) => {
        const leg = a.customerLeg;
        if (leg === undefined || a.phase !== 'surveying') return;
        a.afterPlay = undefined;
        const list = promptPlaylist(language, names);
        void this.d.media.play(leg, list).then((r) => {
          if (a.phase !== 'surveying') return;
          if (!r.ok) {
            this.d.log.error({ callId: a.callId, code: r.code, reason: r.reason }, 'survey playback failed');
            then();
            return;
          }
          notePlayed(a.played, list);
          a.playId = r.value.playId;
          a.afterPlay = then;
        });
      },
      stopPrompt: () => {
        a.afterPlay = undefined;
        if (a.customerLeg !== undefined) void this.d.media.stop(a.customerLeg);
      },
    };
  }

  /** A digit on one of the dialer's legs: a surveyed customer's answer. */
  dtmf(leg: LegId, digit: string): void {
    const a = this.byLeg.get(leg);
    if (a === undefined || a.phase !== 'surveying' || leg !== a.customerLeg) return;
    a.survey?.digit(digit);
  }

  /** A playlist ended on one of the dialer's legs: the survey goes on. */
  playbackDone(leg: LegId, playId: number): void {
    const a = this.byLeg.get(leg);
    if (a === undefined || leg !== a.customerLeg || playId !== a.playId) return;
    const next = a.afterPlay;
    a.afterPlay = undefined;
    next?.();
  }

  /** The ACD offered the waiting customer to an agent: ring its auto-answer phone. */
  private connectAgent(a: Attempt, agentId: string, ringTimeoutMs: number): void {
    transition(a, 'connecting');
    a.agentId = agentId;
    a.ringTimeoutMs = ringTimeoutMs;
    void this.ringAutoAnswer(a).catch((err: unknown) => {
      this.d.log.error({ err, callId: a.callId }, 'ringing the auto-answer agent failed');
      if (a.phase === 'connecting') this.agentFailed(a);
    });
  }

  private async ringAutoAnswer(a: Attempt): Promise<void> {
    const contact = this.d.agents.contacts(a.agentId)[0];
    if (!contact) {
      this.agentFailed(a);
      return;
    }
    const leg = await this.d.media.allocate({ near: a.customerLeg!, codec: a.agentCodec, rtpTimeoutMs: this.d.settings.rtpTimeoutMs });
    if (!leg.ok) throw new Error(`${leg.code}: ${leg.reason}`);
    if (a.phase !== 'connecting') {
      void this.d.media.release(leg.value.leg);
      return;
    }
    this.attachLeg(a, 'agent', leg.value.leg);
    const local = agentLocalMedia(leg.value, a.agentCodec);
    a.agentLocal = local;
    const task = a.entry.task;
    a.agentInvite = ringAgentPhone({
      ua: this.d.ua, contact, agentId: a.agentId, number: task.caller, display: a.display, local,
      headers: [
        { name: 'X-Onair-Call-ID', value: a.callId },
        { name: 'X-Onair-Queue', value: a.entry.queue },
        ...this.taskHeaders(task).filter((h) => h.name !== 'Alert-Info'),
        { name: 'X-Onair-Attempt', value: String(a.attemptNo) },
        { name: 'X-Onair-Customer', value: task.customerId ?? task.caller },
        { name: 'X-Onair-Called-At', value: new Date(task.arrivedAt).toISOString() },
        { name: 'X-Onair-Abandons', value: String(task.abandons) },
        ...AUTO_ANSWER_HEADERS,
      ],
      dialogDelegate: {
        onBye: () => this.agentLeft(a),
        onTerminated: () => this.agentLeft(a),
        onReinvite: (dialog, req) => answerReinvite(this.d.media, a.agentLeg, a.agentLocal, dialog, req),
      },
      delegate: {
        onProgress: (response) => { if (response.status > 100) this.tellConnecting(a, 'ringing'); },
        onAccept: (dialog, response) => this.agentConnected(a, dialog, response.body),
        onReject: () => { if (a.phase === 'connecting') this.agentFailed(a); },
        onFailure: () => { if (a.phase === 'connecting') this.agentFailed(a); },
      },
    });
    this.tellConnecting(a, 'sent');
  }

  private tellConnecting(a: Attempt, stage: 'sent' | 'ringing'): void {
    const id = a.entry.acdId;
    const view = this.d.acd.inspectCall(id);
    if (a.phase !== 'connecting' || view === undefined || view.state !== 'offered' || view.agentId !== a.agentId) return;
    const now = this.now();
    this.d.decide(() => (stage === 'sent' ? this.d.acd.offerSent(id, now) : this.d.acd.offerRinging(id, now)));
  }

  /** The auto-answer phone answered: bridge it to the waiting customer. */
  private agentConnected(a: Attempt, dialog: Dialog, body: Buffer): void {
    if (a.phase !== 'connecting') {
      void this.d.ua.bye(dialog);
      return;
    }
    a.agentInvite = undefined;
    a.agentDialog = dialog;
    const answer = acceptAnswer(body.toString('latin1'), a.agentLocal!);
    if (!answer.ok) {
      void this.d.ua.bye(dialog);
      a.agentDialog = undefined;
      this.agentFailed(a);
      return;
    }
    const now = this.now();
    transition(a, 'talking');
    if (a.holdTimer !== undefined) this.clock.clearTimer(a.holdTimer);
    a.holdTimer = undefined;
    if (!a.abandoned) this.pacer.answeredCustomer(now, false);
    a.agentAnsweredAt = now;
    this.busySince.set(a.agentId, now);
    void this.d.media.setRemote(a.agentLeg!, toLegRemote(answer.remote));
    this.d.decide(() => this.d.acd.offerAnswered(a.entry.acdId, now));
    a.bridged = true;
    void this.d.media.bridge(a.customerLeg!, a.agentLeg!)
      .then((r) => { if (!r.ok) this.d.log.error({ callId: a.callId, code: r.code }, 'predictive bridge failed'); });
  }

  /** The agent's phone failed or declined: the ACD's reject rule; the customer waits for the next agent. */
  private agentFailed(a: Attempt): void {
    const view = this.d.acd.inspectCall(a.entry.acdId);
    const id = a.entry.acdId;
    const now = this.now();
    this.backToWaiting(a);
    if (view?.state === 'offered') this.d.decide(() => this.d.acd.offerRejected(id, now));
  }

  /** Release the agent side of a connecting attempt; the customer waits again. */
  private backToWaiting(a: Attempt): void {
    if (a.phase !== 'connecting') return;
    a.agentInvite?.cancel();
    a.agentInvite = undefined;
    if (a.agentLeg !== undefined) {
      this.byLeg.delete(a.agentLeg);
      void this.d.media.release(a.agentLeg);
      a.agentLeg = undefined;
    }
    a.agentId = '';
    transition(a, 'waiting');
  }

  /** What the pacer learns from an attempt's end. */
  private paced(a: Attempt, from: AttemptPhase, result: AttemptResult | null, now: number): void {
    if (from === 'dialing' && result !== null && result !== 'answered') this.pacer.attemptEnded(false, now - a.startedAt);
    if (from === 'talking' && a.agentAnsweredAt !== null) {
      this.pacer.handleEnded(now - a.agentAnsweredAt);
      this.busySince.delete(a.agentId);
    }
  }

  /** The agent's INVITE left, or the phone rings: the ACD times the ring from these. */
  private tellOffer(a: Attempt, stage: 'sent' | 'ringing'): void {
    const id = a.entry.acdId;
    const view = this.d.acd.inspectCall(id);
    if (a.phase !== 'ringing' || view === undefined || view.state !== 'offered' || view.agentId !== a.agentId) return;
    const now = this.now();
    this.d.decide(() => (stage === 'sent' ? this.d.acd.offerSent(id, now) : this.d.acd.offerRinging(id, now)));
  }

  private attachLeg(a: Attempt, side: 'agent' | 'customer', leg: LegId): void {
    if (side === 'agent') a.agentLeg = leg;
    else a.customerLeg = leg;
    this.byLeg.set(leg, a);
  }

  private agentAnswered(a: Attempt, dialog: Dialog, body: Buffer): void {
    if (a.phase !== 'ringing') {
      // Answered after the offer was withdrawn (race with CANCEL): hang up the agent.
      void this.d.ua.bye(dialog);
      return;
    }
    a.agentInvite = undefined;
    a.agentDialog = dialog;
    if (a.ringTimer !== undefined) this.clock.clearTimer(a.ringTimer);
    a.ringTimer = undefined;
    const answer = acceptAnswer(body.toString('latin1'), a.agentLocal!);
    if (!answer.ok) {
      this.d.log.warn({ callId: a.callId, reason: answer.reason }, 'agent SDP answer unusable');
      this.close(a, 'failed', 'unreached');
      return;
    }
    const now = this.now();
    transition(a, 'dialing');
    a.agentAnsweredAt = now;
    a.agentCodec = answer.remote.codec;
    void this.d.media.setRemote(a.agentLeg!, toLegRemote(answer.remote));
    // The agent is on the phone: the ACD stops the offer's ring timer (the customer may ring longer).
    if (!a.acdAnswered) this.d.decide(() => this.d.acd.offerAnswered(a.entry.acdId, now));
    a.acdAnswered = true;
    void this.dialCustomer(a).catch((err: unknown) => {
      this.d.log.error({ err, callId: a.callId }, 'dialling the customer failed');
      this.close(a, 'failed', 'unreached');
    });
  }

  private async dialCustomer(a: Attempt): Promise<void> {
    const leg = await this.d.media.allocate({ near: a.agentLeg!, codec: a.agentCodec, rtpTimeoutMs: this.d.settings.rtpTimeoutMs });
    if (!leg.ok) throw new Error(`${leg.code}: ${leg.reason}`);
    if (a.phase !== 'dialing') {
      void this.d.media.release(leg.value.leg);
      return;
    }
    this.attachLeg(a, 'customer', leg.value.leg);
    const local = agentLocalMedia(leg.value, a.agentCodec);
    a.customerLocal = local;
    const task = a.entry.task;
    a.outbound = this.d.outbound.dial({ number: task.caller, callerId: task.dialled, sdp: sdpBody(createOffer(local)), callId: a.callId }, {
      onProgress: (_status, sdp) => { if (sdp && a.phase === 'dialing') this.customerMedia(a, sdp); },
      onAnswered: ({ sdp, trunk }) => this.customerAnswered(a, sdp, trunk),
      onFailed: ({ result, status, trunk }) => {
        if (a.phase !== 'dialing') return;
        a.trunk = trunk;
        a.sipStatus = status;
        this.close(a, result, 'unreached');
      },
      onEnded: () => {
        if (a.phase !== 'talking') return;
        a.releasedBy = 'caller';
        this.close(a, 'answered', 'ended');
      },
    });
  }

  /** The customer's SDP (early or final): the customer leg follows it and is bridged to the agent once. */
  private customerMedia(a: Attempt, sdp: Buffer): void {
    const answer = acceptAnswer(sdp.toString('latin1'), a.customerLocal!);
    if (!answer.ok) {
      this.d.log.warn({ callId: a.callId, reason: answer.reason }, 'customer SDP unusable');
      return;
    }
    void this.d.media.setRemote(a.customerLeg!, toLegRemote(answer.remote));
    if (a.bridged) return;
    a.bridged = true;
    // The agent hears the customer's ringback, then the customer (the worker keeps command order).
    void this.d.media.bridge(a.customerLeg!, a.agentLeg!)
      .then((r) => { if (!r.ok) this.d.log.error({ callId: a.callId, code: r.code }, 'callback bridge failed'); });
  }

  private customerAnswered(a: Attempt, sdp: Buffer | null, trunk: string): void {
    if (a.phase !== 'dialing') {
      a.outbound?.hangup();
      return;
    }
    transition(a, 'talking');
    a.trunk = trunk;
    a.answeredAt = this.now();
    if (sdp) this.customerMedia(a, sdp);
    if (!a.bridged) {
      this.d.log.warn({ callId: a.callId }, 'customer answered without usable SDP');
      a.releasedBy = 'system';
      this.close(a, 'failed', 'unreached');
    }
  }

  /** The agent hung up (or the agent dialog ended). */
  private agentLeft(a: Attempt): void {
    a.agentDialog = undefined;
    if (a.phase === 'talking') {
      a.releasedBy = 'agent';
      this.close(a, 'answered', 'ended');
    } else if (a.phase === 'dialing') {
      // The agent gave up before the customer answered: the customer call is cancelled.
      this.close(a, 'cancelled', 'unreached');
    }
  }

  /**
   * The one end of an attempt: release the agent and customer sides, tell the ACD, record the
   * result (null: the store refused the attempt, nothing to record). Idempotent.
   */
  private close(a: Attempt, result: AttemptResult | null, acd: AcdClose): void {
    if (a.phase === 'closing' || a.phase === 'closed') return;
    const from = transition(a, 'closing');
    const now = this.now();
    if (a.ringTimer !== undefined) this.clock.clearTimer(a.ringTimer);
    a.ringTimer = undefined;
    if (a.holdTimer !== undefined) this.clock.clearTimer(a.holdTimer);
    a.holdTimer = undefined;
    if (this.d.settings.mode === 'predictive') this.paced(a, from, result, now);
    if (a.survey !== undefined) a.surveyOutcome ??= a.survey.abort();
    a.afterPlay = undefined;
    if (a.limitKey !== null) {
      this.limits.release(a.limitKey);
      a.limitKey = null;
      // A campaign's call slot is free: the next contact now rather than at the next poll.
      this.agentFree('');
    }
    a.agentInvite?.cancel();
    a.agentInvite = undefined;
    if (a.agentDialog) void this.d.ua.bye(a.agentDialog);
    a.agentDialog = undefined;
    a.outbound?.hangup();
    for (const leg of [a.agentLeg, a.customerLeg]) {
      if (leg === undefined) continue;
      this.byLeg.delete(leg);
      void this.d.media.release(leg);
    }
    a.agentLeg = a.customerLeg = undefined;
    this.tellAcd(a, acd, now);
    const p = this.recordResult(a, result, now)
      .catch((err: unknown) => this.d.log.error({ err, callId: a.callId }, 'recording a callback attempt failed'))
      .finally(() => {
        this.recording.delete(p);
        transition(a, 'closed');
        this.afterAttempt(a.entry);
      });
    this.recording.add(p);
  }

  private tellAcd(a: Attempt, acd: AcdClose, now: number): void {
    const view = this.d.acd.inspectCall(a.entry.acdId);
    // The entry must still be this attempt's: offered or talking with its agent.
    if (acd === 'none' || view === undefined || view.agentId !== a.agentId) {
      if (acd === 'removed' && view !== undefined) this.d.decide(() => this.d.acd.abandon(a.entry.acdId, now));
      return;
    }
    const id = a.entry.acdId;
    switch (acd) {
      case 'rejected': this.d.decide(() => this.d.acd.offerRejected(id, now)); return;
      case 'unreached': this.d.decide(() => this.d.acd.callbackUnreached(id, now)); return;
      case 'ended': this.d.decide(() => this.d.acd.callEnded(id, now)); return;
      case 'removed': this.d.decide(() => this.d.acd.abandon(id, now)); return;
    }
  }

  /** finishAttempt, then the attempt's result event, its outbound CDR and, for a closed task, `callback_completed`. */
  private async recordResult(a: Attempt, result: AttemptResult | null, now: number): Promise<void> {
    // Closed while the store was claiming: the claim's answer (and its start event) comes first.
    if (a.attemptId === null) await a.claimed;
    if (result === null || a.attemptId === null) return;
    const r = await this.d.tasks.finishAttempt(a.attemptId, { result, trunk: a.trunk, sipStatus: a.sipStatus }, now);
    if (!r.ok) {
      // Recorded already (a second finish is refused, never a double completion).
      this.d.log.warn({ callId: a.callId, code: r.code, reason: r.reason }, 'callback attempt not finished');
      return;
    }
    let task = r.value;
    if (a.rescheduleAt !== null && task.status === 'open') {
      // The agent's time replaces the policy's: a second transaction (a crash between the two
      // leaves the task open at the policy's time, never lost).
      const moved = await this.d.tasks.reschedule(task.id, a.rescheduleAt, now, a.rescheduleNote ?? `rescheduled by ${a.agentId}`);
      if (moved.ok) task = moved.value;
      else this.d.log.warn({ callId: a.callId, code: moved.code, reason: moved.reason }, 'rescheduling a previewed task failed');
    }
    a.entry.task = task;
    const closed = task.status !== 'open' && task.status !== 'claimed';
    if (this.d.campaign) {
      await this.d.store.finishCall({ cdr: this.cdr(a, result, now), callback: null }, now);
      // A reached contact's result waits for the agent's disposition (engine/campaigns); a
      // surveyed one's carries its answers.
      if (closed && task.status !== 'done') this.d.campaign.closed(task, a.callId, result);
      else if (task.status === 'done' && a.surveyOutcome !== null) this.d.survey?.answered(task, a.callId, a.surveyOutcome);
      return;
    }
    this.record(a, { type: 'callback_attempt', callbackId: task.id, attempt: a.attemptNo, agent: a.agentId === '' ? null : a.agentId, result, trunk: a.trunk, sipStatus: a.sipStatus });
    await this.d.store.finishCall({ cdr: this.cdr(a, result, now), callback: null }, now);
    if (closed) {
      this.record(a, { type: 'callback_completed', callbackId: task.id, status: task.status, attempts: task.attempts, lastResult: result });
    }
  }

  /**
   * The attempt is recorded. An entry the ACD put back in its queue (the agent did not answer)
   * stays only while its task is open and due; an offer that came meanwhile starts now.
   */
  private afterAttempt(entry: Entry): void {
    entry.attempt = null;
    // Never in the ACD (a predictive customer not reached), or out of it: nothing stays behind.
    if (entry.gone || this.d.acd.inspectCall(entry.acdId) === undefined) {
      this.entries.delete(entry.acdId);
      return;
    }
    const task = entry.task;
    const now = this.now();
    if (this.stopped || task.status !== 'open' || task.nextAttemptAt > now) {
      entry.pendingOffer = null;
      this.d.decide(() => this.d.acd.abandon(entry.acdId, now));
      return;
    }
    const offer = entry.pendingOffer;
    entry.pendingOffer = null;
    if (offer === null) return;
    const view = this.d.acd.inspectCall(entry.acdId);
    if (view?.state === 'offered' && view.agentId === offer.agentId) this.begin(entry, offer.agentId, offer.ringTimeoutMs);
  }

  private cdr(a: Attempt, result: AttemptResult, now: number): Cdr {
    const task = a.entry.task;
    return {
      contractVersion: CONTRACT_VERSION, callId: a.callId, sipCallId: null, caller: task.caller, dialled: task.dialled ?? '',
      programme: task.programme, airing: null, queue: a.entry.queue, agent: a.agentAnsweredAt !== null ? a.agentId : null,
      customerId: task.customerId, outcome: result === 'answered' ? 'answered' : 'failed',
      arrivedAt: a.startedAt, ivrExitAt: null, queuedAt: null, offeredAt: a.startedAt, answeredAt: a.answeredAt, endedAt: now,
      wrapUpEndAt: null, waitMs: (a.answeredAt ?? now) - a.startedAt, talkMs: a.answeredAt !== null ? now - a.answeredAt : 0, wrapUpMs: 0,
      offers: 1, releasedBy: a.releasedBy, callbackId: this.d.campaign ? null : task.id,
      direction: 'outbound', attempt: a.attemptNo, trunk: a.trunk, dialResult: result, played: [...a.played],
      ...(this.d.campaign ? { campaignId: this.d.campaign.of(task.id)?.id ?? null } : {}),
    };
  }

  /** An event of the attempt, into the outbox in the attempt's lane (in order). */
  private record(a: Attempt, e: Record<string, unknown> & { type: CallEvent['type'] }): void {
    const now = this.now();
    const task = a.entry.task;
    const event = {
      callId: a.callId, at: now, caller: task.caller, dialled: task.dialled ?? '', customerId: task.customerId, queue: a.entry.queue, ...e,
    } as CallEvent;
    void this.d.store.callEvent(event, now).catch((err: unknown) => this.d.log.error({ err, callId: a.callId, event: e.type }, 'callback event write failed'));
  }
}

/** The dial results that mean the customer was not reached (for docs and tests). */
export const UNREACHED_RESULTS: readonly Exclude<DialResult, 'answered'>[] = ['busy', 'no_answer', 'invalid_number', 'rejected', 'trunk_error', 'cancelled'];
