/**
 * Routes of the shop (issue 17, docs/shop.md), registered by server.ts when the engine runs the
 * shop adapter (`crm.adapter: shop`). Input is validated with zod at the edge (server.ts's `parse`);
 * the shop's refusals answer with their own `SHOP_ERR_*` code:
 *
 * ```
 *  SHOP_ERR_NOT_FOUND 404 · SHOP_ERR_INVALID 400 · SHOP_ERR_ILLEGAL_TRANSITION, _LOCKED, _CONFLICT,
 *  _OUT_OF_STOCK, _NUMBER_TAKEN, _NO_CHANNEL 409 · SHOP_ERR_BATCH_TOO_LARGE 413
 * ```
 *
 * Who may do what (the engine decides, the desktop only shows): every signed-in role reads the
 * catalog and customer cards and enters orders; an agent enters an order only for a call it
 * answered (the call's programme and airing become the order's media source) and sees and edits
 * only its own orders, as the sales side (no edit after shipping). Review, shipping, delivery,
 * refusal, settlement, returns and exchanges are staff (supervisor, admin, integration token), and so
 * are batch printing and the shop's reports.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  ACTION_SIDES, BATCH_MAX_ORDERS, LOGISTICS_CSV_MAX_BYTES, ORDER_ACTIONS, ORDER_STATUSES, SHOP_ERRORS, ShopError, missingFont, parseLogisticsCsv, parseLogisticsTime, renderShippingDocument,
  renderShippingDocuments, verifyWebhook, isEmailAddress, agentTable, deliveryOutcomes, deliveryTable, ordersByAgent, ordersByProduct, productTable, withAnswered,
  WEBHOOK_MAX_BYTES, WEBHOOK_MAX_EVENTS, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
  type Actor, type LogisticsEvent, type OrderSide, type Sender, type ShopErrorCode, type ShopRefusal, type ShopReportFilter, type ShopReportTable, type ShopResult, type ShopStore,
} from '../../crm-adapter/shop/index.ts';
import { toCsv, toXlsx, type ReportQuery, type ReportRow } from '../reports/index.ts';
import type { AuditSink } from '../audit/index.ts';
import { ApiAuth, type Principal } from './auth.ts';
import { requestActor } from './desk-routes.ts';
import type { RouteDoc } from './openapi.ts';
import type { ApiErrorCode } from './types.ts';

/** A call in progress as the shop needs it (from call control). */
export interface ShopLiveCall {
  agent: string | null;
  caller: string;
  programme: string | null;
  airing: string | null;
  customerId: string | null;
}

/** What the engine lends the shop routes. */
export interface ShopApiDeps {
  store: ShopStore;
  /** A call in progress by the engine's call id, or undefined (over, or never). */
  liveCall(callId: string): ShopLiveCall | undefined;
  /** The sender on shipping documents (crm.shipper); null or absent: documents are refused with SHOP_ERR_CONFIG. */
  shipper?: Sender | null;
  /** The CJK font of shipping documents (crm.cjkFont). Default shipping.ts's DEFAULT_CJK_FONT. */
  cjkFont?: string;
  /** Couriers' webhook (crm.logisticsWebhook): each courier's signing secret, the timestamp window. Absent: every delivery is refused 401. */
  webhook?: { secrets: Readonly<Record<string, string>>; toleranceSeconds: number };
  /** The engine's reports (interval tables): the agents' answered inbound calls, for conversion per agent. Absent: answered and conversion are null. */
  reports?: { run(q: ReportQuery, now: number): ReportRow[] };
  /** Most orders of one printed batch. Default BATCH_MAX_ORDERS (tests lower it). */
  batchMaxOrders?: number;
  /** Epoch ms (tests). Default Date.now. */
  now?: () => number;
}

/** server.ts's zod parse (400 on failure) and error constructor. */
export interface ShopRouteKit {
  parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T;
  fail(statusCode: number, code: ApiErrorCode | ShopErrorCode, message: string): Error;
  /** The audit log (batch printing is audited); absent: nothing is audited. */
  audit?: AuditSink | undefined;
}

const STATUS_OF: Readonly<Record<ShopErrorCode, number>> = {
  SHOP_ERR_NOT_FOUND: 404, SHOP_ERR_INVALID: 400, SHOP_ERR_ILLEGAL_TRANSITION: 409, SHOP_ERR_LOCKED: 409, SHOP_ERR_OUT_OF_STOCK: 409,
  SHOP_ERR_CONFLICT: 409, SHOP_ERR_NUMBER_TAKEN: 409, SHOP_ERR_CONFIG: 500, SHOP_ERR_NO_COURIER: 409, SHOP_ERR_FONT: 500,
  SHOP_ERR_SIGNATURE: 401, SHOP_ERR_REPLAY: 409, SHOP_ERR_BATCH_TOO_LARGE: 413, SHOP_ERR_NO_CHANNEL: 409,
};

const text = (max: number) => z.string().trim().min(1).max(max);
const shopId = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only');
const phone = z.string().min(3).max(32).regex(/^\+?[0-9]{3,20}$/, 'a phone number: optional +, 3-20 digits');
const address = z.strictObject({
  recipient: text(64), phone: text(32), region: text(64), city: text(64), line: text(200), postcode: z.string().max(16).nullable().default(null),
});
const idParams = z.strictObject({ id: shopId });
const logisticsBody = z.strictObject({ csv: z.string().min(1).max(LOGISTICS_CSV_MAX_BYTES) });
const codQuery = z.strictObject({ from: z.coerce.number().int().min(0), to: z.coerce.number().int().min(0) });
const actionParams = z.strictObject({ id: shopId, action: z.enum(ORDER_ACTIONS.filter((a) => a !== 'edit') as [Exclude<(typeof ORDER_ACTIONS)[number], 'edit'>]) });
const items = z.array(z.strictObject({ sku: shopId, quantity: z.number().int().min(1).max(99) })).min(1).max(50);
const orderBody = z.strictObject({
  /** The engine's call id: required for agents (their own answered call), optional for staff (an order by post or mail). */
  callId: z.string().min(1).max(128).optional(),
  customerId: shopId,
  items,
  deliveryMethod: z.enum(['standard', 'express', 'post']),
  paymentMethod: z.enum(['cod', 'card', 'transfer']),
  address: address.optional(),
  addressId: shopId.optional(),
  invoiceTitle: text(100).nullable().optional(),
  specialRequests: text(500).nullable().optional(),
});
const editBody = z.strictObject({
  items: items.optional(),
  address: address.optional(),
  deliveryMethod: z.enum(['standard', 'express', 'post']).optional(),
  paymentMethod: z.enum(['cod', 'card', 'transfer']).optional(),
  invoiceTitle: text(100).nullable().optional(),
  specialRequests: text(500).nullable().optional(),
  reason: text(500).optional(),
  version: z.number().int().min(1).optional(),
});
const courierParams = z.strictObject({ courier: z.string().min(1).max(32).regex(/^[A-Za-z0-9_-]+$/, 'a courier id') });
const webhookBody = z.strictObject({
  /** The courier's id of this delivery: a second delivery with it is a replay (409). */
  id: z.string().min(1).max(128).regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only'),
  events: z.array(z.strictObject({
    waybill: z.string().min(1).max(40),
    status: z.enum(['delivered', 'refused', 'returned', 'in_transit']),
    at: z.union([z.number().int().min(0).max(1e15), z.string().min(1).max(40)]),
    reason: z.string().max(200).nullable().optional(),
    collectedFen: z.number().int().min(0).max(2_000_000_000).nullable().optional(),
  })).min(1).max(WEBHOOK_MAX_EVENTS),
});
/** A calendar day, checked to exist (2026-02-30 is refused). */
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD').refine((d) => {
  const t = Date.parse(`${d}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === d;
}, 'a calendar day');
const utcOffsetMinutes = z.coerce.number().int().min(-720).max(840).default(0).describe('Days start at midnight of this UTC offset (480 = Beijing)');
const batchBody = z.strictObject({
  date: day.describe('The day the orders were entered, YYYY-MM-DD'),
  courier: z.string().min(1).max(32).regex(/^[A-Za-z0-9_-]+$/, 'a courier id'),
  utcOffsetMinutes,
});
/** Longest period of one shop report: 400 days (as the engine's reports). */
export const SHOP_REPORT_MAX_RANGE_MS = 400 * 86_400_000;
const instant = z.union([
  z.string().regex(/^[0-9]{1,16}$/, 'epoch ms').transform(Number),
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
]);
const reportFilter = {
  from: instant.describe('Start, epoch ms or ISO 8601 with offset (inclusive)'),
  to: instant.describe('End, epoch ms or ISO 8601 with offset (exclusive)'),
  programme: z.string().max(128).optional().describe('Only orders of this programme (media source); empty: orders without one'),
  airing: z.string().max(128).optional().describe('Only orders of this airing; empty: orders without one'),
  format: z.enum(['json', 'csv', 'xlsx']).default('json'),
};
const inRange = <T extends z.ZodType<{ from: number; to: number }>>(s: T) => s.refine((q) => q.to > q.from, { message: 'to must be after from', path: ['to'] })
  .refine((q) => q.to - q.from <= SHOP_REPORT_MAX_RANGE_MS, { message: 'at most 400 days', path: ['to'] });
const ordersReportQuery = inRange(z.strictObject({
  by: z.enum(['agent', 'product']).describe('agent: orders, units, value, answered calls and conversion per agent; product: per SKU'),
  interval: z.enum(['day', 'all']).default('day').describe('A row per day, or one for the whole period'),
  utcOffsetMinutes,
  ...reportFilter,
}));
const deliveryReportQuery = inRange(z.strictObject({
  by: z.enum(['courier', 'product']).describe('Parcels shipped in the period, per courier or per product'),
  ...reportFilter,
}));
const actionBody = z.strictObject({ reason: text(500).optional(), version: z.number().int().min(1).optional() });
const customerBody = z.strictObject({
  name: text(100).nullable().default(null), numbers: z.array(phone).min(1).max(10), language: z.string().min(2).max(16).nullable().default(null),
  email: z.string().max(254).refine(isEmailAddress, 'an e-mail address (local@domain)').nullable().default(null),
  address: address.optional(),
});
const notifyBody = z.strictObject({ channel: z.enum(['email', 'sms']) });
const noteBody = z.strictObject({ kind: z.enum(['note', 'complaint']), text: text(1000) });
const customerQuery = z.strictObject({ number: phone });
const promotionsQuery = z.strictObject({ programme: shopId.optional(), airing: shopId.optional() });
const ordersQuery = z.strictObject({
  status: z.enum(ORDER_STATUSES).optional(), customerId: shopId.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100), offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

const ERR = { 400: 'invalid input', 401: 'sign in or present a token' } as const;
const ROUTES = {
  products: { summary: 'Products on sale', tags: ['shop'], querystring: z.strictObject({}), responses: { 200: '{ items: Product[] }', ...ERR } },
  promotions: { summary: 'Promotions valid now (for a programme/airing when given)', tags: ['shop'], querystring: promotionsQuery, responses: { 200: '{ items: Promotion[] }', ...ERR } },
  customerByNumber: { summary: 'The customer one of whose numbers is `number`', tags: ['shop'], querystring: customerQuery, responses: { 200: 'Customer', ...ERR, 404: 'no such customer' } },
  customerCreate: { summary: 'Create a customer (from a call: its number, name, an address)', tags: ['shop'], body: customerBody, responses: { 201: 'Customer', ...ERR, 409: 'SHOP_ERR_NUMBER_TAKEN' } },
  card: { summary: 'The customer card: customer, addresses, last orders, last calls, open complaints, notes', tags: ['shop'], params: idParams, responses: { 200: 'CustomerCard', ...ERR, 404: 'no such customer' } },
  note: { summary: 'Add a note or an (open) complaint', tags: ['shop'], params: idParams, body: noteBody, responses: { 201: 'Note', ...ERR, 404: 'no such customer' } },
  orderCreate: { summary: 'Enter an order (status ordered; promotions of the call\'s programme/airing applied)', tags: ['shop'], body: orderBody, responses: { 201: 'Order', ...ERR, 403: 'not your call', 404: 'no such customer or call', 409: 'SHOP_ERR_OUT_OF_STOCK' } },
  orders: { summary: 'Orders, newest first (an agent sees its own)', tags: ['shop'], querystring: ordersQuery, responses: { 200: 'Page<Order>', ...ERR } },
  order: { summary: 'One order', tags: ['shop'], params: idParams, responses: { 200: 'Order', ...ERR, 404: 'no such order' } },
  history: { summary: 'An order\'s history: who, when, why', tags: ['shop'], params: idParams, responses: { 200: '{ items: OrderHistoryEntry[] }', ...ERR, 404: 'no such order' } },
  notifications: { summary: 'The customer notifications of an order with their delivery status (pending, sent, failed), in step order', tags: ['shop'], params: idParams, responses: { 200: '{ items: Notification[] }', ...ERR, 404: 'no such order' } },
  notify: {
    summary: 'Send the customer the order\'s current status again by e-mail or SMS (docs/shop.md, Notifications on request): a new notification after the step\'s own, delivered by the worker; audited (agent: own orders)',
    tags: ['shop'], params: idParams, body: notifyBody, responses: { 202: 'Notification', ...ERR, 404: 'no such order', 409: 'SHOP_ERR_NO_CHANNEL' },
  },
  orderEdit: { summary: 'Change items, address, methods or requests before shipping', tags: ['shop'], params: idParams, body: editBody, responses: { 200: 'Order', ...ERR, 404: 'no such order', 409: 'SHOP_ERR_LOCKED, SHOP_ERR_CONFLICT' } },
  shippingDocument: { summary: 'The shipping document of the order\'s latest shipment, as its courier prints it (PDF; staff)', tags: ['shop'], params: idParams, responses: { 200: 'application/pdf', ...ERR, 403: 'staff only', 404: 'no such order, or not shipped', 500: 'SHOP_ERR_FONT, SHOP_ERR_CONFIG' } },
  logisticsImport: { summary: 'Import a courier\'s logistics CSV (staff): valid lines applied in one transaction, bad lines reported, a re-import applies nothing twice', tags: ['shop'], body: logisticsBody, responses: { 200: 'LogisticsOutcome', ...ERR, 403: 'staff only' } },
  logisticsWebhook: {
    summary: 'A courier pushes parcel reports (delivered, refused, returned, in_transit), signed with its secret (docs/shop.md, Courier webhook); applied like a CSV import',
    tags: ['shop'], params: courierParams, body: webhookBody,
    responses: { 200: '{ applied, duplicates, inTransit, errors: [{ line, reason }] }', 400: 'invalid JSON or input', 401: 'SHOP_ERR_SIGNATURE', 409: 'SHOP_ERR_REPLAY', 413: 'body too large' },
  },
  shippingBatch: {
    summary: 'Print a day\'s reviewed, not yet shipped orders of one courier as one PDF, a page each by order number, in that courier\'s layout (staff; each order gets a print entry in its history; audited)',
    tags: ['shop'], body: batchBody,
    responses: { 200: 'application/pdf', ...ERR, 403: 'staff only', 404: 'no such courier, or nothing to print', 413: 'SHOP_ERR_BATCH_TOO_LARGE', 500: 'SHOP_ERR_FONT, SHOP_ERR_CONFIG' },
  },
  ordersReport: {
    summary: 'Orders by agent (with answered calls and conversion) or by product, per day or for the period; filter by programme/airing; JSON, CSV or XLSX (staff; definitions: docs/shop.md, Shop reports)',
    tags: ['shop'], querystring: ordersReportQuery, responses: { 200: '{ query, rows } (format=json), text/csv, or an XLSX workbook', ...ERR, 403: 'staff only' },
  },
  deliveryReport: {
    summary: 'Delivery outcomes of the parcels shipped in the period per courier or product: shipped, delivered, refused, returned and their rates; JSON, CSV or XLSX (staff)',
    tags: ['shop'], querystring: deliveryReportQuery, responses: { 200: '{ query, rows } (format=json), text/csv, or an XLSX workbook', ...ERR, 403: 'staff only' },
  },
  codReport: { summary: 'Cash-on-delivery reconciliation per courier: expected vs collected (staff)', tags: ['shop'], querystring: codQuery, responses: { 200: '{ items: CodReconciliation[] }', ...ERR, 403: 'staff only' } },
  orderAction: { summary: 'Move an order along its life cycle (review, ship, deliver, refuse, settle, return, exchange: staff; cancel)', tags: ['shop'], params: actionParams, body: actionBody, responses: { 200: 'Order', ...ERR, 403: 'staff only', 404: 'no such order', 409: 'SHOP_ERR_ILLEGAL_TRANSITION' } },
} satisfies Record<string, RouteDoc>;

/** Who did it, for the order history. */
export function actorOf(p: Principal | null): Actor {
  if (p === null) return 'anonymous';
  if (p.kind === 'user') return p.session.user.role === 'agent' ? `agent:${p.session.user.agentId ?? ''}` : `user:${p.session.user.username}`;
  return p.kind === 'token' ? 'token' : 'api';
}

/** Register the shop's routes on `app`. */
export function registerShopRoutes(app: FastifyInstance, deps: ShopApiDeps, kit: ShopRouteKit): void {
  const { parse, fail } = kit;
  const { store } = deps;
  const refused = (r: ShopRefusal): Error => fail(STATUS_OF[r.code], r.code, r.reason);
  const value = <T>(r: ShopResult<T>): T => {
    if (r.ok) return r.value;
    throw refused(r);
  };
  const scopeOf = (req: FastifyRequest): string | null => ApiAuth.agentScope(req.principal);
  const side = (req: FastifyRequest): OrderSide => (scopeOf(req) === null ? 'staff' : 'sales');
  /** An order the principal may see: an agent only its own (answered as 404, not 403: another's order numbers are not confirmed). */
  const ownOrder = async (req: FastifyRequest, id: string) => {
    const o = await store.getOrder(id);
    const scope = scopeOf(req);
    if (o === null || (scope !== null && o.agent !== scope)) throw fail(404, SHOP_ERRORS.notFound, `no order ${id}`);
    return o;
  };

  app.get('/api/v1/shop/products', { schema: ROUTES.products, config: { access: 'signedIn' } }, async (req) => {
    parse(ROUTES.products.querystring, req.query, 'query');
    return { items: await store.listProducts() };
  });

  app.get('/api/v1/shop/promotions', { schema: ROUTES.promotions, config: { access: 'signedIn' } }, async (req) => {
    const q = parse(promotionsQuery, req.query, 'query');
    const where = q.programme !== undefined ? { programme: q.programme, airing: q.airing ?? null } : {};
    return { items: await store.activePromotions(Date.now(), where) };
  });

  app.get('/api/v1/shop/customers', { schema: ROUTES.customerByNumber, config: { access: 'signedIn' } }, async (req) => {
    const q = parse(customerQuery, req.query, 'query');
    const c = await store.findByNumber(q.number);
    if (c === null) throw fail(404, SHOP_ERRORS.notFound, `no customer with number ${q.number}`);
    return c;
  });

  app.post('/api/v1/shop/customers', { schema: ROUTES.customerCreate, config: { access: 'signedIn' } }, async (req, reply) => {
    const b = parse(customerBody, req.body, 'body');
    const c = value(await store.createCustomer({ name: b.name, numbers: b.numbers, language: b.language, email: b.email }));
    if (b.address !== undefined) value(await store.addAddress(c.id, b.address, true));
    return reply.code(201).send(c);
  });

  app.get('/api/v1/shop/customers/:id/card', { schema: ROUTES.card, config: { access: 'signedIn' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    const card = await store.card(p.id);
    if (card === null) throw fail(404, SHOP_ERRORS.notFound, `no customer ${p.id}`);
    return card;
  });

  app.post('/api/v1/shop/customers/:id/notes', { schema: ROUTES.note, config: { access: 'signedIn' } }, async (req, reply) => {
    const p = parse(idParams, req.params, 'params');
    const b = parse(noteBody, req.body, 'body');
    return reply.code(201).send(value(await store.addNote(p.id, b.kind, b.text, actorOf(req.principal))));
  });

  app.post('/api/v1/shop/orders', { schema: ROUTES.orderCreate, config: { access: 'signedIn' } }, async (req, reply) => {
    const b = parse(orderBody, req.body, 'body');
    const scope = scopeOf(req);
    if (scope !== null && b.callId === undefined) throw fail(400, 'API_ERR_VALIDATION', 'body.callId: an agent enters orders for its calls');
    let programme: string | null = null;
    let airing: string | null = null;
    let agent: string | null = scope;
    if (b.callId !== undefined) {
      // The call in progress; after it, its stored record (CDR) or answered event.
      const live = deps.liveCall(b.callId);
      const stored = live === undefined ? await store.getCall(b.callId) : null;
      const answeredBy = live?.agent ?? stored?.agent ?? await store.answeringAgent(b.callId);
      if (live === undefined && stored === null && answeredBy === null) throw fail(404, SHOP_ERRORS.notFound, `no call ${b.callId}`);
      if (scope !== null && answeredBy !== scope) throw fail(403, 'API_ERR_FORBIDDEN', `call ${b.callId} is not yours`);
      programme = live?.programme ?? stored?.programme ?? null;
      airing = live?.airing ?? stored?.airing ?? null;
      agent = answeredBy;
    }
    const o = value(await store.createOrder({
      customerId: b.customerId, items: b.items, deliveryMethod: b.deliveryMethod, paymentMethod: b.paymentMethod,
      ...(b.address !== undefined ? { address: b.address } : {}), ...(b.addressId !== undefined ? { addressId: b.addressId } : {}),
      programme, airing, callId: b.callId ?? null, agent, invoiceTitle: b.invoiceTitle ?? null, specialRequests: b.specialRequests ?? null,
    }, actorOf(req.principal)));
    return reply.code(201).send(o);
  });

  app.get('/api/v1/shop/orders', { schema: ROUTES.orders, config: { access: 'signedIn' } }, async (req) => {
    const q = parse(ordersQuery, req.query, 'query');
    const scope = scopeOf(req);
    const items = await store.listOrders({
      ...(q.status !== undefined ? { status: q.status } : {}), ...(q.customerId !== undefined ? { customerId: q.customerId } : {}),
      ...(scope !== null ? { agent: scope } : {}), limit: q.limit + 1, offset: q.offset,
    });
    const hasMore = items.length > q.limit;
    return { items: hasMore ? items.slice(0, q.limit) : items, limit: q.limit, offset: q.offset, hasMore };
  });

  app.get('/api/v1/shop/orders/:id', { schema: ROUTES.order, config: { access: 'signedIn' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    return ownOrder(req, p.id);
  });

  app.get('/api/v1/shop/orders/:id/history', { schema: ROUTES.history, config: { access: 'signedIn' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    await ownOrder(req, p.id);
    return { items: await store.orderHistory(p.id) };
  });

  app.get('/api/v1/shop/orders/:id/notifications', { schema: ROUTES.notifications, config: { access: 'signedIn' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    await ownOrder(req, p.id);
    return { items: await store.notifications(p.id) };
  });

  app.post('/api/v1/shop/orders/:id/notify', { schema: ROUTES.notify, config: { access: 'signedIn' } }, async (req, reply) => {
    const p = parse(idParams, req.params, 'params');
    const b = parse(notifyBody, req.body, 'body');
    await ownOrder(req, p.id);
    const n = value(await store.requestNotification(p.id, b.channel));
    kit.audit?.record({ ...requestActor(req), action: 'shop.notify', target: p.id, detail: { channel: b.channel, notification: n.id, event: n.event } });
    return reply.code(202).send(n);
  });

  app.patch('/api/v1/shop/orders/:id', { schema: ROUTES.orderEdit, config: { access: 'signedIn' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    const { reason, version, ...edit } = parse(editBody, req.body, 'body');
    await ownOrder(req, p.id);
    return value(await store.editOrder(p.id, edit, actorOf(req.principal), side(req), reason ?? null, version));
  });

  app.get('/api/v1/shop/orders/:id/shipping-document', { schema: ROUTES.shippingDocument, config: { access: 'signedIn' } }, async (req, reply) => {
    const p = parse(idParams, req.params, 'params');
    if (side(req) !== 'staff') throw fail(403, 'API_ERR_FORBIDDEN', 'shipping documents are for staff');
    const order = await ownOrder(req, p.id);
    const [shipment] = await store.shipments(order.id);
    if (shipment === undefined) throw fail(404, SHOP_ERRORS.notFound, `order ${order.id} has not been shipped`);
    const courier = await store.getCourier(shipment.courierId);
    if (courier === null) throw fail(500, SHOP_ERRORS.config, `courier ${shipment.courierId} of waybill ${shipment.waybill} is gone`);
    if (deps.shipper === undefined || deps.shipper === null) throw fail(500, SHOP_ERRORS.config, 'crm.shipper (the sender on shipping documents) is not configured');
    try {
      const pdf = await renderShippingDocument(order, shipment, courier, { sender: deps.shipper, ...(deps.cjkFont !== undefined ? { fontPath: deps.cjkFont } : {}) });
      return reply.type('application/pdf').header('content-disposition', `inline; filename="${shipment.waybill}.pdf"`).send(pdf);
    } catch (err) {
      if (err instanceof ShopError) throw fail(STATUS_OF[err.code], err.code, err.message);
      throw err;
    }
  });

  app.post('/api/v1/shop/shipping/batch', { schema: ROUTES.shippingBatch, config: { access: 'signedIn' } }, async (req, reply) => {
    if (side(req) !== 'staff') throw fail(403, 'API_ERR_FORBIDDEN', 'batch printing is for staff');
    const b = parse(batchBody, req.body, 'body');
    // Refused before anything is recorded: no order is marked printed without its paper.
    if (deps.shipper === undefined || deps.shipper === null) throw fail(500, SHOP_ERRORS.config, 'crm.shipper (the sender on shipping documents) is not configured');
    const font = missingFont(deps.cjkFont);
    if (font !== null) throw fail(500, SHOP_ERRORS.font, font);
    const from = Date.parse(`${b.date}T00:00:00Z`) - b.utcOffsetMinutes * 60_000;
    const batch = value(await store.printBatch(b.courier, from, from + 86_400_000, actorOf(req.principal), deps.batchMaxOrders ?? BATCH_MAX_ORDERS));
    if (batch.pages.length === 0) throw fail(404, SHOP_ERRORS.notFound, `no reviewed order of ${b.date} for ${b.courier}`);
    kit.audit?.record({ ...requestActor(req), action: 'shop.batchPrint', target: b.courier, detail: { date: b.date, utcOffsetMinutes: b.utcOffsetMinutes, orders: batch.pages.length, reprints: batch.reprints } });
    const pdf = await renderShippingDocuments(batch.pages.map((p) => ({ ...p, courier: batch.courier })), { sender: deps.shipper, ...(deps.cjkFont !== undefined ? { fontPath: deps.cjkFont } : {}) },
      { title: `${b.courier} ${b.date}`, subject: `${batch.pages.length} orders` });
    return reply.type('application/pdf').header('content-disposition', `inline; filename="${b.courier}-${b.date}.pdf"`)
      .header('x-onair-batch-orders', String(batch.pages.length)).header('x-onair-batch-reprints', String(batch.reprints)).send(pdf);
  });

  app.post('/api/v1/shop/logistics/import', { schema: ROUTES.logisticsImport, config: { access: 'signedIn' }, bodyLimit: LOGISTICS_CSV_MAX_BYTES + 64 * 1024 }, async (req) => {
    if (side(req) !== 'staff') throw fail(403, 'API_ERR_FORBIDDEN', 'logistics imports are for staff');
    const b = parse(logisticsBody, req.body, 'body');
    const csv = parseLogisticsCsv(b.csv);
    if (!csv.ok) throw fail(400, SHOP_ERRORS.invalid, csv.reason);
    const out = value(await store.applyLogistics(csv.events, actorOf(req.principal)));
    return { ...out, errors: [...csv.errors, ...out.errors].sort((a, c) => a.line - c.line) };
  });

  // The courier's own JSON parser keeps the raw bytes: the signature is checked on them before any JSON is read.
  void app.register(async (hook) => {
    hook.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_MAX_BYTES }, (_req, body, done) => done(null, body));
    hook.post('/api/v1/shop/logistics/webhook/:courier', { schema: ROUTES.logisticsWebhook, config: { access: 'public' }, bodyLimit: WEBHOOK_MAX_BYTES }, async (req) => {
      const p = parse(courierParams, req.params, 'params');
      const secrets = deps.webhook?.secrets ?? {};
      const secret = Object.hasOwn(secrets, p.courier) ? secrets[p.courier] : undefined;
      if (secret === undefined) throw fail(401, SHOP_ERRORS.signature, `no webhook secret is configured for courier ${p.courier}`);
      if (!Buffer.isBuffer(req.body)) throw fail(415, 'API_ERR_VALIDATION', 'send the reports as application/json');
      const header = (name: string): string | undefined => {
        const v = req.headers[name];
        return typeof v === 'string' ? v : undefined;
      };
      const verdict = verifyWebhook(secret, header(WEBHOOK_SIGNATURE_HEADER), header(WEBHOOK_TIMESTAMP_HEADER), req.body, (deps.now ?? Date.now)(), deps.webhook?.toleranceSeconds ?? 300);
      if (!verdict.ok) throw fail(401, SHOP_ERRORS.signature, verdict.reason);
      let json: unknown;
      try {
        json = JSON.parse(req.body.toString('utf8'));
      } catch {
        throw fail(400, 'API_ERR_VALIDATION', 'body: not JSON');
      }
      const b = parse(webhookBody, json, 'body');
      const events: LogisticsEvent[] = [];
      const errors: { line: number; reason: string }[] = [];
      let inTransit = 0;
      for (const [i, e] of b.events.entries()) {
        const line = i + 1;
        const at = typeof e.at === 'number' ? e.at : parseLogisticsTime(e.at);
        if (at === null) {
          errors.push({ line, reason: 'at: ISO 8601 with a UTC offset, or epoch ms' });
          continue;
        }
        if (e.status !== 'in_transit') {
          events.push({ line, waybill: e.waybill, status: e.status, at, reason: e.reason ?? null, collectedFen: e.collectedFen ?? null });
          continue;
        }
        // In transit changes no status: acknowledged for a parcel of this courier, reported otherwise.
        const s = await store.shipmentByWaybill(e.waybill);
        if (s === null || s.courierId !== p.courier) errors.push({ line, reason: `no waybill ${e.waybill} of ${p.courier}` });
        else inTransit++;
      }
      const out = value(await store.applyLogistics(events, `courier:${p.courier}`, { courierId: p.courier, eventId: b.id }));
      return { applied: out.applied, duplicates: out.duplicates, inTransit, errors: [...errors, ...out.errors].sort((a, c) => a.line - c.line) };
    });
  });

  app.get('/api/v1/shop/reports/cod', { schema: ROUTES.codReport, config: { access: 'signedIn' } }, async (req) => {
    if (side(req) !== 'staff') throw fail(403, 'API_ERR_FORBIDDEN', 'reconciliation is for staff');
    const q = parse(codQuery, req.query, 'query');
    return { items: await store.codReconciliation(q.from, q.to) };
  });

  /** Answer a report as JSON, or its table as CSV or XLSX (engine/reports' writers: the same cells as the engine's reports). */
  const answer = async (reply: FastifyReply, format: 'json' | 'csv' | 'xlsx', name: string, query: unknown, rows: unknown[], table: () => ShopReportTable) => {
    if (format === 'json') return { query, rows };
    if (format === 'csv') return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(toCsv(table()));
    return reply.type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet').header('content-disposition', `attachment; filename="${name}.xlsx"`).send(await toXlsx(table()));
  };
  const media = (q: { programme?: string | undefined; airing?: string | undefined }): Pick<ShopReportFilter, 'programme' | 'airing'> => ({
    ...(q.programme !== undefined ? { programme: q.programme === '' ? null : q.programme } : {}), ...(q.airing !== undefined ? { airing: q.airing === '' ? null : q.airing } : {}),
  });

  app.get('/api/v1/shop/reports/orders', { schema: ROUTES.ordersReport, config: { access: 'signedIn' } }, async (req, reply) => {
    if (side(req) !== 'staff') throw fail(403, 'API_ERR_FORBIDDEN', 'reports are for staff');
    const q = parse(ordersReportQuery, req.query, 'query');
    const f: ShopReportFilter = { from: q.from, to: q.to, interval: q.interval, utcOffsetMinutes: q.utcOffsetMinutes, ...media(q) };
    const name = `onair-shop-orders-by-${q.by}-${new Date(q.from).toISOString().slice(0, 10)}`;
    if (q.by === 'product') {
      const rows = await ordersByProduct(store.db, f);
      return answer(reply, q.format, name, f, rows, () => productTable(rows));
    }
    // The engine's answered inbound calls per agent, over the same intervals and media source.
    const answered = deps.reports === undefined ? null : deps.reports.run({
      group: ['agent'], interval: q.interval, from: q.from, to: q.to, utcOffsetMinutes: q.utcOffsetMinutes,
      filter: { direction: 'inbound', ...media(q) },
    }, (deps.now ?? Date.now)()).map((r) => ({ start: r.start, agent: r.keys.agent ?? null, answered: r.figures.answered }));
    const rows = withAnswered(await ordersByAgent(store.db, f), answered);
    return answer(reply, q.format, name, f, rows, () => agentTable(rows));
  });

  app.get('/api/v1/shop/reports/delivery', { schema: ROUTES.deliveryReport, config: { access: 'signedIn' } }, async (req, reply) => {
    if (side(req) !== 'staff') throw fail(403, 'API_ERR_FORBIDDEN', 'reports are for staff');
    const q = parse(deliveryReportQuery, req.query, 'query');
    const f: ShopReportFilter = { from: q.from, to: q.to, interval: 'all', utcOffsetMinutes: 0, ...media(q) };
    const rows = await deliveryOutcomes(store.db, f, q.by);
    return answer(reply, q.format, `onair-shop-delivery-by-${q.by}-${new Date(q.from).toISOString().slice(0, 10)}`, f, rows, () => deliveryTable(rows, q.by));
  });

  app.post('/api/v1/shop/orders/:id/:action', { schema: ROUTES.orderAction, config: { access: 'signedIn' } }, async (req) => {
    const p = parse(actionParams, req.params, 'params');
    const b = parse(actionBody, req.body, 'body');
    // The sales side asking for a staff step is a permission matter (403), decided by the life-cycle's own table.
    if (!ACTION_SIDES[p.action].includes(side(req))) throw fail(403, 'API_ERR_FORBIDDEN', `your role may not ${p.action} an order`);
    await ownOrder(req, p.id);
    return value(await store.transition(p.id, p.action, actorOf(req.principal), side(req), b.reason ?? null, b.version));
  });
}
