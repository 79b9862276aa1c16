/**
 * The ACD core, pure: queues, agents, skills, strategies, overflow, callbacks. The only door of
 * `engine/acd`; see docs/acd.md.
 */
export { Acd } from './acd.ts';
export { AcdError } from './types.ts';
export type {
  AcdConfig, AcdEffect, AcdEffectType, AcdErrorCode, AcdSnapshot, AdmissionConfig, AgentConfig, AgentState,
  AgentStatus, AgentView, BuiltinStrategyName, CallbackInput, CallInput, CallKind, CallOutcome, CallState,
  CallView, CancelReason, ExpansionStep, Millis, OverflowReason, QueueConfig, QueueSnapshot, SkillTarget,
  StrategyCandidate, StrategyComparator,
} from './types.ts';
export { builtinStrategies } from './strategy.ts';
export { estimateWait, ewma } from './ewt.ts';
