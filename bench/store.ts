/**
 * `npm run bench -- store [--quick] [--store sqlite|postgres] [--url postgres://...]`: cost of the engine store's writes (journal, finishCall) on a
 * file database with synchronous=NORMAL and FULL, committing each write or grouping the writes of
 * an event-loop turn (group commit); outbox dispatch throughput into the built-in SQLite CRM; due() latency with a
 * large backlog held back by a CRM outage.
 *
 * `--store postgres` runs the same calls on the PostgreSQL store (engine/store/pg): on `--url`, or
 * on a throwaway local cluster (engine/testing/postgres.ts: fsync and synchronous_commit off, so
 * the figures are the store's own cost and the protocol round trips, not a disk's).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { emit, machine, median, rate, say } from './lib.ts';
import { openStore, OutboxDispatcher, FakeClock, sampleCdr, sampleEvent, type SqliteStore, type Synchronous } from '../engine/store/index.ts';
import { SqliteCrmAdapter } from '../crm-adapter/index.ts';
import { sql } from 'kysely';
import { openDatabase, SqliteWriter } from '../engine/db/index.ts';
import { openPgStore, type PgStore } from '../engine/store/pg/index.ts';
import { startPostgres } from '../engine/testing/postgres.ts';
import type { Store } from '../engine/store/types.ts';

const BENCH = 'store';

async function withStore<R>(sync: Synchronous, fn: (store: SqliteStore) => R | Promise<R>, groupCommit = false): Promise<R> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'onair-bench-'));
  const store = openStore({ path: path.join(dir, 'onair.db'), synchronous: sync, groupCommit });
  try {
    return await fn(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const info = { caller: '+4930123456', dialled: '100', programme: 'show', airing: null, customerId: null, queue: 'orders' };

/** One call's life in the journal and its end: 4 journal writes + finishCall (2 events + CDR). */
function oneCall(store: Store, id: string, now: number): void {
  void store.journal.arrived(id, info, now);
  void store.journal.queued(id, 'orders', now);
  void store.journal.offered(id, '1001', now);
  void store.journal.answered(id, '1001', now);
  void store.finishCall({ cdr: sampleCdr(id), events: [sampleEvent(id, 1), sampleEvent(id, 2)], callback: null }, now);
}

/**
 * Calls per second when each event-loop turn ends `perTurn` calls (all their writes) and then
 * yields, so that the group commit runs as it would in the engine. Median of `rounds`.
 */
async function turnRate(store: Store, perTurn: number, ms: number, rounds: number, tag: string): Promise<number> {
  const rates: number[] = [];
  let seq = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    let calls = 0;
    let dt = 0;
    while (dt < ms / rounds) {
      const last: Promise<unknown>[] = [];
      for (let k = 0; k < perTurn; k++) {
        const id = `${tag}${seq++}`;
        oneCall(store, id, 0);
        last.push(store.journal.heartbeat(0));
      }
      await Promise.all(last);
      calls += perTurn;
      dt = Number(process.hrtime.bigint() - t0) / 1e6;
    }
    rates.push((calls * 1000) / dt);
  }
  return median(rates);
}

export async function main(args: string[]): Promise<void> {
  const kind = args[args.indexOf('--store') + 1];
  if (args.includes('--store') && kind !== 'sqlite' && kind !== 'postgres') throw new Error(`--store sqlite|postgres, got ${String(kind)}`);
  if (kind === 'postgres') return mainPostgres(args);
  const quick = args.includes('--quick');
  const ms = quick ? 500 : 1500;
  say(`store bench on ${machine()}`);
  for (const sync of ['normal', 'full'] as const) {
    // offered() on 1024 calls that exist, so that every UPDATE changes a row and commits.
    const journal = await withStore(sync, (store) => {
      for (let i = 0; i < 1024; i++) void store.journal.arrived(`j${i}`, info, 0);
      return rate((n) => {
        for (let i = 0; i < n; i++) void store.journal.offered(`j${i & 1023}`, '1001', i);
      }, { ms });
    });
    emit({ bench: BENCH, metric: `journal_write_rate_${sync}`, value: Math.round(journal.median), unit: 'writes/s', rounds: journal.rounds.map(Math.round) });
    const single = await withStore(sync, (store) => turnRate(store, 1, ms, 3, 's'));
    emit({ bench: BENCH, metric: `call_writes_rate_${sync}`, value: Math.round(single), unit: 'calls/s', note: 'one transaction per write: 4 journal writes + finishCall (2 events + CDR) per call' });
    const group1 = await withStore(sync, (store) => turnRate(store, 1, ms, 3, 'g'), true);
    emit({ bench: BENCH, metric: `call_writes_group1_rate_${sync}`, value: Math.round(group1), unit: 'calls/s', note: 'group commit, one call per event-loop turn' });
    const group10 = await withStore(sync, (store) => turnRate(store, 10, ms, 3, 'h'), true);
    emit({ bench: BENCH, metric: `call_writes_group10_rate_${sync}`, value: Math.round(group10), unit: 'calls/s', note: 'group commit, ten calls per event-loop turn' });
    say(`${sync}: journal ${Math.round(journal.median)} writes/s; calls/s: per-write commit ${Math.round(single)}, group commit ${Math.round(group1)} (1/turn), ${Math.round(group10)} (10/turn)`);
  }

  // Dispatch into the built-in CRM (same file), concurrency 64, group commit as in the engine.
  await withStore('normal', async (store) => {
    const n = quick ? 3000 : 20_000;
    for (let i = 0; i < n / 4; i++) {
      const id = `d${i}`;
      store.batch(() => {
        for (let k = 1; k <= 3; k++) void store.outbox.append(id, 'event', sampleEvent(id, k), 0);
        void store.outbox.append(id, 'cdr', sampleCdr(id), 0);
      });
    }
    const crm = new SqliteCrmAdapter({ db: store.db, writer: store.writer });
    await crm.init();
    const dispatcher = new OutboxDispatcher({ outbox: store.outbox, adapter: crm, clock: new FakeClock(0), concurrency: 64 });
    const t0 = process.hrtime.bigint();
    let delivered = 0;
    for (;;) {
      const r = await dispatcher.runOnce();
      if (r.attempted === 0) break;
      delivered += r.delivered;
    }
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    emit({ bench: BENCH, metric: 'dispatch_rate_sqlite_crm', value: Math.round(delivered / s), unit: 'items/s', items: delivered });
    say(`dispatch: ${delivered} items in ${s.toFixed(2)} s = ${Math.round(delivered / s)}/s`);
  }, true);

  // due() while a CRM outage holds a large backlog: every lane head is in backoff.
  await withStore('normal', (store) => {
    const calls = quick ? 20_000 : 100_000;
    store.batch(() => {
      for (let i = 0; i < calls; i++) {
        const id = `o${i}`;
        void store.outbox.append(id, 'event', sampleEvent(id), 0);
        void store.outbox.append(id, 'cdr', sampleCdr(id), 0);
      }
      store.db.prepare('UPDATE outbox_lanes SET next_attempt_at = 1e12').run();
    });
    void store.outbox.append('fresh', 'cdr', sampleCdr('fresh'), 5);
    const samples: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = process.hrtime.bigint();
      void store.outbox.due(10, 64);
      samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    emit({ bench: BENCH, metric: 'due_latency_backlog_p50', value: Math.round(median(samples) * 10) / 10, unit: 'us', pendingItems: calls * 2 + 1 });
    say(`due() with ${calls * 2} items held back: p50 ${median(samples).toFixed(1)} us`);
    // The CRM is back: every lane is due at once; a pass must not sort them all.
    store.db.prepare('UPDATE outbox_lanes SET next_attempt_at = 0').run();
    samples.length = 0;
    for (let i = 0; i < 200; i++) {
      const t0 = process.hrtime.bigint();
      void store.outbox.due(10, 64);
      samples.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    emit({ bench: BENCH, metric: 'due_latency_all_due_p50', value: Math.round(median(samples) * 10) / 10, unit: 'us', dueCalls: calls + 1 });
    say(`due() with ${calls + 1} lanes due: p50 ${median(samples).toFixed(1)} us for 64 heads`);
  });
}

/** The same calls on the PostgreSQL store: see the module comment. Metrics carry the suffix `_pg`. */
async function mainPostgres(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const ms = quick ? 500 : 1500;
  const given = args.includes('--url') ? args[args.indexOf('--url') + 1] : undefined;
  const cluster = given === undefined ? await startPostgres() : undefined;
  if (given === undefined && cluster === undefined) throw new Error('PostgreSQL is not installed (Debian: postgresql); or pass --url');
  let n = 0;
  const fresh = async (): Promise<string> => given ?? await cluster!.createDatabase(`bench${++n}`);
  const where = given === undefined ? 'throwaway local cluster, fsync off' : 'given --url';
  say(`store bench (postgres, ${where}) on ${machine()}`);
  const withPg = async <R>(fn: (store: PgStore) => Promise<R>, groupCommit: boolean): Promise<R> => {
    const store = await openPgStore({ url: await fresh(), groupCommit });
    try {
      // A given database is reused: start each part on empty tables.
      if (given !== undefined) await store.writer.write(async (tx) => { await sql`TRUNCATE outbox, outbox_lanes, call_journal, callbacks, callback_attempts CASCADE`.execute(tx); });
      return await fn(store);
    } finally {
      await store.close();
    }
  };
  try {
    const single = await withPg((store) => turnRate(store, 1, ms, 3, 's'), false);
    emit({ bench: BENCH, metric: 'call_writes_rate_pg', value: Math.round(single), unit: 'calls/s', note: 'one transaction per write: 4 journal writes + finishCall (2 events + CDR) per call' });
    const group1 = await withPg((store) => turnRate(store, 1, ms, 3, 'g'), true);
    emit({ bench: BENCH, metric: 'call_writes_group1_rate_pg', value: Math.round(group1), unit: 'calls/s', note: 'group commit, one call per event-loop turn' });
    const group10 = await withPg((store) => turnRate(store, 10, ms, 3, 'h'), true);
    emit({ bench: BENCH, metric: 'call_writes_group10_rate_pg', value: Math.round(group10), unit: 'calls/s', note: 'group commit, ten calls per event-loop turn' });
    say(`postgres: calls/s: per-write commit ${Math.round(single)}, group commit ${Math.round(group1)} (1/turn), ${Math.round(group10)} (10/turn)`);

    // Dispatch from the PostgreSQL outbox into the built-in CRM on its SQLite file, concurrency 64.
    await withPg(async (store) => {
      const items = quick ? 3000 : 20_000;
      for (let i = 0; i < items / 4; i += 50) {
        const turn: Promise<unknown>[] = [];
        for (let j = i; j < Math.min(i + 50, items / 4); j++) {
          const id = `d${j}`;
          for (let k = 1; k <= 3; k++) turn.push(store.outbox.append(id, 'event', sampleEvent(id, k), 0));
          turn.push(store.outbox.append(id, 'cdr', sampleCdr(id), 0));
        }
        await Promise.all(turn);
      }
      const dir = mkdtempSync(path.join(os.tmpdir(), 'onair-bench-'));
      const db = openDatabase({ path: path.join(dir, 'crm.db') });
      try {
        const crm = new SqliteCrmAdapter({ db, writer: new SqliteWriter(db, true) });
        await crm.init();
        const dispatcher = new OutboxDispatcher({ outbox: store.outbox, adapter: crm, clock: new FakeClock(0), concurrency: 64 });
        const t0 = process.hrtime.bigint();
        let delivered = 0;
        for (;;) {
          const r = await dispatcher.runOnce();
          if (r.attempted === 0) break;
          delivered += r.delivered;
        }
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        emit({ bench: BENCH, metric: 'dispatch_rate_sqlite_crm_pg', value: Math.round(delivered / s), unit: 'items/s', items: delivered });
        say(`dispatch: ${delivered} items in ${s.toFixed(2)} s = ${Math.round(delivered / s)}/s`);
      } finally {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }, true);

    // due() while a CRM outage holds a large backlog (bulk-loaded with SQL: the bench measures the read).
    await withPg(async (store) => {
      const calls = quick ? 20_000 : 100_000;
      const payload = JSON.stringify(sampleCdr('o'));
      await sql`INSERT INTO outbox (call_id, kind, payload, created_at, next_attempt_at)
        SELECT 'o' || g, k, ${payload}, 0, 0 FROM generate_series(1, ${calls}) g, (VALUES ('event'), ('cdr')) v(k)`.execute(store.db);
      await sql`INSERT INTO outbox_lanes (call_id, next_attempt_at) SELECT 'o' || g, 1e12 FROM generate_series(1, ${calls}) g`.execute(store.db);
      await sql`ANALYZE outbox`.execute(store.db);
      await sql`ANALYZE outbox_lanes`.execute(store.db);
      await store.outbox.append('fresh', 'cdr', sampleCdr('fresh'), 5);
      const sample = async (): Promise<number> => {
        const samples: number[] = [];
        for (let i = 0; i < 200; i++) {
          const t0 = process.hrtime.bigint();
          await store.outbox.due(10, 64);
          samples.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
        return median(samples);
      };
      const held = await sample();
      emit({ bench: BENCH, metric: 'due_latency_backlog_p50_pg', value: Math.round(held * 10) / 10, unit: 'us', pendingItems: calls * 2 + 1 });
      say(`due() with ${calls * 2} items held back: p50 ${held.toFixed(1)} us (a round trip included)`);
      await sql`UPDATE outbox_lanes SET next_attempt_at = 0`.execute(store.db);
      const all = await sample();
      emit({ bench: BENCH, metric: 'due_latency_all_due_p50_pg', value: Math.round(all * 10) / 10, unit: 'us', dueCalls: calls + 1 });
      say(`due() with ${calls + 1} lanes due: p50 ${all.toFixed(1)} us for 64 heads`);
    }, true);
  } finally {
    cluster?.stop();
  }
}
