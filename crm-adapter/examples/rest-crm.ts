/**
 * Example adapter for a (made-up) REST CRM, "ShopDesk", as a TV-shopping company would write it.
 * The complete code is also in docs/crm-adapter.md.
 *
 * ShopDesk's API:
 *   GET  /v2/customers?phone=+4930...      → 200 {"id","displayName","tier","blocked","flags",
 *                                             "agentExt","locale","creditOk","notes"} or 404
 *   POST /v2/calls/{callId}/events          ← one call event (ShopDesk dedupes by Idempotency-Key)
 *   PUT  /v2/calls/{callId}/record          ← the CDR (PUT: sending it twice is harmless)
 * Authentication: `Authorization: Bearer <token>`.
 */
import {
  CONTRACT_VERSION, CrmDeliveryError, unknownCaller,
  type CallerInfo, type CallEvent, type Cdr, type CrmAdapter, type DeliveryInfo, type LookupContext,
} from '../index.ts';

/** Settings of the ShopDesk adapter (from the engine's config file). */
export interface ShopDeskOptions {
  baseUrl: string;
  token: string;
  /** Timeout of an event or CDR request. */
  timeoutMs: number;
}

/** The customer as ShopDesk returns it. */
interface ShopDeskCustomer {
  id: string;
  displayName?: string;
  tier?: 'standard' | 'silver' | 'gold';
  blocked?: boolean;
  flags?: number;
  agentExt?: string | null;
  locale?: string | null;
  creditOk?: boolean;
  notes?: string;
}

const TIER_TO_VIP = { standard: 0, silver: 1, gold: 2 } as const;

/** A CRM adapter for ShopDesk. */
export class ShopDeskAdapter implements CrmAdapter {
  readonly contractVersion = CONTRACT_VERSION;
  readonly name = 'shopdesk';
  readonly #o: ShopDeskOptions;

  constructor(options: ShopDeskOptions) {
    this.#o = options;
  }

  async init(): Promise<void> {
    // Fail at start-up, not on the first call, when the URL or token is wrong.
    const res = await this.#request('GET', '/v2/ping', undefined, AbortSignal.timeout(this.#o.timeoutMs));
    await res.body?.cancel();
    if (!res.ok) throw new Error(`ShopDesk ping failed: HTTP ${res.status}`);
  }

  async lookupCaller(number: string, ctx: LookupContext): Promise<CallerInfo> {
    try {
      // ctx.signal fires at the engine's deadline: the request is abandoned, not left running.
      const res = await this.#request('GET', `/v2/customers?phone=${encodeURIComponent(number)}`, undefined, ctx.signal);
      if (!res.ok) {
        await res.body?.cancel();
        return unknownCaller();
      }
      const c = (await res.json()) as ShopDeskCustomer;
      return {
        known: true,
        customerId: c.id,
        name: c.displayName ?? null,
        vipLevel: TIER_TO_VIP[c.tier ?? 'standard'] ?? 0,
        blacklisted: c.blocked === true,
        strikes: c.flags ?? 0,
        preferredAgent: c.agentExt ?? null,
        language: c.locale ?? null,
        lowCredit: c.creditOk === false,
        screenPop: c.notes === undefined ? {} : { notes: c.notes },
      };
    } catch {
      // Timeout, network error, bad JSON: the call goes on with an unknown caller.
      return unknownCaller();
    }
  }

  callEvent(event: CallEvent, delivery: DeliveryInfo): Promise<void> {
    return this.#deliver('POST', `/v2/calls/${encodeURIComponent(event.callId)}/events`, event, delivery);
  }

  deliverCdr(cdr: Cdr, delivery: DeliveryInfo): Promise<void> {
    return this.#deliver('PUT', `/v2/calls/${encodeURIComponent(cdr.callId)}/record`, cdr, delivery);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #deliver(method: string, path: string, body: unknown, delivery: DeliveryInfo): Promise<void> {
    const res = await this.#request(method, path, body, AbortSignal.timeout(this.#o.timeoutMs), delivery.deliveryId);
    await res.body?.cancel();
    if (res.ok) return;
    // 4xx other than 408/429: ShopDesk will never take this payload; retrying is pointless.
    const permanent = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
    throw new CrmDeliveryError(`ShopDesk ${method} ${path}: HTTP ${res.status}`, permanent);
  }

  #request(method: string, path: string, body: unknown, signal: AbortSignal, idempotencyKey?: string): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#o.token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    return fetch(new URL(path, this.#o.baseUrl), {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}
