/**
 * The shop's orders beside the hand-written records of fixtures.ts (the reports' orders and
 * conversion, docs/reports.md): entered at {@link ORDERS_AT} with no call linked, so each is filed
 * in bucket 20:00. Kitchen (kitchen-2000): 1 and 2 woks, 119 700 fen; garden (garden-2000): 1 wok,
 * 39 900 fen. With fixtures.ts's answered calls (kitchen c1 c2 c10, garden c9) the conversion over
 * 20:00-20:30 is 2 / 3 and 1. Source: written for this repository.
 */
import type { ShopStore } from '../../../crm-adapter/shop/index.ts';
import { T } from './fixtures.ts';

/** When the orders are entered (the store's clock): 20:01 UTC. */
export const ORDERS_AT = T + 60_000;

/** Enter the orders into a shop store opened with `now: () => ORDERS_AT`. */
export async function enterFixtureOrders(shop: ShopStore): Promise<void> {
  await shop.upsertProducts([{ sku: 'WOK', nameZh: '炒锅', nameEn: 'Wok', priceFen: 39900, stock: 10, ivrZh: '', ivrEn: '', active: true }]);
  const c = await shop.createCustomer({ numbers: ['+8613800000009'] });
  if (!c.ok) throw new Error(c.reason);
  await shop.addAddress(c.value.id, { recipient: '王丽', phone: '13800000009', region: '上海市', city: '上海市', line: '世纪大道1号', postcode: null });
  for (const [programme, airing, quantity] of [['kitchen', 'kitchen-2000', 1], ['kitchen', 'kitchen-2000', 2], ['garden', 'garden-2000', 1]] as const) {
    const o = await shop.createOrder({ customerId: c.value.id, items: [{ sku: 'WOK', quantity }], deliveryMethod: 'express', paymentMethod: 'cod', programme, airing, callId: null, agent: '1001' }, 'agent:1001');
    if (!o.ok) throw new Error(o.reason);
  }
}
