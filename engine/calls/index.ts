/** Call control: the B2BUA joining carrier calls, the IVR, the ACD and agents' phones. */
export { CallController } from './controller.ts';
export type { CallControllerDeps, CallMediaStats, CallPhase, CallRecord } from './controller.ts';
export type {
  AgentContact, AgentDirectory, CallControlEvent, CallerLookup, CallsSettings, Flow, FlowStep, MenuAction, NumberRoute,
  TrunkAdmission, TrunkGate,
} from './types.ts';
