/**
 * `npm run bench -- shop [--store sqlite|postgres|both] [--customers N] [--orders N] [--samples N]
 * [--surge-rate N] [--surge-seconds N] [--deadline-ms N]`: the shop (crm-adapter/shop) at size.
 *
 * 1. Generates N customers (default 1,000,000: a number and a default address each) and N orders
 *    (default 5,000,000, over two years in number order, each customer the same number of orders
 *    (order k's customer: k × 2654435761 mod customers), mixed statuses, no lines: the look-up and
 *    the card never read them) into the tables the shop's migrations made: the same rows on both
 *    stores. SQLite: prepared statements on a second connection, 10,000 rows a transaction.
 *    PostgreSQL: `INSERT ... SELECT ... FROM generate_series` in the server, 250,000 rows a
 *    statement, the orders' secondary indexes dropped for the load and built once after (rows
 *    built in Node and shipped in batches ran at ~10,000 rows/s: 13 minutes for 5 M orders). A progress line on stderr; then ANALYZE, as a production database would have.
 * 2. `order_entry_p99_ms`: orders entered one after another through `ShopStore.createOrder` (the
 *    code the API's order entry calls: pricing with promotions, stock, number, history).
 * 3. `lookup_p99_ms`: `ShopCrmAdapter.lookupCaller` by phone number, the customer card included
 *    (the look-up the engine does at a call's arrival); `lookup_queries`: the queries one look-up
 *    issued (the store's query log).
 * 4. The surge: look-ups started at `--surge-rate` per second (default 300) for `--surge-seconds`
 *    (30) on a fixed schedule while orders are entered back to back; each look-up's time counts
 *    from its scheduled start (a late start is latency the caller sees) and gets the engine's
 *    deadline (`crm.lookupDeadlineMs`, default from the config schema) as its abort signal.
 *    `surge_lookup_p99_ms` and `surge_lookup_missed` (look-ups over the deadline).
 *
 * SQLite: a file in a temp folder (WAL, synchronous NORMAL: engine/db's opener). PostgreSQL: a
 * throwaway local cluster (engine/testing/postgres.ts: fsync and synchronous_commit off), so the
 * figures are the queries' cost and round trips, not a disk's. Each line has a `store` field.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { emit, machine, quantile, say, seededRandom } from './lib.ts';
import { DEMO_PROGRAMME, ShopCrmAdapter, orderNumber, seedShopDemo, type ShopStoreConfig } from '../crm-adapter/shop/index.ts';
import { configSchema } from '../engine/config/index.ts';
import { openDatabase, type SqliteStatement } from '../engine/db/index.ts';
import { startPostgres } from '../engine/testing/postgres.ts';

const BENCH = 'shop';
const STATUSES = ['ordered', 'reviewed', 'shipped', 'delivered', 'settled', 'settled', 'settled', 'refused', 'returned', 'cancelled'] as const;
const REGIONS = ['上海市', '北京市', '广东省', '江苏省', '浙江省', '四川省'] as const;
const DAY = 86_400_000;

interface Options {
  stores: ('sqlite' | 'postgres')[];
  customers: number;
  orders: number;
  samples: number;
  surgeRate: number;
  surgeSeconds: number;
  deadlineMs: number;
}

function options(args: string[]): Options {
  const value = (name: string, dflt: number): number => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const n = Number(args[i + 1]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name}: a whole number ≥ 1`);
    return n;
  };
  const i = args.indexOf('--store');
  const store = i < 0 ? 'both' : args[i + 1];
  if (store !== 'sqlite' && store !== 'postgres' && store !== 'both') throw new Error('--store sqlite|postgres|both');
  return {
    stores: store === 'both' ? ['sqlite', 'postgres'] : [store],
    customers: value('--customers', 1_000_000), orders: value('--orders', 5_000_000), samples: value('--samples', 2000),
    surgeRate: value('--surge-rate', 300), surgeSeconds: value('--surge-seconds', 30),
    deadlineMs: value('--deadline-ms', configSchema.parse({ crm: { adapter: 'shop' } }).crm.lookupDeadlineMs),
  };
}

const numberOf = (i: number): string => `+86139${String(i).padStart(8, '0')}`;
const customerOf = (i: number): string => `BC${String(i).padStart(8, '0')}`;
/** Knuth's multiplicative hash: coprime with 10^n customers, so consecutive orders go round every customer evenly. */
const ORDER_SPREAD = 2654435761n;
/** The customer (index) of generated order `seq` (1-based); the PostgreSQL generation computes the same in SQL. */
const orderCustomer = (seq: number, customers: number): number => Number((BigInt(seq) * ORDER_SPREAD) % BigInt(customers));
/** Created time of generated order `seq` of `orders`: two years up to `now`, in number order. */
const orderCreated = (seq: number, orders: number, now: number): number => now - 2 * 365 * DAY + Number((BigInt(seq) * BigInt(2 * 365 * DAY)) / BigInt(orders));

/** A table's generated columns. */
type Col = string;
type Row = Record<string, string | number | null>;
const CUSTOMER_COLS: Col[] = ['id', 'name', 'language', 'vip_level', 'blacklisted', 'strikes', 'low_credit',
  'preferred_agent', 'email', 'merged_into', 'created_at', 'updated_at'];
const NUMBER_COLS: Col[] = ['number', 'customer_id', 'created_at'];
const ADDRESS_COLS: Col[] = ['id', 'customer_id', 'recipient', 'phone', 'region', 'city', 'line',
  'postcode', 'is_default', 'created_at'];
const ORDER_COLS: Col[] = ['id', 'customer_id', 'status', 'delivery_method', 'payment_method', 'recipient',
  'phone', 'region', 'city', 'line', 'postcode', 'programme', 'airing', 'call_id',
  'agent', 'invoice_title', 'special_requests', 'total_fen', 'version', 'created_at', 'updated_at'];

/** Bulk rows into one table, a batch a transaction (SQLite: prepared statements). */
interface Sink {
  insert(table: string, cols: Col[], rows: Row[]): Promise<void>;
  close(): Promise<void>;
}

function sqliteSink(file: string): Sink {
  // A second connection to the store's file (WAL): the generation skips Kysely's query building, which would dominate at this size.
  const db = openDatabase({ path: file });
  // The indexes on customer ids take random inserts: a 256 MiB page cache keeps them off the disk while generating.
  db.pragma('cache_size = -262144');
  const stmts = new Map<string, SqliteStatement>();
  return {
    insert: async (table, cols, rows) => {
      let st = stmts.get(table);
      if (st === undefined) {
        st = db.prepare(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`);
        stmts.set(table, st);
      }
      const stmt = st;
      db.transaction(() => { for (const r of rows) stmt.run(r); })();
    },
    close: async () => { db.close(); },
  };
}

/** Generate customers, numbers, addresses and orders; returns rows per second. */
async function generate(adapter: ShopCrmAdapter, config: ShopStoreConfig, o: Options, store: string): Promise<number> {
  const now = Date.now();
  const rate = config.kind === 'sqlite' ? await generateSqlite(config.path, o, store, now) : await generatePostgres(config.url, o, store, now);
  const db = adapter.store.db;
  // Order entry numbers on from the generated ones.
  await db.insertInto('shop_counters').values({ name: 'order', value: o.orders })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: o.orders })).execute();
  await sql`ANALYZE`.execute(db);
  return rate;
}

/** A progress line every 10 s (and at the end of each table). */
function progressLine(store: string, t0: number): (what: string, done: number, total: number, rows: number) => void {
  let lastSay = t0;
  return (what, done, total, rows) => {
    const t = performance.now();
    if (t - lastSay < 10_000 && done < total) return;
    lastSay = t;
    say(`shop ${store}: ${what} ${done.toLocaleString('en')}/${total.toLocaleString('en')} (${Math.round(rows / ((t - t0) / 1000)).toLocaleString('en')} rows/s)`);
  };
}

/**
 * The rows of {@link generateSqlite}, built by PostgreSQL itself: one `INSERT ... SELECT` over
 * `generate_series` per table and slice, nothing shipped from Node but the numbers.
 */
async function generatePostgres(url: string, o: Options, store: string, now: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const slice = 250_000;
  const t0 = performance.now();
  const progress = progressLine(store, t0);
  let rows = 0;
  const at = now - 2 * 365 * DAY;
  const regions = `(ARRAY[${REGIONS.map((r) => `'${r}'`).join(', ')}])`;
  const statuses = `(ARRAY[${STATUSES.map((r) => `'${r}'`).join(', ')}])`;
  // lpad cuts a longer text: pad to at least n digits, as padStart does.
  const pad = (e: string, n: number): string => `lpad((${e})::text, greatest(${n}, length((${e})::text)), '0')`;
  try {
    for (let b = 0; b < o.customers; b += slice) {
      const e = Math.min(o.customers, b + slice) - 1;
      await client.query(`INSERT INTO shop_customers (${CUSTOMER_COLS.join(', ')})
        SELECT 'BC' || ${pad('i', 8)}, '客户' || i, CASE WHEN i % 10 = 0 THEN 'en' ELSE 'zh' END, CASE WHEN i % 50 = 0 THEN 2 ELSE 0 END, 0,
          CASE WHEN i % 97 = 0 THEN 1 ELSE 0 END, 0, NULL, 'c' || i || '@example.com', NULL, $3::bigint, $3::bigint
        FROM generate_series($1::bigint, $2::bigint) AS i`, [b, e, at]);
      await client.query(`INSERT INTO shop_customer_numbers (${NUMBER_COLS.join(', ')})
        SELECT '+86139' || ${pad('i', 8)}, 'BC' || ${pad('i', 8)}, $3::bigint FROM generate_series($1::bigint, $2::bigint) AS i`, [b, e, at]);
      await client.query(`INSERT INTO shop_addresses (${ADDRESS_COLS.join(', ')})
        SELECT 'BA' || i, 'BC' || ${pad('i', 8)}, '客户' || i, '139' || ${pad('i', 8)}, ${regions}[(i % ${REGIONS.length})::int + 1], '市区', '人民路' || (i % 1000) || '号', NULL, 1, $3::bigint
        FROM generate_series($1::bigint, $2::bigint) AS i`, [b, e, at]);
      rows += (e - b + 1) * 3;
      progress('customers', e + 1, o.customers, rows);
    }
    // A bulk load builds the orders' secondary indexes once, after the rows (as migrations 0001 and
    // 0005 made them): kept during the load, the index by customer takes 5 M inserts in random order.
    await client.query('DROP INDEX shop_orders_by_customer, shop_orders_by_status, shop_orders_by_created');
    for (let b = 1; b <= o.orders; b += slice) {
      const e = Math.min(o.orders, b + slice - 1);
      // orderCustomer() and orderCreated() in SQL; the id is orderNumber(created, seq).
      await client.query(`INSERT INTO shop_orders (${ORDER_COLS.join(', ')})
        SELECT 'SO' || to_char(to_timestamp(g.created / 1000) AT TIME ZONE 'UTC', 'YYYYMMDD') || ${pad('g.seq', 6)}, 'BC' || ${pad('g.c', 8)},
          ${statuses}[(g.seq % ${STATUSES.length})::int + 1], 'standard', 'cod', '客户' || g.c, '139' || ${pad('g.c', 8)}, ${regions}[(g.c % ${REGIONS.length})::int + 1], '市区',
          '人民路' || (g.c % 1000) || '号', NULL, $5::text, NULL, NULL, '1001', NULL, NULL, 29900, 1, g.created, g.created
        FROM (SELECT seq, (seq * ${ORDER_SPREAD}::bigint) % $3::bigint AS c, $4::bigint + (seq * ${2 * 365 * DAY}::bigint) / $6::bigint AS created
              FROM generate_series($1::bigint, $2::bigint) AS seq) g`, [b, e, o.customers, now - 2 * 365 * DAY, DEMO_PROGRAMME, o.orders]);
      rows += e - b + 1;
      progress('orders', e, o.orders, rows);
    }
    await client.query('CREATE INDEX shop_orders_by_customer ON shop_orders (customer_id, created_at)');
    await client.query('CREATE INDEX shop_orders_by_status ON shop_orders (status, created_at)');
    await client.query('CREATE INDEX shop_orders_by_created ON shop_orders (created_at)');
    progress('orders\' indexes', o.orders, o.orders, rows);
  } finally {
    await client.end();
  }
  return rows / ((performance.now() - t0) / 1000);
}

/** Customers, numbers, addresses and orders built in Node, inserted by prepared statements (SQLite). */
async function generateSqlite(file: string, o: Options, store: string, now: number): Promise<number> {
  const sink = sqliteSink(file);
  const batch = 10_000;
  const t0 = performance.now();
  let rows = 0;
  const progressRows = progressLine(store, t0);
  const progress = (what: string, done: number, total: number): void => progressRows(what, done, total, rows);
  try {
    const at = now - 2 * 365 * DAY;
    for (let b = 0; b < o.customers; b += batch) {
      const ids = Array.from({ length: Math.min(batch, o.customers - b) }, (_, k) => b + k);
      await sink.insert('shop_customers', CUSTOMER_COLS, ids.map((i) => ({
        id: customerOf(i), name: `客户${i}`, language: i % 10 === 0 ? 'en' : 'zh', vip_level: i % 50 === 0 ? 2 : 0, blacklisted: 0, strikes: i % 97 === 0 ? 1 : 0,
        low_credit: 0, preferred_agent: null, email: `c${i}@example.com`, merged_into: null, created_at: at, updated_at: at,
      })));
      await sink.insert('shop_customer_numbers', NUMBER_COLS, ids.map((i) => ({ number: numberOf(i), customer_id: customerOf(i), created_at: at })));
      await sink.insert('shop_addresses', ADDRESS_COLS, ids.map((i) => ({
        id: `BA${i}`, customer_id: customerOf(i), recipient: `客户${i}`, phone: numberOf(i).slice(3), region: REGIONS[i % REGIONS.length]!, city: '市区',
        line: `人民路${i % 1000}号`, postcode: null, is_default: 1, created_at: at,
      })));
      rows += ids.length * 3;
      progress('customers', b + ids.length, o.customers);
    }
    for (let b = 0; b < o.orders; b += batch) {
      const n = Math.min(batch, o.orders - b);
      await sink.insert('shop_orders', ORDER_COLS, Array.from({ length: n }, (_, k) => {
        const seq = b + k + 1;
        const c = orderCustomer(seq, o.customers);
        // Orders arrive over two years in number order, as a live shop's do (the primary key grows at its end).
        const created = orderCreated(seq, o.orders, now);
        return {
          id: orderNumber(created, seq), customer_id: customerOf(c), status: STATUSES[seq % STATUSES.length]!, delivery_method: 'standard', payment_method: 'cod',
          recipient: `客户${c}`, phone: numberOf(c).slice(3), region: REGIONS[c % REGIONS.length]!, city: '市区', line: `人民路${c % 1000}号`, postcode: null,
          programme: DEMO_PROGRAMME, airing: null, call_id: null, agent: '1001', invoice_title: null, special_requests: null,
          total_fen: 29900, version: 1, created_at: created, updated_at: created,
        };
      }));
      rows += n;
      progress('orders', b + n, o.orders);
    }
  } finally {
    await sink.close();
  }
  return rows / ((performance.now() - t0) / 1000);
}

/** Enter one order for a random generated customer through the store's order entry; its time in ms. */
async function enterOrder(adapter: ShopCrmAdapter, o: Options, random: () => number): Promise<number> {
  const c = Math.floor(random() * o.customers);
  const t = performance.now();
  const r = await adapter.store.createOrder({
    customerId: customerOf(c), items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'standard', paymentMethod: 'cod',
    programme: DEMO_PROGRAMME, airing: null, callId: null, agent: '1001',
  }, 'agent:1001');
  const ms = performance.now() - t;
  if (!r.ok) throw new Error(`order entry refused: ${r.reason}`);
  return ms;
}

/** One look-up by number as the engine makes it: its deadline as the abort signal, the card included unless aborted. */
async function lookup(adapter: ShopCrmAdapter, o: Options, i: number, startedAt: number): Promise<number> {
  const controller = new AbortController();
  const left = Math.max(0, o.deadlineMs - (performance.now() - startedAt));
  const timer = setTimeout(() => controller.abort(), left);
  try {
    const info = await adapter.lookupCaller(numberOf(i), { dialled: '100', deadlineMs: left, signal: controller.signal, callId: `bench-${i}` });
    if (!info.known) throw new Error(`customer ${i} not found`);
    return performance.now() - startedAt;
  } finally {
    clearTimeout(timer);
  }
}

async function runStore(kind: 'sqlite' | 'postgres', o: Options): Promise<void> {
  let cleanup = (): void => {};
  let config: ShopStoreConfig;
  if (kind === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'onair-bench-shop-'));
    cleanup = () => rmSync(dir, { recursive: true, force: true });
    config = { kind: 'sqlite', path: path.join(dir, 'shop.db') };
  } else {
    const cluster = await startPostgres();
    if (cluster === undefined) {
      say('shop postgres: PostgreSQL is not installed (Debian postgresql): skipped');
      return;
    }
    cleanup = () => cluster.stop();
    config = { kind: 'postgres', url: await cluster.createDatabase('shop_bench'), poolSize: 10 };
  }
  // Queries counted while `counting` (the look-ups one after another: nothing else runs then).
  const queryCount = { counting: false, n: 0 };
  const adapter = new ShopCrmAdapter({ store: config, onQuery: () => { if (queryCount.counting) queryCount.n++; } });
  try {
    await adapter.init();
    await seedShopDemo(adapter.store, Date.now());
    // Stock for every order the bench enters.
    await adapter.store.db.updateTable('shop_products').set({ stock: 1_000_000_000 }).execute();
    const base = { bench: BENCH, store: kind, customers: o.customers, orders: o.orders, machine: machine(), load: os.loadavg().map((l) => Number(l.toFixed(2))) };
    const t0 = performance.now();
    const genRate = await generate(adapter, config, o, kind);
    emit({ ...base, metric: 'generate_rows_per_second', value: Math.round(genRate), unit: 'rows/s', seconds: Math.round((performance.now() - t0) / 1000) });

    const random = seededRandom(42);
    for (let k = 0; k < 50; k++) await enterOrder(adapter, o, random); // warm-up
    const entry: number[] = [];
    for (let k = 0; k < o.samples; k++) entry.push(await enterOrder(adapter, o, random));
    emit({ ...base, metric: 'order_entry_p99_ms', value: round(quantile(entry, 0.99)), unit: 'ms', p50: round(quantile(entry, 0.5)), samples: o.samples });

    const looks: number[] = [];
    queryCount.counting = true;
    for (let k = 0; k < o.samples; k++) looks.push(await lookup(adapter, o, Math.floor(random() * o.customers), performance.now()));
    queryCount.counting = false;
    emit({ ...base, metric: 'lookup_p99_ms', value: round(quantile(looks, 0.99)), unit: 'ms', p50: round(quantile(looks, 0.5)), samples: o.samples });
    emit({ ...base, metric: 'lookup_queries', value: round(queryCount.n / o.samples), unit: 'queries/look-up', samples: o.samples });

    // The surge: look-ups on a fixed schedule, order entry back to back beside them.
    const total = o.surgeRate * o.surgeSeconds;
    const surge: Promise<number>[] = [];
    let entering = true;
    let entered = 0;
    const orders = (async () => {
      while (entering) {
        await enterOrder(adapter, o, random);
        entered++;
        // Orders arrive as HTTP requests, each its own turn of the event loop: on SQLite (a synchronous driver) a
        // back-to-back loop of promises would never let the look-ups' timers run.
        await new Promise((r) => setImmediate(r));
      }
    })();
    const start = performance.now();
    for (let k = 0; k < total; k++) {
      const due = start + (k * 1000) / o.surgeRate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      surge.push(lookup(adapter, o, Math.floor(random() * o.customers), due));
    }
    const lat = await Promise.all(surge);
    entering = false;
    await orders;
    const seconds = (performance.now() - start) / 1000;
    const missed = lat.filter((ms) => ms > o.deadlineMs).length;
    emit({
      ...base, metric: 'surge_lookup_p99_ms', value: round(quantile(lat, 0.99)), unit: 'ms', p50: round(quantile(lat, 0.5)), lookups: total,
      ratePerSecond: o.surgeRate, seconds: round(seconds), deadlineMs: o.deadlineMs, missed, ordersEntered: entered, orderEntryPerSecond: round(entered / seconds),
    });
    emit({ ...base, metric: 'surge_lookup_missed', value: missed, unit: 'lookups', of: total, deadlineMs: o.deadlineMs });
    say(`shop ${kind}: entry p99 ${round(quantile(entry, 0.99))} ms, look-up p99 ${round(quantile(looks, 0.99))} ms; surge ${o.surgeRate}/s: p99 ${round(quantile(lat, 0.99))} ms, ${missed}/${total} over ${o.deadlineMs} ms, ${entered} orders entered meanwhile`);
  } finally {
    await adapter.close();
    cleanup();
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export async function main(args: string[]): Promise<void> {
  const o = options(args);
  say(`shop: ${o.customers.toLocaleString('en')} customers, ${o.orders.toLocaleString('en')} orders on ${o.stores.join(' and ')}; ${machine()}`);
  for (const s of o.stores) await runStore(s, o);
}
