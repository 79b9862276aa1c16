/**
 * crm-adapter/shop — the reference TV-shopping CRM (issue 17, docs/shop.md): customers (several
 * numbers each, addresses, notes and complaints, VIP, strikes, low credit, preferred agent), the
 * catalog with promotions per programme/airing, orders with a guarded life cycle and their
 * history, and the calls the engine reported. One Kysely data-access layer over SQLite (default)
 * or PostgreSQL, own migrations; never the engine's store tables.
 */
export { ShopCrmAdapter, screenPopOf, SCREEN_POP_MAX, type ShopCrmOptions } from './adapter.ts';
export {
  ShopStore, chooseCourier, logisticsActions, priceLines, orderTotal, orderNumber, promotionApplies, MAX_QUANTITY, MAX_LINES, CARD_ENTRIES, BATCH_MAX_ORDERS,
  type ShopStoreConfig, type ShopStoreOptions, type NotifyPlan, type WebhookReceipt, type PrintBatch,
} from './store.ts';
export {
  ORDER_STATUSES, ORDER_ACTIONS, ORDER_TRANSITIONS, ACTION_SIDES, RESTOCKING_STATUSES, nextStatus, salesMayEdit,
  type OrderStatus, type OrderAction, type OrderSide, type TransitionResult,
} from './lifecycle.ts';
export { SHOP_ERRORS, ShopError, refuse, type ShopErrorCode, type ShopRefusal, type ShopResult } from './errors.ts';
export { renderShippingDocument, renderShippingDocuments, missingFont, DEFAULT_CJK_FONT, CJK_FONT_FACE, type Sender, type ShippingDocumentOptions, type ShippingPage } from './shipping.ts';
export { parseLogisticsCsv, parseLogisticsTime, LOGISTICS_CSV_MAX_BYTES, LOGISTICS_CSV_MAX_LINES, type LogisticsCsv } from './logistics.ts';
export {
  verifyWebhook, webhookSignature, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_MAX_BYTES, WEBHOOK_MAX_EVENTS, type WebhookVerdict,
} from './webhook.ts';
export { SHOP_MIGRATIONS, shopMigrationProvider } from './migrations.ts';
export {
  ordersByAgent, ordersByProduct, deliveryOutcomes, withAnswered, agentTable, productTable, deliveryTable, ordersByAgentQuery, ordersByProductQuery, deliveryQuery,
  type ShopReportFilter, type ShopReportInterval, type AgentOrdersRow, type AgentConversionRow, type ProductOrdersRow, type DeliveryRow, type DeliveryBy, type ShopReportTable,
} from './shop-reports.ts';
export {
  NOTIFY_EVENTS, NOTIFY_LANGUAGES, NOTIFY_TEMPLATES, EMAIL_BODY_MAX, SMS_BODY_MAX, SUBJECT_MAX, renderNotification, notifyLanguage, fill, yuan, isEmailAddress, isSmsNumber,
  type NotifyEvent, type NotifyLanguage, type NotifyTemplate, type NotifyFacts, type RenderedNotification,
} from './templates.ts';
export {
  NotificationWorker, EmailSender, SmsSender, fillJson, notifyBackoff,
  type ShopNotifyConfig, type EmailConfig, type SmsConfig, type NotifyRetry, type JsonValue, type SendResult, type NotificationSender, type NotificationWorkerOptions, type RunCounts,
} from './notify.ts';
export { seedShopDemo, DEMO_PRODUCTS, DEMO_PROGRAMME } from './demo.ts';
export { answerQuery, mayTell, orderIdOf, productsOnOffer, promotionToSay, smsNumberOf, VERIFICATION_DIGITS } from './self-service.ts';
export type {
  Actor, Address, StoredAddress, Note, NoteKind, Customer, NewCustomer, CustomerPatch, Product, Promotion, PromotionKind, OrderItem,
  OrderHistoryEntry, HistoryAction, Order, ItemRequest, NewOrder, OrderEdit, CallSummaryOfCustomer, CustomerCard, DeliveryMethod, PaymentMethod,
  ShopDatabase, Courier, CourierLayout, CourierRule, Shipment, LogisticsEvent, LogisticsOutcome, LogisticsStatus, CodReconciliation,
  Notification, NotificationChannel, NotificationStatus,
} from './types.ts';
