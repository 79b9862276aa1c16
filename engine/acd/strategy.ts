/**
 * Routing strategies as comparators over idle agents. Idle agents of a pool sit in a heap ordered by
 * the pool's comparator, so picking the best agent is a peek, not a scan. A comparator may only read
 * {@link StrategyCandidate} fields, which stay constant while the agent is idle.
 */
import type { BuiltinStrategyName, StrategyCandidate, StrategyComparator } from './types.ts';

const byIdle = (a: StrategyCandidate, b: StrategyCandidate): number => a.agent.idleSince - b.agent.idleSince;

/**
 * Built-in strategies. Each falls back to longest idle; the heap breaks remaining ties by roster order.
 *
 * - `longestIdle`: the agent idle the longest.
 * - `leastCalls`: fewest calls handled since login of the core.
 * - `leastTalkTime`: least total talk time.
 * - `skillLevel`: highest level in the pool's skill, then longest idle.
 * - `roundRobin`: the agent offered least recently (never-offered first), which walks the idle agents
 *   in turn without a cursor that would have to survive agents joining and leaving.
 */
export const builtinStrategies: Readonly<Record<BuiltinStrategyName, StrategyComparator>> = {
  longestIdle: byIdle,
  leastCalls: (a, b) => a.agent.callsHandled - b.agent.callsHandled || byIdle(a, b),
  leastTalkTime: (a, b) => a.agent.talkTimeMs - b.agent.talkTimeMs || byIdle(a, b),
  skillLevel: (a, b) => b.level - a.level || byIdle(a, b),
  roundRobin: (a, b) => a.agent.lastOfferSeq - b.agent.lastOfferSeq || byIdle(a, b),
};

/** True for the names of {@link builtinStrategies}. */
export function isBuiltinStrategy(name: string): name is BuiltinStrategyName {
  return Object.prototype.hasOwnProperty.call(builtinStrategies, name);
}
