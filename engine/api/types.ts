/**
 * The contract between the engine and its HTTP API: what the API asks of the engine (`ApiDeps`),
 * the events the engine publishes for CTI clients (`CtiEvent`), and the JSON views the API returns.
 *
 * JSON conventions (every body the API writes): keys are camelCase, durations carry their unit in
 * the key (`oldestWaitMs`), timestamps are epoch milliseconds, and enumerated values are snake_case
 * strings (`not_ready`, `on_call`, `abandoned_queue`) as in the CDR and callback records.
 */
import type { AuditPort, ProvisioningPort, WrapUpPort } from './desk-routes.ts';
import type { RecordingRoutesDeps } from './recording-routes.ts';
import type { TransferRoutesDeps } from './transfer-routes.ts';
import type { AcdSnapshot, AgentState, AgentStatus, AgentView } from '../acd/index.ts';
import type { CallbackFilter, CallbackStore, CallbackTask, DncStore } from '../store/index.ts';
import type { CallerInfo, Cdr, CdrOutcome, ReleasedBy } from '../../crm-adapter/index.ts';
import type { PreviewAnswer, PreviewChoice } from '../dialer/index.ts';
import type { CampaignRuntime } from '../campaigns/index.ts';
import type { Metrics } from './metrics.ts';
import type { ShopApiDeps } from './shop-routes.ts';
import type { ReportsApiDeps } from './reports-routes.ts';
import type { SurgeEvent } from '../reports/index.ts';
import type { SurgeApiDeps } from './surge-routes.ts';

// ---------------------------------------------------------------------------------------------
// What the engine provides

/** Engine health, read on every `GET /healthz`. */
export interface HealthInfo {
  /** True once SIGTERM arrived: no new calls are taken, `/healthz` answers 503. */
  draining: boolean;
  /** Engine start, epoch ms (the API derives `uptimeMs` from it). */
  startedAt: number;
  /** Calls in progress (every phase). */
  calls: number;
  /** Engine version string, e.g. the package version. */
  version: string;
}

/** Configured facts about a queue that the ACD snapshot does not carry. */
export interface QueueInfo {
  id: string;
  /** Skill an agent needs for this queue (defaults to the id in the ACD config). */
  skill: string;
  /** Lowest level of `skill` that serves the queue. */
  minLevel: number;
  /** Service-level target in ms (answered within it counts as in service level). */
  serviceLevelMs: number;
}

/**
 * An agent as the engine knows it: the ACD's view plus what the registrar knows. An agent whose
 * phone is not registered is never offered a call, whatever its status.
 */
export interface AgentInfo extends AgentView {
  /** Display name from the config, or null. */
  name: string | null;
  /** At least one registered contact. */
  registered: boolean;
  /** The agent's team (config `agents[].team`), or null. */
  team?: string | null;
}

/** Phase of a call in progress, as call control sees it. */
export type CallPhase = 'lookup' | 'ivr' | 'queued' | 'ringing' | 'talking' | 'closing';

/** One call in progress, for `GET /api/v1/calls`. */
export interface CallSummary {
  callId: string;
  phase: CallPhase;
  caller: string;
  dialled: string;
  programme: string | null;
  customerId: string | null;
  /** Queue the call is in or was last in, or null before queueing. */
  queue: string | null;
  /** Agent ringing or talking, or null. */
  agent: string | null;
  /** Priority used by the ACD (VIP level mapped), 0 = normal. */
  priority: number;
  arrivedAt: number;
  queuedAt: number | null;
  answeredAt: number | null;
}

/** Why a status change was refused: `not_found` answers 404, `conflict` answers 409. */
export type StatusRefusal = 'not_found' | 'conflict';

/** Result of {@link ApiDeps.setAgentStatus}. `code` is a stable engine code, e.g. `ACD_ERR_UNKNOWN_AGENT`. */
export type StatusChangeResult =
  | { ok: true; agent: AgentInfo }
  | { ok: false; refusal: StatusRefusal; code: string; message: string };

/** Filter of `GET /api/v1/cdrs`, the shape of the SQLite CRM's `CdrFilter`. */
export interface CdrQuery {
  /** Only calls that arrived at or after this time (epoch ms). */
  since?: number;
  outcome?: CdrOutcome;
  queue?: string;
  limit: number;
  offset: number;
}

/** Unsubscribes a listener. Idempotent. */
export type Unsubscribe = () => void;

/** Where CTI events come from. The API subscribes once at start and unsubscribes on close. */
export interface CtiEventSource {
  subscribe(listener: (event: CtiEvent) => void): Unsubscribe;
}

/**
 * Everything the API needs from the engine. Read methods are called per request (the data is
 * small: O(queues + agents + calls)); nothing here is called on the SIP or media hot path.
 */
export interface ApiDeps {
  health(): HealthInfo;
  /** ACD snapshot now (the engine passes its monotonic clock to `acd.snapshot`). */
  acdSnapshot(): AcdSnapshot;
  /** Queues as configured, in config order. */
  queues(): readonly QueueInfo[];
  /** Every configured agent, in roster order. */
  agents(): readonly AgentInfo[];
  /** One agent, or undefined when unknown. */
  agent(id: string): AgentInfo | undefined;
  /** Change the agent-chosen status (a status asked for during a call applies after wrap-up). */
  setAgentStatus(id: string, status: AgentStatus, reason: string | null): StatusChangeResult | Promise<StatusChangeResult>;
  /** Calls in progress. */
  calls(): readonly CallSummary[];
  /** Callback tasks and their attempts: pass `store.callbacks` as it is. */
  callbacks: {
    list(filter: CallbackFilter): Promise<CallbackTask[]>;
    count(filter: Omit<CallbackFilter, 'limit' | 'offset'>): Promise<number>;
  } & Pick<CallbackStore, 'get' | 'attempts' | 'claim' | 'reschedule' | 'cancel' | 'complete'>;
  /** The do-not-call list: pass `store.dnc` as it is. */
  dnc: Pick<DncStore, 'add' | 'addMany' | 'remove' | 'get' | 'list' | 'count'>;
  /**
   * The agent's answer to a callback preview (mode preview, engine/dialer `answerPreview`);
   * absent when the dialer does not run.
   */
  callbackPreview?: (taskId: number, agentId: string, choice: PreviewChoice) => PreviewAnswer;
  /** Outbound campaigns (engine/campaigns); absent when the dialer does not run (no outbound trunk). */
  campaigns?: CampaignRuntime;
  /**
   * Stored CDRs, newest arrival first; absent when the CRM adapter keeps none (the webhook
   * adapter), in which case `GET /api/v1/cdrs` answers 501.
   */
  cdrs?: (query: CdrQuery) => Cdr[] | Promise<Cdr[]>;
  /** Reports (issue 18): `GET /api/v1/reports` (reports-routes.ts); absent: the route is not registered. */
  reports?: ReportsApiDeps;
  /** Surge mode (issue 18): `GET`/`POST /api/v1/surge` (surge-routes.ts); absent: the routes are not registered. */
  surge?: SurgeApiDeps;
  /** The shop (issue 17) when the CRM adapter is `shop`: its routes under `/api/v1/shop/` (shop-routes.ts). */
  shop?: ShopApiDeps;
  /** Recording and monitoring routes (recording-routes.ts, issue 16). */
  recording?: RecordingRoutesDeps;
  /** Transfer, hold and resume of calls (transfer-routes.ts, issue 16). */
  callControl?: TransferRoutesDeps;
  events: CtiEventSource;
  metrics: Metrics;
  /** Run-time provisioning (engine/provisioning); absent = its routes answer 501. */
  provisioning?: ProvisioningPort;
  /** The audit log (engine/audit); absent = nothing is audited, `GET /api/v1/audit` answers 501. */
  audit?: AuditPort;
  /** Wrap-up codes and ending wrap-up (engine: call control's dispositions and the desk); absent = 501. */
  wrapUp?: WrapUpPort;
  /** The caller's number (unmasked) and agent of a call in progress or in its agent's wrap-up; absent = unmasking answers 501. */
  callerOf?: (callId: string) => { caller: string; agent: string | null } | undefined;
}

// ---------------------------------------------------------------------------------------------
// Events the engine publishes

/** An agent's status or state changed (from the ACD's `agentStateChanged` effect). */
export interface AgentStateEvent {
  type: 'agent.state';
  at: number;
  agentId: string;
  status: AgentStatus;
  state: AgentState;
  reason: string | null;
}

/** A caller entered a queue. */
export interface CallQueuedEvent {
  type: 'call.queued';
  at: number;
  callId: string;
  queue: string;
  caller: string;
  dialled: string;
  /** 1-based position at entry. */
  position: number;
  priority: number;
}

/** An agent's phone is ringing: carries the looked-up customer for the screen pop. */
export interface CallOfferedEvent {
  type: 'call.offered';
  at: number;
  callId: string;
  agentId: string;
  queue: string;
  caller: string;
  dialled: string;
  programme: string | null;
  /** 1 for the first offer of the call, 2 after one ring-no-answer, ... */
  attempt: number;
  customer: CallerInfo;
  /** Call variables keyed in the IVR (e.g. an order number), by the flow's variable names. */
  variables: Readonly<Record<string, string>>;
}

/** The agent answered. */
export interface CallAnsweredEvent {
  type: 'call.answered';
  at: number;
  callId: string;
  agentId: string;
  queue: string;
  waitMs: number;
}

/**
 * The call's consultation changed (docs/transfer.md): `agentId` (the call's agent) consults
 * `consulted`, whose phone rings (`ringing`), who talks to it (`talking`), who is in a three-way
 * conference with it and the caller (`conference`), who took the call (`completed`) or left (`cancelled`).
 */
export interface CallConsultEvent {
  type: 'call.consult';
  at: number;
  callId: string;
  agentId: string;
  consulted: string;
  state: 'ringing' | 'talking' | 'conference' | 'completed' | 'cancelled';
}

/** The call is over. */
export interface CallEndedEvent {
  type: 'call.ended';
  at: number;
  callId: string;
  agentId: string | null;
  queue: string | null;
  outcome: CdrOutcome;
  releasedBy: ReleasedBy;
}

/** A caller became (or joined) a callback task. */
export interface CallbackCreatedEvent {
  type: 'callback.created';
  at: number;
  callbackId: number;
  callId: string;
  caller: string;
  queue: string;
}

/**
 * Preview dialing (docs/dialer.md): a callback task on the agent's desktop (`offered`: the screen
 * pop, and `expiresAt` when the offer lapses back to the queue), then how it ended (`accepted`:
 * the agent's phone rings; `skipped`, `rescheduled`, `withdrawn`: lapsed or taken back).
 */
export interface CallbackPreviewEvent {
  type: 'callback.preview';
  at: number;
  state: 'offered' | 'accepted' | 'skipped' | 'rescheduled' | 'withdrawn';
  callbackId: number;
  /** The attempt's call id. */
  callId: string;
  agentId: string;
  queue: string;
  caller: string;
  dialled: string;
  programme: string | null;
  /** The CRM look-up (null without one). */
  customer: CallerInfo | null;
  /** 1-based attempt of the task. */
  attempt: number;
  abandons: number;
  /** The customer's first call (epoch ms). */
  calledAt: number;
  expiresAt: number | null;
  /** A campaign contact's preview: its campaign (`callbackId` is the contact id); null for a callback task. */
  campaignId: string | null;
}

/**
 * Surge mode switched (issue 18, docs/reports.md): an airing's back-office agents went into its
 * order queue (`on`) or back (`off`), by the schedule or a manual override (engine/reports'
 * `SurgeEvent` as it is). Staff only: a stream limited to an agent never carries it.
 */
export type SurgeSwitchEvent = SurgeEvent;

/** Events the engine publishes to CTI clients, discriminated by `type`. `at` is epoch ms. */
export type CtiEvent =
  | AgentStateEvent | CallQueuedEvent | CallOfferedEvent | CallAnsweredEvent | CallConsultEvent | CallEndedEvent | CallbackCreatedEvent | CallbackPreviewEvent
  | SurgeSwitchEvent;

// ---------------------------------------------------------------------------------------------
// JSON views the API writes

/** Agent status on the wire. */
export type WireAgentStatus = 'available' | 'not_ready' | 'logged_out';

/** Agent state on the wire. */
export type WireAgentState = 'idle' | 'reserved' | 'on_call' | 'wrap_up';

/** `GET /healthz`. */
export interface HealthView {
  status: 'ok' | 'draining';
  uptimeMs: number;
  calls: number;
  version: string;
  /** Connected WebSocket event clients. */
  eventClients: number;
}

/** One queue in `GET /api/v1/queues`. */
export interface QueueView {
  id: string;
  /** The skill an agent needs to serve the queue, and the lowest level that serves (moving an agent in = giving it this). */
  skill: string;
  minLevel: number;
  /** Live callers waiting (not ringing). */
  waiting: number;
  callbacksWaiting: number;
  oldestWaitMs: number;
  /** Estimated wait of a new caller; null when no agent is staffed (it would be infinite). */
  ewtMs: number | null;
  serviceLevelMs: number;
  /** answeredInServiceLevel / (answered + abandoned); 1 when nothing happened yet. */
  serviceLevel: number;
  handleTimeMs: number;
  agents: {
    /** Available agents with the queue's skill, whatever their state. */
    staffed: number;
    idle: number;
    /** Logged-in agents with the skill, by state (agents in several queues count in each). */
    byState: Record<WireAgentState, number>;
    /** Agents with the skill, by status. */
    byStatus: Record<WireAgentStatus, number>;
  };
  /** Since engine start. */
  totals: {
    /** Calls that entered the queue. */
    offered: number;
    answered: number;
    answeredInServiceLevel: number;
    abandoned: number;
    /** Refused at entry (queue full, nowhere to overflow). */
    rejected: number;
    /** Callers who became callback tasks from this queue. */
    callbacks: number;
  };
}

/** One agent in `GET /api/v1/agents`. */
export interface AgentJson {
  id: string;
  name: string | null;
  registered: boolean;
  status: WireAgentStatus;
  /** Status asked for during a call, applied after wrap-up. */
  pendingStatus: WireAgentStatus | null;
  reason: string | null;
  state: WireAgentState;
  callId: string | null;
  skills: Readonly<Record<string, number>>;
  callsHandled: number;
  talkTimeMs: number;
}

/** A page of a listing. `hasMore` says whether a next page (offset + limit) has items. */
export interface Page<T> {
  items: T[];
  limit: number;
  offset: number;
  hasMore: boolean;
}

/** Stable codes of API errors. */
export type ApiErrorCode =
  | 'API_ERR_UNAUTHORIZED'
  | 'API_ERR_FORBIDDEN'
  | 'API_ERR_VALIDATION'
  | 'API_ERR_NOT_FOUND'
  | 'API_ERR_CONFLICT'
  | 'API_ERR_NOT_IMPLEMENTED'
  | 'API_ERR_UNAVAILABLE'
  | 'API_ERR_INTERNAL';

/** Body of every error answer: `{"error":{"code","message"}}`. */
export interface ApiErrorBody {
  error: { code: ApiErrorCode | string; message: string };
}
