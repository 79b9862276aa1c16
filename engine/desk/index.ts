/**
 * engine/desk — the agent desk: the rules of agent status (log in, ready, not ready, log out,
 * phone registered or gone) over the ACD core. The only door of the folder.
 */
export { AgentDesk, DESK_ERRORS } from './desk.ts';
export type { AgentDeskDeps, DeskAcd, DeskAction, DeskErrorCode, DeskOrigin, DeskResult } from './desk.ts';
