/**
 * `npm run bench -- shop [--store sqlite|postgres|both] [--customers N] [--orders N] [--samples N]
 * [--surge-rate N] [--surge-seconds N] [--deadline-ms N]`: the shop (crm-adapter/shop) at size.
 *
 * 1. Generates N customers (default 1,000,000: a number and a default address each) and N orders
 *    (default 5,000,000, over two years in number order, random customers, mixed statuses, no lines: the
 *    look-up and the card never read them) in batches of 10,000 rows into the tables the shop's
 *    migrations made (SQLite: prepared statements on a second connection; PostgreSQL: INSERT
 *    ... SELECT FROM unnest), with a progress line on stderr; then ANALYZE, as a production
 *    database would have.
 * 2. `order_entry_p99_ms`: orders entered one after another through `ShopStore.createOrder` (the
 *    code the API's order entry calls: pricing with promotions, stock, number, history).
 * 3. `lookup_p99_ms`: `ShopCrmAdapter.lookupCaller` by phone number, the customer card included
 *    (the look-up the engine does at a call's arrival).
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

type Col = [name: string, pgType: 'text' | 'int' | 'bigint'];
type Row = Record<string, string | number | null>;
const CUSTOMER_COLS: Col[] = [['id', 'text'], ['name', 'text'], ['language', 'text'], ['vip_level', 'int'], ['blacklisted', 'int'], ['strikes', 'int'], ['low_credit', 'int'],
  ['preferred_agent', 'text'], ['email', 'text'], ['merged_into', 'text'], ['created_at', 'bigint'], ['updated_at', 'bigint']];
const NUMBER_COLS: Col[] = [['number', 'text'], ['customer_id', 'text'], ['created_at', 'bigint']];
const ADDRESS_COLS: Col[] = [['id', 'text'], ['customer_id', 'text'], ['recipient', 'text'], ['phone', 'text'], ['region', 'text'], ['city', 'text'], ['line', 'text'],
  ['postcode', 'text'], ['is_default', 'int'], ['created_at', 'bigint']];
const ORDER_COLS: Col[] = [['id', 'text'], ['customer_id', 'text'], ['status', 'text'], ['delivery_method', 'text'], ['payment_method', 'text'], ['recipient', 'text'],
  ['phone', 'text'], ['region', 'text'], ['city', 'text'], ['line', 'text'], ['postcode', 'text'], ['programme', 'text'], ['airing', 'text'], ['call_id', 'text'],
  ['agent', 'text'], ['invoice_title', 'text'], ['special_requests', 'text'], ['total_fen', 'int'], ['version', 'int'], ['created_at', 'bigint'], ['updated_at', 'bigint']];

/** Bulk rows into one table, a batch a transaction: prepared statements on SQLite, `INSERT ... SELECT FROM unnest(arrays)` on PostgreSQL. */
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
        st = db.prepare(`INSERT INTO ${table} (${cols.map((c) => c[0]).join(', ')}) VALUES (${cols.map((c) => `@${c[0]}`).join(', ')})`);
        stmts.set(table, st);
      }
      const stmt = st;
      db.transaction(() => { for (const r of rows) stmt.run(r); })();
    },
    close: async () => { db.close(); },
  };
}

async function postgresSink(url: string): Promise<Sink> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    insert: async (table, cols, rows) => {
      const arrays = cols.map(([name]) => rows.map((r) => r[name] ?? null));
      await client.query(`INSERT INTO ${table} (${cols.map((c) => c[0]).join(', ')}) SELECT * FROM unnest(${cols.map((c, i) => `$${i + 1}::${c[1]}[]`).join(', ')})`, arrays);
    },
    close: () => client.end(),
  };
}

/** Generate customers, numbers, addresses and orders; returns rows per second. */
async function generate(adapter: ShopCrmAdapter, config: ShopStoreConfig, o: Options, store: string): Promise<number> {
  const sink = config.kind === 'sqlite' ? sqliteSink(config.path) : await postgresSink(config.url);
  const random = seededRandom(17);
  const now = Date.now();
  const batch = 10_000;
  const t0 = performance.now();
  let rows = 0;
  let lastSay = t0;
  const progress = (what: string, done: number, total: number): void => {
    const t = performance.now();
    if (t - lastSay < 10_000 && done < total) return;
    lastSay = t;
    say(`shop ${store}: ${what} ${done.toLocaleString('en')}/${total.toLocaleString('en')} (${Math.round(rows / ((t - t0) / 1000)).toLocaleString('en')} rows/s)`);
  };
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
        const c = Math.floor(random() * o.customers);
        // Orders arrive over two years in number order, as a live shop's do (the primary key grows at its end).
        const created = now - 2 * 365 * DAY + Math.floor((seq / o.orders) * 2 * 365 * DAY);
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
  const db = adapter.store.db;
  // Order entry numbers on from the generated ones.
  await db.insertInto('shop_counters').values({ name: 'order', value: o.orders })
    .onConflict((oc) => oc.column('name').doUpdateSet({ value: o.orders })).execute();
  const rate = rows / ((performance.now() - t0) / 1000);
  await sql`ANALYZE`.execute(db);
  return rate;
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
  const adapter = new ShopCrmAdapter({ store: config });
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
    for (let k = 0; k < o.samples; k++) looks.push(await lookup(adapter, o, Math.floor(random() * o.customers), performance.now()));
    emit({ ...base, metric: 'lookup_p99_ms', value: round(quantile(looks, 0.99)), unit: 'ms', p50: round(quantile(looks, 0.5)), samples: o.samples });

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
