/**
 * What the callback dialer needs from the rest of the engine, as narrow ports (contract D3), and its
 * settings. `engine/engine.ts` builds them from the real parts: the outbound dialer (D1,
 * engine/outbound), the durable task store (D2, engine/store) and the attempt policy (D2,
 * engine/callbacks). Type imports only (CONVENTIONS.md 18).
 */
import type { Dialog } from '../sip/index.ts';
import type { StoreResult } from '../store/index.ts';
import type { CallbackAttemptResult, CallerInfo } from '../../crm-adapter/index.ts';

/** What a dial attempt of the outbound dialer ended with (D1 `DialResult`). */
export type DialResult = 'answered' | 'busy' | 'no_answer' | 'invalid_number' | 'rejected' | 'trunk_error' | 'cancelled';

/** An attempt's result (D2 `AttemptResult`): the dial results plus what the runtime sees itself. */
export type AttemptResult = CallbackAttemptResult;

/** One customer call to place (D1 `DialRequest`). */
export interface DialRequest {
  /** The customer's number as stored; the outbound dialer normalises it. */
  number: string;
  /** Number presented to the customer (the number they called); null = the trunk's caller id. */
  callerId: string | null;
  /** Our SDP offer: the media leg the customer will talk to. */
  sdp: Buffer;
  /** The attempt's call id (X-Onair-Call-ID, logs). */
  callId: string;
  ringTimeoutMs?: number;
}

/** What the outbound dialer reports about one customer call (D1 `DialEvents`). */
export interface DialEvents {
  /** 180/183; `sdp` when the provisional carried one (early media to relay). */
  onProgress?(status: number, sdp: Buffer | null): void;
  /** 2xx: the dialog is established (ACK sent). */
  onAnswered(answer: { dialog: Dialog; sdp: Buffer | null; trunk: string }): void;
  /** Final failure after failover; `status` null for timeout, transport or no trunk free. */
  onFailed(failure: { result: Exclude<DialResult, 'answered'>; status: number | null; trunk: string | null }): void;
  /** The customer hung up after answering. */
  onEnded?(by: 'remote'): void;
}

/** A customer call in progress (D1 `OutboundCall`). */
export interface OutboundCall {
  /** CANCEL while ringing, BYE once answered. Idempotent. */
  hangup(): void;
}

/** The outbound dialer (D1 `OutboundDialer`). Never throws. */
export interface OutboundPort {
  dial(req: DialRequest, events: DialEvents): OutboundCall;
}

/** The fields of a callback task (D2 `CallbackTask`) the dialer reads. */
export interface DialerTask {
  id: number;
  caller: string;
  queue: string;
  status: string;
  /** Arrival of the first call: the task's place in line. */
  arrivedAt: number;
  dialled: string | null;
  programme: string | null;
  customerId: string | null;
  /** Calls of this number the task covers. */
  abandons: number;
  /** Attempts made, this one included once `startAttempt` returned. */
  attempts: number;
  /** When the task is due (epoch ms). */
  nextAttemptAt: number;
  lastResult: AttemptResult | null;
  /** ACD priority; absent = 0. */
  priority?: number;
}

/** One attempt row (D2 `CallbackAttempt`). */
export interface DialerAttempt {
  id: number;
  taskId: number;
  callId: string;
}

/** The durable task store (D2 `CallbackStore`): the part the dialer uses. */
export interface DialerTaskStore {
  /** Open tasks with nextAttemptAt <= now, oldest original arrival first. */
  due(now: number, limit: number, excludeIds?: ReadonlySet<number>): Promise<DialerTask[]>;
  /** open → claimed and a new attempt row, in one transaction; refused when not open. */
  startAttempt(taskId: number, a: { callId: string; agentId: string | null }, now: number): Promise<StoreResult<{ task: DialerTask; attempt: DialerAttempt }>>;
  /** Ends the attempt (a second finish is refused) and applies the policy in the same transaction. */
  finishAttempt(attemptId: number, r: { result: AttemptResult; trunk: string | null; sipStatus: number | null; note?: string }, now: number): Promise<StoreResult<DialerTask>>;
  /** An inbound call of `number` answered by an agent closes its open task as done. */
  satisfiedByInbound(number: string, callId: string, now: number): Promise<unknown>;
}

/** Settings of the dialer. */
export interface DialerSettings {
  /** How often due tasks are loaded (`callbacks.dialing.pollSeconds`). */
  pollMs: number;
  /** Queue for a task whose queue is not configured (any more). */
  defaultQueue: string;
  /** RTP silence after which a leg is torn down (0 = never), as for inbound calls. */
  rtpTimeoutMs: number;
  /** How long the CRM look-up for the screen pop may take before the agent is rung without a name. */
  lookupDeadlineMs: number;
}

/** The CRM look-up for the screen pop (call control's cached one). */
export interface DialerLookup {
  lookup(number: string, dialled: string, deadlineMs: number, callId: string): Promise<CallerInfo>;
}
