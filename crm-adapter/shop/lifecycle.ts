/**
 * The order life cycle as a table (CONVENTIONS.md 17): each status's legal actions and the status
 * each one leads to, and one function that refuses the rest.
 *
 * ```
 *             edit (a reviewed order goes back to review)
 *           ┌─────────────────────────┐
 *           ▼                         │
 * create ─▶ ordered ───── review ───▶ reviewed ── ship ─▶ shipped ◀──────── ship ──────────┐
 *           │ ▲  │                    │                   │     │                          │
 *           └─┘  │ cancel      cancel │                deliver refuse                       │
 *          edit  ▼                    │                   ▼     ▼                          │
 *           cancelled ◀───────────────┘             delivered  refused                 exchanged
 *                                                    │  │  │     │                       ▲  ▲
 *                                                    │  │  └─────┼──── exchange ─────────┘  │
 *                                                    │ settle    │                          │
 *                                                    │  ▼        │                          │
 *                                                    │ settled ──┼──────── exchange ────────┘
 *                                                    │  │        │
 *                                                    └──┴────────┴── return ──▶ returned (restocked)
 * ```
 * `cancel` closes an order that was never shipped (ordered or reviewed → cancelled).
 * The sales side (agents) may `edit` only before shipping: {@link salesMayEdit}.
 */

/** Order statuses. */
export const ORDER_STATUSES = ['ordered', 'reviewed', 'shipped', 'delivered', 'settled', 'refused', 'returned', 'exchanged', 'cancelled'] as const;
/** One of {@link ORDER_STATUSES}. */
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** What can be done to an order (besides creating it). */
export const ORDER_ACTIONS = ['edit', 'review', 'ship', 'deliver', 'refuse', 'settle', 'return', 'exchange', 'cancel'] as const;
/** One of {@link ORDER_ACTIONS}. */
export type OrderAction = (typeof ORDER_ACTIONS)[number];

/** Who does an action: `sales` (agents entering orders) or `staff` (review, logistics, accounts). */
export type OrderSide = 'sales' | 'staff';

/** status → action → next status. An action missing from a status's row is illegal there. */
export const ORDER_TRANSITIONS: Readonly<Record<OrderStatus, Partial<Readonly<Record<OrderAction, OrderStatus>>>>> = {
  ordered: { edit: 'ordered', review: 'reviewed', cancel: 'cancelled' },
  // An edit after review sends the order back to be reviewed again.
  reviewed: { edit: 'ordered', ship: 'shipped', cancel: 'cancelled' },
  shipped: { deliver: 'delivered', refuse: 'refused' },
  delivered: { settle: 'settled', return: 'returned', exchange: 'exchanged' },
  // Settled money can still be refunded: the goods come back, or are swapped.
  settled: { return: 'returned', exchange: 'exchanged' },
  // Refused parcels travel back to the warehouse: returned is their end.
  refused: { return: 'returned' },
  returned: {},
  // An exchange ships the replacement: the order goes round the shipping loop again.
  exchanged: { ship: 'shipped' },
  cancelled: {},
};

/** Which side may do each action. */
export const ACTION_SIDES: Readonly<Record<OrderAction, readonly OrderSide[]>> = {
  edit: ['sales', 'staff'],
  cancel: ['sales', 'staff'],
  review: ['staff'],
  ship: ['staff'],
  deliver: ['staff'],
  refuse: ['staff'],
  settle: ['staff'],
  return: ['staff'],
  exchange: ['staff'],
};

/** Result of {@link nextStatus}. */
export type TransitionResult =
  | { ok: true; to: OrderStatus }
  | { ok: false; code: 'SHOP_ERR_ILLEGAL_TRANSITION' | 'SHOP_ERR_LOCKED'; reason: string };

/** The status `action` leads to from `from`, or why it is refused. */
export function nextStatus(from: OrderStatus, action: OrderAction, side: OrderSide): TransitionResult {
  const to = ORDER_TRANSITIONS[from][action];
  if (to === undefined) {
    // An edit refused because the goods left is "locked", the clearer answer for the sales side.
    if (action === 'edit') return { ok: false, code: 'SHOP_ERR_LOCKED', reason: `order is ${from}: items and address can no longer be changed` };
    return { ok: false, code: 'SHOP_ERR_ILLEGAL_TRANSITION', reason: `cannot ${action} an order that is ${from}` };
  }
  if (!ACTION_SIDES[action].includes(side)) return { ok: false, code: 'SHOP_ERR_ILLEGAL_TRANSITION', reason: `the ${side} side may not ${action} an order` };
  return { ok: true, to };
}

/** True while the sales side may still change items and address. */
export function salesMayEdit(status: OrderStatus): boolean {
  return ORDER_TRANSITIONS[status].edit !== undefined;
}

/** Statuses whose goods are back in stock (or never left): entering one restocks the order's items. */
export const RESTOCKING_STATUSES: readonly OrderStatus[] = ['returned', 'cancelled'];
