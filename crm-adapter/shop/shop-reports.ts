/**
 * The shop's own reports (docs/shop.md, Shop reports): orders by agent and by product per day or
 * for a period, and delivery outcomes (refusal and return rates) per courier and per product.
 * One query each, written once for SQLite and PostgreSQL; the period filter is on an indexed
 * column (`shop_orders.created_at`, `shop_shipments.shipped_at`, migration 0005), so a report of a
 * day reads that day's rows, not the table.
 *
 * ```
 *  orders:    shop_orders (entered in [from, to), not cancelled) ─< shop_order_items
 *  delivery:  shop_shipments (shipped in [from, to)) ── its order's history steps while it was
 *             the order's latest parcel: deliver, refuse, return
 * ```
 * Conversion per agent (orders / answered calls) joins the engine's report rows by agent
 * ({@link withAnswered}); the engine's figures live in another database.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { HistoryAction, ShopDatabase } from './types.ts';

/** A row per day (from local midnight of `utcOffsetMinutes`) or one row for the whole period. */
export type ShopReportInterval = 'day' | 'all';

/** What every shop report is asked for. */
export interface ShopReportFilter {
  /** Start, epoch ms, inclusive. */
  from: number;
  /** End, epoch ms, exclusive. */
  to: number;
  interval: ShopReportInterval;
  /** Where days start (minutes east of UTC; 480 = Beijing). */
  utcOffsetMinutes: number;
  /** Only orders of this programme (the media source); null: orders without one. */
  programme?: string | null;
  /** Only orders of this airing; null: orders without one. */
  airing?: string | null;
}

/** Orders of one agent in one interval. */
export interface AgentOrdersRow {
  /** Interval start, epoch ms (`from` for `all`). */
  start: number;
  /** The agent who took the orders (null: entered by staff without a call). */
  agent: string | null;
  /** Orders entered, every status but cancelled. */
  orders: number;
  /** Units sold: the quantities of the orders' lines, gift lines not counted. */
  units: number;
  /** The orders' totals, fen. */
  valueFen: number;
}

/** {@link AgentOrdersRow} with the agent's answered calls from the engine's report. */
export interface AgentConversionRow extends AgentOrdersRow {
  /** Inbound calls the agent answered in the interval (the engine's reports); null when not known. */
  answered: number | null;
  /** orders / answered; null when nothing was answered or it is not known. */
  conversion: number | null;
}

/** Orders of one product in one interval. */
export interface ProductOrdersRow {
  start: number;
  sku: string;
  /** The catalog's names (null for a product no longer in it). */
  nameZh: string | null;
  nameEn: string | null;
  /** Orders with the product on a paid line. */
  orders: number;
  /** Units sold (paid lines). */
  units: number;
  /** Units given away by gift promotions. */
  giftUnits: number;
  /** Paid lines' value: unit price × quantity, fen. */
  valueFen: number;
}

/** Delivery outcomes of the parcels shipped in the period, per courier or per product. */
export interface DeliveryRow {
  /** The courier id, or the product's SKU. */
  key: string;
  /** Parcels shipped (shipments; an exchanged order's second parcel counts again). */
  shipped: number;
  /** Parcels delivered (a `deliver` step while it was the order's latest parcel). */
  delivered: number;
  /** Parcels refused at the door or on the way (a `refuse` step). */
  refused: number;
  /** Parcels returned after delivery (a `return` step after its `deliver`). */
  returned: number;
  /** delivered / shipped; null when nothing shipped. */
  deliveryRate: number | null;
  /** refused / shipped. */
  refusalRate: number | null;
  /** returned / shipped. */
  returnRate: number | null;
}

/** What a delivery report is grouped by. */
export type DeliveryBy = 'courier' | 'product';

const DAY_MS = 86_400_000;

/** Rows as the stores answer them (PostgreSQL: int8 and numeric sums as strings). */
type Num = number | string | null;
interface AgentSqlRow { bucket: Num; agent: string | null; orders: Num; units: Num; value_fen: Num }
interface ProductSqlRow { bucket: Num; sku: string; name_zh: string | null; name_en: string | null; orders: Num; units: Num; gift_units: Num; value_fen: Num }
interface DeliverySqlRow { key: string; shipped: Num; delivered: Num; refused: Num; returned: Num }

/** The interval start of `col` (local midnight as epoch ms) or 0 for the whole period (set to `from` after). */
function bucketOf(col: RawBuilder<unknown>, f: ShopReportFilter): RawBuilder<unknown> {
  if (f.interval === 'all') return sql`0`;
  return sql`${col} - ((${col} + ${sql.lit(f.utcOffsetMinutes * 60_000)}) % ${sql.lit(DAY_MS)})`;
}

/** The programme/airing filter on orders `o` (null selects orders without it). */
function mediaOf(f: ShopReportFilter): RawBuilder<unknown> {
  const part = (col: string, v: string | null | undefined): RawBuilder<unknown> => (v === undefined ? sql`` : v === null ? sql` AND ${sql.ref(col)} IS NULL` : sql` AND ${sql.ref(col)} = ${v}`);
  return sql`${part('o.programme', f.programme)}${part('o.airing', f.airing)}`;
}

/** The orders-by-agent query (exported for the query-plan test). */
export function ordersByAgentQuery(f: ShopReportFilter): RawBuilder<AgentSqlRow> {
  return sql<AgentSqlRow>`
    SELECT t.bucket, t.agent, count(*) AS orders, sum(t.units) AS units, sum(t.total_fen) AS value_fen
    FROM (
      SELECT ${bucketOf(sql.ref('o.created_at'), f)} AS bucket, o.agent, o.total_fen,
        (SELECT coalesce(sum(i.quantity), 0) FROM shop_order_items i WHERE i.order_id = o.id AND i.gift = 0) AS units
      FROM shop_orders o
      WHERE o.created_at >= ${f.from} AND o.created_at < ${f.to} AND o.status <> 'cancelled'${mediaOf(f)}
    ) t
    GROUP BY t.bucket, t.agent`;
}

/** The orders-by-product query. */
export function ordersByProductQuery(f: ShopReportFilter): RawBuilder<ProductSqlRow> {
  return sql<ProductSqlRow>`
    SELECT t.bucket, t.sku, max(p.name_zh) AS name_zh, max(p.name_en) AS name_en, count(DISTINCT t.paid_order) AS orders,
      sum(t.units) AS units, sum(t.gift_units) AS gift_units, sum(t.value_fen) AS value_fen
    FROM (
      SELECT ${bucketOf(sql.ref('o.created_at'), f)} AS bucket, i.sku,
        CASE WHEN i.gift = 0 THEN o.id END AS paid_order,
        CASE WHEN i.gift = 0 THEN i.quantity ELSE 0 END AS units,
        CASE WHEN i.gift = 1 THEN i.quantity ELSE 0 END AS gift_units,
        i.unit_price_fen * i.quantity AS value_fen
      FROM shop_orders o JOIN shop_order_items i ON i.order_id = o.id
      WHERE o.created_at >= ${f.from} AND o.created_at < ${f.to} AND o.status <> 'cancelled'${mediaOf(f)}
    ) t LEFT JOIN shop_products p ON p.sku = t.sku
    GROUP BY t.bucket, t.sku`;
}

/** A history step `action` of parcel `s` (the order's step while `s` was its latest parcel). */
function stepOf(action: HistoryAction): RawBuilder<unknown> {
  return sql`EXISTS (SELECT 1 FROM shop_order_history h WHERE h.order_id = s.order_id AND h.action = ${action} AND h.at >= s.shipped_at
    AND NOT EXISTS (SELECT 1 FROM shop_shipments s2 WHERE s2.order_id = s.order_id AND s2.shipped_at > s.shipped_at AND s2.shipped_at <= h.at))`;
}

/** The delivery query, per courier or per product. */
export function deliveryQuery(f: ShopReportFilter, by: DeliveryBy): RawBuilder<DeliverySqlRow> {
  const parcels = sql`
    SELECT s.waybill, s.order_id, s.courier_id,
      CASE WHEN ${stepOf('deliver')} THEN 1 ELSE 0 END AS delivered,
      CASE WHEN ${stepOf('refuse')} THEN 1 ELSE 0 END AS refused,
      CASE WHEN ${stepOf('return')} AND ${stepOf('deliver')} THEN 1 ELSE 0 END AS returned
    FROM shop_shipments s JOIN shop_orders o ON o.id = s.order_id
    WHERE s.shipped_at >= ${f.from} AND s.shipped_at < ${f.to}${mediaOf(f)}`;
  if (by === 'courier') {
    return sql<DeliverySqlRow>`SELECT f.courier_id AS key, count(*) AS shipped, sum(f.delivered) AS delivered, sum(f.refused) AS refused, sum(f.returned) AS returned
      FROM (${parcels}) f GROUP BY f.courier_id`;
  }
  // A parcel with two lines of one product counts once for it.
  const once = (flag: string): RawBuilder<unknown> => sql`count(DISTINCT CASE WHEN ${sql.ref(`f.${flag}`)} = 1 THEN f.waybill END)`;
  return sql<DeliverySqlRow>`SELECT i.sku AS key, count(DISTINCT f.waybill) AS shipped, ${once('delivered')} AS delivered, ${once('refused')} AS refused, ${once('returned')} AS returned
    FROM (${parcels}) f JOIN shop_order_items i ON i.order_id = f.order_id AND i.gift = 0 GROUP BY i.sku`;
}

const num = (v: Num): number => Number(v ?? 0);
/** Nulls first, then by text: the same on both stores (their NULL ordering differs). */
const byKey = (a: string | null, b: string | null): number => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1);
const startOf = (bucket: Num, f: ShopReportFilter): number => (f.interval === 'all' ? f.from : Number(bucket));

/** Orders per agent and interval, by interval then agent (none first). */
export async function ordersByAgent(db: Kysely<ShopDatabase>, f: ShopReportFilter): Promise<AgentOrdersRow[]> {
  const r = await ordersByAgentQuery(f).execute(db);
  return r.rows.map((x) => ({ start: startOf(x.bucket, f), agent: x.agent, orders: num(x.orders), units: num(x.units), valueFen: num(x.value_fen) }))
    .sort((a, b) => a.start - b.start || byKey(a.agent, b.agent));
}

/** Orders per product and interval, by interval then SKU. */
export async function ordersByProduct(db: Kysely<ShopDatabase>, f: ShopReportFilter): Promise<ProductOrdersRow[]> {
  const r = await ordersByProductQuery(f).execute(db);
  return r.rows.map((x) => ({
    start: startOf(x.bucket, f), sku: x.sku, nameZh: x.name_zh, nameEn: x.name_en, orders: num(x.orders), units: num(x.units),
    giftUnits: num(x.gift_units), valueFen: num(x.value_fen),
  })).sort((a, b) => a.start - b.start || byKey(a.sku, b.sku));
}

/** Delivery outcomes and rates of the parcels shipped in the period (the interval is not used: one row per key). */
export async function deliveryOutcomes(db: Kysely<ShopDatabase>, f: ShopReportFilter, by: DeliveryBy): Promise<DeliveryRow[]> {
  const r = await deliveryQuery(f, by).execute(db);
  const rate = (n: number, of: number): number | null => (of === 0 ? null : n / of);
  return r.rows.map((x) => {
    const shipped = num(x.shipped);
    const [delivered, refused, returned] = [num(x.delivered), num(x.refused), num(x.returned)];
    return { key: x.key, shipped, delivered, refused, returned, deliveryRate: rate(delivered, shipped), refusalRate: rate(refused, shipped), returnRate: rate(returned, shipped) };
  }).sort((a, b) => byKey(a.key, b.key));
}

/**
 * The agents' orders with their answered calls (`answered`: the engine's report rows by agent for
 * the same intervals): conversion = orders / answered. An agent who answered calls and took no
 * order gets a row (conversion 0); orders without an agent keep `answered` null. `answered`
 * null (no engine report to ask): every row's answered and conversion are null.
 */
export function withAnswered(rows: readonly AgentOrdersRow[], answered: readonly { start: number; agent: string | null; answered: number }[] | null): AgentConversionRow[] {
  if (answered === null) return rows.map((r) => ({ ...r, answered: null, conversion: null }));
  const key = (start: number, agent: string | null): string => `${start}|${agent ?? ''}`;
  const calls = new Map<string, number>();
  for (const a of answered) if (a.agent !== null) calls.set(key(a.start, a.agent), (calls.get(key(a.start, a.agent)) ?? 0) + a.answered);
  const out: AgentConversionRow[] = rows.map((r) => {
    const n = r.agent === null ? null : calls.get(key(r.start, r.agent)) ?? 0;
    return { ...r, answered: n, conversion: n === null || n === 0 ? null : r.orders / n };
  });
  const seen = new Set(rows.map((r) => key(r.start, r.agent)));
  for (const a of answered) {
    if (a.agent === null || seen.has(key(a.start, a.agent)) || a.answered === 0) continue;
    seen.add(key(a.start, a.agent));
    out.push({ start: a.start, agent: a.agent, orders: 0, units: 0, valueFen: 0, answered: calls.get(key(a.start, a.agent)) ?? 0, conversion: 0 });
  }
  return out.sort((a, b) => a.start - b.start || byKey(a.agent, b.agent));
}

/** A report as a table (header and rows), for engine/reports' CSV and XLSX writers. */
export interface ShopReportTable {
  header: string[];
  rows: (string | number | null)[][];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The agents' report as a table. */
export function agentTable(rows: readonly AgentConversionRow[]): ShopReportTable {
  return {
    header: ['start', 'agent', 'orders', 'units', 'valueFen', 'answered', 'conversion'],
    rows: rows.map((r) => [iso(r.start), r.agent, r.orders, r.units, r.valueFen, r.answered, r.conversion]),
  };
}

/** The products' report as a table. */
export function productTable(rows: readonly ProductOrdersRow[]): ShopReportTable {
  return {
    header: ['start', 'sku', 'nameZh', 'nameEn', 'orders', 'units', 'giftUnits', 'valueFen'],
    rows: rows.map((r) => [iso(r.start), r.sku, r.nameZh, r.nameEn, r.orders, r.units, r.giftUnits, r.valueFen]),
  };
}

/** The delivery report as a table (first column `courier` or `sku`). */
export function deliveryTable(rows: readonly DeliveryRow[], by: DeliveryBy): ShopReportTable {
  return {
    header: [by === 'courier' ? 'courier' : 'sku', 'shipped', 'delivered', 'refused', 'returned', 'deliveryRate', 'refusalRate', 'returnRate'],
    rows: rows.map((r) => [r.key, r.shipped, r.delivered, r.refused, r.returned, r.deliveryRate, r.refusalRate, r.returnRate]),
  };
}
