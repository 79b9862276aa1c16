/**
 * The shop's answers to the IVR's self-service queries (contract `query`, docs/crm-adapter.md):
 * an order's status by its number, and the promotion on offer now for the dialled number's
 * programme/airing.
 *
 * Privacy rule of order status: a caller hears the status of an order only when it is an order of
 * the customer the calling number belongs to, or when they keyed the verification the flow asks
 * for (the last {@link VERIFICATION_DIGITS} digits of the order's delivery phone). Anything else
 * answers `notFound`, as for an order that does not exist, so that order numbers cannot be probed.
 */
import type { QueryRequest, QueryResult } from '../contract.ts';
import type { ShopStore } from './store.ts';
import type { Order, Promotion } from './types.ts';

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

/** Answer one query from the shop's data at `now`. */
export async function answerQuery(store: ShopStore, req: QueryRequest, now: number): Promise<QueryResult> {
  if (req.kind === 'orderStatus') {
    const order = await store.getOrder(orderIdOf(req.orderNumber));
    if (order === null) return { kind: 'notFound' };
    const caller = req.caller === '' ? null : await store.findByNumber(req.caller);
    if (!mayTell(order, caller?.id ?? null, req.verification)) return { kind: 'notFound' };
    const [shipment] = await store.shipments(order.id);
    return {
      kind: 'orderStatus', orderNumber: order.id, status: order.status, courier: shipment?.courierId ?? null,
      waybill: shipment?.waybill ?? null, amountFen: order.totalFen,
    };
  }
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
