/**
 * The agent desk: the one place that decides what an agent's request (a feature code dialled on
 * the phone, a click on the desktop) or a phone registration does to the agent's status in the
 * ACD (contract C2). Call control and the API ask; the desk applies the rule to the real `Acd` and
 * hands the effects to call control.
 *
 * ```
 *  phone *60/*61/*62/*63 ─▶ calls ─┐
 *  PUT/POST agent status ─▶ api ───┼─▶ AgentDesk.request ─▶ acd.setAgentStatus ─▶ apply(effects)
 *  REGISTER / expiry ─▶ registrar ─┘   onRegistered / onUnregistered
 * ```
 *
 * | input                    | logged out             | logged in (available / not ready) |
 * |--------------------------|------------------------|-----------------------------------|
 * | `login` (phone needed)   | not ready              | unchanged                         |
 * | `ready` (phone needed)   | available              | available                         |
 * | `notReady` (phone needed)| not ready, reason      | not ready, reason                 |
 * | `logout`                 | unchanged              | logged out                        |
 * | phone registered         | available if the agent's `autoReadyOnRegister`, else not ready | unchanged |
 * | phone unregistered       | unchanged              | logged out                        |
 *
 * During a call the ACD keeps a change pending until wrap-up ends (its own rule).
 */
import type { AcdEffect, AcdErrorCode, AgentStatus, AgentView } from '../acd/index.ts';

/** What an agent asks for (the feature codes' and the desktop's words). */
export type DeskAction = 'ready' | 'notReady' | 'logout' | 'login';

/** Where a request came from. */
export type DeskOrigin = 'phone' | 'api';

/** Stable codes of refused desk requests (`DESK_ERR_*`), or the ACD's own code when it refused. */
export type DeskErrorCode = 'DESK_ERR_UNKNOWN_AGENT' | 'DESK_ERR_NOT_REGISTERED' | AcdErrorCode;

/** Every `DESK_ERR_*` code with its meaning (the registry of this layer). */
export const DESK_ERRORS: Readonly<Record<Exclude<DeskErrorCode, AcdErrorCode>, string>> = {
  DESK_ERR_UNKNOWN_AGENT: 'no such agent in the configuration',
  DESK_ERR_NOT_REGISTERED: 'the change needs a registered phone and the agent has none',
};

/** Outcome of a request. */
export type DeskResult = { ok: true } | { ok: false; code: DeskErrorCode; message: string };

/** The part of the ACD core the desk drives (the real `Acd` fits). */
export interface DeskAcd {
  inspectAgent(agentId: string): AgentView | undefined;
  setAgentStatus(agentId: string, status: AgentStatus, reason: string | null, now: number): AcdEffect[];
  /** Optional so that fakes of the status rules alone need not have it. */
  endWrapUp?(agentId: string, now: number): AcdEffect[];
}

/** What the desk needs. */
export interface AgentDeskDeps {
  acd: DeskAcd;
  /** Carry out the ACD's effects (call control's `apply`: offers, events). */
  apply(effects: AcdEffect[]): void;
  /** At least one live registration of the agent's phone (registrar). */
  isRegistered(agentId: string): boolean;
  /** The agent's `autoReadyOnRegister` setting (false for an agent the config does not know). */
  autoReadyOnRegister(agentId: string): boolean;
  /** Epoch ms. Default `Date.now`. */
  now?: () => number;
}

/** One place for agent status rules; see the table above. */
export class AgentDesk {
  private readonly now: () => number;

  constructor(private readonly d: AgentDeskDeps) {
    this.now = d.now ?? Date.now;
  }

  /**
   * An agent's request. `reason` is kept with `notReady` (the phone's code passes none: the
   * desk records `feature-code`). Structurally the `AgentDeskPort` of engine/calls.
   */
  request(agentId: string, action: DeskAction, origin: DeskOrigin, reason: string | null = null): DeskResult {
    const agent = this.d.acd.inspectAgent(agentId);
    if (agent === undefined) return refuse('DESK_ERR_UNKNOWN_AGENT', `no agent ${agentId}`);
    if (action !== 'logout' && !this.d.isRegistered(agentId)) {
      return refuse('DESK_ERR_NOT_REGISTERED', `agent ${agentId} has no registered phone`);
    }
    switch (action) {
      case 'login':
        // Logged in, not ready yet: the agent says `ready` when the headset is on.
        return agent.status === 'loggedOut' ? this.set(agentId, 'notReady', null) : { ok: true };
      case 'ready':
        return this.set(agentId, 'available', null);
      case 'notReady':
        return this.set(agentId, 'notReady', reason ?? (origin === 'phone' ? 'feature-code' : null));
      case 'logout':
        return agent.status === 'loggedOut' && agent.pendingStatus === null ? { ok: true } : this.set(agentId, 'loggedOut', null);
    }
  }

  /**
   * The agent is done with its wrap-up before the queue's time is up (the desktop's "end
   * wrap-up"): the call's CDR leaves now, and the agent is free (a status asked for meanwhile
   * applies). Refused with the ACD's code when the agent is not in wrap-up.
   */
  endWrapUp(agentId: string): DeskResult {
    const agent = this.d.acd.inspectAgent(agentId);
    if (agent === undefined || this.d.acd.endWrapUp === undefined) return refuse('DESK_ERR_UNKNOWN_AGENT', `no agent ${agentId}`);
    const effects = this.d.acd.endWrapUp(agentId, this.now());
    const error = effects.find((e) => e.type === 'error');
    this.d.apply(effects);
    if (error !== undefined && error.type === 'error') return refuse(error.code, error.message);
    return { ok: true };
  }

  /** The agent's phone registered (a new binding): log in; available only with `autoReadyOnRegister`. */
  onRegistered(agentId: string): DeskResult {
    const agent = this.d.acd.inspectAgent(agentId);
    if (agent === undefined) return refuse('DESK_ERR_UNKNOWN_AGENT', `no agent ${agentId}`);
    if (agent.status !== 'loggedOut') return { ok: true };
    return this.set(agentId, this.d.autoReadyOnRegister(agentId) ? 'available' : 'notReady', null);
  }

  /** The agent's last binding is gone (expired, REGISTER with Expires 0): log out. */
  onUnregistered(agentId: string, _reason: string): DeskResult {
    const agent = this.d.acd.inspectAgent(agentId);
    if (agent === undefined) return refuse('DESK_ERR_UNKNOWN_AGENT', `no agent ${agentId}`);
    if (agent.status === 'loggedOut' && agent.pendingStatus === null) return { ok: true };
    return this.set(agentId, 'loggedOut', null);
  }

  private set(agentId: string, status: AgentStatus, reason: string | null): DeskResult {
    const effects = this.d.acd.setAgentStatus(agentId, status, reason, this.now());
    const error = effects.find((e) => e.type === 'error');
    this.d.apply(effects);
    if (error !== undefined && error.type === 'error') return refuse(error.code, error.message);
    return { ok: true };
  }
}

function refuse(code: DeskErrorCode, message: string): DeskResult {
  return { ok: false, code, message };
}
