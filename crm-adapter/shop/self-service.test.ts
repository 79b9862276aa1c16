/**
 * The shop's IVR self-service (contract `query`) on its real store (SQLite in memory): an order's
 * status with courier, waybill and amount for the caller whose order it is; `notFound` for anyone
 * else unless they key the verification (the last 4 digits of the delivery phone), the same
 * answer as for an order that does not exist; the promotion on offer now for the dialled number's
 * programme (the demo's price and gift), none for another programme or after it ended.
 */
import t from 'tap';
import {
  ShopCrmAdapter, ShopStore, DEMO_PROGRAMME, answerQuery, mayTell, orderIdOf, productsOnOffer, promotionToSay, seedShopDemo, smsNumberOf, type Address, type Order, type Promotion,
} from './index.ts';
import type { QueryRequest } from '../contract.ts';

const T0 = Date.UTC(2026, 11, 7, 2, 0, 0);
const ADDRESS: Address = { recipient: '王丽', phone: '138-0000-0001', region: '上海市', city: '上海市', line: '世纪大道100号', postcode: '200120' };
const VIP = '+4915110000001';

function ask(o: Partial<QueryRequest> & Pick<QueryRequest, 'kind'>): QueryRequest {
  const base = { caller: VIP, dialled: '100', programme: DEMO_PROGRAMME, airing: null, customerId: null, deadlineMs: 1000, signal: new AbortController().signal, callId: 'c1' };
  return { ...base, ...(o.kind === 'orderStatus' || o.kind === 'orderSms' ? { orderNumber: '', verification: null } : {}), ...o } as QueryRequest;
}

/** The demo VIP's order of a wok delivered to ADDRESS: its number, and the digits a caller keys. */
async function vipOrder(store: ShopStore): Promise<{ id: string; digits: string }> {
  const vip = await store.findByNumber(VIP);
  if (vip === null) throw new Error('demo customer missing');
  const made = await store.createOrder({
    customerId: vip.id, items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'express', paymentMethod: 'card', address: ADDRESS,
    programme: DEMO_PROGRAMME, airing: null, callId: null, agent: null,
  }, 'user:boss');
  if (!made.ok) throw new Error(made.reason);
  return { id: made.value.id, digits: made.value.id.slice(2) };
}

t.test('order status under the privacy rule; today\'s promotion', async (t) => {
  let now = T0;
  const shop = new ShopCrmAdapter({ store: { kind: 'sqlite', path: ':memory:' }, seedDemo: true, now: () => now });
  await shop.init();
  t.teardown(() => shop.close());
  const { id, digits } = await vipOrder(shop.store);

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
  t.same(await shop.query(ask({ kind: 'orderSms', orderNumber: digits })), { kind: 'notFound' }, 'the status by SMS with no SMS configured: nothing sent, and the caller is told so');

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

t.test('the status by SMS: under the privacy rule, to the order\'s delivery phone only, through the API\'s request path', async (t) => {
  const store = await ShopStore.open({ kind: 'sqlite', path: ':memory:' }, {
    now: () => T0, notifications: { channels: { email: true, sms: true }, events: new Set(['create'] as const), defaultLanguage: 'zh-CN', shopName: '东方购物' },
  });
  t.teardown(() => store.close());
  await seedShopDemo(store, T0);
  const { id, digits } = await vipOrder(store);
  const stranger = '+8613999999999';
  const requests = async () => (await store.notifications(id)).filter((n) => n.request > 0);

  t.same(await answerQuery(store, ask({ kind: 'orderSms', orderNumber: digits, caller: stranger }), T0), { kind: 'notFound' }, 'another number: nothing about the order');
  t.same(await answerQuery(store, ask({ kind: 'orderSms', orderNumber: '99999999999999' }), T0), { kind: 'notFound' }, 'no such order');
  t.same(await requests(), [], 'and nothing sent');
  t.same(await answerQuery(store, ask({ kind: 'orderSms', orderNumber: digits }), T0), { kind: 'orderSms', orderNumber: id }, 'the caller\'s own order');
  t.same(await answerQuery(store, ask({ kind: 'orderSms', orderNumber: digits, caller: stranger, verification: '0001' }), T0), { kind: 'orderSms', orderNumber: id },
    'another number with the verification');
  t.match(await requests(), [
    { channel: 'sms', event: 'create', status: 'pending', recipient: '13800000001', body: `【东方购物】Vera Ipsen, we received your order ${id}: Cast-iron wok ×1, Apron ×1 (gift), total ¥299.00. We will ship it once it is reviewed.` },
    { channel: 'sms', event: 'create', status: 'pending', recipient: '13800000001' },
  ], 'the current status, to the delivery phone (not the customer\'s number, not the caller\'s): one row per request');
  t.equal((await store.notifications(id)).find((n) => n.request === 0 && n.channel === 'sms')?.recipient, VIP, 'the step\'s own SMS went to the customer\'s number');
  t.equal(smsNumberOf('138-0000-0001'), '13800000001');
  t.equal(smsNumberOf(' +86 138 0000 0001'), '+8613800000001');
});
