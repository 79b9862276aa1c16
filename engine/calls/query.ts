/**
 * The IVR's CRM query step (issue 17, IVR self-service): ask the CRM adapter's optional `query`
 * (crm-adapter/contract.ts) for an order's status, the order's status sent by SMS, or today's
 * promotion, keep the answer in call variables, and read it out as a prompt sequence built from
 * the typed result — never text from the CRM spoken as it is.
 *
 * ```
 *   query step ──▶ CrmQueryRunner.query (deadline, validation) ──▶ adapter.query?
 *        │                      │ ok                 │ notFound            │ timeout / error / malformed / no query
 *        ▼                      ▼                    ▼                     ▼
 *   variables <into>Result  readout prompts      notFound prompt,       failed prompt,
 *                           then the next step   notFound action        failed action (an agent)
 * ```
 * The caller is never left waiting: the runner gives up at the step's deadline.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { LRUCache } from 'lru-cache';
import type { CrmAdapter, QueryKind, QueryProduct, QueryRequest, QueryResult } from '../../crm-adapter/index.ts';
import { QUERY_ORDER_STATUSES, QUERY_PRODUCTS_MAX } from '../../crm-adapter/index.ts';
import { digitsReadout, moneyReadout, MONEY_MAX_FEN } from '../../media/index.ts';
import { FailureLog } from './lookup.ts';
import type { FlowStep, MenuAction } from './types.ts';

/** A flow's query step (types.ts `FlowStep`). */
export type QueryStep = Extract<FlowStep, { type: 'query' }>;

/** How a query ended, for metrics and the `<into>Result` variable. */
export type QueryOutcome = 'found' | 'notFound' | 'timeout' | 'error' | 'invalid' | 'unsupported';

/** The answer of {@link CrmQuery.query}: a checked result, or why there is none. */
export type QueryAnswer =
  | { ok: true; result: QueryResult }
  | { ok: false; outcome: Exclude<QueryOutcome, 'found' | 'notFound'> };

/** What a query step asks, without the deadline's signal (the runner makes it). */
export type QueryAsk = DistributiveOmit<QueryRequest, 'signal' | 'deadlineMs'>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The CRM query on a call's path (a {@link CrmQueryRunner}; a fake in unit tests). */
export interface CrmQuery {
  query(ask: QueryAsk, deadlineMs: number): Promise<QueryAnswer>;
}

/** What the runner reports to. */
export interface QueryObserver {
  crmQuery(kind: QueryKind, ms: number, outcome: QueryOutcome): void;
}

/** Options of {@link CrmQueryRunner}. */
export interface CrmQueryOptions {
  adapter: Pick<CrmAdapter, 'query'>;
  metrics?: QueryObserver;
  /** Failures are logged at most once per `logEveryMs` (default 10 000) with the count not logged. */
  log: { warn(obj: object, msg: string): void };
  logEveryMs?: number;
  /** Monotonic ms (tests). Default `performance.now`. */
  now?: () => number;
}

/** {@link CrmQuery} over an adapter: a hard deadline, the result checked at the edge, metrics. */
export class CrmQueryRunner implements CrmQuery {
  private readonly o: CrmQueryOptions;
  private readonly now: () => number;
  private readonly failureLog: FailureLog;

  constructor(options: CrmQueryOptions) {
    this.o = options;
    this.now = options.now ?? (() => performance.now());
    this.failureLog = new FailureLog(options.log, options.logEveryMs ?? 10_000, this.now);
  }

  async query(ask: QueryAsk, deadlineMs: number): Promise<QueryAnswer> {
    const t0 = this.now();
    const answer = await this.ask(ask, deadlineMs);
    const outcome: QueryOutcome = answer.ok ? (answer.result.kind === 'notFound' ? 'notFound' : 'found') : answer.outcome;
    this.o.metrics?.crmQuery(ask.kind, this.now() - t0, outcome);
    return answer;
  }

  private async ask(ask: QueryAsk, deadlineMs: number): Promise<QueryAnswer> {
    const adapter = this.o.adapter;
    if (typeof adapter.query !== 'function') return { ok: false, outcome: 'unsupported' };
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), deadlineMs); });
    try {
      const req = { ...ask, deadlineMs, signal: controller.signal } as QueryRequest;
      const r: unknown = await Promise.race([adapter.query.call(adapter, req), deadline]);
      if (r === 'timeout') {
        controller.abort();
        this.failureLog.warn({ callId: ask.callId, kind: ask.kind, deadlineMs }, 'CRM query timed out; the caller takes the fallback');
        return { ok: false, outcome: 'timeout' };
      }
      const result = checkQueryResult(r, ask.kind);
      if (result === undefined) {
        this.failureLog.warn({ callId: ask.callId, kind: ask.kind }, 'CRM query answered something malformed; the caller takes the fallback');
        return { ok: false, outcome: 'invalid' };
      }
      return { ok: true, result };
    } catch (err) {
      this.failureLog.warn({ err, callId: ask.callId, kind: ask.kind }, 'CRM query failed; the caller takes the fallback');
      return { ok: false, outcome: 'error' };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Product ids a readout names: they become prompt names (`products/<id>`), so no path tricks. */
const PRODUCT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
/** Order numbers and waybills: what a caller can key or an agent can read, bounded. */
const REFERENCE = /^[A-Za-z0-9-]{1,32}$/;
/** Courier ids (variables only). */
const SHORT_TEXT = /^[\p{L}\p{N} _.-]{1,32}$/u;

const isAmount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MONEY_MAX_FEN;
const isNullable = (v: unknown, re: RegExp): v is string | null => v === null || (typeof v === 'string' && re.test(v));

/**
 * The adapter's answer as a {@link QueryResult} of the kind asked (or `notFound`), or undefined
 * when it is anything else: the adapter is another party's code and its answer is read out.
 */
export function checkQueryResult(r: unknown, kind: QueryKind): QueryResult | undefined {
  if (typeof r !== 'object' || r === null) return undefined;
  const o = r as Record<string, unknown>;
  if (o['kind'] === 'notFound') return { kind: 'notFound' };
  if (o['kind'] !== kind) return undefined;
  if (kind === 'orderSms') {
    const { orderNumber } = o;
    return typeof orderNumber === 'string' && REFERENCE.test(orderNumber) ? { kind, orderNumber } : undefined;
  }
  if (kind === 'orderStatus') {
    const { orderNumber, status, courier, waybill, amountFen } = o;
    if (typeof orderNumber !== 'string' || !REFERENCE.test(orderNumber)) return undefined;
    if (typeof status !== 'string' || !(QUERY_ORDER_STATUSES as readonly string[]).includes(status)) return undefined;
    if (!isNullable(courier ?? null, SHORT_TEXT) || !isNullable(waybill ?? null, REFERENCE) || !isAmount(amountFen)) return undefined;
    return {
      kind, orderNumber, status: status as (typeof QUERY_ORDER_STATUSES)[number],
      courier: (courier ?? null) as string | null, waybill: (waybill ?? null) as string | null, amountFen,
    };
  }
  if (kind === 'products') {
    const list = o['products'];
    if (!Array.isArray(list) || list.length > QUERY_PRODUCTS_MAX) return undefined;
    const products: QueryProduct[] = [];
    for (const x of list as unknown[]) {
      const p = checkProduct(x);
      if (p === undefined) return undefined;
      products.push(p);
    }
    return products.length === 0 ? { kind: 'notFound' } : { kind, products };
  }
  const { product, priceFen, gift, validUntil } = o;
  if (typeof product !== 'string' || !PRODUCT_ID.test(product) || !isAmount(priceFen)) return undefined;
  if (!isNullable(gift ?? null, PRODUCT_ID) || typeof validUntil !== 'number' || !Number.isFinite(validUntil)) return undefined;
  return { kind, product, priceFen, gift: (gift ?? null) as string | null, validUntil };
}

/** Longest product name and description taken from a CRM (the run-time prompts cut further). */
const NAME_MAX = 200;
const DESCRIPTION_MAX = 4000;

function checkProduct(x: unknown): QueryProduct | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const { sku, name, description, priceFen, offerPriceFen, gift, giftName } = x as Record<string, unknown>;
  if (typeof sku !== 'string' || !PRODUCT_ID.test(sku) || !isAmount(priceFen)) return undefined;
  if (typeof name !== 'string' || name.length > NAME_MAX || typeof description !== 'string' || description.length > DESCRIPTION_MAX) return undefined;
  if (!(offerPriceFen === null || offerPriceFen === undefined || isAmount(offerPriceFen)) || !isNullable(gift ?? null, PRODUCT_ID)) return undefined;
  if (!(giftName === null || giftName === undefined || (typeof giftName === 'string' && giftName.length <= NAME_MAX))) return undefined;
  return { sku, name, description, priceFen, offerPriceFen: offerPriceFen ?? null, gift: (gift ?? null) as string | null, giftName: giftName ?? null };
}

/** The call variables a result sets, under the step's `into` prefix (`order` → `orderStatus`). */
export function queryVariables(into: string, outcome: QueryOutcome, result: QueryResult | null): Record<string, string> {
  const vars: Record<string, string> = { [`${into}Result`]: outcome };
  if (result?.kind === 'orderStatus') {
    vars[`${into}Number`] = result.orderNumber;
    vars[`${into}Status`] = result.status;
    vars[`${into}AmountFen`] = String(result.amountFen);
    if (result.courier !== null) vars[`${into}Courier`] = result.courier;
    if (result.waybill !== null) vars[`${into}Waybill`] = result.waybill;
  } else if (result?.kind === 'orderSms') {
    vars[`${into}Number`] = result.orderNumber;
  } else if (result?.kind === 'promotion') {
    vars[`${into}Product`] = result.product;
    vars[`${into}PriceFen`] = String(result.priceFen);
    vars[`${into}ValidUntil`] = new Date(result.validUntil).toISOString();
    if (result.gift !== null) vars[`${into}Gift`] = result.gift;
  } else if (result?.kind === 'products') {
    vars[`${into}Count`] = String(result.products.length);
  }
  return vars;
}

/** The prompt a product's name is in (`products/wok-01`), without the language. */
export function productPrompt(product: string): string {
  return `products/${product.toLowerCase()}`;
}

/**
 * Prompts (without the language) a readout of `kind` in `lang` may use besides the number and
 * product prompts: what `--check-config` requires in each language of the prompt set (角 is said
 * in Mandarin only; any other language reads amounts as in English).
 */
export function readoutPrompts(kind: QueryKind, lang: string): string[] {
  const money = lang === 'zh' ? ['money/yuan', 'money/jiao', 'money/fen'] : ['money/yuan', 'money/fen'];
  switch (kind) {
    case 'orderStatus': return ['order-intro', ...QUERY_ORDER_STATUSES.map((s) => `order-status/${s}`), 'order-amount', ...money];
    case 'orderSms': return ['order-sms-sent'];
    case 'promotion': return ['promotion-today', 'promotion-price', 'promotion-gift', ...money];
    case 'products': return ['products-intro', 'product-for', 'product-press', 'product-price', 'promotion-price', 'promotion-gift', 'product-agent', ...money];
  }
}

/**
 * The readout of a result as full prompt names, in speaking order. Order status: "order" + its
 * digits + the status + "the amount is" + the amount (`order-intro 2 0 2 6 … order-status/shipped
 * order-amount 2 百 9 10 9 元`). Order by SMS: "we are sending it by text message". Promotion:
 * "today's offer" + the product's name (when the prompt set has it: `hasPrompt`) + "special
 * price" + the price [+ "with a free gift" + the gift's name].
 */
export function readout(result: QueryResult, lang: 'en' | 'zh', hasPrompt: (name: string) => boolean): string[] {
  const p = (name: string): string => `${lang}/${name}`;
  switch (result.kind) {
    case 'orderStatus':
      return [p('order-intro'), ...digitsReadout(result.orderNumber, lang), p(`order-status/${result.status}`), p('order-amount'), ...moneyReadout(result.amountFen, lang)];
    case 'orderSms':
      return [p('order-sms-sent')];
    case 'promotion': {
      const product = p(productPrompt(result.product));
      const out = [p('promotion-today'), ...(hasPrompt(product) ? [product] : []), p('promotion-price'), ...moneyReadout(result.priceFen, lang)];
      const gift = result.gift === null ? undefined : p(productPrompt(result.gift));
      if (gift !== undefined && hasPrompt(gift)) out.push(p('promotion-gift'), gift);
      return out;
    }
    case 'products': // a products step reads its menu itself (products.ts)
    case 'notFound':
      return [];
  }
}

/** What a call gives a query step. */
export interface QueryCall {
  callId: string;
  caller: string;
  dialled: string;
  programme: string | null;
  airing: string | null;
  customerId: string | null;
  vars: Readonly<Record<string, string>>;
  lang: 'en' | 'zh';
}

/** What the flow does after a query step: variables to set, prompts to play, then the action (null = next step). */
export interface QueryStepResult {
  vars: Record<string, string>;
  /** Full names (`zh/…`) or names without the language (the controller adds it). */
  prompts: string[];
  action: MenuAction | null;
  /**
   * The caller got what they called for: an answer found and read out. A caller who hangs up once
   * it has been heard was served by the IVR (CDR `completed_ivr`), not an abandon to call back.
   */
  served: boolean;
}

/**
 * Run one query step. Never rejects: without a query port, a variable to send, or an answer in
 * time, the caller gets the step's failed prompt and action.
 */
export async function runQueryStep(
  port: CrmQuery | undefined, step: QueryStep, call: QueryCall, hasPrompt: (name: string) => boolean,
): Promise<QueryStepResult> {
  const failed = (outcome: QueryOutcome): QueryStepResult => ({ vars: queryVariables(step.into, outcome, null), prompts: [...step.failedPrompts], action: step.failed, served: false });
  const base = { callId: call.callId, caller: call.caller, dialled: call.dialled, programme: call.programme, airing: call.airing, customerId: call.customerId };
  let ask: QueryAsk;
  if (step.kind === 'orderStatus' || step.kind === 'orderSms') {
    const orderNumber = step.orderNumberVar === null ? undefined : own(call.vars, step.orderNumberVar);
    // No order number keyed (the collect step gave up): nothing to ask, the caller goes on as not found.
    if (orderNumber === undefined) return { vars: queryVariables(step.into, 'notFound', null), prompts: [...step.notFoundPrompts], action: step.notFound, served: false };
    const verification = step.verificationVar === null ? null : own(call.vars, step.verificationVar) ?? null;
    ask = { ...base, kind: step.kind, orderNumber, verification };
  } else ask = { ...base, kind: 'promotion' };
  if (port === undefined) return failed('unsupported');
  let answer: QueryAnswer;
  try {
    answer = await port.query(ask, step.timeoutMs);
  } catch {
    return failed('error');
  }
  if (!answer.ok) return failed(answer.outcome);
  const r = answer.result;
  if (r.kind === 'notFound') return { vars: queryVariables(step.into, 'notFound', null), prompts: [...step.notFoundPrompts], action: step.notFound, served: false };
  // Without a readout the answer only feeds variables (an agent tells it): not served by the IVR.
  return { vars: queryVariables(step.into, 'found', r), prompts: step.readout ? readout(r, call.lang, hasPrompt) : [], action: null, served: step.readout };
}

/**
 * Whether a prompt exists in the prompt directory `dir` (`zh/products/wok-01` → `zh/products/wok-01.wav`),
 * remembered per name: a readout names a product only when the prompt set can say it.
 */
export function promptChecker(dir: string, exists: (file: string) => boolean = existsSync): (name: string) => boolean {
  const known = new LRUCache<string, boolean>({ max: 1000 });
  return (name) => {
    let v = known.get(name);
    if (v === undefined) {
      v = exists(path.join(dir, `${name}.wav`));
      known.set(name, v);
    }
    return v;
  };
}

function own(vars: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(vars, key) ? vars[key] : undefined;
}
