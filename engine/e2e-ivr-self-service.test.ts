/**
 * End to end, IVR self-service (issue 17 must-show 3) through the real engine with sipp callers
 * and the shop as the CRM: a Mandarin-speaking customer keys the number of their shipped order by
 * SIP INFO and hears its status read out — the order number digit by digit, 已发货, the amount in
 * 元 — and another caller picks "today's offer" in a menu and hears the programme's promoted wok at
 * its price with the gift. What each caller heard is read back from the CDR's `played` (the
 * prompts the media worker took), and the answer from its variables.
 */
import t from 'tap';
import { requirePeer } from './testing/index.ts';
import { demoConfig } from './config/index.ts';
import { callersFile, shopIvrRig, waitForCdrs, within } from './testing/engine-rig.ts';
import { keysCallerScenario } from './testing/keys-caller.ts';
import { DEMO_PROGRAMME } from '../crm-adapter/shop/index.ts';

const toOrders = { queue: 'orders' };

t.test('a caller keys an order number and hears its status; another asks for today\'s offer and hears its price', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { dir, shop, sipps, start } = await shopIvrRig(t, 'onair-selfservice-');
  const caller = '+8613800000009';
  const customer = await shop.store.createCustomer({ name: '王丽', numbers: [caller], language: 'zh' });
  if (!customer.ok) throw new Error(customer.reason);
  const made = await shop.store.createOrder({
    customerId: customer.value.id, items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'express', paymentMethod: 'card',
    address: { recipient: '王丽', phone: '13800000009', region: '上海市', city: '上海市', line: '世纪大道100号', postcode: '200120' },
    programme: DEMO_PROGRAMME, airing: null, callId: null, agent: null,
  }, 'user:boss');
  if (!made.ok) throw new Error(made.reason);
  const orderId = made.value.id;
  for (const step of ['review', 'ship'] as const) {
    const r = await shop.store.transition(orderId, step, 'user:boss', 'staff', null);
    if (!r.ok) throw new Error(r.reason);
  }
  const [shipment] = await shop.store.shipments(orderId);

  const demo = demoConfig();
  const rig = await start({
    flows: {
      ...demo.flows,
      'order-status': [
        { collect: { into: 'orderNumber', prompt: 'enter-order', minDigits: 6, maxDigits: 16, interDigitTimeoutSeconds: 5 } },
        { query: { kind: 'orderStatus', orderNumber: 'orderNumber', failed: toOrders } },
        { hangup: { prompt: 'goodbye' } },
      ],
      offers: [
        { menu: { prompt: 'menu', options: { 4: { goto: 'todays-offer' }, 1: toOrders }, timeoutSeconds: 5 } },
        toOrders,
      ],
      'todays-offer': [
        { query: { kind: 'promotion', failed: toOrders } },
        { hangup: { prompt: 'goodbye' } },
      ],
    },
    numbers: { ...demo.numbers, 310: { flow: 'order-status', programme: DEMO_PROGRAMME }, 311: { flow: 'offers', programme: DEMO_PROGRAMME } },
  });

  const digits = orderId.slice(2);
  const keyed = sipps.run({
    scenario: keysCallerScenario(dir, `${digits}#`, 30_000), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 60,
    args: ['-s', '310', '-d', '1000', '-inf', callersFile(rig, [caller], 'order-caller.csv')],
  });
  const r1 = await within(keyed, 70_000, 'the order-status caller');
  t.equal(r1.successful, 1, `keyed the order number and was hung up after the readout (stderr: ${r1.stderr.slice(0, 300)})`);

  const offer = sipps.run({
    scenario: keysCallerScenario(dir, '4', 30_000), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 60,
    args: ['-s', '311', '-d', '500', '-inf', callersFile(rig, ['+8613900000077'], 'offer-caller.csv')],
  });
  const r2 = await within(offer, 70_000, 'the offer caller');
  t.equal(r2.successful, 1, `chose today's offer and was hung up after it (stderr: ${r2.stderr.slice(0, 300)})`);

  const cdrs = await waitForCdrs(rig, 2, 15_000);
  const order = cdrs.find((c) => c.dialled === '310');
  t.match(order, {
    caller, outcome: 'completed_ivr', variables: { orderNumber: orderId, orderResult: 'found', orderStatus: 'shipped', orderAmountFen: '29900', orderCourier: 'SF', orderWaybill: shipment?.waybill },
  }, 'the status came from the shop, the caller\'s own order');
  const zhDigits = digits.split('').map((d) => `zh/numbers/${d}`);
  t.same(order?.played, [
    'zh/enter-order', 'zh/order-intro', ...zhDigits, 'zh/order-status/shipped', 'zh/order-amount',
    'zh/numbers/2', 'zh/numbers/hundred', 'zh/numbers/9', 'zh/numbers/10', 'zh/numbers/9', 'zh/money/yuan', 'zh/goodbye',
  ], '您的订单 … 已发货。订单金额为二百九十九元 — in Mandarin, the customer\'s language');

  const promo = cdrs.find((c) => c.dialled === '311');
  t.match(promo, { variables: { promotionResult: 'found', promotionProduct: 'WOK-01', promotionPriceFen: '29900', promotionGift: 'APRON' } });
  t.same(promo?.played, [
    'en/menu', 'en/promotion-today', 'en/products/wok-01', 'en/promotion-price',
    'en/numbers/2', 'en/numbers/hundred', 'en/numbers/90', 'en/numbers/9', 'en/money/yuan', 'en/promotion-gift', 'en/products/apron', 'en/goodbye',
  ], 'today\'s offer: the wok at 299 yuan with the apron, in the default language');
});
