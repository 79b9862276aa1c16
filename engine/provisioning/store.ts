/**
 * What run-time provisioning keeps in the engine's SQLite file (component `provisioning`): agents
 * added through the API, and skill changes made at run time. The configuration file is the seed;
 * these tables are what changed since, and the engine merges the two at start (roster.ts).
 */
import { migrate, type Migration, type SqliteDatabase, type SqliteStatement, type SqliteWriter } from '../db/index.ts';

/** Migrations of the `provisioning` component, in order. */
export const PROVISIONING_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'run-time agents and skills',
    sql: `
CREATE TABLE provisioned_agents (
  agent_id TEXT PRIMARY KEY,
  extension TEXT NOT NULL UNIQUE,
  password TEXT NOT NULL,
  name TEXT,
  skills TEXT NOT NULL,
  auto_ready INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);
CREATE TABLE agent_skills (
  agent_id TEXT PRIMARY KEY,
  skills TEXT NOT NULL,
  seed TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL
);
`,
  },
  {
    version: 2,
    name: 'team of an added agent',
    sql: 'ALTER TABLE provisioned_agents ADD COLUMN team TEXT;',
  },
];

/** An agent added at run time. The digest password is kept as the config keeps it: the registrar needs it to check a REGISTER. */
export interface ProvisionedAgent {
  id: string;
  extension: string;
  password: string;
  name: string | null;
  skills: Record<string, number>;
  autoReadyOnRegister: boolean;
  /** Its team (supervisors with teams see only theirs), or null. */
  team: string | null;
}

/** A run-time skill change of a configured agent, with the file's skills at the time (`seed`). */
export interface SkillOverride {
  agentId: string;
  skills: Record<string, number>;
  seed: Record<string, number>;
}

interface AgentRow { agent_id: string; extension: string; password: string; name: string | null; skills: string; auto_ready: number; team: string | null }
interface SkillRow { agent_id: string; skills: string; seed: string }

/** The two tables. Reads are synchronous (start-up); writes go through the store's writer. */
export class ProvisioningStore {
  readonly #writer: SqliteWriter;
  readonly #agents: SqliteStatement<AgentRow>;
  readonly #overrides: SqliteStatement<SkillRow>;
  readonly #insertAgent: SqliteStatement;
  readonly #agentSkills: SqliteStatement;
  readonly #deleteAgent: SqliteStatement;
  readonly #upsertSkills: SqliteStatement;
  readonly #deleteSkills: SqliteStatement;

  constructor(db: SqliteDatabase, writer: SqliteWriter, now: number) {
    migrate(db, 'provisioning', PROVISIONING_MIGRATIONS, now);
    this.#writer = writer;
    this.#agents = db.prepare('SELECT agent_id, extension, password, name, skills, auto_ready, team FROM provisioned_agents ORDER BY created_at, agent_id');
    this.#overrides = db.prepare('SELECT agent_id, skills, seed FROM agent_skills');
    this.#insertAgent = db.prepare('INSERT INTO provisioned_agents (agent_id, extension, password, name, skills, auto_ready, team, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.#agentSkills = db.prepare('UPDATE provisioned_agents SET skills = ? WHERE agent_id = ?');
    this.#deleteAgent = db.prepare('DELETE FROM provisioned_agents WHERE agent_id = ?');
    this.#upsertSkills = db.prepare(`INSERT INTO agent_skills (agent_id, skills, seed, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (agent_id) DO UPDATE SET skills = excluded.skills, seed = excluded.seed, updated_at = excluded.updated_at, updated_by = excluded.updated_by`);
    this.#deleteSkills = db.prepare('DELETE FROM agent_skills WHERE agent_id = ?');
  }

  /** Agents added at run time, in the order they were added. */
  agents(): ProvisionedAgent[] {
    return this.#agents.all().map((r) => ({
      id: r.agent_id, extension: r.extension, password: r.password, name: r.name, skills: levels(r.skills), autoReadyOnRegister: r.auto_ready === 1, team: r.team,
    }));
  }

  /** Run-time skill changes of configured agents. */
  overrides(): SkillOverride[] {
    return this.#overrides.all().map((r) => ({ agentId: r.agent_id, skills: levels(r.skills), seed: levels(r.seed) }));
  }

  addAgent(a: ProvisionedAgent, by: string, now: number): Promise<void> {
    return this.#writer.write(() => void this.#insertAgent.run(a.id, a.extension, a.password, a.name, JSON.stringify(a.skills), a.autoReadyOnRegister ? 1 : 0, a.team, now, by));
  }

  /** New skills of an agent added at run time (its row is its whole definition). */
  setAddedSkills(agentId: string, skills: Record<string, number>): Promise<void> {
    return this.#writer.write(() => void this.#agentSkills.run(JSON.stringify(skills), agentId));
  }

  /** New skills of a configured agent, with the file's skills they replace. */
  setOverride(o: SkillOverride, by: string, now: number): Promise<void> {
    return this.#writer.write(() => void this.#upsertSkills.run(o.agentId, JSON.stringify(o.skills), JSON.stringify(o.seed), now, by));
  }

  /** Forget a row the configuration now supersedes (see roster.ts). */
  drop(kind: 'agent' | 'override', agentId: string): Promise<void> {
    return this.#writer.write(() => void (kind === 'agent' ? this.#deleteAgent : this.#deleteSkills).run(agentId));
  }
}

/** A stored skills map; a malformed one (a hand edit) reads as no skills rather than a crash. */
function levels(json: string): Record<string, number> {
  try {
    const v: unknown = JSON.parse(json);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    const out: Record<string, number> = {};
    for (const [k, x] of Object.entries(v)) if (typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= 100) out[k] = x;
    return out;
  } catch {
    return {};
  }
}
