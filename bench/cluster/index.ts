/**
 * The cluster simulation of `npm run bench -- cluster-sim` (docs/scaling.md): N active nodes, each
 * running the engine's ACD core on its partition of the queues, agents shared by partitions kept
 * from double offers by one owner per agent or by a reservation row in PostgreSQL.
 */
export { simulate, prepare, talkMeanFor, Workload, defaults, DESIGNS } from './sim.ts';
export type { AgentEvent, Arrival, Design, SimOptions, SimResult } from './sim.ts';
export { buildCenter, fnv1a } from './center.ts';
export type { Center, CenterOptions, Partition } from './center.ts';
export { EventQueue } from './events.ts';
export type { EventKind, SimEvent } from './events.ts';
export { DB_LATENCY } from './db.ts';
