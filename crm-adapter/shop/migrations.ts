/**
 * The shop's versioned migrations, written with Kysely's schema builder so that one text serves
 * SQLite and PostgreSQL. Applied in name order by Kysely's `Migrator`, recorded in
 * `shop_migrations` (guarded by `shop_migrations_lock`, so two processes starting together do not
 * both migrate). A migration is never edited once released: add the next one.
 *
 * Types: `text`; `integer` for counts, flags (0/1) and money in fen (int4 holds 21 million yuan
 * per order line or order); `bigint` for epoch-millisecond timestamps.
 */
import { PostgresAdapter, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { ShopDatabase } from './types.ts';

/** Migration 0001: customers, catalog, orders, calls. */
const m0001: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('shop_customers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text')
      .addColumn('language', 'text')
      .addColumn('vip_level', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('blacklisted', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('strikes', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('low_credit', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('preferred_agent', 'text')
      .addColumn('merged_into', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createTable('shop_customer_numbers')
      .addColumn('number', 'text', (c) => c.primaryKey())
      .addColumn('customer_id', 'text', (c) => c.notNull().references('shop_customers.id'))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('shop_customer_numbers_by_customer').on('shop_customer_numbers').column('customer_id').execute();
    await db.schema.createTable('shop_addresses')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('customer_id', 'text', (c) => c.notNull().references('shop_customers.id'))
      .addColumn('recipient', 'text', (c) => c.notNull())
      .addColumn('phone', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('city', 'text', (c) => c.notNull())
      .addColumn('line', 'text', (c) => c.notNull())
      .addColumn('postcode', 'text')
      .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('shop_addresses_by_customer').on('shop_addresses').column('customer_id').execute();
    await db.schema.createTable('shop_notes')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('customer_id', 'text', (c) => c.notNull().references('shop_customers.id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('text', 'text', (c) => c.notNull())
      .addColumn('open', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('author', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('shop_notes_by_customer').on('shop_notes').columns(['customer_id', 'created_at']).execute();
    await db.schema.createTable('shop_products')
      .addColumn('sku', 'text', (c) => c.primaryKey())
      .addColumn('name_zh', 'text', (c) => c.notNull())
      .addColumn('name_en', 'text', (c) => c.notNull())
      .addColumn('price_fen', 'integer', (c) => c.notNull())
      .addColumn('stock', 'integer', (c) => c.notNull())
      .addColumn('ivr_zh', 'text', (c) => c.notNull())
      .addColumn('ivr_en', 'text', (c) => c.notNull())
      .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createTable('shop_promotions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('sku', 'text', (c) => c.notNull().references('shop_products.sku'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('title', 'text', (c) => c.notNull())
      .addColumn('price_fen', 'integer')
      .addColumn('gift_sku', 'text', (c) => c.references('shop_products.sku'))
      .addColumn('programme', 'text')
      .addColumn('airing', 'text')
      .addColumn('starts_at', 'bigint', (c) => c.notNull())
      .addColumn('ends_at', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('shop_promotions_by_sku').on('shop_promotions').columns(['sku', 'ends_at']).execute();
    await db.schema.createTable('shop_orders')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('customer_id', 'text', (c) => c.notNull().references('shop_customers.id'))
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('delivery_method', 'text', (c) => c.notNull())
      .addColumn('payment_method', 'text', (c) => c.notNull())
      .addColumn('recipient', 'text', (c) => c.notNull())
      .addColumn('phone', 'text', (c) => c.notNull())
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('city', 'text', (c) => c.notNull())
      .addColumn('line', 'text', (c) => c.notNull())
      .addColumn('postcode', 'text')
      .addColumn('programme', 'text')
      .addColumn('airing', 'text')
      .addColumn('call_id', 'text')
      .addColumn('agent', 'text')
      .addColumn('invoice_title', 'text')
      .addColumn('special_requests', 'text')
      .addColumn('total_fen', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('shop_orders_by_customer').on('shop_orders').columns(['customer_id', 'created_at']).execute();
    await db.schema.createIndex('shop_orders_by_status').on('shop_orders').columns(['status', 'created_at']).execute();
    await db.schema.createTable('shop_order_items')
      .addColumn('order_id', 'text', (c) => c.notNull().references('shop_orders.id'))
      .addColumn('line', 'integer', (c) => c.notNull())
      .addColumn('sku', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('quantity', 'integer', (c) => c.notNull())
      .addColumn('list_price_fen', 'integer', (c) => c.notNull())
      .addColumn('unit_price_fen', 'integer', (c) => c.notNull())
      .addColumn('promotion_id', 'text')
      .addColumn('gift', 'integer', (c) => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint('shop_order_items_pk', ['order_id', 'line'])
      .execute();
    await db.schema.createTable('shop_order_history')
      .addColumn('order_id', 'text', (c) => c.notNull().references('shop_orders.id'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('from_status', 'text')
      .addColumn('to_status', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('shop_order_history_pk', ['order_id', 'seq'])
      .execute();
    await db.schema.createTable('shop_calls')
      .addColumn('call_id', 'text', (c) => c.primaryKey())
      .addColumn('number', 'text', (c) => c.notNull())
      .addColumn('customer_id', 'text')
      .addColumn('direction', 'text', (c) => c.notNull())
      .addColumn('agent', 'text')
      .addColumn('queue', 'text')
      .addColumn('programme', 'text')
      .addColumn('airing', 'text')
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('arrived_at', 'bigint', (c) => c.notNull())
      .addColumn('answered_at', 'bigint')
      .addColumn('ended_at', 'bigint', (c) => c.notNull())
      .addColumn('talk_ms', 'bigint', (c) => c.notNull())
      .addColumn('delivery_id', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('shop_calls_by_customer').on('shop_calls').columns(['customer_id', 'arrived_at']).execute();
    await db.schema.createIndex('shop_calls_by_number').on('shop_calls').columns(['number', 'arrived_at']).execute();
    await db.schema.createTable('shop_call_events')
      .addColumn('delivery_id', 'text', (c) => c.primaryKey())
      .addColumn('call_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('agent', 'text')
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('shop_call_events_by_call').on('shop_call_events').columns(['call_id', 'at']).execute();
    await db.schema.createTable('shop_counters')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .execute();
  },
};

/**
 * Migration 0002: couriers, their rules and shipments. The seed is the starting configuration an
 * operator edits (rows, not code): express by SF, post by China Post, anything else (and cash on
 * delivery the post does not collect) by EMS.
 */
const m0002: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('shop_couriers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name_zh', 'text', (c) => c.notNull())
      .addColumn('name_en', 'text', (c) => c.notNull())
      .addColumn('layout', 'text', (c) => c.notNull())
      .addColumn('waybill_prefix', 'text', (c) => c.notNull())
      .addColumn('cod', 'integer', (c) => c.notNull())
      .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
      .execute();
    await db.schema.createTable('shop_courier_rules')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('priority', 'integer', (c) => c.notNull())
      .addColumn('courier_id', 'text', (c) => c.notNull().references('shop_couriers.id'))
      .addColumn('region', 'text', (c) => c.notNull())
      .addColumn('delivery_method', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createTable('shop_shipments')
      .addColumn('waybill', 'text', (c) => c.primaryKey())
      .addColumn('order_id', 'text', (c) => c.notNull().references('shop_orders.id'))
      .addColumn('courier_id', 'text', (c) => c.notNull().references('shop_couriers.id'))
      .addColumn('cod_fen', 'integer', (c) => c.notNull())
      .addColumn('shipped_at', 'bigint', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('shop_shipments_by_order').on('shop_shipments').columns(['order_id', 'shipped_at']).execute();
    const k = db as unknown as Kysely<ShopDatabase>;
    await k.insertInto('shop_couriers').values([
      { id: 'SF', name_zh: '顺丰速运', name_en: 'SF Express', layout: 'waybill', waybill_prefix: 'SF', cod: 1, active: 1 },
      { id: 'POST', name_zh: '中国邮政', name_en: 'China Post', layout: 'post', waybill_prefix: 'PO', cod: 0, active: 1 },
      { id: 'EMS', name_zh: '邮政EMS', name_en: 'EMS', layout: 'ems', waybill_prefix: 'EM', cod: 1, active: 1 },
    ]).execute();
    await k.insertInto('shop_courier_rules').values([
      { id: 'express', priority: 10, courier_id: 'SF', region: '*', delivery_method: 'express' },
      { id: 'post', priority: 20, courier_id: 'POST', region: '*', delivery_method: 'post' },
      { id: 'default', priority: 100, courier_id: 'EMS', region: '*', delivery_method: '*' },
    ]).execute();
  },
};

/** Migration 0003: couriers' logistics reports, once per (waybill, status). */
const m0003: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createTable('shop_logistics_events')
      .addColumn('waybill', 'text', (c) => c.notNull().references('shop_shipments.waybill'))
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('order_id', 'text', (c) => c.notNull())
      .addColumn('courier_id', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('collected_fen', 'integer')
      .addColumn('imported_at', 'bigint', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('shop_logistics_events_pk', ['waybill', 'status'])
      .execute();
    await db.schema.createIndex('shop_logistics_events_by_at').on('shop_logistics_events').columns(['status', 'at']).execute();
  },
};

/**
 * Migration 0004: customers' e-mail addresses; customer notifications (the outbox of messages,
 * written in the transaction of the order step that causes them); courier webhook receipts (a
 * delivery id seen once).
 */
const m0004: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('shop_customers').addColumn('email', 'text').execute();
    await db.schema.createTable('shop_notifications')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('order_id', 'text', (c) => c.notNull().references('shop_orders.id'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('event', 'text', (c) => c.notNull())
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('recipient', 'text', (c) => c.notNull())
      .addColumn('subject', 'text')
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('sent_at', 'bigint')
      .addUniqueConstraint('shop_notifications_step', ['order_id', 'seq', 'channel'])
      .execute();
    await db.schema.createIndex('shop_notifications_due').on('shop_notifications').columns(['status', 'next_attempt_at']).execute();
    await db.schema.createTable('shop_webhook_receipts')
      .addColumn('courier_id', 'text', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('received_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('shop_webhook_receipts_pk', ['courier_id', 'event_id'])
      .execute();
  },
};

/**
 * Migration 0005: the reports' period filters use indexes (orders by entry time, shipments by
 * shipping time); waybills reserved by batch printing (docs/shop.md, Batch printing).
 */
const m0005: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex('shop_orders_by_created').on('shop_orders').column('created_at').execute();
    await db.schema.createIndex('shop_shipments_by_shipped').on('shop_shipments').column('shipped_at').execute();
    await db.schema.createTable('shop_waybill_reservations')
      .addColumn('order_id', 'text', (c) => c.primaryKey().references('shop_orders.id'))
      .addColumn('waybill', 'text', (c) => c.notNull().unique())
      .addColumn('courier_id', 'text', (c) => c.notNull().references('shop_couriers.id'))
      .addColumn('reserved_at', 'bigint', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .execute();
  },
};

/** The columns of `shop_notifications` before migration 0006, in table order. */
const NOTIFICATION_COLUMNS_0004 = ['id', 'order_id', 'seq', 'channel', 'event', 'language', 'recipient', 'subject', 'body', 'status', 'attempts', 'next_attempt_at', 'last_error', 'created_at', 'sent_at'] as const;

/**
 * Migration 0006: notifications on request (docs/shop.md, Notifications on request). A re-send of
 * an order's current status is a second row of the same step and channel, so the step's key gains
 * `request` (0: the step's own notification; n > 0: a request, from a store-wide counter, so
 * requests of one step are delivered in the order they were made).
 *
 * PostgreSQL: `ALTER TABLE` (adding a column with a constant default rewrites nothing; Kysely's
 * migrator runs it in a transaction). SQLite cannot drop a UNIQUE constraint, so the table is
 * rebuilt (nothing references `shop_notifications`; the rows keep their ids) in a transaction of
 * its own, since Kysely's migrator runs none on SQLite; and a run that committed but was not
 * recorded (a crash in between) finds `request` there and does nothing.
 */
const m0006: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    if (db.getExecutor().adapter instanceof PostgresAdapter) {
      await db.schema.alterTable('shop_notifications').addColumn('request', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('shop_notifications').dropConstraint('shop_notifications_step').execute();
      await db.schema.alterTable('shop_notifications').addUniqueConstraint('shop_notifications_step_request', ['order_id', 'seq', 'channel', 'request']).execute();
      return;
    }
    const table = (await db.introspection.getTables()).find((x) => x.name === 'shop_notifications');
    if (table?.columns.some((c) => c.name === 'request') === true) return;
    await db.transaction().execute(async (trx) => {
      await trx.schema.createTable('shop_notifications_0006')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('order_id', 'text', (c) => c.notNull().references('shop_orders.id'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('language', 'text', (c) => c.notNull())
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('subject', 'text')
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('sent_at', 'bigint')
        .addColumn('request', 'integer', (c) => c.notNull().defaultTo(0))
        .addUniqueConstraint('shop_notifications_step_request', ['order_id', 'seq', 'channel', 'request'])
        .execute();
      const cols = sql.join(NOTIFICATION_COLUMNS_0004.map((c) => sql.ref(c)));
      await sql`insert into shop_notifications_0006 (${cols}) select ${cols} from shop_notifications`.execute(trx);
      await trx.schema.dropTable('shop_notifications').execute();
      await trx.schema.alterTable('shop_notifications_0006').renameTo('shop_notifications').execute();
      await trx.schema.createIndex('shop_notifications_due').on('shop_notifications').columns(['status', 'next_attempt_at']).execute();
    });
  },
};

/** Every migration, by name (applied in name order). */
export const SHOP_MIGRATIONS: Readonly<Record<string, Migration>> = Object.freeze({ '0001_customers_catalog_orders': m0001, '0002_couriers_shipments': m0002, '0003_logistics_events': m0003, '0004_notifications_webhook': m0004,
  '0005_reports_batch_printing': m0005, '0006_notifications_on_request': m0006,
});

/** The provider Kysely's `Migrator` reads them from (no files on disk: they ship in the bundle). */
export const shopMigrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...SHOP_MIGRATIONS }),
};
