/**
 * Run-time provisioning (issue 15, contract C3): change an agent's skills, add an agent and its
 * user, without a restart, persisted so that a restart keeps them (the merge rule is roster.ts's).
 * The API's routes and h-reports' surge mode call these functions; nothing here knows HTTP.
 *
 * ```
 *  setSkills ─▶ acd.setAgentSkills ─▶ apply(effects: an idle agent may be offered a call at once)
 *            └▶ roster ─▶ store (agent_skills / provisioned_agents) ─▶ audit
 *  addAgent  ─▶ acd.addAgent ─▶ registrar.addAgent ─▶ roster ─▶ store ─▶ users.addAccount ─▶ audit
 * ```
 */
import type { AcdEffect, AgentConfig, AgentView } from '../acd/index.ts';
import type { AuditSink } from '../audit/index.ts';
import type { UserAccount } from '../users/index.ts';
import { ADDED_AGENT_MAX_REGISTRATIONS, sameSkills, type Roster } from './roster.ts';
import type { ProvisionedAgent, ProvisioningStore } from './store.ts';

/** Stable codes of refused provisioning requests (`PROV_ERR_*`, the registry of this layer). */
export const PROVISIONING_ERRORS = {
  PROV_ERR_UNKNOWN_AGENT: 'no such agent',
  PROV_ERR_INVALID: 'a skill name or level, an id or an extension is malformed',
  PROV_ERR_EXISTS: 'the agent id, its extension or its username is taken',
  PROV_ERR_NO_USERS: 'no users are configured: an agent can be added, a user for it cannot',
} as const;

/** A code of {@link PROVISIONING_ERRORS}. */
export type ProvisioningErrorCode = keyof typeof PROVISIONING_ERRORS;

/** Outcome of a request; `persisted` settles when the change is committed. */
export type ProvisionResult =
  | { ok: true; agent: AgentView; persisted: Promise<void> }
  | { ok: false; code: ProvisioningErrorCode; message: string };

/** Who asked (for the audit log); `system` for the engine's own callers. */
export interface Actor {
  actor: string;
  role: string;
  source: string;
}

const SYSTEM: Actor = { actor: 'system', role: 'system', source: 'engine' };

/** An agent to add: its stored definition, and optionally a desktop user (role agent). */
export interface NewAgent extends ProvisionedAgent {
  user?: { username: string; password: string };
}

/** What provisioning drives. */
export interface ProvisioningDeps {
  acd: {
    setAgentSkills(agentId: string, skills: Readonly<Record<string, number>>, now: number): AcdEffect[];
    addAgent(agent: AgentConfig): AcdEffect[];
    inspectAgent(agentId: string): AgentView | undefined;
  };
  /** Carry out the ACD's effects (call control's `apply`). */
  apply(effects: AcdEffect[]): void;
  registrar: { addAgent(a: { id: string; extension: string; password: string; maxContacts: number }): void };
  users: { addAccount(a: UserAccount, password: string): Promise<{ ok: true } | { ok: false; code: string; message: string }>; get(username: string): unknown } | null;
  roster: Roster;
  store: ProvisioningStore;
  audit?: AuditSink;
  /** Errors of a write after the answer was given (a full disk). */
  onError?: (err: unknown) => void;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
}

/** Skill names: the configuration's id pattern. */
const SKILL = /^[A-Za-z0-9._@+-]{1,64}$/;
const EXTENSION = /^[0-9]{2,10}$/;

/** Why a skills map is unusable, or null. Levels are the configuration's 1..100. */
export function skillsProblem(skills: unknown): string | null {
  if (typeof skills !== 'object' || skills === null || Array.isArray(skills)) return 'skills must be an object of skill → level';
  const entries = Object.entries(skills);
  if (entries.length > 64) return 'at most 64 skills';
  for (const [k, v] of entries) {
    if (!SKILL.test(k)) return `skill '${k.slice(0, 64)}': letters, digits and . _ @ + - only`;
    if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 100)) return `skill '${k}': level must be an integer 1..100`;
  }
  return null;
}

/** Run-time provisioning of one engine. */
export class Provisioning {
  readonly #d: ProvisioningDeps;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;

  constructor(deps: ProvisioningDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#onError = deps.onError ?? (() => {});
  }

  /**
   * Replace an agent's skills (contract C3): takes effect at once in the ACD (an idle available
   * agent moved into a queue may be offered its waiting call now; an agent on a call gets the new
   * skills for its next one), kept across restarts, audited.
   */
  setSkills(agentId: string, skills: Record<string, number>, by: Actor = SYSTEM): ProvisionResult {
    const d = this.#d;
    const problem = skillsProblem(skills);
    if (problem !== null) return refuse('PROV_ERR_INVALID', problem);
    const current = d.roster.get(agentId);
    if (current === undefined || d.acd.inspectAgent(agentId) === undefined) return refuse('PROV_ERR_UNKNOWN_AGENT', `no agent ${agentId}`);
    const before = { ...current.skills };
    const now = this.#now();
    const effects = d.acd.setAgentSkills(agentId, skills, now);
    const error = effects.find((e) => e.type === 'error');
    if (error !== undefined) return refuse('PROV_ERR_INVALID', error.type === 'error' ? error.message : 'refused');
    d.roster.setSkills(agentId, skills);
    d.apply(effects);
    const seed = d.roster.seedOf(agentId);
    const write = seed === undefined
      ? d.store.setAddedSkills(agentId, skills)
      : sameSkills(seed, skills) ? d.store.drop('override', agentId) : d.store.setOverride({ agentId, skills, seed: { ...seed } }, by.actor, now);
    d.audit?.record({ ...by, action: 'agent.skills', target: agentId, detail: { before, after: skills } });
    return { ok: true, agent: d.acd.inspectAgent(agentId)!, persisted: this.#watch(write) };
  }

  /** Set one skill's level (move an agent into a queue's skill), or remove it (`level` null: out of it). */
  setSkillLevel(agentId: string, skill: string, level: number | null, by: Actor = SYSTEM): ProvisionResult {
    const current = this.#d.roster.get(agentId);
    if (current === undefined) return refuse('PROV_ERR_UNKNOWN_AGENT', `no agent ${agentId}`);
    const skills = { ...current.skills };
    if (level === null) delete skills[skill];
    else skills[skill] = level;
    return this.setSkills(agentId, skills, by);
  }

  /**
   * Add an agent (logged out until its phone registers) and, when asked, its desktop user; both
   * kept across restarts, audited.
   */
  async addAgent(a: NewAgent, by: Actor = SYSTEM): Promise<ProvisionResult> {
    const d = this.#d;
    if (!SKILL.test(a.id)) return refuse('PROV_ERR_INVALID', 'id: letters, digits and . _ @ + - only');
    if (!EXTENSION.test(a.extension)) return refuse('PROV_ERR_INVALID', 'extension: 2-10 digits');
    const problem = skillsProblem(a.skills);
    if (problem !== null) return refuse('PROV_ERR_INVALID', problem);
    if (d.roster.get(a.id) !== undefined || d.acd.inspectAgent(a.id) !== undefined) return refuse('PROV_ERR_EXISTS', `agent ${a.id} exists`);
    if (d.roster.byExtension(a.extension) !== undefined) return refuse('PROV_ERR_EXISTS', `extension ${a.extension} is taken`);
    if (a.user !== undefined) {
      if (d.users === null) return refuse('PROV_ERR_NO_USERS', 'no users are configured (users.accounts)');
      if (d.users.get(a.user.username) !== undefined) return refuse('PROV_ERR_EXISTS', `user ${a.user.username} exists`);
    }
    const effects = d.acd.addAgent({ id: a.id, skills: a.skills });
    if (effects.some((e) => e.type === 'error')) return refuse('PROV_ERR_INVALID', 'refused by the ACD');
    d.registrar.addAgent({ id: a.id, extension: a.extension, password: a.password, maxContacts: ADDED_AGENT_MAX_REGISTRATIONS });
    d.roster.add({ id: a.id, extension: a.extension, password: a.password, name: a.name, skills: { ...a.skills }, autoReadyOnRegister: a.autoReadyOnRegister, team: a.team, maxRegistrations: ADDED_AGENT_MAX_REGISTRATIONS, autoAnswer: false });
    const now = this.#now();
    const writes: Promise<unknown>[] = [d.store.addAgent({ id: a.id, extension: a.extension, password: a.password, name: a.name, skills: a.skills, autoReadyOnRegister: a.autoReadyOnRegister, team: a.team }, by.actor, now)];
    if (a.user !== undefined && d.users !== null) {
      const r = await d.users.addAccount({ username: a.user.username, role: 'agent', agentId: a.id, name: a.name }, a.user.password);
      // Checked above; a race with another request taking the name leaves the agent without a user.
      if (!r.ok) this.#onError(new Error(`${r.code}: ${r.message}`));
    }
    d.audit?.record({ ...by, action: 'agent.add', target: a.id, detail: { extension: a.extension, name: a.name, team: a.team, skills: a.skills, user: a.user?.username ?? null } });
    return { ok: true, agent: d.acd.inspectAgent(a.id)!, persisted: this.#watch(Promise.all(writes).then(() => undefined)) };
  }

  #watch(p: Promise<void>): Promise<void> {
    p.catch(this.#onError);
    return p;
  }
}

function refuse(code: ProvisioningErrorCode, message: string): ProvisionResult {
  return { ok: false, code, message };
}
