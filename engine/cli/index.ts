/**
 * engine/cli — the `onair` command (`main.ts` is the executable). The only door of the folder.
 */
export { run, parseCommand, helpText, version, processIo, EXIT, ENGINE_NODE_FLAGS, ENGINE_ENV, hasEngineNodeFlags, faultPolicy } from './run.ts';
export type { CliIo, EngineHandle, StartEngine, StopSignal, ProcessFaultKind, FaultCounts } from './run.ts';
