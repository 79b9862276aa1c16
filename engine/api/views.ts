/**
 * Pure mapping from engine data to the JSON the API writes: no I/O, no clock (the caller passes
 * what it read), so every view is tested without a server.
 */
import type { AcdSnapshot, AgentStatus, QueueSnapshot } from '../acd/index.ts';
import type { CallPhase as ControlPhase, CallRecord } from '../calls/index.ts';
import { WIRE_AGENT_STATE, WIRE_AGENT_STATUS, type QueueTotals } from './metrics.ts';
import type {
  AgentInfo, AgentJson, CallPhase, CallSummary, CtiEvent, QueueInfo, QueueView, WireAgentState, WireAgentStatus,
} from './types.ts';

/** Agent status from the wire (`not_ready`) to the ACD (`notReady`). */
export const ACD_AGENT_STATUS: Readonly<Record<WireAgentStatus, AgentStatus>> = {
  available: 'available', not_ready: 'notReady', logged_out: 'loggedOut',
};

/** One agent as JSON. */
export function agentJson(a: AgentInfo): AgentJson {
  return {
    id: a.id,
    name: a.name,
    registered: a.registered,
    status: WIRE_AGENT_STATUS[a.status],
    pendingStatus: a.pendingStatus === null ? null : WIRE_AGENT_STATUS[a.pendingStatus],
    reason: a.reason,
    state: WIRE_AGENT_STATE[a.state],
    callId: a.callId,
    skills: a.skills,
    callsHandled: a.callsHandled,
    talkTimeMs: a.talkTimeMs,
  };
}

function zeroStates(): Record<WireAgentState, number> {
  return { idle: 0, reserved: 0, on_call: 0, wrap_up: 0 };
}

function zeroStatuses(): Record<WireAgentStatus, number> {
  return { available: 0, not_ready: 0, logged_out: 0 };
}

/**
 * Queue views: the ACD snapshot joined with the configured skill (to count agents per queue by
 * state and status) and the engine's own tallies. O(queues × agents), per request only.
 */
export function queueViews(
  snapshot: AcdSnapshot,
  queues: readonly QueueInfo[],
  agents: readonly AgentInfo[],
  totals: (queue: string) => QueueTotals,
): QueueView[] {
  const info = new Map(queues.map((q) => [q.id, q]));
  return snapshot.queues.map((q) => queueView(q, info.get(q.queueId), agents, totals(q.queueId)));
}

function queueView(q: QueueSnapshot, info: QueueInfo | undefined, agents: readonly AgentInfo[], t: QueueTotals): QueueView {
  const byState = zeroStates();
  const byStatus = zeroStatuses();
  if (info !== undefined) {
    for (const a of agents) {
      if ((a.skills[info.skill] ?? 0) < info.minLevel) continue;
      byStatus[WIRE_AGENT_STATUS[a.status]]++;
      if (a.status !== 'loggedOut') byState[WIRE_AGENT_STATE[a.state]]++;
    }
  }
  return {
    id: q.queueId,
    skill: info?.skill ?? q.queueId,
    minLevel: info?.minLevel ?? 1,
    waiting: q.waiting,
    callbacksWaiting: q.callbacksWaiting,
    oldestWaitMs: q.oldestWaitMs,
    // JSON has no Infinity: an unstaffed queue has no estimate.
    ewtMs: Number.isFinite(q.ewtMs) ? Math.round(q.ewtMs) : null,
    serviceLevelMs: info?.serviceLevelMs ?? 0,
    serviceLevel: q.serviceLevel,
    handleTimeMs: Math.round(q.handleTimeMs),
    agents: { staffed: q.staffed, idle: q.idle, byState, byStatus },
    totals: {
      offered: t.entered,
      answered: q.answered,
      answeredInServiceLevel: q.answeredInServiceLevel,
      abandoned: q.abandoned,
      rejected: t.rejected,
      callbacks: t.callbacks,
    },
  };
}

/** A CTI event on the wire: the same object, with agent status and state in wire words. */
export type WireCtiEvent =
  | Exclude<CtiEvent, { type: 'agent.state' }>
  | (Omit<Extract<CtiEvent, { type: 'agent.state' }>, 'status' | 'state'> & { status: WireAgentStatus; state: WireAgentState });

/** First message on every event connection. */
export interface HelloMessage {
  type: 'hello';
  at: number;
  /** The agent filter of this connection, or null. */
  agent: string | null;
}

/** A queue's figures changed (sent at most once per update period per queue). */
export interface QueueUpdateMessage {
  type: 'queue.update';
  at: number;
  queue: QueueView;
}

/** Every message a WebSocket event client receives, discriminated by `type`. */
export type EventMessage = HelloMessage | QueueUpdateMessage | WireCtiEvent;

/** Map an engine event to its wire form. */
export function wireEvent(e: CtiEvent): WireCtiEvent {
  if (e.type !== 'agent.state') return e;
  return { ...e, status: WIRE_AGENT_STATUS[e.status], state: WIRE_AGENT_STATE[e.state] };
}

/**
 * The agent an event concerns, or null. A connection filtered on an agent receives the events
 * of that agent and queue updates, never another agent's offers or calls nobody answered yet
 * (they carry customer data the agent has no need to see).
 */
export function eventAgent(e: CtiEvent): string | null {
  switch (e.type) {
    case 'agent.state':
    case 'call.offered':
    case 'call.answered':
    case 'call.consult':
    case 'call.ended':
    case 'callback.preview':
      return e.agentId;
    case 'call.queued':
    case 'callback.created':
    case 'surge':
      return null;
  }
}

/** The API's name for a call-control phase (`ended` calls are not listed; they count as talking's end). */
export const API_CALL_PHASE: Readonly<Record<Exclude<ControlPhase, 'ended'>, CallPhase>> = {
  // Transferred to an external number: the caller is in a conversation (or about to be) all the same.
  setup: 'lookup', ivr: 'ivr', queued: 'queued', offering: 'ringing', talking: 'talking', external: 'talking', closing: 'closing',
};

/** A call in progress as `GET /api/v1/calls` lists it, or null for one that just ended. */
export function callSummary(c: CallRecord): CallSummary | null {
  if (c.phase === 'ended') return null;
  return {
    callId: c.id, phase: API_CALL_PHASE[c.phase], caller: c.caller, dialled: c.dialled, programme: c.route.programme,
    customerId: c.customer.customerId, queue: c.queue, agent: c.agentId, priority: c.priority, arrivedAt: c.arrivedAt,
    queuedAt: c.queuedAt, answeredAt: c.answeredAt,
  };
}

/** Calls in progress by API phase (every phase present), for `onair_calls`. */
export function callsByPhase(calls: readonly CallRecord[]): Record<CallPhase, number> {
  const out: Record<CallPhase, number> = { lookup: 0, ivr: 0, queued: 0, ringing: 0, talking: 0, closing: 0 };
  for (const c of calls) if (c.phase !== 'ended') out[API_CALL_PHASE[c.phase]]++;
  return out;
}
