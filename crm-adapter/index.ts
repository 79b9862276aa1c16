/**
 * crm-adapter — the contract a CRM integration implements (version 1) and the two adapters that
 * ship: the built-in SQLite CRM (the default) and the HTTP webhook adapter, and the loader of
 * third-party adapter modules (`crm.adapter: module`).
 */
export {
  CONTRACT_VERSION, unknownCaller, CrmDeliveryError, QUERY_ORDER_STATUSES, QUERY_PRODUCTS_MAX, CDR_PLAYED_MAX,
  type ContractVersion, type LookupContext, type CallerInfo, type CallEventType, type CallEventBase,
  type QueuedEvent, type OfferedEvent, type AnsweredEvent, type AbandonStage, type AbandonedEvent, type ReleasedBy,
  type EndedEvent, type CallbackCreatedEvent, type CallbackAttemptEvent, type CallbackCompletedEvent, type CampaignResultEvent, type CallbackAttemptResult, type CallTreatment,
  type CallbackFinalStatus, type CallEvent, type CdrOutcome, type Cdr, type CdrRecording, type CdrMonitoring, type CdrLeg, type DeliveryInfo,
  type CrmAdapter, type QueryKind, type QueryContextBase, type QueryRequest, type QueryResult, type QueryOrderStatus, type QueryProduct,
} from './contract.ts';
export {
  SqliteCrmAdapter, DEMO_CUSTOMERS,
  type Customer, type SqliteCrmOptions, type StoredCdr, type CdrFilter,
} from './sqlite-adapter.ts';
export {
  WebhookCrmAdapter, signWebhookBody, verifyWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER,
  type WebhookCrmOptions, type WebhookVerification,
} from './webhook-adapter.ts';
export {
  loadAdapterModule, contractProblems, CrmModuleError, CRM_MODULE_ERRORS,
  type CrmModuleErrorCode,
} from './module.ts';
