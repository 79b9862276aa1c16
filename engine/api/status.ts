/**
 * The status route's side of the agent desk (engine/desk): the API's words (`available`,
 * `not_ready`, `logged_out`) become desk actions, the desk's refusals become 404 / 409 answers.
 * The rule itself (what needs a registered phone, what logging in means) is the desk's alone.
 */
import type { AgentStatus } from '../acd/index.ts';
import type { DeskAction, DeskResult } from '../desk/index.ts';
import type { AgentInfo, StatusChangeResult } from './types.ts';

/** What the status route needs of the desk (`AgentDesk` fits). */
export interface StatusDesk {
  request(agentId: string, action: DeskAction, origin: 'api', reason: string | null): DeskResult;
}

/** The desk action of each status an API client asks for. */
export const DESK_ACTION: Readonly<Record<AgentStatus, DeskAction>> = {
  available: 'ready', notReady: 'notReady', loggedOut: 'logout',
};

/**
 * `ApiDeps.setAgentStatus` over a desk: ask it, then read the agent back. An unknown agent is a
 * 404; any other refusal (no registered phone, the ACD's own) a 409 with the desk's code.
 */
export function deskStatusChange(desk: StatusDesk, agent: (id: string) => AgentInfo | undefined) {
  return (id: string, status: AgentStatus, reason: string | null): StatusChangeResult => {
    const r = desk.request(id, DESK_ACTION[status], 'api', reason);
    if (!r.ok) return { ok: false, refusal: r.code === 'DESK_ERR_UNKNOWN_AGENT' ? 'not_found' : 'conflict', code: r.code, message: r.message };
    const a = agent(id);
    if (a === undefined) return { ok: false, refusal: 'not_found', code: 'DESK_ERR_UNKNOWN_AGENT', message: `no agent ${id}` };
    return { ok: true, agent: a };
  };
}
