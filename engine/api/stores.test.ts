// The API against the real stores the engine will pass it: SQLite callback tasks and the built-in
// CRM's CDR table, both in memory. Shows that `store.callbacks` and `crm.listCdrs` fit `ApiDeps`
// as they are, and that the filters mean the same thing on both sides.
import t from 'tap';
import { SqliteCrmAdapter } from '../../crm-adapter/index.ts';
import { openStore, sampleCdr } from '../store/index.ts';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';

t.test('callbacks and CDRs from the SQLite store and CRM', async (t) => {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const crm = new SqliteCrmAdapter({ path: ':memory:' });
  await crm.init();
  t.teardown(() => crm.close());

  const base = Date.UTC(2026, 0, 1, 20, 0, 0);
  for (let i = 0; i < 5; i++) {
    await store.callbacks.create({
      caller: `+4930000000${i}`, queue: i < 3 ? 'orders' : 'service', arrivedAt: base + i * 1000, callId: `c-${i}`,
      reason: 'abandoned_queue', dialled: '100', programme: null, customerId: null,
    }, base + i * 1000 + 500);
  }
  const claimed = await store.callbacks.claimNext('dialer-1', base + 10_000, 'orders');
  t.equal(claimed?.firstCallId, 'c-0');
  await crm.deliverCdr(sampleCdr('x-1', { arrivedAt: base, outcome: 'answered' }), { deliveryId: 'd1', attempt: 1 });
  await crm.deliverCdr(sampleCdr('x-2', { arrivedAt: base + 60_000, outcome: 'abandoned_queue', queue: 'service' }), { deliveryId: 'd2', attempt: 1 });
  await crm.deliverCdr(sampleCdr('x-3', { arrivedAt: base + 120_000, outcome: 'answered' }), { deliveryId: 'd3', attempt: 1 });

  const engine = new FakeEngine();
  engine.callbacks = store.callbacks;
  engine.cdrs = (q) => crm.listCdrs(q);
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [], openPaths: [] });
  t.teardown(() => api.close());
  const get = async (path: string): Promise<any> => (await fetch(`http://127.0.0.1:${api.port}${path}`)).json();

  const open = await get('/api/v1/callbacks?status=open&limit=2');
  t.same(open.items.map((c: { firstCallId: string }) => c.firstCallId), ['c-1', 'c-2'], 'callback order: original arrival');
  t.equal(open.total, 4);
  t.equal(open.hasMore, true);
  const service = await get('/api/v1/callbacks?queue=service&status=open,claimed');
  t.same(service.items.map((c: { firstCallId: string }) => c.firstCallId), ['c-3', 'c-4']);
  t.equal((await get('/api/v1/callbacks?status=claimed')).items[0].claimedBy, 'dialer-1');

  const cdrs = await get(`/api/v1/cdrs?since=${base + 1}`);
  t.same(cdrs.items.map((c: { callId: string }) => c.callId), ['x-3', 'x-2'], 'newest arrival first');
  const answered = await get('/api/v1/cdrs?outcome=answered&limit=1&offset=1');
  t.same(answered.items.map((c: { callId: string }) => c.callId), ['x-1']);
  t.equal(answered.hasMore, false);
});
