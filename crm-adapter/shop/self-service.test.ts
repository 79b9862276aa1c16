/**
 * The shop's IVR self-service (contract `query`) on its real store (SQLite in memory): an order's
 * status with courier, waybill and amount for the caller whose order it is; `notFound` for anyone
 * else unless they key the verification (the last 4 digits of the delivery phone), the same
 * answer as for an order that does not exist; the promotion on offer now for the dialled number's
 * programme (the demo's price and gift), none for another programme or after it ended.
 */
import t from 'tap';
import { ShopCrmAdapter, DEMO_PROGRAMME, mayTell, orderIdOf, productsOnOffer, promotionToSay, type Address, type Order, type Promotion } from './index.ts';
import type { QueryRequest } from '../contract.ts';

const T0 = Date.UTC(2026, 11, 7, 2, 0, 0);
const ADDRESS: Address = { recipient: '王丽', phone: '138-0000-0001', region: '上海市', city: '上海市', line: '世纪大道100号', postcode: '200120' };
const VIP = '+4915110000001';

function ask(o: Partial<QueryRequest> & Pick<QueryRequest, 'kind'>): QueryRequest {
  const base = { caller: VIP, dialled: '100', programme: DEMO_PROGRAMME, airing: null, customerId: null, deadlineMs: 1000, signal: new AbortController().signal, callId: 'c1' };
  return { ...base, ...(o.kind === 'orderStatus' ? { orderNumber: '', verification: null } : {}), ...o } as QueryRequest;
}

t.test('order status under the privacy rule; today\'s promotion', async (t) => {
  let now = T0;
  const shop = new ShopCrmAdapter({ store: { kind: 'sqlite', path: ':memory:' }, seedDemo: true, now: () => now });
  await shop.init();
  t.teardown(() => shop.close());
  const vip = await shop.store.findByNumber(VIP);
  if (vip === null) throw new Error('demo customer missing');
  const made = await shop.store.createOrder({
    customerId: vip.id, items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'express', paymentMethod: 'card', address: ADDRESS,
    programme: DEMO_PROGRAMME, airing: null, callId: null, agent: null,
  }, 'user:boss');
  if (!made.ok) throw new Error(made.reason);
  const id = made.value.id;
  const digits = id.slice(2);

  t.same(await shop.query(ask({ kind: 'orderStatus', orderNumber: digits })), {
    kind: 'orderStatus', orderNumber: id, status: 'ordered', courier: null, waybill: null, amountFen: 29900,
  }, 'the caller\'s own order, keyed as digits: ordered at the programme price, not shipped yet');
  for (const step of ['review', 'ship'] as const) {
    const r = await shop.store.transition(id, step, 'user:boss', 'staff', null);
    t.ok(r.ok, step);
  }
  const [shipment] = await shop.store.shipments(id);
  t.same(await shop.query(ask({ kind: 'orderStatus', orderNumber: id })), {
    kind: 'orderStatus', orderNumber: id, status: 'shipped', courier: 'SF', waybill: shipment?.waybill, amountFen: 29900,
  }, 'shipped express: the courier and the waybill');

  const stranger = ask({ kind: 'orderStatus', orderNumber: digits, caller: '+8613999999999' }) as Extract<QueryRequest, { kind: 'orderStatus' }>;
  t.same(await shop.query(stranger), { kind: 'notFound' }, 'another number hears nothing about the order');
  t.same(await shop.query({ ...stranger, verification: '0002' }), { kind: 'notFound' }, 'a wrong verification neither');
  t.match(await shop.query({ ...stranger, verification: '0001' }), { kind: 'orderStatus', status: 'shipped' }, 'the last 4 digits of the delivery phone');
  t.same(await shop.query(ask({ kind: 'orderStatus', orderNumber: '99999999999999' })), { kind: 'notFound' }, 'no such order: the same answer');
  t.same(await shop.query(ask({ kind: 'orderStatus', orderNumber: digits, caller: '' })), { kind: 'notFound' }, 'a withheld number is nobody');

  t.match(await shop.query(ask({ kind: 'promotion' })), { kind: 'promotion', product: 'WOK-01', priceFen: 29900, gift: 'APRON' },
    'the demo programme\'s wok at 299 with the apron');
  t.same(await shop.query(ask({ kind: 'promotion', programme: 'other-show' })), { kind: 'notFound' }, 'another programme has none');
  now = T0 + 400 * 86_400_000;
  t.same(await shop.query(ask({ kind: 'promotion' })), { kind: 'notFound' }, 'after the promotion ended');
});

t.test('the rules, pure', async (t) => {
  t.equal(orderIdOf('20261207000001'), 'SO20261207000001');
  t.equal(orderIdOf('SO20261207000001'), 'SO20261207000001');
  const o = { customerId: 'C1', address: { ...ADDRESS, phone: '13800001234' } } as Order;
  t.ok(mayTell(o, 'C1', null));
  t.notOk(mayTell(o, 'C2', null));
  t.notOk(mayTell(o, null, '234'), 'the verification has 4 digits');
  t.ok(mayTell(o, null, '1234'));
  const p = (id: string, kind: 'price' | 'gift', sku: string): Promotion => ({
    id, sku, kind, title: '', priceFen: kind === 'price' ? 100 : null, giftSku: kind === 'gift' ? 'G' : null, programme: null, airing: null, startsAt: 0, endsAt: 1,
  });
  t.same(promotionToSay([]), null);
  t.match(promotionToSay([p('1', 'gift', 'A'), p('2', 'price', 'B'), p('3', 'gift', 'B')]), { sku: 'B', price: { id: '2' }, gift: { id: '3' } }, 'a price promotion first');
  t.match(promotionToSay([p('1', 'gift', 'A')]), { sku: 'A', price: null, gift: { id: '1' } }, 'a gift alone');
});

t.test('products to introduce: promoted for the programme first, then the catalog; names in the caller\'s language; offer price and gift', async (t) => {
  const shop = new ShopCrmAdapter({ store: { kind: 'sqlite', path: ':memory:' }, seedDemo: true, now: () => T0 });
  await shop.init();
  t.teardown(() => shop.close());
  const r = await shop.query(ask({ kind: 'products', language: 'zh', limit: 9 }));
  t.same(r, {
    kind: 'products', products: [
      { sku: 'WOK-01', name: '铸铁炒锅', description: '铸铁炒锅，三十二厘米，原价三百九十九元。', priceFen: 39900, offerPriceFen: 29900, gift: 'APRON', giftName: '围裙' },
      { sku: 'APRON', name: '围裙', description: '棉质围裙。', priceFen: 4900, offerPriceFen: null, gift: null, giftName: null },
      { sku: 'KNIFE-SET', name: '不锈钢刀具五件套', description: '不锈钢刀具五件套，五百九十九元。', priceFen: 59900, offerPriceFen: null, gift: null, giftName: null },
    ],
  });
  const other = await shop.query(ask({ kind: 'products', language: 'en', limit: 2, programme: 'another-show' }));
  t.same(other.kind === 'products' ? other.products.map((p) => [p.sku, p.name, p.offerPriceFen]) : other, [['APRON', 'Apron', null], ['KNIFE-SET', 'Stainless knife set (5)', null]],
    'another programme: no promotion, the catalog by SKU, cut at the limit');
  t.equal(productsOnOffer([], [], 'en', 3).length, 0);
});
