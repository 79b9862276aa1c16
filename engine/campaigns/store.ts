/**
 * Outbound campaigns on the engine's SQLite (component `campaigns`): the campaigns and their
 * definitions, the contacts imported by CSV, the agents' dispositions, per-campaign figures. The
 * contacts' attempts follow the callback tasks' rules: {@link CampaignStore.tasks} are
 * `SqliteCallbacks` over `campaign_contacts` / `campaign_attempts`, one per dialing mode (each due
 * list only the running campaigns of its mode), so policy, claims and crash recovery are the same.
 */
import { migrate, settle, transact, type SqliteDatabase, type SqliteStatement, type SqliteWriter } from '../db/index.ts';
import { SqliteCallbacks, type CallbackTask, type StoreResult } from '../store/index.ts';
import type { CallingWindow, DialingPolicy } from '../callbacks/index.ts';
import { CAMPAIGN_MIGRATIONS } from './schema.ts';
import type { ContactRow, LineError } from './csv.ts';

/** What a campaign is for (issue 14). */
export type CampaignType = 'survey' | 'resale' | 'care';
/**
 * How its contacts are dialled (docs/dialer.md): agent first (`preview`, `progressive`), customer
 * first and paced (`predictive`), or customer first with no agent, an IVR survey (`ivr`).
 */
export type CampaignMode = 'preview' | 'progressive' | 'predictive' | 'ivr';

/** Every mode, in the order the dialers are built. */
export const CAMPAIGN_MODES: readonly CampaignMode[] = ['preview', 'progressive', 'predictive', 'ivr'];

/** Answers of a surveyed contact: question (the survey's collect variable) → digits, or null. */
export type SurveyAnswers = Record<string, string | null>;
/** Whether it dials. `stopped` is final: its open contacts are cancelled. */
export type CampaignState = 'paused' | 'running' | 'stopped';

/** A campaign's settings (API `POST /api/v1/campaigns`). */
export interface CampaignInput {
  id: string;
  name: string;
  type: CampaignType;
  mode: CampaignMode;
  /** The queue whose agents work it (skills and priorities are the queue's). */
  queue: string;
  /** Windows in which its contacts may be called, local to `timeZone`. */
  schedule: CallingWindow[];
  timeZone: string;
  /** Shown to the agent, `{{field}}` replaced by the contact's fields. */
  script: string;
  /** The dispositions an agent may record. */
  resultCodes: string[];
  /** The campaign dials only while every inbound queue has at most this many live callers waiting. */
  pauseWhenInboundWaiting: number;
  /** Number presented to the customers (else the trunk's). */
  callerId: string | null;
  /** Mode ivr: the survey (config `surveys.<id>`) its customers answer; null otherwise. */
  survey: string | null;
  /** Mode ivr: calls in progress at most (no agent bounds them). */
  maxConcurrent: number;
  /** Mode ivr: new calls per second at most. */
  callsPerSecond: number;
}

/** Limits of a campaign stored before they existed (schema version 1). */
const DEFAULT_LIMITS = { survey: null, maxConcurrent: 10, callsPerSecond: 2 } as const;

/** A stored campaign. */
export interface Campaign extends CampaignInput {
  state: CampaignState;
  createdAt: number;
  updatedAt: number;
}

/** A contact: a callback-shaped task plus the campaign's columns. */
export interface CampaignContact extends CallbackTask {
  campaignId: string;
  fields: Record<string, string>;
  disposition: { code: string; note: string | null } | null;
  dispositionAgent: string | null;
  dispositionAt: number | null;
  /** Mode ivr: the answers its survey got (null: not surveyed). */
  surveyAnswers: SurveyAnswers | null;
}

/** Per-campaign figures. */
export interface CampaignStats {
  contacts: number;
  byStatus: Record<string, number>;
  attemptsByResult: Record<string, number>;
  dispositions: Record<string, number>;
}

/** Most contacts a campaign may hold. */
export const MAX_CAMPAIGN_CONTACTS = 100_000;

interface CampaignRow {
  id: string; name: string; type: CampaignType; mode: CampaignMode; queue: string; state: CampaignState;
  definition: string; created_at: number; updated_at: number;
}

interface ContactExtra {
  id: number; campaign_id: string; fields: string; disposition_code: string | null; disposition_note: string | null;
  disposition_agent: string | null; disposition_at: number | null; survey_answers: string | null;
}

const DEFINITION_KEYS = ['schedule', 'timeZone', 'script', 'resultCodes', 'pauseWhenInboundWaiting', 'callerId', 'survey', 'maxConcurrent', 'callsPerSecond'] as const;

function toCampaign(r: CampaignRow): Campaign {
  const d = JSON.parse(r.definition) as Pick<CampaignInput, (typeof DEFINITION_KEYS)[number]>;
  return { id: r.id, name: r.name, type: r.type, mode: r.mode, queue: r.queue, state: r.state, createdAt: r.created_at, updatedAt: r.updated_at, ...DEFAULT_LIMITS, ...d };
}

/** The due filter of one mode's task store: contacts of the running campaigns of that mode. */
function dueFilter(mode: CampaignMode): string {
  return `campaign_id IN (SELECT id FROM campaigns WHERE state = 'running' AND mode = '${mode}')`;
}

/** The campaigns' store. */
export class CampaignStore {
  readonly #db: SqliteDatabase;
  readonly #writer: SqliteWriter;
  /** Contacts' attempts per dialing mode (the dialers' task stores). */
  readonly tasks: Readonly<Record<CampaignMode, SqliteCallbacks>>;
  /** Every contact (API, recovery, sweeps). */
  readonly contacts: SqliteCallbacks;
  readonly #insert: SqliteStatement;
  readonly #get: SqliteStatement<CampaignRow>;
  readonly #list: SqliteStatement<CampaignRow>;
  readonly #setState: SqliteStatement;
  readonly #cancelOpen: SqliteStatement;
  readonly #insertContact: SqliteStatement<{ id: number }>;
  readonly #count: SqliteStatement<{ n: number }>;
  readonly #extra: SqliteStatement<ContactExtra>;
  readonly #dispose: SqliteStatement;
  readonly #byStatus: SqliteStatement<{ status: string; n: number }>;
  readonly #byResult: SqliteStatement<{ result: string; n: number }>;
  readonly #byCode: SqliteStatement<{ code: string; n: number }>;
  readonly #lastAgent: SqliteStatement<{ agent_id: string | null; call_id: string }>;
  readonly #contactsBy: SqliteStatement<{ campaign: string; status: string; n: number }>;
  readonly #saveAnswers: SqliteStatement;
  /** Campaign of each contact seen (contacts never move). */
  readonly #campaignOf = new Map<number, string>();
  readonly #campaigns = new Map<string, Campaign>();

  constructor(db: SqliteDatabase, writer: SqliteWriter, policy: DialingPolicy, now: number) {
    this.#db = db;
    this.#writer = writer;
    migrateCampaigns(db, writer, now);
    const tables = { tasks: 'campaign_contacts', attempts: 'campaign_attempts' };
    const byMode = (mode: CampaignMode): SqliteCallbacks => new SqliteCallbacks(db, writer, policy, { ...tables, dueFilter: dueFilter(mode) });
    this.tasks = { preview: byMode('preview'), progressive: byMode('progressive'), predictive: byMode('predictive'), ivr: byMode('ivr') };
    this.contacts = new SqliteCallbacks(db, writer, policy, tables);
    this.#insert = db.prepare(`INSERT INTO campaigns (id, name, type, mode, queue, state, definition, created_at, updated_at)
      VALUES (@id, @name, @type, @mode, @queue, 'paused', @definition, @now, @now) ON CONFLICT (id) DO NOTHING`);
    this.#get = db.prepare('SELECT * FROM campaigns WHERE id = ?');
    this.#list = db.prepare('SELECT * FROM campaigns ORDER BY created_at, id');
    this.#setState = db.prepare('UPDATE campaigns SET state = @state, updated_at = @now WHERE id = @id');
    this.#cancelOpen = db.prepare(`UPDATE campaign_contacts SET status = 'cancelled', closed_at = @now, note = 'stopped', updated_at = @now
      WHERE campaign_id = @id AND status = 'open'`);
    // A number open in another campaign (or twice) hits the partial unique index: DO NOTHING, no id.
    this.#insertContact = db.prepare(`INSERT INTO campaign_contacts (caller, queue, reason, arrived_at, last_arrival_at, abandons,
        first_call_id, last_call_id, dialled, created_at, updated_at, next_attempt_at, time_zone, campaign_id, fields)
      VALUES (@number, @queue, 'campaign', @at, @at, 0, 'import', 'import', @dialled, @now, @now, @now, @timeZone, @campaign, @fields)
      ON CONFLICT DO NOTHING RETURNING id`);
    this.#count = db.prepare('SELECT count(*) AS n FROM campaign_contacts WHERE campaign_id = ?');
    this.#extra = db.prepare(`SELECT id, campaign_id, fields, disposition_code, disposition_note, disposition_agent, disposition_at, survey_answers
      FROM campaign_contacts WHERE id = ?`);
    this.#saveAnswers = db.prepare('UPDATE campaign_contacts SET survey_answers = @answers, updated_at = @now WHERE id = @id');
    this.#dispose = db.prepare(`UPDATE campaign_contacts SET disposition_code = @code, disposition_note = @note,
        disposition_agent = @agent, disposition_at = @now, updated_at = @now WHERE id = @id`);
    this.#byStatus = db.prepare('SELECT status, count(*) AS n FROM campaign_contacts WHERE campaign_id = ? GROUP BY status');
    this.#byResult = db.prepare(`SELECT a.result AS result, count(*) AS n FROM campaign_attempts a JOIN campaign_contacts c ON c.id = a.task_id
      WHERE c.campaign_id = ? AND a.result IS NOT NULL GROUP BY a.result`);
    this.#byCode = db.prepare(`SELECT disposition_code AS code, count(*) AS n FROM campaign_contacts
      WHERE campaign_id = ? AND disposition_code IS NOT NULL GROUP BY disposition_code`);
    this.#lastAgent = db.prepare(`SELECT agent_id, call_id FROM campaign_attempts WHERE task_id = ? AND result = 'answered' ORDER BY id DESC LIMIT 1`);
    this.#contactsBy = db.prepare('SELECT campaign_id AS campaign, status, count(*) AS n FROM campaign_contacts GROUP BY campaign_id, status');
    for (const r of this.#list.all()) this.#campaigns.set(r.id, toCampaign(r));
  }

  /** A new campaign (paused); refused when the id exists. */
  create(input: CampaignInput, now: number): Promise<StoreResult<Campaign>> {
    return this.#writer.write(() => {
      const definition = JSON.stringify(Object.fromEntries(DEFINITION_KEYS.map((k) => [k, input[k]])));
      const r = this.#insert.run({ id: input.id, name: input.name, type: input.type, mode: input.mode, queue: input.queue, definition, now });
      if (r.changes !== 1) return { ok: false, code: 'STORE_ERR_INVALID_STATE', reason: `campaign ${input.id} exists already` };
      const c = toCampaign(this.#get.get(input.id)!);
      this.#campaigns.set(c.id, c);
      return { ok: true, value: c };
    });
  }

  /** A campaign (from memory: every change goes through this store). */
  get(id: string): Campaign | null {
    return this.#campaigns.get(id) ?? null;
  }

  list(): Campaign[] {
    return [...this.#campaigns.values()];
  }

  /**
   * start / resume → running, pause → paused, stop → stopped (final; open contacts cancelled,
   * note `stopped`: an attempt in progress finishes and is recorded).
   */
  setState(id: string, action: 'start' | 'pause' | 'resume' | 'stop', now: number): Promise<StoreResult<Campaign>> {
    return this.#writer.write(() => transact(this.#db, () => {
      const c = this.#campaigns.get(id);
      if (!c) return { ok: false, code: 'STORE_ERR_NOT_FOUND', reason: `no campaign ${id}` };
      if (c.state === 'stopped') return { ok: false, code: 'STORE_ERR_INVALID_STATE', reason: `campaign ${id} is stopped` };
      const state: CampaignState = action === 'pause' ? 'paused' : action === 'stop' ? 'stopped' : 'running';
      this.#setState.run({ id, state, now });
      if (state === 'stopped') this.#cancelOpen.run({ id, now });
      const next = { ...c, state, updatedAt: now };
      this.#campaigns.set(id, next);
      return { ok: true, value: next };
    }));
  }

  /**
   * Add contacts to a campaign, in file order (the order they are called in). A number open in a
   * campaign already is refused with its line; beyond {@link MAX_CAMPAIGN_CONTACTS} every row is.
   */
  importContacts(id: string, rows: readonly ContactRow[], now: number): Promise<StoreResult<{ added: number; refused: LineError[] }>> {
    return this.#writer.write(() => transact(this.#db, () => {
      const c = this.#campaigns.get(id);
      if (!c) return { ok: false, code: 'STORE_ERR_NOT_FOUND', reason: `no campaign ${id}` };
      if (c.state === 'stopped') return { ok: false, code: 'STORE_ERR_INVALID_STATE', reason: `campaign ${id} is stopped` };
      let room = MAX_CAMPAIGN_CONTACTS - this.#count.get(id)!.n;
      const refused: LineError[] = [];
      let added = 0;
      for (const [i, row] of rows.entries()) {
        if (room <= 0) {
          refused.push({ line: row.line, reason: `the campaign holds ${MAX_CAMPAIGN_CONTACTS} contacts already` });
          continue;
        }
        // The file's order is the calling order: one millisecond apart from the import time on.
        const r = this.#insertContact.get({
          number: row.number, queue: c.queue, at: now + i, dialled: c.callerId, now, timeZone: c.timeZone, campaign: id, fields: JSON.stringify(row.fields),
        });
        if (r === undefined) {
          refused.push({ line: row.line, reason: `${row.number} is open in a campaign already` });
          continue;
        }
        this.#campaignOf.set(r.id, id);
        added++;
        room--;
      }
      return { ok: true, value: { added, refused } };
    }));
  }

  /** The campaign of a contact, or null (cached). */
  campaignOf(contactId: number): Campaign | null {
    let id = this.#campaignOf.get(contactId);
    if (id === undefined) {
      const r = this.#extra.get(contactId);
      if (r === undefined) return null;
      id = r.campaign_id;
      this.#campaignOf.set(contactId, id);
    }
    return this.#campaigns.get(id) ?? null;
  }

  /** One contact with its campaign columns. */
  contactSync(contactId: number): CampaignContact | null {
    const task = this.contacts.getSync(contactId);
    const x = this.#extra.get(contactId);
    if (task === null || x === undefined) return null;
    return {
      ...task, campaignId: x.campaign_id, fields: JSON.parse(x.fields) as Record<string, string>,
      disposition: x.disposition_code === null ? null : { code: x.disposition_code, note: x.disposition_note },
      dispositionAgent: x.disposition_agent, dispositionAt: x.disposition_at,
      surveyAnswers: x.survey_answers === null ? null : JSON.parse(x.survey_answers) as SurveyAnswers,
    };
  }

  contact(contactId: number): Promise<CampaignContact | null> {
    return settle(() => this.contactSync(contactId));
  }

  /** The agent and call id of the contact's answered attempt (null when none was answered). */
  answeredBy(contactId: number): { agent: string | null; callId: string } | null {
    const r = this.#lastAgent.get(contactId);
    return r === undefined ? null : { agent: r.agent_id, callId: r.call_id };
  }

  /** Record the agent's disposition on a contact (replaces an earlier one). */
  dispose(contactId: number, d: { code: string; note: string | null; agent: string | null }, now: number): Promise<CampaignContact> {
    return this.#writer.write(() => {
      this.#dispose.run({ id: contactId, code: d.code, note: d.note, agent: d.agent, now });
      return this.contactSync(contactId)!;
    });
  }

  /** Keep a surveyed contact's answers (replaces earlier ones: a later attempt's survey is the answer). */
  saveAnswers(contactId: number, answers: SurveyAnswers, now: number): Promise<CampaignContact | null> {
    return this.#writer.write(() => {
      this.#saveAnswers.run({ id: contactId, answers: JSON.stringify(answers), now });
      return this.contactSync(contactId);
    });
  }

  /**
   * The metrics' figures: contacts per campaign and status, and the attempts this process ended
   * (every dialing mode), by result.
   */
  async figures(now: number): Promise<{ contacts: { campaign: string; status: string; n: number }[]; attemptsByResult: Record<string, number> }> {
    const contacts = await settle(() => this.#contactsBy.all());
    const attemptsByResult: Record<string, number> = {};
    for (const t of [...CAMPAIGN_MODES.map((m) => this.tasks[m]), this.contacts]) {
      for (const [r, n] of Object.entries((await t.figures(now)).attemptsByResult)) attemptsByResult[r] = (attemptsByResult[r] ?? 0) + n;
    }
    return { contacts, attemptsByResult };
  }

  /** A campaign's figures. */
  stats(id: string): CampaignStats {
    const byStatus: Record<string, number> = {};
    let contacts = 0;
    for (const r of this.#byStatus.all(id)) {
      byStatus[r.status] = r.n;
      contacts += r.n;
    }
    const attemptsByResult: Record<string, number> = {};
    for (const r of this.#byResult.all(id)) attemptsByResult[r.result] = r.n;
    const dispositions: Record<string, number> = {};
    for (const r of this.#byCode.all(id)) dispositions[r.code] = r.n;
    return { contacts, byStatus, attemptsByResult, dispositions };
  }
}

/**
 * The component's migrations with foreign keys off. Version 2 rebuilds `campaigns` (SQLite changes
 * a CHECK constraint no other way), and with foreign keys enforced, dropping the old table under
 * its contacts fails; SQLite's procedure for such changes ("Making Other Kinds Of Table Schema
 * Changes", sqlite.org/lang_altertable.html) turns them off around the transaction and checks them
 * after. The pragma is a no-op inside a transaction, so the writer's open group commits first.
 */
function migrateCampaigns(db: SqliteDatabase, writer: SqliteWriter, now: number): void {
  if (db.inTransaction) writer.flush();
  db.pragma('foreign_keys = OFF');
  try {
    migrate(db, 'campaigns', CAMPAIGN_MIGRATIONS, now);
  } finally {
    db.pragma('foreign_keys = ON');
  }
  const broken = db.pragma('foreign_key_check(campaign_contacts)') as unknown[];
  if (broken.length > 0) throw new Error(`campaigns migration left ${broken.length} contacts without their campaign`);
}
