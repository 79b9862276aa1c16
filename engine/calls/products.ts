/**
 * The IVR's product introductions (issue 17, a flow's `products` step), data-driven from the
 * CRM's catalog: the products on offer for the call's programme/airing read out as a menu, the
 * one the caller picks described with its price (and the promotion's), and an agent for whoever
 * wants to order it, with the product in the call's variables (the agent's screen pop shows them).
 *
 * ```
 *  CRM query 'products' (deadline) ─▶ names + descriptions rendered (run-time prompts, cached)
 *     │ nothing / failed ─▶ notFound / failed prompt and action
 *     ▼
 *  list menu: products-intro, (product-for <name> product-press <n>) × N ─▶ digit n
 *     ▼
 *  product menu: <description> product-price <price> [promotion-price <offer>] [promotion-gift
 *                <gift>] product-agent ─▶ 1: <into>Sku/Name/PriceFen set, the agent action
 *                                         2: the list again
 * ```
 * A name is said from the recorded `products/<sku>` prompt when the prompt set has one, else by
 * the run-time prompts; a description only by them. Everything is rendered before the list
 * plays, so a digit pressed during a prompt (barge-in) is never lost to a render in progress.
 * A render that fails falls back: a description to the product's name, a name with no prompt at
 * all leaves the product out of the menu; the caller never waits past the render deadline.
 */
import type { QueryProduct } from '../../crm-adapter/index.ts';
import { moneyReadout } from '../../media/index.ts';
import { runMenu, type DtmfHost, type DtmfInput } from './dtmf-steps.ts';
import { productPrompt, queryVariables, type CrmQuery, type QueryAnswer, type QueryCall, type QueryOutcome } from './query.ts';
import type { FlowStep, MenuAction } from './types.ts';

/** A flow's products step (types.ts `FlowStep`). */
export type ProductsStep = Extract<FlowStep, { type: 'products' }>;

/** The run-time prompts (media/prompts/tts.ts `RuntimePrompts`; a fake in unit tests). */
export interface RuntimePromptPort {
  render(text: string, lang: string): Promise<{ ok: true; name: string } | { ok: false; code: string; reason: string }>;
}

/** One product the caller can pick: its digit, what is said of it, the variables it sets. */
export interface ProductChoice {
  digit: string;
  sku: string;
  /** Full prompt names: description, price, promotion, "press 1 for an agent, 2 for the list". */
  detail: string[];
  vars: Record<string, string>;
}

/** What a products step does: its menus, or the notFound/failed prompts and action. */
export type ProductsPlan =
  | { ok: true; vars: Record<string, string>; list: string[]; choices: ProductChoice[] }
  | { ok: false; vars: Record<string, string>; prompts: string[]; action: MenuAction | null };

/** Longest value of a product variable (they go into SIP headers and the screen pop). */
const VAR_MAX = 64;

/** A catalog text as a variable value: one line, no controls, bounded. */
function varText(s: string): string {
  return Array.from(s.replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ').trim()).slice(0, VAR_MAX).join('');
}

/**
 * Ask the CRM for the products and prepare the menus. Never rejects: without a query port, an
 * answer in time, or a single product that can be named, the caller gets the failed or notFound
 * prompts and action.
 */
export async function planProducts(
  port: CrmQuery | undefined, tts: RuntimePromptPort | undefined, step: ProductsStep, call: QueryCall,
  hasPrompt: (name: string) => boolean,
): Promise<ProductsPlan> {
  const failed = (outcome: QueryOutcome): ProductsPlan => ({ ok: false, vars: queryVariables(step.into, outcome, null), prompts: [...step.failedPrompts], action: step.failed });
  const notFound = (): ProductsPlan => ({ ok: false, vars: queryVariables(step.into, 'notFound', null), prompts: [...step.notFoundPrompts], action: step.notFound });
  if (port === undefined) return failed('unsupported');
  let answer: QueryAnswer;
  try {
    answer = await port.query({
      callId: call.callId, caller: call.caller, dialled: call.dialled, programme: call.programme, airing: call.airing,
      customerId: call.customerId, kind: 'products', language: call.lang, limit: step.max,
    }, step.timeoutMs);
  } catch {
    return failed('error');
  }
  if (!answer.ok) return failed(answer.outcome);
  if (answer.result.kind !== 'products') return notFound();
  const lang = call.lang;
  const p = (name: string): string => `${lang}/${name}`;
  const say = async (text: string): Promise<string | null> => {
    if (tts === undefined || text.trim() === '') return null;
    try {
      const r = await tts.render(text, lang);
      return r.ok ? r.name : null;
    } catch {
      return null;
    }
  };
  const nameOf = (sku: string, name: string | null): Promise<string | null> => {
    const recorded = p(productPrompt(sku));
    return hasPrompt(recorded) ? Promise.resolve(recorded) : say(name ?? '');
  };
  const products = answer.result.products.slice(0, step.max);
  // All at once: the renderer bounds how many run and for how long.
  const spoken = await Promise.all(products.map(async (x: QueryProduct) => {
    const [name, description, gift] = await Promise.all([
      nameOf(x.sku, x.name), say(x.description), x.gift === null ? Promise.resolve(null) : nameOf(x.gift, x.giftName),
    ]);
    return { x, name, description, gift };
  }));
  const list = [p('products-intro')];
  const choices: ProductChoice[] = [];
  for (const { x, name, description, gift } of spoken) {
    if (name === null) continue; // a product the caller cannot be told the name of cannot be picked
    const digit = String(choices.length + 1);
    list.push(p('product-for'), name, p('product-press'), p(`numbers/${digit}`));
    const offer = x.offerPriceFen !== null && x.offerPriceFen < x.priceFen ? x.offerPriceFen : null;
    const detail = [description ?? name, p('product-price'), ...moneyReadout(x.priceFen, lang)];
    if (offer !== null) detail.push(p('promotion-price'), ...moneyReadout(offer, lang));
    if (gift !== null) detail.push(p('promotion-gift'), gift);
    detail.push(p('product-agent'));
    choices.push({
      digit, sku: x.sku, detail,
      vars: { [`${step.into}Sku`]: x.sku, [`${step.into}Name`]: varText(x.name), [`${step.into}PriceFen`]: String(offer ?? x.priceFen) },
    });
  }
  if (choices.length === 0) return failed('error');
  return { ok: true, vars: queryVariables(step.into, 'found', { kind: 'products', products }), list, choices };
}

/**
 * Run the menus of a plan on a leg: the list, then the picked product's menu. `agent` gets the
 * choice when the caller presses 1 there; `exhausted` when a menu's retries run out.
 */
export function runProductMenus(
  host: DtmfHost, input: DtmfInput, step: ProductsStep, plan: Extract<ProductsPlan, { ok: true }>,
  on: { agent(choice: ProductChoice): void; exhausted(): void },
): void {
  const options = Object.fromEntries(plan.choices.map((c) => [c.digit, c]));
  const list = (): void => {
    input.retries = step.retries;
    runMenu<ProductChoice>(host, input, { prompts: plan.list, options, timeoutMs: step.menuTimeoutMs, invalidPrompts: step.invalidPrompts }, {
      choose: (choice) => {
        input.retries = step.retries;
        runMenu<'agent' | 'list'>(host, input, { prompts: choice.detail, options: { 1: 'agent', 2: 'list' }, timeoutMs: step.menuTimeoutMs, invalidPrompts: step.invalidPrompts }, {
          choose: (next) => (next === 'agent' ? on.agent(choice) : list()),
          exhausted: on.exhausted,
        });
      },
      exhausted: on.exhausted,
    });
  };
  list();
}
