/**
 * From call control's events (engine/calls, contract C1) to what the API shows: the CTI events of
 * the WebSocket stream and the counters of `/metrics`. One switch over the typed union, no casts:
 * a field call control adds or renames breaks the build here, not a dashboard.
 *
 * ```
 *  CallController ──observe(CallControlEvent)──▶ CallEventSink ─┬─ metrics (counters, histograms)
 *                                                               └─ publish(CtiEvent) ─▶ EventHub ─▶ clients
 * ```
 */
import type { CallControlEvent } from '../calls/index.ts';
import type { Metrics } from './metrics.ts';
import type { CtiEvent, CtiEventSource, Unsubscribe } from './types.ts';

/**
 * The CTI event of a call-control event, or null for those the stream does not carry (arrivals,
 * rejections, abandons and timings reach clients through the queue figures and `call.ended`).
 */
export function ctiEvent(e: CallControlEvent): CtiEvent | null {
  switch (e.type) {
    case 'call.queued':
      return {
        type: 'call.queued', at: e.at, callId: e.callId, queue: e.queue, caller: e.caller, dialled: e.dialled,
        position: e.position, priority: e.priority,
      };
    case 'call.offered':
      return {
        type: 'call.offered', at: e.at, callId: e.callId, agentId: e.agentId, queue: e.queue, caller: e.caller, dialled: e.dialled,
        programme: e.programme, attempt: e.attempt, customer: e.customer, variables: e.variables,
      };
    case 'call.answered':
      return { type: 'call.answered', at: e.at, callId: e.callId, agentId: e.agentId, queue: e.queue, waitMs: e.waitMs };
    case 'call.consult':
      return { type: 'call.consult', at: e.at, callId: e.callId, agentId: e.agentId, consulted: e.consulted, state: e.state };
    case 'call.ended':
      return {
        type: 'call.ended', at: e.at, callId: e.callId, agentId: e.agentId, queue: e.queue, outcome: e.outcome, releasedBy: e.releasedBy,
      };
    case 'callback.created':
      return { type: 'callback.created', at: e.at, callbackId: e.callbackId, callId: e.callId, caller: e.caller, queue: e.queue };
    case 'callback.preview':
      return {
        type: 'callback.preview', at: e.at, state: e.state, callbackId: e.callbackId, callId: e.callId, agentId: e.agentId, queue: e.queue,
        caller: e.caller, dialled: e.dialled, programme: e.programme, customer: e.customer, attempt: e.attempt, abandons: e.abandons,
        calledAt: e.calledAt, expiresAt: e.expiresAt, campaignId: e.campaignId,
      };
    case 'agent.state':
      return { type: 'agent.state', at: e.at, agentId: e.agentId, status: e.status, state: e.state, reason: e.reason };
    case 'call.arrived':
    case 'call.rejected':
    case 'call.abandoned':
    case 'call.refusalUnrecorded':
    case 'offer.sent':
    case 'media.firstPacket':
    case 'call.setupStages':
    case 'acd.decision':
      return null;
  }
}

/** Count one call-control event in the metrics. */
export function countCallEvent(metrics: Metrics, e: CallControlEvent): void {
  switch (e.type) {
    case 'call.queued':
      metrics.queueEntered(e.queue);
      return;
    case 'call.answered':
      metrics.queueWait(e.queue, 'answered', e.waitMs);
      return;
    case 'call.abandoned':
      // Only a wait in a queue belongs in the queue's wait histogram (an IVR hang-up has none).
      if (e.stage !== 'ivr' && e.queue !== null) metrics.queueWait(e.queue, 'abandoned', e.waitMs);
      return;
    case 'call.rejected':
      if (e.reason === 'queue_full' && e.queue !== null) metrics.queueRejected(e.queue);
      // Refused before call control held a call: no `call.ended` follows, the CDR says rejected_capacity.
      if (e.reason === 'capacity') metrics.callEnded('rejected_capacity', e.trunk);
      return;
    case 'call.ended':
      metrics.callEnded(e.outcome, e.trunk);
      return;
    case 'callback.created':
      metrics.callbackCaptured(e.queue);
      return;
    case 'callback.preview':
      return;
    case 'call.refusalUnrecorded':
      metrics.refusalUnrecorded(e.trunk);
      return;
    case 'offer.sent':
      metrics.offerLatency(e.latencyMs);
      return;
    case 'acd.decision':
      metrics.acdDecision(e.latencyMs);
      return;
    case 'media.firstPacket':
      metrics.firstMedia(e.latencyMs);
      return;
    case 'call.setupStages':
      metrics.setupStages(e.queuedMs, e.lookupMs, e.legMs);
      return;
    case 'call.arrived':
    case 'call.offered':
    case 'call.consult':
    case 'agent.state':
      return;
  }
}

/**
 * The one observer of call control on the API side: counts every event and fans the CTI ones out
 * to subscribers (the API server subscribes once). A throwing subscriber is reported and skipped,
 * never breaking call control or the other subscribers (CONVENTIONS.md 10).
 */
export class CallEventSink implements CtiEventSource {
  private readonly listeners = new Set<(e: CtiEvent) => void>();

  constructor(private readonly metrics: Metrics, private readonly onListenerError: (err: unknown, e: CtiEvent) => void) {}

  /** Observe one call-control event (give this to `CallController` as `observe`). */
  observe(e: CallControlEvent): void {
    countCallEvent(this.metrics, e);
    const cti = ctiEvent(e);
    if (cti !== null) this.publish(cti);
  }

  /** Send a CTI event to every subscriber. */
  publish(e: CtiEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.onListenerError(err, e);
      }
    }
  }

  subscribe(listener: (e: CtiEvent) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }
}
