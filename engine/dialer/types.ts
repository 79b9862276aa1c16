/**
 * What the callback dialer needs from the rest of the engine, as narrow ports (contract D3), and its
 * settings. `engine/engine.ts` builds them from the real parts: the outbound dialer (D1,
 * engine/outbound), the durable task store (D2, engine/store) and the attempt policy (D2,
 * engine/callbacks). Type imports only (CONVENTIONS.md 18).
 */
import type { CallbackAttempt, CallbackStore, CallbackTask, AttemptResult } from '../store/index.ts';
import type { OutboundDialer } from '../outbound/index.ts';
import type { CallerInfo } from '../../crm-adapter/index.ts';

export type { DialEvents, DialRequest, DialResult, OutboundCall } from '../outbound/index.ts';
export type { AttemptResult };

/** A callback task (D2). */
export type DialerTask = CallbackTask;
/** One attempt row (D2). */
export type DialerAttempt = CallbackAttempt;
/** The durable task store (D2): the part the dialer uses. */
export type DialerTaskStore = Pick<CallbackStore, 'due' | 'dueOfAirings' | 'startAttempt' | 'finishAttempt' | 'satisfiedByInbound' | 'reschedule'>;
/** The outbound dialer (D1): the part the dialer uses. Never throws. */
export type OutboundPort = Pick<OutboundDialer, 'dial'>;

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
  /**
   * `progressive`: the agent's phone rings at once; `preview`: the task is offered to the agent's
   * desktop first (a `callback.preview` event; accept / skip / reschedule through {@link CallbackDialer.answerPreview});
   * `predictive`: customers first, paced (engine/callbacks pacing.ts); `ivr`: customers first, no
   * agent: an answered customer runs the campaign's IVR survey (campaigns only).
   */
  mode: 'progressive' | 'preview' | 'predictive' | 'ivr';
  /** Prefix of the ACD ids of this dialer's entries (default `cb:`; each campaign dialer has its own). */
  entryPrefix?: string;
}

/** The agent's answer to a preview (API). */
export type PreviewChoice =
  | { action: 'accept' }
  | { action: 'skip' }
  | { action: 'reschedule'; at: number; note?: string | undefined };

/** What {@link CallbackDialer.answerPreview} did. */
export type PreviewAnswer =
  | { ok: true; taskId: number; agentId: string; action: PreviewChoice['action'] }
  | { ok: false; code: 'not_found' | 'not_yours'; reason: string };

/** The CRM look-up for the screen pop (call control's cached one). */
export interface DialerLookup {
  lookup(number: string, dialled: string, deadlineMs: number, callId: string): Promise<CallerInfo>;
}
