/**
 * Orders and conversion per programme and airing (issue 18 with the shop adapter): the CRM's
 * orders, counted per 15-minute bucket, programme and airing by the shop (its port below), joined
 * into the report rows of a grouping the orders can be split by. Pure: the route reads the port.
 *
 * ```
 *  shop: orders by bucket × programme × airing ──┐
 *  report rows (interval tables) ────────────────┴─▶ row.orders = { orders, valueFen, conversion }
 *                                                    conversion = orders / answered (inbound calls)
 * ```
 * An order is filed where the call that brought it is: the bucket of the linked call's arrival
 * and the order's programme and airing (the media source the agent entered, filled from the call);
 * without a call it is filed at its entry. Definitions: docs/reports.md, Orders and conversion.
 */
import { emptyRow, intervalStart, rowKey, type Dimension, type ReportQuery, type ReportRow } from './query.ts';
import { BUCKET_MS } from './measures.ts';

/** Orders of one bucket, programme and airing, as the shop counts them. */
export interface OrderBucket {
  /** 15-minute bucket start (epoch ms). */
  bucket: number;
  programme: string | null;
  airing: string | null;
  /** Orders entered (every status but cancelled). */
  orders: number;
  /** Their total value, fen (integer minor units). */
  valueFen: number;
}

/** The orders of a report row. */
export interface OrderFigures {
  orders: number;
  valueFen: number;
  /** orders / answered inbound calls of the row; null when nothing was answered. */
  conversion: number | null;
}

/** The narrow port the shop serves: its orders counted per bucket of `bucketMs` ({@link BUCKET_MS}) in `[from, to)`. */
export interface OrdersPort {
  orderBuckets(from: number, to: number, bucketMs: number): Promise<OrderBucket[]>;
}

/** The dimensions orders can be split by. */
const ORDER_DIMENSIONS: readonly Dimension[] = ['programme', 'airing'];

/**
 * True when a report's rows can carry orders: grouped by nothing, programme and/or airing, and
 * filtered by nothing else (an order has no queue or team; inbound is the calls it converts).
 */
export function ordersApply(q: ReportQuery): boolean {
  if (!q.group.every((d) => ORDER_DIMENSIONS.includes(d))) return false;
  for (const [d, v] of Object.entries(q.filter ?? {})) {
    if (v === undefined || ORDER_DIMENSIONS.includes(d as Dimension)) continue;
    if (d === 'direction' && v === 'inbound') continue;
    return false;
  }
  return true;
}

/**
 * Put the orders into the report's rows (a row is added for a group with orders and no calls).
 * Returns new rows in the report's order; every row gets `orders` (zero when it had none).
 */
export function attachOrders(rows: readonly ReportRow[], buckets: readonly OrderBucket[], q: ReportQuery): ReportRow[] {
  const out = new Map<string, ReportRow>();
  for (const r of rows) out.set(rowKey(r.start, r.keys, q.group), { ...r, orders: { orders: 0, valueFen: 0, conversion: null } });
  const from = Math.floor(q.from / BUCKET_MS) * BUCKET_MS;
  for (const b of buckets) {
    if (b.bucket < from || b.bucket >= q.to) continue;
    if (q.filter?.programme !== undefined && (b.programme ?? null) !== q.filter.programme) continue;
    if (q.filter?.airing !== undefined && (b.airing ?? null) !== q.filter.airing) continue;
    const keys: Partial<Record<Dimension, string | null>> = {};
    if (q.group.includes('programme')) keys.programme = b.programme ?? null;
    if (q.group.includes('airing')) keys.airing = b.airing ?? null;
    const start = intervalStart(b.bucket, q);
    const k = rowKey(start, keys, q.group);
    let row = out.get(k);
    if (row === undefined) {
      row = { ...emptyRow(start, keys, q), orders: { orders: 0, valueFen: 0, conversion: null } };
      out.set(k, row);
    }
    row.orders!.orders += b.orders;
    row.orders!.valueFen += b.valueFen;
  }
  for (const r of out.values()) r.orders!.conversion = r.figures.answered > 0 ? r.orders!.orders / r.figures.answered : null;
  return [...out.entries()].sort((a, b) => (a[1].start - b[1].start) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
}

/**
 * The report's rows with the port's orders, when the grouping allows them (else the rows as they
 * are). The shop is asked from the start of the first bucket, as the calls are filed.
 */
export async function withOrders(rows: ReportRow[], port: OrdersPort, q: ReportQuery): Promise<ReportRow[]> {
  if (!ordersApply(q)) return rows;
  return attachOrders(rows, await port.orderBuckets(Math.floor(q.from / BUCKET_MS) * BUCKET_MS, q.to, BUCKET_MS), q);
}
