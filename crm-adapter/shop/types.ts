/**
 * Types of the shop (types only, CONVENTIONS.md 18): the tables as Kysely sees them and the
 * domain records the store returns. Money is integer minor units (fen: 1 yuan = 100 fen);
 * timestamps are epoch milliseconds (UTC). Flags are stored as integers 0/1 so that SQLite and
 * PostgreSQL share one set of queries.
 */
import type { OrderAction, OrderStatus } from './lifecycle.ts';

// ------------------------------------------------------------------ tables

/** `shop_customers`. */
export interface CustomersTable {
  id: string;
  name: string | null;
  language: string | null;
  vip_level: number;
  blacklisted: number;
  strikes: number;
  low_credit: number;
  preferred_agent: string | null;
  /** E-mail address for notifications (migration 0004); null: none. */
  email: string | null;
  /** Set when this record was merged into another customer (the survivor's id). */
  merged_into: string | null;
  created_at: number;
  updated_at: number;
}

/** `shop_customer_numbers`: every number of a customer; a number belongs to one customer. */
export interface CustomerNumbersTable {
  number: string;
  customer_id: string;
  created_at: number;
}

/** `shop_addresses`. */
export interface AddressesTable {
  id: string;
  customer_id: string;
  recipient: string;
  phone: string;
  region: string;
  city: string;
  line: string;
  postcode: string | null;
  is_default: number;
  created_at: number;
}

/** `shop_notes`: notes and complaints (a complaint is open until closed). */
export interface NotesTable {
  id: string;
  customer_id: string;
  kind: NoteKind;
  text: string;
  open: number;
  author: string;
  created_at: number;
}

/** `shop_products`. */
export interface ProductsTable {
  sku: string;
  name_zh: string;
  name_en: string;
  price_fen: number;
  stock: number;
  ivr_zh: string;
  ivr_en: string;
  active: number;
  updated_at: number;
}

/** `shop_promotions`. */
export interface PromotionsTable {
  id: string;
  sku: string;
  kind: PromotionKind;
  title: string;
  /** `price`: the promoted unit price. */
  price_fen: number | null;
  /** `gift`: the product given with each unit. */
  gift_sku: string | null;
  /** Only for orders from this programme (null: any). */
  programme: string | null;
  /** Only for orders from this airing (null: any airing of the programme). */
  airing: string | null;
  starts_at: number;
  ends_at: number;
  created_at: number;
}

/** `shop_orders`. The address is copied in: a later change of the customer's address book does not move a parcel. */
export interface OrdersTable {
  id: string;
  customer_id: string;
  status: OrderStatus;
  delivery_method: DeliveryMethod;
  payment_method: PaymentMethod;
  recipient: string;
  phone: string;
  region: string;
  city: string;
  line: string;
  postcode: string | null;
  programme: string | null;
  airing: string | null;
  call_id: string | null;
  agent: string | null;
  invoice_title: string | null;
  special_requests: string | null;
  total_fen: number;
  /** Bumped on every change: concurrent writers are detected, not silently merged. */
  version: number;
  created_at: number;
  updated_at: number;
}

/** `shop_order_items`. */
export interface OrderItemsTable {
  order_id: string;
  line: number;
  sku: string;
  name: string;
  quantity: number;
  list_price_fen: number;
  unit_price_fen: number;
  promotion_id: string | null;
  /** 1 for a gift line (unit price 0) added by a gift promotion. */
  gift: number;
}

/**
 * What a history entry records: a life-cycle action, the creation, or `print` (a shipping
 * document of the order printed in a batch; no status change, so a reprint is visible).
 */
export type HistoryAction = OrderAction | 'create' | 'print';

/** `shop_order_history`: every change of an order. */
export interface OrderHistoryTable {
  order_id: string;
  seq: number;
  action: HistoryAction;
  from_status: OrderStatus | null;
  to_status: OrderStatus;
  actor: string;
  reason: string | null;
  at: number;
}

/** `shop_calls`: the calls the engine reported (CDRs), for the customer card. */
export interface CallsTable {
  call_id: string;
  number: string;
  customer_id: string | null;
  direction: string;
  agent: string | null;
  queue: string | null;
  programme: string | null;
  airing: string | null;
  outcome: string;
  arrived_at: number;
  answered_at: number | null;
  ended_at: number;
  talk_ms: number;
  delivery_id: string;
  payload: string;
}

/** `shop_call_events`: call events as delivered (deduplicated by delivery id). */
export interface CallEventsTable {
  delivery_id: string;
  call_id: string;
  type: string;
  agent: string | null;
  at: number;
  payload: string;
}

/** `shop_counters`: named sequences (order numbers). */
export interface CountersTable {
  name: string;
  value: number;
}

/** `shop_couriers`: who carries parcels and which paper they print (migration 0002 seeds three). */
export interface CouriersTable {
  id: string;
  name_zh: string;
  name_en: string;
  /** The shipping document's layout (shipping.ts). */
  layout: CourierLayout;
  /** Waybill numbers are this prefix + a counter of the courier's own. */
  waybill_prefix: string;
  /** 1: collects cash on delivery. */
  cod: number;
  active: number;
}

/** `shop_courier_rules`: the courier for a region and delivery method, lowest priority first; `*` matches any. */
export interface CourierRulesTable {
  id: string;
  priority: number;
  courier_id: string;
  region: string;
  delivery_method: string;
}

/** `shop_shipments`: one per ship step (an exchange ships again, with a new waybill). */
export interface ShipmentsTable {
  waybill: string;
  order_id: string;
  courier_id: string;
  cod_fen: number;
  shipped_at: number;
  actor: string;
}

/**
 * `shop_waybill_reservations`: the courier and waybill a reviewed order's printed document
 * carries (batch printing), until the order ships under it (the row becomes its shipment) or an
 * edit or cancellation voids the paper.
 */
export interface WaybillReservationsTable {
  order_id: string;
  waybill: string;
  courier_id: string;
  reserved_at: number;
  actor: string;
}

/** `shop_logistics_events`: couriers' reports applied, once per (waybill, status). */
export interface LogisticsEventsTable {
  waybill: string;
  status: LogisticsStatus;
  order_id: string;
  courier_id: string;
  at: number;
  reason: string | null;
  collected_fen: number | null;
  imported_at: number;
  actor: string;
}

/** Where a notification goes. */
export type NotificationChannel = 'email' | 'sms';
/** `pending` until delivered (`sent`) or given up (`failed`: attempts exhausted, refused for good, or a recipient that is not valid). */
export type NotificationStatus = 'pending' | 'sent' | 'failed';

/**
 * `shop_notifications` (migration 0004): one customer message per (order, history step, channel,
 * request), written in the transaction of the step (or of the request: 0006), rendered then (the
 * text says what was true at that moment), delivered by the notification worker (notify.ts).
 */
export interface NotificationsTable {
  id: string;
  order_id: string;
  /** The order-history entry (`shop_order_history.seq`) that caused it: the delivery order per order and channel. */
  seq: number;
  /** Migration 0006: 0 for the step's own notification; a re-send of that step's status on request: a store-wide counter (> 0), so re-sends go after the step's, in the order asked. */
  request: number;
  channel: NotificationChannel;
  /** The life-cycle action of the step (`create`, `ship`, ...). */
  event: string;
  /** `zh-CN` or `en`. */
  language: string;
  /** An e-mail address or a phone number. */
  recipient: string;
  /** E-mail subject; null for SMS. */
  subject: string | null;
  body: string;
  status: NotificationStatus;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

/** `shop_webhook_receipts` (migration 0004): courier webhook deliveries by event id, so a replay is refused. */
export interface WebhookReceiptsTable {
  courier_id: string;
  event_id: string;
  received_at: number;
}

/** The shop's database as Kysely sees it. */
export interface ShopDatabase {
  shop_customers: CustomersTable;
  shop_customer_numbers: CustomerNumbersTable;
  shop_addresses: AddressesTable;
  shop_notes: NotesTable;
  shop_products: ProductsTable;
  shop_promotions: PromotionsTable;
  shop_orders: OrdersTable;
  shop_order_items: OrderItemsTable;
  shop_order_history: OrderHistoryTable;
  shop_calls: CallsTable;
  shop_call_events: CallEventsTable;
  shop_counters: CountersTable;
  shop_couriers: CouriersTable;
  shop_courier_rules: CourierRulesTable;
  shop_shipments: ShipmentsTable;
  shop_logistics_events: LogisticsEventsTable;
  shop_notifications: NotificationsTable;
  shop_webhook_receipts: WebhookReceiptsTable;
  shop_waybill_reservations: WaybillReservationsTable;
}

// ------------------------------------------------------------------ domain

/** `note` or `complaint`. */
export type NoteKind = 'note' | 'complaint';
/** `price`: a lower unit price; `gift`: another product free with each unit. */
export type PromotionKind = 'price' | 'gift';
/** How the parcel travels. */
export type DeliveryMethod = 'standard' | 'express' | 'post';
/** A courier's shipping document: an EMS-style form, a postal form, a courier waybill. */
export type CourierLayout = 'ems' | 'post' | 'waybill';
/** A courier (`shop_couriers`). */
export interface Courier {
  id: string;
  nameZh: string;
  nameEn: string;
  layout: CourierLayout;
  waybillPrefix: string;
  cod: boolean;
  active: boolean;
}
/** A courier rule (`shop_courier_rules`): `*` matches any region or method. */
export interface CourierRule {
  id: string;
  priority: number;
  courierId: string;
  region: string;
  deliveryMethod: DeliveryMethod | '*';
}
/** A shipment: the courier and waybill a ship step assigned. */
export interface Shipment {
  waybill: string;
  orderId: string;
  courierId: string;
  /** Cash the courier collects (fen): the order total for cash on delivery, else 0. */
  codFen: number;
  shippedAt: number;
  actor: Actor;
}
/** What a courier reports about a parcel. */
export type LogisticsStatus = 'delivered' | 'refused' | 'returned';
/** One courier report (a CSV line or a webhook item). */
export interface LogisticsEvent {
  /** Where it came from (CSV line number; item index + 1 of a webhook), for error reports. */
  line: number;
  waybill: string;
  status: LogisticsStatus;
  /** When it happened (epoch ms). */
  at: number;
  reason: string | null;
  /** Cash the courier collected (fen), reported with a delivery; null when not reported. */
  collectedFen: number | null;
}
/** What an import did. */
export interface LogisticsOutcome {
  applied: number;
  /** Lines already applied before (a re-import). */
  duplicates: number;
  errors: { line: number; reason: string }[];
}
/** Cash on delivery per courier: expected (shipments delivered) vs collected (reported). */
export interface CodReconciliation {
  courierId: string;
  parcels: number;
  expectedFen: number;
  collectedFen: number;
  /** collected − expected: negative means the courier owes. */
  differenceFen: number;
}
/** How the customer pays: cash on delivery, card, bank transfer. */
export type PaymentMethod = 'cod' | 'card' | 'transfer';

/** Who did something: `agent:1001`, `user:alice`, `token`, `system`. */
export type Actor = string;

/** A delivery address. */
export interface Address {
  recipient: string;
  phone: string;
  /** Province or region (the courier rules of the next step key on it). */
  region: string;
  city: string;
  line: string;
  postcode: string | null;
}

/** An address in a customer's address book. */
export interface StoredAddress extends Address {
  id: string;
  isDefault: boolean;
  createdAt: number;
}

/** A note or complaint. */
export interface Note {
  id: string;
  kind: NoteKind;
  text: string;
  open: boolean;
  author: string;
  createdAt: number;
}

/** A customer. */
export interface Customer {
  id: string;
  name: string | null;
  language: string | null;
  vipLevel: number;
  blacklisted: boolean;
  strikes: number;
  lowCredit: boolean;
  preferredAgent: string | null;
  /** E-mail address for notifications, or null. */
  email: string | null;
  numbers: string[];
  mergedInto: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A new customer. */
export interface NewCustomer {
  /** Default: a generated id. */
  id?: string;
  name?: string | null;
  language?: string | null;
  vipLevel?: number;
  blacklisted?: boolean;
  strikes?: number;
  lowCredit?: boolean;
  preferredAgent?: string | null;
  email?: string | null;
  numbers: string[];
}

/** Changeable flags of a customer. */
export type CustomerPatch = Partial<Pick<Customer, 'name' | 'language' | 'vipLevel' | 'blacklisted' | 'lowCredit' | 'preferredAgent' | 'email'>>;

/** A product. */
export interface Product {
  sku: string;
  nameZh: string;
  nameEn: string;
  priceFen: number;
  stock: number;
  /** What the IVR says about it, per language. */
  ivrZh: string;
  ivrEn: string;
  active: boolean;
}

/** A promotion. */
export interface Promotion {
  id: string;
  sku: string;
  kind: PromotionKind;
  title: string;
  priceFen: number | null;
  giftSku: string | null;
  programme: string | null;
  airing: string | null;
  startsAt: number;
  endsAt: number;
}

/** One order line. */
export interface OrderItem {
  line: number;
  sku: string;
  name: string;
  quantity: number;
  listPriceFen: number;
  unitPriceFen: number;
  promotionId: string | null;
  gift: boolean;
}

/** One entry of an order's history. */
export interface OrderHistoryEntry {
  seq: number;
  action: HistoryAction;
  from: OrderStatus | null;
  to: OrderStatus;
  actor: Actor;
  reason: string | null;
  at: number;
}

/** An order with its lines. */
export interface Order {
  id: string;
  customerId: string;
  status: OrderStatus;
  deliveryMethod: DeliveryMethod;
  paymentMethod: PaymentMethod;
  address: Address;
  programme: string | null;
  airing: string | null;
  callId: string | null;
  agent: string | null;
  invoiceTitle: string | null;
  specialRequests: string | null;
  totalFen: number;
  version: number;
  createdAt: number;
  updatedAt: number;
  items: OrderItem[];
}

/** What the sales side asks for in an order line. */
export interface ItemRequest {
  sku: string;
  quantity: number;
}

/** A new order (the media source comes from the call, resolved by the caller of the store). */
export interface NewOrder {
  customerId: string;
  items: ItemRequest[];
  deliveryMethod: DeliveryMethod;
  paymentMethod: PaymentMethod;
  /** The address, or the id of one in the customer's book (default: the customer's default address). */
  address?: Address;
  addressId?: string;
  programme: string | null;
  airing: string | null;
  callId: string | null;
  agent: string | null;
  invoiceTitle?: string | null;
  specialRequests?: string | null;
}

/** What the sales side may change before shipping. */
export interface OrderEdit {
  items?: ItemRequest[];
  address?: Address;
  deliveryMethod?: DeliveryMethod;
  paymentMethod?: PaymentMethod;
  invoiceTitle?: string | null;
  specialRequests?: string | null;
}

/** One call on the card. */
export interface CallSummaryOfCustomer {
  callId: string;
  arrivedAt: number;
  outcome: string;
  agent: string | null;
  programme: string | null;
  talkMs: number;
}

/** The customer card of the screen pop and of `GET /api/v1/shop/customers/:id/card`. */
export interface CustomerCard {
  customer: Customer;
  addresses: StoredAddress[];
  lastOrders: Pick<Order, 'id' | 'status' | 'totalFen' | 'createdAt' | 'programme'>[];
  lastCalls: CallSummaryOfCustomer[];
  openComplaints: Note[];
  notes: Note[];
}

/** A customer notification as stored (`shop_notifications`). */
export interface Notification {
  id: string;
  orderId: string;
  seq: number;
  /** 0: the step's own notification; > 0: a re-send on request (docs/shop.md, Notifications on request). */
  request: number;
  channel: NotificationChannel;
  event: string;
  language: string;
  recipient: string;
  subject: string | null;
  body: string;
  status: NotificationStatus;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  createdAt: number;
  sentAt: number | null;
}
