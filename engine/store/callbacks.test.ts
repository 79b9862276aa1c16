// Callback attempts and the attempt policy on real SQLite and PostgreSQL: the transitions, the policy applied in
// the transaction that ends an attempt, crash recovery, expiry, the do-not-call list, and the
// upgrade of a database made by schema version 1.
import t from 'tap';
import { DEFAULT_DIALING_POLICY, type DialingPolicy } from '../callbacks/index.ts';
import { STORE_MIGRATIONS } from './schema.ts';
import { migrate, openDatabase, type CallbackInput } from './index.ts';
import { sql } from 'kysely';
import { migratePostgres, openPostgres } from '../db/index.ts';
import { eachBackend, postgresBackend, type Backend } from './backends.ts';
import { PG_STORE_MIGRATIONS, type PgTables } from './pg/index.ts';
import { requirePostgres } from '../testing/postgres.ts';

// 2026-01-05 10:00 in Shanghai (UTC+8), a Monday: inside the default calling hours.
const T0 = Date.UTC(2026, 0, 5, 2, 0, 0);
const MIN = 60_000;

function abandon(caller: string, callId: string, arrivedAt = T0, queue = 'orders'): CallbackInput {
  return { caller, queue, arrivedAt, callId, reason: 'abandoned_queue', dialled: '100', programme: 'show', customerId: null };
}

function memory(b: Backend, dialing: DialingPolicy = DEFAULT_DIALING_POLICY) {
  return b.open({ dialing });
}

// Every case runs on SQLite and on PostgreSQL (backends.ts).
void eachBackend(t, (t, backend) => {
  t.test('an attempt: open → claimed with an attempt row → the policy decides, in one transaction', async (t) => {
    const store = await memory(backend);
    t.teardown(() => store.close());
    const { task } = await store.callbacks.create(abandon('+8613800000001', 'in-1'), T0);
    t.equal(task.nextAttemptAt, T0, 'a new task is due at once');
    t.equal(task.attempts, 0);
    t.equal(task.lastResult, null);

    const s = await store.callbacks.startAttempt(task.id, { callId: 'cb-1', agentId: '1001' }, T0 + 1000);
    if (!s.ok) throw new Error(s.reason);
    t.match(s.value.task, { status: 'claimed', claimedBy: '1001', claimedAt: T0 + 1000 });
    t.match(s.value.attempt, { taskId: task.id, callId: 'cb-1', agentId: '1001', startedAt: T0 + 1000, endedAt: null, result: null });
    const again = await store.callbacks.startAttempt(task.id, { callId: 'cb-x', agentId: '1002' }, T0 + 1000);
    t.match(again, { ok: false, code: 'STORE_ERR_INVALID_STATE' }, 'a claimed task takes no second attempt');
    t.same(await store.callbacks.due(T0 + 1000, 10), [], 'a claimed task is not due');

    const busy = await store.callbacks.finishAttempt(s.value.attempt.id, { result: 'busy', trunk: 'carrier-a', sipStatus: 486 }, T0 + 20_000);
    if (!busy.ok) throw new Error(busy.reason);
    t.match(busy.value, { status: 'open', attempts: 1, lastResult: 'busy', nextAttemptAt: T0 + 20_000 + 300_000, claimedBy: null, closedAt: null });
    const twice = await store.callbacks.finishAttempt(s.value.attempt.id, { result: 'answered', trunk: 'carrier-a', sipStatus: 200 }, T0 + 21_000);
    t.same(twice, { ok: false, code: 'STORE_ERR_INVALID_STATE', reason: `callback attempt ${s.value.attempt.id} is ended (busy), expected in progress` },
      'a second finish of the same attempt is refused: never a double completion');
    t.equal((await store.callbacks.get(task.id))!.status, 'open', 'the refused finish changed nothing');
    t.match(await store.callbacks.finishAttempt(999, { result: 'answered', trunk: null, sipStatus: null }, T0), { ok: false, code: 'STORE_ERR_NOT_FOUND' });

    t.same(await store.callbacks.due(T0 + 300_000, 10), [], 'not due before the retry delay');
    t.same((await store.callbacks.due(T0 + 320_000, 10)).map((x) => x.id), [task.id]);
    const s2 = await store.callbacks.startAttempt(task.id, { callId: 'cb-2', agentId: '1002' }, T0 + 330_000);
    if (!s2.ok) throw new Error(s2.reason);
    const done = await store.callbacks.finishAttempt(s2.value.attempt.id, { result: 'answered', trunk: 'carrier-b', sipStatus: 200, note: 'ordered' }, T0 + 400_000);
    t.match(done, { ok: true, value: { status: 'done', attempts: 2, lastResult: 'answered', closedAt: T0 + 400_000, note: 'ordered' } });
    const history = await store.callbacks.attempts(task.id);
    t.match(history, [
      { callId: 'cb-1', agentId: '1001', trunk: 'carrier-a', result: 'busy', sipStatus: 486, endedAt: T0 + 20_000 },
      { callId: 'cb-2', agentId: '1002', trunk: 'carrier-b', result: 'answered', sipStatus: 200, note: 'ordered' },
    ], 'every attempt is kept, oldest first');
    t.match(await store.callbacks.startAttempt(task.id, { callId: 'cb-3', agentId: null }, T0), { ok: false, code: 'STORE_ERR_INVALID_STATE' });
    t.match(await store.callbacks.startAttempt(12345, { callId: 'cb-3', agentId: null }, T0), { ok: false, code: 'STORE_ERR_NOT_FOUND' });
  });

  t.test('policy in the store: maxAttempts exhausts, a result without retry closes at once, an agent no-answer does not count', async (t) => {
    const store = await memory(backend, { ...DEFAULT_DIALING_POLICY, maxAttempts: 2 });
    t.teardown(() => store.close());
    const a = (await store.callbacks.create(abandon('+8613800000002', 'in-2'), T0)).task;
    const run = async (result: 'no_answer' | 'agent_no_answer' | 'invalid_number', at: number) => {
      const s = await store.callbacks.startAttempt(a.id, { callId: `cb-${at}`, agentId: null }, at);
      if (!s.ok) throw new Error(s.reason);
      t.equal(s.value.task.claimedBy, 'dialer', 'no agent yet: claimed by the dialer');
      const r = await store.callbacks.finishAttempt(s.value.attempt.id, { result, trunk: null, sipStatus: null }, at + 1000);
      if (!r.ok) throw new Error(r.reason);
      return r.value;
    };
    t.match(await run('agent_no_answer', T0), { status: 'open', attempts: 0, nextAttemptAt: T0 + 1000 }, 'the customer was never dialled');
    t.match(await run('no_answer', T0 + 2000), { status: 'open', attempts: 1, nextAttemptAt: T0 + 3000 + 900_000 });
    t.match(await run('no_answer', T0 + 1_000_000), { status: 'exhausted', attempts: 2, note: 'no_answer', closedAt: T0 + 1_001_000 });

    const b = (await store.callbacks.create(abandon('+8613800000003', 'in-3'), T0)).task;
    const s = await store.callbacks.startAttempt(b.id, { callId: 'cb-b', agentId: '1001' }, T0);
    if (!s.ok) throw new Error(s.reason);
    t.match(await store.callbacks.finishAttempt(s.value.attempt.id, { result: 'invalid_number', trunk: 'carrier-a', sipStatus: 404 }, T0 + 5000),
      { ok: true, value: { status: 'exhausted', attempts: 1, lastResult: 'invalid_number' } }, 'invalid number: no retry');

    const fig = await store.callbacks.figures(T0 + 10_000);
    t.match(fig.byStatus, { open: 0, claimed: 0, exhausted: 2, done: 0, cancelled: 0, expired: 0 });
    t.match(fig.attemptsByResult, { agent_no_answer: 1, no_answer: 2, invalid_number: 1, answered: 0 });
    t.equal(fig.oldestOpenSeconds, 0);
  });

  t.test('a retry outside the calling hours is due when the window opens (customer time zone first)', async (t) => {
    const store = await memory(backend);
    t.teardown(() => store.close());
    // 20:58 in Shanghai: busy → +300 s = 21:03, after the window; due the next day at 09:00 local.
    const late = Date.UTC(2026, 0, 5, 12, 58, 0);
    const task = (await store.callbacks.create(abandon('+8613800000004', 'in-4', late), late)).task;
    const s = await store.callbacks.startAttempt(task.id, { callId: 'cb-4', agentId: '1001' }, late);
    if (!s.ok) throw new Error(s.reason);
    const r = await store.callbacks.finishAttempt(s.value.attempt.id, { result: 'busy', trunk: 'a', sipStatus: 486 }, late);
    t.match(r, { ok: true, value: { nextAttemptAt: Date.UTC(2026, 0, 6, 1, 0, 0) } });
    // A task that carries the customer's zone uses it: 20:58 in Shanghai is 13:58 in Berlin.
    const berlin = (await store.callbacks.create({ ...abandon('+4930123456', 'in-5', late), timeZone: 'Europe/Berlin' }, late)).task;
    t.equal(berlin.timeZone, 'Europe/Berlin');
    const s2 = await store.callbacks.startAttempt(berlin.id, { callId: 'cb-5', agentId: '1001' }, late);
    if (!s2.ok) throw new Error(s2.reason);
    t.match(await store.callbacks.finishAttempt(s2.value.attempt.id, { result: 'busy', trunk: 'a', sipStatus: 486 }, late),
      { ok: true, value: { nextAttemptAt: late + 300_000 } });
  });

  t.test('due: oldest original arrival first, bounded, excluding what the ACD holds; reschedule', async (t) => {
    const store = await memory(backend);
    t.teardown(() => store.close());
    const c = (await store.callbacks.create(abandon('+861', 'c', T0 + 3000), T0 + 3000)).task;
    const a = (await store.callbacks.create(abandon('+862', 'a', T0 + 1000), T0 + 4000)).task;
    const b = (await store.callbacks.create(abandon('+863', 'b', T0 + 2000), T0 + 4000)).task;
    t.same((await store.callbacks.due(T0 + 5000, 10)).map((x) => x.id), [a.id, b.id, c.id]);
    t.same((await store.callbacks.due(T0 + 5000, 2)).map((x) => x.id), [a.id, b.id]);
    t.same((await store.callbacks.due(T0 + 5000, 2, new Set([a.id]))).map((x) => x.id), [b.id, c.id], 'excluded ids do not use up the limit');
    t.same((await store.callbacks.due(T0 + 3500, 10)).map((x) => x.id), [c.id], 'not due before creation');

    const r = await store.callbacks.reschedule(a.id, T0 + 3_600_000, T0 + 6000, 'customer asked for 11:00');
    t.match(r, { ok: true, value: { status: 'open', nextAttemptAt: T0 + 3_600_000, note: 'customer asked for 11:00' } });
    t.same((await store.callbacks.due(T0 + 10_000, 10)).map((x) => x.id), [b.id, c.id]);
    // A new abandon of the same number while it waits: it wants to talk now.
    const merged = await store.callbacks.create(abandon('+862', 'a2', T0 + 20_000), T0 + 20_000);
    t.equal(merged.task.nextAttemptAt, T0 + 20_000);

    const s = await store.callbacks.startAttempt(b.id, { callId: 'cb-b', agentId: '1001' }, T0 + 30_000);
    if (!s.ok) throw new Error(s.reason);
    t.match(await store.callbacks.reschedule(b.id, T0, T0 + 31_000), { ok: false, code: 'STORE_ERR_INVALID_STATE',
      reason: `callback task ${b.id} is claimed with an attempt in progress, expected open, or claimed with no attempt in progress` });
    const claimed = await store.callbacks.claim(c.id, 'supervisor', T0 + 40_000);
    t.ok(claimed.ok);
    t.match(await store.callbacks.reschedule(c.id, T0 + 50_000, T0 + 41_000), { ok: true, value: { status: 'open', claimedBy: null } },
      'claimed by hand: may be put back');
    const done = await store.callbacks.cancel(c.id, T0 + 42_000, 'no');
    t.ok(done.ok);
    t.match(await store.callbacks.reschedule(c.id, T0, T0), { ok: false, code: 'STORE_ERR_INVALID_STATE' });
    t.match(await store.callbacks.reschedule(999, T0, T0), { ok: false, code: 'STORE_ERR_NOT_FOUND' });

    // Closed by hand while the attempt ran: the attempt ends, the task keeps its status.
    t.ok((await store.callbacks.cancel(b.id, T0 + 50_000, 'asked not to be called')).ok);
    t.match(await store.callbacks.finishAttempt(s.value.attempt.id, { result: 'no_answer', trunk: 'a', sipStatus: 480 }, T0 + 60_000),
      { ok: true, value: { status: 'cancelled', attempts: 1, lastResult: 'no_answer', note: 'asked not to be called' } });
  });

  t.test('a crash mid-attempt: reopening the file reschedules every open attempt once; the old process cannot finish them', async (t) => {
    const before = await backend.open({}, 'crash');
    const ids: number[] = [];
    const attempts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const task = (await before.callbacks.create(abandon(`+86139000000${i}`, `in-${i}`, T0 + i), T0 + i)).task;
      ids.push(task.id);
      if (i < 3) {
        const s = await before.callbacks.startAttempt(task.id, { callId: `cb-${i}`, agentId: `100${i}` }, T0 + 1000);
        if (!s.ok) throw new Error(s.reason);
        attempts.push(s.value.attempt.id);
      }
    }
    // One attempt ended before the crash.
    t.ok((await before.callbacks.finishAttempt(attempts[2]!, { result: 'answered', trunk: 'a', sipStatus: 200 }, T0 + 5000)).ok);
    // The process "dies": its connection is abandoned, not closed; a new engine opens the same file.
    const after = await backend.open({}, 'crash');
    t.teardown(async () => { await after.close(); await before.close(); });
    const now = T0 + 60_000;
    t.equal(await after.callbacks.recoverInterrupted(now), 2, 'the two attempts in progress');
    t.equal(await after.callbacks.recoverInterrupted(now), 0, 'recovery runs once per attempt');
    for (const i of [0, 1]) {
      t.match(await after.callbacks.get(ids[i]!), { status: 'open', nextAttemptAt: now, attempts: 1, lastResult: 'interrupted' }, `task ${i} due now`);
      t.match(await after.callbacks.attempts(ids[i]!), [{ result: 'interrupted', endedAt: now }]);
    }
    t.match(await after.callbacks.get(ids[2]!), { status: 'done' }, 'a finished attempt is not touched');
    t.match(await after.callbacks.get(ids[3]!), { status: 'open', attempts: 0 });
    // The old process wakes up and reports its attempt: refused, nothing completed twice.
    t.match(await before.callbacks.finishAttempt(attempts[0]!, { result: 'answered', trunk: 'a', sipStatus: 200 }, now + 1), { ok: false, code: 'STORE_ERR_INVALID_STATE' });
    t.match(await after.callbacks.get(ids[0]!), { status: 'open' });
    const rows = await backend.rows<{ n: number }>(after, 'SELECT count(*) AS n FROM callback_attempts WHERE ended_at IS NULL');
    t.same(rows, [{ n: 0 }]);
    t.equal((await after.callbacks.list()).length, 5, 'every task intact');
  });

  t.test('expiry, the do-not-call list, and an inbound call that closes the task', async (t) => {
    const store = await memory(backend, { ...DEFAULT_DIALING_POLICY, expiryHours: 2 });
    t.teardown(() => store.close());
    const old = (await store.callbacks.create(abandon('+861', 'o', T0 - 3 * 3_600_000), T0)).task;
    const fresh = (await store.callbacks.create(abandon('+862', 'f', T0 - 3_600_000), T0)).task;
    const dnc = (await store.callbacks.create(abandon('+863', 'd', T0), T0)).task;
    const inbound = (await store.callbacks.create(abandon('+864', 'i', T0), T0)).task;
    t.equal(await store.callbacks.expire(T0), 1);
    t.match(await store.callbacks.get(old.id), { status: 'expired', note: 'expired', closedAt: T0 });
    t.match(await store.callbacks.get(fresh.id), { status: 'open' });
    t.equal(await store.callbacks.expire(T0), 0);

    t.equal(store.dnc.has('+863'), false);
    const added = await store.dnc.add('+863', T0 + 1, 'api', 'asked on the phone');
    t.match(added, { added: true, cancelled: 1, entry: { number: '+863', addedAt: T0 + 1, source: 'api', note: 'asked on the phone' } });
    t.match(await store.callbacks.get(dnc.id), { status: 'cancelled', note: 'dnc' }, 'its open task is cancelled with it');
    t.equal(store.dnc.has('+863'), true);
    t.match(await store.dnc.add('+863', T0 + 2, 'import'), { added: false, cancelled: 0, entry: { addedAt: T0 + 1, source: 'api' } }, 'kept as first added');
    // A later abandon of a listed number makes a task the sweep cancels.
    const later = (await store.callbacks.create(abandon('+863', 'd2', T0 + 10), T0 + 10)).task;
    t.equal(await store.callbacks.cancelDoNotCall(T0 + 20), 1);
    t.match(await store.callbacks.get(later.id), { status: 'cancelled', note: 'dnc' });
    t.match(await store.dnc.addMany(['+865', '+866', '+865'], T0, 'import'), { added: 2, already: 1, cancelled: 0 });
    t.equal(await store.dnc.count(), 3);
    t.same((await store.dnc.list(2, 1)).map((e) => e.number), ['+865', '+866']);
    t.equal(await store.dnc.remove('+865'), true);
    t.equal(await store.dnc.remove('+865'), false);
    t.equal(await store.dnc.get('+865'), null);

    const served = await store.callbacks.satisfiedByInbound('+864', 'in-99', T0 + 30);
    t.match(served, { id: inbound.id, status: 'done', note: 'inbound', lastCallId: 'in-99', closedAt: T0 + 30 });
    t.equal(await store.callbacks.satisfiedByInbound('+864', 'in-100', T0 + 40), null, 'nothing open any more');
    t.match((await store.callbacks.figures(T0 + 60_000)).oldestOpenSeconds, (T0 + 60_000 - fresh.arrivedAt) / 1000);
  });

  t.test('a database made by schema version 1 upgrades and keeps its tasks', async (t) => {
    // A database as schema version 1 left it, on each backend (the same rows, each dialect's insert).
    const rows: [string, string, number, number, string, string, number, number, string | null, number, number | null, string | null][] = [
      ['+861', 'open', T0, T0 + 10, 'a1', 'a2', T0 + 20, T0 + 30, null, 0, null, null],
      ['+862', 'claimed', T0 + 1, T0 + 1, 'b1', 'b1', T0 + 21, T0 + 31, 'dialer-1', 3, null, null],
      ['+863', 'done', T0 + 2, T0 + 2, 'c1', 'c1', T0 + 22, T0 + 32, null, 1, T0 + 40, 'ordered'],
    ];
    const columns = `caller, queue, reason, status, arrived_at, last_arrival_at, abandons, first_call_id,
        last_call_id, dialled, programme, customer_id, created_at, updated_at, claimed_by, claimed_at, dial_attempts, closed_at, note`;
    if (backend.kind === 'sqlite') {
      const db = openDatabase({ path: await backend.where('v1') });
      migrate(db, 'store', STORE_MIGRATIONS.filter((m) => m.version === 1), T0);
      const insert = db.prepare(`INSERT INTO callbacks (${columns})
        VALUES (?, 'orders', 'abandoned_queue', ?, ?, ?, 2, ?, ?, '100', 'show', 'C-1', ?, ?, ?, NULL, ?, ?, ?)`);
      for (const r of rows) insert.run(...r);
      db.close();
    } else {
      const db = openPostgres<PgTables>(await backend.where('v1'), 1);
      await migratePostgres(db, 'store', PG_STORE_MIGRATIONS.filter((m) => m.version === 1), T0);
      for (const r of rows) {
        await sql`INSERT INTO callbacks (${sql.raw(columns)})
          VALUES (${r[0]}, 'orders', 'abandoned_queue', ${r[1]}, ${r[2]}, ${r[3]}, 2, ${r[4]}, ${r[5]}, '100', 'show', 'C-1', ${r[6]}, ${r[7]}, ${r[8]}, NULL,
            ${r[9]}, ${r[10]}, ${r[11]})`.execute(db);
      }
      await db.destroy();
    }

    const store = await backend.open({ now: T0 + 100 }, 'v1');
    t.teardown(() => store.close());
    t.same(await backend.rows(store, "SELECT version FROM schema_migrations WHERE component = 'store' ORDER BY version"), [{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }, { version: 5 }]);
    const all = await store.callbacks.list();
    t.match(all, [
      { id: 1, caller: '+861', status: 'open', arrivedAt: T0, lastArrivalAt: T0 + 10, abandons: 2, firstCallId: 'a1', lastCallId: 'a2',
        customerId: 'C-1', attempts: 0, nextAttemptAt: T0 + 20, lastResult: null, timeZone: null },
      { id: 2, caller: '+862', status: 'claimed', claimedBy: 'dialer-1', attempts: 3 },
      { id: 3, caller: '+863', status: 'done', closedAt: T0 + 40, note: 'ordered', attempts: 1 },
    ], 'every task and field kept; dial attempts became attempts; due since creation');
    t.same((await store.callbacks.due(T0 + 100, 10)).map((x) => x.id), [1]);
    const merged = await store.callbacks.create(abandon('+861', 'a3', T0 + 50), T0 + 200);
    t.equal(merged.task.id, 1, 'the dedup index still holds after the rebuild');
    const fresh = await store.callbacks.create(abandon('+864', 'd1', T0 + 60), T0 + 200);
    t.ok(fresh.task.id > 3, 'ids go on after the old ones');
    // The v2 tables work on the upgraded file.
    const s = await store.callbacks.startAttempt(fresh.task.id, { callId: 'cb', agentId: null }, T0 + 300);
    t.ok(s.ok);
    await store.dnc.add('+869', T0, 'api');
    t.equal(store.dnc.has('+869'), true);
  });
});

// Two engines on one database (the active-standby pair of issue 19, or a second process by
// mistake): the claim and attempt rules hold across connections. PostgreSQL only: SQLite has one
// writer per file (BEGIN IMMEDIATE; a second process waits for the lock), and two grouped writers in
// one process would wait on each other's open transaction, so the case does not arise there.
t.test('postgres: two engines on one database cannot double-claim, double-start or double-finish', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  const b = postgresBackend(cluster);
  const one = await b.open({}, 'pair');
  const two = await b.open({}, 'pair');
  t.teardown(async () => { await one.close(); await two.close(); });
  const tasks = [];
  for (let i = 0; i < 20; i++) tasks.push((await one.callbacks.create(abandon(`+8613700000${String(i).padStart(3, '0')}`, `p-${i}`, T0 + i), T0)).task);

  const claims = await Promise.all(tasks.flatMap((x) => [one.callbacks.claim(x.id, 'engine-1', T0 + 1), two.callbacks.claim(x.id, 'engine-2', T0 + 1)]));
  t.equal(claims.filter((c) => c.ok).length, 20, 'each task claimed exactly once');
  t.ok(claims.filter((c) => !c.ok).every((c) => !c.ok && c.code === 'STORE_ERR_INVALID_STATE'), 'the loser is told it is claimed');
  for (const x of tasks) await one.callbacks.release(x.id, T0 + 2);

  const next = await Promise.all(Array.from({ length: 24 }, (_, k) => (k % 2 === 0 ? one : two).callbacks.claimNext(`e${k % 2}`, T0 + 3)));
  const got = next.filter((x) => x !== null).map((x) => x.id);
  t.equal(got.length, 20, 'claimNext hands out every open task');
  t.equal(new Set(got).size, 20, 'and none twice');
  for (const x of tasks) await two.callbacks.release(x.id, T0 + 4);

  const started = await Promise.all(tasks.flatMap((x) => [
    one.callbacks.startAttempt(x.id, { callId: `a1-${x.id}`, agentId: '1001' }, T0 + 5),
    two.callbacks.startAttempt(x.id, { callId: `a2-${x.id}`, agentId: '1002' }, T0 + 5),
  ]));
  const attempts = started.filter((s) => s.ok).map((s) => (s.ok ? s.value.attempt.id : 0));
  t.equal(attempts.length, 20, 'one attempt per task');
  const finished = await Promise.all(attempts.flatMap((id) => [
    one.callbacks.finishAttempt(id, { result: 'answered', trunk: 'a', sipStatus: 200 }, T0 + 6),
    two.callbacks.finishAttempt(id, { result: 'no_answer', trunk: 'a', sipStatus: 480 }, T0 + 6),
  ]));
  t.equal(finished.filter((f) => f.ok).length, 20, 'each attempt finished exactly once');
  const rows = await b.rows<{ n: number }>(one, 'SELECT count(*) AS n FROM callback_attempts WHERE ended_at IS NULL');
  t.same(rows, [{ n: 0 }]);
  const byStatus = (await one.callbacks.figures(T0 + 7)).byStatus;
  t.equal(byStatus.done + byStatus.open, 20, 'every task settled once by the policy');
});

// Schema version 4 (issue 18): a task carries the airing of its first call; surge mode asks for
// the due tasks of the previous airing (the dialer's order, engine/callbacks order.ts).
void eachBackend(t, (t, backend) => {
  t.test('a task carries its airing (kept on a merge); dueOfAirings lists only those airings\' due tasks, oldest first', async (t) => {
    const store = await memory(backend);
    t.teardown(() => store.close());
    const a = (await store.callbacks.create({ ...abandon('+8613600000001', 'air-1', T0 - 3 * MIN), airing: 'show#1' }, T0)).task;
    const b = (await store.callbacks.create({ ...abandon('+8613600000002', 'air-2', T0 - 2 * MIN), airing: 'show#2' }, T0)).task;
    const c = (await store.callbacks.create({ ...abandon('+8613600000003', 'air-3', T0 - MIN), airing: 'show#1' }, T0)).task;
    const none = (await store.callbacks.create(abandon('+8613600000004', 'air-4', T0 - 4 * MIN), T0)).task;
    t.equal(a.airing, 'show#1');
    t.equal(none.airing, null, 'no airing given: none');
    const merged = await store.callbacks.create({ ...abandon('+8613600000001', 'air-5', T0), airing: 'show#2' }, T0);
    t.equal(merged.task.airing, 'show#1', 'the airing of the first call stays');
    t.same((await store.callbacks.due(T0, 10)).map((x) => x.id), [none.id, a.id, b.id, c.id], 'due: by arrival');
    t.same((await store.callbacks.dueOfAirings(T0, 10, ['show#1'])).map((x) => x.id), [a.id, c.id], 'show#1 only, oldest first');
    t.same((await store.callbacks.dueOfAirings(T0, 10, ['show#1'], new Set([a.id]))).map((x) => x.id), [c.id], 'excluded ids skipped');
    t.same((await store.callbacks.dueOfAirings(T0, 10, [])).map((x) => x.id), [], 'no airing: nothing');
    t.same((await store.callbacks.dueOfAirings(T0, 10, ['show#1', 'show#2'])).map((x) => x.id), [a.id, b.id, c.id]);
  });
});
