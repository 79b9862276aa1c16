/**
 * The shop's data layer on both stores: the same suite runs on SQLite (a temp file) and on a
 * throwaway PostgreSQL cluster (engine/testing/postgres.ts; skipped with PEER MISSING, or failed
 * under ONAIR_REQUIRE_PEERS=1, when PostgreSQL is not installed).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePostgres } from '../../engine/testing/postgres.ts';
import { ShopCrmAdapter, ShopStore, type Address, type ShopStoreConfig } from './index.ts';

const ADDRESS: Address = { recipient: '王丽', phone: '13800000001', region: '上海市', city: '上海市', line: '世纪大道100号', postcode: '200120' };
const T0 = Date.UTC(2026, 11, 7, 2, 0, 0);


async function suite(t: Test, config: () => Promise<ShopStoreConfig>): Promise<void> {
  let now = T0;
  const cfg = await config();
  const store = await ShopStore.open(cfg, { now: () => now });
  t.teardown(() => store.close());

  t.test('migrations are versioned: a second open applies none', async (t) => {
    const again = await ShopStore.open(cfg);
    t.same(await again.migrate(), [], 'nothing pending');
    await again.close();
  });

  await store.upsertProducts([
    { sku: 'WOK', nameZh: '炒锅', nameEn: 'Wok', priceFen: 39900, stock: 10, ivrZh: '炒锅', ivrEn: 'Wok', active: true },
    { sku: 'APRON', nameZh: '围裙', nameEn: 'Apron', priceFen: 4900, stock: 100, ivrZh: '围裙', ivrEn: 'Apron', active: true },
    { sku: 'OLD', nameZh: '旧货', nameEn: 'Old', priceFen: 100, stock: 5, ivrZh: '', ivrEn: '', active: false },
  ]);
  const price = await store.addPromotion({ sku: 'WOK', kind: 'price', title: '299', priceFen: 29900, giftSku: null, programme: 'cooking', airing: null, startsAt: T0 - 1000, endsAt: T0 + 3_600_000 });
  const gift = await store.addPromotion({ sku: 'WOK', kind: 'gift', title: 'apron', priceFen: null, giftSku: 'APRON', programme: 'cooking', airing: 'cooking-0207', startsAt: T0 - 1000, endsAt: T0 + 1_800_000 });
  t.ok(price.ok && gift.ok, 'promotions added');
  t.match(await store.addPromotion({ sku: 'WOK', kind: 'price', title: 'x', priceFen: 1, giftSku: null, programme: null, airing: null, startsAt: T0, endsAt: T0 }),
    { ok: false, code: 'SHOP_ERR_INVALID' }, 'an empty window is refused');

  const made = await store.createCustomer({ name: '王丽', numbers: ['+8613800000001', '+862150000001'], vipLevel: 2, language: 'zh' });
  if (!made.ok) throw new Error(made.reason);
  const customer = made.value;
  await store.addAddress(customer.id, ADDRESS);

  t.test('customers: found by any of their numbers; a number has one owner', async (t) => {
    t.equal((await store.findByNumber('+8613800000001'))?.id, customer.id);
    t.equal((await store.findByNumber('+862150000001'))?.id, customer.id);
    t.equal(await store.findByNumber('+8613899999999'), null);
    t.match(await store.createCustomer({ numbers: ['+862150000001'] }), { ok: false, code: 'SHOP_ERR_NUMBER_TAKEN' });
    const added = await store.addNumber(customer.id, '+8613900000009');
    t.same(added.ok ? [...added.value.numbers].sort() : added, ['+8613800000001', '+8613900000009', '+862150000001']);
    t.equal((await store.findByNumber('+8613900000009'))?.id, customer.id);
  });

  t.test('order entry: promotions of the programme/airing applied, stock taken, number generated, history written', async (t) => {
    const r = await store.createOrder({
      customerId: customer.id, items: [{ sku: 'WOK', quantity: 2 }], deliveryMethod: 'express', paymentMethod: 'cod',
      programme: 'cooking', airing: 'cooking-0207', callId: 'call-1', agent: '1001', invoiceTitle: '上海某公司', specialRequests: '下午送',
    }, 'agent:1001');
    if (!r.ok) throw new Error(r.reason);
    const o = r.value;
    t.match(o.id, /^SO20261207\d{6}$/, 'order number: SO + UTC date + sequence');
    t.equal(o.status, 'ordered');
    t.same(o.address, ADDRESS, 'the default address copied in');
    t.same(o.items.map((i) => [i.sku, i.quantity, i.unitPriceFen, i.listPriceFen, i.gift, i.promotionId]), [
      ['WOK', 2, 29900, 39900, false, price.ok ? price.value.id : ''],
      ['APRON', 2, 0, 4900, true, gift.ok ? gift.value.id : ''],
    ]);
    t.equal(o.totalFen, 59800, 'money in fen: 2 × 299.00');
    t.equal((await store.getProduct('WOK'))?.stock, 8);
    t.equal((await store.getProduct('APRON'))?.stock, 98);
    t.match(await store.orderHistory(o.id), [{ seq: 1, action: 'create', from: null, to: 'ordered', actor: 'agent:1001', reason: 'call call-1', at: T0 }]);

    const other = await store.createOrder({ customerId: customer.id, items: [{ sku: 'WOK', quantity: 1 }], deliveryMethod: 'standard', paymentMethod: 'card', programme: 'gardening', airing: null, callId: null, agent: null }, 'agent:1002');
    t.match(other, { ok: true, value: { totalFen: 39900, items: [{ sku: 'WOK', unitPriceFen: 39900, promotionId: null }] } }, 'another programme pays the list price');
    if (other.ok) t.ok(other.value.id > o.id, 'numbers increase');
    now = T0 + 2_000_000;
    const later = await store.createOrder({ customerId: customer.id, items: [{ sku: 'WOK', quantity: 1 }], deliveryMethod: 'standard', paymentMethod: 'transfer', programme: 'cooking', airing: 'cooking-0207', callId: null, agent: null }, 'agent:1001');
    t.match(later, { ok: true, value: { items: [{ sku: 'WOK', unitPriceFen: 29900 }] } }, 'the gift window closed, the price one still open');
    if (later.ok) t.equal(later.value.items.length, 1);
    now = T0;
  });

  t.test('order entry refusals roll everything back', async (t) => {
    const before = (await store.getProduct('WOK'))?.stock;
    const base = { customerId: customer.id, deliveryMethod: 'standard' as const, paymentMethod: 'cod' as const, programme: null, airing: null, callId: null, agent: null };
    t.match(await store.createOrder({ ...base, items: [{ sku: 'APRON', quantity: 1 }, { sku: 'WOK', quantity: 50 }] }, 'x'), { ok: false, code: 'SHOP_ERR_OUT_OF_STOCK' });
    t.equal((await store.getProduct('APRON'))?.stock, 98, 'the first line\'s stock is back (one transaction)');
    t.equal((await store.getProduct('WOK'))?.stock, before);
    t.match(await store.createOrder({ ...base, items: [{ sku: 'OLD', quantity: 1 }] }, 'x'), { ok: false, code: 'SHOP_ERR_INVALID' }, 'inactive product');
    t.match(await store.createOrder({ ...base, items: [{ sku: 'WOK', quantity: 0 }] }, 'x'), { ok: false, code: 'SHOP_ERR_INVALID' });
    t.match(await store.createOrder({ ...base, items: [] }, 'x'), { ok: false, code: 'SHOP_ERR_INVALID' });
    t.match(await store.createOrder({ ...base, customerId: 'nobody', items: [{ sku: 'WOK', quantity: 1 }] }, 'x'), { ok: false, code: 'SHOP_ERR_NOT_FOUND' });
    const bare = await store.createCustomer({ numbers: ['+8613700000000'] });
    if (bare.ok) t.match(await store.createOrder({ ...base, customerId: bare.value.id, items: [{ sku: 'WOK', quantity: 1 }] }, 'x'), { ok: false, code: 'SHOP_ERR_INVALID', reason: /no address/ });
  });

  t.test('life cycle: guarded transitions, locked after shipping, every step in the history', async (t) => {
    const r = await store.createOrder({ customerId: customer.id, items: [{ sku: 'WOK', quantity: 1 }], deliveryMethod: 'standard', paymentMethod: 'cod', programme: 'cooking', airing: null, callId: null, agent: '1001' }, 'agent:1001');
    if (!r.ok) throw new Error(r.reason);
    const id = r.value.id;
    t.match(await store.transition(id, 'ship', 'user:boss', 'staff', null), { ok: false, code: 'SHOP_ERR_ILLEGAL_TRANSITION' }, 'not before review');
    t.match(await store.transition(id, 'review', 'agent:1001', 'sales', null), { ok: false, code: 'SHOP_ERR_ILLEGAL_TRANSITION' }, 'sales does not review');
    t.match(await store.transition(id, 'review', 'user:boss', 'staff', 'checked by phone'), { ok: true, value: { status: 'reviewed', version: 2 } });
    // An edit after review: repriced, back to review.
    t.match(await store.editOrder(id, { items: [{ sku: 'WOK', quantity: 2 }] }, 'agent:1001', 'sales', 'customer wants two'), { ok: true, value: { status: 'ordered', totalFen: 59800, version: 3 } });
    t.match(await store.editOrder(id, { specialRequests: 'x' }, 'agent:1001', 'sales', null, 2), { ok: false, code: 'SHOP_ERR_CONFLICT' }, 'a stale version is refused');
    t.match(await store.transition(id, 'review', 'user:boss', 'staff', null), { ok: true, value: { status: 'reviewed' } });
    t.match(await store.transition(id, 'ship', 'user:boss', 'staff', 'EMS 1234'), { ok: true, value: { status: 'shipped' } });
    t.match(await store.editOrder(id, { address: { ...ADDRESS, line: 'elsewhere' } }, 'agent:1001', 'sales', null), { ok: false, code: 'SHOP_ERR_LOCKED' });
    t.match(await store.editOrder(id, { items: [{ sku: 'WOK', quantity: 1 }] }, 'user:boss', 'staff', null), { ok: false, code: 'SHOP_ERR_LOCKED' }, 'nobody edits a parcel on its way');
    t.match(await store.transition(id, 'settle', 'user:boss', 'staff', null), { ok: false, code: 'SHOP_ERR_ILLEGAL_TRANSITION' }, 'not settled before delivery');
    t.match(await store.transition(id, 'deliver', 'system', 'staff', null), { ok: true, value: { status: 'delivered' } });
    t.match(await store.transition(id, 'settle', 'user:acc', 'staff', 'COD remitted'), { ok: true, value: { status: 'settled' } });
    t.match(await store.transition(id, 'settle', 'user:acc', 'staff', null), { ok: false, code: 'SHOP_ERR_ILLEGAL_TRANSITION' }, 'twice');
    t.match(await store.transition('SO-none', 'review', 'x', 'staff', null), { ok: false, code: 'SHOP_ERR_NOT_FOUND' });
    const h = await store.orderHistory(id);
    t.same(h.map((e) => [e.action, e.from, e.to, e.actor]), [
      ['create', null, 'ordered', 'agent:1001'], ['review', 'ordered', 'reviewed', 'user:boss'], ['edit', 'reviewed', 'ordered', 'agent:1001'],
      ['review', 'ordered', 'reviewed', 'user:boss'], ['ship', 'reviewed', 'shipped', 'user:boss'], ['deliver', 'shipped', 'delivered', 'system'],
      ['settle', 'delivered', 'settled', 'user:acc'],
    ]);
    t.equal(h[4]?.reason, 'EMS 1234', 'why is kept');
    const stock = (await store.getProduct('WOK'))?.stock ?? 0;
    t.match(await store.transition(id, 'return', 'user:boss', 'staff', 'damaged'), { ok: true, value: { status: 'returned' } });
    t.equal((await store.getProduct('WOK'))?.stock, stock + 2, 'returned goods are back in stock');
  });

  t.test('calls and the customer card', async (t) => {
    await store.addNote(customer.id, 'complaint', 'parcel late', 'agent:1001');
    await store.addNote(customer.id, 'note', 'prefers mornings', 'agent:1001');
    const cdr = { callId: 'c1', number: '+862150000001', customerId: null, direction: 'inbound', agent: '1001', queue: 'orders', programme: 'cooking', airing: null, outcome: 'answered', arrivedAt: T0, answeredAt: T0 + 5000, endedAt: T0 + 65_000, talkMs: 60_000, deliveryId: 'd1', payload: '{}' };
    await store.recordCall(cdr);
    await store.recordCall({ ...cdr, talkMs: 61_000, deliveryId: 'd2' });
    await store.recordCallEvent({ deliveryId: 'e1', callId: 'c1', type: 'answered', agent: '1001', at: T0 + 5000, payload: '{}' });
    await store.recordCallEvent({ deliveryId: 'e1', callId: 'c1', type: 'answered', agent: '1001', at: T0 + 5000, payload: '{}' });
    t.equal((await store.callEvents('c1')).length, 1, 'a redelivered event is stored once');
    t.same(await store.listCdrs({ queue: 'orders' }), [{}], 'the delivered CDR as stored (its payload)');
    t.same(await store.listCdrs({ queue: 'service' }), []);
    t.equal(await store.answeringAgent('c1'), '1001');
    const card = await store.card(customer.id);
    t.match(card, {
      customer: { id: customer.id, vipLevel: 2 },
      lastCalls: [{ callId: 'c1', talkMs: 61_000, agent: '1001' }],
      openComplaints: [{ text: 'parcel late', open: true }],
      notes: [{ text: 'prefers mornings' }],
      addresses: [{ recipient: '王丽', isDefault: true }],
    }, 'the call found its customer by the second number; a redelivered CDR replaced the first');
    t.equal(card?.lastCalls.length, 1);
    t.ok((card?.lastOrders.length ?? 0) >= 3 && card?.lastOrders[0]?.status !== undefined, 'last orders with status');
  });

  t.test('strikes and merged duplicates', async (t) => {
    for (let i = 1; i <= 3; i++) t.match(await store.addStrike('+8613600000000'), { strikes: i, blacklisted: i >= 3 });
    const dup = await store.createCustomer({ name: '王丽 (dup)', numbers: ['+8613500000000'], vipLevel: 4 });
    if (!dup.ok) throw new Error(dup.reason);
    await store.addNote(dup.value.id, 'complaint', 'wrong colour', 'agent:1002');
    t.match(await store.mergeCustomers(dup.value.id, customer.id, 'user:boss'), { ok: true, value: { vipLevel: 4, name: '王丽' } });
    t.equal((await store.findByNumber('+8613500000000'))?.id, customer.id, 'the duplicate\'s number finds the survivor');
    t.match(await store.getCustomer(dup.value.id), { mergedInto: customer.id });
    t.ok((await store.notes(customer.id, { kind: 'complaint' })).some((n) => n.text === 'wrong colour'));
    t.match(await store.mergeCustomers(dup.value.id, customer.id, 'x'), { ok: false, code: 'SHOP_ERR_INVALID' });
  });
}

async function adapterSuite(t: Test, config: () => Promise<ShopStoreConfig>): Promise<void> {
  const now = Date.now();
  const shop = new ShopCrmAdapter({ store: await config(), seedDemo: true, now: () => now });
  await shop.init();
  t.teardown(() => shop.close());
  await shop.init();
  const ctx = { dialled: '100', deadlineMs: 300, signal: new AbortController().signal, callId: 'x' };
  t.match(await shop.lookupCaller('+4915110000001', ctx), {
    known: true, customerId: 'DEMO-VIP', name: 'Vera Ipsen', vipLevel: 3, blacklisted: false, preferredAgent: '1001', language: 'de',
    screenPop: { notes: /segment: gold/, address: /上海市/ },
  });
  t.match(await shop.lookupCaller('+4915110000002', ctx), { known: true, blacklisted: true });
  t.match(await shop.lookupCaller('+4915110000003', ctx), { blacklisted: true, strikes: 3 }, 'at the strike threshold');
  t.match(await shop.lookupCaller('+4915110000005', ctx), { lowCredit: true });
  t.match(await shop.lookupCaller('+4900000', ctx), { known: false, customerId: null });
  const o = await shop.store.createOrder({ customerId: 'DEMO-VIP', items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'express', paymentMethod: 'cod', programme: 'demo-shopping-hour', airing: null, callId: null, agent: '1001' }, 'agent:1001');
  t.match(o, { ok: true, value: { totalFen: 29900, items: [{ sku: 'WOK-01' }, { sku: 'APRON', gift: true }] } }, 'the demo promotion applies');
  await shop.deliverCdr({
    contractVersion: 1, callId: 'k1', caller: '+4915110000001', dialled: '100', programme: 'demo-shopping-hour', airing: null, queue: 'orders', agent: '1001',
    customerId: 'DEMO-VIP', outcome: 'answered', arrivedAt: now - 60_000, ivrExitAt: null, queuedAt: null, offeredAt: null, answeredAt: now - 50_000, endedAt: now,
    wrapUpEndAt: null, waitMs: 10_000, talkMs: 50_000, wrapUpMs: 0, offers: 1, releasedBy: 'caller', callbackId: null,
  }, { deliveryId: 'd-k1', attempt: 1 });
  const pop = (await shop.lookupCaller('+4915110000001', ctx)).screenPop;
  t.match(pop, { lastOrders: /^SO\d{14} ordered ¥299\.00$/, lastCalls: /answered 1001/ }, 'the card in the screen pop: last orders with status, last calls');
  const aborted = new AbortController();
  aborted.abort();
  t.same((await shop.lookupCaller('+4915110000001', { ...ctx, signal: aborted.signal })).screenPop, {}, 'past the deadline only the routing facts');
}

const sqliteConfig = (t: Test) => async (): Promise<ShopStoreConfig> => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-shop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { kind: 'sqlite', path: path.join(dir, 'shop.db') };
};

t.test('sqlite', async (t) => {
  await t.test('store', (t) => suite(t, sqliteConfig(t)));
  await t.test('adapter', (t) => adapterSuite(t, sqliteConfig(t)));
});

t.test('postgres', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  let n = 0;
  const pgConfig = async (): Promise<ShopStoreConfig> => ({ kind: 'postgres', url: await cluster.createDatabase(`shop${++n}`) });
  await t.test('store', (t) => suite(t, pgConfig));
  await t.test('adapter', (t) => adapterSuite(t, pgConfig));
});
