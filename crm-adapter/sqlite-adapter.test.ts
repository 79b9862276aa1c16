import t from 'tap';
import path from 'node:path';
import { openStore, OutboxDispatcher, FakeClock, sampleCdr, sampleEvent } from '../engine/store/index.ts';
import { STORE_MIGRATIONS } from '../engine/store/schema.ts';
import { DEMO_CUSTOMERS, SqliteCrmAdapter, unknownCaller, type LookupContext } from './index.ts';

const ctx: LookupContext = { dialled: '100', deadlineMs: 300, signal: new AbortController().signal, callId: 'c1' };
const [VIP, BLOCKED, STRIKES, REGULAR] = DEMO_CUSTOMERS;

t.test('lookups: demo seed, VIP, blacklist flag, strike threshold, unknown numbers', async (t) => {
  const crm = new SqliteCrmAdapter({ path: ':memory:', seedDemo: true });
  t.teardown(() => crm.close());
  await crm.init();
  await crm.init();
  t.match(await crm.lookupCaller(VIP!.number, ctx), {
    known: true, customerId: 'DEMO-VIP', vipLevel: 3, blacklisted: false, preferredAgent: '1001', language: 'de',
    screenPop: { segment: 'gold' },
  });
  t.match(await crm.lookupCaller(BLOCKED!.number, ctx), { known: true, blacklisted: true, strikes: 0 }, 'flag alone rejects');
  t.match(await crm.lookupCaller(STRIKES!.number, ctx), { blacklisted: true, strikes: 3 }, 'three strikes reject');
  t.match(await crm.lookupCaller(REGULAR!.number, ctx), { blacklisted: false, strikes: 1 });
  t.match(await crm.lookupCaller('+4915110000005', ctx), { lowCredit: true, language: 'fr' });
  t.same(await crm.lookupCaller('+49000', ctx), unknownCaller());
});

t.test('addStrike: the third flag rejects; unknown numbers remembered without a customer id', async (t) => {
  const crm = new SqliteCrmAdapter({ path: ':memory:', seedDemo: true, strikeThreshold: 3 });
  t.teardown(() => crm.close());
  await crm.init();
  t.same(crm.addStrike(REGULAR!.number), { strikes: 2, blacklisted: false });
  t.same(crm.addStrike(REGULAR!.number), { strikes: 3, blacklisted: true });
  t.match(await crm.lookupCaller(REGULAR!.number, ctx), { blacklisted: true, strikes: 3, customerId: 'DEMO-REGULAR' });
  t.same(crm.addStrike('+4917700'), { strikes: 1, blacklisted: false });
  const anon = await crm.lookupCaller('+4917700', ctx);
  t.match(anon, { known: false, customerId: null, strikes: 1, blacklisted: false });
  crm.addStrike('+4917700');
  t.match(await crm.lookupCaller('+4917700', ctx), { known: false, blacklisted: false, strikes: 2 });
  crm.addStrike('+4917700');
  t.match(await crm.lookupCaller('+4917700', ctx), { known: false, blacklisted: true, strikes: 3 });
  const lenient = new SqliteCrmAdapter({ path: ':memory:', seedDemo: true, strikeThreshold: 5 });
  t.teardown(() => lenient.close());
  await lenient.init();
  t.match(await lenient.lookupCaller(STRIKES!.number, ctx), { blacklisted: false }, 'threshold is configurable');
  t.same(lenient.getCustomer(VIP!.number), VIP);
  lenient.upsertCustomers([{ ...VIP!, vipLevel: 5 }]);
  t.equal(lenient.getCustomer(VIP!.number)?.vipLevel, 5);
});

t.test('CDR store and events are idempotent under redelivery', async (t) => {
  const crm = new SqliteCrmAdapter({ path: ':memory:', now: () => 42 });
  t.teardown(() => crm.close());
  await crm.init();
  const cdr = sampleCdr('k1');
  await crm.deliverCdr(cdr, { deliveryId: 'k1/3', attempt: 1 });
  await crm.deliverCdr(cdr, { deliveryId: 'k1/3', attempt: 2 });
  await crm.deliverCdr(sampleCdr('k2', { outcome: 'abandoned_queue', arrivedAt: cdr.arrivedAt + 1 }), { deliveryId: 'k2/4', attempt: 1 });
  t.same(crm.getCdr('k1'), { cdr, deliveryId: 'k1/3', receivedAt: 42 });
  t.same(crm.countCdrs(), { answered: 1, abandoned_queue: 1 });
  t.same(crm.listCdrs().map((c) => c.callId), ['k2', 'k1'], 'newest first');
  t.same(crm.listCdrs({ outcome: 'answered' }).map((c) => c.callId), ['k1']);
  t.same(crm.listCdrs({ since: cdr.arrivedAt + 1 }).map((c) => c.callId), ['k2']);
  await crm.callEvent(sampleEvent('k1', 1), { deliveryId: 'k1/1', attempt: 1 });
  await crm.callEvent(sampleEvent('k1', 1), { deliveryId: 'k1/1', attempt: 2 });
  await crm.callEvent(sampleEvent('k1', 2), { deliveryId: 'k1/2', attempt: 1 });
  t.equal(crm.listEvents('k1').length, 2);
});

t.test('shares the store database; the outbox delivers into it', async (t) => {
  const dir = t.testdir({});
  const store = openStore({ path: path.join(dir, 'onair.db') });
  t.teardown(() => store.close());
  const crm = new SqliteCrmAdapter({ db: store.db, seedDemo: true });
  await crm.init();
  const clock = new FakeClock();
  const dispatcher = new OutboxDispatcher({ outbox: store.outbox, adapter: crm, clock });
  await store.finishCall({ cdr: sampleCdr('k9'), events: [sampleEvent('k9')], callback: null }, clock.now());
  await dispatcher.runOnce();
  await dispatcher.runOnce();
  t.equal(crm.getCdr('k9')?.cdr.callId, 'k9');
  t.equal(crm.listEvents('k9').length, 1);
  await crm.close();
  t.equal(store.db.open, true, 'closing the adapter leaves a shared database open');
  const versions = store.db.prepare('SELECT component, version FROM schema_migrations ORDER BY component, version').all();
  t.same(versions, [{ component: 'crm-sqlite', version: 1 }, ...STORE_MIGRATIONS.map((m) => ({ component: 'store', version: m.version }))],
    'every store migration beside the CRM one, each in its own component');
});

t.test('use before init rejects, never throws', async (t) => {
  const crm = new SqliteCrmAdapter({ path: ':memory:' });
  await t.rejects(crm.lookupCaller('+1', ctx), /CRM_ERR_NOT_INITIALIZED/);
  await t.rejects(crm.deliverCdr(sampleCdr('x'), { deliveryId: 'x/1', attempt: 1 }), /CRM_ERR_NOT_INITIALIZED/);
});
