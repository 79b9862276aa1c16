/**
 * engine/provisioning — run-time provisioning (issue 15, contract C3): skills and agents changed
 * without a restart and kept in the database, the configuration file being the seed. The engine
 * builds one {@link Provisioning}; `provisioning.setSkills(agentId, skills)` is the function
 * h-reports' surge mode calls through its `{ setSkills }` port.
 */
export { Provisioning, PROVISIONING_ERRORS, skillsProblem, type ProvisioningDeps, type ProvisionResult, type ProvisioningErrorCode, type NewAgent, type Actor } from './provisioning.ts';
export { Roster, mergeRoster, sameSkills, ADDED_AGENT_MAX_REGISTRATIONS, type RosterAgent, type Superseded } from './roster.ts';
export { ProvisioningStore, PROVISIONING_MIGRATIONS, type ProvisionedAgent, type SkillOverride } from './store.ts';
