/**
 * What call control needs from the rest of the engine, as narrow interfaces, and the settings it
 * runs on. `engine/engine.ts` builds these from the configuration and the real parts.
 */
import type { Endpoint, IncomingInvite, SipUri } from '../sip/index.ts';
import type { CallerInfo, CdrOutcome, ReleasedBy } from '../../crm-adapter/index.ts';
import type { AgentState, AgentStatus } from '../acd/index.ts';

/** An IVR step. Prompts are names in the prompt set without the language (`welcome`, `menu`). */
export type FlowStep =
  | { type: 'play'; prompts: string[] }
  | {
    type: 'menu';
    prompts: string[];
    /** Digit → what it does. */
    options: Record<string, MenuAction>;
    timeoutMs: number;
    /** Further attempts after a timeout or an invalid digit; then the flow goes on with the next step. */
    retries: number;
    invalidPrompts: string[];
  }
  | { type: 'queue'; queue: string; vipQueue: string | null }
  | { type: 'callback'; queue: string; prompts: string[] }
  | { type: 'hangup'; prompts: string[] }
  | { type: 'goto'; flow: string };

/** The action of a menu choice. */
export type MenuAction =
  | { type: 'queue'; queue: string; vipQueue: string | null }
  | { type: 'callback'; queue: string; prompts: string[] }
  | { type: 'flow'; flow: string }
  | { type: 'hangup' };

/** An IVR flow: steps run in order until one of them ends the IVR (queue, callback, hangup). */
export interface Flow {
  id: string;
  steps: FlowStep[];
}

/** What a dialled number leads to. */
export interface NumberRoute {
  flow: string;
  /** The TV programme this number is shown in (attribution). */
  programme: string | null;
  airing: string | null;
}

/** Settings of call control. */
export interface CallsSettings {
  /** Most calls in progress; above it a new INVITE gets 503 with Retry-After. */
  maxCalls: number;
  retryAfterSeconds: number;
  flows: Readonly<Record<string, Flow>>;
  numbers: Readonly<Record<string, NumberRoute>>;
  /** Route for a dialled number not in `numbers`. */
  defaultRoute: NumberRoute;
  /** Queue of a callback task when the caller left before choosing one. */
  defaultCallbackQueue: string;
  /** Prompt language when the CRM does not say: `en` or `zh`. */
  language: 'en' | 'zh';
  /** How long a CRM look-up may take before the call goes on as an unknown caller. */
  lookupDeadlineMs: number;
  /** Blacklisted callers: rejected with 603 or 486 before any media, or let through and flagged. */
  blacklistAction: 'reject-603' | 'reject-486' | 'announce';
  /** Wrap-up per queue (for the CDR's wrap-up end), ms. */
  wrapUpMs: Readonly<Record<string, number>>;
  /** Feature codes agents dial from their phones. */
  featureCodes: Readonly<Record<string, 'ready' | 'notReady' | 'logout' | 'login'>>;
  /** RTP silence after which a call is torn down (0 = never). */
  rtpTimeoutMs: number;
  /** VIP callers (CRM VIP level > 0) get their level as ACD priority; off: everyone is equal. */
  vipPriority: boolean;
}

/** A carrier call admitted by a trunk. */
export interface TrunkAdmission {
  trunkId: string;
  caller: string;
  dialled: string;
  /** Queue with 183 early media instead of answering at once. */
  earlyMedia: boolean;
  /** With early media: answer anyway after this long (carriers cut early media after a limit). */
  answerAfterMs: number;
  inbandDtmf: boolean;
  codecs: ('PCMU' | 'PCMA')[];
}

/** The carrier trunks (engine/trunks). */
export interface TrunkGate {
  /**
   * Admit an INVITE or answer it (403 unknown source, 401/407 challenge, 484 no number) and
   * return undefined.
   */
  admit(invite: IncomingInvite): TrunkAdmission | undefined;
}

/** Where an agent's phone can be reached (engine/registrar). */
export interface AgentContact {
  uri: SipUri;
  /** Where the REGISTER came from: INVITEs go there (NAT, connection reuse). */
  source: Endpoint;
}

/** Agent phones (engine/registrar). */
export interface AgentDirectory {
  /** Current bindings of an agent, best first. */
  contacts(agentId: string): AgentContact[];
  /** The agent whose extension this is, or undefined. */
  agentByExtension(extension: string): string | undefined;
}

/** The CRM look-up (crm-adapter), already wrapped with its cache. */
export interface CallerLookup {
  lookup(number: string, dialled: string, deadlineMs: number, callId: string): Promise<CallerInfo>;
}

/** Events call control publishes to observers (API WebSocket, metrics, logs). Every field carries its real value. */
export type CallControlEvent =
  | { type: 'call.arrived'; callId: string; caller: string; dialled: string; trunk: string; sipCallId: string; at: number }
  | {
    type: 'call.rejected'; callId: string; caller: string; trunk: string; queue: string | null;
    reason: 'blacklist' | 'capacity' | 'media' | 'error' | 'queue_full'; status: number; at: number;
  }
  | {
    type: 'call.queued'; callId: string; queue: string; caller: string; dialled: string; programme: string | null; airing: string | null;
    /** 1-based, from the ACD. */
    position: number; priority: number; at: number;
  }
  | {
    type: 'call.offered'; callId: string; queue: string; agentId: string; caller: string; dialled: string; programme: string | null;
    airing: string | null;
    /** 1-based: the how-many-th offer of this call. */
    attempt: number; customer: CallerInfo; at: number;
  }
  /**
   * The INVITE of an offer left for the agent's phone. `latencyMs`: from the moment the call and
   * the agent could be matched (the later of the call entering its queue and the agent becoming
   * idle) to that INVITE — the ACD decision, the timer that ran it, and the agent leg's allocation.
   */
  | { type: 'offer.sent'; callId: string; agentId: string; latencyMs: number; at: number }
  | { type: 'call.answered'; callId: string; queue: string; agentId: string; waitMs: number; at: number }
  | { type: 'call.abandoned'; callId: string; queue: string | null; stage: 'ivr' | 'queue' | 'ringing'; waitMs: number; at: number }
  | {
    type: 'call.ended'; callId: string; agentId: string | null; queue: string | null; trunk: string; outcome: CdrOutcome;
    releasedBy: ReleasedBy; at: number;
  }
  | { type: 'callback.created'; callId: string; callbackId: number; caller: string; queue: string; at: number }
  | { type: 'agent.state'; agentId: string; state: AgentState; status: AgentStatus; reason: string | null; at: number }
  /**
   * A capacity refusal (503 sent) whose CDR and callback were not written because the trunk's
   * refusal bucket was empty (a flood): count these so refusal reports stay honest.
   */
  | { type: 'call.refusalUnrecorded'; trunk: string; at: number }
  /** The caller's first playback was accepted by its media worker (first packet within one 20 ms tick). */
  | { type: 'media.firstPacket'; callId: string; latencyMs: number }
  /** One ACD input processed (routing decision latency). */
  | { type: 'acd.decision'; latencyMs: number };
