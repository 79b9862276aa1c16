/**
 * The roster: every agent the engine knows, the configuration file's and those added at run
 * time, with their current skills. The engine builds it once at start ({@link mergeRoster}) and
 * then reads it wherever it read `config.agents` (the API's agent list, names, auto-ready).
 *
 * The rule (docs/desktop.md, "Run-time provisioning"): the file is the seed, the database holds
 * what changed since, and the later of the two wins.
 * - An agent added at run time is kept across restarts. If the file later defines an agent with
 *   the same id, or gives its extension to another agent, the file's agent wins and the added one
 *   is dropped (logged).
 * - A skill change of a configured agent is kept across restarts while the file's skills for that
 *   agent stay what they were when the change was made; once someone edits them in the file, the
 *   file's new skills win and the run-time change is dropped (logged).
 */
import type { ProvisionedAgent, SkillOverride } from './store.ts';

/** An agent as the engine runs it (the configuration's shape; added agents get the defaults). */
export interface RosterAgent extends ProvisionedAgent {
  maxRegistrations: number;
  /** The phone answers the engine's INVITEs itself (predictive dialing, docs/dialer.md). */
  autoAnswer: boolean;
}

/** A stored row the file now supersedes, and why. */
export interface Superseded {
  kind: 'agent' | 'override';
  agentId: string;
  why: string;
}

/** Contacts an added agent's phone may register (the configuration's default). */
export const ADDED_AGENT_MAX_REGISTRATIONS = 3;

/** Skills maps compared by content, whatever the key order. */
export function sameSkills(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => b[k] === a[k]);
}

/** Merge the file's agents with the stored changes by the rule above. Pure. */
export function mergeRoster(configured: readonly RosterAgent[], added: readonly ProvisionedAgent[], overrides: readonly SkillOverride[]): { agents: RosterAgent[]; superseded: Superseded[] } {
  const superseded: Superseded[] = [];
  const byId = new Map(configured.map((a) => [a.id, a]));
  const extensions = new Set(configured.map((a) => a.extension));
  const agents = configured.map((a) => ({ ...a, skills: { ...a.skills } }));
  for (const o of overrides) {
    const a = agents.find((x) => x.id === o.agentId);
    if (a === undefined) superseded.push({ kind: 'override', agentId: o.agentId, why: 'the agent is no longer in the configuration' });
    else if (!sameSkills(byId.get(o.agentId)!.skills, o.seed)) superseded.push({ kind: 'override', agentId: o.agentId, why: "the configuration's skills changed since the run-time change" });
    else a.skills = { ...o.skills };
  }
  for (const p of added) {
    if (byId.has(p.id)) superseded.push({ kind: 'agent', agentId: p.id, why: 'the configuration defines this agent now' });
    else if (extensions.has(p.extension)) superseded.push({ kind: 'agent', agentId: p.id, why: `the configuration gives extension ${p.extension} to another agent` });
    else {
      extensions.add(p.extension);
      // Not on auto-answer: a predictive queue's agents are checked at config load, and an agent
      // added later must not be connected to customers without ringing.
      agents.push({ ...p, skills: { ...p.skills }, maxRegistrations: ADDED_AGENT_MAX_REGISTRATIONS, autoAnswer: false });
    }
  }
  return { agents, superseded };
}

/** The live roster (one per engine). */
export class Roster {
  readonly #agents: RosterAgent[];
  readonly #byId = new Map<string, RosterAgent>();
  /** The file's skills of configured agents (what a run-time change is measured against). */
  readonly #seeds = new Map<string, Record<string, number>>();

  constructor(agents: readonly RosterAgent[], configured: readonly RosterAgent[]) {
    this.#agents = [...agents];
    for (const a of this.#agents) this.#byId.set(a.id, a);
    for (const c of configured) this.#seeds.set(c.id, { ...c.skills });
  }

  /** Every agent in roster order (file order, then order added). */
  list(): readonly RosterAgent[] {
    return this.#agents;
  }

  get(id: string): RosterAgent | undefined {
    return this.#byId.get(id);
  }

  /** The agent owning `extension`, or undefined. */
  byExtension(extension: string): RosterAgent | undefined {
    return this.#agents.find((a) => a.extension === extension);
  }

  /** The file's skills when `id` is a configured agent, else undefined (added at run time). */
  seedOf(id: string): Readonly<Record<string, number>> | undefined {
    return this.#seeds.get(id);
  }

  add(a: RosterAgent): void {
    this.#agents.push(a);
    this.#byId.set(a.id, a);
  }

  setSkills(id: string, skills: Record<string, number>): void {
    const a = this.#byId.get(id);
    if (a !== undefined) a.skills = { ...skills };
  }
}
