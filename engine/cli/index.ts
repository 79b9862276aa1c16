/**
 * engine/cli — the `onair` command (`main.ts` is the executable). The only door of the folder.
 */
export { run, parseCommand, helpText, version, processIo, EXIT, ENGINE_NODE_FLAGS, hasEngineNodeFlags } from './run.ts';
export type { CliIo, EngineHandle, StartEngine, StopSignal } from './run.ts';
