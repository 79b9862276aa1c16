/**
 * The CRM adapter contract, version 1: what a TV-shopping company implements so that onair can
 * look up its callers and hand it call events and call records (CDRs).
 *
 * ```
 *            lookupCaller (deadline, on the call's path)
 *   engine ─────────────────────────────────────────────▶ CrmAdapter ──▶ the company's CRM
 *      │                                                     ▲
 *      │ append (one SQLite transaction)                     │ callEvent / deliverCdr
 *      ▼                                                     │ (at least once, in order per call)
 *   outbox table ──▶ OutboxDispatcher (retries, backoff) ────┘
 * ```
 *
 * Rules every adapter follows:
 * - `lookupCaller` must answer within `ctx.deadlineMs`; the engine does not wait longer and
 *   treats a late, failed or rejected look-up as an unknown caller (see {@link unknownCaller}).
 *   A call is never blocked by the CRM.
 * - `callEvent` and `deliverCdr` are called from the durable outbox. They may throw or reject:
 *   the outbox retries with exponential backoff and, after the configured number of attempts,
 *   keeps the item as a dead letter. Throw a {@link CrmDeliveryError} with `permanent: true` to
 *   dead-letter at once (a payload the CRM will never accept).
 * - Delivery is at least once: the same item can arrive twice (after a crash or a timeout that
 *   hid a success). {@link DeliveryInfo.deliveryId} is stable across retries: use it to deduplicate.
 * - Items of one call arrive in the order the engine produced them, one at a time; items of
 *   different calls may be delivered concurrently.
 *
 * Timestamps are milliseconds since the Unix epoch (UTC) throughout, as JSON numbers.
 */

/** The version of this contract. An adapter declares the version it was written against. */
export const CONTRACT_VERSION = 1;
/** Type of {@link CONTRACT_VERSION}. */
export type ContractVersion = typeof CONTRACT_VERSION;

/** Context of a caller look-up. */
export interface LookupContext {
  /** The dialled number (Request-URI user part) the call came in on. */
  dialled: string;
  /**
   * Time budget in milliseconds from the moment `lookupCaller` is called. After it the engine
   * goes on with an unknown caller and ignores the answer.
   */
  deadlineMs: number;
  /** Aborted when the budget runs out; pass it to `fetch` or your driver to stop the work. */
  signal: AbortSignal;
  /** The engine's call id (for the CRM's logs). */
  callId: string;
}

/** What the CRM knows about a caller. Every field is always present (stable object shape). */
export interface CallerInfo {
  /** False when the CRM does not know the number: every other field then has its default. */
  known: boolean;
  /** The CRM's customer id, or null. */
  customerId: string | null;
  /** Display name for the agent's screen, or null. */
  name: string | null;
  /** 0 = not a VIP; higher levels are served first (the ACD maps the level to a priority). */
  vipLevel: number;
  /** Reject the call before any media (the engine answers 603 or 486, configurable). */
  blacklisted: boolean;
  /** How many times the number was flagged (for the agent's screen and the CRM's own policy). */
  strikes: number;
  /** Agent id (extension) the caller should reach if that agent is free, or null. */
  preferredAgent: string | null;
  /** BCP 47 language tag for prompts and skills-based routing (`de`, `fr-CH`), or null. */
  language: string | null;
  /** The customer's credit is low: the agent sees a warning, routing may differ. */
  lowCredit: boolean;
  /** Free-form fields shown to the agent with the offer (screen pop). */
  screenPop: Record<string, string>;
}

/** The answer for a number the CRM does not know, or when the look-up failed or was late. */
export function unknownCaller(): CallerInfo {
  return {
    known: false, customerId: null, name: null, vipLevel: 0, blacklisted: false, strikes: 0,
    preferredAgent: null, language: null, lowCredit: false, screenPop: {},
  };
}

/** Names of the call events, in the order they usually happen. */
export type CallEventType =
  | 'queued' | 'offered' | 'answered' | 'abandoned' | 'ended' | 'callback_created'
  /** The dialer's (outbound) events: an adapter written before them may ignore unknown types. */
  | 'callback_attempt' | 'callback_completed'
  /** An outbound campaign's contact closed, with the agent's disposition (issue 14). */
  | 'campaign_result';

/** Fields every call event carries. */
export interface CallEventBase {
  type: CallEventType;
  callId: string;
  /** When it happened (epoch ms). */
  at: number;
  /** Caller number (from P-Asserted-Identity or From). */
  caller: string;
  /** Dialled number. */
  dialled: string;
  /** The CRM's customer id when the look-up found one. */
  customerId: string | null;
  /** Queue the call is in or was last in, or null before queueing. */
  queue: string | null;
}

/** The caller entered a queue. */
export interface QueuedEvent extends CallEventBase {
  type: 'queued';
  queue: string;
  /** 1-based position at entry. */
  position: number;
  /** Priority the ACD used (VIP level mapped), 0 = normal. */
  priority: number;
  /**
   * `ringing` when the caller waits in `180 Ringing` without media (the media capacity was
   * reached; docs/operations.md, Overload), else `media`. Optional: absent in earlier records.
   */
  treatment?: Exclude<CallTreatment, 'refused'>;
}

/** The call is ringing an agent's phone. A call can be offered several times (ring-no-answer). */
export interface OfferedEvent extends CallEventBase {
  type: 'offered';
  queue: string;
  agent: string;
  /** 1 for the first offer of this call, 2 after one ring-no-answer, ... */
  attempt: number;
}

/** The agent answered: caller and agent are talking. */
export interface AnsweredEvent extends CallEventBase {
  type: 'answered';
  queue: string;
  agent: string;
  /** Milliseconds from arrival to answer. */
  waitMs: number;
}

/** Where a caller was when they hung up before reaching an agent. */
export type AbandonStage = 'ivr' | 'queue' | 'ringing';

/** The caller hung up before reaching an agent. */
export interface AbandonedEvent extends CallEventBase {
  type: 'abandoned';
  stage: AbandonStage;
  /** Milliseconds from arrival to hang-up. */
  waitMs: number;
}

/** Who released a call. */
export type ReleasedBy = 'caller' | 'agent' | 'system';

/** The call is over (both legs released). Follows `answered`, `abandoned` or a rejection. */
export interface EndedEvent extends CallEventBase {
  type: 'ended';
  agent: string | null;
  releasedBy: ReleasedBy;
}

/** A callback task was created or an open one was updated for this caller. */
export interface CallbackCreatedEvent extends CallEventBase {
  type: 'callback_created';
  callbackId: number;
  /** Arrival of the first abandoned call of this task (kept when the caller abandons again). */
  firstArrivalAt: number;
  /** How many calls of this number the task covers (1 for a new task). */
  abandons: number;
}

/**
 * What a callback attempt ended with: the outbound dial results (`answered` = the customer was
 * reached and talked to the agent; `busy`, `no_answer`, `invalid_number`, `rejected`, `trunk_error`,
 * `cancelled`) and what the engine sees itself (`agent_no_answer`: the agent's phone was not
 * answered, the customer was not dialled; `interrupted`: the engine stopped during the attempt;
 * `failed`: the engine could not run it).
 */
export type CallbackAttemptResult =
  | 'answered' | 'busy' | 'no_answer' | 'invalid_number' | 'rejected' | 'trunk_error' | 'cancelled'
  | 'agent_no_answer' | 'skipped' | 'interrupted' | 'failed';

/**
 * One attempt of a callback task, sent twice: when it starts (`result` null, the agent's phone is
 * about to ring) and when it ends (`result` set). `callId` is the attempt's own call id (the lane of
 * its events and outbound CDR); `caller` is the customer's number.
 */
export interface CallbackAttemptEvent extends CallEventBase {
  type: 'callback_attempt';
  callbackId: number;
  /** 1 for the first attempt of the task. */
  attempt: number;
  agent: string | null;
  result: CallbackAttemptResult | null;
  /** Outbound trunk the customer was dialled through, or null (not dialled, no trunk free). */
  trunk: string | null;
  /** Final SIP status of the customer's INVITE, or null (answered, timeout, not dialled). */
  sipStatus: number | null;
}

/** Final states of a callback task. */
export type CallbackFinalStatus = 'done' | 'exhausted' | 'cancelled' | 'expired';

/** A callback task is closed: reached (`done`), out of attempts, cancelled (e.g. do-not-call) or expired. */
export interface CallbackCompletedEvent extends CallEventBase {
  type: 'callback_completed';
  callbackId: number;
  status: CallbackFinalStatus;
  /** Attempts made in all. */
  attempts: number;
  /** Result of the last attempt, or null when none was made. */
  lastResult: CallbackAttemptResult | null;
}

/**
 * One contact of an outbound campaign has its result: the agent recorded a disposition (result
 * code + note, the C1 shape) after talking to the customer, or the contact closed unreached
 * (`status` exhausted / cancelled / expired, `disposition` null). `callId` is the contact's last
 * attempt; `fields` the contact's custom fields from the import.
 */
export interface CampaignResultEvent extends CallEventBase {
  type: 'campaign_result';
  campaignId: string;
  contactId: number;
  status: CallbackFinalStatus;
  attempts: number;
  lastResult: CallbackAttemptResult | null;
  /** The agent who talked to the customer (and recorded the disposition), or null. */
  agent: string | null;
  disposition: { code: string; note: string | null } | null;
  fields: Record<string, string>;
  /**
   * An IVR survey's answers (campaign mode `ivr`): question (the survey's collect variable) →
   * digits keyed, or null when asked and not answered; null (or absent, before contract 1.x
   * producers) when the contact was not surveyed.
   */
  answers?: Record<string, string | null> | null;
}

/** Every call event, discriminated by `type`. */
export type CallEvent =
  | QueuedEvent | OfferedEvent | AnsweredEvent | AbandonedEvent | EndedEvent | CallbackCreatedEvent
  | CallbackAttemptEvent | CallbackCompletedEvent | CampaignResultEvent;

/**
 * How a call ended:
 * - `answered` — an agent talked to the caller;
 * - `abandoned_queue` — the caller hung up while queued or while an agent's phone rang;
 * - `abandoned_ivr` — the caller hung up in the IVR, before any queue;
 * - `completed_ivr` — the IVR ended the call as its flow says (an announcement, closed hours: a
 *   hangup step or action, the end of the flow), or the caller hung up after a self-service answer
 *   was read out to the end; the caller did not give up: not an abandon, and no callback;
 * - `rejected_blacklist` — rejected before media because the CRM blacklisted the number;
 * - `rejected_capacity` — rejected with 503 because the engine was over capacity;
 * - `callback_requested` — the caller chose a callback in the IVR;
 * - `released_max_wait` — the queue released the caller at its maximum wait (`maxWaitMs` with no
 *   `maxWaitQueueId`); the caller did not give up, so this is not an abandon (a callback task keeps
 *   the number);
 * - `failed` — the engine could not complete the call (error, or a restart after a crash).
 */
export type CdrOutcome =
  | 'answered' | 'abandoned_queue' | 'abandoned_ivr' | 'completed_ivr' | 'rejected_blacklist' | 'rejected_capacity'
  | 'callback_requested' | 'released_max_wait' | 'failed';

/**
 * The final call record. Timestamps that did not happen are null. Durations are derived:
 * `waitMs = (answeredAt ?? endedAt) - arrivedAt`, `talkMs = answeredAt ? endedAt - answeredAt : 0`,
 * `wrapUpMs = wrapUpEndAt ? wrapUpEndAt - endedAt : 0`.
 */
export interface Cdr {
  contractVersion: ContractVersion;
  callId: string;
  /**
   * The carrier's SIP Call-ID of the inbound INVITE (to match this record with the carrier's own
   * records and with the engine's log lines), or null for a record not made from an INVITE (crash
   * recovery). Optional so that records and adapters written before the field stay valid under
   * contract version 1; the engine always sets it.
   */
  sipCallId?: string | null;
  caller: string;
  dialled: string;
  /** TV programme the dialled number belongs to, or null. */
  programme: string | null;
  /** The airing (broadcast slot) of the programme, or null. */
  airing: string | null;
  /** Last queue, or null when the call never reached one. */
  queue: string | null;
  /** Agent who answered, or null. */
  agent: string | null;
  customerId: string | null;
  outcome: CdrOutcome;
  arrivedAt: number;
  ivrExitAt: number | null;
  queuedAt: number | null;
  /** First offer to an agent. */
  offeredAt: number | null;
  answeredAt: number | null;
  endedAt: number;
  /**
   * End of the agent's wrap-up, as it happened (the ACD ended it: timer, or the agent logged out),
   * or null without wrap-up. The CDR of an answered call is written when the wrap-up ends, so this
   * is measured, never planned (docs/crm-adapter.md).
   */
  wrapUpEndAt: number | null;
  waitMs: number;
  talkMs: number;
  wrapUpMs: number;
  /** How many times the call was offered to agents. */
  offers: number;
  releasedBy: ReleasedBy;
  /** The callback task this call created or joined (outbound: the task it dialled for), or null. */
  callbackId: number | null;
  /**
   * `inbound` (a carrier call) or `outbound` (one callback attempt: `caller` is the customer's
   * number, `dialled` the number presented to them). Optional, like the fields below, so that
   * records and adapters written before the dialer stay valid under contract version 1; the engine
   * always sets `direction`, and the other three on outbound records.
   */
  direction?: 'inbound' | 'outbound';
  /** Outbound: 1 for the first attempt of the task. */
  attempt?: number | null;
  /**
   * Inbound: what the caller got on arrival (issue 13, contract C2): `media` = media (183/200 with
   * SDP) at once; `ringing` = held in `180 Ringing` without media for `ringingMs` (the media
   * capacity was reached) before media, an agent, a hang-up or a refusal at the ringing limit;
   * `refused` = 503 with Retry-After (signalling or media capacity, media failure), kept as a
   * callback task. Optional like `direction`; the engine always sets both on inbound records.
   */
  treatment?: CallTreatment;
  /** Inbound: how long the caller was held in ringing without media (0 unless `treatment` is `ringing`). */
  ringingMs?: number;
  /** Outbound: the trunk the customer was dialled through, or null. */
  trunk?: string | null;
  /** Outbound: what the attempt ended with (`outcome` is `answered` when it is `answered`, else `failed`). */
  dialResult?: CallbackAttemptResult | null;
  /**
   * Inbound: what the caller keyed in the IVR's collect steps (an order number, a product code),
   * by the flow's variable names; `{}` when nothing was keyed. Always set on inbound records.
   */
  variables?: Record<string, string>;
  /**
   * The wrap-up code the agent chose for the call (config `desktop.wrapUpCodes`) and its note, or
   * null when none was chosen before the record left (issue 15, contract C1). Optional so that v1
   * adapters stay valid; the engine sets it on every answered inbound record it writes.
   */
  disposition?: { code: string; note: string | null } | null;
  /**
   * Outbound campaign records (issue 14, contract C1): the campaign an outbound record dialled
   * for (`callbackId` is then null), null or absent otherwise.
   */
  campaignId?: string | null;
  /**
   * Inbound, answered (issue 16, contract C1): the call's recording, or null when it was not
   * recorded (policy never, on demand never started, a share that did not pick it). `path` is the
   * WAV file, `durationMs` its length (pauses included, as silence), `pausedMs` the paused time.
   */
  recording?: CdrRecording | null;
  /** Inbound, answered (issue 16, contract C1): supervisors who monitored the call, in start order. */
  monitoring?: CdrMonitoring[];
  /** Inbound (h-xfer, C1): milliseconds the caller spent on hold by an agent (phone re-INVITE or the API). */
  holdMs?: number;
  /** Inbound (h-xfer, C1): how many times the call was transferred (blind REFER to a queue...). */
  transfers?: number;
  /** Inbound (h-xfer, C1): who the caller talked to, oldest first; one entry per answered leg. */
  legs?: CdrLeg[];
  /**
   * The prompts the caller (outbound: the customer) was played, in order (`zh/enter-order`,
   * `zh/numbers/2`, a readout of a `query` step, `hold/music`, the predictive dialer's please-hold
   * `en/all-agents-busy`), at most {@link CDR_PLAYED_MAX}: what the caller heard when they say they
   * were told something (a looping hold playlist counts once). Optional: v1 adapters ignore it.
   */
  played?: string[];
}

/** Most entries of {@link Cdr.played}; the first ones are kept. */
export const CDR_PLAYED_MAX = 200;

/** The recording of a call ({@link Cdr.recording}). */
export interface CdrRecording {
  path: string;
  durationMs: number;
  pausedMs: number;
}

/** One supervisor's monitoring of a call ({@link Cdr.monitoring}). */
export interface CdrMonitoring {
  /** The supervisor's extension (or the outbound number dialled). */
  supervisor: string;
  mode: 'listen' | 'whisper' | 'barge';
  startedAt: number;
  endedAt: number;
}

/**
 * One party the caller was bridged to during an inbound call (contract C1): an agent, an external
 * number reached through an outbound trunk, a consultation leg (the call's agent with a second
 * agent, the caller held), or a conference leg (caller, the call's agent and the consulted agent
 * `agent` all hearing each other). `endedBy` says why the leg ended: the caller was passed on
 * (`transfer`; a consultation that became a conference too), someone hung up (`hangup`), or it failed.
 */
export interface CdrLeg {
  kind: 'agent' | 'external' | 'consult' | 'conference';
  agent: string | null;
  number: string | null;
  queue: string | null;
  startedAt: number;
  endedAt: number | null;
  endedBy: 'transfer' | 'hangup' | 'failed';
}

/** What an inbound caller got on arrival ({@link Cdr.treatment}). */
export type CallTreatment = 'media' | 'ringing' | 'refused';

/** Delivery metadata passed with each outbox delivery. */
export interface DeliveryInfo {
  /** Unique per outbox item and stable across retries: the idempotency key. */
  deliveryId: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/**
 * What the IVR asks the CRM for self-service (a flow's `query` step): an order's status by its
 * number, the order's status sent to the customer by SMS, or the promotion on offer now for the
 * dialled number's programme/airing; and for a flow's `products` step, the products to introduce. The answer is read out to the caller from
 * prompts, so it is typed: a fixed set of kinds and words. The only text from the CRM that is
 * spoken is a product's name and description (`products`), through the run-time prompts
 * (media/prompts/README.md, Run-time prompts), which clean and cap it.
 */
export type QueryKind = 'orderStatus' | 'orderSms' | 'promotion' | 'products';

/** Fields of every query (the call it comes from). */
export interface QueryContextBase {
  /** The caller's number (P-Asserted-Identity or From): the privacy rule of order status keys on it. */
  caller: string;
  /** The dialled number. */
  dialled: string;
  /** The programme and airing of the dialled number (attribution), or null. */
  programme: string | null;
  airing: string | null;
  /** The customer the look-up found for the caller, or null. */
  customerId: string | null;
  /** Time budget in ms from the call of `query`; after it the caller goes to the step's fallback. */
  deadlineMs: number;
  /** Aborted when the budget runs out. */
  signal: AbortSignal;
  callId: string;
}

/** A query: {@link QueryContextBase} and what is asked. */
export type QueryRequest = QueryContextBase & (
  /**
   * The status of an order by the number the caller keyed. `verification`: what the caller keyed
   * to prove the order is theirs when they call from another number (the flow's choice, e.g. the
   * last four digits of the delivery phone), or null. An adapter must not tell an order's status
   * to a caller it cannot tie to the order: it answers `notFound` (the same as for an unknown
   * number, so that order numbers cannot be probed).
   */
  | { kind: 'orderStatus'; orderNumber: string; verification: string | null }
  /**
   * Send the order's current status to the customer by SMS (the caller pressed "1 to receive this
   * by SMS" after the readout), under the same rule as `orderStatus`: only for an order the caller
   * may hear, and only to a number that belongs to the order (the shop: its delivery phone), never
   * to the number that happens to be calling. The answer says the message is queued, not that it
   * has arrived.
   */
  | { kind: 'orderSms'; orderNumber: string; verification: string | null }
  /** The promotion on offer now for `programme` / `airing`. */
  | { kind: 'promotion' }
  /**
   * Up to `limit` (at most {@link QUERY_PRODUCTS_MAX}) products to introduce to a caller of
   * `programme` / `airing`, in the order they are offered, with name and description in
   * `language` (`en`, `zh`).
   */
  | { kind: 'products'; language: string; limit: number }
);

/** Most products of one `products` answer: one menu digit each (1-9). */
export const QUERY_PRODUCTS_MAX = 9;

/**
 * One product of a `products` answer. `name` and `description` are spoken by the run-time
 * prompts (a recorded `products/<sku>` prompt is said for the name when the prompt set has it);
 * `offerPriceFen` is the promotion's price now (null = none), `gift` the SKU given with it.
 */
export interface QueryProduct {
  sku: string;
  name: string;
  description: string;
  priceFen: number;
  offerPriceFen: number | null;
  gift: string | null;
  giftName: string | null;
}

/** Order statuses a readout can say (one prompt each, `order-status/<status>`). */
export const QUERY_ORDER_STATUSES = ['ordered', 'reviewed', 'shipped', 'delivered', 'settled', 'refused', 'returned', 'exchanged', 'cancelled'] as const;
/** One of {@link QUERY_ORDER_STATUSES}. */
export type QueryOrderStatus = (typeof QUERY_ORDER_STATUSES)[number];

/**
 * The answer of a query. Amounts are integer fen (1/100 yuan). `product` and `gift` are product
 * ids (SKUs) the prompt set may have a name prompt for (`products/<sku in lower case>`); courier and
 * waybill go to the call's variables (the agent sees them after a transfer), not into the readout.
 */
export type QueryResult =
  | {
    kind: 'orderStatus'; orderNumber: string; status: QueryOrderStatus;
    courier: string | null; waybill: string | null; amountFen: number;
  }
  /** The SMS of the order's status is queued (the shop: a notification row the worker delivers). */
  | { kind: 'orderSms'; orderNumber: string }
  | { kind: 'promotion'; product: string; priceFen: number; gift: string | null; validUntil: number }
  | { kind: 'products'; products: QueryProduct[] }
  /** Nothing to tell this caller (no such order, not theirs, no promotion now; orderSms: nothing sent). */
  | { kind: 'notFound' };

/** The interface a CRM integration implements. */
export interface CrmAdapter {
  /** Contract version the adapter implements. */
  readonly contractVersion: ContractVersion;
  /** Short name for logs and metrics (`sqlite`, `webhook`, `acme-rest`). */
  readonly name: string;
  /** Prepare (open connections, create tables). Called once before any other method. */
  init(): Promise<void>;
  /** Look up a caller. Must not block the call: see {@link LookupContext.deadlineMs}. */
  lookupCaller(number: string, ctx: LookupContext): Promise<CallerInfo>;
  /** Take one call event. Throw or reject to have it retried. */
  callEvent(event: CallEvent, delivery: DeliveryInfo): Promise<void>;
  /** Take the final call record. Throw or reject to have it retried. */
  deliverCdr(cdr: Cdr, delivery: DeliveryInfo): Promise<void>;
  /**
   * IVR self-service (optional: an adapter without it stays valid, a flow's `query` step then takes
   * its fallback). Must answer within `req.deadlineMs`, like the look-up: a late, rejected or
   * malformed answer sends the caller to the step's fallback (an agent), never leaves them waiting.
   */
  query?(req: QueryRequest): Promise<QueryResult>;
  /** Release resources. Idempotent. */
  close(): Promise<void>;
}

/**
 * A delivery failure with a stable code. `permanent: true` tells the outbox not to retry (the
 * item becomes a dead letter at once); anything else thrown is retried. The outbox looks only at
 * the `permanent` property, so any error object with `permanent: true` has the same effect.
 */
export class CrmDeliveryError extends Error {
  readonly code = 'CRM_ERR_DELIVERY';
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.name = 'CrmDeliveryError';
    this.permanent = permanent;
  }
}

