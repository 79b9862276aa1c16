/**
 * The lease and fencing of the active-standby pair against a real PostgreSQL (engine/testing/postgres.ts)
 * on fake clocks: two nodes on one database, each with its own PostgreSQL store (as two engine
 * processes have), time moved by the test. Proves: one node takes the lease and the other stays
 * standby; renewals keep it; a node that stops renewing is fenced when its lease runs out (no
 * timer of the standby's needed); the standby takes over with the next epoch; and a write of
 * the old active — even one that still believes its lease valid (a paused process) — is refused
 * by the database and leaves nothing behind, while the new active's writes commit.
 */
import t from 'tap';
import { sql } from 'kysely';
import { requirePostgres } from '../testing/postgres.ts';
import { openPgStore, type PgStore } from '../store/pg/index.ts';
import { FakeClock, sampleCdr } from '../store/index.ts';
import { HA_ERRORS, HA_ROLES, HA_TRANSITIONS, HaNode, PgLease, nextRole, type HaInput, type HaRole } from './index.ts';

const LEASE = 2000;
const RENEW = 500;
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

t.test('the role table: every edge it lists, and every other input refused', async (t) => {
  const inputs: HaInput[] = ['acquired', 'activated', 'renewed', 'lost', 'stop'];
  for (const role of HA_ROLES) {
    for (const input of inputs) {
      const next = HA_TRANSITIONS[role][input];
      if (next === undefined) t.throws(() => nextRole(role, input), { code: HA_ERRORS.invalidTransition }, `${role} refuses ${input}`);
      else t.equal(nextRole(role, input), next, `${role} --${input}--> ${next}`);
    }
  }
  t.same(HA_TRANSITIONS.fenced, { stop: 'stopped' }, 'a fenced node never bids again (only stop)');
});

interface Node { node: HaNode; store: PgStore; clock: FakeClock; fenced: string[]; roles: HaRole[]; activations: number }

t.test('lease taken, renewed, lost; takeover with the next epoch; fenced writes refused', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  const url = await cluster.createDatabase('ha');
  const start = Date.UTC(2026, 0, 1);
  const open = async (id: string): Promise<Node> => {
    const clock = new FakeClock(start);
    const store = await openPgStore({ url, groupCommit: true });
    t.teardown(() => store.close());
    const lease = await PgLease.open(store.db, 'engine', start);
    const n: Node = { node: undefined as unknown as HaNode, store, clock, fenced: [], roles: [], activations: 0 };
    n.node = new HaNode({
      lease, nodeId: id, leaseMs: LEASE, renewIntervalMs: RENEW, clock, log: quiet,
      onFenced: (reason) => n.fenced.push(reason), onRole: (role) => n.roles.push(role),
    });
    store.writer.setFence(n.node.fence);
    n.node.start(async () => { n.activations++; }, { loop: false });
    return n;
  };
  const a = await open('node-a');
  const b = await open('node-b');
  await a.node.step();
  await b.node.step();
  const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
  await settle();
  const [first, second] = a.node.role === 'active' ? [a, b] : [b, a];
  t.equal(first.node.role, 'active', 'one node took the lease and activated');
  t.equal(second.node.role, 'standby', 'the other stays standby');
  t.equal(first.activations, 1, 'activation ran once');
  t.equal(first.node.figures().epoch, 1, 'first epoch is 1');
  t.ok(first.node.accepting(), 'the active accepts calls');
  t.notOk(second.node.accepting(), 'the standby does not');

  // The standby cannot write at all: it holds no epoch.
  await t.rejects(second.store.journal.heartbeat(start), { code: HA_ERRORS.fenced }, "the standby's write is refused");

  // Renewals keep the lease past its first end.
  for (let i = 0; i < 8; i++) {
    first.clock.advance(RENEW);
    second.clock.advance(RENEW);
    await first.node.step();
    await second.node.step();
  }
  t.equal(first.node.role, 'active', `still active after ${8 * RENEW} ms of renewals (lease ${LEASE} ms)`);
  t.equal(second.node.role, 'standby', 'the standby found the lease held at every bid');
  t.ok(first.node.validUntil > first.clock.now(), 'the renewed lease reaches past now');
  t.match(first.node.figures(), { renewals: 8, leaseUsedMaxMs: RENEW }, 'each renewal answered one period after the one in force was sent');
  t.equal(second.node.nextStepMs(), RENEW, 'a lease held for longer than a period: the standby bids at its period');
  await first.store.outbox.append('call-1', 'cdr', sampleCdr('call-1'), first.clock.now());
  t.pass('the active writes at its epoch');

  // The active stops renewing (paused): its own deadline fences it, without any step.
  first.clock.advance(LEASE);
  t.equal(first.node.role, 'fenced', 'no renewal for a lease: fenced by its own deadline');
  t.notOk(first.node.accepting(), 'a fenced node takes no calls');
  t.match(first.fenced, [/ran out/], 'onFenced told why');
  await t.rejects(first.store.outbox.append('call-2', 'cdr', sampleCdr('call-2'), first.clock.now()), { code: HA_ERRORS.fenced }, 'its writes are refused at once');

  // The standby's clock nears the expiry: told the lease is held until T, it bids again at T, not a period later.
  second.clock.advance(LEASE - RENEW / 2);
  await second.node.step();
  t.equal(second.node.role, 'standby', 'half a period before the expiry: still held');
  t.equal(second.node.nextStepMs(), RENEW / 2 + 1, 'the next bid is timed to the expiry');
  second.clock.advance(second.node.nextStepMs());
  await second.node.step();
  await settle();
  t.equal(second.node.role, 'active', 'the standby took over');
  t.match(second.node.figures(), { role: 'active', epoch: 2, takeovers: 1, renewals: 0 }, 'epoch 2, one takeover');
  await second.store.outbox.append('call-3', 'cdr', sampleCdr('call-3'), second.clock.now());
  t.pass('the new active writes at epoch 2');
  // The fenced node never bids again.
  first.clock.advance(10 * LEASE);
  await first.node.step();
  t.equal(first.node.role, 'fenced', 'fenced stays fenced');
  const rows = (await sql<{ call_id: string }>`SELECT DISTINCT call_id FROM outbox ORDER BY call_id`.execute(second.store.db)).rows.map((r) => r.call_id);
  t.same(rows, ['call-1', 'call-3'], "only the writes made at a live epoch are in the database");
});

t.test('a paused active that still believes its lease valid: the database refuses its write, a renewal fences it', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  const url = await cluster.createDatabase('ha_paused');
  const start = Date.UTC(2026, 0, 1);
  const make = async (id: string, clock: FakeClock, fenced: string[]): Promise<{ node: HaNode; store: PgStore }> => {
    const store = await openPgStore({ url });
    t.teardown(() => store.close());
    const node = new HaNode({ lease: await PgLease.open(store.db, 'engine', start), nodeId: id, leaseMs: LEASE, renewIntervalMs: RENEW, clock, log: quiet, onFenced: (r) => fenced.push(r) });
    store.writer.setFence(node.fence);
    return { node, store };
  };
  // The old active's clock stands still: to it, its lease is valid (a process stopped between two reads of its clock).
  const oldClock = new FakeClock(start);
  const newClock = new FakeClock(start);
  const oldFenced: string[] = [];
  const old = await make('old', oldClock, oldFenced);
  const next = await make('new', newClock, []);
  old.node.start(async () => {}, { loop: false });
  await old.node.step();
  await new Promise((r) => setImmediate(r));
  t.equal(old.node.role, 'active', 'old node active at epoch 1');
  newClock.advance(LEASE + 1);
  next.node.start(async () => {}, { loop: false });
  await next.node.step();
  await new Promise((r) => setImmediate(r));
  t.equal(next.node.role, 'active', 'new node took the expired lease');
  t.equal(old.node.writeEpoch(), 1, 'the old node still thinks it may write at epoch 1');
  await t.rejects(old.store.finishCall({ cdr: sampleCdr('late'), callback: null }, oldClock.now()), { code: HA_ERRORS.fenced },
    "the old active's CDR is refused by the database (epoch 2 there)");
  const late = await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox WHERE call_id = 'late'`.execute(next.store.db);
  t.equal(late.rows[0]!.n, 0, 'nothing of it was committed');
  await old.node.step();
  t.equal(old.node.role, 'fenced', 'its next renewal finds the epoch moved on: fenced');
  t.match(oldFenced, [/another node/], 'and says so');
  await next.store.finishCall({ cdr: sampleCdr('served'), callback: null }, newClock.now());
  t.pass("the new active's CDR commits");
  await old.node.stop();
  const lease = await PgLease.open(next.store.db, 'engine', start);
  t.match(await lease.read(), { holder: 'new', epoch: 2 }, "the fenced node's stop leaves the new active's lease alone");
  await next.node.stop();
  t.match(await lease.read(), { holder: 'new', epoch: 2, expiresAt: 0 }, 'a clean stop gives the lease up: the standby takes it at its next bid');
});

t.test("the active's renewal is not held up by its own write in flight (a takeover's long recovery)", async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  const url = await cluster.createDatabase('ha_renew');
  const start = Date.UTC(2026, 0, 1);
  const clock = new FakeClock(start);
  const store = await openPgStore({ url });
  t.teardown(() => store.close());
  const node = new HaNode({ lease: await PgLease.open(store.db, 'engine', start), nodeId: 'a', leaseMs: LEASE, renewIntervalMs: RENEW, clock, log: quiet });
  store.writer.setFence(node.fence);
  node.start(async () => {}, { loop: false });
  await node.step();
  await new Promise((r) => setImmediate(r));
  t.equal(node.role, 'active', 'active');
  // A write that stays open (its transaction holds the fence row) until the test lets it go.
  const order: string[] = [];
  let release!: () => void;
  const open = new Promise<void>((r) => { release = r; });
  let inside!: () => void;
  const entered = new Promise<void>((r) => { inside = r; });
  const write = store.writer.write(async (tx) => {
    await sql`SELECT 1`.execute(tx);
    inside();
    await open;
  }).then(() => order.push('write'));
  await entered;
  clock.advance(RENEW);
  const renewal = node.step().then(() => order.push('renewal'));
  // Let the write go after the renewal, or after 10 s if the renewal waits for it.
  const bound = setTimeout(release, 10_000);
  await renewal.then(() => { clearTimeout(bound); release(); });
  await write;
  t.same(order, ['renewal', 'write'], 'the renewal committed while the write was still open');
  t.equal(node.role, 'active', 'still active');
  await node.stop();
});
