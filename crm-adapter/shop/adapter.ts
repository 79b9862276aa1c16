/**
 * The shop as a CRM adapter (crm-adapter/contract.ts): the caller look-up answers from the shop's
 * customers (any of their numbers) with VIP level, blacklist/strikes, low credit, preferred agent,
 * language, name, and a customer card in the screen pop (last orders with status, open complaints,
 * notes, last calls); call events and CDRs are stored for the card and for order entry.
 *
 * The screen pop of the contract is string to string, shown to the agent as it is: each card list
 * becomes one line of short entries, bounded ({@link SCREEN_POP_MAX}), and the whole card stays
 * available from `GET /api/v1/shop/customers/:id/card`.
 */
import {
  CONTRACT_VERSION, unknownCaller, type CallerInfo, type CallEvent, type Cdr, type CrmAdapter, type DeliveryInfo, type LookupContext, type QueryRequest, type QueryResult,
} from '../contract.ts';
import { answerQuery } from './self-service.ts';
import { seedShopDemo } from './demo.ts';
import { ShopError, SHOP_ERRORS } from './errors.ts';
import { EmailSender, NotificationWorker, SmsSender, type NotificationSender, type ShopNotifyConfig } from './notify.ts';
import { ShopStore, type ShopStoreConfig } from './store.ts';
import { yuan } from './templates.ts';
import type { CustomerCard } from './types.ts';

/** Longest screen-pop value (characters); a longer list is cut with `…`. */
export const SCREEN_POP_MAX = 200;
/** Entries of a list shown in the screen pop. */
const POP_ENTRIES = 3;

/** Options of {@link ShopCrmAdapter}. */
export interface ShopCrmOptions {
  store: ShopStoreConfig;
  /** Strikes at which a number is rejected. Default 3. */
  strikeThreshold?: number;
  /** Insert the demo customers, products and promotions at init. */
  seedDemo?: boolean;
  /** Epoch ms (tests). Default Date.now. */
  now?: () => number;
  /** Where a lost PostgreSQL connection and failed notifications are reported (pino-compatible `warn`). */
  log?: { warn(obj: object, msg: string): void };
  /** Customer notifications (crm.notifications); absent, or no channel configured: none are written. */
  notifications?: ShopNotifyConfig;
  /** Every query of the store, with its time (ShopStoreOptions.onQuery: tests and the bench count them). */
  onQuery?: (sql: string, ms: number) => void;
}


function bounded(parts: string[]): string {
  const s = parts.join(' · ');
  return s.length <= SCREEN_POP_MAX ? s : `${s.slice(0, SCREEN_POP_MAX - 1)}…`;
}

/** The screen-pop fields of a card (empty lists are left out). */
export function screenPopOf(card: CustomerCard): Record<string, string> {
  const pop: Record<string, string> = {};
  if (card.lastOrders.length > 0) pop['lastOrders'] = bounded(card.lastOrders.slice(0, POP_ENTRIES).map((o) => `${o.id} ${o.status} ${yuan(o.totalFen)}`));
  if (card.openComplaints.length > 0) pop['openComplaints'] = bounded(card.openComplaints.slice(0, POP_ENTRIES).map((n) => n.text));
  if (card.notes.length > 0) pop['notes'] = bounded(card.notes.slice(0, POP_ENTRIES).map((n) => n.text));
  if (card.lastCalls.length > 0) {
    pop['lastCalls'] = bounded(card.lastCalls.slice(0, POP_ENTRIES).map((c) => `${new Date(c.arrivedAt).toISOString().slice(0, 16)}Z ${c.outcome}${c.agent === null ? '' : ` ${c.agent}`}`));
  }
  const def = card.addresses[0];
  if (def !== undefined) pop['address'] = bounded([`${def.region}${def.city === def.region ? '' : def.city}${def.line}`]);
  return pop;
}

/** The shop's CRM adapter; see the module comment. */
export class ShopCrmAdapter implements CrmAdapter {
  readonly contractVersion = CONTRACT_VERSION;
  readonly name = 'shop';
  readonly #o: ShopCrmOptions;
  readonly #now: () => number;
  #store: ShopStore | undefined;
  #worker: NotificationWorker | undefined;

  constructor(options: ShopCrmOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  /** The shop's data (after init). */
  get store(): ShopStore {
    if (this.#store === undefined) throw new ShopError(SHOP_ERRORS.config, 'call init() first');
    return this.#store;
  }

  async init(): Promise<void> {
    if (this.#store !== undefined) return;
    const log = this.#o.log;
    const n = this.#o.notifications;
    const senders: NotificationSender[] = [];
    if (n?.email != null) senders.push(new EmailSender(n.email));
    if (n?.sms != null) senders.push(new SmsSender(n.sms));
    let kick = (): void => {};
    const store = await ShopStore.open(this.#o.store, {
      now: this.#now, ...(this.#o.strikeThreshold !== undefined ? { strikeThreshold: this.#o.strikeThreshold } : {}),
      onConnectionError: (err) => log?.warn({ err }, 'shop database connection lost: the next query reconnects'),
      ...(this.#o.onQuery !== undefined ? { onQuery: this.#o.onQuery } : {}),
      ...(n !== undefined && senders.length > 0 ? {
        notifications: {
          channels: { email: n.email !== null, sms: n.sms !== null }, events: new Set(n.events), defaultLanguage: n.defaultLanguage, shopName: n.shopName,
          onQueued: () => kick(),
        },
      } : {}),
    });
    try {
      if (this.#o.seedDemo === true) await seedShopDemo(store, this.#now());
    } catch (err) {
      await store.close();
      throw err;
    }
    this.#store = store;
    if (n !== undefined && senders.length > 0) {
      // Pending notifications of an earlier run (an outage, a restart) are delivered from the first run on.
      const worker = new NotificationWorker(store, senders, { retry: n.retry, pollMs: n.pollMs, now: this.#now, ...(log !== undefined ? { log } : {}) });
      this.#worker = worker;
      kick = () => worker.kick();
      worker.start();
    }
  }

  /** The notification worker, when a channel is configured (after init). */
  get notifier(): NotificationWorker | undefined {
    return this.#worker;
  }

  async lookupCaller(number: string, ctx?: LookupContext): Promise<CallerInfo> {
    const store = this.store;
    const c = await store.findByNumber(number);
    if (c === null) return unknownCaller();
    const info: CallerInfo = {
      known: true, customerId: c.id, name: c.name, vipLevel: c.vipLevel, blacklisted: c.blacklisted || c.strikes >= store.strikeThreshold,
      strikes: c.strikes, preferredAgent: c.preferredAgent, language: c.language, lowCredit: c.lowCredit, screenPop: {},
    };
    // The routing facts are in hand: past the deadline the engine has gone on without us, so the card is not worth building.
    if (ctx?.signal.aborted === true || info.blacklisted) return info;
    info.screenPop = screenPopOf(await store.cardOf(c));
    return info;
  }

  async callEvent(event: CallEvent, delivery: DeliveryInfo): Promise<void> {
    const agent = 'agent' in event && typeof event.agent === 'string' ? event.agent : null;
    await this.store.recordCallEvent({ deliveryId: delivery.deliveryId, callId: event.callId, type: event.type, agent, at: event.at, payload: JSON.stringify(event) });
  }

  async deliverCdr(cdr: Cdr, delivery: DeliveryInfo): Promise<void> {
    await this.store.recordCall({
      callId: cdr.callId, number: cdr.caller, customerId: cdr.customerId, direction: cdr.direction ?? 'inbound', agent: cdr.agent, queue: cdr.queue,
      programme: cdr.programme, airing: cdr.airing, outcome: cdr.outcome, arrivedAt: cdr.arrivedAt, answeredAt: cdr.answeredAt, endedAt: cdr.endedAt,
      talkMs: cdr.talkMs, deliveryId: delivery.deliveryId, payload: JSON.stringify(cdr),
    });
  }

  /** IVR self-service (self-service.ts): an order's status under the privacy rule, the promotion on offer now. */
  async query(req: QueryRequest): Promise<QueryResult> {
    return answerQuery(this.store, req, this.#now());
  }

  async close(): Promise<void> {
    const s = this.#store;
    const w = this.#worker;
    this.#store = undefined;
    this.#worker = undefined;
    // The worker first: its delivery in progress is marked before the database closes.
    await w?.stop();
    await s?.close();
  }
}
