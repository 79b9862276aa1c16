/**
 * engine/api — the HTTP API (REST + WebSocket CTI events) and the Prometheus metrics of the
 * engine. The only door of the folder; see README.md here for routes and metric names.
 */
export { startApi, EVENTS_PATH, OPENAPI_PATH, type ApiOptions, type ApiServer } from './server.ts';
export { OpenApiCollector, openApiPath, type RouteDoc, type RegisteredRoute } from './openapi.ts';
export {
  Metrics, createMetrics, SIP_METHOD_LABELS, SIP_STATUS_LABELS, WIRE_AGENT_STATE, WIRE_AGENT_STATUS,
  type Direction, type CrmLookupResult, type WaitOutcome, type MetricSources, type MetricsOptions, type QueueTotals,
  type DeliveryResult, type MediaWorkerCounters, type KnownLabels, type BuildInfo,
} from './metrics.ts';
export { CallEventSink, ctiEvent, countCallEvent } from './cti.ts';
export { CDR_OUTCOMES } from './outcomes.ts';
export { packageVersion } from './build.ts';
export { DESK_ACTION, deskStatusChange, type StatusDesk } from './status.ts';
export { deliveryObserver, deliveryResult, type DeliveryObserverOptions } from './delivery.ts';
export { EventHub, type EventHubOptions, type EventSocket } from './events.ts';
export { TokenAuth } from './auth.ts';
export { registerReportRoutes, REPORT_MAX_RANGE_MS, REPORT_MAX_ROWS, type ReportsApiDeps } from './reports-routes.ts';
export { registerShopRoutes, actorOf, type ShopApiDeps, type ShopLiveCall, type ShopRouteKit } from './shop-routes.ts';
export {
  ACD_AGENT_STATUS, API_CALL_PHASE, agentJson, callSummary, callsByPhase, queueViews, wireEvent, eventAgent,
  type WireCtiEvent, type HelloMessage, type QueueUpdateMessage, type EventMessage,
} from './views.ts';
export type {
  HealthInfo, QueueInfo, AgentInfo, CallPhase, CallSummary, StatusRefusal, StatusChangeResult, CdrQuery, Unsubscribe,
  CtiEventSource, ApiDeps, AgentStateEvent, CallQueuedEvent, CallOfferedEvent, CallAnsweredEvent, CallEndedEvent,
  CallbackCreatedEvent, CtiEvent, WireAgentStatus, WireAgentState, HealthView, QueueView, AgentJson, Page, ApiErrorCode,
  ApiErrorBody,
} from './types.ts';
