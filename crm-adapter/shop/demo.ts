/**
 * Demo data of the shop (`crm.seedDemo`): the built-in CRM's demo callers (the same numbers and
 * flags, so a demo caller behaves the same whichever adapter is chosen) with Chinese addresses,
 * three products and promotions of the demo programme (`demo-shopping-hour`, dialled 100 and 200).
 * Seeding is idempotent: an existing customer or promotion is left as it is.
 */
import { DEMO_CUSTOMERS } from '../sqlite-adapter.ts';
import type { ShopStore } from './store.ts';
import type { Address, Product } from './types.ts';

/** The demo programme of engine/config/demo.ts. */
export const DEMO_PROGRAMME = 'demo-shopping-hour';

/** Demo products: a wok, a knife set, and the apron given with the wok. */
export const DEMO_PRODUCTS: readonly Product[] = Object.freeze([
  { sku: 'WOK-01', nameZh: '铸铁炒锅', nameEn: 'Cast-iron wok', priceFen: 39900, stock: 500, ivrZh: '铸铁炒锅，三十二厘米，原价三百九十九元。', ivrEn: 'Cast-iron wok, 32 cm, list price 399 yuan.', active: true },
  { sku: 'KNIFE-SET', nameZh: '不锈钢刀具五件套', nameEn: 'Stainless knife set (5)', priceFen: 59900, stock: 200, ivrZh: '不锈钢刀具五件套，五百九十九元。', ivrEn: 'Stainless knife set of five, 599 yuan.', active: true },
  { sku: 'APRON', nameZh: '围裙', nameEn: 'Apron', priceFen: 4900, stock: 1000, ivrZh: '棉质围裙。', ivrEn: 'Cotton apron.', active: true },
]);

const ADDRESSES: Readonly<Record<string, Address>> = {
  'DEMO-VIP': { recipient: '王丽', phone: '13800000001', region: '上海市', city: '上海市', line: '浦东新区世纪大道100号', postcode: '200120' },
  'DEMO-REGULAR': { recipient: '李强', phone: '13800000004', region: '广东省', city: '广州市', line: '天河区体育西路1号', postcode: '510620' },
  'DEMO-LOWCREDIT': { recipient: '张伟', phone: '13800000005', region: '北京市', city: '北京市', line: '朝阳区建国路88号', postcode: '100022' },
};

/** Demo e-mail addresses (example.com: RFC 2606, never a real mailbox). */
const EMAILS: Readonly<Record<string, string>> = {
  'DEMO-VIP': 'wang.li@example.com',
  'DEMO-REGULAR': 'rita.gular@example.com',
  'DEMO-LOWCREDIT': 'zhang.wei@example.com',
};

/** Insert the demo data where it is missing. `now` dates the promotions (valid a year from then). */
export async function seedShopDemo(store: ShopStore, now: number): Promise<void> {
  await store.upsertProducts(DEMO_PRODUCTS);
  for (const c of DEMO_CUSTOMERS) {
    if (c.customerId === null || await store.getCustomer(c.customerId) !== null) continue;
    const made = await store.createCustomer({
      id: c.customerId, name: c.name, language: c.language, vipLevel: c.vipLevel, blacklisted: c.blacklisted, strikes: c.strikes,
      lowCredit: c.lowCredit, preferredAgent: c.preferredAgent, email: EMAILS[c.customerId] ?? null, numbers: [c.number],
    });
    if (!made.ok) continue;
    const address = ADDRESSES[c.customerId];
    if (address !== undefined) await store.addAddress(c.customerId, address, true);
    for (const [k, v] of Object.entries(c.screenPop)) await store.addNote(c.customerId, 'note', `${k}: ${v}`, 'system');
  }
  const year = 365 * 86_400_000;
  const promos = await store.activePromotions(now, { skus: ['WOK-01'] });
  if (promos.length === 0) {
    await store.addPromotion({ id: 'DEMO-WOK-PRICE', sku: 'WOK-01', kind: 'price', title: '节目特价 299 元', priceFen: 29900, giftSku: null, programme: DEMO_PROGRAMME, airing: null, startsAt: now - 60_000, endsAt: now + year });
    await store.addPromotion({ id: 'DEMO-WOK-GIFT', sku: 'WOK-01', kind: 'gift', title: '买锅送围裙', priceFen: null, giftSku: 'APRON', programme: DEMO_PROGRAMME, airing: null, startsAt: now - 60_000, endsAt: now + year });
  }
}
