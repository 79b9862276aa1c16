/**
 * Error codes of the shop (one registry, CONVENTIONS.md 19). Domain refusals (an illegal status
 * change, an edit after shipping, an unknown SKU) are results, not exceptions: the store returns
 * `{ ok: false, code, reason }` and the API maps each code to one HTTP status.
 */

/** Every code the shop answers with, prefix `SHOP_ERR_`. */
export const SHOP_ERRORS = {
  /** No such customer, product, promotion or order. */
  notFound: 'SHOP_ERR_NOT_FOUND',
  /** The life-cycle table has no such action from the order's status (lifecycle.ts). */
  illegalTransition: 'SHOP_ERR_ILLEGAL_TRANSITION',
  /** The order is past the point where the sales side may change items or address (shipped). */
  locked: 'SHOP_ERR_LOCKED',
  /** Input the domain refuses: an unknown or inactive SKU, a quantity out of range, no items. */
  invalid: 'SHOP_ERR_INVALID',
  /** Not enough stock for an item. */
  outOfStock: 'SHOP_ERR_OUT_OF_STOCK',
  /** The order changed since it was read (another writer won): read it again. */
  conflict: 'SHOP_ERR_CONFLICT',
  /** The number already belongs to another customer. */
  numberTaken: 'SHOP_ERR_NUMBER_TAKEN',
  /** No courier rule serves the order's region, delivery method and payment (shop_courier_rules). */
  noCourier: 'SHOP_ERR_NO_COURIER',
  /** The shipping document cannot be rendered as it must be (the CJK font is missing). */
  font: 'SHOP_ERR_FONT',
  /** A courier webhook whose signature or timestamp does not verify (or a courier without a configured secret). */
  signature: 'SHOP_ERR_SIGNATURE',
  /** A courier webhook delivery whose event id was received before (a replay): nothing applied again. */
  replay: 'SHOP_ERR_REPLAY',
  /** A batch (printing) would hold more orders than its cap: narrow it (another courier, another day) or print in parts. */
  batchTooLarge: 'SHOP_ERR_BATCH_TOO_LARGE',
  /** A notification on request for a channel that is not configured, or for a customer without an address or number for it. */
  noChannel: 'SHOP_ERR_NO_CHANNEL',
  /** The store is configured wrongly or not opened (a programmer or operator error). */
  config: 'SHOP_ERR_CONFIG',
} as const;

/** One of {@link SHOP_ERRORS}. */
export type ShopErrorCode = (typeof SHOP_ERRORS)[keyof typeof SHOP_ERRORS];

/** A refusal of the shop: a typed code and a sentence for people. */
export interface ShopRefusal {
  ok: false;
  code: ShopErrorCode;
  reason: string;
}

/** What a shop operation that can be refused returns. */
export type ShopResult<T> = { ok: true; value: T } | ShopRefusal;

/** Build a refusal. */
export function refuse(code: ShopErrorCode, reason: string): ShopRefusal {
  return { ok: false, code, reason };
}

/** A programmer or operator error of the shop (an exception, not a domain refusal). */
export class ShopError extends Error {
  readonly code: ShopErrorCode;
  constructor(code: ShopErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'ShopError';
    this.code = code;
  }
}
