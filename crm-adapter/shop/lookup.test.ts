/**
 * The caller look-up's queries (issue 17 must-show 4): one for the customer with its numbers
 * (a merged number's survivor included), one per part of the card: six in all, on SQLite and
 * PostgreSQL, counted through the store's query log. Before this, a look-up read the customer
 * three times over (number, customer, numbers; again for the card) and issued ten.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePostgres } from '../../engine/testing/postgres.ts';
import { ShopCrmAdapter, type ShopStoreConfig } from './index.ts';

const T0 = Date.UTC(2026, 11, 7, 2, 0, 0);
/** What the card needs: the customer with its numbers, addresses, last orders, last calls, open complaints, notes. */
const LOOKUP_QUERIES = 6;

async function suite(t: Test, config: ShopStoreConfig): Promise<void> {
  const queries: string[] = [];
  let counting = false;
  const shop = new ShopCrmAdapter({ store: config, now: () => T0, onQuery: (q) => { if (counting) queries.push(q); } });
  await shop.init();
  t.teardown(() => shop.close());
  const store = shop.store;
  await store.upsertProducts([{ sku: 'WOK', nameZh: '炒锅', nameEn: 'Wok', priceFen: 39900, stock: 10, ivrZh: '炒锅', ivrEn: 'Wok', active: true }]);
  const a = await store.createCustomer({ name: '王丽', numbers: ['+8613800000001', '+862150000001'], vipLevel: 2, language: 'zh' });
  const b = await store.createCustomer({ name: '王丽 (dup)', numbers: ['+8613900000002'] });
  if (!a.ok || !b.ok) throw new Error('customers');
  await store.addAddress(a.value.id, { recipient: '王丽', phone: '13800000001', region: '上海市', city: '上海市', line: '世纪大道100号', postcode: '200120' }, true);
  const o = await store.createOrder({ customerId: a.value.id, items: [{ sku: 'WOK', quantity: 1 }], deliveryMethod: 'express', paymentMethod: 'cod', programme: 'cooking', airing: null, callId: 'k1', agent: '1001' }, 'agent:1001');
  if (!o.ok) throw new Error(o.reason);
  await store.addNote(a.value.id, 'complaint', 'late parcel', 'agent:1001');
  await store.addNote(a.value.id, 'note', 'prefers mornings', 'agent:1001');
  await store.recordCall({
    callId: 'k1', number: '+8613800000001', customerId: a.value.id, direction: 'inbound', agent: '1001', queue: 'orders', programme: 'cooking', airing: null,
    outcome: 'answered', arrivedAt: T0 - 60_000, answeredAt: T0 - 50_000, endedAt: T0, talkMs: 50_000, deliveryId: 'd-k1', payload: '{}',
  });
  const ctx = { dialled: '100', deadlineMs: 1000, signal: new AbortController().signal, callId: 'c1' };

  const look = async (number: string) => {
    queries.length = 0;
    counting = true;
    try {
      return await shop.lookupCaller(number, ctx);
    } finally {
      counting = false;
    }
  };
  const info = await look('+862150000001');
  t.equal(queries.length, LOOKUP_QUERIES, `a look-up with the card: ${LOOKUP_QUERIES} queries (${queries.map((q) => q.slice(0, 60)).join(' | ')})`);
  t.match(info, { known: true, customerId: a.value.id, vipLevel: 2, language: 'zh' });
  t.match(info.screenPop, { lastOrders: /ordered ¥399\.00/, lastCalls: /answered 1001/, openComplaints: 'late parcel', notes: 'prefers mornings', address: /世纪大道100号/ },
    'every part of the card in the screen pop');

  // Merged: the duplicate's number now belongs to the survivor; the look-up finds the survivor in the same one query.
  t.ok((await store.mergeCustomers(b.value.id, a.value.id, 'supervisor:boss')).ok, 'merged');
  const merged = await look('+8613900000002');
  t.equal(queries.length, LOOKUP_QUERIES, 'a merged number costs no more queries');
  t.equal(merged.customerId, a.value.id, 'the survivor');
  const found = await store.findByNumber('+8613900000002');
  t.same([...(found?.numbers ?? [])].sort(), ['+8613800000001', '+8613900000002', '+862150000001'], 'the survivor with every number');

  t.match(await look('+8600000000000'), { known: false, customerId: null, screenPop: {} }, 'an unknown number');
  t.equal(queries.length, 1, 'an unknown number: one query');
}

t.test('sqlite', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-shop-lookup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await suite(t, { kind: 'sqlite', path: path.join(dir, 'shop.db') });
});

t.test('postgres', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  await suite(t, { kind: 'postgres', url: await cluster.createDatabase('shoplookup') });
});
