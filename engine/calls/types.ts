/**
 * What call control needs from the rest of the engine, as narrow interfaces, and the settings it
 * runs on. `engine/engine.ts` builds these from the configuration and the real parts.
 */
import type { Dialog, Endpoint, HeaderField, IncomingInvite, InviteOptions, OutgoingInvite, SipRequest, SipUri } from '../sip/index.ts';
import type { AcdEffect, AgentState, AgentStatus } from '../acd/index.ts';
import type { CallerInfo, CdrOutcome, ReleasedBy } from '../../crm-adapter/index.ts';
import type { LegId, MediaPool } from '../../media/index.ts';

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
  | {
    type: 'collect';
    /** Call variable the digits are kept in. */
    into: string;
    prompts: string[];
    minDigits: number;
    maxDigits: number;
    /** Ends the input early (not kept); null = none. */
    terminator: string | null;
    firstDigitTimeoutMs: number;
    interDigitTimeoutMs: number;
    /** Further attempts after no or an invalid input; then the flow goes on without the variable. */
    retries: number;
    invalidPrompts: string[];
    /** Anchored; null = any digits. */
    pattern: RegExp | null;
  }
  | { type: 'branch'; when: readonly FlowCondition[]; then: MenuAction; else: MenuAction | null }
  | {
    /** Ask the CRM (query.ts): the answer goes into `<into>…` variables and is read out. */
    type: 'query';
    kind: 'orderStatus' | 'orderSms' | 'promotion';
    /** orderStatus, orderSms: the variable holding the order number (a collect step's `into`). */
    orderNumberVar: string | null;
    /** orderStatus, orderSms: the variable holding the caller's verification (e.g. the delivery phone's last digits), or null. */
    verificationVar: string | null;
    into: string;
    timeoutMs: number;
    /** Read the result out (else only the variables are set, for a branch and the agent). */
    readout: boolean;
    notFoundPrompts: string[];
    /** Where a caller with nothing found goes; null = the next step. */
    notFound: MenuAction | null;
    failedPrompts: string[];
    /** Where a caller goes when the CRM did not answer in time or failed (an agent). */
    failed: MenuAction;
  }
  | {
    /**
     * Introduce the CRM's products by menu (products.ts): "for <name> press 1 …", then the picked
     * product's description and price (with the promotion), then 1 = an agent with the product
     * in the `<into>…` variables, 2 = the list again.
     */
    type: 'products';
    /** Most products in the menu (1-9). */
    max: number;
    into: string;
    /** How long the caller waits for the CRM's answer (ms). */
    timeoutMs: number;
    /** Wait for a digit after a menu's prompts (ms). */
    menuTimeoutMs: number;
    /** Further attempts of a menu after a timeout or an invalid digit; then the next step. */
    retries: number;
    invalidPrompts: string[];
    /** Where a caller who picked a product and pressed 1 goes (a queue). */
    agent: MenuAction;
    notFoundPrompts: string[];
    /** Where a caller goes when there is no product to offer; null = the next step. */
    notFound: MenuAction | null;
    failedPrompts: string[];
    /** Where a caller goes when the CRM did not answer in time or failed. */
    failed: MenuAction;
  }
  | { type: 'queue'; queue: string; vipQueue: string | null }
  | { type: 'callback'; queue: string; prompts: string[] }
  | { type: 'hangup'; prompts: string[] }
  | { type: 'goto'; flow: string };

/** A condition of a branch step: on a call variable, or on the local time (office hours, holidays). */
export type FlowCondition =
  | { kind: 'var'; var: string; equals: string | null; matches: RegExp | null; present: boolean | null }
  | { kind: 'hours'; windows: readonly { days: readonly number[]; from: string; to: string }[]; timeZone: string }
  | { kind: 'dates'; dates: readonly string[]; timeZone: string };

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

/** What a queue's callers hear and what happens to those who leave it (config `queues[]`). */
export interface QueueCallSettings {
  /** Prompt looped while waiting (`hold/music`). */
  holdMusic: string;
  /** Announcements say the position in the queue. */
  announcePosition: boolean;
  /** Announcements say the estimated wait (skipped when there is no estimate: nobody staffed). */
  announceWait: boolean;
  /** A caller who hangs up while waiting (or ringing) becomes a callback task. */
  abandonToCallback: boolean;
  /** The digit that accepts the callback offer of admission control (the `callback-offer` prompt says 3). */
  callbackDigit: string;
  /** How long a consulted agent's phone rings before the consultation fails and the caller is back with its agent (ms). */
  consultRingTimeoutMs: number;
}

/**
 * Bounds on what a flood of capacity refusals writes (every refused INVITE still gets its 503).
 * Per trunk, a token bucket: a refusal with a token gets a CDR (and, with a plausible caller
 * number not seen within `dedupeMs`, a callback task); one without is counted by the
 * `call.refusalUnrecorded` event so that reports stay honest.
 */
export interface RefusalSettings {
  /** Tokens added per second per trunk. */
  recordsPerSecond: number;
  /** Bucket size per trunk (refusals recorded at once after a quiet period). */
  burst: number;
  /** A number refused again within this long gets no second callback task (ms). */
  dedupeMs: number;
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
  /** Per queue; a queue missing here gets {@link DEFAULT_QUEUE_CALL_SETTINGS}. */
  queues: Readonly<Record<string, QueueCallSettings>>;
  /** Feature codes agents dial from their phones. */
  featureCodes: Readonly<Record<string, DeskAction>>;
  /** RTP silence after which a call is torn down (0 = never). */
  rtpTimeoutMs: number;
  /** VIP callers (CRM VIP level > 0) get their level as ACD priority; off: everyone is equal. */
  vipPriority: boolean;
  refusals: RefusalSettings;
  /**
   * Media capacity: most callers given media (IVR, hold audio) at once; beyond it the trunk's
   * {@link TrunkAdmission.overload} applies. Null or absent = no limit.
   */
  mediaStreams?: number | null;
}

/** What a caller on a trunk gets at the media capacity (config `trunks[].overload`). */
export interface OverloadPolicy {
  /** Hold in `180 Ringing` without media, or refuse with 503. */
  whenMediaFull: 'ringing' | 'refuse';
  /** Longest hold in ringing (below the carrier's limit on an unanswered call). */
  maxRingingMs: number;
  /** Held at `maxRingingMs` with no stream free: 503 (and a callback task), or media over the capacity. */
  atRingingLimit: 'refuse' | 'media';
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
  /** What a caller gets at the media capacity; absent = the schema's defaults (media-admission.ts). */
  overload?: OverloadPolicy;
}

/** The carrier trunks (engine/trunks). */
export interface TrunkGate {
  /**
   * Admit an INVITE or answer it (403 unknown source, 401/407 challenge, 484 no number) and
   * return undefined.
   */
  admit(invite: IncomingInvite): TrunkAdmission | undefined;
  /**
   * The trunk admission of an INVITE the SIP layer refused for overload before any transaction,
   * answering nothing: undefined unless its trunk trusts the source address alone (no digest)
   * and it has a dialled number (engine/trunks `identifyUnanswered`).
   */
  identifyRefused?(request: SipRequest, source: Endpoint): TrunkAdmission | undefined;
}

/**
 * The part of the SIP user agent call control uses (engine/sip's `UserAgent` is one), so that unit
 * tests can run the real UA over a fake wire.
 */
export interface CallUserAgent {
  invite(options: InviteOptions): OutgoingInvite;
  bye(dialog: Dialog): Promise<unknown>;
  /** A request in a dialog (NOTIFY of a REFER's progress, transfer.ts). */
  sendInDialog(dialog: Dialog, method: string, opts?: { headers?: HeaderField[]; body?: Buffer; contentType?: string }): Promise<unknown>;
}

/** The media commands call control uses (media's `MediaPool` is one). */
export type CallMedia = Pick<MediaPool, 'allocate' | 'setRemote' | 'play' | 'stop' | 'bridge' | 'unbridge' | 'release' | 'legStats' | 'delegate'
  | 'recordStart' | 'recordStop' | 'recordPause' | 'recordResume' | 'conference' | 'leaveConference'>;

/**
 * The port of callback entries (contract D3): call control owns inbound calls, the dialer
 * (engine/dialer) owns the ACD's `kind: 'callback'` entries. Call control runs the one effect loop
 * and hands this port the effects that are the dialer's: an `offer` of a callback entry, and a
 * `cancelOffer` / `ended` for an id call control does not own. Methods must not throw.
 */
export interface CallbackOffers {
  offer(e: Extract<AcdEffect, { type: 'offer' }>): void;
  cancelOffer(e: Extract<AcdEffect, { type: 'cancelOffer' }>): void;
  ended(e: Extract<AcdEffect, { type: 'ended' }>): void;
  /** An available agent became idle: a due task may be loaded for it. */
  agentFree?(agentId: string): void;
  /** An agent answered an inbound caller (live): the number's open task is satisfied. */
  inboundAnswered?(e: { callId: string; caller: string; at: number }): void;
  /** RTP silence on a media leg call control does not own. */
  rtpTimeout?(leg: LegId): void;
  /** A digit on a media leg call control does not own (a dialled customer answering an IVR survey). */
  dtmf?(leg: LegId, digit: string): void;
  /** A playlist ended on a media leg call control does not own. */
  playbackDone?(leg: LegId, playId: number): void;
}

/** What an agent asks for from the phone (feature codes) or the API (contract C2). */
export type DeskAction = 'ready' | 'notReady' | 'logout' | 'login';

/** The answer of the desk: done, or refused with a stable code. */
export type DeskResult = { ok: true } | { ok: false; code: string; message: string };

/** The one place of agent status rules (engine/desk implements it; contract C2). */
export interface AgentDeskPort {
  request(agentId: string, action: DeskAction, origin: 'phone' | 'api'): DeskResult;
}

/** Where an agent's phone can be reached (engine/registrar). */
export interface AgentContact {
  uri: SipUri;
  /** Where the REGISTER came from: INVITEs go there (NAT, connection reuse); with a Path, its first hop. */
  source: Endpoint;
  /** The registration's Path (RFC 3327) as Route header values, in order: the INVITE's Route set. */
  route?: readonly string[];
}

/** Agent phones (engine/registrar). */
export interface AgentDirectory {
  /** Current bindings of an agent, best first. */
  contacts(agentId: string): AgentContact[];
  /** The agent whose extension this is, or undefined. */
  agentByExtension(extension: string): string | undefined;
  /**
   * True when `source` (transport, address, port) is where one of the agent's live registrations
   * came from (contract C3): a feature code is only taken from the agent's own phone.
   */
  isAgentSource(agentId: string, source: Endpoint): boolean;
  /**
   * True when `source` is where some agent's phone registered from (any agent): one look-up that
   * lets a carrier's INVITE pass the phone-consultation check (phone-consult.ts) at once.
   */
  isPhoneSource(source: Endpoint): boolean;
}

/** The CRM look-up (crm-adapter), already wrapped with its cache. */
export interface CallerLookup {
  lookup(number: string, dialled: string, deadlineMs: number, callId: string): Promise<CallerInfo>;
}

/**
 * A consultation's state (consult.ts): `ringing`: B's phone rings; `talking`: A and B talk (the
 * caller on hold); `conference`: the caller, A and B all hear each other; `completed`,
 * `cancelled`: over (B has the caller, or A has).
 */
export type ConsultState = 'ringing' | 'talking' | 'conference' | 'completed' | 'cancelled';

/** Why a call was refused before reaching an agent (`call.rejected`). */
export type RejectReason = 'blacklist' | 'capacity' | 'media' | 'error' | 'queue_full';

/**
 * Events call control publishes to observers (API WebSocket, metrics, logs); contract C1. Every
 * field carries its real value. `at` is epoch ms.
 */
export type CallControlEvent =
  /** A carrier INVITE was admitted by a trunk; `sipCallId` is the carrier's Call-ID. */
  | { type: 'call.arrived'; callId: string; caller: string; dialled: string; trunk: string; sipCallId: string; at: number }
  /**
   * The call was refused. `status`: the final SIP response sent to the INVITE, or 0 when the
   * caller had already been answered (the refusal is a prompt and a BYE: `queue_full`).
   */
  | { type: 'call.rejected'; callId: string; caller: string; trunk: string; queue: string | null; reason: RejectReason; status: number; at: number }
  /** The call entered `queue`; `position` 1-based from the ACD (1 = next). */
  | {
    type: 'call.queued'; callId: string; queue: string; caller: string; dialled: string; programme: string | null;
    airing: string | null; position: number; priority: number; at: number;
    /** `ringing`: held in 180 Ringing without media (the media capacity is reached); else `media`. */
    treatment?: 'media' | 'ringing';
  }
  /** An agent's phone rings; `attempt` is the how-many-th offer of this call (1-based). */
  | {
    type: 'call.offered'; callId: string; queue: string; agentId: string; caller: string; dialled: string;
    programme: string | null; airing: string | null; attempt: number; customer: CallerInfo;
    /** Call variables keyed in the IVR (collect steps), e.g. an order number. */
    variables: Readonly<Record<string, string>>; at: number;
  }
  /**
   * The INVITE of an offer left for the agent's phone. `latencyMs`: from the moment the call and
   * the agent could be matched (the later of the call entering its queue and the agent becoming
   * idle) to that INVITE — the ACD decision, the timer that ran it, and the agent leg's allocation.
   */
  | { type: 'offer.sent'; callId: string; agentId: string; latencyMs: number; at: number }
  | { type: 'call.answered'; callId: string; queue: string; agentId: string; waitMs: number; at: number }
  /**
   * The call's consultation of a second agent (attended transfer, three-way conference; consult.ts)
   * changed: `agentId` consults `consulted`, whose phone rings, who talks to it, who is in a
   * conference with it and the caller, who took the call (`completed`) or left (`cancelled`).
   */
  | { type: 'call.consult'; callId: string; agentId: string; consulted: string; state: ConsultState; at: number }
  | { type: 'call.abandoned'; callId: string; queue: string | null; stage: 'ivr' | 'queue' | 'ringing'; waitMs: number; at: number }
  | {
    type: 'call.ended'; callId: string; agentId: string | null; queue: string | null; trunk: string; outcome: CdrOutcome;
    releasedBy: ReleasedBy; at: number;
  }
  | { type: 'callback.created'; callId: string; callbackId: number; caller: string; queue: string; at: number }
  /**
   * Preview dialing (engine/dialer, docs/dialer.md): a callback task offered to the agent's desktop
   * (`offered`, with the screen pop and when the offer lapses), then how the preview ended.
   */
  | {
    type: 'callback.preview'; state: 'offered' | 'accepted' | 'skipped' | 'rescheduled' | 'withdrawn'; callbackId: number; callId: string;
    agentId: string; queue: string; caller: string; dialled: string; programme: string | null; customer: CallerInfo | null;
    attempt: number; abandons: number; calledAt: number; expiresAt: number | null; at: number;
    /** The campaign of a campaign contact (`callbackId` is then the contact's id), else null. */
    campaignId: string | null;
  }
  | { type: 'agent.state'; agentId: string; state: AgentState; status: AgentStatus; reason: string | null; at: number }
  /**
   * A capacity refusal (503 sent) whose CDR and callback were not written because the trunk's
   * refusal bucket was empty (a flood): count these so refusal reports stay honest.
   */
  | { type: 'call.refusalUnrecorded'; trunk: string; at: number }
  /**
   * A new caller's set-up by stage, once its media leg is allocated (issue 13: where the time to
   * first media goes): `queuedMs` from the transport's parse of the INVITE to call control (the
   * signalling work class), `lookupMs` the CRM look-up and the journal commit (run together, the
   * answer waits for both), `legMs` the media worker's leg allocation. The 183/200 follows at once.
   */
  | { type: 'call.setupStages'; callId: string; queuedMs: number; lookupMs: number; legMs: number }
  /** The caller's first playback was accepted by its media worker (first packet within one 20 ms tick). */
  | { type: 'media.firstPacket'; callId: string; latencyMs: number }
  /** One ACD input processed (routing decision latency). */
  | { type: 'acd.decision'; latencyMs: number };
