import t from 'tap';
import path from 'node:path';
import { existsSync } from 'node:fs';
import type { CallEvent } from '../../crm-adapter/index.ts';
import { migrate, openDatabase, openStore, sampleCdr, sampleEvent, type CallbackInput } from './index.ts';
import pg from 'pg';
import { eachBackend, postgresBackend } from './backends.ts';
import { requirePostgres } from '../testing/postgres.ts';
import type { PgStore } from './pg/index.ts';

const T0 = Date.UTC(2026, 0, 1, 20, 0, 0);

function abandon(caller: string, callId: string, arrivedAt: number, queue = 'orders'): CallbackInput {
  return { caller, queue, arrivedAt, callId, reason: 'abandoned_queue', dialled: '100', programme: 'show', customerId: null };
}

t.test('file database: directory created, WAL, synchronous configurable, migrations recorded once', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'nested', 'var', 'onair.db');
  const store = openStore({ path: file, now: T0 });
  t.ok(existsSync(file));
  t.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(store.db.pragma('synchronous', { simple: true }), 1, 'NORMAL by default');
  await store.close();
  await store.close();
  const full = openStore({ path: file, synchronous: 'full' });
  t.equal(full.db.pragma('synchronous', { simple: true }), 2, 'FULL when asked');
  const rows = full.db.prepare('SELECT component, version FROM schema_migrations').all();
  t.same(rows, [{ component: 'store', version: 1 }, { component: 'store', version: 2 }, { component: 'store', version: 3 }, { component: 'store', version: 4 }, { component: 'store', version: 5 }], 'reopening does not re-run migrations');
  await full.close();
});

t.test('migrate refuses a database newer than the code', async (t) => {
  const db = openDatabase({ path: ':memory:' });
  t.teardown(() => db.close());
  t.same(migrate(db, 'x', [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x)' }, { version: 2, name: 'b', sql: 'CREATE TABLE b (x)' }], T0), [1, 2]);
  t.same(migrate(db, 'x', [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x)' }, { version: 2, name: 'b', sql: 'CREATE TABLE b (x)' }], T0), []);
  t.throws(() => migrate(db, 'x', [{ version: 1, name: 'a', sql: '' }], T0), /DB_ERR_SCHEMA/);
  t.throws(() => migrate(db, 'y', [{ version: 1, name: 'bad', sql: 'CREATE TABLE a (x)' }], T0), /already exists/);
  t.same(db.prepare("SELECT count(*) AS n FROM schema_migrations WHERE component = 'y'").get(), { n: 0 }, 'failed step not recorded');
});

// Every case below runs on SQLite and on PostgreSQL (backends.ts).
void eachBackend(t, (t, backend) => {
  t.test('callback dedup: a second abandon keeps the original arrival and queue, counts up', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const a = await store.callbacks.create(abandon('+491', 'c1', T0, 'orders'), T0 + 60_000);
    t.equal(a.created, true);
    t.equal(a.task.abandons, 1);
    const b = await store.callbacks.create(abandon('+491', 'c2', T0 + 300_000, 'service'), T0 + 400_000);
    t.equal(b.created, false);
    t.equal(b.task.id, a.task.id);
    t.equal(b.task.arrivedAt, T0, 'original arrival kept');
    t.equal(b.task.lastArrivalAt, T0 + 300_000);
    t.equal(b.task.queue, 'orders', 'original queue kept');
    t.equal(b.task.abandons, 2);
    t.equal(b.task.firstCallId, 'c1');
    t.equal(b.task.lastCallId, 'c2');
    // Out-of-order merge (recovery of an older call) moves arrival earlier, never later.
    const c = await store.callbacks.create(abandon('+491', 'c0', T0 - 5000), T0 + 500_000);
    t.equal(c.task.arrivedAt, T0 - 5000);
    t.equal(c.task.abandons, 3);
    const other = await store.callbacks.create(abandon('+492', 'c3', T0 + 10), T0 + 20);
    t.equal(other.created, true);
    t.equal(await store.callbacks.count({ status: 'open' }), 2);

    // Once closed, the same number opens a new task.
    const claimed = await store.callbacks.claim(a.task.id, 'dialer-1', T0 + 600_000);
    t.ok(claimed.ok && claimed.value.status === 'claimed' && claimed.value.claimedBy === 'dialer-1');
    const merged = await store.callbacks.create(abandon('+491', 'c4', T0 + 650_000), T0 + 650_000);
    t.equal(merged.task.id, a.task.id, 'claimed still counts as open for dedup');
    t.equal(merged.task.status, 'claimed');
    const done = await store.callbacks.complete(a.task.id, T0 + 700_000, 'ordered 2 pans');
    t.ok(done.ok && done.value.status === 'done' && done.value.closedAt === T0 + 700_000 && done.value.note === 'ordered 2 pans');
    const fresh = await store.callbacks.create(abandon('+491', 'c5', T0 + 800_000), T0 + 800_000);
    t.equal(fresh.created, true);
    t.not(fresh.task.id, a.task.id);
    t.equal(fresh.task.arrivedAt, T0 + 800_000);
  });

  t.test('callback list, claimNext, release, cancel and refused transitions', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    await store.callbacks.create(abandon('+493', 'a', T0 + 3000, 'service'), T0 + 9000);
    await store.callbacks.create(abandon('+491', 'b', T0 + 1000, 'orders'), T0 + 9000);
    await store.callbacks.create(abandon('+492', 'c', T0 + 2000, 'orders'), T0 + 9000);
    t.same((await store.callbacks.list()).map((c) => c.caller), ['+491', '+492', '+493'], 'oldest arrival first');
    t.same((await store.callbacks.list({ queue: 'orders', limit: 1, offset: 1 })).map((c) => c.caller), ['+492']);
    const next = await store.callbacks.claimNext('d1', T0 + 10_000, 'service');
    t.equal(next?.caller, '+493');
    const oldest = await store.callbacks.claimNext('d1', T0 + 10_000);
    t.equal(oldest?.caller, '+491');
    t.same((await store.callbacks.list({ status: ['claimed'] })).map((c) => c.caller), ['+491', '+493']);
    const rel = await store.callbacks.release(oldest!.id, T0 + 11_000, 'no answer');
    t.ok(rel.ok && rel.value.status === 'open' && rel.value.attempts === 1 && rel.value.claimedBy === null);
    const bad = await store.callbacks.complete(oldest!.id, T0 + 12_000);
    t.same(bad, { ok: false, code: 'STORE_ERR_INVALID_STATE', reason: `callback task ${oldest!.id} is open, expected claimed` });
    const cancel = await store.callbacks.cancel(oldest!.id, T0 + 13_000, 'customer called in');
    t.ok(cancel.ok && cancel.value.status === 'cancelled');
    t.same(await store.callbacks.cancel(oldest!.id, T0), { ok: false, code: 'STORE_ERR_INVALID_STATE', reason: `callback task ${oldest!.id} is cancelled, expected open or claimed` });
    t.same(await store.callbacks.claim(999, 'd', T0), { ok: false, code: 'STORE_ERR_NOT_FOUND', reason: 'no callback task 999' });
    t.equal(await store.callbacks.get(999), null);
    t.same(await store.callbacks.list({ status: [] }), [], 'empty status filter matches nothing');
    t.equal(await store.callbacks.count({ status: ['open', 'claimed'], queue: 'orders' }), 1);
    const none = await store.callbacks.claimNext('d1', T0, 'vip');
    t.equal(none, null);
  });

  t.test('journal follows a call; finishCall ends it atomically with events, callback and CDR', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const info = { caller: '+491', dialled: '200', programme: 'show', airing: 'a1', customerId: 'C-9', queue: null };
    await store.journal.arrived('k1', info, T0);
    await store.journal.arrived('k1', { ...info, caller: 'dup' }, T0 + 1);
    await store.journal.ivrExited('k1', T0 + 5000);
    await store.journal.queued('k1', 'service', T0 + 5000);
    await store.journal.offered('k1', '1002', T0 + 8000);
    await store.journal.queued('k1', 'service', T0 + 20_000);
    await store.journal.offered('k1', '1003', T0 + 21_000);
    await store.journal.queued('nope', 'orders', T0);
    const e = await store.journal.get('k1');
    t.match(e, {
      callId: 'k1', caller: '+491', state: 'offered', queue: 'service', agent: '1003', arrivedAt: T0, ivrExitAt: T0 + 5000,
      queuedAt: T0 + 5000, offeredAt: T0 + 8000, offers: 2, updatedAt: T0 + 21_000,
    }, 'first queued/offered times kept across ring-no-answer');
    t.equal(await store.journal.get('nope'), null, 'stage of an unknown call ignored');

    const cdr = sampleCdr('k1', { outcome: 'abandoned_queue', agent: null, answeredAt: null });
    const abandoned = { ...sampleEvent('k1'), type: 'abandoned' as const, stage: 'queue' as const, waitMs: 25_000 };
    const r = await store.finishCall({ cdr, events: [abandoned], callback: abandon('+491', 'k1', T0, 'service') }, T0 + 25_000);
    t.equal(r.callback?.caller, '+491');
    t.equal(await store.journal.get('k1'), null, 'journal row gone');
    const items = await store.outbox.listCall('k1');
    t.same(items.map((i) => (i.kind === 'event' ? i.payload.type : 'cdr')), ['abandoned', 'callback_created', 'cdr']);
    const last = items[2]!;
    t.equal(last.kind === 'cdr' && last.payload.callbackId, r.callback!.id, 'CDR names its callback task');
    const cb = items[1]!;
    t.match(cb.payload, { type: 'callback_created', callbackId: r.callback!.id, firstArrivalAt: T0, abandons: 1 });

    const plain = await store.finishCall({ cdr: sampleCdr('k2'), events: [], callback: null }, T0);
    t.equal(plain.callback, null);
    t.equal((await store.outbox.listCall('k2')).length, 1);
  });

  t.test('callEvent: each event is durable as it happens, in order, before the CDR of finishCall', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    await store.journal.arrived('e1', { caller: '+491', dialled: '200', programme: null, airing: null, customerId: null, queue: null }, T0);
    await store.callEvent(sampleEvent('e1', 1), T0);
    t.same((await store.outbox.listCall('e1')).map((i) => i.kind), ['event'], 'in the outbox before the call ends');
    // Not awaited one by one: the order of the calls is the order of delivery.
    const base = { callId: 'e1', caller: '+491', dialled: '200', customerId: null };
    const offered: CallEvent = { ...base, type: 'offered', at: T0 + 1, queue: 'orders', agent: '1001', attempt: 1 };
    const ended: CallEvent = { ...base, type: 'ended', at: T0 + 2, queue: 'orders', agent: null, releasedBy: 'caller' };
    void store.callEvent(offered, T0 + 1);
    void store.callEvent(ended, T0 + 2);
    await store.finishCall({ cdr: sampleCdr('e1', { outcome: 'abandoned_queue', agent: null, answeredAt: null }), callback: null }, T0 + 3);
    const items = await store.outbox.listCall('e1');
    t.same(items.map((i) => (i.kind === 'event' ? i.payload.type : 'cdr')), ['queued', 'offered', 'ended', 'cdr']);
    t.ok(items.every((i, k) => k === 0 || i.id > items[k - 1]!.id), 'increasing outbox ids: one lane, in order');
  });

  t.test('finishCall is all or nothing', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    await store.journal.arrived('k1', { caller: '+491', dialled: '1', programme: null, airing: null, customerId: null, queue: null }, T0);
    const broken = { ...abandon('+491', 'k1', T0), queue: null as unknown as string };
    await t.rejects(store.finishCall({ cdr: sampleCdr('k1'), events: [sampleEvent('k1')], callback: broken }, T0), /NOT NULL|not-null/);
    t.not(await store.journal.get('k1'), null, 'journal row still there');
    t.same(await store.outbox.listCall('k1'), [], 'no event appended');
  });

  t.test('recoverAfterCrash: waiting callers become callbacks, answered calls get a failed CDR', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const info = (caller: string, queue: string | null) => ({ caller, dialled: '100', programme: 'p', airing: null, customerId: null, queue });
    await store.journal.arrived('ivr', info('+491', null), T0);
    await store.journal.arrived('queued', info('+492', null), T0 + 1000);
    await store.journal.queued('queued', 'service', T0 + 2000);
    await store.journal.arrived('ringing', info('+493', 'orders'), T0 + 3000);
    await store.journal.queued('ringing', 'orders', T0 + 3000);
    await store.journal.offered('ringing', '1001', T0 + 4000);
    await store.journal.arrived('talking', info('+494', 'orders'), T0 + 5000);
    await store.journal.queued('talking', 'orders', T0 + 5000);
    await store.journal.answered('talking', '1002', T0 + 6000);
    // An open task of +492 from earlier today: the crash merges into it.
    await store.callbacks.create(abandon('+492', 'earlier', T0 - 3_600_000, 'orders'), T0 - 3_000_000);

    const report = await store.recoverAfterCrash(T0 + 60_000, { fallbackQueue: 'vip' });
    t.equal(report.diedAt, T0 + 6000, 'no heartbeat: the last journal write');
    t.same(report.cdrs.sort(), ['ivr', 'queued', 'ringing', 'talking']);
    const byCaller = new Map(report.callbacks.map((c) => [c.caller, c]));
    t.same([...byCaller.keys()].sort(), ['+491', '+492', '+493'], 'the answered caller is not called back');
    t.equal(byCaller.get('+491')!.queue, 'vip', 'died in the IVR: fallback queue');
    t.equal(byCaller.get('+493')!.queue, 'orders');
    t.equal(byCaller.get('+492')!.queue, 'orders', 'merged into the earlier task: its queue');
    t.equal(byCaller.get('+492')!.arrivedAt, T0 - 3_600_000, 'and its arrival');
    t.equal(byCaller.get('+492')!.abandons, 2);

    const cdrOf = async (id: string) => {
      const item = (await store.outbox.listCall(id)).find((i) => i.kind === 'cdr');
      return item?.kind === 'cdr' ? item.payload : null;
    };
    t.match(await cdrOf('talking'), { outcome: 'failed', agent: '1002', answeredAt: T0 + 6000, endedAt: T0 + 6000, talkMs: 0, waitMs: 1000, callbackId: null });
    t.match(await cdrOf('ringing'), { outcome: 'failed', agent: null, offeredAt: T0 + 4000, offers: 1, waitMs: 3000, callbackId: byCaller.get('+493')!.id });
    const events = (await store.outbox.listCall('ringing')).map((i) => (i.kind === 'event' ? i.payload.type : 'cdr'));
    t.same(events, ['ended', 'callback_created', 'cdr']);
    t.same(await store.journal.list(), []);
  });

  t.test('recoverAfterCrash: a caller held in ringing (media capacity) gets CDR treatment ringing, rung until the crash', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const info = (caller: string) => ({ caller, dialled: '100', programme: null, airing: null, customerId: null, queue: null });
    await store.journal.arrived('held', info('+495'), T0);
    await store.journal.ringingHeld('held', T0 + 100);
    await store.journal.queued('held', 'orders', T0 + 100);
    await store.journal.arrived('promoted', info('+496'), T0);
    await store.journal.ringingHeld('promoted', T0);
    await store.journal.queued('promoted', 'orders', T0);
    await store.journal.ringingEnded('promoted', 4000, T0 + 4000);
    await store.journal.arrived('plain', info('+497'), T0);
    await store.journal.heartbeat(T0 + 10_000);
    t.match(await store.journal.get('held'), { treatment: 'ringing', ringingSince: T0 + 100, ringingMs: 0 });
    t.match(await store.journal.get('plain'), { treatment: 'media', ringingSince: null, ringingMs: 0 });
    await store.recoverAfterCrash(T0 + 60_000, { fallbackQueue: 'orders' });
    const cdrOf = async (id: string) => {
      const item = (await store.outbox.listCall(id)).find((i) => i.kind === 'cdr');
      return item?.kind === 'cdr' ? item.payload : null;
    };
    t.match(await cdrOf('held'), { treatment: 'ringing', ringingMs: 9900, direction: 'inbound' }, 'still held: rang until the heartbeat');
    t.match(await cdrOf('promoted'), { treatment: 'ringing', ringingMs: 4000 }, 'got media after 4 s');
    t.match(await cdrOf('plain'), { treatment: 'media', ringingMs: 0 });
  });

  t.test('recoverAfterCrash with keepRelayed: a call relayed by rtpengine stays in the journal for the new node', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const info = (caller: string) => ({ caller, dialled: '100', programme: null, airing: null, customerId: null, queue: 'orders' });
    for (const id of ['relayed', 'moved-back', 'plain']) {
      await store.journal.arrived(id, info(`+49${id.length}`), T0);
      await store.journal.answered(id, '1001', T0 + 1000);
    }
    await store.journal.relayed('relayed', '{"v":1}', T0 + 2000);
    await store.journal.relayed('moved-back', '{"v":1}', T0 + 2000);
    await store.journal.relayed('moved-back', null, T0 + 3000);
    await store.journal.relayed('gone', '{"v":1}', T0 + 3000);
    t.match(await store.journal.get('relayed'), { relay: '{"v":1}', state: 'answered' });
    t.equal((await store.journal.get('moved-back'))?.relay, null, 'back on onair\'s relay: cleared');
    t.equal(await store.journal.get('gone'), null, 'an ended call is not brought back');
    const report = await store.recoverAfterCrash(T0 + 60_000, { fallbackQueue: 'orders', keepRelayed: true });
    t.same(report.relayed.map((e) => e.callId), ['relayed'], 'reported for adoption');
    t.same(report.cdrs.sort(), ['moved-back', 'plain'], 'the others end as before');
    t.same((await store.journal.list()).map((e) => e.callId), ['relayed'], 'left in the journal, no CDR');
    t.same(await store.outbox.listCall('relayed'), []);
    const again = await store.recoverAfterCrash(T0 + 60_000, { fallbackQueue: 'orders' });
    t.same(again.cdrs, ['relayed'], 'without keepRelayed it gets its failed CDR like any call');
  });

  t.test('heartbeat is the estimate of the crash time', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    await store.journal.arrived('a', { caller: '+1', dialled: '1', programme: null, airing: null, customerId: null, queue: 'q' }, T0);
    await store.journal.heartbeat(T0 + 30_000);
    await store.journal.heartbeat(T0 + 31_000);
    const r = await store.recoverAfterCrash(T0 + 90_000, { fallbackQueue: 'q' });
    t.equal(r.diedAt, T0 + 31_000);
    const r2 = await store.recoverAfterCrash(T0 + 90_000, { fallbackQueue: 'q' });
    t.same(r2.cdrs, [], 'nothing left');
  });
});

t.test('group commit: a turn\'s writes commit together, and only then resolve', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'onair.db');
  const store = openStore({ path: file });
  t.teardown(() => store.close());
  const reader = openDatabase({ path: file });
  t.teardown(() => reader.close());
  const count = () => (reader.prepare<{ n: number }>('SELECT count(*) AS n FROM outbox').get())!.n;
  t.equal(store.writer.grouped, true, 'on by default');
  const a = store.outbox.append('g1', 'event', sampleEvent('g1'), T0);
  const b = store.finishCall({ cdr: sampleCdr('g1'), events: [], callback: null }, T0);
  const bad = store.callbacks.create({ ...abandon('+1', 'g1', T0), queue: null as unknown as string }, T0);
  t.equal(count(), 0, 'another connection sees nothing before the commit');
  let resolved = false;
  void a.then(() => { resolved = true; });
  await Promise.resolve();
  t.equal(resolved, false, 'not accepted before the commit');
  await t.rejects(bad, /NOT NULL/, 'the failing write rejects alone');
  await a;
  await b;
  t.equal(count(), 2, 'both committed together');
  t.equal(await store.callbacks.count(), 0);

  // Inside batch() writes join the caller's transaction and commit when it returns.
  store.batch(() => { void store.outbox.append('g2', 'cdr', sampleCdr('g2'), T0); });
  t.equal(count(), 3, 'batch commits at once');
});

t.test('without group commit each write is committed when it returns', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'onair.db');
  const store = openStore({ path: file, groupCommit: false });
  t.teardown(() => store.close());
  const reader = openDatabase({ path: file });
  t.teardown(() => reader.close());
  void store.outbox.append('u1', 'event', sampleEvent('u1'), T0);
  t.same(reader.prepare('SELECT call_id FROM outbox').all(), [{ call_id: 'u1' }]);
});

t.test('with a commit window the group spans event-loop turns and commits once', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'onair.db');
  // A window far longer than a turn; the test commits it by hand instead of waiting for it.
  const store = openStore({ path: file, commitWindowMs: 10_000 });
  t.teardown(() => store.close());
  const reader = openDatabase({ path: file });
  t.teardown(() => reader.close());
  const count = (): number => (reader.prepare('SELECT count(*) AS n FROM outbox').get() as { n: number }).n;
  let settled = 0;
  void store.outbox.append('w1', 'event', sampleEvent('w1'), T0).then(() => settled++);
  await new Promise((r) => setImmediate(r));
  void store.outbox.append('w2', 'event', sampleEvent('w2'), T0).then(() => settled++);
  await new Promise((r) => setImmediate(r));
  t.equal(count(), 0, 'nothing committed after two turns');
  t.equal(settled, 0, 'and no write reported as stored');
  store.writer.flush();
  await new Promise((r) => setImmediate(r));
  t.equal(count(), 2, 'both writes in one commit');
  t.equal(settled, 2);
});

eachBackend(t, (t, b) => t.test('close() commits an open group', async (t) => {
  const store = await b.open({}, 'closing');
  const p = store.outbox.append('c1', 'cdr', sampleCdr('c1'), T0);
  await store.close();
  await p;
  const again = await b.open({}, 'closing');
  t.teardown(() => again.close());
  t.equal((await again.outbox.listCall('c1')).length, 1);
}));

// PostgreSQL's side of the SQLite-only cases above (WAL and PRAGMAs, a second SQLite connection on
// the file, batch()): the same properties, observed through a second PostgreSQL connection.
t.test('postgres', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  const b = postgresBackend(cluster);
  const reader = async (url: string): Promise<(text: string) => Promise<number>> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    t.teardown(() => client.end());
    return async (text) => Number((await client.query<{ n: string }>(text)).rows[0]!.n);
  };

  t.test('migrations recorded once per version; a database newer than the code is refused', async (t) => {
    const first = await b.open({ now: T0 }, 'mig');
    await first.close();
    const again = await b.open({}, 'mig');
    t.same(await b.rows(again, "SELECT component, version FROM schema_migrations ORDER BY version"),
      [{ component: 'store', version: 1 }, { component: 'store', version: 2 }, { component: 'store', version: 3 }, { component: 'store', version: 4 }, { component: 'store', version: 5 }], 'reopening does not re-run migrations');
    await b.rows(again, "INSERT INTO schema_migrations (component, version, name, applied_at) VALUES ('store', 99, 'future', 0)");
    await again.close();
    await t.rejects(b.open({}, 'mig'), /DB_ERR_SCHEMA/);
  });

  t.test("group commit: a turn's writes commit together, and only then resolve; a failing write rejects alone", async (t) => {
    const store = await b.open({}, 'group') as PgStore;
    t.teardown(() => store.close());
    const count = await reader(await b.where('group'));
    t.equal(store.writer.grouped, true, 'on by default');
    const before = store.writer.commits;
    const a = store.outbox.append('g1', 'event', sampleEvent('g1'), T0);
    const c = store.finishCall({ cdr: sampleCdr('g1'), events: [], callback: null }, T0);
    const bad = store.callbacks.create({ ...abandon('+1', 'g1', T0), queue: null as unknown as string }, T0);
    let resolved = false;
    void a.then(() => { resolved = true; });
    await Promise.resolve();
    t.equal(resolved, false, 'not accepted before the commit');
    await t.rejects(bad, /not-null/, 'the failing write rejects alone');
    await a;
    await c;
    t.equal(store.writer.commits - before, 1, 'the three writes of the turn: one COMMIT');
    t.equal(await count('SELECT count(*) AS n FROM outbox'), 2, 'both committed, seen by another connection');
    t.equal(await store.callbacks.count(), 0);
  });

  t.test('without group commit each write is its own transaction', async (t) => {
    const store = await b.open({ groupCommit: false }, 'single') as PgStore;
    t.teardown(() => store.close());
    const count = await reader(await b.where('single'));
    await Promise.all([1, 2, 3].map((k) => store.outbox.append(`u${k}`, 'event', sampleEvent(`u${k}`), T0)));
    t.equal(store.writer.commits, 3);
    t.equal(await count('SELECT count(*) AS n FROM outbox'), 3);
  });

  t.test('with a commit window the group spans event-loop turns and commits once', async (t) => {
    // A window far longer than a turn; the test commits it by hand instead of waiting for it.
    const store = await b.open({ commitWindowMs: 10_000 }, 'window') as PgStore;
    t.teardown(() => store.close());
    const count = await reader(await b.where('window'));
    let settled = 0;
    void store.outbox.append('w1', 'event', sampleEvent('w1'), T0).then(() => settled++);
    await new Promise((r) => setImmediate(r));
    void store.outbox.append('w2', 'event', sampleEvent('w2'), T0).then(() => settled++);
    await new Promise((r) => setImmediate(r));
    t.equal(await count('SELECT count(*) AS n FROM outbox'), 0, 'nothing committed after two turns (and a round trip)');
    t.equal(settled, 0, 'and no write reported as stored');
    await store.writer.flush();
    t.equal(await count('SELECT count(*) AS n FROM outbox'), 2, 'both writes in one commit');
    t.equal(settled, 2);
    t.equal(store.writer.commits, 1);
  });

  t.test('ordering per call across groups: writes issued while a group commits form the next group, in order', async (t) => {
    const store = await b.open() as PgStore;
    t.teardown(() => store.close());
    const ids: Promise<number>[] = [];
    for (let turn = 0; turn < 5; turn++) {
      for (let k = 0; k < 20; k++) ids.push(store.outbox.append('lane', 'event', sampleEvent('lane', turn * 20 + k), T0));
      await new Promise((r) => setImmediate(r));
    }
    const got = await Promise.all(ids);
    t.same(got, [...got].sort((x, y) => x - y), 'ids increase in issue order');
    const items = await store.outbox.listCall('lane');
    t.same(items.map((i) => i.kind === 'event' && i.payload.type === 'queued' ? i.payload.position : -1), got.map((_, k) => k));
    t.ok(store.writer.commits < 100, `grouped: ${store.writer.commits} commits for 100 writes`);
  });
});
