/**
 * The shop's answers to the IVR's self-service queries (contract `query`, docs/crm-adapter.md):
 * an order's status by its number, the promotion on offer now for the dialled number's
 * programme/airing, and the products a `products` step introduces (docs/shop.md, IVR product
 * introductions): those promoted for the programme/airing first, then the rest of the active
 * catalog by SKU, each with its name and IVR description in the caller's language, its list
 * price, the price promotion's price and the gift.
 *
 * Privacy rule of order status: a caller hears the status of an order only when it is an order of
 * the customer the calling number belongs to, or when they keyed the verification the flow asks
 * for (the last {@link VERIFICATION_DIGITS} digits of the order's delivery phone). Anything else
 * answers `notFound`, as for an order that does not exist, so that order numbers cannot be probed.
 *
 * The status by SMS (`orderSms`, docs/shop.md, Notifications on request) follows the same rule and
 * goes to the order's delivery phone only (the number the verification is about), never to the
 * calling number: a caller who keyed someone's verification cannot have their order texted to
 * themselves. It is the API's request path (`ShopStore.requestNotification`): one notification
 * row, delivered by the worker after the step's own.
 */
import type { QueryProduct, QueryRequest, QueryResult } from '../contract.ts';
import { QUERY_PRODUCTS_MAX } from '../contract.ts';
import type { ShopStore } from './store.ts';
import type { Order, Product, Promotion } from './types.ts';

/** Digits of the delivery phone a caller from another number keys as verification. */
export const VERIFICATION_DIGITS = 4;

/** The shop's order id of what a caller keyed: order numbers are `SO` + digits, the phone keys only the digits. */
export function orderIdOf(keyed: string): string {
  return keyed.startsWith('SO') ? keyed : `SO${keyed}`;
}

/** Whether `caller` may hear `order`'s status under the privacy rule (see the module comment). */
export function mayTell(order: Order, callerCustomerId: string | null, verification: string | null): boolean {
  if (callerCustomerId !== null && order.customerId === callerCustomerId) return true;
  if (verification === null || verification.length !== VERIFICATION_DIGITS) return false;
  const phone = order.address.phone.replace(/\D/g, '');
  return phone.length >= VERIFICATION_DIGITS && phone.endsWith(verification);
}

/**
 * The promotion to say: the first price promotion that applies (by product, then id), with a gift
 * promotion of the same product when there is one; a gift promotion alone is said at the list price.
 */
export function promotionToSay(promos: readonly Promotion[]): { sku: string; price: Promotion | null; gift: Promotion | null } | null {
  const price = promos.find((p) => p.kind === 'price') ?? null;
  const sku = price?.sku ?? promos.find((p) => p.kind === 'gift')?.sku;
  if (sku === undefined) return null;
  const gift = promos.find((p) => p.kind === 'gift' && p.sku === sku) ?? null;
  return { sku, price, gift };
}

/** The SMS number of a delivery phone as typed (`138-0000-0001` → `13800000001`; a leading `+` kept). */
export function smsNumberOf(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  return phone.trimStart().startsWith('+') ? `+${digits}` : digits;
}

/** The order a caller asks about, when the privacy rule lets them hear of it; null otherwise. */
async function orderToTell(store: ShopStore, req: Extract<QueryRequest, { kind: 'orderStatus' | 'orderSms' }>): Promise<Order | null> {
  const order = await store.getOrder(orderIdOf(req.orderNumber));
  if (order === null) return null;
  const caller = req.caller === '' ? null : await store.findByNumber(req.caller);
  return mayTell(order, caller?.id ?? null, req.verification) ? order : null;
}

/** Answer one query from the shop's data at `now`. */
export async function answerQuery(store: ShopStore, req: QueryRequest, now: number): Promise<QueryResult> {
  if (req.kind === 'orderSms') {
    const order = await orderToTell(store, req);
    if (order === null) return { kind: 'notFound' };
    // Refused (SMS not configured, a delivery phone that is no SMS number): nothing is sent, the caller is told so.
    const r = await store.requestNotification(order.id, 'sms', smsNumberOf(order.address.phone));
    return r.ok ? { kind: 'orderSms', orderNumber: order.id } : { kind: 'notFound' };
  }
  if (req.kind === 'orderStatus') {
    const order = await orderToTell(store, req);
    if (order === null) return { kind: 'notFound' };
    const [shipment] = await store.shipments(order.id);
    return {
      kind: 'orderStatus', orderNumber: order.id, status: order.status, courier: shipment?.courierId ?? null,
      waybill: shipment?.waybill ?? null, amountFen: order.totalFen,
    };
  }
  if (req.kind === 'products') return productsToIntroduce(store, req, now);
  const promos = await store.activePromotions(now, { programme: req.programme, airing: req.airing });
  const pick = promotionToSay(promos);
  if (pick === null) return { kind: 'notFound' };
  const product = await store.getProduct(pick.sku);
  if (product === null || !product.active) return { kind: 'notFound' };
  const validUntil = Math.min(...[pick.price, pick.gift].filter((p): p is Promotion => p !== null).map((p) => p.endsAt));
  return {
    kind: 'promotion', product: product.sku, priceFen: Math.min(pick.price?.priceFen ?? product.priceFen, product.priceFen),
    gift: pick.gift?.giftSku ?? null, validUntil,
  };
}

/**
 * The products a `products` step introduces, in order: promoted for the call's programme/airing
 * (by SKU), then the other active products by SKU, at most `limit`. A product only given as a
 * gift is not offered on its own before the others. Prices: the list price, and the lowest price
 * promotion's price when one applies.
 */
export function productsOnOffer(products: readonly Product[], promos: readonly Promotion[], language: string, limit: number): QueryProduct[] {
  const zh = language === 'zh';
  const bySku = new Map(products.filter((p) => p.active).map((p) => [p.sku, p]));
  const promoted = [...new Set(promos.map((p) => p.sku))].filter((sku) => bySku.has(sku));
  const order = [...promoted, ...[...bySku.keys()].filter((sku) => !promoted.includes(sku)).sort()];
  const n = Math.max(0, Math.min(limit, QUERY_PRODUCTS_MAX));
  return order.slice(0, n).map((sku) => {
    const p = bySku.get(sku)!;
    const mine = promos.filter((x) => x.sku === sku);
    const prices = mine.filter((x) => x.kind === 'price' && x.priceFen !== null).map((x) => x.priceFen!);
    const giftSku = mine.find((x) => x.kind === 'gift')?.giftSku ?? null;
    const gift = giftSku === null ? undefined : bySku.get(giftSku);
    return {
      sku, name: zh ? p.nameZh : p.nameEn, description: zh ? p.ivrZh : p.ivrEn, priceFen: p.priceFen,
      offerPriceFen: prices.length === 0 ? null : Math.min(...prices), gift: gift?.sku ?? null,
      giftName: gift === undefined ? null : zh ? gift.nameZh : gift.nameEn,
    };
  });
}

async function productsToIntroduce(store: ShopStore, req: Extract<QueryRequest, { kind: 'products' }>, now: number): Promise<QueryResult> {
  const [products, promos] = await Promise.all([store.listProducts(), store.activePromotions(now, { programme: req.programme, airing: req.airing })]);
  const list = productsOnOffer(products, promos, req.language, req.limit);
  return list.length === 0 ? { kind: 'notFound' } : { kind: 'products', products: list };
}
