/**
 * Outbound campaigns at run time: one campaign dialer per mode (engine/dialer's `CallbackDialer`
 * over the campaign contacts, with its own ACD entry prefix), the rules that hold a contact back
 * (campaign paused or stopped, outside its schedule, surge mode on, live callers waiting above its
 * threshold, the do-not-call list), and the results: the agent's disposition, a surveyed
 * contact's answers (mode ivr), or a contact closed unreached, into the outbox as `campaign_result`.
 *
 * ```
 *  API: create ─▶ import CSV ─▶ start ─▶ dialers' polls: due contacts of running campaigns of the mode
 *        ─▶ dialable? (schedule, no surge, inbound waiting ≤ threshold, DNC) ─▶ ACD entry (live callers first)
 *        ─▶ preview or progressive attempt (engine/dialer) ─▶ talked ─▶ agent's disposition (API)
 *                                                                        ─▶ outbox campaign_result
 *                                                      └─▶ exhausted ─▶ outbox campaign_result
 *        ─▶ mode predictive: customer first, paced, the next auto-answer agent (engine/dialer)
 *        ─▶ mode ivr: customer first within the campaign's limits ─▶ the survey on their leg
 *                     ─▶ answers stored on the contact ─▶ outbox campaign_result (answers)
 * ```
 */
import type { Logger } from 'pino';
import { inCallingHours } from '../callbacks/index.ts';
import { CallbackDialer, type CallbackDialerDeps, type DialerTask, type PredictiveDeps, type PreviewAnswer, type PreviewChoice } from '../dialer/index.ts';
import type { Flow, SurveyOutcome } from '../calls/index.ts';
import type { Store, StoreResult } from '../store/index.ts';
import type { AttemptResult } from '../store/index.ts';
import type { CallEvent } from '../../crm-adapter/index.ts';
import { epochClock } from '../clock/index.ts';
import { parseContactsCsv, renderScript, type LineError } from './csv.ts';
import { CAMPAIGN_MODES, type Campaign, type CampaignContact, type CampaignInput, type CampaignMode, type CampaignStats, type CampaignStore } from './store.ts';

/** Contacts one import may carry. */
export const MAX_IMPORT_CONTACTS = 20_000;

/** Everything of the dialers' deps but what differs per campaign mode. */
export type CampaignDialerBase = Omit<CallbackDialerDeps, 'tasks' | 'dialable' | 'housekeep' | 'campaign' | 'settings' | 'predictive' | 'survey'> & {
  settings: Omit<CallbackDialerDeps['settings'], 'mode' | 'entryPrefix'>;
};

/** What the runtime needs. */
export interface CampaignRuntimeDeps {
  store: CampaignStore;
  /** The engine store: the outbox (`campaign_result`) and the do-not-call list. */
  outbox: Pick<Store, 'callEvent'>;
  isDnc(number: string): boolean;
  /** Live callers waiting per inbound queue now (the ACD snapshot). */
  inboundWaiting(now: number): readonly number[];
  /** Queues that exist (a campaign must name one). */
  queues: ReadonlySet<string>;
  dialer: CampaignDialerBase;
  /** Mode predictive: the auto-answer agents, pacing and "please hold" (the callback dialer's). */
  predictive?: PredictiveDeps;
  /** Mode ivr: the configured surveys (config `surveys`), by id. */
  surveys?: ReadonlyMap<string, Flow>;
  /** Language of the surveys' prompts. */
  language?: string;
  log: Logger;
}

/** ACD entry prefix of each mode's dialer (an ivr contact never enters the ACD; its prefix names its legs' owner). */
const ENTRY_PREFIX: Readonly<Record<CampaignMode, string>> = { preview: 'cpv:', progressive: 'cpp:', predictive: 'cpd:', ivr: 'civ:' };

/** What an import did (API answer). */
export interface ImportReport {
  lines: number;
  added: number;
  refused: number;
  truncated: boolean;
  errors: LineError[];
  columns: string[];
}

/** A refusal the API maps to its status codes. */
export type CampaignRefusal = { ok: false; code: 'not_found' | 'conflict' | 'invalid'; reason: string };

/** The campaigns' runtime. */
export class CampaignRuntime {
  readonly dialers: Readonly<Record<CampaignMode, CallbackDialer>>;
  private readonly d: CampaignRuntimeDeps;
  /** The inbound pressure read once per instant (the dialers ask per contact). */
  private pressure = { at: -1, max: 0 };
  /** Surge mode is on (engine/reports): no campaign attempt starts. */
  private surging = false;
  /** The dialers run (engine: only with an outbound trunk). */
  private started = false;

  constructor(deps: CampaignRuntimeDeps) {
    this.d = deps;
    const make = (mode: CampaignMode): CallbackDialer => new CallbackDialer({
      ...deps.dialer,
      tasks: deps.store.tasks[mode],
      dialable: (task, now) => this.dialable(task, now),
      // The DNC list holds for campaigns too; contacts do not expire (a list is worked until stopped).
      housekeep: async (now) => { await deps.store.contacts.cancelDoNotCall(now); },
      campaign: {
        of: (id) => {
          const c = deps.store.campaignOf(id);
          return c === null ? null : { id: c.id, name: c.name };
        },
        closed: (task, callId, result) => this.unreached(task, callId, result),
      },
      settings: { ...deps.dialer.settings, mode, entryPrefix: ENTRY_PREFIX[mode] },
      ...(mode === 'predictive' && deps.predictive !== undefined ? { predictive: deps.predictive } : {}),
      ...(mode === 'ivr' ? {
        survey: {
          flowOf: (id: number) => this.surveyOf(id),
          limitsOf: (id: number) => {
            const c = deps.store.campaignOf(id);
            return c === null ? null : { key: c.id, maxConcurrent: c.maxConcurrent, callsPerSecond: c.callsPerSecond };
          },
          language: deps.language ?? 'en',
          answered: (task: DialerTask, callId: string, o: SurveyOutcome) => this.surveyed(task, callId, o),
        },
      } : {}),
    });
    this.dialers = { preview: make('preview'), progressive: make('progressive'), predictive: make('predictive'), ivr: make('ivr') };
  }

  start(): void {
    this.started = true;
    for (const d of Object.values(this.dialers)) d.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    await Promise.all(Object.values(this.dialers).map((d) => d.stop()));
  }

  /**
   * Surge mode on or off (engine/reports' `campaignsPaused`, issue 18): while on, the dialers load
   * no contact and what they loaded but had not started is taken back from the ACD; when it goes
   * off they poll at once (campaigns resume where they were; their own state is not changed).
   */
  setSurge(on: boolean): void {
    if (on === this.surging) return;
    this.surging = on;
    for (const d of Object.values(this.dialers)) {
      if (on) d.withdrawWaiting();
      else if (this.started) d.poll();
    }
  }

  /** True while surge mode holds the campaigns. */
  get surgePaused(): boolean {
    return this.surging;
  }

  /** May this contact be dialled now? ({@link holdBack}; the inbound pressure read once per instant.) */
  private dialable(task: DialerTask, now: number): boolean {
    const c = this.d.store.campaignOf(task.id);
    if (c === null) return false;
    if (this.pressure.at !== now) this.pressure = { at: now, max: Math.max(0, ...this.d.inboundWaiting(now)) };
    return holdBack(c, task, now, { isDnc: this.d.isDnc, inboundWaitingMax: this.pressure.max, surge: this.surging }) === null;
  }

  /** The survey of a contact's campaign (null: not an ivr campaign, or its survey is not configured any more). */
  private surveyOf(contactId: number): Flow | null {
    const c = this.d.store.campaignOf(contactId);
    if (c === null || c.survey === null) return null;
    return this.d.surveys?.get(c.survey) ?? null;
  }

  /** A surveyed contact: its answers stored on the contact, then its `campaign_result` with them. */
  private surveyed(task: DialerTask, callId: string, o: SurveyOutcome): void {
    void this.d.store.saveAnswers(task.id, o.answers, epochClock.now()).then((contact) => {
      if (contact !== null) this.result(contact, callId, null, 'answered');
    }).catch((err: unknown) => this.d.log.error({ err, contact: task.id }, 'survey answers write failed'));
  }

  /** A contact closed without a conversation: its `campaign_result` (no disposition). */
  private unreached(task: DialerTask, callId: string, result: AttemptResult): void {
    const contact = this.d.store.contactSync(task.id);
    if (contact === null) return;
    this.result(contact, callId, null, result);
  }

  private result(contact: CampaignContact, callId: string, agent: string | null, lastResult: AttemptResult | null): void {
    const now = epochClock.now();
    const status = contact.status === 'open' || contact.status === 'claimed' ? null : contact.status;
    if (status === null) return;
    const event: CallEvent = {
      type: 'campaign_result', callId, at: now, caller: contact.caller, dialled: contact.dialled ?? '', customerId: contact.customerId,
      queue: contact.queue, campaignId: contact.campaignId, contactId: contact.id, status, attempts: contact.attempts,
      lastResult: lastResult ?? contact.lastResult, agent, disposition: contact.disposition, fields: contact.fields,
      answers: contact.surveyAnswers,
    };
    void this.d.outbox.callEvent(event, now).catch((err: unknown) => this.d.log.error({ err, contact: contact.id }, 'campaign_result write failed'));
  }

  // ---- the API's operations ----------------------------------------------------------------

  async create(input: CampaignInput, now: number): Promise<{ ok: true; campaign: Campaign } | CampaignRefusal> {
    if (!this.d.queues.has(input.queue)) return { ok: false, code: 'invalid', reason: `queue ${input.queue} does not exist` };
    const why = this.refuseMode(input);
    if (why !== null) return { ok: false, code: 'invalid', reason: why };
    const r = await this.d.store.create(input, now);
    return r.ok ? { ok: true, campaign: r.value } : { ok: false, code: 'conflict', reason: r.reason };
  }

  /** What is wrong with the campaign's mode and survey, or null. */
  private refuseMode(input: CampaignInput): string | null {
    if (input.mode === 'ivr') {
      if (input.type !== 'survey') return 'mode ivr is for campaigns of type survey';
      if (input.survey === null) return 'mode ivr needs a survey (config surveys.<id>)';
      if (this.d.surveys?.has(input.survey) !== true) return `survey ${input.survey} is not configured (config surveys)`;
      return null;
    }
    if (input.survey !== null) return 'a survey goes with mode ivr (agents read the script otherwise)';
    if (input.mode === 'predictive' && (this.d.predictive?.agentIds().length ?? 0) === 0) {
      return 'mode predictive needs agents on auto-answer (config agents[].autoAnswer)';
    }
    return null;
  }

  list(): Campaign[] {
    return this.d.store.list();
  }

  get(id: string): { campaign: Campaign; stats: CampaignStats } | null {
    const c = this.d.store.get(id);
    return c === null ? null : { campaign: c, stats: this.d.store.stats(id) };
  }

  async importCsv(id: string, text: string, now: number): Promise<{ ok: true; report: ImportReport } | CampaignRefusal> {
    if (this.d.store.get(id) === null) return { ok: false, code: 'not_found', reason: `no campaign ${id}` };
    const csv = parseContactsCsv(text, MAX_IMPORT_CONTACTS);
    if (!csv.ok) return { ok: false, code: 'invalid', reason: csv.reason };
    const r = await this.d.store.importContacts(id, csv.rows, now);
    if (!r.ok) return refusal(r);
    const errors = [...csv.errors, ...r.value.refused].sort((a, b) => a.line - b.line).slice(0, 50);
    return {
      ok: true,
      report: {
        lines: csv.lines, added: r.value.added, refused: csv.refused + r.value.refused.length, truncated: csv.truncated, errors, columns: csv.columns,
      },
    };
  }

  async setState(id: string, action: 'start' | 'pause' | 'resume' | 'stop', now: number): Promise<{ ok: true; campaign: Campaign } | CampaignRefusal> {
    const r = await this.d.store.setState(id, action, now);
    if (!r.ok) return refusal(r);
    if (r.value.state === 'running') for (const m of CAMPAIGN_MODES) this.dialers[m].poll();
    return { ok: true, campaign: r.value };
  }

  /** A contact with the script rendered with its fields (the agent's screen). */
  async contact(id: string, contactId: number): Promise<{ contact: CampaignContact; script: string } | null> {
    const c = this.d.store.get(id);
    const x = await this.d.store.contact(contactId);
    if (c === null || x === null || x.campaignId !== id) return null;
    return { contact: x, script: renderScript(c.script, x.caller, x.fields) };
  }

  /**
   * The agent's result code for a contact it talked to (one of the campaign's `resultCodes`);
   * the contact's `campaign_result` goes to the outbox with it.
   */
  async dispose(id: string, contactId: number, d: { code: string; note: string | null; agent: string | null }, now: number)
    : Promise<{ ok: true; contact: CampaignContact } | CampaignRefusal> {
    const c = this.d.store.get(id);
    const x = await this.d.store.contact(contactId);
    if (c === null || x === null || x.campaignId !== id) return { ok: false, code: 'not_found', reason: `no contact ${contactId} in campaign ${id}` };
    if (!c.resultCodes.includes(d.code)) return { ok: false, code: 'invalid', reason: `result code ${d.code} is not one of ${c.resultCodes.join(', ')}` };
    const talked = this.d.store.answeredBy(contactId);
    if (x.status !== 'done' || talked === null) return { ok: false, code: 'conflict', reason: `contact ${contactId} was not reached (${x.status})` };
    if (d.agent !== null && talked.agent !== null && d.agent !== talked.agent) {
      return { ok: false, code: 'conflict', reason: `contact ${contactId} talked to agent ${talked.agent}` };
    }
    const done = await this.d.store.dispose(contactId, { ...d, agent: d.agent ?? talked.agent }, now);
    this.result(done, talked.callId, done.dispositionAgent, 'answered');
    return { ok: true, contact: done };
  }

  /** The agent's answer to a campaign contact's preview. */
  answerPreview(id: string, contactId: number, agentId: string, choice: PreviewChoice): PreviewAnswer {
    const c = this.d.store.campaignOf(contactId);
    if (c === null || c.id !== id) return { ok: false, code: 'not_found', reason: `no contact ${contactId} in campaign ${id}` };
    return this.dialers.preview.answerPreview(contactId, agentId, choice);
  }
}

/** Why a contact is not dialled now, or null when it may be. */
export type HoldBack = 'campaign_not_running' | 'not_due' | 'dnc' | 'outside_schedule' | 'surge' | 'inbound_waiting';

/**
 * The campaign rules of one contact at `now` (pure): its campaign running, the contact open and
 * due, not on the do-not-call list, inside the campaign's schedule (its time zone), surge mode off
 * (an airing's back office is on the phones: campaigns pause for the surge and resume after it,
 * issue 18), and no inbound queue with more live callers waiting than the campaign's
 * `pauseWhenInboundWaiting` (live callers first, surge or not).
 */
export function holdBack(c: Pick<Campaign, 'state' | 'schedule' | 'timeZone' | 'pauseWhenInboundWaiting'>,
  task: Pick<DialerTask, 'status' | 'nextAttemptAt' | 'caller'>, now: number, o: { isDnc(number: string): boolean; inboundWaitingMax: number; surge?: boolean }): HoldBack | null {
  if (c.state !== 'running') return 'campaign_not_running';
  if (task.status !== 'open' || task.nextAttemptAt > now) return 'not_due';
  if (o.isDnc(task.caller)) return 'dnc';
  if (!inCallingHours(now, c.schedule, c.timeZone)) return 'outside_schedule';
  if (o.surge === true) return 'surge';
  if (o.inboundWaitingMax > c.pauseWhenInboundWaiting) return 'inbound_waiting';
  return null;
}

function refusal(r: Extract<StoreResult<unknown>, { ok: false }>): CampaignRefusal {
  return { ok: false, code: r.code === 'STORE_ERR_NOT_FOUND' ? 'not_found' : 'conflict', reason: r.reason };
}
