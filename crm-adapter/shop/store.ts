/**
 * The shop's data-access layer: one set of Kysely queries over SQLite (better-sqlite3, the default:
 * a file of its own) or PostgreSQL (`pg`, by URL). Nothing here touches the engine's store tables.
 *
 * Every multi-row change is one transaction. Domain refusals (unknown SKU, out of stock, an illegal
 * status change) are {@link ShopResult}s: a refusal inside a transaction rolls it back and comes out
 * as `{ ok: false }`, never as an exception.
 */
import { randomUUID } from 'node:crypto';
import { Kysely, Migrator, PostgresDialect, sql, type Selectable, type Transaction } from 'kysely';
import { openDatabase, postgresPool, type Synchronous } from '../../engine/db/index.ts';
import type { Cdr } from '../contract.ts';
import { nextStatus, RESTOCKING_STATUSES, type OrderAction, type OrderSide, type OrderStatus } from './lifecycle.ts';
import { refuse, SHOP_ERRORS, ShopError, type ShopRefusal, type ShopResult } from './errors.ts';
import { shopMigrationProvider } from './migrations.ts';
import { FifoSqliteDialect } from './sqlite-fifo.ts';
import { isEmailAddress, isSmsNumber, NOTIFY_EVENTS, notifyLanguage, renderNotification, type NotifyEvent, type NotifyLanguage } from './templates.ts';
import type {
  CodReconciliation, LogisticsEvent, LogisticsOutcome, LogisticsStatus,
  Actor, Address, CallSummaryOfCustomer, Courier, CourierRule, CourierRulesTable, CouriersTable, DeliveryMethod, PaymentMethod, Shipment, ShipmentsTable, Customer, CustomerCard, CustomerPatch, CustomersTable, ItemRequest, NewCustomer, NewOrder, Note, NoteKind,
  Order, OrderEdit, OrderHistoryEntry, OrderItem, OrderItemsTable, OrdersTable, Product, ProductsTable, Promotion, PromotionsTable, ShopDatabase,
  StoredAddress, Notification, NotificationChannel, NotificationStatus, NotificationsTable,
} from './types.ts';

/** Where the shop keeps its data. */
export type ShopStoreConfig =
  | { kind: 'sqlite'; path: string; synchronous?: Synchronous }
  | { kind: 'postgres'; url: string; poolSize?: number };

/** Options of {@link ShopStore.open}. */
export interface ShopStoreOptions {
  /** Epoch ms (injected by tests). Default Date.now. */
  now?: () => number;
  /** Strikes at which a number is rejected. Default 3. */
  strikeThreshold?: number;
  /** PostgreSQL: an idle connection died (it is replaced on the next query). Default: nothing. */
  onConnectionError?: (err: Error) => void;
  /** Customer notifications written with each order step; absent: none. */
  notifications?: NotifyPlan;
  /** Every query the store runs, with its time in ms (Kysely's log): tests count a look-up's queries, the bench reports them. */
  onQuery?: (sql: string, ms: number) => void;
}

/** What the store writes as notifications at an order step (crm.notifications). */
export interface NotifyPlan {
  /** Channels to write for (those with a sender configured). */
  channels: { email: boolean; sms: boolean };
  /** Steps that notify. */
  events: ReadonlySet<NotifyEvent>;
  defaultLanguage: NotifyLanguage;
  shopName: string;
  /** Called after a transaction that wrote notifications committed (the worker's kick). */
  onQueued?: () => void;
}

/** A webhook delivery to record in the transaction of its reports: a second one with the same id is refused (SHOP_ERR_REPLAY). */
export interface WebhookReceipt {
  courierId: string;
  eventId: string;
}

/** Orders of one bucket, programme and airing (the engine's reports, engine/reports/orders.ts, join them with their calls). */
export interface OrdersInBucket {
  /** Bucket start, epoch ms (a multiple of the bucket width asked for). */
  bucket: number;
  programme: string | null;
  airing: string | null;
  orders: number;
  /** Total of the orders, fen. */
  valueFen: number;
}

/** A courier's batch of printed documents ({@link ShopStore.printBatch}), by order number. */
export interface PrintBatch {
  courier: Courier;
  /** Orders of the batch printed before (their waybill kept). */
  reprints: number;
  /** Each order with the waybill its document carries (a reservation until it ships: `shippedAt` is when it was reserved). */
  pages: { order: Order; shipment: Shipment }[];
}

/** Most units of one line (a typo of 1000 is refused, not shipped). */
export const MAX_QUANTITY = 99;
/** Most lines of one order. */
export const MAX_LINES = 50;
/** Entries of each list on the customer card. */
export const CARD_ENTRIES = 5;
/** Most orders of one printed batch: a larger day is printed per courier or in parts (the API answers 413). */
export const BATCH_MAX_ORDERS = 500;

/** Thrown inside a transaction to roll it back with a refusal. */
class Rollback extends Error {
  constructor(readonly refusal: ShopRefusal) {
    super(refusal.reason);
  }
}

function toCustomer(r: Selectable<CustomersTable>, numbers: string[]): Customer {
  return {
    id: r.id, name: r.name, language: r.language, vipLevel: r.vip_level, blacklisted: r.blacklisted === 1, strikes: r.strikes,
    lowCredit: r.low_credit === 1, preferredAgent: r.preferred_agent, email: r.email, numbers, mergedInto: r.merged_into, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

function toNotification(r: Selectable<NotificationsTable>): Notification {
  return {
    id: r.id, orderId: r.order_id, seq: r.seq, request: r.request, channel: r.channel, event: r.event, language: r.language, recipient: r.recipient, subject: r.subject,
    body: r.body, status: r.status, attempts: r.attempts, nextAttemptAt: Number(r.next_attempt_at), lastError: r.last_error, createdAt: Number(r.created_at),
    sentAt: r.sent_at === null ? null : Number(r.sent_at),
  };
}

function toProduct(r: Selectable<ProductsTable>): Product {
  return { sku: r.sku, nameZh: r.name_zh, nameEn: r.name_en, priceFen: r.price_fen, stock: r.stock, ivrZh: r.ivr_zh, ivrEn: r.ivr_en, active: r.active === 1 };
}

function toPromotion(r: Selectable<PromotionsTable>): Promotion {
  return {
    id: r.id, sku: r.sku, kind: r.kind, title: r.title, priceFen: r.price_fen, giftSku: r.gift_sku, programme: r.programme, airing: r.airing,
    startsAt: r.starts_at, endsAt: r.ends_at,
  };
}

function toItem(r: Selectable<OrderItemsTable>): OrderItem {
  return {
    line: r.line, sku: r.sku, name: r.name, quantity: r.quantity, listPriceFen: r.list_price_fen, unitPriceFen: r.unit_price_fen,
    promotionId: r.promotion_id, gift: r.gift === 1,
  };
}

function toOrder(r: Selectable<OrdersTable>, items: OrderItem[]): Order {
  return {
    id: r.id, customerId: r.customer_id, status: r.status, deliveryMethod: r.delivery_method, paymentMethod: r.payment_method,
    address: { recipient: r.recipient, phone: r.phone, region: r.region, city: r.city, line: r.line, postcode: r.postcode },
    programme: r.programme, airing: r.airing, callId: r.call_id, agent: r.agent, invoiceTitle: r.invoice_title,
    specialRequests: r.special_requests, totalFen: r.total_fen, version: r.version, createdAt: r.created_at, updatedAt: r.updated_at, items,
  };
}

/** The lines of `ids`' orders, by order, in line order. */
async function itemsOf(db: Kysely<ShopDatabase>, ids: readonly string[]): Promise<Map<string, OrderItem[]>> {
  const items = await db.selectFrom('shop_order_items').selectAll().where('order_id', 'in', [...ids]).orderBy('order_id').orderBy('line').execute();
  const by = new Map<string, OrderItem[]>();
  for (const i of items) {
    const list = by.get(i.order_id) ?? [];
    list.push(toItem(i));
    by.set(i.order_id, list);
  }
  return by;
}

function toCourier(r: Selectable<CouriersTable>): Courier {
  return { id: r.id, nameZh: r.name_zh, nameEn: r.name_en, layout: r.layout, waybillPrefix: r.waybill_prefix, cod: r.cod === 1, active: r.active === 1 };
}

function toRule(r: Selectable<CourierRulesTable>): CourierRule {
  return { id: r.id, priority: r.priority, courierId: r.courier_id, region: r.region, deliveryMethod: r.delivery_method as DeliveryMethod | '*' };
}

function toShipment(r: Selectable<ShipmentsTable>): Shipment {
  return { waybill: r.waybill, orderId: r.order_id, courierId: r.courier_id, codFen: r.cod_fen, shippedAt: r.shipped_at, actor: r.actor };
}

/**
 * The courier of the first rule (in priority order) whose region and delivery method match (`*`
 * matches any) and whose courier is active and, for cash on delivery, collects cash; null when
 * none does. Pure: the rules are data (`shop_courier_rules`).
 */
export function chooseCourier(
  rules: readonly CourierRule[], couriers: ReadonlyMap<string, Courier>,
  o: { region: string; deliveryMethod: DeliveryMethod; paymentMethod: PaymentMethod },
): Courier | null {
  for (const r of rules) {
    if (r.region !== '*' && r.region !== o.region) continue;
    if (r.deliveryMethod !== '*' && r.deliveryMethod !== o.deliveryMethod) continue;
    const c = couriers.get(r.courierId);
    if (c === undefined || !c.active || (o.paymentMethod === 'cod' && !c.cod)) continue;
    return c;
  }
  return null;
}

/** The life-cycle actions a courier's report means for an order in `status`, or null when the table allows none. */
export function logisticsActions(status: OrderStatus, report: LogisticsStatus): Exclude<OrderAction, 'edit'>[] | null {
  if (report === 'delivered') return status === 'shipped' ? ['deliver'] : null;
  if (report === 'refused') return status === 'shipped' ? ['refuse'] : null;
  // Goods back at the warehouse: a parcel still out was refused on the way.
  if (status === 'shipped') return ['refuse', 'return'];
  return status === 'refused' || status === 'delivered' || status === 'settled' ? ['return'] : null;
}

/** A promotion applies to an order of `programme`/`airing` at `now`. */
export function promotionApplies(p: Promotion, now: number, programme: string | null, airing: string | null): boolean {
  if (now < p.startsAt || now >= p.endsAt) return false;
  if (p.programme !== null && p.programme !== programme) return false;
  return p.airing === null || p.airing === airing;
}

/**
 * Price the requested lines: the lowest applicable price promotion sets each unit price (never
 * above the list price); every applicable gift promotion adds a free line of its gift product, one
 * per unit. Pure, so the API's preview and the order entry price the same way.
 */
export function priceLines(
  requests: readonly ItemRequest[], products: ReadonlyMap<string, Product>, promotions: readonly Promotion[],
  now: number, programme: string | null, airing: string | null, lang: 'zh' | 'en' = 'zh',
): ShopResult<OrderItem[]> {
  if (requests.length === 0) return refuse(SHOP_ERRORS.invalid, 'an order needs at least one item');
  if (requests.length > MAX_LINES) return refuse(SHOP_ERRORS.invalid, `at most ${MAX_LINES} lines`);
  const lines: OrderItem[] = [];
  const gifts: OrderItem[] = [];
  for (const req of requests) {
    const p = products.get(req.sku);
    if (p === undefined || !p.active) return refuse(SHOP_ERRORS.invalid, `no product ${req.sku} on sale`);
    if (!Number.isInteger(req.quantity) || req.quantity < 1 || req.quantity > MAX_QUANTITY) {
      return refuse(SHOP_ERRORS.invalid, `${req.sku}: quantity must be 1-${MAX_QUANTITY}`);
    }
    let unit = p.priceFen;
    let promotionId: string | null = null;
    for (const promo of promotions) {
      if (promo.sku !== p.sku || !promotionApplies(promo, now, programme, airing)) continue;
      if (promo.kind === 'price' && promo.priceFen !== null && promo.priceFen < unit) {
        unit = promo.priceFen;
        promotionId = promo.id;
      } else if (promo.kind === 'gift' && promo.giftSku !== null) {
        const g = products.get(promo.giftSku);
        if (g === undefined) continue;
        gifts.push({ line: 0, sku: g.sku, name: lang === 'en' ? g.nameEn : g.nameZh, quantity: req.quantity, listPriceFen: g.priceFen, unitPriceFen: 0, promotionId: promo.id, gift: true });
      }
    }
    lines.push({ line: 0, sku: p.sku, name: lang === 'en' ? p.nameEn : p.nameZh, quantity: req.quantity, listPriceFen: p.priceFen, unitPriceFen: unit, promotionId, gift: false });
  }
  return { ok: true, value: [...lines, ...gifts].map((l, i) => ({ ...l, line: i + 1 })) };
}

/** Sum of an order's lines (fen). */
export function orderTotal(items: readonly OrderItem[]): number {
  let t = 0;
  for (const i of items) t += i.unitPriceFen * i.quantity;
  return t;
}

/** `SO` + the UTC date + a 6-digit sequence that never repeats (the counter is not reset daily). */
export function orderNumber(at: number, seq: number): string {
  const d = new Date(at);
  const ymd = `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
  return `SO${ymd}${String(seq).padStart(6, '0')}`;
}

/** The shop's data; see the module comment. */
export class ShopStore {
  readonly kind: ShopStoreConfig['kind'];
  readonly db: Kysely<ShopDatabase>;
  readonly strikeThreshold: number;
  readonly #now: () => number;
  readonly #notify: NotifyPlan | undefined;
  #closed = false;

  private constructor(kind: ShopStoreConfig['kind'], db: Kysely<ShopDatabase>, opts: ShopStoreOptions) {
    this.kind = kind;
    this.db = db;
    this.#now = opts.now ?? Date.now;
    this.#notify = opts.notifications;
    this.strikeThreshold = opts.strikeThreshold ?? 3;
  }

  /** Open the store and apply pending migrations. */
  static async open(config: ShopStoreConfig, opts: ShopStoreOptions = {}): Promise<ShopStore> {
    const dialect = config.kind === 'sqlite'
      // engine/db's opener: WAL, the chosen durability, foreign keys on, its folder created.
      ? new FifoSqliteDialect({ database: openDatabase({ path: config.path, synchronous: config.synchronous }) as unknown as ConstructorParameters<typeof FifoSqliteDialect>[0]['database'] })
      : new PostgresDialect({ pool: postgresPool(config.url, config.poolSize ?? 10, opts.onConnectionError) });
    const onQuery = opts.onQuery;
    const db = new Kysely<ShopDatabase>({
      dialect, ...(onQuery !== undefined ? { log: (e) => { if (e.level === 'query') onQuery(e.query.sql, e.queryDurationMillis); } } : {}),
    });
    const store = new ShopStore(config.kind, db, opts);
    try {
      await store.migrate();
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return store;
  }

  /** Apply pending migrations; returns the names applied. */
  async migrate(): Promise<string[]> {
    const migrator = new Migrator({
      db: this.db as unknown as Kysely<unknown>, provider: shopMigrationProvider,
      migrationTableName: 'shop_migrations', migrationLockTableName: 'shop_migrations_lock',
    });
    const r = await migrator.migrateToLatest();
    if (r.error !== undefined) throw new ShopError(SHOP_ERRORS.config, `migration failed: ${(r.error as Error).message ?? String(r.error)}`);
    return (r.results ?? []).filter((m) => m.status === 'Success').map((m) => m.migrationName);
  }

  /** Close the connection (pool). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.db.destroy();
  }

  /** Run `fn` in a transaction; a {@link Rollback} thrown inside becomes the refusal. */
  async #tx<T>(fn: (trx: Transaction<ShopDatabase>) => Promise<T>): Promise<ShopResult<T>> {
    try {
      return { ok: true, value: await this.db.transaction().execute(fn) };
    } catch (err) {
      if (err instanceof Rollback) return err.refusal;
      throw err;
    }
  }

  // ---------------------------------------------------------------- customers

  /** Create a customer with its numbers. Refused when a number belongs to someone already. */
  async createCustomer(c: NewCustomer): Promise<ShopResult<Customer>> {
    if (c.numbers.length === 0) return refuse(SHOP_ERRORS.invalid, 'a customer needs at least one number');
    const now = this.#now();
    const id = c.id ?? `C${randomUUID()}`;
    const r = await this.#tx(async (trx) => {
      const taken = await trx.selectFrom('shop_customer_numbers').select('number').where('number', 'in', c.numbers).executeTakeFirst();
      if (taken !== undefined) throw new Rollback(refuse(SHOP_ERRORS.numberTaken, `${taken.number} belongs to another customer`));
      await trx.insertInto('shop_customers').values({
        id, name: c.name ?? null, language: c.language ?? null, vip_level: c.vipLevel ?? 0, blacklisted: c.blacklisted === true ? 1 : 0,
        strikes: c.strikes ?? 0, low_credit: c.lowCredit === true ? 1 : 0, preferred_agent: c.preferredAgent ?? null, email: c.email ?? null, merged_into: null,
        created_at: now, updated_at: now,
      }).execute();
      await trx.insertInto('shop_customer_numbers').values([...new Set(c.numbers)].map((number) => ({ number, customer_id: id, created_at: now }))).execute();
    });
    if (!r.ok) return r;
    return { ok: true, value: (await this.getCustomer(id))! };
  }

  /** A customer by id, or null. */
  async getCustomer(id: string): Promise<Customer | null> {
    const row = await this.db.selectFrom('shop_customers').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return null;
    const numbers = await this.db.selectFrom('shop_customer_numbers').select('number').where('customer_id', '=', id).orderBy('created_at').orderBy('number').execute();
    return toCustomer(row, numbers.map((n) => n.number));
  }

  /**
   * The customer one of whose numbers is `number` (following a merge to the survivor), or null.
   * One query (the look-up's first, at every call's arrival): the number's owner, its survivor and
   * the survivor's numbers, a row per number.
   */
  async findByNumber(number: string): Promise<Customer | null> {
    const r = await sql<Selectable<CustomersTable> & { n2_number: string | null }>`
      SELECT c.*, n2.number AS n2_number
      FROM shop_customer_numbers n
      JOIN shop_customers c0 ON c0.id = n.customer_id
      JOIN shop_customers c ON c.id = coalesce(c0.merged_into, c0.id)
      LEFT JOIN shop_customer_numbers n2 ON n2.customer_id = c.id
      WHERE n.number = ${number}
      ORDER BY n2.created_at, n2.number`.execute(this.db);
    const first = r.rows[0];
    if (first === undefined) return null;
    const { n2_number: _n, ...row } = first;
    return toCustomer({ ...row, created_at: Number(row.created_at), updated_at: Number(row.updated_at) }, r.rows.map((x) => x.n2_number).filter((x): x is string => x !== null));
  }

  /** Give a customer another number. */
  async addNumber(customerId: string, number: string): Promise<ShopResult<Customer>> {
    const r = await this.#tx(async (trx) => {
      const owner = await trx.selectFrom('shop_customer_numbers').select('customer_id').where('number', '=', number).executeTakeFirst();
      if (owner !== undefined && owner.customer_id !== customerId) throw new Rollback(refuse(SHOP_ERRORS.numberTaken, `${number} belongs to another customer`));
      if (owner !== undefined) return;
      if (await trx.selectFrom('shop_customers').select('id').where('id', '=', customerId).executeTakeFirst() === undefined) {
        throw new Rollback(refuse(SHOP_ERRORS.notFound, `no customer ${customerId}`));
      }
      await trx.insertInto('shop_customer_numbers').values({ number, customer_id: customerId, created_at: this.#now() }).execute();
    });
    return r.ok ? { ok: true, value: (await this.getCustomer(customerId))! } : r;
  }

  /** Change a customer's flags and preferences. */
  async updateCustomer(id: string, patch: CustomerPatch): Promise<ShopResult<Customer>> {
    const set: Partial<CustomersTable> = { updated_at: this.#now() };
    if (patch.name !== undefined) set.name = patch.name;
    if (patch.language !== undefined) set.language = patch.language;
    if (patch.vipLevel !== undefined) set.vip_level = patch.vipLevel;
    if (patch.blacklisted !== undefined) set.blacklisted = patch.blacklisted ? 1 : 0;
    if (patch.lowCredit !== undefined) set.low_credit = patch.lowCredit ? 1 : 0;
    if (patch.preferredAgent !== undefined) set.preferred_agent = patch.preferredAgent;
    if (patch.email !== undefined) set.email = patch.email;
    const r = await this.db.updateTable('shop_customers').set(set).where('id', '=', id).executeTakeFirst();
    if (r.numUpdatedRows === 0n) return refuse(SHOP_ERRORS.notFound, `no customer ${id}`);
    return { ok: true, value: (await this.getCustomer(id))! };
  }

  /**
   * Flag a number once (a prank call, say). A number no customer has gets a bare customer of its
   * own, so that its strikes are remembered. Returns the count and whether it is now rejected.
   */
  async addStrike(number: string): Promise<{ customerId: string; strikes: number; blacklisted: boolean }> {
    let c = await this.findByNumber(number);
    if (c === null) {
      const made = await this.createCustomer({ numbers: [number] });
      c = made.ok ? made.value : await this.findByNumber(number);
      if (c === null) throw new ShopError(SHOP_ERRORS.conflict, `could not record a strike for ${number}`);
    }
    const row = await this.db.updateTable('shop_customers').set({ strikes: sql`strikes + 1`, updated_at: this.#now() })
      .where('id', '=', c.id).returning(['strikes', 'blacklisted']).executeTakeFirstOrThrow();
    return { customerId: c.id, strikes: row.strikes, blacklisted: row.blacklisted === 1 || row.strikes >= this.strikeThreshold };
  }

  /**
   * Merge duplicate `fromId` into `intoId`: numbers, addresses, notes, orders and calls move to the
   * survivor; the duplicate stays as a tombstone pointing at it (`mergedInto`), so old references
   * resolve. VIP level and strikes keep the higher of the two; a blacklist or low-credit flag on
   * either is kept.
   */
  async mergeCustomers(fromId: string, intoId: string, actor: Actor): Promise<ShopResult<Customer>> {
    if (fromId === intoId) return refuse(SHOP_ERRORS.invalid, 'cannot merge a customer into itself');
    const now = this.#now();
    const r = await this.#tx(async (trx) => {
      const [a, b] = await Promise.all([
        trx.selectFrom('shop_customers').selectAll().where('id', '=', fromId).executeTakeFirst(),
        trx.selectFrom('shop_customers').selectAll().where('id', '=', intoId).executeTakeFirst(),
      ]);
      if (a === undefined || b === undefined) throw new Rollback(refuse(SHOP_ERRORS.notFound, `no customer ${a === undefined ? fromId : intoId}`));
      if (a.merged_into !== null || b.merged_into !== null) throw new Rollback(refuse(SHOP_ERRORS.invalid, 'one of them was merged already'));
      for (const table of ['shop_customer_numbers', 'shop_addresses', 'shop_notes', 'shop_orders', 'shop_calls'] as const) {
        await trx.updateTable(table).set({ customer_id: intoId }).where('customer_id', '=', fromId).execute();
      }
      await trx.updateTable('shop_customers').set({
        vip_level: Math.max(a.vip_level, b.vip_level), strikes: Math.max(a.strikes, b.strikes), blacklisted: a.blacklisted | b.blacklisted,
        low_credit: a.low_credit | b.low_credit, name: b.name ?? a.name, language: b.language ?? a.language,
        preferred_agent: b.preferred_agent ?? a.preferred_agent, email: b.email ?? a.email, updated_at: now,
      }).where('id', '=', intoId).execute();
      await trx.updateTable('shop_customers').set({ merged_into: intoId, updated_at: now }).where('id', '=', fromId).execute();
      await trx.insertInto('shop_notes').values({ id: `N${randomUUID()}`, customer_id: intoId, kind: 'note', text: `merged ${fromId} into this customer`, open: 0, author: actor, created_at: now }).execute();
    });
    return r.ok ? { ok: true, value: (await this.getCustomer(intoId))! } : r;
  }

  /** Add an address to a customer's book (`isDefault` makes it the default). */
  async addAddress(customerId: string, a: Address, isDefault = false): Promise<ShopResult<StoredAddress>> {
    const now = this.#now();
    const id = `A${randomUUID()}`;
    const r = await this.#tx(async (trx) => {
      if (await trx.selectFrom('shop_customers').select('id').where('id', '=', customerId).executeTakeFirst() === undefined) {
        throw new Rollback(refuse(SHOP_ERRORS.notFound, `no customer ${customerId}`));
      }
      const first = await trx.selectFrom('shop_addresses').select('id').where('customer_id', '=', customerId).executeTakeFirst() === undefined;
      if (isDefault) await trx.updateTable('shop_addresses').set({ is_default: 0 }).where('customer_id', '=', customerId).execute();
      await trx.insertInto('shop_addresses').values({
        id, customer_id: customerId, recipient: a.recipient, phone: a.phone, region: a.region, city: a.city, line: a.line,
        postcode: a.postcode, is_default: isDefault || first ? 1 : 0, created_at: now,
      }).execute();
      return { ...a, id, isDefault: isDefault || first, createdAt: now };
    });
    return r;
  }

  /** A customer's addresses, the default first. */
  async addresses(customerId: string): Promise<StoredAddress[]> {
    const rows = await this.db.selectFrom('shop_addresses').selectAll().where('customer_id', '=', customerId)
      .orderBy('is_default', 'desc').orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({
      id: r.id, recipient: r.recipient, phone: r.phone, region: r.region, city: r.city, line: r.line, postcode: r.postcode,
      isDefault: r.is_default === 1, createdAt: r.created_at,
    }));
  }

  /** Add a note or an (open) complaint. */
  async addNote(customerId: string, kind: NoteKind, text: string, author: Actor): Promise<ShopResult<Note>> {
    const now = this.#now();
    const note: Note = { id: `N${randomUUID()}`, kind, text, open: kind === 'complaint', author, createdAt: now };
    return this.#tx(async (trx) => {
      if (await trx.selectFrom('shop_customers').select('id').where('id', '=', customerId).executeTakeFirst() === undefined) {
        throw new Rollback(refuse(SHOP_ERRORS.notFound, `no customer ${customerId}`));
      }
      await trx.insertInto('shop_notes').values({ id: note.id, customer_id: customerId, kind, text, open: note.open ? 1 : 0, author, created_at: now }).execute();
      return note;
    });
  }

  /** Close an open complaint. */
  async closeComplaint(noteId: string): Promise<ShopResult<void>> {
    const r = await this.db.updateTable('shop_notes').set({ open: 0 }).where('id', '=', noteId).where('kind', '=', 'complaint').executeTakeFirst();
    return r.numUpdatedRows === 0n ? refuse(SHOP_ERRORS.notFound, `no complaint ${noteId}`) : { ok: true, value: undefined };
  }

  /** The newest notes of a customer (`kind` filters; `openOnly` for open complaints). */
  async notes(customerId: string, opts: { kind?: NoteKind; openOnly?: boolean; limit?: number } = {}): Promise<Note[]> {
    let q = this.db.selectFrom('shop_notes').selectAll().where('customer_id', '=', customerId);
    if (opts.kind !== undefined) q = q.where('kind', '=', opts.kind);
    if (opts.openOnly === true) q = q.where('open', '=', 1);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id').limit(opts.limit ?? 100).execute();
    return rows.map((r) => ({ id: r.id, kind: r.kind, text: r.text, open: r.open === 1, author: r.author, createdAt: r.created_at }));
  }

  // ---------------------------------------------------------------- catalog

  /** Insert or replace products. */
  async upsertProducts(products: readonly Product[]): Promise<void> {
    if (products.length === 0) return;
    const now = this.#now();
    await this.db.insertInto('shop_products').values(products.map((p) => ({
      sku: p.sku, name_zh: p.nameZh, name_en: p.nameEn, price_fen: p.priceFen, stock: p.stock, ivr_zh: p.ivrZh, ivr_en: p.ivrEn,
      active: p.active ? 1 : 0, updated_at: now,
    }))).onConflict((oc) => oc.column('sku').doUpdateSet((eb) => ({
      name_zh: eb.ref('excluded.name_zh'), name_en: eb.ref('excluded.name_en'), price_fen: eb.ref('excluded.price_fen'),
      stock: eb.ref('excluded.stock'), ivr_zh: eb.ref('excluded.ivr_zh'), ivr_en: eb.ref('excluded.ivr_en'),
      active: eb.ref('excluded.active'), updated_at: eb.ref('excluded.updated_at'),
    }))).execute();
  }

  /** A product, or null. */
  async getProduct(sku: string): Promise<Product | null> {
    const r = await this.db.selectFrom('shop_products').selectAll().where('sku', '=', sku).executeTakeFirst();
    return r === undefined ? null : toProduct(r);
  }

  /** Products by SKU (active only unless `all`). */
  async listProducts(all = false): Promise<Product[]> {
    let q = this.db.selectFrom('shop_products').selectAll();
    if (!all) q = q.where('active', '=', 1);
    return (await q.orderBy('sku').execute()).map(toProduct);
  }

  /** Add a promotion (a price promotion needs `priceFen`, a gift promotion `giftSku`). */
  async addPromotion(p: Omit<Promotion, 'id'> & { id?: string }): Promise<ShopResult<Promotion>> {
    if (p.endsAt <= p.startsAt) return refuse(SHOP_ERRORS.invalid, 'a promotion must end after it starts');
    if (p.kind === 'price' && (p.priceFen === null || p.priceFen < 0)) return refuse(SHOP_ERRORS.invalid, 'a price promotion needs priceFen');
    if (p.kind === 'gift' && p.giftSku === null) return refuse(SHOP_ERRORS.invalid, 'a gift promotion needs giftSku');
    const promo: Promotion = { ...p, id: p.id ?? `P${randomUUID()}`, priceFen: p.kind === 'price' ? p.priceFen : null, giftSku: p.kind === 'gift' ? p.giftSku : null };
    for (const sku of [promo.sku, promo.giftSku]) {
      if (sku !== null && await this.getProduct(sku) === null) return refuse(SHOP_ERRORS.notFound, `no product ${sku}`);
    }
    await this.db.insertInto('shop_promotions').values({
      id: promo.id, sku: promo.sku, kind: promo.kind, title: promo.title, price_fen: promo.priceFen, gift_sku: promo.giftSku,
      programme: promo.programme, airing: promo.airing, starts_at: promo.startsAt, ends_at: promo.endsAt, created_at: this.#now(),
    }).execute();
    return { ok: true, value: promo };
  }

  /** Promotions valid at `now` (for an order of `programme`/`airing` when given), by SKU. */
  async activePromotions(now: number, where: { skus?: readonly string[]; programme?: string | null; airing?: string | null } = {}): Promise<Promotion[]> {
    let q = this.db.selectFrom('shop_promotions').selectAll().where('starts_at', '<=', now).where('ends_at', '>', now);
    if (where.skus !== undefined) {
      if (where.skus.length === 0) return [];
      q = q.where('sku', 'in', [...where.skus]);
    }
    const rows = (await q.orderBy('sku').orderBy('id').execute()).map(toPromotion);
    return 'programme' in where ? rows.filter((p) => promotionApplies(p, now, where.programme ?? null, where.airing ?? null)) : rows;
  }

  // ---------------------------------------------------------------- orders

  /** Products and promotions to price `requests` with (inside a transaction). */
  async #priceIn(trx: Transaction<ShopDatabase>, requests: readonly ItemRequest[], now: number, programme: string | null, airing: string | null): Promise<OrderItem[]> {
    const skus = [...new Set(requests.map((r) => r.sku))];
    const promos = skus.length === 0 ? [] : (await trx.selectFrom('shop_promotions').selectAll().where('sku', 'in', skus)
      .where('starts_at', '<=', now).where('ends_at', '>', now).orderBy('id').execute()).map(toPromotion);
    const all = [...new Set([...skus, ...promos.map((p) => p.giftSku).filter((s): s is string => s !== null)])];
    const products = all.length === 0 ? [] : await trx.selectFrom('shop_products').selectAll().where('sku', 'in', all).execute();
    const priced = priceLines(requests, new Map(products.map((p) => [p.sku, toProduct(p)])), promos, now, programme, airing);
    if (!priced.ok) throw new Rollback(priced);
    return priced.value;
  }

  /** Take the items' units out of stock; a line short of stock rolls the transaction back. */
  async #takeStock(trx: Transaction<ShopDatabase>, items: readonly OrderItem[]): Promise<void> {
    for (const i of items) {
      const r = await trx.updateTable('shop_products').set({ stock: sql`stock - ${i.quantity}` })
        .where('sku', '=', i.sku).where('stock', '>=', i.quantity).executeTakeFirst();
      if (r.numUpdatedRows === 0n) throw new Rollback(refuse(SHOP_ERRORS.outOfStock, `not enough ${i.sku} in stock for ${i.quantity}`));
    }
  }

  async #insertItems(trx: Transaction<ShopDatabase>, orderId: string, items: readonly OrderItem[]): Promise<void> {
    await trx.insertInto('shop_order_items').values(items.map((i) => ({
      order_id: orderId, line: i.line, sku: i.sku, name: i.name, quantity: i.quantity, list_price_fen: i.listPriceFen,
      unit_price_fen: i.unitPriceFen, promotion_id: i.promotionId, gift: i.gift ? 1 : 0,
    }))).execute();
  }

  async #putBackStock(trx: Transaction<ShopDatabase>, orderId: string): Promise<void> {
    const items = await trx.selectFrom('shop_order_items').select(['sku', 'quantity']).where('order_id', '=', orderId).execute();
    for (const i of items) await trx.updateTable('shop_products').set({ stock: sql`stock + ${i.quantity}` }).where('sku', '=', i.sku).execute();
  }

  /** Write a history entry and the customer's notifications of that step (same transaction); returns its seq. */
  async #history(trx: Transaction<ShopDatabase>, orderId: string, e: Omit<OrderHistoryEntry, 'seq'>): Promise<number> {
    const last = await trx.selectFrom('shop_order_history').select((eb) => eb.fn.max('seq').as('seq')).where('order_id', '=', orderId).executeTakeFirst();
    const seq = Number(last?.seq ?? 0) + 1;
    await trx.insertInto('shop_order_history').values({
      order_id: orderId, seq, action: e.action, from_status: e.from, to_status: e.to, actor: e.actor, reason: e.reason, at: e.at,
    }).execute();
    // A print is no step of the order's the customer hears about.
    if (e.action !== 'edit' && e.action !== 'print') await this.#queueNotifications(trx, orderId, e.action, seq, e.at);
    return seq;
  }

  /**
   * The notifications of an order step, rendered now from the order as the step left it (its
   * lines, total, latest shipment) in the customer's language, one per configured channel: an
   * e-mail to the customer's address, an SMS to the customer's first number. A recipient that is
   * not a valid address or number is recorded `failed` at once (the operator sees why), never sent.
   */
  async #queueNotifications(trx: Transaction<ShopDatabase>, orderId: string, event: NotifyEvent, seq: number, now: number): Promise<void> {
    const plan = this.#notify;
    if (plan === undefined || !plan.events.has(event) || (!plan.channels.email && !plan.channels.sms)) return;
    const rows = await this.#notificationRows(trx, plan, orderId, event, seq, 0, now, plan.channels, null);
    if (rows.length > 0) await trx.insertInto('shop_notifications').values(rows).execute();
  }

  /** The rows of one step's (or request's) notifications for `channels`; `smsTo` replaces the customer's first number. */
  async #notificationRows(trx: Transaction<ShopDatabase>, plan: NotifyPlan, orderId: string, event: NotifyEvent, seq: number, request: number, now: number,
    channels: { email: boolean; sms: boolean }, smsTo: string | null): Promise<NotificationsTable[]> {
    const o = await trx.selectFrom('shop_orders').select(['customer_id', 'total_fen']).where('id', '=', orderId).executeTakeFirstOrThrow();
    const c = await trx.selectFrom('shop_customers').select(['name', 'language', 'email']).where('id', '=', o.customer_id).executeTakeFirstOrThrow();
    const lang = notifyLanguage(c.language, plan.defaultLanguage);
    const items = await trx.selectFrom('shop_order_items as i').leftJoin('shop_products as p', 'p.sku', 'i.sku')
      .select(['i.name', 'p.name_en', 'i.quantity', 'i.gift', 'i.unit_price_fen']).where('i.order_id', '=', orderId).orderBy('i.line').execute();
    const ship = await trx.selectFrom('shop_shipments as s').innerJoin('shop_couriers as k', 'k.id', 's.courier_id').select(['s.waybill', 'k.name_zh', 'k.name_en'])
      .where('s.order_id', '=', orderId).orderBy('s.shipped_at', 'desc').orderBy('s.waybill', 'desc').executeTakeFirst();
    const text = renderNotification(event, lang, {
      shop: plan.shopName, name: c.name, order: orderId, totalFen: o.total_fen,
      items: items.map((i) => ({ name: lang === 'en' && i.name_en !== null ? i.name_en : i.name, quantity: i.quantity, gift: i.gift === 1, unitPriceFen: i.unit_price_fen })),
      courier: ship === undefined ? null : lang === 'en' ? ship.name_en : ship.name_zh, waybill: ship?.waybill ?? null,
    });
    const rows: NotificationsTable[] = [];
    const row = (channel: NotificationChannel, recipient: string, valid: boolean, subject: string | null, body: string): NotificationsTable => ({
      id: `M${randomUUID()}`, order_id: orderId, seq, request, channel, event, language: lang, recipient: recipient.slice(0, 254), subject, body,
      status: valid ? 'pending' : 'failed', attempts: 0, next_attempt_at: now, last_error: valid ? null : `not a valid ${channel === 'email' ? 'e-mail address' : 'SMS number'}`,
      created_at: now, sent_at: null,
    });
    if (channels.email && c.email !== null) rows.push(row('email', c.email, isEmailAddress(c.email), text.subject, text.email));
    if (channels.sms) {
      const n = smsTo ?? (await trx.selectFrom('shop_customer_numbers').select('number').where('customer_id', '=', o.customer_id).orderBy('created_at').orderBy('number').executeTakeFirst())?.number;
      if (n !== undefined) rows.push(row('sms', n, isSmsNumber(n), null, text.sms));
    }
    return rows;
  }

  /**
   * A re-send of the order's current status on request (docs/shop.md, Notifications on request):
   * a notification of the order's last notifying step (its template, rendered now from the order
   * as it is, in the customer's language) for `channel`, delivered by the worker after that
   * step's own notification and any earlier request of it. The channel must be configured; the
   * step need not be in crm.notifications' events (the customer asked). `smsTo` (the IVR: the
   * order's delivery phone the privacy rule allowed) replaces the customer's first number.
   * Refused, with nothing written: no such order (SHOP_ERR_NOT_FOUND); the channel not
   * configured, or no valid address or number to send to (SHOP_ERR_NO_CHANNEL: a request the
   * worker could only fail is not taken).
   */
  async requestNotification(orderId: string, channel: NotificationChannel, smsTo: string | null = null): Promise<ShopResult<Notification>> {
    const plan = this.#notify;
    if (plan === undefined || !plan.channels[channel]) return refuse(SHOP_ERRORS.noChannel, `${channel} notifications are not configured`);
    const now = this.#now();
    const r = await this.#tx(async (trx) => {
      const step = await trx.selectFrom('shop_order_history').select(['seq', 'action']).where('order_id', '=', orderId)
        .where('action', 'in', [...NOTIFY_EVENTS]).orderBy('seq', 'desc').executeTakeFirst();
      if (step === undefined) throw new Rollback(refuse(SHOP_ERRORS.notFound, `no order ${orderId}`));
      const request = await this.#nextSeq(trx, 'notification-request');
      const [row] = await this.#notificationRows(trx, plan, orderId, step.action as NotifyEvent, step.seq, request, now, { email: channel === 'email', sms: channel === 'sms' }, smsTo);
      const what = channel === 'email' ? 'e-mail address' : 'SMS number';
      if (row === undefined) throw new Rollback(refuse(SHOP_ERRORS.noChannel, `the customer of ${orderId} has no ${what}`));
      if (row.status !== 'pending') throw new Rollback(refuse(SHOP_ERRORS.noChannel, `${row.recipient} is not a valid ${what}`));
      await trx.insertInto('shop_notifications').values(row).execute();
      return toNotification(row);
    });
    if (r.ok) this.#queued();
    return r;
  }

  /** Tell the worker (after a commit) that a step may have written notifications. */
  #queued(): void {
    this.#notify?.onQueued?.();
  }

  // ---------------------------------------------------------------- notifications

  /**
   * Pending notifications due at `now`, oldest first: only the earliest pending one of each order
   * and channel by (step, request) (a later one waits for it, so a customer never reads "delivered"
   * before "shipped", nor a re-send before the step's own message).
   */
  async dueNotifications(now: number, limit: number): Promise<Notification[]> {
    const rows = await this.db.selectFrom('shop_notifications as n').selectAll('n')
      .where('n.status', '=', 'pending').where('n.next_attempt_at', '<=', now)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('shop_notifications as p').select('p.id')
        .whereRef('p.order_id', '=', 'n.order_id').whereRef('p.channel', '=', 'n.channel').where('p.status', '=', 'pending')
        .where(({ or, and, eb }) => or([eb('p.seq', '<', eb.ref('n.seq')), and([eb('p.seq', '=', eb.ref('n.seq')), eb('p.request', '<', eb.ref('n.request'))])])))))
      .orderBy('n.next_attempt_at').orderBy('n.order_id').orderBy('n.seq').orderBy('n.request').orderBy('n.channel').limit(limit).execute();
    return rows.map(toNotification);
  }

  /** Mark a notification delivered. */
  async markNotificationSent(id: string, now: number): Promise<void> {
    await this.db.updateTable('shop_notifications').set({ status: 'sent', attempts: sql`attempts + 1`, sent_at: now, last_error: null }).where('id', '=', id).execute();
  }

  /** Record a failed attempt: tried again at `nextAttemptAt`, or failed for good when null. */
  async markNotificationFailed(id: string, attempts: number, nextAttemptAt: number | null, error: string): Promise<void> {
    await this.db.updateTable('shop_notifications').set({
      attempts, last_error: error, ...(nextAttemptAt === null ? { status: 'failed' as const } : { next_attempt_at: nextAttemptAt }),
    }).where('id', '=', id).execute();
  }

  /** An order's notifications, in step order (then requests in order; e-mail before SMS within a step or request). */
  async notifications(orderId: string): Promise<Notification[]> {
    const rows = await this.db.selectFrom('shop_notifications').selectAll().where('order_id', '=', orderId).orderBy('seq').orderBy('request').orderBy('channel').execute();
    return rows.map(toNotification);
  }

  /** Pending and failed notifications by channel (the metrics' gauge; sent ones are counted by the worker, not re-counted at every scrape). */
  async notificationCounts(): Promise<{ channel: NotificationChannel; status: Exclude<NotificationStatus, 'sent'>; n: number }[]> {
    const rows = await this.db.selectFrom('shop_notifications').select((eb) => ['channel', 'status', eb.fn.countAll<number>().as('n')])
      .where('status', 'in', ['pending', 'failed']).groupBy(['channel', 'status']).orderBy('channel').orderBy('status').execute();
    return rows.map((r) => ({ channel: r.channel, status: r.status as Exclude<NotificationStatus, 'sent'>, n: Number(r.n) }));
  }

  async #nextOrderSeq(trx: Transaction<ShopDatabase>): Promise<number> {
    return this.#nextSeq(trx, 'order');
  }

  async #nextSeq(trx: Transaction<ShopDatabase>, name: string): Promise<number> {
    const r = await trx.insertInto('shop_counters').values({ name, value: 1 })
      .onConflict((oc) => oc.column('name').doUpdateSet({ value: sql`shop_counters.value + 1` }))
      .returning('value').executeTakeFirstOrThrow();
    return Number(r.value);
  }

  async #resolveAddress(trx: Transaction<ShopDatabase>, customerId: string, address: Address | undefined, addressId: string | undefined): Promise<Address> {
    if (address !== undefined) return address;
    let q = trx.selectFrom('shop_addresses').selectAll().where('customer_id', '=', customerId);
    q = addressId !== undefined ? q.where('id', '=', addressId) : q.orderBy('is_default', 'desc').orderBy('created_at');
    const a = await q.executeTakeFirst();
    if (a === undefined) throw new Rollback(refuse(SHOP_ERRORS.invalid, addressId !== undefined ? `no address ${addressId} of this customer` : 'the customer has no address: give one'));
    return { recipient: a.recipient, phone: a.phone, region: a.region, city: a.city, line: a.line, postcode: a.postcode };
  }

  /** Enter an order (status `ordered`): priced with the promotions of its programme/airing, stock taken, a number generated. */
  async createOrder(o: NewOrder, actor: Actor): Promise<ShopResult<Order>> {
    const now = this.#now();
    const r = await this.#tx(async (trx) => {
      const c = await trx.selectFrom('shop_customers').select(['id', 'merged_into']).where('id', '=', o.customerId).executeTakeFirst();
      if (c === undefined) throw new Rollback(refuse(SHOP_ERRORS.notFound, `no customer ${o.customerId}`));
      if (c.merged_into !== null) throw new Rollback(refuse(SHOP_ERRORS.invalid, `customer ${o.customerId} was merged into ${c.merged_into}`));
      const address = await this.#resolveAddress(trx, o.customerId, o.address, o.addressId);
      const items = await this.#priceIn(trx, o.items, now, o.programme, o.airing);
      await this.#takeStock(trx, items);
      const id = orderNumber(now, await this.#nextOrderSeq(trx));
      await trx.insertInto('shop_orders').values({
        id, customer_id: o.customerId, status: 'ordered', delivery_method: o.deliveryMethod, payment_method: o.paymentMethod,
        recipient: address.recipient, phone: address.phone, region: address.region, city: address.city, line: address.line, postcode: address.postcode,
        programme: o.programme, airing: o.airing, call_id: o.callId, agent: o.agent, invoice_title: o.invoiceTitle ?? null,
        special_requests: o.specialRequests ?? null, total_fen: orderTotal(items), version: 1, created_at: now, updated_at: now,
      }).execute();
      await this.#insertItems(trx, id, items);
      await this.#history(trx, id, { action: 'create', from: null, to: 'ordered', actor, reason: o.callId === null ? null : `call ${o.callId}`, at: now });
      return id;
    });
    if (!r.ok) return r;
    this.#queued();
    return { ok: true, value: (await this.getOrder(r.value))! };
  }

  /** An order with its lines, or null. */
  async getOrder(id: string): Promise<Order | null> {
    const row = await this.db.selectFrom('shop_orders').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return null;
    const items = await this.db.selectFrom('shop_order_items').selectAll().where('order_id', '=', id).orderBy('line').execute();
    return toOrder(row, items.map(toItem));
  }

  /** Orders, newest first, filtered. */
  async listOrders(f: { customerId?: string; status?: OrderStatus; agent?: string; limit?: number; offset?: number } = {}): Promise<Order[]> {
    let q = this.db.selectFrom('shop_orders').selectAll();
    if (f.customerId !== undefined) q = q.where('customer_id', '=', f.customerId);
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    if (f.agent !== undefined) q = q.where('agent', '=', f.agent);
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(f.limit ?? 100).offset(f.offset ?? 0).execute();
    if (rows.length === 0) return [];
    const by = await itemsOf(this.db, rows.map((r) => r.id));
    return rows.map((r) => toOrder(r, by.get(r.id) ?? []));
  }

  /** An order's history, oldest first. */
  async orderHistory(id: string): Promise<OrderHistoryEntry[]> {
    const rows = await this.db.selectFrom('shop_order_history').selectAll().where('order_id', '=', id).orderBy('seq').execute();
    return rows.map((r) => ({ seq: r.seq, action: r.action, from: r.from_status, to: r.to_status, actor: r.actor, reason: r.reason, at: r.at }));
  }

  /**
   * Change items, address, methods or requests of an order not yet shipped (lifecycle `edit`; a
   * reviewed order goes back to `ordered`). New items are priced as of now; the old lines' stock
   * is put back before the new lines take theirs. `expectedVersion` refuses a stale edit.
   */
  async editOrder(id: string, edit: OrderEdit, actor: Actor, side: OrderSide, reason: string | null, expectedVersion?: number): Promise<ShopResult<Order>> {
    const now = this.#now();
    const r = await this.#tx(async (trx) => {
      const o = await trx.selectFrom('shop_orders').selectAll().where('id', '=', id).executeTakeFirst();
      if (o === undefined) throw new Rollback(refuse(SHOP_ERRORS.notFound, `no order ${id}`));
      if (expectedVersion !== undefined && o.version !== expectedVersion) throw new Rollback(refuse(SHOP_ERRORS.conflict, `order ${id} is at version ${o.version}, not ${expectedVersion}`));
      const t = nextStatus(o.status, 'edit', side);
      if (!t.ok) throw new Rollback(refuse(t.code, t.reason));
      const set: Partial<OrdersTable> = { status: t.to, version: o.version + 1, updated_at: now };
      if (edit.items !== undefined) {
        await this.#putBackStock(trx, id);
        await trx.deleteFrom('shop_order_items').where('order_id', '=', id).execute();
        const items = await this.#priceIn(trx, edit.items, now, o.programme, o.airing);
        await this.#takeStock(trx, items);
        await this.#insertItems(trx, id, items);
        set.total_fen = orderTotal(items);
      }
      if (edit.address !== undefined) Object.assign(set, { recipient: edit.address.recipient, phone: edit.address.phone, region: edit.address.region, city: edit.address.city, line: edit.address.line, postcode: edit.address.postcode });
      if (edit.deliveryMethod !== undefined) set.delivery_method = edit.deliveryMethod;
      if (edit.paymentMethod !== undefined) set.payment_method = edit.paymentMethod;
      if (edit.invoiceTitle !== undefined) set.invoice_title = edit.invoiceTitle;
      if (edit.specialRequests !== undefined) set.special_requests = edit.specialRequests;
      await trx.updateTable('shop_orders').set(set).where('id', '=', id).where('version', '=', o.version).execute();
      // A printed document no longer says what ships: the order is printed again after its review.
      await trx.deleteFrom('shop_waybill_reservations').where('order_id', '=', id).execute();
      await this.#history(trx, id, { action: 'edit', from: o.status, to: t.to, actor, reason, at: now });
    });
    return r.ok ? { ok: true, value: (await this.getOrder(id))! } : r;
  }

  /**
   * Move an order along its life cycle (lifecycle.ts); refused with SHOP_ERR_ILLEGAL_TRANSITION
   * when the table has no such step. Entering `returned` or `cancelled` puts the stock back.
   */
  async transition(id: string, action: Exclude<OrderAction, 'edit'>, actor: Actor, side: OrderSide, reason: string | null, expectedVersion?: number): Promise<ShopResult<Order>> {
    const now = this.#now();
    const r = await this.#tx((trx) => this.#step(trx, id, action, actor, side, reason, now, expectedVersion));
    if (!r.ok) return r;
    this.#queued();
    return { ok: true, value: (await this.getOrder(id))! };
  }

  /** One life-cycle step inside `trx` (a refusal throws {@link Rollback}). */
  async #step(
    trx: Transaction<ShopDatabase>, id: string, action: Exclude<OrderAction, 'edit'>, actor: Actor, side: OrderSide, reason: string | null, now: number,
    expectedVersion?: number,
  ): Promise<void> {
    const o = await trx.selectFrom('shop_orders').selectAll().where('id', '=', id).executeTakeFirst();
    if (o === undefined) throw new Rollback(refuse(SHOP_ERRORS.notFound, `no order ${id}`));
    if (expectedVersion !== undefined && o.version !== expectedVersion) throw new Rollback(refuse(SHOP_ERRORS.conflict, `order ${id} is at version ${o.version}, not ${expectedVersion}`));
    const t = nextStatus(o.status, action, side);
    if (!t.ok) throw new Rollback(refuse(t.code, t.reason));
    // Shipping assigns the courier of the rules and a waybill in the same transaction: no parcel leaves without both.
    if (action === 'ship') await this.#assignShipment(trx, o, actor, now);
    const u = await trx.updateTable('shop_orders').set({ status: t.to, version: o.version + 1, updated_at: now })
      .where('id', '=', id).where('version', '=', o.version).executeTakeFirst();
    if (u.numUpdatedRows === 0n) throw new Rollback(refuse(SHOP_ERRORS.conflict, `order ${id} changed meanwhile`));
    if (RESTOCKING_STATUSES.includes(t.to)) await this.#putBackStock(trx, id);
    if (t.to === 'cancelled') await trx.deleteFrom('shop_waybill_reservations').where('order_id', '=', id).execute();
    await this.#history(trx, id, { action, from: o.status, to: t.to, actor, reason, at: now });
  }

  // ---------------------------------------------------------------- logistics feedback

  /**
   * Apply couriers' feedback in one transaction: `delivered` delivers (settlement eligible),
   * `refused` refuses and gives the customer a strike, `returned` brings the goods back (a
   * shipped parcel is refused first; the stock is put back). A line whose (waybill, status) was
   * applied before is skipped (re-importing a file changes nothing); a line the order's life
   * cycle does not allow is reported and skipped; the valid lines are applied together.
   * `receipt` (the couriers' webhook) records the delivery's event id in the same transaction
   * (a second delivery with it is refused, SHOP_ERR_REPLAY) and accepts the courier's own
   * waybills only. Each step writes its customer notifications like any other step.
   */
  async applyLogistics(events: readonly LogisticsEvent[], actor: Actor, receipt?: WebhookReceipt): Promise<ShopResult<LogisticsOutcome>> {
    const now = this.#now();
    const r = await this.#tx(async (trx) => {
      if (receipt !== undefined) {
        const seen = await trx.insertInto('shop_webhook_receipts').values({ courier_id: receipt.courierId, event_id: receipt.eventId, received_at: now })
          .onConflict((oc) => oc.columns(['courier_id', 'event_id']).doNothing()).executeTakeFirst();
        if (seen.numInsertedOrUpdatedRows === 0n) throw new Rollback(refuse(SHOP_ERRORS.replay, `event ${receipt.eventId} of ${receipt.courierId} was received before`));
      }
      const out: LogisticsOutcome = { applied: 0, duplicates: 0, errors: [] };
      for (const e of events) {
        const seen = await trx.selectFrom('shop_logistics_events').select('waybill').where('waybill', '=', e.waybill).where('status', '=', e.status).executeTakeFirst();
        if (seen !== undefined) {
          out.duplicates++;
          continue;
        }
        const s = await trx.selectFrom('shop_shipments').selectAll().where('waybill', '=', e.waybill).executeTakeFirst();
        // A courier's webhook reports on its own parcels only.
        if (s === undefined || (receipt !== undefined && s.courier_id !== receipt.courierId)) {
          out.errors.push({ line: e.line, reason: receipt === undefined ? `no waybill ${e.waybill}` : `no waybill ${e.waybill} of ${receipt.courierId}` });
          continue;
        }
        const o = await trx.selectFrom('shop_orders').select(['status', 'customer_id']).where('id', '=', s.order_id).executeTakeFirstOrThrow();
        const actions = logisticsActions(o.status, e.status);
        if (actions === null) {
          out.errors.push({ line: e.line, reason: `${e.waybill}: order ${s.order_id} is ${o.status}, cannot be ${e.status}` });
          continue;
        }
        const why = `${s.courier_id} ${e.waybill} ${e.status}${e.reason === null ? '' : `: ${e.reason}`}`;
        for (const a of actions) await this.#step(trx, s.order_id, a, actor, 'staff', why, now);
        if (e.status === 'refused') await trx.updateTable('shop_customers').set({ strikes: sql`strikes + 1`, updated_at: now }).where('id', '=', o.customer_id).execute();
        await trx.insertInto('shop_logistics_events').values({
          waybill: e.waybill, status: e.status, order_id: s.order_id, courier_id: s.courier_id, at: e.at, reason: e.reason,
          collected_fen: e.collectedFen, imported_at: now, actor,
        }).execute();
        out.applied++;
      }
      return out;
    });
    if (r.ok && r.value.applied > 0) this.#queued();
    return r;
  }

  /**
   * Cash-on-delivery reconciliation per courier: cash expected on delivered parcels (the
   * shipment's amount) against cash the couriers reported collected, for deliveries reported in
   * [from, to).
   */
  async codReconciliation(from: number, to: number): Promise<CodReconciliation[]> {
    const rows = await this.db.selectFrom('shop_logistics_events as e').innerJoin('shop_shipments as s', 's.waybill', 'e.waybill')
      .select((eb) => ['e.courier_id', eb.fn.countAll<number>().as('parcels'), eb.fn.sum<number>('s.cod_fen').as('expected'), eb.fn.sum<number>(eb.fn.coalesce('e.collected_fen', sql<number>`0`)).as('collected')])
      .where('e.status', '=', 'delivered').where('s.cod_fen', '>', 0).where('e.at', '>=', from).where('e.at', '<', to)
      .groupBy('e.courier_id').orderBy('e.courier_id').execute();
    return rows.map((r) => {
      const expected = Number(r.expected);
      const collected = Number(r.collected);
      return { courierId: r.courier_id, parcels: Number(r.parcels), expectedFen: expected, collectedFen: collected, differenceFen: collected - expected };
    });
  }

  /**
   * Orders per bucket of `bucketMs` (an integer number of ms), programme and airing, for those filed in [from, to): every order
   * but a cancelled one, filed at its call's arrival (the call id it carries, when the shop has
   * that call's record) or else at its entry, under its own programme and airing (the media
   * source), or the call's when it has none. One query: the engine's report asks once per report.
   */
  async orderBuckets(from: number, to: number, bucketMs: number): Promise<OrdersInBucket[]> {
    if (!Number.isSafeInteger(bucketMs) || bucketMs <= 0) throw new RangeError(`bucketMs must be a positive integer, not ${bucketMs}`);
    const r = await sql<{ bucket: number | string; programme: string | null; airing: string | null; orders: number | string; value_fen: number | string }>`
      SELECT t.at - (t.at % ${sql.lit(bucketMs)}) AS bucket, t.programme, t.airing, count(*) AS orders, sum(t.total_fen) AS value_fen
      FROM (
        SELECT coalesce(c.arrived_at, o.created_at) AS at,
          CASE WHEN o.programme IS NULL THEN c.programme ELSE o.programme END AS programme,
          CASE WHEN o.programme IS NULL THEN c.airing ELSE o.airing END AS airing,
          o.total_fen
        FROM shop_orders o LEFT JOIN shop_calls c ON c.call_id = o.call_id
        WHERE o.status <> 'cancelled'
      ) t
      WHERE t.at >= ${from} AND t.at < ${to}
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`.execute(this.db);
    return r.rows.map((x) => ({ bucket: Number(x.bucket), programme: x.programme, airing: x.airing, orders: Number(x.orders), valueFen: Number(x.value_fen) }));
  }

  // ---------------------------------------------------------------- couriers

  /** Every courier. */
  async couriers(): Promise<Courier[]> {
    return (await this.db.selectFrom('shop_couriers').selectAll().orderBy('id').execute()).map(toCourier);
  }

  /** One courier, or null. */
  async getCourier(id: string): Promise<Courier | null> {
    const r = await this.db.selectFrom('shop_couriers').selectAll().where('id', '=', id).executeTakeFirst();
    return r === undefined ? null : toCourier(r);
  }

  /** The courier rules, in the order they are tried. */
  async courierRules(): Promise<CourierRule[]> {
    return (await this.db.selectFrom('shop_courier_rules').selectAll().orderBy('priority').orderBy('id').execute()).map(toRule);
  }

  /** Add or replace a courier. */
  async putCourier(c: Courier): Promise<void> {
    const row = { id: c.id, name_zh: c.nameZh, name_en: c.nameEn, layout: c.layout, waybill_prefix: c.waybillPrefix, cod: c.cod ? 1 : 0, active: c.active ? 1 : 0 };
    const { id: _id, ...rest } = row;
    await this.db.insertInto('shop_couriers').values(row).onConflict((oc) => oc.column('id').doUpdateSet(rest)).execute();
  }

  /** Replace the courier rules (one transaction: shipping never sees half a table). */
  async setCourierRules(rules: readonly CourierRule[]): Promise<ShopResult<CourierRule[]>> {
    const r = await this.#tx(async (trx) => {
      await trx.deleteFrom('shop_courier_rules').execute();
      for (const x of rules) {
        if (await trx.selectFrom('shop_couriers').select('id').where('id', '=', x.courierId).executeTakeFirst() === undefined) {
          throw new Rollback(refuse(SHOP_ERRORS.invalid, `rule ${x.id}: no courier ${x.courierId}`));
        }
        await trx.insertInto('shop_courier_rules').values({ id: x.id, priority: x.priority, courier_id: x.courierId, region: x.region, delivery_method: x.deliveryMethod }).execute();
      }
    });
    return r.ok ? { ok: true, value: await this.courierRules() } : r;
  }

  /** An order's shipments, newest first (an exchanged order has several). */
  async shipments(orderId: string): Promise<Shipment[]> {
    const rows = await this.db.selectFrom('shop_shipments').selectAll().where('order_id', '=', orderId).orderBy('shipped_at', 'desc').orderBy('waybill', 'desc').execute();
    return rows.map(toShipment);
  }

  /** The shipment of a waybill, or null. */
  async shipmentByWaybill(waybill: string): Promise<Shipment | null> {
    const r = await this.db.selectFrom('shop_shipments').selectAll().where('waybill', '=', waybill).executeTakeFirst();
    return r === undefined ? null : toShipment(r);
  }

  /**
   * Record the shipment (`shop_shipments`, found by order or waybill): under the waybill its
   * printed document carries (batch printing) while that courier is active, else with the courier
   * of the rules and a new waybill.
   */
  async #assignShipment(trx: Transaction<ShopDatabase>, o: Selectable<OrdersTable>, actor: Actor, now: number): Promise<void> {
    const couriers = await this.#courierMap(trx);
    const reserved = await trx.selectFrom('shop_waybill_reservations').select(['waybill', 'courier_id']).where('order_id', '=', o.id).executeTakeFirst();
    await trx.deleteFrom('shop_waybill_reservations').where('order_id', '=', o.id).execute();
    let waybill: string;
    let courier: Courier;
    if (reserved !== undefined && couriers.get(reserved.courier_id)?.active === true) {
      waybill = reserved.waybill;
      courier = couriers.get(reserved.courier_id)!;
    } else {
      courier = await this.#courierOf(trx, o, couriers);
      waybill = await this.#nextWaybill(trx, courier);
    }
    await trx.insertInto('shop_shipments').values({
      waybill, order_id: o.id, courier_id: courier.id, cod_fen: o.payment_method === 'cod' ? o.total_fen : 0, shipped_at: now, actor,
    }).execute();
  }

  async #courierMap(trx: Transaction<ShopDatabase>): Promise<Map<string, Courier>> {
    return new Map((await trx.selectFrom('shop_couriers').selectAll().execute()).map((c) => [c.id, toCourier(c)] as const));
  }

  /** The courier the rules choose for `o`; none is a refusal (SHOP_ERR_NO_COURIER). */
  async #courierOf(trx: Transaction<ShopDatabase>, o: Pick<Selectable<OrdersTable>, 'region' | 'delivery_method' | 'payment_method'>, couriers: ReadonlyMap<string, Courier>): Promise<Courier> {
    const rules = (await trx.selectFrom('shop_courier_rules').selectAll().orderBy('priority').orderBy('id').execute()).map(toRule);
    const courier = chooseCourier(rules, couriers, { region: o.region, deliveryMethod: o.delivery_method, paymentMethod: o.payment_method });
    if (courier === null) throw new Rollback(refuse(SHOP_ERRORS.noCourier, `no courier rule serves ${o.delivery_method} to ${o.region}${o.payment_method === 'cod' ? ' with cash on delivery' : ''}`));
    return courier;
  }

  /** The courier's next waybill: its prefix and a 10-digit counter of its own. */
  async #nextWaybill(trx: Transaction<ShopDatabase>, courier: Courier): Promise<string> {
    return `${courier.waybillPrefix}${String(await this.#nextSeq(trx, `waybill:${courier.id}`)).padStart(10, '0')}`;
  }

  // ---------------------------------------------------------------- batch printing

  /**
   * The batch of `courierId`: every reviewed order entered in [from, to) (a day) that this
   * courier carries, by order number, each with the waybill its document carries. In one
   * transaction: an order printed for the first time gets its courier (by the rules) and a
   * waybill reserved (`shop_waybill_reservations`: shipping it later uses that waybill, so the
   * paper and the parcel agree); an order printed before keeps its courier and waybill. Every
   * order of the batch gets a `print` history entry (who, when; "reprint" when it was printed
   * before). More than `maxOrders` refuses the whole batch (SHOP_ERR_BATCH_TOO_LARGE) and records
   * nothing; an order no rule serves is in no batch (shipping it is refused too).
   */
  async printBatch(courierId: string, from: number, to: number, actor: Actor, maxOrders: number): Promise<ShopResult<PrintBatch>> {
    const now = this.#now();
    return this.#tx(async (trx) => {
      const couriers = await this.#courierMap(trx);
      const courier = couriers.get(courierId);
      if (courier === undefined) throw new Rollback(refuse(SHOP_ERRORS.notFound, `no courier ${courierId}`));
      const candidates = await trx.selectFrom('shop_orders as o').leftJoin('shop_waybill_reservations as r', 'r.order_id', 'o.id')
        .select(['o.id', 'o.region', 'o.delivery_method', 'o.payment_method', 'o.total_fen', 'r.waybill', 'r.courier_id', 'r.reserved_at', 'r.actor'])
        .where('o.status', '=', 'reviewed').where('o.created_at', '>=', from).where('o.created_at', '<', to).orderBy('o.id').execute();
      const rules = (await trx.selectFrom('shop_courier_rules').selectAll().orderBy('priority').orderBy('id').execute()).map(toRule);
      const mine = candidates.filter((c) => (c.courier_id ?? chooseCourier(rules, couriers, { region: c.region, deliveryMethod: c.delivery_method, paymentMethod: c.payment_method })?.id) === courierId);
      if (mine.length > maxOrders) {
        throw new Rollback(refuse(SHOP_ERRORS.batchTooLarge, `${mine.length} reviewed orders for ${courierId} in that day: at most ${maxOrders} a batch`));
      }
      const shipments: Shipment[] = [];
      let reprints = 0;
      for (const c of mine) {
        let waybill = c.waybill;
        if (waybill === null) {
          waybill = await this.#nextWaybill(trx, courier);
          await trx.insertInto('shop_waybill_reservations').values({ order_id: c.id, waybill, courier_id: courierId, reserved_at: now, actor }).execute();
        } else {
          reprints++;
        }
        const printedBefore = c.waybill !== null;
        await this.#history(trx, c.id, { action: 'print', from: 'reviewed', to: 'reviewed', actor, reason: `${printedBefore ? 'reprint' : 'print'} ${courierId} ${waybill}`, at: now });
        shipments.push({
          waybill, orderId: c.id, courierId, codFen: c.payment_method === 'cod' ? c.total_fen : 0,
          shippedAt: c.reserved_at === null ? now : Number(c.reserved_at), actor: c.actor ?? actor,
        });
      }
      const orders = await this.#ordersIn(trx, shipments.map((x) => x.orderId));
      return { courier, reprints, pages: shipments.map((shipment) => ({ order: orders.get(shipment.orderId)!, shipment })) };
    });
  }

  /** Orders with their lines by id (chunks of 500 ids: PostgreSQL and SQLite bind limits). */
  async #ordersIn(db: Kysely<ShopDatabase>, ids: readonly string[]): Promise<Map<string, Order>> {
    const out = new Map<string, Order>();
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const rows = await db.selectFrom('shop_orders').selectAll().where('id', 'in', part).execute();
      const by = await itemsOf(db, part);
      for (const r of rows) out.set(r.id, toOrder(r, by.get(r.id) ?? []));
    }
    return out;
  }

  // ---------------------------------------------------------------- calls

  /** Store a call record (a redelivered one replaces it). */
  async recordCall(c: {
    callId: string; number: string; customerId: string | null; direction: string; agent: string | null; queue: string | null;
    programme: string | null; airing: string | null; outcome: string; arrivedAt: number; answeredAt: number | null; endedAt: number;
    talkMs: number; deliveryId: string; payload: string;
  }): Promise<void> {
    const customerId = c.customerId ?? (await this.findByNumber(c.number))?.id ?? null;
    const row = {
      call_id: c.callId, number: c.number, customer_id: customerId, direction: c.direction, agent: c.agent, queue: c.queue, programme: c.programme,
      airing: c.airing, outcome: c.outcome, arrived_at: c.arrivedAt, answered_at: c.answeredAt, ended_at: c.endedAt, talk_ms: c.talkMs,
      delivery_id: c.deliveryId, payload: c.payload,
    };
    const { call_id: _id, ...rest } = row;
    await this.db.insertInto('shop_calls').values(row).onConflict((oc) => oc.column('call_id').doUpdateSet(rest)).execute();
  }

  /** Stored call records as delivered (the contract's CDR), newest arrival first: `GET /api/v1/cdrs` with the shop. */
  async listCdrs(f: { since?: number; outcome?: string; queue?: string; limit?: number; offset?: number } = {}): Promise<Cdr[]> {
    let q = this.db.selectFrom('shop_calls').select('payload');
    if (f.since !== undefined) q = q.where('arrived_at', '>=', f.since);
    if (f.outcome !== undefined) q = q.where('outcome', '=', f.outcome);
    if (f.queue !== undefined) q = q.where('queue', '=', f.queue);
    const rows = await q.orderBy('arrived_at', 'desc').orderBy('call_id').limit(f.limit ?? 100).offset(f.offset ?? 0).execute();
    return rows.map((r) => JSON.parse(r.payload) as Cdr);
  }

  /** Store a call event once (by delivery id). */
  async recordCallEvent(e: { deliveryId: string; callId: string; type: string; agent: string | null; at: number; payload: string }): Promise<void> {
    await this.db.insertInto('shop_call_events').values({ delivery_id: e.deliveryId, call_id: e.callId, type: e.type, agent: e.agent, at: e.at, payload: e.payload })
      .onConflict((oc) => oc.column('delivery_id').doNothing()).execute();
  }

  /** A stored call record's summary, or null. */
  async getCall(callId: string): Promise<(CallSummaryOfCustomer & { number: string; customerId: string | null; airing: string | null }) | null> {
    const r = await this.db.selectFrom('shop_calls').selectAll().where('call_id', '=', callId).executeTakeFirst();
    return r === undefined ? null : {
      callId: r.call_id, arrivedAt: r.arrived_at, outcome: r.outcome, agent: r.agent, programme: r.programme, talkMs: r.talk_ms,
      number: r.number, customerId: r.customer_id, airing: r.airing,
    };
  }

  /** Events stored for a call, in time order. */
  async callEvents(callId: string): Promise<{ type: string; agent: string | null; at: number }[]> {
    return this.db.selectFrom('shop_call_events').select(['type', 'agent', 'at']).where('call_id', '=', callId).orderBy('at').orderBy('delivery_id').execute();
  }

  /** The agent who answered a call, from its stored `answered` event, or null. */
  async answeringAgent(callId: string): Promise<string | null> {
    const r = await this.db.selectFrom('shop_call_events').select('agent').where('call_id', '=', callId).where('type', '=', 'answered')
      .orderBy('at', 'desc').executeTakeFirst();
    return r?.agent ?? null;
  }

  // ---------------------------------------------------------------- the card

  /** The customer card (`GET .../card`), or null. */
  async card(customerId: string): Promise<CustomerCard | null> {
    const customer = await this.getCustomer(customerId);
    return customer === null ? null : this.cardOf(customer);
  }

  /**
   * The card of a customer already read (the look-up's screen pop: {@link findByNumber} gave it):
   * one query per part, five in all, run together.
   */
  async cardOf(customer: Customer): Promise<CustomerCard> {
    const customerId = customer.id;
    const [addresses, orders, calls, openComplaints, notes] = await Promise.all([
      this.addresses(customerId),
      this.db.selectFrom('shop_orders').select(['id', 'status', 'total_fen', 'created_at', 'programme']).where('customer_id', '=', customerId)
        .orderBy('created_at', 'desc').orderBy('id', 'desc').limit(CARD_ENTRIES).execute(),
      this.db.selectFrom('shop_calls').select(['call_id', 'arrived_at', 'outcome', 'agent', 'programme', 'talk_ms']).where('customer_id', '=', customerId)
        .orderBy('arrived_at', 'desc').limit(CARD_ENTRIES).execute(),
      this.notes(customerId, { kind: 'complaint', openOnly: true, limit: CARD_ENTRIES }),
      this.notes(customerId, { kind: 'note', limit: CARD_ENTRIES }),
    ]);
    return {
      customer, addresses,
      lastOrders: orders.map((o) => ({ id: o.id, status: o.status, totalFen: o.total_fen, createdAt: o.created_at, programme: o.programme })),
      lastCalls: calls.map((c) => ({ callId: c.call_id, arrivedAt: c.arrived_at, outcome: c.outcome, agent: c.agent, programme: c.programme, talkMs: c.talk_ms })),
      openComplaints, notes,
    };
  }
}
