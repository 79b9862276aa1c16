/**
 * The HTTP webhook adapter: call events and CDRs are POSTed as JSON to a URL of the CRM, signed
 * with a shared secret; caller look-ups are POSTed to a second URL with a deadline.
 *
 * ```
 * POST <url>                                  (events, CDRs; lookups go to <lookupUrl>)
 * Content-Type: application/json
 * User-Agent: onair-webhook/1
 * X-Onair-Timestamp: 1767297600                unix seconds, equal to body.timestamp
 * X-Onair-Delivery: call-42/1017               idempotency key (absent on lookups)
 * X-Onair-Signature: sha256=<64 hex>           HMAC-SHA256(secret, raw body bytes)
 *
 * {"contractVersion":1,"kind":"call_event","timestamp":1767297600,
 *  "deliveryId":"call-42/1017","attempt":1,"event":{"type":"queued",...}}
 * {"contractVersion":1,"kind":"cdr",...,"cdr":{...}}
 * {"contractVersion":1,"kind":"lookup","timestamp":...,"number":"+4930...","dialled":"100",
 *  "callId":"call-42","deadlineMs":300}
 * {"contractVersion":1,"kind":"query","timestamp":...,"deadlineMs":2000,
 *  "query":{"kind":"orderStatus","orderNumber":"2026...","verification":null,"caller":"+86...",...}}
 * ```
 *
 * The signature covers the whole body, and the body carries the timestamp, so a receiver that
 * checks the signature, then that the timestamp is recent (see {@link verifyWebhook}), and
 * remembers delivery ids it has seen, is safe against forged and replayed requests.
 *
 * Responses: 2xx = delivered. 408, 429 and 5xx (and network errors, timeouts) are retried by the
 * outbox with backoff; any other 4xx is a permanent failure (dead letter at once: the CRM will
 * not accept that payload however often it is sent). A look-up answers 200 with a JSON object of
 * {@link CallerInfo} fields (all optional; `known` defaults to true) or 404 for an unknown
 * number; anything else, or no answer within the deadline, is an unknown caller. A query (IVR
 * self-service, sent to <queryUrl>) answers 200 with a {@link QueryResult} object or 404 for
 * nothing found; anything else fails the query (the engine checks the answer and sends the caller
 * to the step's fallback).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import {
  CONTRACT_VERSION, CrmDeliveryError, unknownCaller,
  type CallerInfo, type CallEvent, type Cdr, type CrmAdapter, type DeliveryInfo, type LookupContext, type QueryRequest, type QueryResult,
} from './contract.ts';

/** Options of {@link WebhookCrmAdapter}. */
export interface WebhookCrmOptions {
  /** Where events and CDRs are POSTed. */
  url: string;
  /** Where look-ups are POSTed; null = no look-ups (every caller unknown). */
  lookupUrl: string | null;
  /** Where IVR self-service queries are POSTed; null or absent = the CRM answers none (a query fails). */
  queryUrl?: string | null;
  /** Shared secret of the HMAC signature. */
  secret: string;
  /** Timeout of one event/CDR POST. Default 5000 ms. */
  timeoutMs?: number;
  /** Upper bound of a look-up, whatever the engine's deadline. Default 1000 ms. */
  lookupTimeoutMs?: number;
  /** Extra headers (an API key of the CRM, say). */
  headers?: Record<string, string>;
  /** Name for logs and metrics. Default `webhook`. */
  name?: string;
  /** Epoch ms; default Date.now. */
  now?: () => number;
  /** Observer of look-ups that fell back to an unknown caller. Must not throw. */
  onLookupFailure?: (number: string, reason: string) => void;
}

/** Header names (lower case, as Node's http module presents them). */
export const SIGNATURE_HEADER = 'x-onair-signature';
/** Unix seconds of the request, equal to `timestamp` in the body. */
export const TIMESTAMP_HEADER = 'x-onair-timestamp';
/** Idempotency key of an event or CDR delivery. */
export const DELIVERY_HEADER = 'x-onair-delivery';

/** `sha256=<hex>` of the body under `secret`. */
export function signWebhookBody(body: string | Uint8Array, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Result of {@link verifyWebhook}. */
export type WebhookVerification =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; code: 'WEBHOOK_ERR_SIGNATURE' | 'WEBHOOK_ERR_TIMESTAMP' | 'WEBHOOK_ERR_BODY'; reason: string };

/**
 * For receivers (and tests): check a request's signature over the raw body bytes, that the
 * timestamp header matches the body and is within `toleranceS` seconds of `nowMs`.
 */
export function verifyWebhook(
  rawBody: Uint8Array, headers: Record<string, string | string[] | undefined>, secret: string, nowMs: number, toleranceS = 300,
): WebhookVerification {
  const sig = headers[SIGNATURE_HEADER];
  const expected = Buffer.from(signWebhookBody(rawBody, secret));
  const given = Buffer.from(typeof sig === 'string' ? sig : '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: 'WEBHOOK_ERR_SIGNATURE', reason: 'signature does not match the body' };
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(rawBody).toString('utf8'));
  } catch {
    return { ok: false, code: 'WEBHOOK_ERR_BODY', reason: 'body is not JSON' };
  }
  if (typeof body !== 'object' || body === null) return { ok: false, code: 'WEBHOOK_ERR_BODY', reason: 'body is not an object' };
  const ts = (body as { timestamp?: unknown }).timestamp;
  if (typeof ts !== 'number' || String(ts) !== headers[TIMESTAMP_HEADER]) {
    return { ok: false, code: 'WEBHOOK_ERR_TIMESTAMP', reason: 'timestamp header missing or not equal to the body' };
  }
  if (Math.abs(nowMs / 1000 - ts) > toleranceS) {
    return { ok: false, code: 'WEBHOOK_ERR_TIMESTAMP', reason: `timestamp ${ts} is more than ${toleranceS} s away` };
  }
  return { ok: true, body: body as Record<string, unknown> };
}

/** What a CRM may answer to a look-up; every field optional, unknown fields ignored. */
const LookupAnswer = z.object({
  known: z.boolean().optional(),
  customerId: z.string().max(200).nullable().optional(),
  name: z.string().max(200).nullable().optional(),
  vipLevel: z.number().int().min(0).max(100).optional(),
  blacklisted: z.boolean().optional(),
  strikes: z.number().int().min(0).optional(),
  preferredAgent: z.string().max(100).nullable().optional(),
  language: z.string().max(35).nullable().optional(),
  lowCredit: z.boolean().optional(),
  screenPop: z.record(z.string(), z.string()).optional(),
});

/** Statuses worth retrying; other 4xx will not get better. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** The HTTP webhook adapter; see the module comment. */
export class WebhookCrmAdapter implements CrmAdapter {
  readonly contractVersion = CONTRACT_VERSION;
  readonly name: string;
  readonly #o: WebhookCrmOptions;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #lookupTimeoutMs: number;

  constructor(options: WebhookCrmOptions) {
    new URL(options.url);
    if (options.lookupUrl !== null) new URL(options.lookupUrl);
    if (options.queryUrl != null) new URL(options.queryUrl);
    if (options.secret.length === 0) throw new Error('CRM_ERR_CONFIG: webhook secret must not be empty');
    this.#o = options;
    this.name = options.name ?? 'webhook';
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#lookupTimeoutMs = options.lookupTimeoutMs ?? 1000;
  }

  init(): Promise<void> {
    return Promise.resolve();
  }

  async lookupCaller(number: string, ctx: LookupContext): Promise<CallerInfo> {
    if (this.#o.lookupUrl === null) return unknownCaller();
    const budget = Math.max(0, Math.min(ctx.deadlineMs, this.#lookupTimeoutMs));
    try {
      const res = await this.#post(this.#o.lookupUrl, {
        kind: 'lookup', number, dialled: ctx.dialled, callId: ctx.callId, deadlineMs: budget,
      }, null, AbortSignal.any([ctx.signal, AbortSignal.timeout(budget)]));
      if (res.status === 404) {
        await res.body?.cancel();
        return unknownCaller();
      }
      if (res.status !== 200) {
        await res.body?.cancel();
        return this.#fallback(number, `HTTP ${res.status}`);
      }
      const parsed = LookupAnswer.safeParse(await res.json());
      if (!parsed.success) return this.#fallback(number, `invalid answer: ${parsed.error.issues[0]?.message ?? 'schema'}`);
      const a = parsed.data;
      const info = unknownCaller();
      info.known = a.known ?? true;
      info.customerId = a.customerId ?? null;
      info.name = a.name ?? null;
      info.vipLevel = a.vipLevel ?? 0;
      info.blacklisted = a.blacklisted ?? false;
      info.strikes = a.strikes ?? 0;
      info.preferredAgent = a.preferredAgent ?? null;
      info.language = a.language ?? null;
      info.lowCredit = a.lowCredit ?? false;
      info.screenPop = a.screenPop ?? {};
      return info;
    } catch (err) {
      const reason = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')
        ? `no answer within ${budget} ms` : String(err);
      return this.#fallback(number, reason);
    }
  }

  /** An IVR query to `queryUrl` (see the module comment); the engine checks what comes back. */
  async query(req: QueryRequest): Promise<QueryResult> {
    const url = this.#o.queryUrl;
    if (url == null) throw new Error('CRM_ERR_CONFIG: no queryUrl: this CRM answers no IVR queries');
    const { signal, deadlineMs, ...query } = req;
    const res = await this.#post(url, { kind: 'query', deadlineMs, query }, null, AbortSignal.any([signal, AbortSignal.timeout(deadlineMs)]));
    if (res.status === 404) {
      await res.body?.cancel();
      return { kind: 'notFound' };
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`query answered HTTP ${res.status}`);
    }
    return (await res.json()) as QueryResult;
  }

  callEvent(event: CallEvent, delivery: DeliveryInfo): Promise<void> {
    return this.#deliver({ kind: 'call_event', deliveryId: delivery.deliveryId, attempt: delivery.attempt, event }, delivery);
  }

  deliverCdr(cdr: Cdr, delivery: DeliveryInfo): Promise<void> {
    return this.#deliver({ kind: 'cdr', deliveryId: delivery.deliveryId, attempt: delivery.attempt, cdr }, delivery);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #deliver(payload: Record<string, unknown>, delivery: DeliveryInfo): Promise<void> {
    let res: Response;
    try {
      res = await this.#post(this.#o.url, payload, delivery.deliveryId, AbortSignal.timeout(this.#timeoutMs));
    } catch (err) {
      const timeout = err instanceof Error && err.name === 'TimeoutError';
      throw new CrmDeliveryError(timeout ? `webhook timed out after ${this.#timeoutMs} ms` : `webhook unreachable: ${String(err)}`, false);
    }
    // The body is not needed; cancelling frees the connection for reuse.
    await res.body?.cancel();
    if (res.status >= 200 && res.status < 300) return;
    throw new CrmDeliveryError(`webhook answered HTTP ${res.status}`, !retryable(res.status));
  }

  #post(url: string, payload: Record<string, unknown>, deliveryId: string | null, signal: AbortSignal): Promise<Response> {
    const timestamp = Math.floor(this.#now() / 1000);
    const body = JSON.stringify({ contractVersion: CONTRACT_VERSION, timestamp, ...payload });
    const headers: Record<string, string> = {
      ...this.#o.headers,
      'content-type': 'application/json',
      'user-agent': 'onair-webhook/1',
      [TIMESTAMP_HEADER]: String(timestamp),
      [SIGNATURE_HEADER]: signWebhookBody(body, this.#o.secret),
    };
    if (deliveryId !== null) headers[DELIVERY_HEADER] = deliveryId;
    return fetch(url, { method: 'POST', headers, body, signal, redirect: 'error' });
  }

  #fallback(number: string, reason: string): CallerInfo {
    try {
      this.#o.onLookupFailure?.(number, reason);
    } catch {
      // An observer must not break a call (CONVENTIONS.md 10).
    }
    return unknownCaller();
  }
}
